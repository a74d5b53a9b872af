"""Partial radial distribution functions of any system, and their comparison with a reference.

``g_ab(r)`` is the density of b atoms at distance r from an a atom, relative to the mean
density of b atoms, for every pair of species present (``"Na-Na"``, ``"Na-Cl"``, ``"Cl-Cl"``
for NaCl; ``"Cu-Cu"`` alone for copper), species ordered by atomic number. Each frame is
normalised with its own volume, so triclinic cells and cells whose volume changes (NPT) are
handled alike; pairs come from vesin neighbour lists, which count every periodic image.
Beyond half the smallest cell width, g(r) also sees an atom's own images.

The uncertainty of g(r) is the standard error of the mean over contiguous blocks of frames,
which accounts for the correlation between neighbouring frames of a trajectory as long as
the blocks are longer than that correlation.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase.data import chemical_symbols

from mlipselect.errors import InputError
from mlipselect.io import atomic_path


@dataclass
class RDF:
    """Partial g(r) on a grid of bin centres ``r`` (A).

    ``g`` and ``err`` map each pair ``"a-b"`` (see :attr:`pairs`) to arrays like ``r``;
    ``err`` is the block-averaged standard error (NaN with fewer than two blocks).
    ``density`` maps each pair "a-b" to the mean number density of b atoms seen from an a
    atom, (N_b - [a = b]) / V, in 1/A^3, and ``frames`` is the number of frames averaged.
    """

    r: np.ndarray
    g: dict
    err: dict
    density: dict
    frames: int

    @property
    def pairs(self) -> list[str]:
        """The pairs ``"a-b"``, species ordered by atomic number."""
        return list(self.g)

    @property
    def dr(self) -> float:
        return float(self.r[1] - self.r[0])

    def coordination(self, pair: str, r_cut: float) -> float:
        """Mean number of b ions within ``r_cut`` of an a ion, for ``pair`` = "a-b"."""
        inside = self.r + self.dr / 2 <= r_cut + 1e-9
        r, half = self.r[inside], self.dr / 2
        shell = 4 / 3 * np.pi * ((r + half) ** 3 - (r - half) ** 3)  # the bins' own volumes
        return float(self.density[pair] * np.sum(self.g[pair][inside] * shell))

    def write_csv(self, path) -> None:
        """Columns ``r``, one per pair (``Na-Na``, ``Na-Cl``, ...), then ``<pair>_err``;
        atomic."""
        header = ["r", *self.pairs, *(f"{p}_err" for p in self.pairs)]
        columns = [self.r, *(self.g[p] for p in self.pairs), *(self.err[p] for p in self.pairs)]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for row in zip(*columns, strict=True):
                writer.writerow([f"{x:.6g}" for x in row])


def read_rdf_csv(path) -> RDF:
    """An RDF written by :meth:`RDF.write_csv` (densities and frame count are not stored)."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    pairs = [c for c in rows[0][1:] if not c.endswith("_err")] if rows else []
    if not rows or rows[0][:1] != ["r"] or not pairs:
        raise InputError(f"{path}: not an RDF table (columns r, then one per pair)")
    try:
        table = {name: np.array([float(row[k]) for row in rows[1:]])
                 for k, name in enumerate(rows[0])}
    except (ValueError, IndexError) as err:
        raise InputError(f"{path}: malformed row ({err})") from None
    if len(table["r"]) < 2:
        raise InputError(f"{path}: fewer than two rows")
    nan = np.full_like(table["r"], np.nan)
    return RDF(r=table["r"], g={p: table[p] for p in pairs},
               err={p: table.get(f"{p}_err", nan) for p in pairs},
               density={p: np.nan for p in pairs}, frames=0)


def species_pairs(numbers) -> tuple[np.ndarray, list[str]]:
    """The species present (sorted atomic numbers) and their pairs ``"a-b"`` (a <= b)."""
    species = np.unique(numbers)
    names = [chemical_symbols[z] for z in species]
    return species, [f"{a}-{b}" for i, a in enumerate(names) for b in names[i:]]


def _frame_g(atoms, species, nl, rmax: float, bins: int, where: str):
    """(pairs, bins) partial g(r) of one frame, and the (pairs,) densities of
    ``RDF.density``."""
    if not atoms.pbc.all():
        raise InputError(f"{where}: g(r) needs a cell periodic in all three directions")
    if not np.array_equal(np.unique(atoms.numbers), species):
        found = ", ".join(chemical_symbols[z] for z in np.unique(atoms.numbers))
        expected = ", ".join(chemical_symbols[z] for z in species)
        raise InputError(f"{where}: species {found}, but the first frame has {expected}")
    volume = abs(atoms.cell.volume)
    kind = np.searchsorted(species, atoms.numbers)
    counts = np.bincount(kind, minlength=len(species))
    s = len(species)
    # Pair id of species (a, b), a <= b, in the order of ``species_pairs``.
    first, second = np.triu_indices(s)
    pair_id = np.zeros((s, s), dtype=np.intp)
    pair_id[first, second] = pair_id[second, first] = np.arange(len(first))
    cell = atoms.cell[:]
    positions = (atoms.cell.scaled_positions(atoms.positions) % 1.0) @ cell
    pairs, d = nl.compute(positions, cell, True, quantities="Pd", copy=False)
    keep = d < rmax
    index = pair_id[kind[pairs[keep, 0]], kind[pairs[keep, 1]]] * bins
    index += (d[keep] * (bins / rmax)).astype(np.intp)
    hist = np.bincount(index, minlength=len(first) * bins).reshape(len(first), bins)
    edges = np.linspace(0.0, rmax, bins + 1)
    shell = 4.0 / 3.0 * np.pi * np.diff(edges**3)
    like = first == second
    # Half list: each unordered pair once; an ideal gas has N_a (N_b - [a=b]) / V b atoms per
    # volume around an a atom, and N_a (N_a - 1) / 2 like pairs.
    seen = (counts[second] - like) / volume
    ideal = np.where(like, counts[first] / 2, counts[first]) * seen
    expected = ideal[:, None] * shell
    g = np.divide(hist, expected, out=np.zeros(hist.shape), where=expected > 0)
    return g, seen


def compute_rdf(frames: Iterable, rmax: float = 8.0, bins: int = 160, blocks: int = 5,
                where: str = "frames") -> RDF:
    """Partial g(r) of every species pair, averaged over ``frames`` (ASE Atoms).

    Parameters
    ----------
    frames : iterable of ase.Atoms
        Periodic configurations, all with the same species; any cell shape, the volume may
        vary between frames. A like pair of a species with one atom has g = 0.
    rmax : float
        Largest distance, A; the histogram has ``bins`` equal bins on [0, rmax).
    bins : int
        Number of bins.
    blocks : int
        Contiguous blocks of frames for the standard error (fewer when there are fewer frames).
    where : str
        Names the input in error messages.
    """
    import vesin

    if rmax <= 0 or bins < 2 or blocks < 1:
        raise InputError(f"{where}: need rmax > 0, bins >= 2 and blocks >= 1")
    nl = vesin.NeighborList(cutoff=float(rmax), full_list=False)
    per_frame: list = []
    densities: list[float] = []
    species = None
    pairs: list[str] = []
    for k, atoms in enumerate(frames):
        if species is None:
            species, pairs = species_pairs(atoms.numbers)
        g, rho = _frame_g(atoms, species, nl, rmax, bins, f"{where}, frame {k}")
        per_frame.append(g)
        densities.append(rho)
    if not per_frame:
        raise InputError(f"{where}: no frames")
    stacked = np.asarray(per_frame)
    split = np.array_split(stacked, min(blocks, len(stacked)))
    block_means = np.array([b.mean(axis=0) for b in split])
    g = stacked.mean(axis=0)
    if len(block_means) > 1:
        err = block_means.std(axis=0, ddof=1) / np.sqrt(len(block_means))
    else:
        err = np.full_like(g, np.nan)
    edges = np.linspace(0.0, rmax, bins + 1)
    rho = np.mean(densities, axis=0)
    return RDF(r=(edges[1:] + edges[:-1]) / 2, g=dict(zip(pairs, g, strict=True)),
               err=dict(zip(pairs, err, strict=True)), density=dict(zip(pairs, rho, strict=True)),
               frames=len(per_frame))


def compare_with_reference(rdf: RDF, reference: RDF, pair: str, zero: float = 0.01) -> dict:
    """How far ``rdf`` is from ``reference`` for one pair.

    The reference's first rise ``r_rise`` is the smallest r where its g exceeds ``zero``;
    its first peak is its global maximum (in a melt or a hot crystal the first shell is the
    tallest). The compared g is interpolated onto the reference's grid.

    Returns
    -------
    dict
        ``iae``: integral of |g - g_ref| dr over the common range (A);
        ``peak_r``, ``peak_g``: the compared g's maximum in the window
        [r_rise, 2 r_peak_ref - r_rise] around the reference's first peak;
        ``peak_r_error``, ``peak_g_error``: those minus the reference's peak position and
        height; ``artifact``: integral of g dr below ``r_rise``, where the reference has no
        pairs (A): the weight of non-physical short-range peaks, 0 for a faithful model;
        ``r_rise``: the reference's first rise (A).
    """
    for which in (rdf, reference):
        if pair not in which.g:
            raise InputError(f"no pair '{pair}' (known: {', '.join(which.pairs)})")
    r, g_ref = reference.r, reference.g[pair]
    dr = reference.dr
    inside = r <= rdf.r[-1] + rdf.dr / 2
    g = np.interp(r, rdf.r, rdf.g[pair], left=0.0, right=np.nan)
    above = np.flatnonzero(g_ref > zero)
    if above.size == 0:
        raise InputError(f"the reference g_{pair}(r) never exceeds {zero}")
    rise = above[0]
    ref_peak = int(np.argmax(g_ref))
    window = slice(rise, min(len(r), 2 * ref_peak - rise + 1))
    peak = rise + int(np.argmax(g[window]))
    return {
        "pair": pair,
        "iae": float(np.sum(np.abs(g - g_ref)[inside]) * dr),
        "peak_r": float(r[peak]),
        "peak_g": float(g[peak]),
        "peak_r_error": float(r[peak] - r[ref_peak]),
        "peak_g_error": float(g[peak] - g_ref[ref_peak]),
        "artifact": float(np.sum(g[:rise]) * dr),
        "r_rise": float(r[rise]),
    }
