"""Verdicts on the study's claims C1-C3, and on the question Q1 beyond it (physics- against
structure-based selection), from measured numbers, with the tests behind them.

Every comparison has an effect (a ratio of geometric means over seeds, or a hazard ratio for
MD survival), its 95% confidence interval and a p-value, Holm-corrected over the comparisons
of its claim (and model family). A comparison comes out

- ``as claimed``: significant (adjusted p < 0.05) in the claimed direction;
- ``opposite``: significant the other way;
- ``equivalent``: its interval lies within the margin around no effect (ratios between
  1/(1 + margin) and 1 + margin), so an effect of the claimed kind is ruled out;
- ``undecided``: none of these;
- ``untested``: no spread to test with (one seed), or no event to compare (MD).

A claim **holds** when all its comparisons come out as claimed, **does not hold** when one
comes out opposite or equivalent (the claim names every comparison), and is
**inconclusive** otherwise; the report gives the smallest effect the run could have detected.
"""

from __future__ import annotations

from itertools import product

from mlipselect.models.base import in_report_order
from mlipselect.study.statistics import ALPHA, holm, log_ratio, logrank

NEW = ("forces", "atomic-energies")
OLD = ("random", "energy")
STRUCTURE = ("fps", "fps-atoms", "cur", "direct")
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
MARGIN = 0.05
"""Equivalence margin of error and tail-share ratios: 5% of the compared value."""
HAZARD_MARGIN = 0.25
"""Equivalence margin of MD hazard ratios."""


def outcome(effect: float | None, ci, p_adjusted, wanted: str, margin: float) -> str:
    """How one comparison comes out (see the module's docstring); ``wanted`` is ``lower``
    (effect < 1 claimed) or ``higher``."""
    if p_adjusted is None or ci is None:
        return "untested"
    if p_adjusted < ALPHA and effect is not None:
        return "as claimed" if (effect < 1) == (wanted == "lower") else "opposite"
    if 1 / (1 + margin) < ci[0] and ci[1] < 1 + margin:
        return "equivalent"
    return "undecided"


def judged(comparisons: list[dict], wanted: str, margin: float) -> dict:
    """Holm-adjust the comparisons' p-values, decide each and the claim."""
    for c, p in zip(comparisons, holm([c["p_value"] for c in comparisons]), strict=True):
        c["p_adjusted"] = p
        c["outcome"] = outcome(c.get("ratio", c.get("hazard_ratio")), c["ci"], p, wanted,
                               margin)
    outcomes = [c["outcome"] for c in comparisons]
    if outcomes and all(o == "as claimed" for o in outcomes):
        v = HOLDS
    elif "opposite" in outcomes or "equivalent" in outcomes:
        v = FAILS
    else:
        v = INCONCLUSIVE
    detectable = [c["detectable"] for c in comparisons if c.get("detectable") is not None]
    return {"verdict": v, "comparisons": comparisons,
            # the least sensitive comparison bounds what the claim could have detected
            "detectable": (min(detectable) if wanted == "lower" else
                           max(1 / d for d in detectable)) if detectable else None}


def _headline(by_family: dict[str, dict]) -> dict:
    """The result that carries a claim's verdict: the first family's in the registry's
    order (``models.base.FAMILIES``), or inconclusive where no family has one."""
    if not by_family:
        return {"verdict": INCONCLUSIVE}
    return by_family[in_report_order(by_family)[0]]


def claim_c1(tail_shares: dict[str, dict[str, list[float]]]) -> dict:
    """C1: atomic-energy (and force) selection samples the pool's tails more than random or
    global-energy selection. ``tail_shares[quantity][method]`` = per-seed share of selected
    atoms beyond the pool's 1st/99th percentiles; quantities ``atomic_energies`` and
    ``force_norms``. Compared: atomic-energies on both quantities, forces on ``force_norms``."""
    comparisons = []
    for quantity, method in (("atomic_energies", "atomic-energies"),
                             ("force_norms", "atomic-energies"), ("force_norms", "forces")):
        shares = tail_shares[quantity]
        for other in OLD:
            if method in shares and other in shares:
                comparisons.append({"quantity": quantity, "method": method, "versus": other,
                                    "values": [shares[method], shares[other]],
                                    **log_ratio([shares[method]], [shares[other]])})
    return {**judged(comparisons, "higher", MARGIN),
            "rule": "each tail share of the new method higher than random's and global "
                    "energy's (ratio of geometric means over seeds, Welch t, Holm)"}


def error_ratios(rows: list[dict], pairs) -> list[dict]:
    """One comparison per ``(metric, method, versus)`` of ``pairs`` whose methods were
    trained at every size of ``rows``: the ratio blocked by model size (each ratio the mean
    over sizes of the per-size ratio of geometric means over seeds)."""
    sizes = sorted({e["size"] for e in rows})
    comparisons = []
    for metric, method, versus in pairs:
        blocks = {m: [[e[metric] for e in rows if e["size"] == s and e["method"] == m]
                      for s in sizes] for m in (method, versus)}
        if all(blocks[method]) and all(blocks[versus]):
            comparisons.append({"metric": metric, "method": method, "versus": versus,
                                "sizes": sizes, "values": [blocks[method], blocks[versus]],
                                **log_ratio(blocks[method], blocks[versus])})
    return comparisons


def claim_c2(errors: list[dict]) -> dict:
    """C2: models trained on force or atomic-energy selections have lower Max and RMSE force
    errors than models trained on random or global-energy selections. ``errors``: one record
    per trained model with ``family``, ``size``, ``method``, ``seed``, ``max``, ``rmse``.
    Judged per family, across model sizes (sizes are blocks: each ratio is the mean over sizes
    of the per-size ratio); the verdict is the first family's in the registry's order (the
    NN's: the seed's figure is of NNs)."""
    by_family: dict[str, dict] = {}
    for family in sorted({e["family"] for e in errors}):
        rows = [e for e in errors if e["family"] == family]
        comps = error_ratios(rows, product(("max", "rmse"), NEW, OLD))
        by_family[family] = judged(comps, "lower", MARGIN)
    main = _headline(by_family)
    return {"verdict": main["verdict"], "detectable": main.get("detectable"),
            "families": by_family,
            "rule": "Max and RMSE of each of forces and atomic-energies lower than of each of "
                    "random and energy, across model sizes (ratio of geometric means over "
                    "seeds, Welch t, Holm); the verdict is the NN family's"}


def non_physical(run: dict, threshold: float) -> tuple[float, bool]:
    """(time, event) of one MD run for survival: stopped by the guard at its time, or
    non-physical by its short-range artifact (counted at the end of what ran), else censored
    at the end."""
    return run["stopped_ps"], (not run["stable"]) or run["artifact"] > threshold


def survival_comparison(rows: dict[str, list], method: str, versus: str) -> dict:
    """Log-rank test of the time to going non-physical, ``method`` against ``versus``
    (``rows[m]``: ``(time, event)`` per run); a hazard ratio above 1: ``method`` sooner."""
    (ta, ea), (tb, eb) = (zip(*rows[m], strict=True) for m in (method, versus))
    return {"method": method, "versus": versus, **logrank(ta, ea, tb, eb)}


def claim_c3(runs: list[dict], threshold: float) -> dict:
    """C3: MD driven by global-energy-selected models goes non-physical (short-range peaks in
    g_NaNa, or collapse stopped by the guard); atomic-energy-selected models match the
    reference. ``runs``: one record per model-driven MD with ``family``, ``method``,
    ``stopped_ps``, ``stable`` and ``artifact``. Per family: a log-rank test of the time to
    going non-physical, energy against atomic-energies; the claim also needs energy-selected
    runs to go non-physical at all. The verdict is the NN family's."""
    by_family = {}
    for family in sorted({r["family"] for r in runs}):
        rows = {m: [non_physical(r, threshold) for r in runs
                    if r["family"] == family and r["method"] == m]
                for m in ("energy", "atomic-energies")}
        if not rows["energy"] or not rows["atomic-energies"]:
            continue
        test = comparison = survival_comparison(rows, "energy", "atomic-energies")
        result = judged([comparison], "higher", HAZARD_MARGIN)
        if test["stopped_a"] == 0:  # no energy-selected run went non-physical
            result["verdict"] = FAILS
            comparison["outcome"] = "not seen"
        by_family[family] = {**result, "non_physical": {
            "energy": f"{test['stopped_a']}/{test['runs_a']}",
            "atomic-energies": f"{test['stopped_b']}/{test['runs_b']}"}}
    main = _headline(by_family)
    return {"verdict": main["verdict"], "families": by_family, "threshold": threshold,
            "rule": "energy-selected runs go non-physical (guard stop or g_NaNa artifact above "
                    "the threshold) sooner than atomic-energies runs (log-rank test, hazard "
                    "ratio above 1), and some do; the verdict is the NN family's"}


def physics_vs_structure(errors: list[dict], runs: list[dict], threshold: float) -> dict | None:
    """Q1, beyond the seed: do the physics-based selections (forces, atomic-energies) give
    lower Max force errors than the structure-based ones (fps, fps-atoms, cur, direct), and
    does MD driven by atomic-energy-selected models stay physical longer than by
    structure-selected ones? Per family, with the statistics of C2 and C3 (each kind of
    comparison Holm-corrected on its own); the answer is the NN family's: it holds when every
    comparison comes out as claimed. ``None`` when no structure-based method ran."""
    structure = [m for m in STRUCTURE if any(e["method"] == m for e in errors)]
    if not structure:
        return None
    by_family: dict[str, dict] = {}
    for family in sorted({e["family"] for e in errors}):
        rows = [e for e in errors if e["family"] == family]
        result = judged(error_ratios(rows, product(("max",), NEW, structure)), "lower", MARGIN)
        survival = {m: [non_physical(r, threshold) for r in runs
                        if r["family"] == family and r["method"] == m]
                    for m in (*structure, "atomic-energies")}
        md = [survival_comparison(survival, m, "atomic-energies") for m in structure
              if survival[m] and survival["atomic-energies"]]
        if md:
            md_result = judged(md, "higher", HAZARD_MARGIN)
            result["comparisons"] += md_result["comparisons"]
            verdicts = {result["verdict"], md_result["verdict"]}
            result["verdict"] = (FAILS if FAILS in verdicts else
                                 HOLDS if verdicts == {HOLDS} else INCONCLUSIVE)
        by_family[family] = result
    main = _headline(by_family)
    return {"verdict": main["verdict"], "detectable": main.get("detectable"),
            "families": by_family, "structure_methods": structure,
            "rule": "Max force error of each of forces and atomic-energies lower than of each "
                    "structure-based method across model sizes (as C2), and MD of each "
                    "structure-based method going non-physical sooner than of atomic-energies "
                    "(as C3, where both ran); the answer is the NN family's"}


def effect_text(comparison: dict) -> str:
    """A comparison's effect and its 95% interval, in words."""
    effect = comparison.get("ratio", comparison.get("hazard_ratio"))
    if effect is None:
        return "not testable"
    ci = comparison["ci"]
    return f"{effect:.3g}" + (f" [{ci[0]:.3g}, {ci[1]:.3g}]" if ci else "")
