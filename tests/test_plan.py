"""The reproduction's design as the plan lays it out: paired training seeds, MD runs from
their own frames, size variants for MD, and the profile checks that guard them."""

from dataclasses import FrozenInstanceError, replace

import ase.io
import numpy as np
import pytest

from mlipselect.config import SECTIONS, ProfileError, State, complete_profile, load_profile
from mlipselect.errors import InputError
from mlipselect.md.run import read_starts, starting_state
from mlipselect.models import family_settings
from mlipselect.study.plan import Plan, selection_parts


def test_every_method_trains_with_the_seed_of_its_selection_seed():
    plan = Plan(load_profile("quick"))
    offset = plan.profile.reproduce.train_seed_offset
    assert plan.training_seed(2) == 2 + offset != 2  # a stream apart from the selection's
    assert selection_parts("atomic-energies-n64-s7") == ("atomic-energies", 64, 7)


def test_md_runs_start_from_their_own_frames_paired_across_methods():
    plan = Plan(load_profile("quick"))
    md = plan.md_settings["nn-32x2"]
    starts = {run: plan.md_start(run) for run in plan.md_runs if run.startswith("nn-32x2/")}
    for method in plan.profile.reproduce.md_methods:
        mine = [v for run, v in starts.items() if f"/{method}-" in run]
        assert len(mine) == len(md.seeds) * md.runs
        frames, seeds = zip(*mine, strict=True)
        assert len(set(frames)) == len(frames) and len(set(seeds)) == len(seeds)
        assert max(frames) < plan.profile.frames_per_state()
    # the same run of another method starts from the same frame with the same seed
    assert plan.md_start("nn-32x2/energy-n64-s5/r2") == plan.md_start(
        "nn-32x2/atomic-energies-n64-s5/r2")
    assert plan.md_starts("nn-32x2/energy-n64-s1") == "--start-frame 48 64 80 --seed 3 4 5"


def test_size_variants_train_for_md_only():
    profile = load_profile("quick")
    plan = Plan(profile)
    bare = family_settings(profile, "gpr", "sp400-bare")
    base = family_settings(profile, "gpr", "sp400")
    assert bare["core_outer"] == 0 and bare["pair_basis"] == 0
    assert {k: v for k, v in bare.items() if k not in ("size", "core_outer", "core_inner",
                                                        "pair_basis")} == \
        {k: v for k, v in base.items() if k not in ("size", "core_outer", "core_inner",
                                                    "pair_basis")}
    trained = {m for m, _ in plan.trained}
    assert "gpr-sp400-bare" not in trained
    assert ("gpr-sp400-bare", "fps-n64-s0") in plan.md_trained
    # more selection seeds for the MD models than the profile's grid: selected too
    assert "energy-n64-s7" in plan.selections_to_make
    assert "energy-n64-s7" not in plan.selections


@pytest.mark.parametrize(("change", "message"), [
    ({"train": {"gpr": {"variants": {"x": {"base": "nope"}}}}},
     r"train.gpr.variants.x must be a mapping whose 'base' names a size"),
    ({"train": {"gpr": {"variants": {"x": {"base": "soap", "colour": 1}}}}},
     r"train.gpr.variants.x: unknown key 'colour'"),
    ({"train": {"gpr": {"variants": {"x": {"base": "soap", "core_outer": -1.0}}}}},
     r"'train.gpr.variants.x.core_outer' must be >= 0"),
    ({"reproduce": {"md_models": {"nn-huge": {}}}}, r"no nn size or variant 'huge'"),
    ({"reproduce": {"md_models": {"nn-small": {"runs": 0}}}}, r"runs' must be >= 1"),
    ({"reproduce": {"md_models": {"nn-small": {"colour": 1}}}}, r"keys among seeds, runs"),
    ({"reproduce": {"md_models": {"nn-small": {"runs": 400}}}},
     r"ask for 400 runs .* holds \d+ frames"),
])
def test_profiles_that_would_fail_the_design_are_refused(make_profile, change, message):
    sections = {}
    for section, values in change.items():
        if section == "train":
            base = load_profile("smoke").train
            values = {family: {**base[family], **v} for family, v in values.items()}
        sections[section] = values
    with pytest.raises(ProfileError, match=message):
        Plan(load_profile(make_profile("smoke", **sections)))


def test_batched_models_must_share_their_number_of_runs(make_profile):
    profile = load_profile(make_profile("smoke", train={"nn": {
        **load_profile("smoke").train["nn"],
        "variants": {"wide": {"base": "small", "features": 24}}}}, reproduce={
        "md_models": {"nn-small": {"runs": 2}, "nn-wide": {"runs": 3}}}))
    with pytest.raises(ProfileError, match="as many runs each"):
        Plan(profile)


def test_fresh_momenta_are_drawn_from_the_run_seed(tmp_path):
    atoms = ase.Atoms("NaCl", positions=[[0, 0, 0], [2.8, 0, 0]], cell=[5.6] * 3, pbc=True)
    atoms.set_momenta(np.ones((2, 3)))
    start = tmp_path / "start.extxyz"
    ase.io.write(start, [atoms, atoms])
    kept, fresh = (read_starts(start, [0, 1], [tmp_path / "a", tmp_path / "b"], momenta=m)
                   for m in (True, False))
    assert np.any(kept[0].get_momenta())
    a, b = (starting_state(f, 1400.0, seed).get_momenta() for f, seed in zip(fresh, (1, 2),
                                                                             strict=True))
    assert not np.allclose(a, b) and not np.allclose(a, atoms.get_momenta())


def test_the_active_profile_extends_quick_and_shares_every_job_of_it():
    quick, active = Plan(load_profile("quick")), Plan(load_profile("active"))
    assert active.learned == ["committee", "gpr-variance"] and quick.learned == []
    # every quick job has the same settings in the active plan, so results are shared
    for method in quick.profile.select.methods:
        assert quick.selection_settings(method) == active.selection_settings(method)
    for section in ("system", "reference", "sample", "split", "test", "train", "md", "rdf"):
        assert quick.settings(section) == active.settings(section)
    assert set(quick.trained) < set(active.trained)
    assert set(quick.md_runs) < set(active.md_runs)


def test_a_profile_states_only_what_it_changes_over_the_one_it_extends(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("select: {methods: [random, energy], n: [16], seeds: [0, 1]}\n"
                    "md: {time_ps: 2.0}\n")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nselect: {n: [32]}\n")
    profile = load_profile(child)
    assert profile.name == "child" and profile.md.time_ps == 2.0
    assert profile.select.n == (32,) and profile.select.seeds == (0, 1)
    assert profile.select.methods == ("random", "energy")
    base.write_text("extends: child.yaml\n")
    with pytest.raises(ProfileError, match="extends it back"):
        load_profile(child)


@pytest.mark.parametrize("name", ["smoke", "quick", "active", "xtb", "paper"])
def test_a_loaded_profile_is_frozen_and_its_sections_state_it_again(name):
    profile = load_profile(name)
    again = complete_profile({section: profile.section(section) for section in SECTIONS},
                             profile.path)
    assert again == profile and again.name == name
    assert all(isinstance(s, State) for s in profile.sample.states + profile.test.states)
    with pytest.raises(FrozenInstanceError):
        profile.md.time_ps = 1.0  # type: ignore[misc]
    with pytest.raises(InputError, match=r"md settings out of range: stride=0"):
        replace(profile.md, stride=0)
