"""Verdicts on the study's claims C1-C3, and on the question Q1 beyond it (physics- against
structure-based selection), from measured numbers, with the tests behind them
(:mod:`mlipselect.study.statistics`).

A claim is split into the parts it asserts (C2: each metric x comparison x test set x model
family; C3: each comparison x endpoint x MD model), and each part is decided on its own:

- ``holds``: significant in the claimed direction (two-sided 95%, Holm-adjusted over the
  parts of its group);
- ``opposite``: significant the other way (the same level);
- ``equivalent``: an equivalence test (TOST) puts the effect inside the margin the profile
  gives for the metric (``report.margins``), Holm-adjusted: the claimed effect is absent;
- ``inconclusive``: none of these;
- ``untested``: nothing to test with (one seed; no event in an arm of an MD comparison).

A part *does not hold* when it comes out opposite or equivalent. A claim **holds** when all
its parts hold (which also passes the intersection-union test of the all-of claim), **holds
in part** when some do, **does not hold** when none holds and some do not hold, is
**inconclusive** when every tested part is, and **untested** when no part could be tested.
Groups for Holm's adjustment: the parts of one claim that share a model family and test set
(C1: the claim; C3 and Q1's MD: one MD model).
"""

from __future__ import annotations

from collections import defaultdict
from itertools import product

import numpy as np

from mlipselect.models.registry import in_report_order
from mlipselect.study.statistics import (
    ALPHA,
    hazard_ratio,
    holm,
    paired_ratio,
    share_difference,
    welch_ratio,
)

NEW = ("forces", "atomic-energies")
OLD = ("random", "energy")
STRUCTURE = ("fps", "fps-atoms", "cur", "direct")
UNCERTAINTY = ("committee", "gpr-variance", "bal")
"""The methods of each kind: physics-based (``NEW``), structure-based, by model uncertainty."""
HOLDS, IN_PART, FAILS, INCONCLUSIVE, UNTESTED = (
    "holds", "holds in part", "does not hold", "inconclusive", "untested")
NOT_HOLDING = ("opposite", "equivalent")
ERROR_TESTS = (("independent", "max"), ("independent", "rmse"),
               ("extrapolation", "max"), ("extrapolation", "rmse"),
               ("tail atoms", "tails_max"), ("tail atoms", "tails_rmse"))
"""C2's parts per comparison: the test set and the force-error metric (tail atoms: the
independent test set's atoms beyond the pool's percentiles)."""
ARTIFACT = "g(r) artifact vs BMHTF"
"""C3's second endpoint: short-range weight in g_NaNa against the BMHTF reference's (which
is BMHTF's whoever labelled the training frames)."""


def decide(parts: list[dict], wanted: str) -> list[dict]:
    """The parts of one group, Holm-adjusted and each decided (new dicts; ``parts`` is left
    as it is); ``wanted``: ``lower`` or ``higher`` (the claimed direction of every part)."""
    claimed, other = ("p_lower", "p_higher") if wanted == "lower" else ("p_higher", "p_lower")

    def two_sided(key):  # a one-sided p-value at the level of the two-sided 95% interval
        return [None if p[key] is None else min(1.0, 2 * p[key]) for p in parts]

    adjusted = holm(two_sided(claimed))
    opposite = holm(two_sided(other))
    equivalent = holm([p["p_equivalent"] for p in parts])
    decided = []
    for part, p_claimed, p_other, p_equivalent in zip(parts, adjusted, opposite, equivalent,
                                                      strict=True):
        if part["p_value"] is None:
            outcome = UNTESTED
        elif p_claimed < ALPHA:
            outcome = HOLDS
        elif p_other < ALPHA:
            outcome = "opposite"
        elif p_equivalent is not None and p_equivalent < ALPHA:
            outcome = "equivalent"
        else:
            outcome = INCONCLUSIVE
        decided.append({**part, "wanted": wanted, "p_adjusted": p_claimed,
                        "p_opposite_adjusted": p_other,
                        "p_equivalent_adjusted": p_equivalent, "outcome": outcome})
    return decided


def verdict(parts: list[dict]) -> dict:
    """The claim's verdict from its parts' outcomes, and how many parts came out each way."""
    outcomes = [p["outcome"] for p in parts]
    counts = {o: outcomes.count(o) for o in (HOLDS, *NOT_HOLDING, INCONCLUSIVE, UNTESTED)}
    tested = [o for o in outcomes if o != UNTESTED]
    if not tested:
        v = UNTESTED
    elif all(o == HOLDS for o in outcomes):
        v = HOLDS
    elif HOLDS in outcomes:
        v = IN_PART
    elif any(o in NOT_HOLDING for o in outcomes):
        v = FAILS
    else:
        v = INCONCLUSIVE
    return {"verdict": v, "parts": counts}


def claim_c1(tail_shares: dict[str, dict[str, list[float]]], margin: float) -> dict:
    """C1: atomic-energy (and force) selection samples the pool's tails more than random or
    global-energy selection. ``tail_shares[quantity][method]`` = per-seed share of selected
    atoms beyond the pool's percentiles (``atomic_energies``, ``force_norms``). Selections of
    different methods share nothing, so each comparison is unpaired (Welch)."""
    parts = []
    for quantity, method in (("atomic_energies", "atomic-energies"),
                             ("force_norms", "atomic-energies"), ("force_norms", "forces")):
        shares = tail_shares[quantity]
        for other in OLD:
            if method in shares and other in shares:
                parts.append({"quantity": quantity, "method": method, "versus": other,
                              "values": [shares[method], shares[other]],
                              **welch_ratio(shares[method], shares[other], margin)})
    parts = decide(parts, "higher")
    return {**verdict(parts), "comparisons": parts,
            "rule": "each tail share of the new method higher than random's and global "
                    "energy's (ratio of geometric means over selection seeds, Welch t on "
                    "logs, Holm over the claim; equivalence by TOST within the margin)"}


def seed_values(rows: list[dict], method: str, metric: str) -> dict[int, list[float]]:
    """Per selection seed, ``metric`` of ``method``'s models at every model size of
    ``rows`` (a seed missing a size is left out)."""
    sizes = sorted({r["size"] for r in rows})
    by_seed: dict[int, dict] = defaultdict(dict)
    for r in rows:
        if r["method"] == method and r.get(metric) is not None:
            by_seed[r["seed"]][r["size"]] = r[metric]
    return {seed: [values[s] for s in sizes] for seed, values in by_seed.items()
            if set(values) == set(sizes)}


def error_parts(errors: list[dict], pairs, tests, margins: dict, wanted: str) -> list[dict]:
    """One part per model family x ``(test set, metric)`` of ``tests`` x ``(method, versus)``
    of ``pairs`` whose methods were trained at every size: the paired ratio over selection
    seeds of the mean log error over sizes. Decided in groups of one family and test set."""
    parts, pairs = [], list(pairs)  # every family compares the same pairs
    for family in in_report_order({e["family"] for e in errors}):
        groups: dict[str, list] = defaultdict(list)
        for (test_set, metric), (method, versus) in product(tests, pairs):
            source = "independent" if test_set == "tail atoms" else test_set
            rows = [e for e in errors if e["family"] == family and e["test_set"] == source]
            a, b = seed_values(rows, method, metric), seed_values(rows, versus, metric)
            if not a or not b:
                continue
            name = metric.removeprefix("tails_")
            groups[test_set].append({
                "family": family, "test_set": test_set, "metric": name, "method": method,
                "versus": versus, "sizes": sorted({r["size"] for r in rows}),
                "values": [a, b], **paired_ratio(a, b, margins[name])})
        for group in groups.values():
            parts += decide(group, wanted)
    return parts


def claim_c2(errors: list[dict], margins: dict) -> dict:
    """C2: models trained on force or atomic-energy selections have lower Max and RMSE force
    errors than models trained on random or global-energy selections. ``errors``: one record
    per trained model and test set with ``test_set``, ``family``, ``size``, ``method``,
    ``seed``, ``max``, ``rmse``, ``tails_max``, ``tails_rmse``."""
    parts = error_parts(errors, product(NEW, OLD), ERROR_TESTS, margins, "lower")
    return {**verdict(parts), "comparisons": parts,
            "rule": "Max and RMSE of each of forces and atomic-energies lower than of each of "
                    "random and energy, per model family and test set: the ratio of geometric "
                    "means, paired by selection seed (methods share the training seed), each "
                    "seed's value the mean log error over the model sizes; paired t on logs, "
                    "Holm over the parts of one family and test set; equivalence by TOST "
                    "within the metric's margin"}


def md_arms(runs: list[dict], model: str, methods) -> dict[str, list[dict]]:
    """The runs of MD model ``model`` (``FAMILY-SIZE``) per selection method."""
    return {m: [r for r in runs if r["model"] == model and r["method"] == m] for m in methods}


def survival_part(arms: dict[str, list[dict]], method: str, versus: str,
                  margin: float | None) -> dict:
    """Do ``method``'s runs stop (guard) sooner than ``versus``'s? A hazard ratio above 1:
    sooner. The cluster is the trained model (its selection seed)."""
    def survival(rows):
        return [(r["stopped_ps"], not r["stable"], r["seed"]) for r in rows]

    return {"endpoint": "guard stop", "method": method, "versus": versus,
            **hazard_ratio(survival(arms[method]), survival(arms[versus]), margin)}


def artifact_part(arms: dict[str, list[dict]], method: str, versus: str,
                  threshold: float) -> dict:
    """Do more of ``method``'s models than of ``versus``'s show a short-range g_NaNa artifact
    (weight below the reference's first rise above ``threshold``) at the end of their runs?
    Per trained model: the share of its runs that do."""
    def shares(rows):
        by_model: dict[int, list] = defaultdict(list)
        for r in rows:
            by_model[r["seed"]].append(r["artifact"] > threshold)
        return [float(np.mean(v)) for v in by_model.values()]

    return {"endpoint": ARTIFACT, "method": method, "versus": versus,
            **share_difference(shares(arms[method]), shares(arms[versus]))}


def md_parts(runs: list[dict], pairs, threshold: float, margin: float,
             artifacts: bool = True) -> list[dict]:
    """Per MD model: for each ``(method, versus)`` of ``pairs``, the guard-stop hazard ratio
    and (with ``artifacts``) the artifact share, decided as one group."""
    parts = []
    order = in_report_order({r["family"] for r in runs})
    for model in sorted({r["model"] for r in runs},
                        key=lambda m: (order.index(m.split("-")[0]), m)):
        group = []
        for method, versus in pairs:
            arms = md_arms(runs, model, (method, versus))
            if not arms[method] or not arms[versus]:
                continue
            group.append({"model": model, **survival_part(arms, method, versus, margin)})
            if artifacts:
                group.append({"model": model, **artifact_part(arms, method, versus, threshold)})
        parts += decide(group, "higher")
    return parts


def claim_c3(runs: list[dict], threshold: float, margin: float) -> dict:
    """C3: MD driven by global-energy-selected models goes non-physical; atomic-energy-selected
    models match the reference. ``runs``: one record per model-driven MD run with ``model``
    (``FAMILY-SIZE``), ``method``, ``seed``, ``stopped_ps``, ``stable`` and ``artifact``. Per
    MD model, two endpoints of energy against atomic-energies: the time to a guard stop
    (collapse, runaway temperature), and the share of a model's runs whose g_NaNa shows a
    short-range artifact at the end."""
    parts = md_parts(runs, [("energy", "atomic-energies")], threshold, margin)
    return {**verdict(parts), "comparisons": parts, "threshold": threshold,
            "rule": "per MD model, energy-selected runs stop (guard) sooner than "
                    "atomic-energies runs (Cox hazard ratio above 1, robust errors with the "
                    "trained model as cluster; equivalence by TOST within the margin), and "
                    "more of energy-selected models' runs end with a short-range g_NaNa "
                    "artifact (Welch t on per-model shares); Holm over one MD model's parts; "
                    "untested where an arm has no event"}


def physics_vs_structure(errors: list[dict], runs: list[dict], threshold: float,
                         margins: dict) -> dict | None:
    """Q1, beyond the seed: do the physics-based selections (forces, atomic-energies) give
    lower Max force errors than the structure-based ones (fps, fps-atoms, cur, direct), and
    does MD driven by atomic-energy-selected models stop later than by structure-selected
    ones? The parts of C2 and C3's guard-stop endpoint with these methods. ``None`` when no
    structure-based method ran."""
    structure = [m for m in STRUCTURE if any(e["method"] == m for e in errors)]
    if not structure:
        return None
    tests = [t for t in ERROR_TESTS if t[1] == "max" or t[1] == "tails_max"]
    parts = error_parts(errors, product(NEW, structure), tests, margins, "lower")
    parts += md_parts(runs, [(m, "atomic-energies") for m in structure], threshold,
                      margins["hazard_ratio"], artifacts=False)
    return {**verdict(parts), "comparisons": parts, "structure_methods": structure,
            "rule": "Max force error of each of forces and atomic-energies lower than of each "
                    "structure-based method (as C2), and MD of each structure-based method "
                    "stopped by the guard sooner than of atomic-energies (as C3)"}


def uncertainty_vs_others(errors: list[dict], runs: list[dict], scorers: dict[str, str],
                          margins: dict) -> dict | None:
    """Q2, beyond the seed: at an equal labelling budget, do selections by a model's
    uncertainty give lower force errors and longer-lived MD than physics-based (forces,
    atomic-energies) and structure-based ones? ``scorers``: the family whose models scored
    each uncertainty method's candidates; a method is judged in that family (the models a
    practitioner would train on it), on every test set and metric of C2 and on the guard stop
    of that family's MD models. ``None`` when no uncertainty method ran."""
    learned = [m for m in UNCERTAINTY if m in scorers and any(e["method"] == m for e in errors)]
    if not learned:
        return None
    baselines = [m for m in (*NEW, *STRUCTURE) if any(e["method"] == m for e in errors)]
    parts = []
    for family in in_report_order({scorers[m] for m in learned}):
        own = [m for m in learned if scorers[m] == family]
        parts += error_parts([e for e in errors if e["family"] == family],
                             product(own, baselines), ERROR_TESTS, margins, "lower")
        parts += md_parts([r for r in runs if r["family"] == family],
                          [(b, m) for m in own for b in baselines], 0.0,
                          margins["hazard_ratio"], artifacts=False)
    return {**verdict(parts), "comparisons": parts, "uncertainty_methods": learned,
            "baselines": baselines, "scorers": {m: scorers[m] for m in learned},
            "rule": "per uncertainty method, in the family whose models scored its candidates: "
                    "Max and RMSE force errors lower than each physics- and structure-based "
                    "method's (as C2, every test set), and that family's MD of each baseline "
                    "stopped by the guard sooner than of the uncertainty method (as C3)"}


def effect_text(part: dict) -> str:
    """A part's effect and its 95% interval, in words."""
    effect = part["effect"]
    if effect is None:
        return "not testable"
    ci, fmt = part["ci"], ("{:+.2f}" if part.get("difference") else "{:.3g}")
    return fmt.format(effect) + (f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]" if ci else "")
