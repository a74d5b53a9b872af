"""The sample and label verbs: profiles, failures by name, resumption, atomic outputs."""

import re

import ase.io
import numpy as np
import pytest

from mlipselect.cli import main
from mlipselect.config import ProfileError, load_profile
from mlipselect.label import label_file
from mlipselect.pool.frames_io import export_pool
from mlipselect.pool.store import Pool
from mlipselect.reference.calculator import BMHTF

CRYSTAL = {"name": "crystal", "ensemble": "nvt", "temperature": 600, "pressure": 1,
           "phase": "crystal"}


def test_unknown_profile_key_is_named(make_profile):
    path = make_profile(sample={"steps_per_frame": 3})
    with pytest.raises(ProfileError, match="unknown key 'sample.steps_per_frame'"):
        load_profile(path)
    with pytest.raises(ProfileError, match="unknown section 'sampel'"):
        load_profile(make_profile(sampel={"every": 3}))
    with pytest.raises(ProfileError, match="no profile named 'quik'"):
        load_profile("quik")


@pytest.mark.parametrize("sections, message", [
    ({"train": {"nn": {"epochs": -1}}}, "'train.nn.epochs' must be >= 1, got -1"),
    ({"train": {"nn": {"epochs": 2.5}}}, "'train.nn.epochs' must be an integer, got 2.5"),
    ({"train": {"nn": {"lr": -1e-3}}}, "'train.nn.lr' must be > 0"),
    ({"sample": {"timestep_fs": -2.0}}, "'sample.timestep_fs' must be > 0"),
    ({"sample": {"melt_temperature": -5.0}}, "'sample.melt_temperature' must be > 0"),
    ({"system": {"repeat": 2.5}}, "'system.repeat' must be an integer"),
    ({"train": {"nn": {"sizes": {"big": {"features": "many", "interactions": 2,
                                         "cutoff": 5.0, "rbf": 20}}}}},
     "'train.nn.sizes.big.features' must be an integer, got 'many'"),
    ({"train": {"gpr": {"sizes": {"s": {"cutoff": 0.3, "max_radial": 3, "max_angular": 2,
                                        "sparse_points": 4}}}}},
     "train.gpr.sizes.s.cutoff must be above train.gpr.smoothing"),
    ({"split": {"test_fraction": 1.5}}, "'split.test_fraction' must be between 0 and 1"),
])
def test_out_of_range_profile_values_are_refused_at_load(make_profile, tmp_path, capsys,
                                                         sections, message):
    path = make_profile(**sections)
    with pytest.raises(ProfileError, match=re.escape(message)):
        load_profile(path)
    # before any planning: neither a dry run nor the estimate gets past the profile
    assert main(["reproduce", "--profile", path, "--results", str(tmp_path / "r"),
                 "--estimate"]) == 2
    assert message in capsys.readouterr().err


def test_negative_temperature_is_refused(make_profile, tmp_path, capsys):
    path = make_profile(sample={"states": [{**CRYSTAL, "temperature": -300}]})
    assert main(["sample", "--config", path, "--out", str(tmp_path / "p.h5")]) == 2
    err = capsys.readouterr().err
    assert "sample.states[0] 'crystal': temperature must be > 0 K" in err
    assert not list(tmp_path.glob("p.h5*"))


def test_failed_state_point_is_named_and_the_others_kept(make_profile, tmp_path, capsys):
    # 1e9 K sends ions through the cell in one step: LAMMPS loses them.
    hot = {**CRYSTAL, "name": "exploding", "temperature": 1e9}
    path = make_profile(sample={"states": [CRYSTAL, hot], "production_ps": 0.2})
    out = tmp_path / "pool.h5"
    assert main(["sample", "--config", path, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "state point 'exploding' failed" in err
    assert not out.exists()
    kept = out.with_name("pool.h5.parts") / "crystal.h5"
    with Pool(kept) as part:
        assert len(part) == 4
    # The next run (the failing state point mended) redoes only what is missing.
    mtime = kept.stat().st_mtime_ns
    mended = {**hot, "temperature": 900}
    path = make_profile(sample={"states": [CRYSTAL, mended], "production_ps": 0.2})
    assert main(["sample", "--config", path, "--out", str(out)]) == 0
    assert "state point 'crystal': done before" in capsys.readouterr().err
    assert kept.stat().st_mtime_ns == mtime
    with Pool(out) as pool:
        assert len(pool) == 8


def test_single_state_point_for_workflows(tmp_path):
    out = tmp_path / "melt.h5"
    assert main(["sample", "--config", "smoke", "--state", "melt-1400K", "--out", str(out)]) == 0
    with Pool(out) as pool:
        assert set(pool.frame_column("state")) == {1}


def test_label_reproduces_the_pool_and_resumes(smoke_pool, tmp_path):
    export_pool(smoke_pool, tmp_path / "in.extxyz", indices=range(6))
    out = tmp_path / "out.extxyz"
    partial = tmp_path / "out.extxyz.partial"

    class Failing(BMHTF):
        """Fails on the fifth frame it is asked about: an interruption mid-run."""

        calls = 0

        def calculate(self, *args, **kwargs):
            Failing.calls += 1
            if Failing.calls == 5:
                raise RuntimeError("SCF did not converge")
            super().calculate(*args, **kwargs)

    calc = Failing(cutoff=5.5, accuracy=1e-4)
    with pytest.raises(ValueError, match=r"in.extxyz, frame 4: the calculator failed"):
        label_file(tmp_path / "in.extxyz", out, calc, progress=False)
    assert not out.exists() and len(ase.io.read(partial, ":", format="extxyz")) == 4
    done = label_file(tmp_path / "in.extxyz", out, calc, progress=False)
    assert (done.computed, done.reused) == (2, 4)
    assert Failing.calls == 7  # frames 0-3 were not computed again
    assert not partial.exists()
    labelled = ase.io.read(out, ":")
    with Pool(smoke_pool) as pool:
        original = list(pool.frames(range(6)))
    # The smoke profile's reference settings made the pool: relabelling reproduces it.
    for a, b in zip(labelled, original, strict=True):
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-6)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-6)
        np.testing.assert_allclose(a.get_potential_energies(), b.get_potential_energies(),
                                   atol=1e-6)


def test_label_with_a_callable(smoke_pool, tmp_path, capsys):
    export_pool(smoke_pool, tmp_path / "in.extxyz", indices=range(2))
    out = tmp_path / "emt.extxyz"
    assert main(["label", str(tmp_path / "in.extxyz"), "--calculator", "ase.calculators.emt:EMT",
                 "--out", str(out)]) == 2  # EMT has no Cl: the frame and the reason are named
    assert "frame 0: the calculator failed" in capsys.readouterr().err
    assert main(["label", str(tmp_path / "in.extxyz"), "--calculator", "nosuch:thing",
                 "--out", str(out)]) == 2
    assert "cannot import" in capsys.readouterr().err
