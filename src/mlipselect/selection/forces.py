"""``forces``: uniform in the per-atom force magnitudes |f_i|."""

from __future__ import annotations

import numpy as np

from mlipselect.selection.per_atom import OPTIONS, by_atom_values
from mlipselect.selection.registry import register


@register("forces", "uniform in the per-atom force magnitudes |f_i|", options=OPTIONS)
def forces(frames, n, seed, exclude, per_species, bins) -> np.ndarray:
    """``n`` frames whose atoms' force magnitudes ``|f_i|`` cover their range as evenly as
    possible: :func:`~mlipselect.selection.uniform_by_atom_value` on the norms of the
    ``forces`` rows, per species (atomic number) unless ``per_species`` is false. A pool is
    streamed in chunks, so it need not fit in memory."""
    values = frames.force_norms("forces")
    return by_atom_values(frames, values, "forces", n, seed, exclude, per_species, bins)
