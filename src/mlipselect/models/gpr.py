r"""Sparse Gaussian process regression on SOAP power spectra, fitted to energies and forces.

Descriptor
    The normalised SOAP power spectrum :math:`\hat p_i` of :mod:`mlipselect.descriptors`
    over the training species. For the fit, featomic gives the gradients
    :math:`\partial p_i / \partial r_a` as a sparse list over neighbour pairs, so no dense
    atoms x atoms x 3 x features array is ever built. Prediction never forms them: the
    gradient of the energy w.r.t. each :math:`\hat p_i` is carried back to the spherical
    expansion (:meth:`~mlipselect.descriptors.Soap.local_energy`), at a third of the cost
    per step.

Kernel
    Between atoms of the same species,
    :math:`k(i, j) = \delta^2 (\hat p_i \cdot \hat p_j)^\zeta`; zero between species. The
    energy is :math:`E = e_0 N + E_\mathrm{core} + \sum_{i<j} \phi(r_{ij}) + \sum_i \sum_m
    \alpha_m k(i, m)`, where :math:`e_0` is the mean energy per atom of the training frames
    (less the core), :math:`E_\mathrm{core}` the fixed repulsive core and :math:`\phi` the
    fitted pair term of :mod:`mlipselect.models.pair`, and :math:`m` runs over the sparse
    points of atom :math:`i`'s species. Forces are :math:`-\partial E / \partial r_a`.

Sparse points
    ``sparse_points`` atomic environments of the training frames, split equally between the
    species: by CUR (``sparse_method: cur``; rows drawn without replacement with probability
    proportional to their leverage on the leading singular vectors of the descriptor matrix,
    seeded) or uniformly at random (``random``).

Fit (projected process / subset of regressors, the form GAP uses)
    With :math:`K_{nm}` the rows of the observations (one per frame for the energy, three per
    atom for the forces) against the sparse points and :math:`\Sigma` the noise (energy
    :math:`\sigma_E \sqrt{N}` per frame, ``energy_sigma`` per atom; force ``forces_sigma``
    per component),

    .. math:: (K_{mm} + K_{mn} \Sigma^{-1} K_{nm})\, \alpha = K_{mn} \Sigma^{-1} (y - e_0 N).

    The pair coefficients :math:`c` join :math:`\alpha` as further columns, with the prior
    :math:`|c|^2 / \sigma_\mathrm{pair}^2`; the labels are taken less the core.
    The prior :math:`\alpha^T K_{mm} \alpha` is the regularisation; eigenvalues of
    :math:`K_{mm}` below ``jitter`` :math:`\delta^2` are raised to it. The system is solved
    as least squares of the stacked rows :math:`[K_{mm}^{1/2}; \Sigma^{-1/2} K_{nm}]` by a
    QR factorisation updated frame by frame (the normal equations would square the condition
    number and fail at 1000 ions x 128 frames). Memory is that of one frame's gradients and
    design rows (about 2 GB at 1000 ions with 1000 sparse points) plus m x m, whatever the
    number of frames; per-atom energies are never used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse
from ase import Atoms
from tqdm.auto import tqdm

from mlipselect.descriptors import Soap
from mlipselect.errors import InputError
from mlipselect.models.base import Potential, frame_labels
from mlipselect.models.pair import PairBasis, core

PARAMETERS = "gpr.npz"


@dataclass(frozen=True)
class Kernel:
    """The kernel of two atoms of one species as a function of their descriptors' cosine
    :math:`c`: :math:`\\delta^2 c^\\zeta`, read once from a model's settings."""

    delta2: float
    zeta: int

    @classmethod
    def of(cls, settings: dict) -> Kernel:
        return cls(float(settings["delta"]) ** 2, int(settings["zeta"]))

    def __call__(self, c: np.ndarray) -> np.ndarray:
        return self.delta2 * c**self.zeta

    def derivative(self, c: np.ndarray) -> np.ndarray:
        """d k / d c."""
        return self.delta2 * self.zeta * c ** (self.zeta - 1)


class SparseGPRPotential(Potential):
    """A fitted sparse GPR: sparse points and weights per species, and the energy baseline."""

    family = "gpr"

    def __init__(self, manifest: dict, sparse: dict[int, np.ndarray],
                 weights: dict[int, np.ndarray], e0: float, pair_weights: np.ndarray,
                 posterior: np.ndarray | None = None, prior: np.ndarray | None = None):
        super().__init__(manifest)
        # Upper-triangular R with R^T R the posterior precision of all weights, and the rows
        # P with P^T P = K_mm^-1 (jittered): what the predicted variance needs.
        self.posterior, self.prior = posterior, prior
        self._contracted: dict[int, np.ndarray] = {}
        st = manifest["settings"]
        self.sparse, self.weights, self.e0 = sparse, weights, e0
        self.soap = Soap(st, self.species)
        self.kernel = Kernel.of(st)
        # Models saved before the two-body terms have none.
        self.pair = PairBasis(self.species, st.get("pair_cutoff", 0.0), st.get("pair_basis", 0))
        self.pair_weights = pair_weights
        self.core = (float(st.get("core_inner", 0.0)), float(st.get("core_outer", 0.0)))

    def capacity(self):
        return sum(len(points) for points in self.sparse.values()), "GPR sparse points"

    @property
    def _columns(self) -> dict[int, slice]:
        """Where each species' sparse points sit among the columns of the design rows."""
        out, start = {}, 0
        for s in self.species:
            out[s] = slice(start, start + len(self.sparse[s]))
            start += len(self.sparse[s])
        return out

    def baseline(self, atoms: Atoms) -> tuple[float, np.ndarray]:
        """The fixed part of the energy and forces: ``e0`` per atom and the repulsive core."""
        energy, forces = core(atoms, *self.core)
        return self.e0 * len(atoms) + energy, forces

    def design(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        """The energy row and force rows (3n, .) of ``atoms`` against the sparse points and
        the pair basis: ``E = baseline + row @ alpha`` and ``F = baseline + rows @ alpha``
        (force rows carry the minus)."""
        gp_energy, gp_forces = self._soap_design(atoms)
        pair_energy, pair_forces = self.pair.design(atoms)
        return np.concatenate([gp_energy, pair_energy]), np.hstack([gp_forces, pair_forces])

    def _soap_design(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        kernel, columns = self.kernel, self._columns
        m = columns[self.species[-1]].stop
        energy_row = np.zeros(m)
        force_rows = np.zeros((len(atoms), 3, m))
        for s, (_, x, norms, grad) in self.soap.compute(atoms, gradients=True).items():
            xm = self.sparse[s]
            c = x @ xm.T  # (n_s, m_s) cosines
            energy_row[columns[s]] = kernel(c).sum(axis=0)
            rows = grad.samples.column("sample")
            neighbours = grad.samples.column("atom")
            g = grad.values  # (pairs, 3, features)
            gx = np.einsum("gxd,gd->gx", g, x[rows])  # d p_i / d r_a . p_hat_i
            # d p_i / d r_a . p_hat_m as one matrix product (pairs * 3, m_s)
            dots = (g.reshape(-1, g.shape[-1]) @ xm.T).reshape(len(rows), 3, -1)
            factor = (kernel.derivative(c) / norms[:, None])[rows][:, None, :]
            dk = factor * (dots - c[rows][:, None, :] * gx[:, :, None])
            to_atoms = scipy.sparse.csr_matrix(
                (np.ones(len(rows)), (neighbours, np.arange(len(rows)))),
                shape=(len(atoms), len(rows)))
            force_rows[:, :, columns[s]] -= (to_atoms @ dk.reshape(len(rows), -1)).reshape(
                len(atoms), 3, -1)
        return energy_row, force_rows.reshape(3 * len(atoms), m)

    @property
    def alpha(self) -> np.ndarray:
        return np.concatenate([*(self.weights[s] for s in self.species), self.pair_weights])

    def contracted(self, s: int) -> np.ndarray | None:
        """For ``zeta`` = 2, species ``s``'s sparse points and weights as one matrix,
        :math:`M = \\delta^2 \\sum_m \\alpha_m \\hat x_m \\hat x_m^T`, so that an atom's
        energy is :math:`\\hat x^T M \\hat x` whatever the number of sparse points; None
        where the sparse points are fewer than the features (the sparse form is cheaper)."""
        xm = self.sparse[s]
        if self.kernel.zeta != 2 or len(xm) < xm.shape[1]:
            return None
        if s not in self._contracted:
            self._contracted[s] = self.kernel.delta2 * (xm.T * self.weights[s]) @ xm
        return self._contracted[s]

    def predict(self, atoms):
        """The baseline, the pair term and the SOAP part, whose forces come from the gradient
        of each atom's energy w.r.t. its unit descriptor (through ``contracted`` where that
        is cheaper) carried back by :meth:`~mlipselect.descriptors.Soap.local_energy`."""
        self.check_species(atoms)
        kernel = self.kernel

        def atom_energy(s, x):
            matrix = self.contracted(s)
            if matrix is not None:
                mx = x @ matrix  # (M x_i)^T, M symmetric
                return np.sum(mx * x), 2 * mx
            xm, alpha = self.sparse[s], self.weights[s]
            c = x @ xm.T
            return kernel(c).sum(axis=0) @ alpha, (kernel.derivative(c) * alpha) @ xm

        energy, forces = self.baseline(atoms)
        pair_energy, pair_forces = self.pair.predict(atoms, self.pair_weights)
        soap_energy, soap_forces = self.soap.local_energy(atoms, atom_energy)
        return float(energy + pair_energy + soap_energy), forces + pair_forces + soap_forces

    def energy_variance(self, atoms: Atoms) -> np.ndarray | None:
        """The GP's predicted variance (eV^2) of each atom's energy, in the projected-process
        form: :math:`k_{ii} - k_i^T K_{mm}^{-1} k_i + k_i^T A^{-1} k_i`, with :math:`A` the
        posterior precision of the weights. Small where the atom's environment is like the
        training environments, up to the prior :math:`\\delta^2` far from them. None for a
        model saved before the posterior was kept (trained again, it has one)."""
        self.check_species(atoms)
        posterior, prior = self.posterior, self.prior
        if posterior is None or prior is None:
            return None
        kernel = self.kernel
        variance = np.zeros(len(atoms))
        columns, total = self._columns, len(posterior)
        for s, (index, x, _, _) in self.soap.compute(atoms, gradients=False).items():
            k = kernel(x @ self.sparse[s].T)  # (n_s, m_s)
            padded = np.zeros((len(k), total))
            padded[:, columns[s]] = k
            explained = np.sum((padded[:, :len(prior)] @ prior.T) ** 2, axis=1)
            z = scipy.linalg.solve_triangular(posterior, padded.T, trans="T")
            variance[index] = kernel.delta2 - explained + np.sum(z**2, axis=0)
        return np.maximum(variance, 0.0)

    @classmethod
    def fit(cls, frames, manifest, workdir, progress=True):
        settings, species = manifest["settings"], manifest["species"]
        cores = [core(a, settings["core_inner"], settings["core_outer"]) for a in frames]
        e0 = float(np.mean([(frame_labels(a)[0] - c[0]) / len(a)
                            for a, c in zip(frames, cores, strict=True)]))
        soap = Soap(settings, species)
        pool = {s: [] for s in species}
        for atoms in tqdm(frames, desc="gpr descriptors", unit="frame", disable=not progress):
            for s, (_, x, _, _) in soap.compute(atoms, gradients=False).items():
                pool[s].append(x)
        rng = np.random.default_rng(manifest["seed"])
        per_species = max(1, int(settings["sparse_points"]) // len(species))
        sparse = {s: choose_sparse(np.concatenate(pool[s]), per_species,
                                   settings["sparse_method"], rng) for s in species}
        del pool
        pairs = PairBasis(species, settings["pair_cutoff"], settings["pair_basis"])
        model = cls(manifest, sparse, {s: np.zeros(len(sparse[s])) for s in species}, e0,
                    np.zeros(pairs.columns))
        kernel = model.kernel
        kmm = scipy.linalg.block_diag(*[kernel(sparse[s] @ sparse[s].T) for s in species])
        # The prior as rows: root.T @ root = K_mm with eigenvalues raised to the jitter, and
        # |c|^2 / sigma_pair^2 for the pair coefficients.
        values, vectors = np.linalg.eigh(kmm)
        values = np.maximum(values, float(settings["jitter"]) * kernel.delta2)
        root = scipy.linalg.block_diag(np.sqrt(values)[:, None] * vectors.T,
                                       np.eye(pairs.columns) / float(settings["pair_sigma"]))
        m = len(root)
        r = np.hstack([root, np.zeros((m, 1))])
        sigma_f = float(settings["forces_sigma"])
        for atoms, (core_energy, core_forces) in tqdm(
                list(zip(frames, cores, strict=True)), desc="gpr fit", unit="frame",
                disable=not progress):
            energy, forces = frame_labels(atoms)
            energy, forces = energy - core_energy, forces - core_forces
            energy_row, force_rows = model.design(atoms)
            sigma_e = float(settings["energy_sigma"]) * np.sqrt(len(atoms))
            rows = np.vstack([
                r,
                np.append(energy_row, energy - e0 * len(atoms)) / sigma_e,
                np.hstack([force_rows, forces.reshape(-1, 1)]) / sigma_f,
            ])
            r = scipy.linalg.qr(rows, mode="r", overwrite_a=True, check_finite=False)[0][:m + 1]
        alpha = scipy.linalg.solve_triangular(r[:m, :m], r[:m, m])
        columns = model._columns
        model.weights = {s: alpha[columns[s]] for s in species}
        model._contracted.clear()  # made from the weights, which are only now known
        model.pair_weights = alpha[m - pairs.columns:]
        model.posterior = np.triu(r[:m, :m])
        model.prior = (vectors / np.sqrt(values)).T
        model.manifest = {**manifest, "fit": {"sparse_points": {str(s): len(sparse[s])
                                                                  for s in species}}}
        return model

    def save_files(self, directory):
        arrays = {f"sparse_{s}": self.sparse[s] for s in self.species}
        arrays |= {f"weights_{s}": self.weights[s] for s in self.species}
        np.savez(directory / PARAMETERS, e0=self.e0, pair_weights=self.pair_weights,
                 posterior=self.posterior, prior=self.prior, **arrays)

    @classmethod
    def load_files(cls, directory, manifest):
        with np.load(directory / PARAMETERS) as data:
            species = manifest["species"]
            # models saved before the pair term and the variances have neither
            pair = data["pair_weights"] if "pair_weights" in data else np.zeros(0)
            kept = {k: data[k] if k in data else None for k in ("posterior", "prior")}
            return cls(manifest, {s: data[f"sparse_{s}"] for s in species},
                       {s: data[f"weights_{s}"] for s in species}, float(data["e0"]), pair,
                       **kept)


def choose_sparse(x: np.ndarray, n: int, method: str, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of the unit descriptors ``x`` (all when there are no more): by CUR leverage
    on the leading ``n`` right singular vectors, or uniformly at random."""
    if len(x) <= n:
        return x.copy()
    if method == "random":
        return x[np.sort(rng.choice(len(x), n, replace=False))]
    if method != "cur":
        raise InputError(f"train.gpr.sparse_method must be 'cur' or 'random', got '{method}'")
    # Right singular vectors from the small features x features matrix; the leverage of a row
    # is its squared norm in the leading left singular vectors, (x v_j)^2 / s_j^2.
    values, vectors = np.linalg.eigh(x.T @ x)
    keep = values > 1e-10 * values[-1]
    k = min(n, int(keep.sum()))
    leverage = ((x @ vectors[:, -k:]) ** 2 / values[-k:]).sum(axis=1)
    p = leverage / leverage.sum()
    return x[np.sort(rng.choice(len(x), n, replace=False, p=p))]
