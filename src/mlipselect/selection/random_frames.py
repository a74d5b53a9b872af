"""``random``: frames drawn uniformly at random, the baseline of the study."""

from __future__ import annotations

import numpy as np

from mlipselect.selection.kernels import candidate_mask
from mlipselect.selection.registry import register


@register("random")
def random_frames(pool, n, seed=0, exclude=None) -> np.ndarray:
    """``n`` frames drawn uniformly at random without replacement from the frames not
    excluded; returns their indices sorted. Uses ``numpy.random.default_rng(seed)``."""
    mask = candidate_mask(len(pool), n, exclude, str(pool.path))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(np.flatnonzero(mask), n, replace=False))
