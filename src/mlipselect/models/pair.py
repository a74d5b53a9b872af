r"""Two-body terms under the GPR's many-body SOAP part, as GAP users put them under theirs.

Fitted pair term
    Per species pair :math:`(a, b)`, :math:`\phi_{ab}(r) = \sum_k c_{ab,k} B_k(r)` with
    Gaussian bumps :math:`B_k(r) = \exp(-(r - r_k)^2 / 2w^2)\, f_c(r)` on an even grid
    :math:`r_k` from ``PAIR_INNER`` to the cutoff (width :math:`w` the grid spacing) and a
    cosine cutoff :math:`f_c`. The coefficients are fitted with the GPR's weights, in the same
    least squares, under a Gaussian prior of scale ``pair_sigma``.

Repulsive core
    The universal screened nuclear repulsion (Ziegler, Biersack, Littmark 1985), switched off
    by a cosine between ``core_inner`` and ``core_outer``: fixed, not fitted, positive and
    decreasing, so ions pressed closer than any training frame put them are pushed apart
    whatever the fitted terms extrapolate to. The fit learns the labels minus the core.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse
import vesin
from ase import Atoms

PAIR_INNER = 1.5  # A, the first bump of the pair basis
COULOMB = 14.399645  # e^2 / (4 pi eps0) in eV A
ZBL = ((0.18175, 3.19980), (0.50986, 0.94229), (0.28022, 0.40290), (0.02817, 0.20162))


def _pairs(atoms: Atoms, cutoff: float):
    """Each pair within ``cutoff`` once (images along periodic directions included): i, j,
    vectors r_j - r_i, distances."""
    nl = vesin.NeighborList(cutoff=float(cutoff), full_list=False)
    i, j, d = nl.compute(atoms.positions, atoms.cell[:], atoms.pbc,
                         quantities="ijD", copy=True)
    return i, j, d, np.linalg.norm(d, axis=1)


def _pair_forces(n_atoms: int, i, j, d, r, de_dr) -> np.ndarray:
    """Forces (n_atoms, 3) from each pair's dE/dr: dE/dr r_hat on i (r_hat from i to j), the
    opposite on j. The MD step's path: three bincounts cost less than :func:`_scatter`'s
    sparse matrix, which serves the design rows' many columns."""
    f = d * (de_dr / r)[:, None]
    return np.stack([np.bincount(i, f[:, k], n_atoms) - np.bincount(j, f[:, k], n_atoms)
                     for k in range(3)], axis=1)


def _scatter(n_atoms: int, i, j, vectors: np.ndarray) -> np.ndarray:
    """Forces (n_atoms, 3, ...) from per-pair dE/dr times r_hat (pairs, 3, ...): +on i, -on j."""
    pairs = np.arange(len(i))
    to_atoms = scipy.sparse.csr_matrix(
        (np.r_[np.ones(len(i)), -np.ones(len(j))], (np.r_[i, j], np.r_[pairs, pairs])),
        shape=(n_atoms, len(i)))
    per_pair = vectors.reshape(len(i), int(np.prod(vectors.shape[1:])))
    return (to_atoms @ per_pair).reshape(n_atoms, *vectors.shape[1:])


def _cosine_cutoff(r, inner, outer):
    """1 below ``inner``, 0 above ``outer``, a half cosine between; and its derivative."""
    x = np.clip((r - inner) / (outer - inner), 0.0, 1.0)
    value = 0.5 * (1 + np.cos(np.pi * x))
    slope = np.where((x > 0) & (x < 1), -0.5 * np.pi * np.sin(np.pi * x) / (outer - inner), 0.0)
    return value, slope


class PairBasis:
    """The design columns of the fitted pair term: ``n_basis`` per species pair."""

    def __init__(self, species, cutoff: float, n_basis: int):
        self.species = [int(s) for s in species]
        self.pairs = [(a, b) for a in self.species for b in self.species if a <= b]
        self.cutoff, self.n_basis = float(cutoff), int(n_basis)
        self.centres = np.linspace(PAIR_INNER, self.cutoff, self.n_basis)
        self.width = self.centres[1] - self.centres[0] if self.n_basis > 1 else 1.0
        self._pair_index = np.zeros((119, 119), dtype=int)  # atomic numbers -> species pair
        for k, (a, b) in enumerate(self.pairs):
            self._pair_index[a, b] = self._pair_index[b, a] = k

    @property
    def columns(self) -> int:
        return len(self.pairs) * self.n_basis

    def _bumps(self, atoms: Atoms):
        """The pairs within the cutoff (i, j, vectors, distances), each pair's species pair,
        the cutoff function and its slope, and the Gaussians at its distance (pairs,
        n_basis): a bump is ``g * fc``."""
        i, j, d, r = _pairs(atoms, self.cutoff)
        pair_of = self._pair_index[atoms.numbers[i], atoms.numbers[j]]
        fc, dfc = _cosine_cutoff(r, self.cutoff - self.width, self.cutoff)
        g = np.exp(-((r[:, None] - self.centres) ** 2) / (2 * self.width**2))
        return i, j, d, r, pair_of, fc, dfc, g

    def design(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        """Energy row (columns,) and force rows (3n, columns): ``E = row @ c``,
        ``F = rows @ c``."""
        if not self.columns:
            return np.zeros(0), np.zeros((3 * len(atoms), 0))
        i, j, d, r, pair_of, fc, dfc, g = self._bumps(atoms)
        b = g * fc[:, None]
        db = g * (dfc[:, None] - fc[:, None] * (r[:, None] - self.centres) / self.width**2)
        per_pair = np.zeros((len(r), self.columns))
        slope = np.zeros((len(r), self.columns))
        cols = pair_of[:, None] * self.n_basis + np.arange(self.n_basis)
        np.put_along_axis(per_pair, cols, b, axis=1)
        np.put_along_axis(slope, cols, db, axis=1)
        # F_i = -dE/dr_i = dE/dr * r_hat (r_hat from i to j), F_j the opposite
        r_hat = d / r[:, None]
        force_rows = _scatter(len(atoms), i, j, r_hat[:, :, None] * slope[:, None, :])
        return per_pair.sum(axis=0), force_rows.reshape(3 * len(atoms), self.columns)

    def predict(self, atoms: Atoms, weights: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy and forces of the pair term with coefficients ``weights`` (``design``
        contracted with them, without forming the design rows)."""
        if not self.columns:
            return 0.0, np.zeros((len(atoms), 3))
        i, j, d, r, pair_of, fc, dfc, g = self._bumps(atoms)
        gc = g * weights.reshape(len(self.pairs), self.n_basis)[pair_of]  # (pairs, K)
        phi = gc.sum(axis=1)  # the pair's energy before the cutoff function
        slope = np.einsum("pk,pk->p", gc, r[:, None] - self.centres) / self.width**2
        de_dr = dfc * phi - fc * slope
        return float(fc @ phi), _pair_forces(len(atoms), i, j, d, r, de_dr)


def zbl(z1, z2, r):
    """The ZBL universal screened nuclear repulsion (eV) between atomic numbers ``z1`` and
    ``z2`` at distances ``r`` (A), and its derivative."""
    a = 0.46850 / (np.asarray(z1, float) ** 0.23 + np.asarray(z2, float) ** 0.23)
    x = r / a
    phi = sum(c * np.exp(-e * x) for c, e in ZBL)
    dphi = sum(-c * e / a * np.exp(-e * x) for c, e in ZBL)
    prefactor = COULOMB * np.asarray(z1, float) * np.asarray(z2, float)
    return prefactor * phi / r, prefactor * (dphi / r - phi / r**2)


def core(atoms: Atoms, inner: float, outer: float) -> tuple[float, np.ndarray]:
    """Energy and forces of the switched ZBL core on ``atoms``."""
    if outer <= 0:
        return 0.0, np.zeros((len(atoms), 3))
    i, j, d, r = _pairs(atoms, outer)
    v, dv = zbl(atoms.numbers[i], atoms.numbers[j], r)
    s, ds = _cosine_cutoff(r, inner, outer)
    return float(np.sum(v * s)), _pair_forces(len(atoms), i, j, d, r, dv * s + v * ds)
