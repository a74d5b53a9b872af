"""Partial radial distribution functions of NaCl, and their comparison with a reference.

``g_ab(r)`` is the density of b ions at distance r from an a ion, relative to the mean density
of b ions. Each frame is normalised with its own volume, so triclinic cells and cells whose
volume changes (NPT) are handled alike; pairs come from vesin neighbour lists, which count
every periodic image. Beyond half the smallest cell width, g(r) also sees an ion's own images.

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

from mlipselect.errors import InputError
from mlipselect.io import atomic_path

SPECIES = ("Na", "Cl")
PAIRS = ("Na-Na", "Na-Cl", "Cl-Cl")
"""Column names; pair index ``t_i + t_j`` with species index t (Na 0, Cl 1)."""


@dataclass
class RDF:
    """Partial g(r) on a grid of bin centres ``r`` (A).

    ``g`` and ``err`` map each pair of ``PAIRS`` to arrays like ``r``; ``err`` is the
    block-averaged standard error (NaN with fewer than two blocks). ``density`` maps each pair
    "a-b" to the mean number density of b ions seen from an a ion, (N_b - [a = b]) / V, in
    1/A^3, and ``frames`` is the number of frames averaged.
    """

    r: np.ndarray
    g: dict
    err: dict
    density: dict
    frames: int

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
        """Columns ``r``, ``Na-Na``, ``Na-Cl``, ``Cl-Cl``, then ``<pair>_err``; atomic."""
        header = ["r", *PAIRS, *(f"{p}_err" for p in PAIRS)]
        columns = [self.r, *(self.g[p] for p in PAIRS), *(self.err[p] for p in PAIRS)]
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
    missing = [c for c in ("r", *PAIRS) if not rows or c not in rows[0]]
    if missing:
        raise InputError(f"{path}: not an RDF table (no column {', '.join(missing)})")
    try:
        table = {name: np.array([float(row[k]) for row in rows[1:]])
                 for k, name in enumerate(rows[0])}
    except (ValueError, IndexError) as err:
        raise InputError(f"{path}: malformed row ({err})") from None
    if len(table["r"]) < 2:
        raise InputError(f"{path}: fewer than two rows")
    nan = np.full_like(table["r"], np.nan)
    return RDF(r=table["r"], g={p: table[p] for p in PAIRS},
               err={p: table.get(f"{p}_err", nan) for p in PAIRS},
               density={p: np.nan for p in PAIRS}, frames=0)


def _species_index(atoms, where: str) -> np.ndarray:
    symbols = np.asarray(atoms.get_chemical_symbols())
    unknown = sorted(set(symbols.tolist()) - set(SPECIES))
    if unknown:
        raise InputError(f"{where}: g(r) is defined here for Na and Cl only, not {unknown}")
    return (symbols == SPECIES[1]).astype(np.intp)


def _frame_g(atoms, nl, rmax: float, bins: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(3, bins) partial g(r) of one frame, and the (3,) pair densities of ``RDF.density``."""
    if not atoms.pbc.all():
        raise InputError(f"{where}: g(r) needs a cell periodic in all three directions")
    volume = abs(atoms.cell.volume)
    kind = _species_index(atoms, where)
    counts = np.bincount(kind, minlength=2)
    if counts.min() == 0:
        raise InputError(f"{where}: needs both Na and Cl ions")
    cell = atoms.cell[:]
    positions = (atoms.cell.scaled_positions(atoms.positions) % 1.0) @ cell
    pairs, d = nl.compute(positions, cell, True, quantities="Pd", copy=False)
    keep = d < rmax
    index = (kind[pairs[keep, 0]] + kind[pairs[keep, 1]]) * bins
    index += (d[keep] * (bins / rmax)).astype(np.intp)
    hist = np.bincount(index, minlength=3 * bins).reshape(3, bins).astype(float)
    edges = np.linspace(0.0, rmax, bins + 1)
    shell = 4.0 / 3.0 * np.pi * np.diff(edges**3)
    na, cl = counts
    # Half list: each unordered pair once. Like pairs: N(N-1)/2 pairs in an ideal gas.
    seen = np.array([na - 1, cl, cl - 1]) / volume
    ideal = np.array([na / 2, na, cl / 2]) * seen
    return hist / (ideal[:, None] * shell), seen


def compute_rdf(frames: Iterable, rmax: float = 8.0, bins: int = 160, blocks: int = 5,
                where: str = "frames") -> RDF:
    """Partial g(r) of Na-Na, Na-Cl and Cl-Cl averaged over ``frames`` (ASE Atoms).

    Parameters
    ----------
    frames : iterable of ase.Atoms
        Periodic NaCl configurations; any cell shape, the volume may vary between frames.
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
    per_frame, densities = [], []
    for k, atoms in enumerate(frames):
        g, rho = _frame_g(atoms, nl, rmax, bins, f"{where}, frame {k}")
        per_frame.append(g)
        densities.append(rho)
    if not per_frame:
        raise InputError(f"{where}: no frames")
    per_frame = np.asarray(per_frame)
    split = np.array_split(per_frame, min(blocks, len(per_frame)))
    block_means = np.array([b.mean(axis=0) for b in split])
    g = per_frame.mean(axis=0)
    if len(block_means) > 1:
        err = block_means.std(axis=0, ddof=1) / np.sqrt(len(block_means))
    else:
        err = np.full_like(g, np.nan)
    edges = np.linspace(0.0, rmax, bins + 1)
    rho = np.mean(densities, axis=0)
    return RDF(r=(edges[1:] + edges[:-1]) / 2, g=dict(zip(PAIRS, g, strict=True)),
               err=dict(zip(PAIRS, err, strict=True)), density=dict(zip(PAIRS, rho, strict=True)),
               frames=len(per_frame))


def compare(rdf: RDF, reference: RDF, pair: str = "Na-Na", zero: float = 0.01) -> dict:
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
    if pair not in PAIRS:
        raise InputError(f"unknown pair '{pair}' (known: {', '.join(PAIRS)})")
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
