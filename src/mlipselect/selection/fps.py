"""``fps``: farthest-point sampling of frames in descriptor space."""

from __future__ import annotations

import numpy as np

from mlipselect.selection.kernels import candidate_mask
from mlipselect.selection.registry import register
from mlipselect.selection.structure import DESCRIPTOR_OPTIONS, farthest_points


@register("fps", "farthest-point sampling of the frames' SOAP descriptors",
          options=DESCRIPTOR_OPTIONS, ordered=True)
def fps(frames, n, seed, exclude, selected=None, **soap) -> np.ndarray:
    """``n`` frames in farthest-point order on the per-frame descriptors of
    :mod:`mlipselect.descriptors` (each species' mean normalised SOAP power spectrum): the
    first a candidate drawn with ``numpy.random.default_rng(seed)``, each next one the
    candidate farthest (Euclidean) from those picked. With ``selected``, those come first and
    the picks go on from them."""
    mask = candidate_mask(len(frames), n, exclude, frames.source)
    x = frames.descriptors(soap, "fps")
    first = int(np.random.default_rng(seed).choice(np.flatnonzero(mask)))
    order, _ = farthest_points(x, n, first=first, selected=selected, candidates=mask)
    return order
