r"""SOAP descriptors of atomic environments and of frames: the one home of the GPR's
descriptor and of the structure-based selection methods' features.

Per atom: featomic's SOAP power spectrum (cutoff ``cutoff`` with a cosine smoothing of width
``smoothing``, Gaussian densities of width ``atom_width``, GTO radial basis up to index
``max_radial``, spherical harmonics up to ``max_angular``), all neighbour-species pairs of the
given species side by side, normalised to unit length: :math:`\hat p_i = p_i / |p_i|`.

Per frame: for each species, the mean of its atoms' :math:`\hat p_i`, the species' blocks side
by side (zeros for a species the frame lacks). Two frames of the same composition whose
environments are alike are close; the distance between frames is Euclidean in this space.

:func:`frame_descriptors` computes them for frames in chunks (featomic batches a chunk of
systems at once) and caches them next to a pool file, keyed by the pool's checksum and the
settings, so a second selection on the same pool reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from mlipselect.errors import InputError
from mlipselect.io import atomic_path, work_key

SETTINGS = {"cutoff": 5.0, "max_radial": 3, "max_angular": 2, "atom_width": 0.5,
            "smoothing": 0.5}
"""Default SOAP settings of the selection methods: a coarser basis than the GPR's, since
frames are told apart by their mean environment, and the descriptors of 10^6 frames of two
species then take 1.15 GB (288 float32 features each)."""

CHUNK_FRAMES = 256
"""Frames featurised per featomic call."""


def all_periodic(atoms: Atoms, cutoff: float) -> Atoms:
    """``atoms`` as featomic can take it: unchanged when periodic in all directions, without a
    cell when periodic in none;
    a slab or a wire (periodic in some directions only, which featomic refuses) gets, for each
    open direction, a cell vector normal to the periodic ones and longer than the atoms'
    extent along it plus twice ``cutoff``, so that no environment sees an image across it.
    Environments are the same as in the open system."""
    pbc = atoms.pbc
    if pbc.all() or not (pbc.any() or atoms.cell.any()):
        return atoms
    if not pbc.any():  # an open system: a cell would be ignored (with a warning)
        return Atoms(numbers=atoms.numbers, positions=atoms.positions)
    periodic = atoms.cell.array[pbc]
    # orthonormal directions of the periodic vectors, then of the open ones
    basis: list[np.ndarray] = []
    for vector in [*periodic, *np.eye(3)]:
        rest = vector - sum((vector @ b) * b for b in basis)
        if np.linalg.norm(rest) > 1e-8 * max(np.linalg.norm(vector), 1.0):
            basis.append(rest / np.linalg.norm(rest))
    open_directions = basis[len(periodic):3]
    cell = atoms.cell.array.copy()
    for axis, direction in zip(np.flatnonzero(~pbc), open_directions, strict=True):
        along = atoms.positions @ direction
        cell[axis] = direction * (np.ptp(along) + 2 * cutoff + 1.0)
    wrapped = atoms.copy()
    wrapped.set_cell(cell, scale_atoms=False)
    wrapped.pbc = True
    return wrapped


def soap_calculator(settings: dict, kind: str = "power spectrum"):
    """featomic's SOAP power spectrum (or, ``kind="expansion"``, the spherical expansion of
    the neighbour density it is made of) at ``settings``."""
    from featomic import SoapPowerSpectrum, SphericalExpansion
    from featomic.basis import Gto, TensorProduct
    from featomic.cutoff import Cutoff, ShiftedCosine
    from featomic.density import Gaussian

    calculator = SphericalExpansion if kind == "expansion" else SoapPowerSpectrum
    return calculator(
        cutoff=Cutoff(radius=float(settings["cutoff"]),
                      smoothing=ShiftedCosine(width=float(settings["smoothing"]))),
        density=Gaussian(width=float(settings["atom_width"])),
        basis=TensorProduct(max_angular=int(settings["max_angular"]),
                            radial=Gto(max_radial=int(settings["max_radial"]))),
    )


class Soap:
    """Normalised SOAP descriptors per species, their position gradients (for the GPR's
    fit), and the forces of a sum of per-atom energies of them (for its prediction)."""

    def __init__(self, settings: dict, species):
        from metatensor import Labels

        self.settings = settings
        self.calculator = soap_calculator(settings)
        self._expansion: Any = None  # made on the first local_energy
        self.species = [int(s) for s in species]
        self.type_pairs = [(a, b) for a in self.species for b in self.species if a <= b]
        self.pairs = Labels(["neighbor_1_type", "neighbor_2_type"],
                            np.array(self.type_pairs, dtype=np.int32))
        self._products = self._power_spectrum_layout()

    def compute(self, atoms: Atoms | list[Atoms], gradients: bool = False) -> dict:
        """``{species: (atom indices, unit descriptors, norms, gradient block or None)}``;
        for a list of frames, the atom indices are ``(frame, atom)`` pairs."""
        cutoff = float(self.settings["cutoff"])
        systems = (all_periodic(atoms, cutoff) if isinstance(atoms, Atoms)
                   else [all_periodic(a, cutoff) for a in atoms])
        tensor = self.calculator.compute(systems,
                                         gradients=["positions"] if gradients else None)
        tensor = tensor.keys_to_properties(self.pairs)
        out = {}
        for key, block in tensor.items():
            values = block.values
            norms = np.linalg.norm(values, axis=1)
            samples = block.samples
            index = (samples.column("atom") if isinstance(atoms, Atoms)
                     else np.stack([samples.column("system"), samples.column("atom")], axis=1))
            grad = block.gradient("positions") if gradients else None
            out[int(key["center_type"])] = (index, values / norms[:, None], norms, grad)
        return out


    def local_energy(self, atoms: Atoms, atom_energy) -> tuple[float, np.ndarray]:
        r"""Energy and forces of :math:`E = \sum_s e_s(\hat p)` over the species ``s`` of
        ``atoms``, where ``atom_energy(s, x)`` returns :math:`e_s` (the sum over the unit
        descriptors ``x`` of species ``s``'s atoms, in atom order) and
        :math:`\partial e_s / \partial x`.

        The forces are a vector-Jacobian product: :math:`\partial E / \partial x` is carried
        back through the normalisation and the power spectrum to the spherical expansion
        coefficients :math:`c^a_{nlm}`, and contracted there with featomic's expansion
        gradients. The power spectrum's own gradients (:math:`n^2 (l + 1)` numbers per species
        pair, neighbour pair and direction, where the expansion has :math:`n (2l + 1)`) are
        never formed: this is most of the GPR's prediction cost saved.

        The power spectrum is made here as featomic makes it, in the same order:
        :math:`p^{ab}_{l n_1 n_2} = \kappa \frac{(-1)^l}{\sqrt{2l + 1}} \sum_m
        c^a_{n_1 l m} c^b_{n_2 l m}` for neighbour types :math:`a \le b`, with
        :math:`\kappa = \sqrt 2` where :math:`a \ne b` (a test holds it to featomic's).
        Per :math:`l`, the neighbour types' coefficients sit side by side in one matrix
        :math:`C_l` (atoms, m, types x n), so every type pair's products are the blocks of
        :math:`C_l^T C_l`, and the way back is :math:`C_l (G + G^T)`."""
        if self._expansion is None:
            self._expansion = soap_calculator(self.settings, "expansion")
        tensor = self._expansion.compute(all_periodic(atoms, float(self.settings["cutoff"])),
                                         gradients=["positions"])
        n_radial = int(self.settings["max_radial"]) + 1
        width = len(self.species) * n_radial
        coefficients = [np.zeros((len(atoms), 2 * lam + 1, width))
                        for lam in range(len(self._products))]
        # per block: its l, its neighbour type's columns, and per gradient row the centre
        # and the atom moved, and the row itself
        blocks = []
        names = tensor.keys.names
        for k, key in enumerate(tensor.keys.values):
            key = dict(zip(names, key, strict=True))
            block = tensor.block_by_id(k)
            lam, a = int(key["o3_lambda"]), self.species.index(int(key["neighbor_type"]))
            columns = slice(a * n_radial, (a + 1) * n_radial)
            centres = block.samples.values[:, 1]
            coefficients[lam][centres, :, columns] = block.values
            grad = block.gradient("positions")
            samples = grad.samples.values  # sample, system, atom
            blocks.append((lam, columns, centres[samples[:, 0]], samples[:, 2], grad.values))
        p = np.empty((len(atoms), sum(len(where) for where, _, _ in self._products)))
        for c, (where, flat, factor) in zip(coefficients, self._products, strict=True):
            p[:, where] = (c.transpose(0, 2, 1) @ c).reshape(len(atoms), -1)[:, flat] * factor
        norms = np.linalg.norm(p, axis=1)
        x = p / norms[:, None]
        energy, u = 0.0, np.empty_like(x)
        for s in self.species:
            rows = atoms.numbers == s
            if rows.any():
                e, u[rows] = atom_energy(s, x[rows])
                energy += e
        # through the normalisation x = p / |p|, then the products of coefficients
        v = (u - np.sum(u * x, axis=1)[:, None] * x) / norms[:, None]
        back = []
        for c, (where, flat, factor) in zip(coefficients, self._products, strict=True):
            g = np.zeros((len(atoms), width * width))
            g[:, flat] = v[:, where] * factor
            g = g.reshape(len(atoms), width, width)
            back.append(c @ (g + g.transpose(0, 2, 1)))
        pushes = []
        for lam, columns, centre, _, values in blocks:
            per_centre = np.ascontiguousarray(back[lam][:, :, columns]).reshape(len(atoms), -1)
            pushes.append(np.einsum("gxk,gk->gx", values.reshape(len(centre), 3, -1),
                                    per_centre[centre]))
        neighbours = np.concatenate([moved for _, _, _, moved, _ in blocks])
        pushes = np.concatenate(pushes)
        gradient = np.stack([np.bincount(neighbours, pushes[:, axis], minlength=len(atoms))
                             for axis in range(3)], axis=1)
        return energy, -gradient

    def _power_spectrum_layout(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per l: where its features sit in the power spectrum, which entries of the flattened
        :math:`C_l^T C_l` they are, and their factors (featomic's order: type pair, l, n1,
        n2)."""
        n = int(self.settings["max_radial"]) + 1
        angular = range(int(self.settings["max_angular"]) + 1)
        width = len(self.species) * n
        n1, n2 = np.divmod(np.arange(n * n), n)
        layout: dict[int, tuple[list, list, list]] = {lam: ([], [], []) for lam in angular}
        position = 0
        for a, b in self.type_pairs:
            i, j = self.species.index(a), self.species.index(b)
            for lam in angular:
                where, flat, factor = layout[lam]
                where.append(position + np.arange(n * n))
                flat.append((i * n + n1) * width + j * n + n2)
                factor.append(np.full(n * n, (-1) ** lam / np.sqrt(2 * lam + 1)
                                      * (np.sqrt(2) if a != b else 1)))
                position += n * n
        return [tuple(np.concatenate(part) for part in layout[lam]) for lam in angular]


def _environments(frames: Iterable[Atoms], n_frames: int, species, settings: dict,
                  progress: bool) -> Iterator[tuple[int, int, dict]]:
    """``(first frame, frames, {species: (frame in chunk, unit descriptors)})`` for chunks of
    ``CHUNK_FRAMES`` frames."""
    soap = Soap({**SETTINGS, **settings}, sorted(int(s) for s in species))
    done = 0
    with tqdm(total=n_frames, desc="descriptors", unit="frame", disable=not progress) as bar:
        for chunk in _chunks(frames, CHUNK_FRAMES):
            for k, atoms in enumerate(chunk):
                stray = set(atoms.numbers.tolist()) - set(soap.species)
                if stray:
                    raise InputError(f"frame {done + k} holds species {sorted(stray)} outside "
                                     f"the descriptor's {soap.species}")
            blocks = soap.compute(chunk)
            yield done, len(chunk), {s: (index[:, 0], unit)
                                     for s, (index, unit, _, _) in blocks.items()}
            done += len(chunk)
            bar.update(len(chunk))
    if done != n_frames:
        raise InputError(f"expected {n_frames} frames, got {done}")


def frame_descriptors(frames: Iterable[Atoms], n_frames: int, species, settings: dict,
                      progress: bool = False) -> np.ndarray:
    """Per-frame descriptors (module docstring), float32, shape ``(n_frames, species x d)``;
    ``settings`` over the defaults ``SETTINGS``."""
    species = sorted(int(s) for s in species)
    out = None
    for first, count, blocks in _environments(frames, n_frames, species, settings, progress):
        for column, s in enumerate(species):
            if s not in blocks:
                continue
            frame, unit = blocks[s]
            if out is None:
                out = np.zeros((n_frames, len(species), unit.shape[1]), np.float32)
            sums = np.zeros((count, unit.shape[1]))
            np.add.at(sums, frame, unit)
            counts = np.bincount(frame, minlength=count)
            present = counts > 0
            out[first + np.flatnonzero(present), column] = sums[present] / counts[present, None]
    if out is None:
        raise InputError("no atoms to describe")
    return out.reshape(n_frames, -1)


def atom_descriptors(frames: Iterable[Atoms], n_frames: int, species, settings: dict,
                     progress: bool = False) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per-atom descriptors: ``{species: (frame of each environment, (m, d) float32 unit
    descriptors)}``, environments in frame order."""
    species = sorted(int(s) for s in species)
    parts: dict[int, list] = {s: [] for s in species}
    for first, _, blocks in _environments(frames, n_frames, species, settings, progress):
        for s, (frame, unit) in blocks.items():
            parts[s].append((first + frame.astype(np.int64), unit.astype(np.float32)))
    return {s: (np.concatenate([f for f, _ in p]), np.concatenate([u for _, u in p]))
            for s, p in parts.items() if p}


def _chunks(frames: Iterable[Atoms], size: int) -> Iterator[list[Atoms]]:
    chunk: list[Atoms] = []
    for atoms in frames:
        chunk.append(atoms)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def cache_path(pool_path, pool_checksum: str, species, settings: dict,
               per: str = "frame") -> Path:
    """Where the descriptors of a pool with these settings are cached: beside the pool,
    named by a digest of the pool's content, the species, the settings and ``per``."""
    digest = work_key({"pool": pool_checksum, "species": sorted(int(s) for s in species),
                       "settings": settings, "per": per})
    pool_path = Path(pool_path)
    suffix = "npy" if per == "frame" else "npz"
    return pool_path.with_name(f"{pool_path.stem}.descriptors-{per}-{digest}.{suffix}")


def pool_descriptors(pool, settings: dict | None = None, progress: bool = False,
                     per: str = "frame"):
    """The descriptors of every frame (``per="frame"``, :func:`frame_descriptors`) or atom
    (``"atom"``, :func:`atom_descriptors`) of ``pool`` (a
    :class:`~mlipselect.pool.store.Pool`), read from the cache beside it when there, else
    computed and cached (written atomically: an interrupted run leaves no partial cache). The
    pool file itself is never written."""
    settings = {**SETTINGS, **(settings or {})}
    species = np.unique(pool.atom_column("numbers"))
    path = cache_path(pool.path, pool.checksum(), species, settings, per)
    if path.exists():
        return _load(path, per)
    compute = frame_descriptors if per == "frame" else atom_descriptors
    values = compute(pool.frames(), len(pool), species, settings, progress)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            if per == "frame":
                np.save(fh, values)
            else:
                np.savez(fh, **{f"{kind}_{s}": part for s, pair in values.items()
                                for kind, part in zip(("frame", "values"), pair, strict=True)})
    except (OSError, InputError):
        pass  # a read-only folder or a full disk: compute again next time rather than fail
    return values


def _load(path: Path, per: str):
    if per == "frame":
        return np.load(path, mmap_mode="r")
    with np.load(path) as stored:
        species = sorted({int(key.split("_")[1]) for key in stored.files})
        return {s: (stored[f"frame_{s}"], stored[f"values_{s}"]) for s in species}
