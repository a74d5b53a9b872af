"""The selection library on a user's own frames: the same selection from a list of Atoms, a
frame table of arrays, a pool and the command line; declared options; methods registered by
other packages."""

import textwrap

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator

from mlipselect.cli import main
from mlipselect.config import load_profile
from mlipselect.errors import InputError
from mlipselect.selection import METHODS, Frames, registry, select
from mlipselect.selection.registry import load_plugins


def nacl_frames(count=40, seed=0):
    """Labelled NaCl-like frames of 8 ions: energies, forces and per-atom energies of
    different widths, as a user's trajectory would have them."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(count):
        atoms = bulk("NaCl", "rocksalt", a=5.6, cubic=True)
        atoms.rattle(0.05, seed=k)
        width = rng.lognormal(0.0, 0.4)
        energies = -4.0 + 0.3 * width * rng.standard_normal(len(atoms))
        forces = width * rng.standard_normal((len(atoms), 3))
        atoms.calc = SinglePointCalculator(atoms, energy=energies.sum(), forces=forces,
                                           energies=energies)
        frames.append(atoms)
    return frames


@pytest.mark.parametrize("method", ["random", "energy", "forces", "atomic-energies"])
def test_the_same_frames_give_the_same_selection_in_every_form(tmp_path, method):
    frames = nacl_frames()
    from_atoms = select(frames, method, 12, seed=3, exclude=[0, 7])
    # As arrays in a frame table.
    table = Frames(offsets=np.arange(0, 8 * 41, 8),
                   energy=[a.get_potential_energy() for a in frames],
                   numbers=np.concatenate([a.numbers for a in frames]),
                   forces=np.concatenate([a.get_forces() for a in frames]),
                   energies=np.concatenate([a.get_potential_energies() for a in frames]))
    np.testing.assert_array_equal(select(table, method, 12, seed=3, exclude=[0, 7]), from_atoms)
    # As a pool, through the command line, from the user's extxyz.
    ase.io.write(tmp_path / "mine.extxyz", frames)
    assert main(["import", str(tmp_path / "mine.extxyz"), "--out", str(tmp_path / "pool.h5")]) == 0
    np.testing.assert_array_equal(select(tmp_path / "pool.h5", method, 12, seed=3,
                                         exclude=[0, 7]), from_atoms)
    (tmp_path / "test.idx").write_text("0\n7\n")
    assert main(["select", str(tmp_path / "pool.h5"), "--method", method, "-n", "12",
                 "--seed", "3", "--exclude", str(tmp_path / "test.idx"),
                 "--out", str(tmp_path / "sel.extxyz")]) == 0
    chosen = [a.info["pool_index"] for a in ase.io.read(tmp_path / "sel.extxyz", ":")]
    np.testing.assert_array_equal(chosen, from_atoms)


def test_options_are_declared_checked_and_named():
    frames = nacl_frames()
    assert [o.name for o in METHODS["forces"].options] == ["per_species", "bins"]
    assert select(frames, "forces", 5, bins=8).shape == (5,)
    with pytest.raises(InputError, match="'energy' has no option 'per_species' "
                                         r"\(its options: bins\)"):
        select(frames, "energy", 5, per_species=False)
    with pytest.raises(InputError, match="option 'bins' of 'forces' must be int, got 'many'"):
        select(frames, "forces", 5, bins="many")
    with pytest.raises(InputError, match="'random' has no option 'bins' \\(its options: none\\)"):
        select(frames, "random", 5, bins=3)


def test_an_ordered_method_extends_a_selection_and_the_others_say_they_cannot():
    frames = nacl_frames(60)
    load_plugins()  # the uncertainty methods come through the entry-point group
    assert sorted(name for name, m in METHODS.items() if m.ordered) == [
        "bal", "committee", "cur", "fps", "gpr-variance", "random"]
    assert sorted(name for name, m in METHODS.items() if m.extends and not m.ordered) == [
        "direct", "fps-atoms"]
    # random is drawn in order: the first 10 of 30 are the selection of 10 with that seed.
    ten, thirty = (select(frames, "random", k, seed=4, exclude=[1, 2]) for k in (10, 30))
    np.testing.assert_array_equal(thirty[:10], ten)
    assert len(set(thirty)) == 30 and not {1, 2} & set(thirty)
    # Extending any selection keeps it first and adds new candidates only.
    mine = np.array([5, 50, 17])
    grown = select(frames, "random", 20, seed=0, exclude=[1, 2], selected=mine)
    np.testing.assert_array_equal(grown[:3], mine)
    assert len(set(grown)) == 20 and not {1, 2} & set(grown[3:])
    # Different seeds extend differently; the same seed the same way.
    other = select(frames, "random", 20, seed=1, exclude=[1, 2], selected=mine)
    assert set(other) != set(grown)
    np.testing.assert_array_equal(
        select(frames, "random", 20, seed=0, exclude=[1, 2], selected=mine), grown)
    # The uniform methods pick all frames at once: sorted, and they cannot extend.
    chosen = select(frames, "energy", 10, seed=0)
    assert np.all(np.diff(chosen) > 0)
    with pytest.raises(InputError, match="'energy' cannot extend a selection"):
        select(frames, "energy", 20, selected=chosen)
    for bad in ([1, 3], [3, 3], [70], [0] * 21):
        with pytest.raises(InputError, match="must be distinct candidates"):
            select(frames, "random", 20, exclude=[1, 2], selected=bad)


def test_the_command_line_extends_a_selection_file_of_the_same_pool(tmp_path, capsys):
    ase.io.write(tmp_path / "mine.extxyz", nacl_frames(60))
    pool, first, grown = (tmp_path / name for name in ("pool.h5", "a.extxyz", "b.extxyz"))
    assert main(["import", str(tmp_path / "mine.extxyz"), "--out", str(pool)]) == 0
    args = ["select", str(pool), "--method", "random", "--seed", "2"]
    assert main([*args, "-n", "10", "--out", str(first)]) == 0
    assert main([*args, "-n", "25", "--extend", str(first), "--out", str(grown)]) == 0
    rows = [[a.info["pool_index"] for a in ase.io.read(f, ":")] for f in (first, grown)]
    assert rows[1][:10] == rows[0] and len(set(rows[1])) == 25
    # each frame keeps the provenance of the selection that chose it
    assert [ase.io.read(grown, i).info["selection_n"] for i in (0, 9, 10, 24)] == [10, 10, 25, 25]
    ase.io.write(tmp_path / "other.extxyz", nacl_frames(60, seed=1))
    assert main(["import", str(tmp_path / "other.extxyz"),
                 "--out", str(tmp_path / "other.h5")]) == 0
    capsys.readouterr()
    assert main(["select", str(tmp_path / "other.h5"), "--method", "random", "-n", "25",
                 "--extend", str(first), "--out", str(tmp_path / "c.extxyz")]) == 2
    assert "not a selection of this pool" in capsys.readouterr().err


def test_an_extension_excludes_what_its_selection_excluded(tmp_path, capsys):
    ase.io.write(tmp_path / "mine.extxyz", nacl_frames(60))
    pool, first, grown = (tmp_path / name for name in ("pool.h5", "a.extxyz", "b.extxyz"))
    assert main(["import", str(tmp_path / "mine.extxyz"), "--out", str(pool)]) == 0
    test, other = tmp_path / "test.idx", tmp_path / "other.idx"
    assert main(["split", str(pool), "--test-fraction", "0.5", "--out", str(test)]) == 0
    assert main(["split", str(pool), "--test-fraction", "0.5", "--seed", "1",
                 "--out", str(other)]) == 0
    held_out = set(np.loadtxt(test, dtype=int).tolist())
    args = ["select", str(pool), "--method", "fps", "--seed", "2"]
    assert main([*args, "-n", "5", "--exclude", str(test), "--out", str(first)]) == 0
    # the docs' own call, without --exclude: the test set is carried over
    assert main([*args, "-n", "30", "--extend", str(first), "--out", str(grown)]) == 0
    rows = [a.info["pool_index"] for a in ase.io.read(grown, ":")]
    assert len(set(rows)) == 30 and not held_out & set(rows)
    # another test set conflicts; a test set that is gone or changed must be named again
    capsys.readouterr()
    assert main([*args, "-n", "8", "--extend", str(first), "--exclude", str(other),
                 "--out", str(tmp_path / "c.extxyz")]) == 2
    assert "excluding another test set" in capsys.readouterr().err
    test.rename(tmp_path / "moved.idx")
    assert main([*args, "-n", "8", "--extend", str(first), "--out",
                 str(tmp_path / "d.extxyz")]) == 2
    assert "which is not there unchanged; pass it with --exclude" in capsys.readouterr().err
    assert main([*args, "-n", "8", "--extend", str(first), "--exclude",
                 str(tmp_path / "moved.idx"), "--out", str(tmp_path / "e.extxyz")]) == 0
    assert not {tmp_path / "c.extxyz", tmp_path / "d.extxyz"} & set(tmp_path.iterdir())


def test_an_index_file_of_another_pool_is_refused_by_export(tmp_path, capsys):
    for name, seed in (("a", 0), ("b", 1)):
        ase.io.write(tmp_path / f"{name}.extxyz", nacl_frames(20, seed=seed))
        assert main(["import", str(tmp_path / f"{name}.extxyz"),
                     "--out", str(tmp_path / f"{name}.h5")]) == 0
    assert main(["split", str(tmp_path / "a.h5"), "--out", str(tmp_path / "a.idx")]) == 0
    capsys.readouterr()
    assert main(["export", str(tmp_path / "b.h5"), "--out", str(tmp_path / "t.extxyz"),
                 "--indices", str(tmp_path / "a.idx")]) == 2
    assert "a.idx: made for another pool" in capsys.readouterr().err
    assert not (tmp_path / "t.extxyz").exists()


def test_frames_without_a_label_name_what_the_method_needs():
    frames = nacl_frames(6)
    for atoms in frames:
        results = dict(atoms.calc.results)
        del results["energies"]
        atoms.calc = SinglePointCalculator(atoms, **results)
    assert len(select(frames, "forces", 3)) == 3
    with pytest.raises(InputError, match="6 Atoms: no per-atom energies .* 'atomic-energies'"):
        select(frames, "atomic-energies", 3)
    with pytest.raises(InputError, match="cannot select from a int"):
        select(42, "random", 1)


def test_profiles_set_a_methods_options(make_profile, tmp_path):
    profile = load_profile(make_profile(select={"options": {"forces": {"bins": 16}}}))
    assert profile.select.options == {"forces": {"bins": 16}}
    for options, message in (({"forces": {"binz": 3}}, "no option 'binz'"),
                             ({"entropy": {}}, "unknown selection method 'entropy'"),
                             ({"forces": {"bins": 1.5}}, "must be int")):
        with pytest.raises(InputError, match=f"select.options.*{message}"):
            load_profile(make_profile(select={"options": options}))


def test_a_method_another_package_registers_is_found(tmp_path, monkeypatch):
    package = tmp_path / "every_other"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent("""\
        import numpy as np
        from mlipselect.selection import register

        @register("every-other", "every second frame")
        def every_other(frames, n, seed, exclude):
            return np.arange(0, 2 * n, 2)
        """))
    info = tmp_path / "every_other-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: every-other\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[mlipselect.selection]\nevery = every_other\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with registry.REGISTRY.trial():
        np.testing.assert_array_equal(select(nacl_frames(), "every-other", 4), [0, 2, 4, 6])
    assert "every-other" not in METHODS  # forgotten after the trial
