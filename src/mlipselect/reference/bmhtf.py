"""Born-Mayer-Huggins-Tosi-Fumi (BMHTF) parameters for NaCl.

Pair energy, in LAMMPS ``born/coul/long`` form::

    E_ij(r) = A_ij exp((sigma_ij - r) / rho) - C_ij / r**6 - D_ij / r**8 + q_i q_j / (4 pi eps0 r)

with formal charges +1 (Na) and -1 (Cl). The repulsion follows Fumi & Tosi,
J. Phys. Chem. Solids 25, 31 (1964): A_ij = beta_ij b with Pauling factors beta
(1.25, 1.00, 0.75 for ++, +-, --), b = 0.338e-19 J, rho = 0.317 A and ionic radii
sigma_Na = 1.170 A, sigma_Cl = 1.585 A. The dispersion coefficients C, D are Mayer's,
J. Chem. Phys. 1, 270 (1933), as tabulated by Tosi & Fumi, J. Phys. Chem. Solids 25, 45
(1964) and used by Anwar, Frenkel & Noro, J. Chem. Phys. 118, 728 (2003), Table I
(kJ/mol there; eV here, 1 eV = 96.4853 kJ/mol). Both dispersion terms attract, so LAMMPS,
whose ``born`` style adds ``+D/r**8``, is given ``-D``.
"""

from dataclasses import dataclass

SPECIES = ("Na", "Cl")
"""Element symbols; LAMMPS type k+1 is SPECIES[k]."""

CHARGES = {"Na": 1.0, "Cl": -1.0}
MASSES = {"Na": 22.98976928, "Cl": 35.453}

_KJMOL_PER_EV = 96.4853
_RHO = 0.317
# (A kJ/mol, sigma A, C kJ/mol A^6, D kJ/mol A^8), Anwar et al. (2003), Table I.
_TABLE = {
    ("Na", "Na"): (25.4435, 2.340, 101.1719, 48.1771),
    ("Na", "Cl"): (20.3548, 2.755, 674.4793, 837.0770),
    ("Cl", "Cl"): (15.2661, 3.170, 6985.6786, 14031.5785),
}


@dataclass(frozen=True)
class BornPair:
    """One pair's born/coul/long coefficients in metal units (eV, A)."""

    a: float
    rho: float
    sigma: float
    c: float
    d: float


PAIRS = {
    pair: BornPair(a / _KJMOL_PER_EV, _RHO, sigma, c / _KJMOL_PER_EV, d / _KJMOL_PER_EV)
    for pair, (a, sigma, c, d) in _TABLE.items()
}

# The crystal data Tosi & Fumi fitted the model to; the tests check the model against them.
ROCKSALT_A0 = 5.60
"""0 K lattice constant of NaCl in A (nearest-neighbour distance 2.80 A), the fit target of
Fumi & Tosi, J. Phys. Chem. Solids 25, 31 (1964)."""
ROCKSALT_LATTICE_ENERGY = -787.0 / _KJMOL_PER_EV
"""Lattice energy per NaCl pair in eV from the Born-Haber cycle, 787 kJ/mol (CRC Handbook of
Chemistry and Physics, "Lattice energies"); the rigid-ion model reproduces it to about 2%."""
