"""``random``: frames drawn uniformly at random, the baseline of the study."""

from __future__ import annotations

import numpy as np

from mlipselect.selection.kernels import candidate_mask
from mlipselect.selection.registry import register


@register("random", "uniformly at random (the baseline)")
def random_frames(frames, n, seed, exclude) -> np.ndarray:
    """``n`` frames drawn uniformly at random without replacement from the frames not
    excluded; returns their indices sorted. Uses ``numpy.random.default_rng(seed)``."""
    mask = candidate_mask(len(frames), n, exclude, frames.source)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(np.flatnonzero(mask), n, replace=False))
