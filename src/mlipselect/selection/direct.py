"""``direct``: one frame from each of n strata of the descriptor space (DIRECT)."""

from __future__ import annotations

import numpy as np

from mlipselect.selection.kernels import candidate_mask
from mlipselect.selection.registry import Option, register
from mlipselect.selection.structure import DESCRIPTOR_OPTIONS, strata


@register("direct", "one frame per BIRCH cluster of the PCA-reduced SOAP descriptors",
          options=(*DESCRIPTOR_OPTIONS, Option(
              "variance", float, 0.95, "share of the variance the kept components explain",
              require=(lambda v: 0 < v <= 1, "in (0, 1]"))), extends=True)
def direct(frames, n, seed, exclude, variance, selected=None, **soap) -> np.ndarray:
    """``n`` frames by :func:`~mlipselect.selection.structure.strata` on the per-frame
    descriptors: standardised, reduced to the principal components explaining ``variance``,
    clustered into ``n`` groups by BIRCH; from each group the frame nearest its centroid.
    With ``selected``, those come first and the new frames stand for the strata they leave
    empty."""
    mask = candidate_mask(len(frames), n, exclude, frames.source)
    return strata(frames.descriptors(soap, "direct"), n, seed=seed,
                  variance=variance, candidates=mask, selected=selected)
