"""The tests behind the verdicts, on numbers whose answers are known independently."""

import numpy as np
import pytest
from scipy import stats

from mlipselect.study.statistics import (
    events_needed,
    hazard_ratio,
    holm,
    paired_ratio,
    share_difference,
    welch_ratio,
)


def test_welch_ratio_is_welchs_t_test_on_logs():
    a, b = [0.050, 0.055, 0.052, 0.049], [0.060, 0.066, 0.058]
    result = welch_ratio(a, b)
    reference = stats.ttest_ind(np.log(a), np.log(b), equal_var=False)
    assert result["p_value"] == pytest.approx(reference.pvalue, rel=1e-9)
    assert result["effect"] == pytest.approx(np.exp(np.log(a).mean() - np.log(b).mean()))
    low, high = result["ci"]
    assert low < result["effect"] < high < 1  # significantly lower
    # The interval is the one scipy gives for the difference of mean logs.
    ci = reference.confidence_interval(0.95)
    assert (np.log(low), np.log(high)) == pytest.approx((ci.low, ci.high), rel=1e-6)
    assert result["n"] == [4, 3] and result["unit"] == "selection seed"


def test_paired_ratio_is_the_paired_t_test_on_logs_of_the_size_means():
    # Per seed, the errors of three model sizes; the seed's value is their mean log.
    a = {0: [0.5, 0.25, 0.12], 1: [0.6, 0.3, 0.15], 2: [0.45, 0.2, 0.11], 3: [0.5, 0.3, 0.1]}
    b = {0: [0.6, 0.3, 0.15], 1: [0.7, 0.33, 0.2], 2: [0.5, 0.26, 0.12], 4: [1.0, 1.0, 1.0]}
    result = paired_ratio(a, b)
    la = [np.mean(np.log(a[s])) for s in (0, 1, 2)]
    lb = [np.mean(np.log(b[s])) for s in (0, 1, 2)]  # seeds 3 and 4 have no pair
    reference = stats.ttest_rel(la, lb)
    assert result["n"] == 3
    assert result["p_value"] == pytest.approx(reference.pvalue, rel=1e-9)
    assert result["p_lower"] == pytest.approx(stats.ttest_rel(la, lb, alternative="less").pvalue)
    assert result["effect"] == pytest.approx(np.exp(np.mean(np.subtract(la, lb))))


def test_tost_against_statsmodels():
    from statsmodels.stats.weightstats import ttost_paired

    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.01, 8)
    a = {k: [float(np.exp(v))] for k, v in enumerate(x)}
    b = {k: [float(np.exp(v + rng.normal(0, 0.01)))] for k, v in enumerate(x)}
    result = paired_ratio(a, b, margin=0.05)
    la = np.array([np.log(a[k][0]) for k in a])
    lb = np.array([np.log(b[k][0]) for k in b])
    reference = ttost_paired(la, lb, -np.log(1.05), np.log(1.05))[0]
    assert result["p_equivalent"] == pytest.approx(reference, rel=1e-6)
    assert result["p_equivalent"] < 0.05 and result["equivalence_reach"] < 0.05


def test_detectable_is_the_effect_found_with_80_percent_power():
    # Simulated: at the detectable ratio and the spread it was computed from, the paired t
    # test rejects 80% of the time.
    rng = np.random.default_rng(0)
    sd, n = 0.1, 6
    z = rng.normal(size=n)
    diffs = sd * (z - z.mean()) / z.std(ddof=1)  # sample standard deviation exactly sd
    detectable = paired_ratio({k: [np.exp(v)] for k, v in enumerate(diffs)},
                              {k: [1.0] for k in range(n)})["detectable"]
    hits = sum(stats.ttest_1samp(np.log(detectable) + rng.normal(0, sd, n), 0).pvalue < 0.05
               for _ in range(4000))
    assert hits / 4000 == pytest.approx(0.8, abs=0.025)


def test_one_seed_gives_no_test():
    result = paired_ratio({0: [0.1]}, {0: [0.2]})
    assert result["effect"] == pytest.approx(0.5) and result["p_value"] is None
    assert welch_ratio([0.1], [0.2, 0.3])["p_value"] is None


def test_holm_matches_its_definition():
    p = [0.01, 0.04, 0.03, None, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone: 0.06
    adjusted = holm(p)
    assert adjusted[3] is None
    assert adjusted[:3] + adjusted[4:] == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_schoenfeld_events():
    assert events_needed(2.0) == pytest.approx(65.3, abs=0.5)
    assert events_needed(3.0) == pytest.approx(26.0, abs=0.5)


def test_hazard_ratio_is_the_cox_estimate_statsmodels_finds_too():
    # One run per model; the estimate is Cox's partial-likelihood one (statsmodels' PHReg,
    # an independent implementation, agrees) and the log-rank test is reported beside.
    from statsmodels.duration.hazard_regression import PHReg

    rng = np.random.default_rng(5)
    a = [(min(t, 5.0), t < 5.0, k) for k, t in enumerate(rng.exponential(1 / 0.6, 60))]
    b = [(min(t, 5.0), t < 5.0, k) for k, t in enumerate(rng.exponential(1 / 0.2, 60))]
    result = hazard_ratio(a, b, margin=1.0)
    times, events = zip(*[(t, e) for t, e, _ in a + b], strict=True)
    fit = PHReg(np.array(times), np.array([1.0] * 60 + [0.0] * 60)[:, None],
                status=np.array(events, dtype=float), ties="breslow").fit()
    assert np.log(result["effect"]) == pytest.approx(fit.params[0], rel=1e-3)
    assert result["ci"][0] > 1 and result["p_value"] < 1e-3  # true ratio: 3
    assert result["logrank_p"] < 1e-3 and result["unit"] == "trained model"
    assert result["events"] == [sum(r[1] for r in a), sum(r[1] for r in b)]


def test_clustered_runs_widen_the_interval():
    # Three runs per model that share the model's frailty: counting them as independent
    # would understate the error; the cluster-robust one is wider.
    rng = np.random.default_rng(2)

    def arm(rate, models):
        rows = []
        for m in range(models):
            frailty = rng.lognormal(0, 1.0)
            rows += [(min(t, 8.0), t < 8.0, m) for t in rng.exponential(1 / (rate * frailty), 3)]
        return rows

    a, b = arm(0.6, 12), arm(0.3, 12)
    clustered = hazard_ratio(a, b)
    independent = hazard_ratio([(t, e, k) for k, (t, e, _) in enumerate(a)],
                               [(t, e, k) for k, (t, e, _) in enumerate(b)])
    assert clustered["effect"] == pytest.approx(independent["effect"])
    width = np.log(clustered["ci"][1] / clustered["ci"][0])
    assert width > np.log(independent["ci"][1] / independent["ci"][0])


def test_an_arm_without_events_is_untestable():
    result = hazard_ratio([(3.0, False, 0), (3.0, False, 1)], [(1.0, True, 0), (3.0, False, 1)])
    assert result["effect"] is None and result["p_value"] is None
    assert result["events"] == [0, 1]


def test_runs_of_one_trained_model_per_arm_give_an_estimate_but_no_test():
    # Many runs, but one model per arm: the runs do not say how another model trained alike
    # would run, whatever their number, so no interval or verdict comes from them.
    rng = np.random.default_rng(3)
    a = [(min(t, 5.0), t < 5.0, 0) for t in rng.exponential(1 / 0.6, 20)]
    b = [(min(t, 5.0), t < 5.0, 0) for t in rng.exponential(1 / 0.2, 20)]
    result = hazard_ratio(a, b, margin=1.0)
    assert result["effect"] > 1 and result["n"] == [1, 1]
    assert result["ci"] is None and result["p_value"] is None and result["detectable"] is None
    two = hazard_ratio(a + [(5.0, False, 1)], b + [(5.0, False, 1)], margin=1.0)
    assert two["ci"] is not None  # two models an arm: the test runs


def test_share_difference_is_welchs_t_on_the_shares():
    a, b = [1.0, 0.67, 1.0, 0.33], [0.0, 0.33, 0.0, 0.0]
    result = share_difference(a, b)
    reference = stats.ttest_ind(a, b, equal_var=False)
    assert result["p_value"] == pytest.approx(reference.pvalue, rel=1e-9)
    assert result["effect"] == pytest.approx(np.mean(a) - np.mean(b))
    assert share_difference([0.0, 0.0], [0.0, 0.0])["p_value"] is None
