"""The tests behind the verdicts: ratios of means over seeds with their confidence intervals,
Holm's correction, and survival (Kaplan-Meier, log-rank) for MD runs stopped by the guard.

Ratios are taken on the log scale (errors and tail shares are positive and spread in
proportion to their size), blocked by model size where there are several: the effect is the
mean over sizes of the difference of mean logs, its variance the mean of the per-size Welch
variances, divided by the number of sizes.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

ALPHA = 0.05
POWER = 0.8


def log_ratio(groups_a: list, groups_b: list) -> dict:
    """Is ``a`` smaller or larger than ``b``? Each argument is a list of blocks (one per model
    size, or a single block), each a list of per-seed positive values.

    Returns ``ratio`` (geometric-mean ratio a/b), its 95% ``ci``, the two-sided ``p_value``
    of Welch's t test (Satterthwaite degrees of freedom) and ``detectable``, the smallest
    ratio (below 1) the comparison would find with 80% power at this spread; ``p_value``
    is None where a block has fewer than two values on a side."""
    diffs, variances, dofs = [], [], []
    for a, b in zip(groups_a, groups_b, strict=True):
        la, lb = np.log(np.asarray(a, dtype=float)), np.log(np.asarray(b, dtype=float))
        diffs.append(la.mean() - lb.mean())
        if len(la) < 2 or len(lb) < 2:
            variances.append(np.nan)
            dofs.append(np.nan)
            continue
        va, vb = la.var(ddof=1) / len(la), lb.var(ddof=1) / len(lb)
        variances.append(va + vb)
        dofs.append((va + vb) ** 2 / (va**2 / (len(la) - 1) + vb**2 / (len(lb) - 1))
                    if va + vb > 0 else np.inf)
    k = len(diffs)
    effect = float(np.mean(diffs))
    out = {"ratio": float(np.exp(effect)), "mean_a": None, "mean_b": None}
    out["mean_a"] = float(np.mean([np.mean(a) for a in groups_a]))
    out["mean_b"] = float(np.mean([np.mean(b) for b in groups_b]))
    if np.isnan(variances).any():
        return {**out, "ci": None, "p_value": None, "detectable": None}
    se = float(np.sqrt(np.sum(variances)) / k)
    dof = float(np.sum(variances) ** 2 / np.sum(np.square(variances) / np.asarray(dofs))) \
        if se > 0 else np.inf
    t_crit = float(stats.t.ppf(1 - ALPHA / 2, dof))
    if se == 0:
        p = 0.0 if effect != 0 else 1.0
    else:
        p = float(2 * stats.t.sf(abs(effect) / se, dof))
    detectable = float(np.exp(-(t_crit + stats.t.ppf(POWER, dof)) * se))
    return {**out, "ci": [float(np.exp(effect - t_crit * se)), float(np.exp(effect + t_crit * se))],
            "p_value": p, "dof": dof, "detectable": detectable}


def holm(p_values: list) -> list:
    """Holm's step-down adjustment of ``p_values`` (None stays None): the family-wise error
    rate stays at most the level at which the adjusted values are read."""
    tested = [(p, i) for i, p in enumerate(p_values) if p is not None]
    adjusted: list = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(tested)):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


def kaplan_meier(times, events, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """The survival curve of runs that stopped at ``times`` (``events`` True: stopped by the
    guard; False: ran to the end, censored): step points ``(t, S(t))`` from 0 to ``horizon``."""
    times, events = np.asarray(times, dtype=float), np.asarray(events, dtype=bool)
    t_out, s_out, s = [0.0], [1.0], 1.0
    for t in np.unique(times[events]):
        at_risk = np.sum(times >= t)
        s *= 1 - np.sum((times == t) & events) / at_risk
        t_out.append(float(t))
        s_out.append(s)
    t_out.append(float(horizon))
    s_out.append(s)
    return np.asarray(t_out), np.asarray(s_out)


def logrank(times_a, events_a, times_b, events_b) -> dict:
    """Log-rank test of equal hazards of stopping for groups a and b. Returns the observed
    and expected stops of a, the ``hazard_ratio`` a/b (the one-step estimate
    exp((O - E) / V)) with its 95% ``ci`` and the two-sided ``p_value``; None where no run of
    either group stopped."""
    ta, tb = np.asarray(times_a, dtype=float), np.asarray(times_b, dtype=float)
    ea, eb = np.asarray(events_a, dtype=bool), np.asarray(events_b, dtype=bool)
    observed, expected, variance = 0.0, 0.0, 0.0
    for t in np.unique(np.concatenate([ta[ea], tb[eb]])):
        na, nb = np.sum(ta >= t), np.sum(tb >= t)
        da, db = np.sum((ta == t) & ea), np.sum((tb == t) & eb)
        n, d = na + nb, da + db
        observed += da
        expected += d * na / n
        if n > 1:
            variance += d * (na / n) * (nb / n) * (n - d) / (n - 1)
    out = {"stopped_a": int(ea.sum()), "runs_a": len(ta), "stopped_b": int(eb.sum()),
           "runs_b": len(tb), "expected_a": float(expected)}
    if variance == 0:
        return {**out, "hazard_ratio": None, "ci": None, "p_value": None}
    z = (observed - expected) / np.sqrt(variance)
    log_hr, se = (observed - expected) / variance, 1 / np.sqrt(variance)
    half = stats.norm.ppf(1 - ALPHA / 2) * se
    return {**out, "hazard_ratio": float(np.exp(log_hr)),
            "ci": [float(np.exp(log_hr - half)), float(np.exp(log_hr + half))],
            "p_value": float(2 * stats.norm.sf(abs(z)))}
