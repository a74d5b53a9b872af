"""Labellers other than the pool's reference: GFN1-xTB (tblite) tested as physics, and the
label cache, which labels each distinct frame once across files, records and names the frames
a labeller fails on, and keeps every finished frame through a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import CalculationFailed

from mlipselect.errors import InputError
from mlipselect.label import LabelCache, label_through_cache, make_calculator
from mlipselect.pool.frames_io import export_pool
from mlipselect.pool.store import Pool
from mlipselect.reference.calculator import BMHTF

SMOKE_REFERENCE = {"cutoff": 5.5, "accuracy": 1e-4}  # the smoke pool's BMHTF settings


def test_gfn1_xtb_forces_are_minus_the_energy_gradient_and_atomic_energies_sum_to_it(
        numeric_force):
    atoms = bulk("NaCl", "rocksalt", a=5.64, cubic=True)  # 8 ions, periodic
    atoms.rattle(0.1, seed=3)
    atoms.calc = make_calculator("gfn1-xtb", settings={"accuracy": 0.01})
    forces = atoms.get_forces()
    assert np.sum(atoms.get_potential_energies()) == pytest.approx(
        atoms.get_potential_energy(), abs=1e-8)
    for i, k in [(0, 0), (3, 1), (5, 2), (7, 0)]:
        assert numeric_force(atoms, i, k, h=1e-3) == pytest.approx(forces[i, k], abs=1e-4)


def test_labeller_settings_are_checked_by_name():
    with pytest.raises(InputError, match=r"unknown settings \['acuracy'\]"):
        make_calculator("gfn1-xtb", settings={"acuracy": 1.0})
    with pytest.raises(InputError, match="expected 'reference', gfn1-xtb, gfn2-xtb"):
        make_calculator("xtb")


class Counting(BMHTF):
    """The reference, counting its single points and failing on the frames in ``bad``
    (positions), as an SCF that does not converge would."""

    calls = 0
    bad: list[np.ndarray] = []

    def calculate(self, atoms=None, *args, **kwargs):
        Counting.calls += 1
        if any(np.array_equal(atoms.positions, p) for p in Counting.bad):
            raise CalculationFailed("SCF not converged in 250 cycles")
        super().calculate(atoms, *args, **kwargs)


@pytest.fixture
def counting():
    Counting.calls, Counting.bad = 0, []
    return Counting


def test_the_cache_labels_each_distinct_frame_once_across_files(smoke_pool, tmp_path, counting):
    first, second = tmp_path / "first.extxyz", tmp_path / "second.extxyz"
    export_pool(smoke_pool, first, indices=range(4))
    export_pool(smoke_pool, second, indices=range(2, 6))  # overlaps the first in 2 frames
    cache = LabelCache(tmp_path / "labels", counting(**SMOKE_REFERENCE))
    one = label_through_cache(first, tmp_path / "a.extxyz", cache, progress=False)
    two = label_through_cache(second, tmp_path / "b.extxyz", cache, progress=False)
    assert (one.computed, one.reused, two.computed, two.reused) == (4, 0, 2, 2)
    assert counting.calls == 6 and not one.failed and not two.failed
    # A rerun of finished work does nothing; another labeller has its own folder.
    assert label_through_cache(second, tmp_path / "b.extxyz", cache, progress=False).already
    other = LabelCache(tmp_path / "labels", counting(cutoff=5.0, accuracy=1e-4))
    assert other.dir != cache.dir
    assert label_through_cache(first, tmp_path / "c.extxyz", other, progress=False).computed == 4
    # The labels are the reference's (the smoke pool was made with these settings), and the
    # frames keep what the input said about them.
    labelled = ase.io.read(tmp_path / "b.extxyz", ":")
    with Pool(smoke_pool) as pool:
        original = list(pool.frames(range(2, 6)))
    for a, b in zip(labelled, original, strict=True):
        assert a.info["pool_index"] == b.info["pool_index"]
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-6)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-6)


def test_a_frame_the_labeller_fails_on_is_recorded_named_and_left_out(smoke_pool, tmp_path,
                                                                      counting):
    frames = tmp_path / "four.extxyz"
    export_pool(smoke_pool, frames, indices=range(4))
    counting.bad = [ase.io.read(frames, index=2).positions]
    cache = LabelCache(tmp_path / "labels", counting(**SMOKE_REFERENCE))
    run = label_through_cache(frames, tmp_path / "out.extxyz", cache, progress=False)
    assert run.failed == ("frame 2 (pool index 2): CalculationFailed: SCF not converged in 250 "
                          "cycles",)
    assert [a.info["pool_index"] for a in ase.io.read(tmp_path / "out.extxyz", ":")] == [0, 1, 3]
    # The failure is recorded: a rerun names it again without trying again.
    again = label_through_cache(frames, tmp_path / "again.extxyz", cache, progress=False)
    assert counting.calls == 4 and again.computed == 0 and again.failed == run.failed
    # A labeller that fails on every frame writes nothing and says so.
    counting.bad = [a.positions for a in ase.io.read(frames, ":")]
    broken = LabelCache(tmp_path / "labels", counting(cutoff=5.0, accuracy=1e-4))
    with pytest.raises(InputError, match="the labeller failed on every frame, e.g. frame 0"):
        label_through_cache(frames, tmp_path / "none.extxyz", broken, progress=False)
    assert not (tmp_path / "none.extxyz").exists()


def test_failed_frames_are_retried_when_asked(smoke_pool, tmp_path, counting):
    frames = tmp_path / "four.extxyz"
    export_pool(smoke_pool, frames, indices=range(4))
    counting.bad = [ase.io.read(frames, index=2).positions]
    cache = LabelCache(tmp_path / "labels", counting(**SMOKE_REFERENCE))
    out = tmp_path / "out.extxyz"
    assert len(label_through_cache(frames, out, cache, progress=False).failed) == 1
    counting.bad = []  # the fault is mended
    run = label_through_cache(frames, out, cache, progress=False, retry_failed=True)
    assert (run.computed, run.reused, run.failed) == (1, 3, ())
    assert [a.info["pool_index"] for a in ase.io.read(out, ":")] == [0, 1, 2, 3]
    assert not list(cache.dir.glob("*.failed.json"))


def test_open_frames_get_the_labels_their_calculator_gives(tmp_path):
    """EMT lists stress, but has none for a cluster: energy and forces are asked for alone."""
    from ase.build import fcc111
    from ase.cluster import Icosahedron

    from mlipselect.cli import main

    cluster = Icosahedron("Cu", 2)
    cluster.rattle(0.05, seed=1)
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=5.0)
    for atoms in (cluster, slab):
        atoms.calc = None
    ase.io.write(tmp_path / "open.extxyz", [cluster, slab])
    (tmp_path / "emt.py").write_text("from ase.calculators.emt import EMT\n"
                                     "def make():\n    return EMT()\n")
    for cache in ([], ["--cache", str(tmp_path / "labels")]):
        out = tmp_path / f"labelled{len(cache)}.extxyz"
        assert main(["label", str(tmp_path / "open.extxyz"), "--calculator",
                     f"{tmp_path / 'emt.py'}:make", "--out", str(out), *cache]) == 0
        labelled = ase.io.read(out, ":")
        assert len(labelled) == 2
        for atoms in labelled:
            results = atoms.calc.results
            assert {"energy", "forces", "energies"} <= set(results) and "stress" not in results
            assert results["energies"].sum() == pytest.approx(results["energy"], abs=1e-6)


def test_a_cached_label_run_killed_midway_resumes_without_redoing_frames(tmp_path,
                                                                         slow_calculator):
    frames = [bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2) for _ in range(8)]
    for seed, atoms in enumerate(frames):
        atoms.rattle(0.05, seed=seed)
    ase.io.write(tmp_path / "cu8.extxyz", frames)
    argv = [sys.executable, "-m", "mlipselect.cli", "label", "cu8.extxyz", "--calculator",
            slow_calculator, "--cache", "labels"]
    proc = subprocess.Popen([*argv, "--out", "out.extxyz"], cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    done = lambda: len(list((tmp_path / "labels").glob("*/*.extxyz")))  # noqa: E731
    end = time.monotonic() + 120
    while done() < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    kept = done()
    assert 3 <= kept < 8 and not (tmp_path / "out.extxyz").exists()
    resumed = subprocess.run([*argv, "--out", "out.extxyz"], cwd=tmp_path, capture_output=True,
                             text=True, check=True)
    assert f"labelled {8 - kept} frames, {kept} from the cache" in resumed.stdout
    once = subprocess.run([*argv[:-2], "--out", "once.extxyz"], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    assert "labelled 8 frames" in once.stdout  # no cache: everything computed afresh
    for a, b in zip(ase.io.read(tmp_path / "out.extxyz", ":"),
                    ase.io.read(tmp_path / "once.extxyz", ":"), strict=True):
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), abs=1e-7)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-7)
