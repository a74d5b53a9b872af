"""``atomic-energies``: uniform in the per-atom energies E_i."""

from __future__ import annotations

import numpy as np

from mlipselect.selection.per_atom import OPTIONS, by_atom_values
from mlipselect.selection.registry import register


@register("atomic-energies", "uniform in the per-atom energies E_i", options=OPTIONS)
def atomic_energies(frames, n, seed, exclude, per_species, bins) -> np.ndarray:
    """``n`` frames whose atoms' energies ``E_i`` cover their range as evenly as possible:
    :func:`~mlipselect.selection.uniform_by_atom_value` on the per-atom ``energies``, per
    species (atomic number) unless ``per_species`` is false. A pool is streamed in chunks,
    so it need not fit in memory."""
    values = frames.atom_column("energies", "atomic-energies")
    return by_atom_values(frames, values, "energies", n, seed, exclude, per_species, bins)
