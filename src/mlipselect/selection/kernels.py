"""Uniform-in-value selection kernels: numpy arrays in, sorted frame indices out.

Both kernels cut the range of the values into equal-width bins and aim at an equal share of
the selection in every bin; where a bin holds too little, its share goes to the others, so the
selection always has exactly ``n`` frames. They know nothing of pools or files; the methods in
this package feed them pool columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from mlipselect.errors import InputError

ATOM_BINS = 64
"""Default number of bins per species for :func:`uniform_by_atom_value`."""

BLOCK_ATOMS = 1 << 18
"""Atoms processed at a time: a block's temporaries stay in the CPU cache."""

type Values = np.ndarray | Callable[[], Iterator[np.ndarray]]


def candidate_mask(n_frames: int, n, exclude=None, source: str = "values") -> np.ndarray:
    """The frames that may be selected, as a boolean mask, after checking ``n`` and ``exclude``.

    Raises ``InputError`` (naming ``source``) for an empty pool, an excluded index outside the
    pool, or an ``n`` that is not an integer between 1 and the number of frames not excluded.
    """
    if n_frames == 0:
        raise InputError(f"{source}: no frames to select from")
    mask = np.ones(n_frames, dtype=bool)
    exclude = np.asarray([] if exclude is None else exclude)
    if exclude.size:
        if exclude.dtype.kind not in "iu":
            raise InputError(f"{source}: excluded frames must be integer indices")
        outside = exclude[(exclude < 0) | (exclude >= n_frames)]
        if outside.size:
            raise InputError(
                f"{source}: excluded frame {outside[0]} is not in the pool (frames 0 to"
                f" {n_frames - 1})"
            )
        mask[exclude] = False
    available = int(mask.sum())
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 1 <= n <= available:
        raise InputError(
            f"{source}: n must be an integer from 1 to {available} (the pool's {n_frames} frames"
            f" less {n_frames - available} excluded), got {n!r}"
        )
    return mask


def uniform_by_frame_value(values, n, seed, *, bins=None, exclude=None, source="values"):
    """Select ``n`` frames whose values spread as evenly over their range as the pool allows.

    Parameters
    ----------
    values : array_like, shape (F,)
        One finite number per frame (for the ``energy`` method: the energy per atom).
    n : int
        Frames to select, from 1 to the number of frames not excluded.
    seed : int or numpy.random.Generator
        Same values and seed give the same selection.
    bins : int, optional
        Number of equal-width bins over the range; default ``n``.
    exclude : array_like of int, optional
        Frames that must not be selected (a test set, say). The bins span the range of all
        frames, excluded ones included: a test set does not move the bins.
    source : str
        How error messages name the values, e.g. ``"pool.h5: 'energy' per atom"``.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Indices into ``values``, sorted ascending, no duplicates, none excluded.

    Notes
    -----
    The range ``[min, max]`` is cut into ``bins`` equal-width bins (the maximum falls in the
    last one). Bin ``b`` holding ``c_b`` candidates (frames not excluded) receives the quota
    ``min(c_b, q)``, with the level ``q`` the largest integer for which these quotas sum to at
    most ``n`` (water filling): sparse bins give all they have and their unused share goes to
    the fuller ones. The ``n - sum`` frames still missing add one to as many bins with
    ``c_b > q``, chosen at random. Within a bin the frames are drawn at random.

    Hence no bin that still has unselected candidates holds more than one selected frame
    fewer than any other bin, and with the default ``bins = n`` every bin holding a
    candidate (the ends of the range included) holds at least one selected frame.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1:
        raise InputError(f"{source}: expected one value per frame, got shape {values.shape}")
    mask = candidate_mask(len(values), n, exclude, source)
    _check_finite_frames(values, source)
    rng = np.random.default_rng(seed)
    bins = n if bins is None else _check_bins(bins, source)
    b = np.zeros(len(values), dtype=np.intp)
    lo, hi = values.min(), values.max()
    if hi > lo:
        b = np.minimum(((values - lo) * (bins / (hi - lo))).astype(np.intp), bins - 1)
    candidates = np.flatnonzero(mask)
    b = b[candidates]
    counts = np.bincount(b, minlength=bins)
    quota = _water_fill(counts, n, rng)
    # Candidates grouped by bin, in random order within each bin; keep the first quota[b].
    order = rng.permutation(len(b))
    order = order[np.argsort(b[order], kind="stable")]
    rank = np.arange(len(b)) - (np.cumsum(counts) - counts)[b[order]]
    return np.sort(candidates[order[rank < quota[b[order]]]])


def _water_fill(counts: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Per-bin quotas summing to ``n``: ``min(count, q)`` at the highest level ``q`` that fits,
    plus one for randomly chosen bins that have more, until the sum is ``n``."""
    low, high = 0, int(counts.max())
    while low < high:
        mid = (low + high + 1) // 2
        if np.minimum(counts, mid).sum() <= n:
            low = mid
        else:
            high = mid - 1
    quota = np.minimum(counts, low)
    missing = n - int(quota.sum())
    quota[rng.choice(np.flatnonzero(counts > low), missing, replace=False)] += 1
    return quota


def uniform_by_atom_value(
    values: Values,
    offsets,
    n,
    seed,
    *,
    species: Values | None = None,
    bins: int = ATOM_BINS,
    exclude=None,
    source: str = "values",
) -> np.ndarray:
    """Select ``n`` frames whose atoms' values spread as evenly over their range as possible.

    A frame is picked for the atoms it brings: the frames holding the rarest values (the
    tails) come in first, and the selected atoms fill the bins of the pool's range evenly.

    Parameters
    ----------
    values : array_like, shape (A,), or callable
        One finite number per atom (a force magnitude ``|f_i|``, an atomic energy ``E_i``),
        all frames' atoms concatenated in frame order. For data larger than memory, a
        zero-argument callable returning an iterator over consecutive chunks of those values;
        it is called twice (two passes).
    offsets : array_like of int, shape (F+1,)
        The atoms of frame ``i`` are ``values[offsets[i]:offsets[i+1]]``; every frame has at
        least one atom.
    n : int
        Frames to select, from 1 to the number of frames not excluded.
    seed : int or numpy.random.Generator
        Same input and seed give the same selection.
    species : array_like of int, shape (A,), or callable, optional
        A non-negative label per atom (the atomic number), in the same form as ``values``
        (same chunks). Each species is binned over its own range and counted on its own.
        ``None`` bins all atoms together.
    bins : int
        Equal-width bins per species.
    exclude : array_like of int, optional
        Frames that must not be selected. The bins span the range of all frames' atoms,
        excluded ones included: a test set does not move the bins.
    source : str
        How error messages name the values, e.g. ``"pool.h5: 'forces'"``.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Frame indices, sorted ascending, no duplicates, none excluded.

    Notes
    -----
    Each species' range ``[min, max]`` is cut into ``bins`` equal-width bins. A frame's
    histogram counts its atoms per (species, bin). The selection is greedy, one frame per
    step; with ``S_b`` the selected atoms in bin ``b``, ``P_b`` the candidate atoms in it and
    ``N_s`` the candidate atoms of its species ``s``:

    1. the target is the emptiest open bin, the lowest ``S_b / N_s``; ties go to the rarest
       bin, the lowest ``P_b / N_s``, then to the lower bin. A bin is open while an
       unselected candidate frame has atoms in it.
    2. the frame with the most atoms in the target bin is selected; ties are broken at
       random (the only use of ``seed``).

    So the first frames are those holding the rarest values, and once ``n`` is at least the
    number of occupied bins every occupied bin, both ends of each species' range included,
    holds a selected atom. The work is two streaming passes over the values (range, then
    histograms) and ``n`` steps each costing ``O(F)``; the extra memory is the histograms,
    ``4 * F * bins * species`` bytes.
    """
    offsets = _check_offsets(offsets, source)
    n_frames = len(offsets) - 1
    mask = candidate_mask(n_frames, n, exclude, source)
    bins = _check_bins(bins, source)
    blocks = _Blocks(values, species, offsets, source)
    labels, lo, hi = blocks.ranges()
    counts = blocks.histograms(labels, lo, hi, bins)
    counts[:, ~mask] = 0
    per_species = counts.reshape(len(lo), bins, -1).sum(axis=(1, 2))
    weight = np.repeat(1.0 / np.maximum(per_species, 1), bins)
    rarity = counts.sum(axis=1) * weight
    open_frames = np.count_nonzero(counts, axis=1)
    selected = np.zeros(len(weight))
    rng = np.random.default_rng(seed)
    chosen = np.empty(n, dtype=np.int64)
    for step in range(n):
        fill = np.where(open_frames > 0, selected * weight, np.inf)
        row = counts[np.lexsort((rarity, fill))[0]]
        best = np.flatnonzero(row == row.max())
        frame = best[rng.integers(len(best))]
        brought = counts[:, frame].copy()
        selected += brought
        open_frames -= brought > 0
        counts[:, frame] = 0
        chosen[step] = frame
    return np.sort(chosen)


class _Blocks:
    """Per-atom values (and species) in blocks of at most ``BLOCK_ATOMS``, with their start."""

    def __init__(self, values, species, offsets, source):
        values, species = (
            a if a is None or callable(a) else np.asarray(a) for a in (values, species)
        )
        self.values, self.species, self.offsets, self.source = values, species, offsets, source
        n_atoms = int(offsets[-1])
        for name, array in (("values", values), ("species", species)):
            if isinstance(array, np.ndarray) and array.shape != (n_atoms,):
                raise InputError(
                    f"{source}: {name} has shape {array.shape}, expected ({n_atoms},) from the"
                    " offsets"
                )

    def __iter__(self):
        start = 0
        for v, s in zip(_chunks(self.values), _chunks(self.species), strict=False):
            if v.dtype.kind != "f":
                v = v.astype(float)
            if s is not None and len(s) != len(v):
                raise InputError(f"{self.source}: species chunk does not match values chunk")
            for a in range(0, len(v), BLOCK_ATOMS):
                block = v[a : a + BLOCK_ATOMS]
                yield start, block, None if s is None else s[a : a + BLOCK_ATOMS]
                start += len(block)
        if start != self.offsets[-1]:
            raise InputError(
                f"{self.source}: {start} atom values for {self.offsets[-1]} atoms in the offsets"
            )

    def ranges(self) -> tuple[list[int], np.ndarray, np.ndarray]:
        """The species labels (sorted; one label 0 without species) and per label the
        values' min and max. Fails on the first non-finite value, naming its frame."""
        low: dict[int, float] = {}
        high: dict[int, float] = {}
        for start, v, s in self:
            for g, mask in self._masks(s, low):
                # Other species' atoms stand in as one of this species' values (branch-free).
                vg = v if mask is None else np.where(mask, v, v[np.argmax(mask)])
                mn, mx = vg.min(), vg.max()
                if not (np.isfinite(mn) and np.isfinite(mx)):
                    self._fail_non_finite(start, v)
                low[g] = min(low.get(g, mn), mn)
                high[g] = max(high.get(g, mx), mx)
        labels = sorted(low)
        return labels, np.array([low[g] for g in labels]), np.array([high[g] for g in labels])

    def _masks(self, s, known) -> list:
        """(label, mask of its atoms) for the labels in block ``s``; the known labels are
        tried first, a block with new ones is searched for all of them."""
        if s is None:
            return [(0, None)]
        masks = [(g, s == g) for g in known]
        present = [np.count_nonzero(m) for _, m in masks]
        if sum(present) == len(s):
            return [gm for gm, count in zip(masks, present, strict=True) if count]
        labels = np.unique(s)
        if labels[0] < 0 or s.dtype.kind not in "iu":
            raise InputError(f"{self.source}: species must be non-negative integers")
        return [(int(g), s == g) for g in labels]

    def _fail_non_finite(self, start, v):
        atom = start + int(np.argmax(~np.isfinite(v)))
        frame = int(np.searchsorted(self.offsets, atom, side="right")) - 1
        raise InputError(
            f"{self.source}: frame {frame} (atom {atom - self.offsets[frame]}) has a NaN or"
            " infinite value"
        )

    def histograms(self, labels, lo, hi, bins) -> np.ndarray:
        """Atoms per (species ``labels``, bin) of every frame, shape (species * bins, F)."""
        offsets, width = self.offsets, len(lo) * bins
        scale = np.where(hi > lo, bins / np.where(hi > lo, hi - lo, 1.0), 0.0)
        counts = np.zeros((width, len(offsets) - 1), dtype=np.int32)
        for start, v, s in self:
            stop = start + len(v)
            f0 = int(np.searchsorted(offsets, start, side="right")) - 1
            f1 = int(np.searchsorted(offsets, stop, side="left"))
            per_frame = np.minimum(offsets[f0 + 1 : f1 + 1], stop) - np.maximum(
                offsets[f0:f1], start
            )
            key = np.repeat(np.arange(0, (f1 - f0) * width, width), per_frame)
            key += self._bin(v, s, labels, lo, scale, bins)
            block = np.bincount(key, minlength=(f1 - f0) * width).reshape(f1 - f0, width)
            counts[:, f0:f1] += block.T
        return counts

    @staticmethod
    def _bin(v, s, labels, lo, scale, bins) -> np.ndarray:
        """Bin ``k * bins + b`` of each atom: ``k`` its species' place in ``labels``, ``b``
        its bin there."""
        t = None
        for k, label in enumerate(labels):
            tk = (v - v.dtype.type(lo[k])) * v.dtype.type(scale[k])
            np.minimum(tk, bins - 1, out=tk)  # the maximum belongs to the last bin
            if t is None:
                t = tk
            else:
                tk += k * bins
                t = np.where(s == label, tk, t)
        assert t is not None  # there is a species
        return t.astype(np.int32)


def _chunks(values) -> Iterator:
    if values is None:
        while True:
            yield None
    else:
        for chunk in values() if callable(values) else [values]:
            yield np.asarray(chunk)


def _check_offsets(offsets, source) -> np.ndarray:
    offsets = np.asarray(offsets)
    if offsets.ndim != 1 or len(offsets) < 1 or offsets.dtype.kind not in "iu":
        raise InputError(f"{source}: offsets must be a 1-D integer array of frames + 1 entries")
    if offsets[0] != 0:
        raise InputError(f"{source}: offsets must start at 0, got {offsets[0]}")
    sizes = np.diff(offsets)
    if np.any(sizes <= 0):
        raise InputError(f"{source}: frame {int(np.argmax(sizes <= 0))} has no atoms")
    return offsets.astype(np.int64)


def _check_bins(bins, source) -> int:
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise InputError(f"{source}: bins must be a positive integer, got {bins!r}")
    return int(bins)


def _check_finite_frames(values, source) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise InputError(f"{source}: frame {int(np.argmax(bad))} has a NaN or infinite value")
