"""Selection on pool files: `select` and the `split`/`select` verbs, on a tiny pool written in
the test, and their one-line errors for bad input with nothing written."""

import json

import ase.io
import h5py
import numpy as np
import pytest

from mlipselect.cli import main
from mlipselect.errors import InputError
from mlipselect.pool.store import Pool, PoolWriter
from mlipselect.selection import (
    METHODS,
    read_index,
    select,
    uniform_by_atom_value,
    uniform_by_frame_value,
)
from mlipselect.selection import frames as table

FRAMES, ATOMS = 60, 8


def write_pool(path, energies=True, seed=0):
    """A labelled NaCl-like pool: frames of different 'temperatures' (widths of their atomic
    energies and forces), energies summing to the frame energy."""
    rng = np.random.default_rng(seed)
    width = np.repeat(rng.lognormal(0.0, 0.3, FRAMES), ATOMS)
    e_atoms = -4.0 + 0.3 * width * rng.standard_normal(FRAMES * ATOMS)
    per_atom = {
        "natoms": np.full(FRAMES, ATOMS),
        "numbers": np.tile(np.array([11, 17], dtype=np.int32), FRAMES * ATOMS // 2),
        "positions": rng.uniform(0.0, 10.0, (FRAMES * ATOMS, 3)),
        "forces": width[:, None] * rng.standard_normal((FRAMES * ATOMS, 3)),
    }
    if energies:
        per_atom["energies"] = e_atoms
    frame = {
        "energy": e_atoms.reshape(FRAMES, ATOMS).sum(axis=1),
        "cell": np.tile(10.0 * np.eye(3), (FRAMES, 1, 1)),
        "pbc": np.ones((FRAMES, 3), dtype=bool),
    }
    with PoolWriter(path) as writer:
        writer.append_columns(frame, per_atom)
    return path


@pytest.fixture
def pool_path(tmp_path):
    return write_pool(tmp_path / "pool.h5")


def test_pool_methods_are_the_kernels_on_pool_columns(pool_path, monkeypatch):
    monkeypatch.setattr(table, "STREAM_ATOMS", 100)  # several chunks, frames split
    with Pool(pool_path) as pool:
        off, numbers = pool.offsets, pool.atom_column("numbers")
        norms = np.linalg.norm(pool.atom_column("forces"), axis=1)
        expected = {
            "energy": uniform_by_frame_value(pool.energy / ATOMS, 10, 4, exclude=[0, 5]),
            "forces": uniform_by_atom_value(norms, off, 10, 4, species=numbers, exclude=[0, 5]),
            "atomic-energies": uniform_by_atom_value(
                pool.atom_column("energies"), off, 10, 4, species=numbers, exclude=[0, 5]
            ),
        }
        for method, indices in expected.items():
            np.testing.assert_array_equal(select(pool, method, 10, seed=4, exclude=[0, 5]),
                                          indices)
        pooled = uniform_by_atom_value(norms, off, 10, 4)
        np.testing.assert_array_equal(select(pool, "forces", 10, seed=4, per_species=False),
                                      pooled)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_split_then_select(pool_path, tmp_path, method):
    idx, out = tmp_path / "test.idx", tmp_path / "sel.extxyz"
    assert main(["split", str(pool_path), "--test-fraction", "0.25", "--seed", "1",
                 "--out", str(idx)]) == 0
    test, provenance = read_index(idx, FRAMES)
    assert len(test) == 15 and np.all(np.diff(test) > 0)
    with Pool(pool_path) as pool:
        assert provenance["pool_sha256"] == pool.checksum()
    argv = ["select", str(pool_path), "--method", method, "-n", "12", "--seed", "3",
            "--exclude", str(idx), "--out", str(out)]
    assert main(argv) == 0
    frames = ase.io.read(out, ":")
    chosen = [a.info["pool_index"] for a in frames]
    assert len(set(chosen)) == 12 and not set(chosen) & set(test)
    with Pool(pool_path) as pool:
        off = pool.offsets
        for atoms, i in zip(frames, chosen, strict=True):
            # Labels under ASE's keys, as in the pool (extxyz keeps 8 decimals).
            assert atoms.get_potential_energy() == pytest.approx(pool.energy[i], abs=1e-7)
            np.testing.assert_allclose(atoms.get_forces(),
                                       pool.atom_column("forces")[off[i]:off[i + 1]], atol=1e-7)
            np.testing.assert_allclose(atoms.calc.results["energies"],
                                       pool.atom_column("energies")[off[i]:off[i + 1]], atol=1e-7)
        expected = select(pool, method, 12, seed=3, exclude=test)
    np.testing.assert_array_equal(chosen, expected)
    info = frames[0].info
    assert (info["selection_method"], info["selection_n"], info["selection_seed"]) == (
        method, 12, 3)
    assert info["selection_excluded"] == 15
    assert info["selection_pool_sha256"] == provenance["pool_sha256"]
    first = out.read_bytes()
    assert main(argv) == 2 and out.read_bytes() == first  # an output is never replaced unasked
    assert main([*argv, "--overwrite"]) == 0 and out.read_bytes() == first  # same seed, same file


def test_all_frames_left_after_exclusions(pool_path, tmp_path):
    idx, out = tmp_path / "test.idx", tmp_path / "sel.extxyz"
    assert main(["split", str(pool_path), "--out", str(idx)]) == 0  # default fraction 0.2
    test, _ = read_index(idx)
    assert len(test) == 12
    assert main(["select", str(pool_path), "--method", "atomic-energies", "-n", "48",
                 "--exclude", str(idx), "--out", str(out)]) == 0
    chosen = sorted(a.info["pool_index"] for a in ase.io.read(out, ":"))
    assert chosen == sorted(set(range(FRAMES)) - set(test))


def test_profile_gives_defaults(pool_path, tmp_path, make_profile):
    profile = make_profile(split={"test_fraction": 0.5, "seed": 2},
                           select={"options": {"forces": {"per_species": False}}})
    idx, out = tmp_path / "test.idx", tmp_path / "sel.extxyz"
    assert main(["split", str(pool_path), "--config", profile, "--out", str(idx)]) == 0
    _, provenance = read_index(idx)
    assert (provenance["test_fraction"], provenance["seed"]) == (0.5, 2)
    argv = ["select", str(pool_path), "--method", "forces", "-n", "5", "--config", profile]
    assert main([*argv, "--out", str(out)]) == 0
    assert ase.io.read(out).info["selection_per_species"] is False
    flag_wins = [*argv, "--per-species", "--out", str(out), "--overwrite"]
    assert main(flag_wins) == 0
    assert ase.io.read(out).info["selection_per_species"] is True


def empty_pool(path):
    with h5py.File(path, "w") as h5:
        h5["offsets"] = np.zeros(1, dtype=np.int64)
        for name, shape in (("frames/energy", (0,)), ("frames/cell", (0, 3, 3)),
                            ("frames/pbc", (0, 3)), ("atoms/numbers", (0,)),
                            ("atoms/positions", (0, 3)), ("atoms/forces", (0, 3))):
            h5[name] = np.zeros(shape)
    return path


def corrupt(path, column, row, value):
    with h5py.File(path, "r+") as h5:
        h5[column][row] = value
    return path


def other_pool_index(tmp_path):
    other = write_pool(tmp_path / "other.h5", seed=9)
    assert main(["split", str(other), "--out", str(tmp_path / "other.idx")]) == 0
    return tmp_path / "other.idx"


def text_file(path, text):
    path.write_text(text)
    return path


# (pool maker, arguments after the pool, expected fragments of the one-line message)
BAD = {
    "empty pool": (empty_pool, ["--method", "random", "-n", "1"],
                   ["pool.h5: no frames to select"]),
    "NaN energy": (lambda p: corrupt(write_pool(p), "frames/energy", 3, np.nan),
                   ["--method", "energy", "-n", "4"],
                   ["pool.h5: 'energy' per atom: frame 3", "NaN"]),
    "inf force": (lambda p: corrupt(write_pool(p), "atoms/forces", 2 * ATOMS + 5,
                                    [np.inf, 0.0, 0.0]),
                  ["--method", "forces", "-n", "4"],
                  ["pool.h5: 'forces': frame 2 (atom 5)", "infinite"]),
    "NaN atomic energy": (lambda p: corrupt(write_pool(p), "atoms/energies", 4 * ATOMS, np.nan),
                          ["--method", "atomic-energies", "-n", "4"],
                          ["pool.h5: 'energies': frame 4"]),
    "no atomic energies": (lambda p: write_pool(p, energies=False),
                           ["--method", "atomic-energies", "-n", "4"],
                           ["pool.h5: no per-atom energies", "'energies'", "mlipselect label"]),
    "n zero": (write_pool, ["--method", "random", "-n", "0"], ["pool.h5: n must be", "got 0"]),
    "n beyond the pool": (write_pool, ["--method", "energy", "-n", "61"],
                          ["pool.h5: n must be an integer from 1 to 60", "got 61"]),
    "an option the method lacks": (write_pool, ["--method", "energy", "-n", "4",
                                                "--no-per-species"],
                                   ["method 'energy' has no option 'per_species'",
                                    "its options: bins"]),
}


def test_an_unknown_method_is_named_with_the_known_ones(tmp_path, capsys):
    pool = write_pool(tmp_path / "pool.h5")
    with pytest.raises(SystemExit):
        main(["select", str(pool), "--method", "entropy", "-n", "4", "--out",
              str(tmp_path / "sel.extxyz")])
    err = capsys.readouterr().err
    assert "invalid choice: 'entropy'" in err and "atomic-energies" in err
    with pytest.raises(InputError, match="unknown selection method 'entropy'.*atomic-energies"):
        select(pool, "entropy", 4)


@pytest.mark.parametrize("case", BAD)
def test_bad_select_input_fails_in_one_line_and_writes_nothing(tmp_path, capsys, case):
    make, args, fragments = BAD[case]
    pool = make(tmp_path / "pool.h5")
    out = tmp_path / "sel.extxyz"
    assert main(["select", str(pool), *args, "--out", str(out)]) == 2
    fails_cleanly(capsys, out, *fragments)


def fails_cleanly(capsys, out, *fragments):
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("mlipselect ")]
    assert len(errors) == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in errors[0]
    assert not out.exists() and not list(out.parent.glob(f".{out.name}.*"))


@pytest.mark.parametrize(
    ("make_index", "fragments"),
    [
        (other_pool_index, ["other.idx: made for another pool"]),
        (lambda d: text_file(d / "t.idx", "1\n2\nthree\n"), ["t.idx, line 3: 'three'"]),
        (lambda d: text_file(d / "t.idx", "1\n2\n1\n"), ["t.idx, line 3: frame 1 repeats"]),
        (lambda d: text_file(d / "t.idx", "5\n60\n"), ["line 2: frame 60 is not in the pool"]),
        (lambda d: text_file(d / "t.idx", "\n".join(map(str, range(58)))),
         ["from 1 to 2 (the pool's 60 frames less 58 excluded), got 4"]),
        (lambda d: d / "missing.idx", ["missing.idx: cannot read"]),
    ],
)
def test_bad_exclusions_are_named(pool_path, tmp_path, capsys, make_index, fragments):
    index, out = make_index(tmp_path), tmp_path / "sel.extxyz"
    capsys.readouterr()
    assert main(["select", str(pool_path), "--method", "random", "-n", "4", "--exclude",
                 str(index), "--out", str(out)]) == 2
    fails_cleanly(capsys, out, *fragments)


@pytest.mark.parametrize(
    ("make", "args", "fragments"),
    [
        (write_pool, ["--test-fraction", "1.5"], ["between 0 and 1", "1.5"]),
        (write_pool, ["--test-fraction", "0.001"], ["leaves 0 test frames"]),
        (empty_pool, [], ["pool.h5: the pool has no frames"]),
    ],
)
def test_bad_split_input(tmp_path, capsys, make, args, fragments):
    pool, out = make(tmp_path / "pool.h5"), tmp_path / "test.idx"
    assert main(["split", str(pool), *args, "--out", str(out)]) == 2
    fails_cleanly(capsys, out, *fragments)


def test_index_file_reads_with_numpy(pool_path, tmp_path):
    idx = tmp_path / "test.idx"
    assert main(["split", str(pool_path), "--seed", "5", "--out", str(idx)]) == 0
    header = idx.read_text().splitlines()[0]
    assert header.startswith("# mlipselect test set: ")
    assert json.loads(header.split(": ", 1)[1])["seed"] == 5
    np.testing.assert_array_equal(np.loadtxt(idx, dtype=int), read_index(idx)[0])
