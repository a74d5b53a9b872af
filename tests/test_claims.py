"""Verdict rules of the claims report, on numbers whose answer is known."""

import numpy as np
import pytest

from mlipselect.analysis.distributions import species_tail_share, tail_share
from mlipselect.study.claims import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    claim_c1,
    claim_c2,
    claim_c3,
    compare_over_seeds,
)


def test_compare_uses_the_spread_over_seeds():
    assert compare_over_seeds([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])["outcome"] == "lower"
    assert compare_over_seeds([2.0, 2.1, 1.9], [1.0, 1.1, 0.9])["outcome"] == "higher"
    assert compare_over_seeds([1.0, 2.0, 3.0], [1.5, 2.5, 3.5])["outcome"] == "indistinguishable"
    # One seed: no spread to judge by.
    assert compare_over_seeds([1.0], [2.0])["outcome"] == "untested"


def _errors(means: dict, seeds=(0, 1, 2), sizes=(1000, 5000)):
    rng = np.random.default_rng(0)
    return [{"family": "nn", "size": s, "method": m, "seed": k,
             "max": mu * 5 + rng.normal(0, 0.01), "rmse": mu + rng.normal(0, 0.002)}
            for m, mu in means.items() for s in sizes for k in seeds]


def test_c2_holds_when_new_methods_are_lower_everywhere():
    c2 = claim_c2(_errors({"random": 0.10, "energy": 0.11, "forces": 0.06,
                           "atomic-energies": 0.05}))
    assert c2["verdict"] == HOLDS
    assert len(c2["families"]["nn"]["comparisons"]) == 2 * 2 * 2 * 2


def test_c2_fails_when_a_new_method_is_worse():
    c2 = claim_c2(_errors({"random": 0.10, "energy": 0.11, "forces": 0.15,
                           "atomic-energies": 0.05}))
    assert c2["verdict"] == FAILS


def test_c2_is_inconclusive_with_one_seed():
    c2 = claim_c2(_errors({"random": 0.10, "energy": 0.11, "forces": 0.06,
                           "atomic-energies": 0.05}, seeds=(0,)))
    assert c2["verdict"] == INCONCLUSIVE


def test_c1_on_tail_shares():
    tails = {"atomic_energies": {"random": [0.02, 0.021, 0.019], "energy": [0.03, 0.029, 0.031],
                                 "atomic-energies": [0.2, 0.21, 0.19], "forces": [0.1, 0.1, 0.11]},
             "force_norms": {"random": [0.02, 0.02, 0.021], "energy": [0.025, 0.03, 0.028],
                             "atomic-energies": [0.1, 0.12, 0.11], "forces": [0.3, 0.31, 0.29]}}
    assert claim_c1(tails)["verdict"] == HOLDS
    tails["force_norms"]["forces"] = [0.01, 0.012, 0.011]
    assert claim_c1(tails)["verdict"] == FAILS


@pytest.mark.parametrize(("energy", "atomic", "expected"), [
    ([0.2, 0.0, 0.3], [0.0, 0.0, 0.001], INCONCLUSIVE),  # one energy run is clean
    ([0.2, 0.1, 0.3], [0.0, 0.0, 0.001], HOLDS),
    ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], FAILS),
])
def test_c3_counts_non_physical_runs(energy, atomic, expected):
    runs = [{"family": "nn", "method": "energy", "seed": k, "artifact": a, "stable": True}
            for k, a in enumerate(energy)]
    runs += [{"family": "nn", "method": "atomic-energies", "seed": k, "artifact": a,
              "stable": True} for k, a in enumerate(atomic)]
    assert claim_c3(runs, threshold=0.01)["verdict"] == expected


def test_unstable_run_is_non_physical():
    runs = [{"family": "gpr", "method": "energy", "seed": 0, "artifact": 0.0, "stable": False},
            {"family": "gpr", "method": "atomic-energies", "seed": 0, "artifact": 0.0,
             "stable": True}]
    assert claim_c3(runs, threshold=0.01)["verdict"] == HOLDS


def test_tail_share_of_the_reference_itself_is_two_percent():
    values = np.random.default_rng(1).normal(size=100_000)
    assert tail_share(values, values) == pytest.approx(0.02, abs=1e-3)


def test_tails_are_each_species_own():
    # Na around 0, Cl around 5. Na atoms above Na's 99th percentile (about 2.3) are in Na's
    # tail, though they sit in the middle of the pooled distribution: a species-blind share
    # sees none of them, the species-wise share all.
    rng = np.random.default_rng(1)
    numbers = np.where(np.arange(200_000) % 2, 11, 17)
    pool = rng.normal(size=numbers.size) + 5.0 * (numbers == 17)
    selected = pool[(numbers == 11) & (pool > 2.4)]
    assert species_tail_share(selected, np.full(selected.size, 11), pool, numbers) == 1.0
    assert tail_share(selected, pool) == 0.0
    # Each species' own 1% tails: 2% of the pool, whichever species.
    assert species_tail_share(pool, numbers, pool, numbers) == pytest.approx(0.02, abs=1e-3)
