"""``random``: frames drawn uniformly at random, the baseline of the study."""

from __future__ import annotations

import numpy as np

from mlipselect.selection.kernels import candidate_mask
from mlipselect.selection.registry import register


@register("random", "uniformly at random (the baseline)", ordered=True)
def random_frames(frames, n, seed, exclude, selected=None) -> np.ndarray:
    """``n`` frames drawn uniformly at random without replacement from the frames not
    excluded, in the order drawn: the first ``k`` of a selection of ``n`` are the selection of
    ``k`` with the same seed. With ``selected``, those come first and the rest is drawn from
    the other candidates. Uses ``numpy.random.default_rng(seed).permutation``."""
    mask = candidate_mask(len(frames), n, exclude, frames.source)
    selected = np.asarray([] if selected is None else selected, dtype=np.int64)
    mask[selected] = False
    drawn = np.random.default_rng(seed).permutation(np.flatnonzero(mask))
    return np.concatenate([selected, drawn[:n - len(selected)]]).astype(np.int64)
