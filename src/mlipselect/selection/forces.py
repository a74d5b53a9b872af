"""``forces``: uniform in the per-atom force magnitudes |f_i|."""

from __future__ import annotations

import numpy as np

from mlipselect.selection.kernels import ATOM_BINS
from mlipselect.selection.registry import atom_column_chunks, by_atom_values, register


@register("forces")
def forces(pool, n, seed=0, exclude=None, per_species=True, bins=ATOM_BINS) -> np.ndarray:
    """``n`` frames whose atoms' force magnitudes ``|f_i|`` cover their range as evenly as
    possible: :func:`~mlipselect.selection.uniform_by_atom_value` on the norms of the pool's
    ``forces`` rows, per species (atomic number) unless ``per_species`` is false. The pool is
    streamed in chunks, so it need not fit in memory."""
    chunks = atom_column_chunks(pool, "forces")
    norms = lambda: (np.sqrt(np.einsum("ij,ij->i", f, f)) for f in chunks())  # noqa: E731
    return by_atom_values(pool, "forces", norms, n, seed, exclude, per_species, bins)
