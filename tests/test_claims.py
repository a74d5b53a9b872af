"""Verdict rules of the claims report, on numbers whose answer is known: each claim can come
out holds, does not hold (the opposite, or no effect within the margin) and inconclusive."""

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
    physics_vs_structure,
)


def _errors(means: dict, seeds=(0, 1, 2), sizes=("s", "m", "l"), spread=0.01):
    """Errors per method that shrink with size; ``spread`` is the relative noise per seed."""
    rng = np.random.default_rng(0)
    return [{"family": "nn", "size": s, "method": m, "seed": k,
             "max": 5 * mu / (i + 1) * np.exp(rng.normal(0, spread)),
             "rmse": mu / (i + 1) * np.exp(rng.normal(0, spread))}
            for m, mu in means.items() for i, s in enumerate(sizes) for k in seeds]


def test_c2_holds_when_new_methods_are_lower_at_every_size():
    c2 = claim_c2(_errors({"random": 0.10, "energy": 0.11, "forces": 0.06,
                           "atomic-energies": 0.05}))
    assert c2["verdict"] == HOLDS
    comparisons = c2["families"]["nn"]["comparisons"]
    assert len(comparisons) == 2 * 2 * 2  # metric x new x old, each across the 3 sizes
    for c in comparisons:
        assert c["outcome"] == "as claimed" and c["ci"][1] < 1 and c["p_adjusted"] < 0.05
        assert c["p_adjusted"] >= c["p_value"]


def test_c2_does_not_hold_when_a_new_method_is_worse():
    c2 = claim_c2(_errors({"random": 0.10, "energy": 0.11, "forces": 0.15,
                           "atomic-energies": 0.05}))
    assert c2["verdict"] == FAILS
    outcomes = {(c["method"], c["versus"]): c["outcome"]
                for c in c2["families"]["nn"]["comparisons"] if c["metric"] == "rmse"}
    assert outcomes[("forces", "random")] == "opposite"


def test_c2_does_not_hold_when_the_methods_are_equal_within_the_margin():
    # All four methods the same, measured precisely: no 5% effect is possible.
    c2 = claim_c2(_errors({m: 0.1 for m in ("random", "energy", "forces", "atomic-energies")},
                          seeds=range(8), spread=0.005))
    assert c2["verdict"] == FAILS
    assert {c["outcome"] for c in c2["families"]["nn"]["comparisons"]} == {"equivalent"}


def test_c2_is_inconclusive_when_noise_hides_the_effect():
    c2 = claim_c2(_errors({"random": 0.10, "energy": 0.10, "forces": 0.095,
                           "atomic-energies": 0.095}, spread=0.3))
    assert c2["verdict"] == INCONCLUSIVE
    assert 0 < c2["detectable"] < 0.95  # it says how large an effect it could have seen


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


def _runs(family, method, stops, time_ps=3.0, artifacts=None):
    """MD runs: ``stops`` holds the time the guard stopped each (None: ran to the end)."""
    artifacts = artifacts or [0.0] * len(stops)
    return [{"family": family, "method": method, "seed": k, "artifact": a,
             "stable": stop is None, "stopped_ps": time_ps if stop is None else stop}
            for k, (stop, a) in enumerate(zip(stops, artifacts, strict=True))]


def test_c3_holds_when_energy_runs_go_non_physical_sooner():
    runs = _runs("nn", "energy", [0.2, 0.4, 0.5, 0.8, 1.0, 1.1, 1.5, 2.0])
    runs += _runs("nn", "atomic-energies", [None] * 8)
    c3 = claim_c3(runs, threshold=0.01)
    assert c3["verdict"] == HOLDS
    family = c3["families"]["nn"]
    assert family["non_physical"] == {"energy": "8/8", "atomic-energies": "0/8"}
    assert family["comparisons"][0]["hazard_ratio"] > 1


def test_c3_counts_a_short_range_artifact_as_non_physical():
    runs = _runs("nn", "energy", [None] * 8, artifacts=[0.2] * 8)
    runs += _runs("nn", "atomic-energies", [None] * 8)
    assert claim_c3(runs, threshold=0.01)["families"]["nn"]["non_physical"]["energy"] == "8/8"


@pytest.mark.parametrize(("energy", "atomic", "expected"), [
    ([None, 1.0, None], [None, None, None], INCONCLUSIVE),  # one stop in three: too few
    ([None, None, None], [None, 0.5, None], FAILS),  # no energy run went non-physical
    ([None] * 6, [0.3, 0.5, 0.7, 1.0, 1.2, 2.0], FAILS),  # the opposite, significantly
])
def test_c3_verdicts(energy, atomic, expected):
    runs = _runs("nn", "energy", energy) + _runs("nn", "atomic-energies", atomic)
    assert claim_c3(runs, threshold=0.01)["verdict"] == expected


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


def test_q1_compares_physics_with_structure_selection_on_max_error_and_md():
    errors = _errors({"random": 0.10, "forces": 0.06, "atomic-energies": 0.06, "fps": 0.09,
                      "cur": 0.10})
    runs = _runs("nn", "atomic-energies", [None] * 8)
    runs += _runs("nn", "fps", [0.2, 0.4, 0.5, 0.8, 1.0, 1.1, 1.5, 2.0])
    q1 = physics_vs_structure(errors, runs, threshold=0.01)
    assert q1["verdict"] == HOLDS and q1["structure_methods"] == ["fps", "cur"]
    comparisons = q1["families"]["nn"]["comparisons"]
    assert {(c.get("metric"), c["method"], c["versus"]) for c in comparisons} == {
        ("max", "forces", "fps"), ("max", "forces", "cur"),
        ("max", "atomic-energies", "fps"), ("max", "atomic-energies", "cur"),
        (None, "fps", "atomic-energies")}
    # structure ahead on Max error: the answer is no
    errors = _errors({"forces": 0.10, "atomic-energies": 0.10, "fps": 0.06})
    assert physics_vs_structure(errors, [], 0.01)["verdict"] == FAILS
    assert physics_vs_structure(_errors({"random": 0.1, "energy": 0.1}), [], 0.01) is None
