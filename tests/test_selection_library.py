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
    assert main(["import", str(tmp_path / "mine.extxyz"), str(tmp_path / "pool.h5")]) == 0
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
    assert profile["select"]["options"] == {"forces": {"bins": 16}}
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
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))
    np.testing.assert_array_equal(select(nacl_frames(), "every-other", 4), [0, 2, 4, 6])
