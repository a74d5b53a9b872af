"""Verdicts on the study's claims C1-C3, from measured numbers and their spread over seeds.

Every comparison is between two groups of per-seed values. "A is lower than B" is decided
when the difference of means exceeds twice its standard error (Welch, sample variances);
within that band the two are "indistinguishable"; with fewer than two seeds on either side
there is no spread to judge by and the comparison is "untested". A claim ``holds`` when every
comparison it makes comes out its way, ``does not hold`` when one comes out significantly the
other way or none comes out its way, and is ``inconclusive`` otherwise.
"""

from __future__ import annotations

from itertools import product

import numpy as np

NEW = ("forces", "atomic-energies")
OLD = ("random", "energy")
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


def compare_over_seeds(a, b) -> dict:
    """Is ``a`` lower or higher than ``b``, beyond twice the standard error of the difference?"""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    out = {"a_mean": float(a.mean()), "b_mean": float(b.mean()), "diff": float(a.mean() - b.mean())}
    if len(a) < 2 or len(b) < 2:
        return {**out, "stderr": None, "outcome": "untested"}
    se = float(np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
    outcome = ("lower" if out["diff"] < -2 * se else "higher" if out["diff"] > 2 * se
               else "indistinguishable")
    return {**out, "stderr": se, "outcome": outcome}


def verdict(comparisons: list[dict], wanted: str) -> str:
    """``holds`` if every comparison is ``wanted``; ``does not hold`` if one is the opposite or
    none is ``wanted``; ``inconclusive`` otherwise (including untested ones)."""
    outcomes = [c["outcome"] for c in comparisons]
    opposite = {"lower": "higher", "higher": "lower"}[wanted]
    if outcomes and all(o == wanted for o in outcomes):
        return HOLDS
    if opposite in outcomes or (outcomes and all(o in (opposite, "indistinguishable")
                                                 for o in outcomes)):
        return FAILS
    return INCONCLUSIVE


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
                                    **compare_over_seeds(shares[method], shares[other])})
    return {"verdict": verdict(comparisons, "higher"), "comparisons": comparisons,
            "rule": "each tail share of the new method higher than random's and global "
                    "energy's by more than 2 standard errors over seeds"}


def claim_c2(errors: list[dict]) -> dict:
    """C2: models trained on force or atomic-energy selections have lower Max and RMSE force
    errors than models trained on random or global-energy selections. ``errors``: one record
    per trained model with ``family``, ``size``, ``method``, ``seed``, ``max``, ``rmse``.
    Judged per family (the seed's figure is of NN models) for every size and both metrics."""
    by_family: dict[str, list] = {}
    for family in sorted({e["family"] for e in errors}):
        rows = [e for e in errors if e["family"] == family]
        comps = []
        for size, metric, new, old in product(sorted({e["size"] for e in rows}),
                                              ("max", "rmse"), NEW, OLD):
            values = {m: [e[metric] for e in rows if e["size"] == size and e["method"] == m]
                      for m in (new, old)}
            if values[new] and values[old]:
                comps.append({"size": size, "metric": metric, "method": new, "versus": old,
                              **compare_over_seeds(values[new], values[old])})
        by_family[family] = {"verdict": verdict(comps, "lower"), "comparisons": comps}
    main = by_family.get("nn") or next(iter(by_family.values()), {"verdict": INCONCLUSIVE})
    return {"verdict": main["verdict"], "families": by_family,
            "rule": "for every size and for Max and RMSE, each of forces and atomic-energies "
                    "lower than each of random and energy by more than 2 standard errors over "
                    "seeds; the verdict is the NN family's"}


def claim_c3(runs: list[dict], threshold: float) -> dict:
    """C3: MD driven by global-energy-selected models shows non-physical short-range peaks in
    g_NaNa(r); atomic-energy-selected models match the reference. ``runs``: one record per
    model-driven MD with ``family``, ``method``, ``seed``, ``artifact`` (short-range weight of
    g_NaNa where the reference is zero) and ``stable`` (False if the guard stopped it).
    A run is non-physical when its artifact exceeds ``threshold`` or it was unstable."""
    by_family = {}
    for family in sorted({r["family"] for r in runs}):
        rows = [r for r in runs if r["family"] == family]
        bad = {m: [(not r["stable"]) or r["artifact"] > threshold
                   for r in rows if r["method"] == m] for m in ("energy", "atomic-energies")}
        if not bad["energy"] or not bad["atomic-energies"]:
            v = INCONCLUSIVE
        elif all(bad["energy"]) and not any(bad["atomic-energies"]):
            v = HOLDS
        elif not any(bad["energy"]) or all(bad["atomic-energies"]):
            v = FAILS
        else:
            v = INCONCLUSIVE
        by_family[family] = {
            "verdict": v,
            "non_physical": {m: f"{sum(b)}/{len(b)}" for m, b in bad.items()},
        }
    verdicts = {f["verdict"] for f in by_family.values()}
    overall = (next(iter(verdicts)) if len(verdicts) == 1 else INCONCLUSIVE) if verdicts \
        else INCONCLUSIVE
    return {"verdict": overall, "families": by_family, "threshold": threshold,
            "rule": "every energy-selected run non-physical (artifact above the threshold or "
                    "stopped by the stability guard) and every atomic-energies run physical, "
                    "in each model family"}
