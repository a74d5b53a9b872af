"""The tests behind the verdicts, from the libraries made for them (scipy, statsmodels,
lifelines), each returning the same record: the ``unit`` of replication and ``n`` of them,
the ``effect`` with its 95% ``ci``, the two-sided ``p_value``, one-sided p-values for each
direction, the p-value of an equivalence test (TOST) where a margin is given, and
``detectable``, the smallest effect the design finds with 80% power at the spread it showed.

Errors and tail shares are compared as ratios of geometric means (on the log scale, where
they spread in proportion to their size). Force errors are paired by selection seed: models
of every method at one selection seed share their training seed, and each seed's value is
the mean log error over the model sizes (size is a fixed effect; every method has every
size, so averaging over sizes is the fixed-effect estimate). MD survival is compared by a
Cox model with the trained model as the cluster (robust standard errors), since the runs of
one model are not independent of each other.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize, stats

ALPHA = 0.05
POWER = 0.8


def _record(unit: str, n, log_effect: float | None, log_se: float | None, dof: float | None,
            margin: float | None) -> dict:
    """The common record of a ratio test on the log scale: ``t`` with ``dof`` degrees of
    freedom (``dof`` None: normal); no test where ``log_se`` is None, no effect where
    ``log_effect`` is None."""
    effect = None if log_effect is None else float(np.exp(log_effect))
    out: dict = {"unit": unit, "n": n, "effect": effect, "ci": None, "p_value": None,
                 "p_lower": None, "p_higher": None, "p_equivalent": None, "margin": margin,
                 "equivalence_reach": None, "detectable": None}
    if log_effect is None or log_se is None or not np.isfinite(log_se):
        return out
    dist = stats.t(dof) if dof is not None else stats.norm()
    if log_se == 0:
        z = np.inf * np.sign(log_effect) if log_effect else 0.0
    else:
        z = log_effect / log_se
    crit = float(dist.ppf(1 - ALPHA / 2))
    out.update(ci=[float(np.exp(log_effect - crit * log_se)),
                   float(np.exp(log_effect + crit * log_se))],
               p_value=float(min(1.0, 2 * dist.sf(abs(z)))),
               p_lower=float(dist.cdf(z)), p_higher=float(dist.sf(z)),
               # a ratio this far from 1 (either way) is found with 80% power
               detectable=float(np.exp(detectable_shift(log_se, dof))),
               # the narrowest margin TOST could pass at this spread (with no effect)
               equivalence_reach=float(np.exp(dist.ppf(1 - ALPHA) * log_se) - 1))
    if margin is not None:
        bound = np.log(1 + margin)
        if log_se == 0:
            out["p_equivalent"] = 0.0 if abs(log_effect) < bound else 1.0
        else:  # TOST: both one-sided tests against the margins
            out["p_equivalent"] = float(max(dist.sf((log_effect + bound) / log_se),
                                            dist.cdf((log_effect - bound) / log_se)))
    return out


def detectable_shift(se: float, dof: float | None) -> float:
    """The shift (in units of the effect's scale) a two-sided test at 5% with standard error
    ``se`` finds with 80% power: from the noncentral t distribution with ``dof`` degrees of
    freedom (the normal one where ``dof`` is None)."""
    if se == 0:
        return 0.0
    if dof is None:
        return float((stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER)) * se)
    crit = stats.t.ppf(1 - ALPHA / 2, dof)

    def power(shift):
        nc = shift / se
        return stats.nct.sf(crit, dof, nc) + stats.nct.cdf(-crit, dof, nc) - POWER

    high = (crit + 3) * se
    while power(high) < 0:  # few degrees of freedom need a larger shift
        high *= 2
    if np.isnan(power(high)):  # beyond scipy's noncentral t (one degree of freedom)
        return float((crit + stats.t.ppf(POWER, dof)) * se)
    return float(optimize.brentq(power, 0.0, high))


def paired_ratio(a: dict, b: dict, margin: float | None = None,
                 unit: str = "selection seed") -> dict:
    """Is ``a`` lower or higher than ``b``, paired? ``a`` and ``b`` map a unit (a selection
    seed) to a positive value (or to the values of the model sizes, averaged on the log
    scale); units in both are compared. The effect is the geometric-mean ratio a/b, tested
    by the paired t test on the logs (scipy's ``ttest_rel``); the equivalence p-value is
    TOST's with the ratio's margin ``1/(1 + margin) .. 1 + margin``."""
    units = sorted(set(a) & set(b))
    diffs = np.array([np.mean(np.log(a[u])) - np.mean(np.log(b[u])) for u in units])
    n = len(diffs)
    log_effect = float(diffs.mean()) if n else None
    se = float(diffs.std(ddof=1) / np.sqrt(n)) if n >= 2 else None
    return _record(unit, n, log_effect, se, n - 1, margin)


def welch_ratio(a: list, b: list, margin: float | None = None,
                unit: str = "selection seed") -> dict:
    """Like :func:`paired_ratio` for unpaired values (one per unit on each side): Welch's t
    test on the logs with Satterthwaite's degrees of freedom."""
    la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
    log_effect = float(la.mean() - lb.mean())
    n = [len(la), len(lb)]
    if min(n) < 2:
        return _record(unit, n, log_effect, None, None, margin)
    va, vb = la.var(ddof=1) / len(la), lb.var(ddof=1) / len(lb)
    se = float(np.sqrt(va + vb))
    dof = float((va + vb) ** 2 / (va**2 / (len(la) - 1) + vb**2 / (len(lb) - 1))) \
        if va + vb > 0 else 1e9
    return _record(unit, n, log_effect, se, dof, margin)


def holm(p_values: list) -> list:
    """Holm's step-down adjustment (statsmodels' ``multipletests``) of ``p_values``; None
    stays None."""
    from statsmodels.stats.multitest import multipletests

    tested = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list = [None] * len(p_values)
    if tested:
        corrected = multipletests([p_values[i] for i in tested], method="holm")[1]
        for i, p in zip(tested, corrected, strict=True):
            adjusted[i] = float(p)
    return adjusted


def events_needed(hazard_ratio: float) -> float:
    """Events a two-arm comparison of equal size needs to find ``hazard_ratio`` with 80%
    power at the 5% level (Schoenfeld)."""
    z = stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER)
    return float(4 * z**2 / np.log(hazard_ratio) ** 2)


def hazard_ratio(runs_a: list, runs_b: list, margin: float | None = None) -> dict:
    """Do runs of arm a stop sooner than runs of arm b? Each run is ``(time, event,
    cluster)``: its time, whether the guard stopped it (else censored at ``time``) and the
    model that drove it. A Cox model (lifelines' ``CoxPHFitter``) with the model as the
    cluster (robust standard errors) gives the hazard ratio a/b; the log-rank p-value
    (which ignores the clusters) is given beside it. Untestable (no effect) where an arm has
    no event; ``detectable`` then comes from the events a design like this would need
    (Schoenfeld), at the events seen. Untested (an effect, no interval) where an arm's runs
    come from one trained model."""
    import pandas as pd
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError
    from lifelines.statistics import logrank_test

    (ta, ea, ca), (tb, eb, cb) = (tuple(zip(*runs, strict=True)) if runs else ((), (), ())
                                  for runs in (runs_a, runs_b))
    events = [int(sum(ea)), int(sum(eb))]
    clusters = [len(set(ca)), len(set(cb))]
    base: dict = {"events": events, "runs": [len(ta), len(tb)], "logrank_p": None}
    if min(events) == 0:
        z = stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER)
        out = _record("trained model", clusters, None, None, None, margin)
        if sum(events):
            out["detectable"] = float(np.exp(2 * z / np.sqrt(sum(events))))
        return {**out, **base}
    frame = pd.DataFrame({"time": [*ta, *tb], "event": [*ea, *eb],
                          "arm": [1] * len(ta) + [0] * len(tb),
                          "cluster": [f"a{c}" for c in ca] + [f"b{c}" for c in cb]})
    base["logrank_p"] = float(logrank_test(ta, tb, ea, eb).p_value)
    with warnings.catch_warnings():
        # lifelines warns when an arm has few events; the interval's width says as much
        warnings.simplefilter("ignore")
        try:
            fit = CoxPHFitter().fit(frame, "time", "event", cluster_col="cluster")
        except ConvergenceError:  # no finite estimate (e.g. complete separation)
            return {**_record("trained model", clusters, None, None, None, margin), **base}
    row = fit.summary.loc["arm"]
    # Robust errors need replicates: with one trained model in an arm its runs say nothing
    # about how another model trained alike would run, so there is an estimate, not a test.
    se = float(row["se(coef)"]) if min(clusters) >= 2 else None
    out = _record("trained model", clusters, float(row["coef"]), se, None, margin)
    return {**out, **base}


def share_difference(shares_a: list, shares_b: list, unit: str = "trained model") -> dict:
    """Is the share of runs with an endpoint higher in arm a than b? ``a``, ``b``: per unit
    (trained model), the share of its runs that reached it. Welch's t test on the shares;
    the effect is the difference of mean shares (no equivalence margin). Untestable where
    neither arm has any."""
    a, b = np.asarray(shares_a, dtype=float), np.asarray(shares_b, dtype=float)
    out: dict = {"unit": unit, "n": [len(a), len(b)],
                 "effect": float(a.mean() - b.mean()) if len(a) and len(b) else None,
                 "ci": None, "p_value": None, "p_lower": None, "p_higher": None,
                 "p_equivalent": None, "margin": None, "equivalence_reach": None,
                 "detectable": None, "difference": True}
    if not (a.any() or b.any()) or min(len(a), len(b)) < 2:
        return out
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:
        return out
    dof = (va + vb) ** 2 / ((va**2 / (len(a) - 1) if va else 0) +
                            (vb**2 / (len(b) - 1) if vb else 0))
    dist, t = stats.t(dof), out["effect"] / se
    crit = float(dist.ppf(1 - ALPHA / 2))
    out.update(ci=[out["effect"] - crit * se, out["effect"] + crit * se],
               p_value=float(2 * dist.sf(abs(t))), p_lower=float(dist.cdf(t)),
               p_higher=float(dist.sf(t)), detectable=detectable_shift(float(se), float(dof)))
    return out
