"""``cur``: CUR row selection on the frames' descriptors."""

from __future__ import annotations

import numpy as np

from mlipselect.selection.kernels import candidate_mask
from mlipselect.selection.registry import register
from mlipselect.selection.structure import DESCRIPTOR_OPTIONS, cur_rows


@register("cur", "CUR (leverage, with orthogonalisation) on the frames' SOAP descriptors",
          options=DESCRIPTOR_OPTIONS, ordered=True)
def cur(frames, n, seed, exclude, selected=None, **soap) -> np.ndarray:
    """``n`` frames by :func:`~mlipselect.selection.structure.cur_rows` on the per-frame
    descriptors, in pick order. Deterministic: ``seed`` does not enter."""
    mask = candidate_mask(len(frames), n, exclude, frames.source)
    return cur_rows(frames.descriptors(soap, "cur"), n, selected=selected,
                    candidates=mask)
