"""The GPR's two-body terms as physics: the core repels at close contact, and both terms'
forces are minus the gradient of their energies."""

import numpy as np
import pytest
from ase import Atoms

from mlipselect.models.pair import PairBasis, core, zbl

PAIRS = [(11, 11), (11, 17), (17, 17)]


def dimer(z1, z2, r):
    return Atoms(numbers=[z1, z2], positions=[[5, 5, 5], [5 + r, 5, 5]], cell=[12, 12, 12],
                 pbc=True)


@pytest.mark.parametrize(("z1", "z2"), PAIRS)
def test_the_core_alone_repels_ever_more_below_two_angstrom(z1, z2):
    r = np.linspace(0.6, 2.0, 141)
    energy = np.array([core(dimer(z1, z2, x), 1.0, 2.0)[0] for x in r])
    assert np.all(np.diff(energy) < 0)  # rises monotonically as the ions close in
    assert energy[-1] == 0.0 and energy[0] > 50.0  # gone at 2 A, tens of eV at 0.6 A
    # Below the switch it is ZBL itself.
    assert core(dimer(z1, z2, 0.9), 1.0, 2.0)[0] == pytest.approx(zbl(z1, z2, 0.9)[0])


def _finite_difference(energy, atoms, h=1e-5):
    forces = np.zeros((len(atoms), 3))
    for a in range(len(atoms)):
        for x in range(3):
            shifted = []
            for sign in (1, -1):
                moved = atoms.copy()
                moved.positions[a, x] += sign * h
                shifted.append(energy(moved))
            forces[a, x] = -(shifted[0] - shifted[1]) / (2 * h)
    return forces


def _compressed_nacl(seed=0):
    """A small periodic NaCl cell with ions pushed into the core's range."""
    rng = np.random.default_rng(seed)
    atoms = Atoms("Na4Cl4", scaled_positions=rng.random((8, 3)), cell=[5.0, 5.2, 5.4], pbc=True)
    atoms.positions[1] = atoms.positions[0] + [1.3, 0.4, 0.2]
    atoms.positions[5] = atoms.positions[2] + [1.7, 0.1, 0.0]
    return atoms


def test_core_forces_are_minus_its_gradient():
    atoms = _compressed_nacl()
    _, forces = core(atoms, 1.0, 2.0)
    assert np.abs(forces).max() > 1.0  # the test pushes ions into the core
    expected = _finite_difference(lambda a: core(a, 1.0, 2.0)[0], atoms)
    np.testing.assert_allclose(forces, expected, atol=1e-5)


def test_pair_basis_forces_are_minus_its_gradient_for_every_column():
    atoms = _compressed_nacl(1)
    basis = PairBasis([11, 17], cutoff=4.0, n_basis=6)
    c = np.random.default_rng(2).normal(size=basis.columns)
    energy_row, force_rows = basis.design(atoms)
    assert energy_row.shape == (18,) and force_rows.shape == (24, 18)
    expected = _finite_difference(lambda a: basis.design(a)[0] @ c, atoms)
    np.testing.assert_allclose((force_rows @ c).reshape(-1, 3), expected, atol=1e-5)


def test_the_pair_term_predicts_what_its_design_rows_give():
    atoms = _compressed_nacl(1)
    basis = PairBasis([11, 17], cutoff=4.0, n_basis=6)
    c = np.random.default_rng(3).normal(size=basis.columns)
    energy_row, force_rows = basis.design(atoms)
    energy, forces = basis.predict(atoms, c)
    assert energy == pytest.approx(energy_row @ c, rel=1e-12)
    np.testing.assert_allclose(forces, (force_rows @ c).reshape(-1, 3), rtol=1e-12, atol=1e-12)
