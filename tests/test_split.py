"""Held-out test sets that respect time: blocks with a buffer, whole trajectories."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest

from mlipselect.cli import main
from mlipselect.errors import InputError
from mlipselect.pool.store import PoolWriter
from mlipselect.selection import read_index
from mlipselect.selection.split import split_by_block, split_by_trajectory


def md_frames():
    """Three trajectories of 40, 30 and 50 frames every 100 fs, interleaved as a pool might
    hold them."""
    trajectory = np.repeat([0, 1, 2], [40, 30, 50])
    time = np.concatenate([np.arange(40), np.arange(30), np.arange(50)]) * 100.0
    order = np.random.default_rng(0).permutation(len(time))
    return trajectory[order], time[order]


@pytest.mark.parametrize("seed", range(5))
def test_a_block_split_keeps_the_gap_between_test_frames_and_candidates(seed):
    trajectory, time = md_frames()
    test, buffer = split_by_block(trajectory, time, 0.2, 350.0, seed)
    assert not set(test) & set(buffer)
    candidates = np.setdiff1d(np.arange(len(time)), np.union1d(test, buffer))
    for t in range(3):
        mine = test[trajectory[test] == t]
        # one contiguous block of round(0.2 m) frames per trajectory
        assert len(mine) == round(0.2 * (trajectory == t).sum())
        steps = np.sort(time[mine])
        assert np.all(np.diff(steps) == 100.0)
        others = candidates[trajectory[candidates] == t]
        distance = np.abs(time[others][:, None] - time[mine][None, :]).min(axis=1)
        assert distance.min() >= 350.0
        # and the buffer is no wider than it must be
        near = buffer[trajectory[buffer] == t]
        assert np.abs(time[near][:, None] - time[mine][None, :]).min(axis=1).max() < 350.0
    with pytest.raises(InputError, match="leaves no candidates"):
        split_by_block(trajectory, time, 0.5, 5000.0, seed)


def test_a_trajectory_split_holds_out_whole_runs():
    trajectory, _ = md_frames()
    test = split_by_trajectory(trajectory, 0.3, 1)
    held = set(trajectory[test])
    assert 1 <= len(held) < 3 and len(test) >= round(0.3 * len(trajectory))
    assert set(np.flatnonzero(np.isin(trajectory, list(held)))) == set(test)
    with pytest.raises(InputError, match="at least 2 trajectories"):
        split_by_trajectory(np.zeros(10), 0.3, 0)


def test_the_command_line_splits_a_sampled_pool_by_block(smoke_pool, tmp_path, capsys):
    out = tmp_path / "test.idx"
    assert main(["split", str(smoke_pool), "--by", "block", "--gap", "0.2",
                 "--test-fraction", "0.2", "--out", str(out)]) == 0
    test, provenance = read_index(out)
    buffer = provenance["buffer"]
    assert provenance["by"] == "block" and provenance["gap_ps"] == 0.2 and buffer
    assert main(["select", str(smoke_pool), "--method", "random", "-n", "20", "--exclude",
                 str(out), "--out", str(tmp_path / "sel.extxyz")]) == 0
    chosen = {a.info["pool_index"] for a in ase.io.read(tmp_path / "sel.extxyz", ":")}
    assert not chosen & (set(test) | set(buffer))
    assert main(["split", str(smoke_pool), "--by", "trajectory", "--test-fraction", "0.3",
                 "--out", str(tmp_path / "t.idx")]) == 0
    # a pool without trajectories says what it lacks
    bare = tmp_path / "bare.h5"
    frames = ase.io.read(tmp_path / "sel.extxyz", ":")
    with PoolWriter(bare) as writer:
        for atoms in frames:
            writer.append(atoms)
    capsys.readouterr()
    assert main(["split", str(bare), "--by", "block", "--out", str(tmp_path / "b.idx")]) == 2
    assert "needs the per-frame column(s) 'state', 'time'" in capsys.readouterr().err
