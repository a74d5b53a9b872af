r"""Sparse Gaussian process regression on SOAP power spectra, fitted to energies and forces.

Descriptor
    featomic's SOAP power spectrum around every atom (cutoff ``cutoff`` with a cosine
    smoothing of width ``smoothing``, Gaussian densities of width ``atom_width``, GTO radial
    basis up to index ``max_radial``, spherical harmonics up to ``max_angular``), all
    neighbour-species pairs of the training species side by side, normalised to unit length:
    :math:`\hat p_i = p_i / |p_i|`. featomic gives the gradients
    :math:`\partial p_i / \partial r_a` as a sparse list over neighbour pairs, so no dense
    atoms x atoms x 3 x features array is ever built.

Kernel
    Between atoms of the same species,
    :math:`k(i, j) = \delta^2 (\hat p_i \cdot \hat p_j)^\zeta`; zero between species. The
    energy is a sum of atomic terms, :math:`E = e_0 N + \sum_i \sum_m \alpha_m k(i, m)`, where
    :math:`e_0` is the mean energy per atom of the training frames and :math:`m` runs over the
    sparse points of atom :math:`i`'s species. Forces are :math:`-\partial E / \partial r_a`.

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

    The prior :math:`\alpha^T K_{mm} \alpha` is the regularisation; eigenvalues of
    :math:`K_{mm}` below ``jitter`` :math:`\delta^2` are raised to it. The system is solved
    as least squares of the stacked rows :math:`[K_{mm}^{1/2}; \Sigma^{-1/2} K_{nm}]` by a
    QR factorisation updated frame by frame (the normal equations would square the condition
    number and fail at 1000 ions x 128 frames). Memory is that of one frame's gradients and
    design rows (about 2 GB at 1000 ions with 1000 sparse points) plus m x m, whatever the
    number of frames; per-atom energies are never used.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse
from ase import Atoms
from featomic import SoapPowerSpectrum
from featomic.basis import Gto, TensorProduct
from featomic.cutoff import Cutoff, ShiftedCosine
from featomic.density import Gaussian
from metatensor import Labels
from tqdm.auto import tqdm

from mlipselect.errors import InputError
from mlipselect.models.base import Potential, frame_labels

PARAMETERS = "gpr.npz"


def soap_calculator(settings: dict) -> SoapPowerSpectrum:
    return SoapPowerSpectrum(
        cutoff=Cutoff(radius=float(settings["cutoff"]),
                      smoothing=ShiftedCosine(width=float(settings["smoothing"]))),
        density=Gaussian(width=float(settings["atom_width"])),
        basis=TensorProduct(max_angular=int(settings["max_angular"]),
                            radial=Gto(max_radial=int(settings["max_radial"]))),
    )


class Soap:
    """Normalised SOAP descriptors per species, and their position gradients."""

    def __init__(self, settings: dict, species):
        self.calculator = soap_calculator(settings)
        self.species = [int(s) for s in species]
        pairs = [(a, b) for a in self.species for b in self.species if a <= b]
        self.pairs = Labels(["neighbor_1_type", "neighbor_2_type"], np.array(pairs, dtype=np.int32))

    def compute(self, atoms: Atoms, gradients: bool) -> dict:
        """``{species: (atom indices, unit descriptors, norms, gradient block or None)}``."""
        tensor = self.calculator.compute(atoms, gradients=["positions"] if gradients else None)
        tensor = tensor.keys_to_properties(self.pairs)
        out = {}
        for key, block in tensor.items():
            values = block.values
            norms = np.linalg.norm(values, axis=1)
            atoms_idx = block.samples.column("atom")
            grad = block.gradient("positions") if gradients else None
            out[int(key["center_type"])] = (atoms_idx, values / norms[:, None], norms, grad)
        return out


class SparseGPRPotential(Potential):
    """A fitted sparse GPR: sparse points and weights per species, and the energy baseline."""

    family = "gpr"

    def __init__(self, manifest: dict, sparse: dict[int, np.ndarray],
                 weights: dict[int, np.ndarray], e0: float):
        super().__init__(manifest)
        self.sparse, self.weights, self.e0 = sparse, weights, e0
        self.soap = Soap(manifest["settings"], self.species)

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

    def design(self, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
        """The energy row (m,) and force rows (3n, m) of ``atoms`` against the sparse points:
        ``E = e0 * n + row @ alpha`` and ``F = rows @ alpha`` (force rows carry the minus)."""
        st = self.manifest["settings"]
        delta2, zeta = float(st["delta"]) ** 2, int(st["zeta"])
        columns = self._columns
        m = columns[self.species[-1]].stop
        energy_row = np.zeros(m)
        force_rows = np.zeros((len(atoms), 3, m))
        for s, (_, x, norms, grad) in self.soap.compute(atoms, gradients=True).items():
            xm = self.sparse[s]
            c = x @ xm.T  # (n_s, m_s) cosines
            energy_row[columns[s]] = delta2 * (c**zeta).sum(axis=0)
            rows = grad.samples.column("sample")
            neighbours = grad.samples.column("atom")
            g = grad.values  # (pairs, 3, features)
            gx = np.einsum("gxd,gd->gx", g, x[rows])  # d p_i / d r_a . p_hat_i
            # d p_i / d r_a . p_hat_m as one matrix product (pairs * 3, m_s)
            dots = (g.reshape(-1, g.shape[-1]) @ xm.T).reshape(len(rows), 3, -1)
            factor = (delta2 * zeta * c ** (zeta - 1) / norms[:, None])[rows][:, None, :]
            dk = factor * (dots - c[rows][:, None, :] * gx[:, :, None])
            to_atoms = scipy.sparse.csr_matrix(
                (np.ones(len(rows)), (neighbours, np.arange(len(rows)))),
                shape=(len(atoms), len(rows)))
            force_rows[:, :, columns[s]] -= (to_atoms @ dk.reshape(len(rows), -1)).reshape(
                len(atoms), 3, -1)
        return energy_row, force_rows.reshape(3 * len(atoms), m)

    @property
    def alpha(self) -> np.ndarray:
        return np.concatenate([self.weights[s] for s in self.species])

    def predict(self, atoms):
        """Like ``design`` contracted with the weights, but contracting first: per atom the
        gradient of its energy w.r.t. its unit descriptor, then one pass over the pairs."""
        self.check_species(atoms)
        st = self.manifest["settings"]
        delta2, zeta = float(st["delta"]) ** 2, int(st["zeta"])
        energy = self.e0 * len(atoms)
        gradient = np.zeros((len(atoms), 3))
        for s, (_, x, norms, grad) in self.soap.compute(atoms, gradients=True).items():
            xm, alpha = self.sparse[s], self.weights[s]
            c = x @ xm.T
            energy += delta2 * (c**zeta).sum(axis=0) @ alpha
            w = delta2 * zeta * c ** (zeta - 1) * alpha  # dE / d(x_i . x_m)
            v = (w @ xm - (w * c).sum(axis=1)[:, None] * x) / norms[:, None]  # dE / dp_i
            rows = grad.samples.column("sample")
            per_pair = np.einsum("gxd,gd->gx", grad.values, v[rows])
            neighbours = grad.samples.column("atom")
            for axis in range(3):
                gradient[:, axis] += np.bincount(neighbours, per_pair[:, axis],
                                                 minlength=len(atoms))
        return float(energy), -gradient

    @classmethod
    def fit(cls, frames, manifest, workdir, progress=True):
        settings, species = manifest["settings"], manifest["species"]
        e0 = float(np.mean([frame_labels(a)[0] / len(a) for a in frames]))
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
        model = cls(manifest, sparse, {s: np.zeros(len(sparse[s])) for s in species}, e0)
        delta2, zeta = float(settings["delta"]) ** 2, int(settings["zeta"])
        kmm = scipy.linalg.block_diag(*[delta2 * (sparse[s] @ sparse[s].T) ** zeta
                                        for s in species])
        # The prior as rows: root.T @ root = K_mm with eigenvalues raised to the jitter.
        values, vectors = np.linalg.eigh(kmm)
        values = np.maximum(values, float(settings["jitter"]) * delta2)
        m = len(kmm)
        r = np.hstack([np.sqrt(values)[:, None] * vectors.T, np.zeros((m, 1))])
        sigma_f = float(settings["forces_sigma"])
        for atoms in tqdm(frames, desc="gpr fit", unit="frame", disable=not progress):
            energy, forces = frame_labels(atoms)
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
        manifest["fit"] = {"sparse_points": {str(s): len(sparse[s]) for s in species}}
        return model

    def save_files(self, directory):
        arrays = {f"sparse_{s}": self.sparse[s] for s in self.species}
        arrays |= {f"weights_{s}": self.weights[s] for s in self.species}
        np.savez(directory / PARAMETERS, e0=self.e0, **arrays)

    @classmethod
    def load_files(cls, directory, manifest):
        with np.load(directory / PARAMETERS) as data:
            species = manifest["species"]
            return cls(manifest, {s: data[f"sparse_{s}"] for s in species},
                       {s: data[f"weights_{s}"] for s in species}, float(data["e0"]))


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
