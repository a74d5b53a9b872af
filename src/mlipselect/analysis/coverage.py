r"""How well a selection covers its pool, in the per-frame descriptor space of
:mod:`mlipselect.descriptors`.

- ``covering_radius``: the largest distance from a pool frame to its nearest selected frame.
- ``coverage``: the share of pool frames within the bandwidth :math:`h` of a selected frame.
- ``entropy``: the dataset entropy QUESTS defines, on these descriptors,
  :math:`H = -\frac{1}{n} \sum_i \log \frac{1}{n} \sum_j e^{-|x_i - x_j|^2 / 2h^2}` (nats):
  0 for n copies of one frame, :math:`\log n` for n frames far apart.
- per-species atom counts.

One bandwidth serves the pool and every selection, so their numbers compare: by default
:func:`bandwidth`, the median distance from a pool frame to its nearest other frame.
"""

from __future__ import annotations

import numpy as np

from mlipselect.selection import nearest_distances, typical_spacing

SAMPLE = 4000
"""Pool frames the pool's own entropy and the default bandwidth are estimated on."""


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d2, 0.0)


def _sample(x: np.ndarray, seed: int = 0) -> np.ndarray:
    rows = np.arange(len(x))
    if len(rows) > SAMPLE:
        rows = np.sort(np.random.default_rng(seed).choice(rows, SAMPLE, replace=False))
    return np.asarray(x[rows], np.float64)


def bandwidth(pool: np.ndarray) -> float:
    """The median distance from a pool frame to its nearest other frame (on a sample)."""
    return typical_spacing(pool)


def entropy(x: np.ndarray, h: float) -> float:
    """QUESTS' dataset entropy of the rows ``x`` at bandwidth ``h`` (module docstring), in
    blocks of rows so that memory stays near 128 MB however many rows there are."""
    x = np.asarray(x, np.float64)
    block = max(1, (1 << 24) // max(len(x), 1))
    log_density = np.concatenate([
        np.log(np.exp(-_squared_distances(x[s:s + block], x) / (2 * h * h)).mean(axis=1))
        for s in range(0, len(x), block)])
    return float(-log_density.mean())


def pool_entropy(pool: np.ndarray, h: float) -> tuple[float, int]:
    """The pool's own entropy at ``h``, on a sample of it, and the sample's size."""
    x = _sample(pool)
    return entropy(x, h), len(x)


def coverage(pool: np.ndarray, chosen, h: float, candidates=None) -> dict:
    """Covering radius, share of the (candidate) pool frames within ``h`` of a chosen one,
    and the chosen frames' entropy."""
    nearest = nearest_distances(pool, chosen, candidates)
    centres = np.asarray(pool[np.asarray(chosen)], np.float64)
    return {"covering_radius": float(nearest.max()), "coverage": float((nearest <= h).mean()),
            "entropy": entropy(centres, h)}


def pool_coverage(pool_path, selections, h: float | None = None,
                  progress: bool = True) -> dict:
    """How the selection files ``selections`` of the pool file ``pool_path`` cover it (what
    ``mlipselect coverage`` reports): the pool's frames and entropy, the bandwidth ``h`` (default
    :func:`bandwidth`), and per selection (by its path) its frames, :func:`coverage` numbers
    and atoms per species."""
    from mlipselect.descriptors import pool_descriptors
    from mlipselect.pool.store import Pool
    from mlipselect.provenance import selection_rows

    with Pool(pool_path) as pool:
        checksum = pool.checksum()
        chosen = {str(path): selection_rows(path, checksum) for path in selections}
        x = pool_descriptors(pool, progress=progress)
        numbers, offsets = pool.atom_column("numbers"), pool.offsets
    h = bandwidth(x) if h is None else h
    species = np.unique(numbers)
    entropy_pool, sampled = pool_entropy(x, h)
    result: dict = {"pool": {"frames": len(x), "entropy": entropy_pool,
                             "entropy_frames": sampled},
                    "bandwidth": h, "selections": {}}
    for name, rows in chosen.items():
        found = np.concatenate([numbers[offsets[i]:offsets[i + 1]] for i in rows])
        result["selections"][name] = {
            "frames": len(rows), **coverage(x, rows, h),
            "atoms": {int(s): int((found == s).sum()) for s in species}}
    return result
