"""What the per-atom methods (``forces``, ``atomic-energies``) share: their options and the
call of :func:`~mlipselect.selection.uniform_by_atom_value` on a frame table."""

from __future__ import annotations

import numpy as np

from mlipselect.selection.frames import Column, Frames
from mlipselect.selection.kernels import ATOM_BINS, uniform_by_atom_value
from mlipselect.selection.registry import Option

OPTIONS = (
    Option("per_species", bool, True,
           "bin each species (atomic number) over its own range, rather than all atoms together"),
    Option("bins", int, ATOM_BINS, "equal-width bins per species",
           require=(lambda v: v >= 1, ">= 1")),
)


def by_atom_values(frames: Frames, values: Column, name: str, n, seed, exclude, per_species,
                   bins) -> np.ndarray:
    """``uniform_by_atom_value`` on per-atom ``values`` of ``frames`` (arrays or streams),
    with the atomic numbers as species if ``per_species``; ``name`` names the values."""
    return uniform_by_atom_value(
        values, frames.offsets, n, seed,
        species=frames.atom_column("numbers", name) if per_species else None,
        bins=bins, exclude=exclude, source=f"{frames.source}: '{name}'",
    )
