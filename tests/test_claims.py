"""Verdict rules of the claims report, on numbers whose answer is known: each part of a claim
can hold, come out opposite, equivalent (no effect within the margin), inconclusive or
untested, and the claim's verdict says which parts hold."""

import numpy as np
import pytest

from mlipselect.analysis.distributions import species_tail_share, tail_share
from mlipselect.study.claims import (
    FAILS,
    HOLDS,
    IN_PART,
    INCONCLUSIVE,
    UNTESTED,
    claim_c1,
    claim_c2,
    claim_c3,
    physics_vs_structure,
)

MARGINS = {"max": 0.25, "rmse": 0.05, "tail_share": 0.25, "hazard_ratio": 1.0}


def _errors(means: dict, seeds=(0, 1, 2), sizes=("s", "m", "l"), spread=0.01,
            seed_effect=0.0, test_sets=("independent",)):
    """Errors per method that shrink with size; ``spread``: relative noise per model;
    ``seed_effect``: relative noise shared by every model of a seed (its training seed)."""
    rng = np.random.default_rng(0)
    shared = {k: rng.normal(0, seed_effect) for k in seeds}
    rows = []
    for test_set, (m, mu), (i, s), k in ((t, mm, ss, kk) for t in test_sets
                                         for mm in means.items()
                                         for ss in enumerate(sizes) for kk in seeds):
        noise = np.exp(shared[k] + rng.normal(0, spread))
        rows.append({"test_set": test_set, "family": "nn", "size": s, "method": m, "seed": k,
                     "max": 5 * mu / (i + 1) * noise, "rmse": mu / (i + 1) * noise,
                     "tails_max": None, "tails_rmse": None})
    return rows


def test_c2_holds_when_new_methods_are_lower_at_every_size():
    c2 = claim_c2(_errors({"random": 0.10, "energy": 0.11, "forces": 0.06,
                           "atomic-energies": 0.05}), MARGINS)
    assert c2["verdict"] == HOLDS
    parts = c2["comparisons"]
    assert len(parts) == 2 * 2 * 2  # metric x new x old, on the one test set
    for c in parts:
        assert c["outcome"] == HOLDS and c["ci"][1] < 1 and c["p_adjusted"] < 0.05
        assert c["unit"] == "selection seed" and c["n"] == 3
        assert c["p_adjusted"] >= c["p_value"] / 2  # Holm never lowers a p-value
        assert set(c) >= {"effect", "ci", "p_value", "p_adjusted", "detectable"}


def test_c2_pairs_methods_by_seed_so_a_shared_training_effect_cancels():
    # Every model of a seed is 30% off together (its training seed), the methods differ by
    # 10%: unpaired, the seed effect would swamp it; paired by seed it holds.
    errors = _errors({"random": 0.10, "energy": 0.10, "forces": 0.09, "atomic-energies": 0.09},
                     seeds=range(5), spread=0.005, seed_effect=0.3)
    c2 = claim_c2(errors, MARGINS)
    assert c2["verdict"] == HOLDS
    assert all(c["effect"] == pytest.approx(0.9, rel=0.02) for c in c2["comparisons"])


def test_c2_parts_each_get_their_own_verdict():
    # forces lower than both, atomic-energies as good as random and energy
    c2 = claim_c2(_errors({"random": 0.10, "energy": 0.10, "forces": 0.06,
                           "atomic-energies": 0.10}, seeds=range(6), spread=0.004), MARGINS)
    assert c2["verdict"] == IN_PART
    outcome = {(c["method"], c["metric"], c["versus"]): c["outcome"] for c in c2["comparisons"]}
    assert outcome[("forces", "rmse", "random")] == HOLDS
    assert outcome[("atomic-energies", "rmse", "random")] == "equivalent"
    assert c2["parts"] == {"holds": 4, "opposite": 0, "equivalent": 4, "inconclusive": 0,
                           "untested": 0}


def test_c2_does_not_hold_when_a_new_method_is_worse():
    c2 = claim_c2(_errors({"random": 0.10, "energy": 0.11, "forces": 0.15,
                           "atomic-energies": 0.15}), MARGINS)
    assert c2["verdict"] == FAILS
    assert {c["outcome"] for c in c2["comparisons"]} == {"opposite"}


def test_c2_is_inconclusive_when_noise_hides_the_effect():
    c2 = claim_c2(_errors({"random": 0.10, "energy": 0.10, "forces": 0.095,
                           "atomic-energies": 0.095}, spread=0.3), MARGINS)
    assert c2["verdict"] == INCONCLUSIVE
    # each part says how large an effect it could have seen
    assert all(c["detectable"] > 1.05 for c in c2["comparisons"])


def test_c2_is_untested_with_one_seed():
    c2 = claim_c2(_errors({"random": 0.10, "energy": 0.11, "forces": 0.06,
                           "atomic-energies": 0.05}, seeds=(0,)), MARGINS)
    assert c2["verdict"] == UNTESTED


def test_c2_judges_every_model_family():
    nn = _errors({"random": 0.10, "energy": 0.11, "forces": 0.06, "atomic-energies": 0.05})
    gpr = [{**e, "family": "gpr"} for e in nn]
    c2 = claim_c2(nn + gpr, MARGINS)
    assert [c["family"] for c in c2["comparisons"]] == ["nn"] * 8 + ["gpr"] * 8


def test_c2_covers_each_test_set_and_the_tail_atoms():
    errors = _errors({"random": 0.10, "energy": 0.11, "forces": 0.06, "atomic-energies": 0.05},
                     test_sets=("independent", "extrapolation"))
    for e in errors:
        if e["test_set"] == "independent":
            e.update(tails_max=e["max"] * 2, tails_rmse=e["rmse"] * 2)
    c2 = claim_c2(errors, MARGINS)
    assert {c["test_set"] for c in c2["comparisons"]} == {"independent", "extrapolation",
                                                          "tail atoms"}
    assert len(c2["comparisons"]) == 3 * 2 * 4


def test_c1_on_tail_shares():
    tails = {"atomic_energies": {"random": [0.02, 0.021, 0.019], "energy": [0.03, 0.029, 0.031],
                                 "atomic-energies": [0.2, 0.21, 0.19], "forces": [0.1, 0.1, 0.11]},
             "force_norms": {"random": [0.02, 0.02, 0.021], "energy": [0.025, 0.03, 0.028],
                             "atomic-energies": [0.1, 0.12, 0.11], "forces": [0.3, 0.31, 0.29]}}
    assert claim_c1(tails, 0.25)["verdict"] == HOLDS
    tails["force_norms"]["forces"] = [0.01, 0.012, 0.011]
    c1 = claim_c1(tails, 0.25)
    assert c1["verdict"] == IN_PART
    assert [c["outcome"] for c in c1["comparisons"] if c["method"] == "forces"] == \
        ["opposite", "opposite"]


def _runs(model, method, stops, time_ps=3.0, artifacts=None, runs_per_model=1):
    """MD runs: ``stops`` holds the time the guard stopped each (None: ran to the end);
    consecutive runs share a model (selection seed) ``runs_per_model`` at a time."""
    artifacts = artifacts or [0.0] * len(stops)
    return [{"model": model, "family": model.split("-")[0], "method": method,
             "seed": k // runs_per_model, "artifact": a, "stable": stop is None,
             "stopped_ps": time_ps if stop is None else stop}
            for k, (stop, a) in enumerate(zip(stops, artifacts, strict=True))]


def _stops(rate, n, horizon, seed):
    t = np.random.default_rng(seed).exponential(1 / rate, n)
    return [float(x) if x < horizon else None for x in t]


def test_c3_holds_when_energy_runs_stop_sooner():
    runs = _runs("nn-s", "energy", _stops(1.5, 24, 8.0, 0), time_ps=8.0, runs_per_model=3)
    runs += _runs("nn-s", "atomic-energies", _stops(0.1, 24, 8.0, 1), time_ps=8.0,
                  runs_per_model=3)
    c3 = claim_c3(runs, threshold=0.01, margin=1.0)
    guard = next(c for c in c3["comparisons"] if c["endpoint"] == "guard stop")
    assert guard["outcome"] == HOLDS and guard["effect"] > 3 and guard["ci"][0] > 1
    assert guard["unit"] == "trained model" and guard["n"] == [8, 8]
    assert guard["detectable"] < 3  # the design finds a hazard ratio of 3
    assert guard["events"][0] > guard["events"][1]


def test_c3_artifact_is_its_own_endpoint():
    runs = _runs("nn-s", "energy", [None] * 8, artifacts=[0.2] * 8)
    runs += _runs("nn-s", "atomic-energies", [None] * 8)
    c3 = claim_c3(runs, threshold=0.01, margin=1.0)
    parts = {c["endpoint"]: c for c in c3["comparisons"]}
    assert parts["guard stop"]["outcome"] == UNTESTED  # nothing stopped
    assert parts["g(r) artifact vs BMHTF"]["effect"] == pytest.approx(1.0)


@pytest.mark.parametrize(("energy", "atomic", "expected"), [
    ([None, 1.0, None, None], [None, 2.0, None, None], INCONCLUSIVE),  # too few stops
    ([None] * 6, [None] * 6, UNTESTED),  # no event in either arm: untested, not a failure
    ([None] * 6, [0.3, 0.5, 0.7, 1.0, 1.2, 2.0], UNTESTED),  # an arm without events
])
def test_c3_verdicts(energy, atomic, expected):
    runs = _runs("gpr-s", "energy", energy) + _runs("gpr-s", "atomic-energies", atomic)
    c3 = claim_c3(runs, threshold=0.01, margin=1.0)
    assert c3["verdict"] == expected
    assert FAILS != c3["verdict"]


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
    runs = _runs("nn-s", "atomic-energies", _stops(0.1, 24, 8.0, 1), 8.0, runs_per_model=3)
    runs += _runs("nn-s", "fps", _stops(1.5, 24, 8.0, 0), 8.0, runs_per_model=3)
    q1 = physics_vs_structure(errors, runs, threshold=0.01, margins=MARGINS)
    assert q1["verdict"] == HOLDS and q1["structure_methods"] == ["fps", "cur"]
    assert {(c.get("metric"), c["method"], c["versus"]) for c in q1["comparisons"]} == {
        ("max", "forces", "fps"), ("max", "forces", "cur"),
        ("max", "atomic-energies", "fps"), ("max", "atomic-energies", "cur"),
        (None, "fps", "atomic-energies")}
    # structure ahead on Max error: the answer is no
    errors = _errors({"forces": 0.10, "atomic-energies": 0.10, "fps": 0.06})
    assert physics_vs_structure(errors, [], 0.01, MARGINS)["verdict"] == FAILS
    assert physics_vs_structure(_errors({"random": 0.1, "energy": 0.1}), [], 0.01,
                                MARGINS) is None
