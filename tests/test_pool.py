"""The pool store, its ASE import/export and the foundation verbs' handling of bad input."""

import ase.io
import h5py
import numpy as np
import pytest

from mlipselect.cli import main
from mlipselect.pool.frames_io import export_pool, import_frames, merge_pools
from mlipselect.pool.store import Pool, PoolError


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
    assert main(["import", str(tmp_path / "bad.extxyz"), str(tmp_path / "out.h5")]) == 2
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
    assert main(["export", str(tmp_path / "missing.h5"), str(tmp_path / "x.extxyz")]) == 2
    assert "missing.h5: cannot read as a pool" in capsys.readouterr().err
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(PoolError, match="junk.h5: cannot read as a pool"):
        Pool(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5["x"] = 1
    with pytest.raises(PoolError, match="not a pool file"):
        Pool(tmp_path / "other.h5")
    assert main(["export", str(smoke_pool), str(tmp_path / "no" / "dir" / "x.extxyz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["export", str(smoke_pool), str(tmp_path / "file" / "x.extxyz")]) == 2
    assert "does not exist" in capsys.readouterr().err
