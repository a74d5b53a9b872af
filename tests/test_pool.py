"""The pool store, its ASE import/export and the foundation verbs' handling of bad input."""

import itertools

import ase.io
import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlipselect.cli import main
from mlipselect.pool.frames_io import export_pool, import_frames, merge_pools
from mlipselect.pool.store import Pool, PoolError, PoolWriter


def test_pool_labels_are_consistent(smoke_pool):
    with Pool(smoke_pool) as pool:
        assert len(pool) == 40 and set(pool.n_atoms) == {64}
        assert {"energies", "forces", "momenta", "numbers", "positions"} <= set(pool.atom_keys)
        sums = np.add.reduceat(pool.atom_column("energies"), pool.offsets[:-1])
        np.testing.assert_allclose(sums, pool.energy, atol=1e-8)
        # Two state points, frames tagged with theirs and with their simulated time.
        assert set(pool.frame_column("state")) == {0, 1}
        assert np.all(pool.frame_column("time") > 0)
        names = [s["name"] for s in pool.metadata["states"]]
        assert names == ["crystal-800K", "melt-1400K"]


def test_columns_match_frames(smoke_pool):
    with Pool(smoke_pool) as pool:
        atoms = list(pool.frames([0, 25]))
        off = pool.offsets
        for a, i in zip(atoms, [0, 25], strict=True):
            assert a.info["pool_index"] == i
            forces = pool.atom_column("forces")[off[i] : off[i + 1]]
            np.testing.assert_array_equal(a.get_forces(), forces)
            assert a.get_potential_energy() == pool.energy[i]


def test_streamed_column_equals_the_whole(smoke_pool):
    with Pool(smoke_pool) as pool:
        chunks = list(pool.iter_atom_column("energies", chunk_atoms=1000))
        assert len(chunks) == 3
        np.testing.assert_array_equal(np.concatenate(chunks), pool.atom_column("energies"))


def metadata_rich_frames():
    """EMT copper frames carrying what users' files carry: a time that is an integer in the
    first frame only, a text tag, a virial, charges, a key some frames lack."""
    from ase.build import bulk
    from ase.calculators.emt import EMT

    frames = []
    for i, time in enumerate([2, 2.5, 5.0]):
        atoms = bulk("Cu", "fcc", 3.6, cubic=True)
        atoms.rattle(0.05, seed=i)
        atoms.calc = EMT()
        atoms.get_potential_energies()
        atoms.info.update(time=time, config_type=["bulk", "bulk-hot", "ünïcode"][i],
                          virial=np.eye(3) * i, weight=1.0 if i else None)
        if atoms.info["weight"] is None:
            del atoms.info["weight"]
        atoms.arrays["charges_in"] = np.arange(len(atoms)) * 0.1 * (i + 1)
        frames.append(atoms)
    return frames


def test_import_keeps_every_value_with_its_type_decided_over_all_frames(tmp_path, capsys):
    ase.io.write(tmp_path / "cu.extxyz", metadata_rich_frames())
    assert main(["import", str(tmp_path / "cu.extxyz"), "--out", str(tmp_path / "cu.h5")]) == 0
    assert "not kept: 'weight', in 2 of 3 frames" in capsys.readouterr().err
    with Pool(tmp_path / "cu.h5") as pool:
        np.testing.assert_array_equal(pool.frame_column("time"), [2.0, 2.5, 5.0])
        assert pool.metadata["imported"]["dropped"] == {"weight": "in 2 of 3 frames"}
        frames = list(pool.frames())
    assert [a.info["config_type"] for a in frames] == ["bulk", "bulk-hot", "ünïcode"]
    np.testing.assert_array_equal(frames[2].info["virial"], 2 * np.eye(3))
    np.testing.assert_allclose(frames[1].arrays["charges_in"], np.arange(4) * 0.2)
    assert "free_energy" in frames[0].calc.results  # EMT's, kept as a calculator result
    # and out again: the same values, readable by ASE alone
    export_pool(tmp_path / "cu.h5", tmp_path / "out.extxyz")
    again = ase.io.read(tmp_path / "out.extxyz", ":")
    assert [a.info["time"] for a in again] == [2.0, 2.5, 5.0]
    assert again[2].info["config_type"] == "ünïcode"
    # an ASE trajectory keeps the labels and the info too (its calculator is not dropped as
    # stale); it stores no per-atom arrays beyond ASE's own
    export_pool(tmp_path / "cu.h5", tmp_path / "out.traj")
    traj = ase.io.read(tmp_path / "out.traj", ":")
    assert traj[1].get_potential_energy() == pytest.approx(frames[1].get_potential_energy())
    np.testing.assert_allclose(traj[1].get_forces(), frames[1].get_forces())
    assert traj[2].info["config_type"] == "ünïcode" and traj[0].info["pool_index"] == 0


def test_a_later_value_that_does_not_fit_a_column_is_refused_not_cut(tmp_path):
    frames = metadata_rich_frames()
    with pytest.raises(PoolError, match="column 'frames/time' holds int64"):
        with PoolWriter(tmp_path / "p.h5") as writer:
            for atoms in frames:
                writer.append(atoms, time=atoms.info["time"])
    assert not list(tmp_path.iterdir())


def test_extxyz_round_trip_keeps_every_label(smoke_pool, tmp_path):
    export_pool(smoke_pool, tmp_path / "a.extxyz")
    first = ase.io.read(tmp_path / "a.extxyz", ":")
    # ASE's own keys, readable without this package.
    assert "energy" in first[0].calc.results and "energies" in first[0].calc.results
    import_frames([tmp_path / "a.extxyz"], tmp_path / "b.h5")
    export_pool(tmp_path / "b.h5", tmp_path / "b.extxyz")
    # extxyz keeps 8 decimals; after that first rounding, the trip is exact.
    assert (tmp_path / "a.extxyz").read_text() == (tmp_path / "b.extxyz").read_text()
    with Pool(smoke_pool) as a, Pool(tmp_path / "b.h5") as b:
        assert set(a.atom_keys) == set(b.atom_keys)
        for key in a.atom_keys:
            np.testing.assert_allclose(a.atom_column(key), b.atom_column(key), atol=1e-8)
        for key in ("energy", "cell", "stress", "temperature", "state"):
            np.testing.assert_allclose(a.frame_column(key), b.frame_column(key), atol=1e-8)


def test_merge_concatenates(smoke_pool, tmp_path):
    merge_pools([smoke_pool, smoke_pool], tmp_path / "m.h5")
    with Pool(smoke_pool) as a, Pool(tmp_path / "m.h5") as m:
        assert len(m) == 2 * len(a)
        np.testing.assert_array_equal(m.energy, np.tile(a.energy, 2))
        np.testing.assert_array_equal(m.offsets[-1], 2 * a.offsets[-1])


def test_frame_without_forces_is_named(tmp_path, smoke_pool, capsys):
    export_pool(smoke_pool, tmp_path / "a.extxyz")
    frames = ase.io.read(tmp_path / "a.extxyz", ":4")
    bad = frames[2]
    results = dict(bad.calc.results)
    del results["forces"]
    from ase.calculators.singlepoint import SinglePointCalculator

    bad.calc = SinglePointCalculator(bad, **results)
    ase.io.write(tmp_path / "bad.extxyz", frames)
    assert main(["import", str(tmp_path / "bad.extxyz"), "--out", str(tmp_path / "out.h5")]) == 2
    err = capsys.readouterr().err
    assert "bad.extxyz, frame 2: no 'forces'" in err
    assert not (tmp_path / "out.h5").exists()
    assert not list(tmp_path.glob(".out.h5*"))  # no temporary left behind


def test_nan_energy_is_refused(tmp_path, smoke_pool):
    export_pool(smoke_pool, tmp_path / "a.extxyz", indices=range(3))
    text = (tmp_path / "a.extxyz").read_text().splitlines()
    second = 64 + 2 + 1  # comment line of frame 1
    text[second] = text[second].replace("energy=-", "energy=nan #")
    (tmp_path / "nan.extxyz").write_text("\n".join(text) + "\n")
    with pytest.raises(PoolError, match="frame 1.*'energy' has a NaN"):
        import_frames([tmp_path / "nan.extxyz"], tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_unreadable_and_unwritable_paths(tmp_path, smoke_pool, capsys):
    assert main(["export", str(tmp_path / "missing.h5"), "--out", str(tmp_path / "x.extxyz")]) == 2
    assert "missing.h5: cannot read as a pool" in capsys.readouterr().err
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(PoolError, match="junk.h5: cannot read as a pool"):
        Pool(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["x"] = 1
    with pytest.raises(PoolError, match="not a pool file"):
        Pool(tmp_path / "other.h5")
    assert main(["export", str(smoke_pool), "--out",
                 str(tmp_path / "no" / "dir" / "x.extxyz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["export", str(smoke_pool), "--out", str(tmp_path / "file" / "x.extxyz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _columns(sizes, seed=0):
    """Frame and per-atom columns of frames with ``sizes`` atoms."""
    rng = np.random.default_rng(seed)
    atoms = int(np.sum(sizes))
    frame = {"energy": rng.normal(size=len(sizes)),
             "cell": rng.normal(size=(len(sizes), 3, 3)),
             "pbc": rng.random((len(sizes), 3)) > 0.5}
    per_atom = {"natoms": np.asarray(sizes), "numbers": rng.integers(1, 90, atoms, np.int32),
                "positions": rng.normal(size=(atoms, 3)), "forces": rng.normal(size=(atoms, 3)),
                "energies": rng.normal(size=atoms)}
    return frame, per_atom


def _batch(frame, per_atom, start, stop):
    off = np.concatenate([[0], np.cumsum(per_atom["natoms"])])
    a, b = off[start], off[stop]
    return ({k: v[start:stop] for k, v in frame.items()},
            {k: v[start:stop] if k == "natoms" else v[a:b] for k, v in per_atom.items()})


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 5), min_size=1, max_size=12),
       cuts=st.lists(st.integers(1, 11), max_size=6),
       chunk_bytes=st.sampled_from([8, 40, 1 << 16]),
       buffer_bytes=st.sampled_from([1, 100, 1 << 22]),
       interrupt_at=st.none() | st.integers(0, 11))
def test_any_appends_interrupts_and_reruns_give_the_uninterrupted_pool(
        tmp_path_factory, sizes, cuts, chunk_bytes, buffer_bytes, interrupt_at):
    directory = tmp_path_factory.mktemp("pools")
    frame, per_atom = _columns(sizes)
    whole = directory / "whole.h5"
    with PoolWriter(whole) as writer:
        writer.append_columns(*_batch(frame, per_atom, 0, len(sizes)))
    bounds = sorted({0, len(sizes), *(c for c in cuts if c < len(sizes))})
    out = directory / "pool.h5"

    def write(interrupt):
        with PoolWriter(out, chunk_bytes=chunk_bytes, buffer_bytes=buffer_bytes) as writer:
            for k, (a, b) in enumerate(itertools.pairwise(bounds)):
                if k == interrupt:
                    raise KeyboardInterrupt
                writer.append_columns(*_batch(frame, per_atom, a, b))

    if interrupt_at is not None and interrupt_at < len(bounds) - 1:
        with pytest.raises(KeyboardInterrupt):
            write(interrupt_at)
        assert not out.exists() and list(directory.glob(".pool.h5*")) == []
    write(None)
    with Pool(out) as pool, Pool(whole) as reference:
        assert pool.checksum() == reference.checksum()
        np.testing.assert_array_equal(pool.offsets, np.concatenate([[0], np.cumsum(sizes)]))
        for key, value in frame.items():
            np.testing.assert_array_equal(pool.frame_column(key), value)
        for key, value in per_atom.items():
            if key != "natoms":
                np.testing.assert_array_equal(pool.atom_column(key), value)
                streamed = np.concatenate(list(pool.iter_atom_column(key, chunk_atoms=3)))
                np.testing.assert_array_equal(streamed, value)


def test_export_of_a_few_frames_reads_only_their_rows(tmp_path):
    # Every stored chunk but those holding frames 3, 50 and 97 is damaged: an export of
    # those three frames succeeds only if it reads nothing else (offsets aside).
    sizes = [4] * 100
    frame, per_atom = _columns(sizes, seed=1)
    path = tmp_path / "pool.h5"
    with PoolWriter(path, chunk_bytes=96) as writer:
        writer.append_columns(frame, per_atom)
    wanted = [3, 50, 97]
    keep_frames = set(wanted)
    keep_atoms = {a for i in wanted for a in range(4 * i, 4 * i + 4)}
    data = bytearray(path.read_bytes())
    damaged = 0
    with h5py.File(path) as h5:
        for group, keep in (("frames", keep_frames), ("atoms", keep_atoms)):
            for key in h5[group]:
                ds = h5[f"{group}/{key}"]
                rows = ds.chunks[0]
                for c in range(ds.id.get_num_chunks()):
                    info = ds.id.get_chunk_info(c)
                    first = info.chunk_offset[0]
                    if not keep & set(range(first, first + rows)):
                        data[info.byte_offset] ^= 0x01
                        damaged += 1
    path.write_bytes(bytes(data))
    assert damaged > 100
    out = tmp_path / "three.extxyz"
    (tmp_path / "three.idx").write_text("".join(f"{i}\n" for i in wanted))
    assert main(["export", str(path), "--out", str(out), "--indices",
                 str(tmp_path / "three.idx")]) == 0
    frames = ase.io.read(out, ":")
    np.testing.assert_array_equal([a.get_potential_energy() for a in frames],
                                  frame["energy"][wanted])
    with Pool(path) as pool, pytest.raises(PoolError, match="is damaged"):
        pool.frame_column("energy")  # the damage is there for any read that reaches it


def test_columns_are_stored_in_chunks_of_many_rows(tmp_path):
    # One chunk per row made a 10^6-frame pool's offsets take 15 s to read.
    frame, per_atom = _columns([3] * 10, seed=2)
    with PoolWriter(tmp_path / "pool.h5") as writer:
        writer.append_columns(frame, per_atom)
    with h5py.File(tmp_path / "pool.h5") as h5:
        assert h5.attrs["format_version"] == 2
        assert h5["offsets"].chunks[0] == 8192 and h5["frames/energy"].chunks[0] == 8192
        assert h5["atoms/positions"].chunks == (2730, 3)
        assert all(h5[name].fletcher32 for name in ("offsets", "frames/energy",
                                                     "atoms/forces"))
