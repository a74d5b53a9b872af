"""``energy``: uniform in the global energy per atom."""

from __future__ import annotations

import numpy as np

from mlipselect.selection.kernels import uniform_by_frame_value
from mlipselect.selection.registry import Option, register


@register("energy", "uniform in the global energy per atom", options=(
    Option("bins", int | None, None, "equal-width bins over the range (default: n)",
           require=(lambda v: v >= 1, ">= 1")),))
def energy(frames, n, seed, exclude, bins) -> np.ndarray:
    """``n`` frames uniform in the energy per atom ``E / N`` (``E = sum_i E_i``, the frame's
    total potential energy): :func:`~mlipselect.selection.uniform_by_frame_value` on the
    frames' energy over their atom counts. Where all frames have the same size this is
    uniform in ``E`` itself; per atom, frames of different sizes compare on one scale."""
    return uniform_by_frame_value(
        frames.frame_energy() / frames.n_atoms, n, seed, bins=bins, exclude=exclude,
        source=f"{frames.source}: 'energy' per atom",
    )
