"""Every registered selection method keeps the selection contract on awkward pools (identical
and duplicated frames, a species in one frame, all candidates asked for), the contract check
catches a method that breaks it, and the command line reaches every option's values."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest

from mlipselect.cli import main
from mlipselect.errors import InputError
from mlipselect.selection import METHODS, select
from mlipselect.selection.contract import awkward_pools, check_selection_method, labelled_frame
from mlipselect.selection.registry import REGISTRY, register


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_keeps_the_contract(name):
    check_selection_method(name)


def test_the_contract_catches_a_method_that_repeats_a_frame():
    with REGISTRY.trial():

        @register("repeats", "returns frame 0 twice when asked for two or more")
        def repeats(frames, n, seed, exclude):
            mask = np.ones(len(frames), bool)
            mask[np.asarray(exclude, int)] = False
            picks = np.flatnonzero(mask)[:n]
            return np.sort(np.r_[picks[:1], picks[:-1]]) if n > 1 else picks

        with pytest.raises(AssertionError, match="selected twice"):
            check_selection_method("repeats")
    assert "repeats" not in METHODS


@pytest.mark.parametrize("method", ["fps", "cur", "fps-atoms"])
def test_structure_methods_pick_distinct_frames_among_coincident_ones(method):
    frames, _, _ = awkward_pools()["identical frames"]
    chosen = select(frames, method, 8, seed=3)
    assert sorted(chosen) == list(range(8))


def test_fps_atoms_ends_when_a_rare_species_frames_are_taken():
    """A species whose every frame other species picked first hands its quota on."""
    rng = np.random.default_rng(0)
    frames = [labelled_frame(rng, [29] * 7 + [28]) for _ in range(3)]
    frames += [labelled_frame(rng, [29] * 8) for _ in range(5)]
    for quota in ("pool", "equal"):
        for n in (4, 8):
            chosen = select(frames, "fps-atoms", n, seed=1, quota=quota)
            assert len(set(chosen.tolist())) == n


def test_structure_methods_work_on_slabs_and_clusters():
    from ase.build import fcc111

    rng = np.random.default_rng(2)
    slabs = []
    for _ in range(6):
        slab = fcc111("Cu", size=(2, 2, 3), vacuum=5.0)
        slab.rattle(0.1, seed=int(rng.integers(1 << 30)))
        frame = labelled_frame(rng, slab.numbers)
        frame.positions, frame.cell, frame.pbc = slab.positions, slab.cell, slab.pbc
        slabs.append(frame)
    clusters = [labelled_frame(rng, [29] * 5, box=4.0) for _ in range(6)]
    for frame in clusters:
        frame.pbc = False
    for frames in (slabs, clusters):
        for method in ("fps", "cur", "direct", "fps-atoms"):
            assert len(set(select(frames, method, 3, seed=0).tolist())) == 3


@pytest.mark.parametrize("options, message", [
    ({"cutoff": 0.0}, "cutoff"), ({"cutoff": -1.0}, "cutoff"), ({"max_radial": -1}, "max_radial"),
    ({"max_angular": 40}, "max_angular"), ({"quota": "most"}, "quota"),
])
def test_descriptor_settings_are_checked_before_any_work(options, message):
    frames, _, _ = awkward_pools()["ordinary"]
    method = "fps-atoms" if "quota" in options else "fps"
    with pytest.raises(InputError, match=message):
        select(frames, method, 2, **options)


@pytest.fixture
def small_pool(tmp_path):
    frames, _, _ = awkward_pools()["ordinary"]
    ase.io.write(tmp_path / "frames.extxyz", frames)
    assert main(["import", str(tmp_path / "frames.extxyz"),
                 "--out", str(tmp_path / "pool.h5")]) == 0
    return tmp_path / "pool.h5"


def test_the_command_line_takes_string_options_and_refuses_bad_values(small_pool, capsys):
    out = small_pool.with_name("equal.extxyz")
    assert main(["select", str(small_pool), "--method", "fps-atoms", "--quota", "equal",
                 "-n", "4", "--out", str(out)]) == 0
    frames = ase.io.read(out, ":")
    assert len({a.info["pool_index"] for a in frames}) == 4
    assert frames[0].info["selection_quota"] == "equal"
    with pytest.raises(SystemExit):
        main(["select", str(small_pool), "--method", "fps-atoms", "--quota", "most", "-n", "4",
              "--out", str(small_pool.with_name("x.extxyz"))])
    assert "invalid choice: 'most'" in capsys.readouterr().err
    assert main(["select", str(small_pool), "--method", "fps", "--cutoff", "0", "-n", "4",
                 "--out", str(small_pool.with_name("y.extxyz"))]) == 2
    assert "option 'cutoff' of 'fps' must be above" in capsys.readouterr().err
