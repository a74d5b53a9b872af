"""The tests behind the verdicts, on numbers whose answers are known independently."""

import numpy as np
import pytest
from scipy import stats

from mlipselect.study.statistics import holm, kaplan_meier, log_ratio, logrank


def test_a_single_block_ratio_is_welchs_t_test_on_logs():
    a, b = [0.050, 0.055, 0.052, 0.049], [0.060, 0.066, 0.058]
    result = log_ratio([a], [b])
    reference = stats.ttest_ind(np.log(a), np.log(b), equal_var=False)
    assert result["p_value"] == pytest.approx(reference.pvalue, rel=1e-9)
    assert result["ratio"] == pytest.approx(np.exp(np.log(a).mean() - np.log(b).mean()))
    low, high = result["ci"]
    assert low < result["ratio"] < high < 1  # significantly lower
    # The interval is the one scipy gives for the difference of mean logs.
    ci = reference.confidence_interval(0.95)
    assert (np.log(low), np.log(high)) == pytest.approx((ci.low, ci.high), rel=1e-6)


def test_blocks_by_size_remove_the_size_effect():
    # Errors halve from size to size; the method effect (0.8x) is the same at each size.
    rng = np.random.default_rng(0)
    sizes = [1.0, 0.5, 0.25]
    new = [[s * 0.8 * np.exp(rng.normal(0, 0.02)) for _ in range(3)] for s in sizes]
    old = [[s * np.exp(rng.normal(0, 0.02)) for _ in range(3)] for s in sizes]
    blocked = log_ratio(new, old)
    pooled = log_ratio([sum(new, [])], [sum(old, [])])  # ignores sizes: the spread swamps it
    assert blocked["ratio"] == pytest.approx(0.8, rel=0.03)
    assert blocked["p_value"] < 1e-4 < pooled["p_value"]
    assert blocked["detectable"] < 1  # a smaller ratio than this would be found


def test_one_seed_gives_no_test():
    result = log_ratio([[0.1]], [[0.2]])
    assert result["ratio"] == pytest.approx(0.5) and result["p_value"] is None


def test_holm_matches_its_definition():
    p = [0.01, 0.04, 0.03, None, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone: 0.06
    adjusted = holm(p)
    assert adjusted[3] is None
    assert adjusted[:3] + adjusted[4:] == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_kaplan_meier_by_hand():
    # Four runs: stops at 1 and 2 ps, one censored at 1.5 ps, one ran to 3 ps.
    t, s = kaplan_meier([1.0, 1.5, 2.0, 3.0], [True, False, True, False], horizon=3.0)
    assert list(t) == [0.0, 1.0, 2.0, 3.0]
    assert s == pytest.approx([1.0, 0.75, 0.75 * 0.5, 0.375])


def test_logrank_against_a_hand_computed_case_and_its_direction():
    # a: stops at 1, 2, 3 of 4 runs (one runs to 5); b: none stops (5 runs to 5).
    result = logrank([1, 2, 3, 5], [1, 1, 1, 0], [5] * 5, [0] * 5)
    # At t=1: 9 at risk, 4 of a -> E = 4/9, V = 4*5/81; t=2: 8, 3 of a -> E = 3/8,
    # V = 3*5/64; t=3: 7, 2 of a -> E = 2/7, V = 2*5/49.
    expected = 4 / 9 + 3 / 8 + 2 / 7
    variance = 20 / 81 + 15 / 64 + 10 / 49
    z = (3 - expected) / np.sqrt(variance)
    assert result["expected_a"] == pytest.approx(expected)
    assert result["p_value"] == pytest.approx(2 * stats.norm.sf(z))
    assert result["hazard_ratio"] > 1 and result["ci"][0] > 1
    swapped = logrank([5] * 5, [0] * 5, [1, 2, 3, 5], [1, 1, 1, 0])
    assert swapped["hazard_ratio"] == pytest.approx(1 / result["hazard_ratio"])
    assert logrank([3, 3], [0, 0], [3, 3], [0, 0])["p_value"] is None  # nothing stopped
