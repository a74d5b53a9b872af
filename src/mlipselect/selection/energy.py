"""``energy``: uniform in the global energy per atom."""

from __future__ import annotations

import numpy as np

from mlipselect.selection.kernels import uniform_by_frame_value
from mlipselect.selection.registry import register


@register("energy")
def energy(pool, n, seed=0, exclude=None, bins=None) -> np.ndarray:
    """``n`` frames uniform in the energy per atom ``E / N`` (``E = sum_i E_i``, the frame's
    total potential energy): :func:`~mlipselect.selection.uniform_by_frame_value` on
    ``pool.energy / pool.n_atoms``. Where all frames have the same size this is uniform in
    ``E`` itself; per atom, frames of different sizes compare on one scale."""
    return uniform_by_frame_value(
        pool.energy / pool.n_atoms, n, seed, bins=bins, exclude=exclude,
        source=f"{pool.path}: 'energy' per atom",
    )
