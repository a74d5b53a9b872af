"""The quantities the selection methods work on, read from a pool or from frames.

For F1 and claim C1: the global energy per atom of each frame, and the per-atom energies and
force magnitudes of every atom, with the pool's tails as the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Quantities:
    """Per-frame energy per atom (eV/atom), and per-atom energies (eV) and |f_i| (eV/A)."""

    energy_per_atom: np.ndarray
    atomic_energies: np.ndarray
    force_norms: np.ndarray
    numbers: np.ndarray

    @classmethod
    def of(cls, frames) -> Quantities:
        """The quantities of ``frames`` (a pool, a sequence of ``ase.Atoms`` or a
        :class:`~mlipselect.selection.Frames`), from the same table the methods select on."""
        from mlipselect.selection.frames import as_frames

        table = as_frames(frames)
        return cls(
            energy_per_atom=table.frame_energy() / table.n_atoms,
            atomic_energies=_whole(table.atom_column("energies")),
            force_norms=_whole(table.force_norms()),
            numbers=_whole(table.atom_column("numbers")),
        )


def _whole(column) -> np.ndarray:
    """A per-atom column as one array, joining a streamed one's chunks."""
    return np.concatenate(list(column())) if callable(column) else np.asarray(column)


def tail_share(values: np.ndarray, reference: np.ndarray, percent: float = 1.0) -> float:
    """Share of ``values`` outside the ``percent`` / ``100 - percent`` percentiles of
    ``reference``: how much of a selection lies in the pool's tails (2% for a random one)."""
    low, high = np.percentile(reference, [percent, 100 - percent])
    return float(np.mean((values < low) | (values > high)))


def species_bounds(values, numbers, percent: float = 1.0) -> dict[int, tuple[float, float]]:
    """Per species, the ``percent`` and ``100 - percent`` percentiles of its ``values``."""
    values, numbers = np.asarray(values), np.asarray(numbers)
    return {int(z): tuple(np.percentile(values[numbers == z], [percent, 100 - percent]))
            for z in np.unique(numbers)}


def in_tails(values, numbers, bounds: dict) -> np.ndarray:
    """Which ``values`` lie outside their species' ``bounds`` (``species_bounds``); a species
    without bounds has no tails."""
    values, numbers = np.asarray(values), np.asarray(numbers)
    outside = np.zeros(len(values), dtype=bool)
    for z, (low, high) in bounds.items():
        mine = numbers == z
        outside[mine] = (values[mine] < low) | (values[mine] > high)
    return outside


def species_tail_share(values, numbers, ref_values, ref_numbers, percent: float = 1.0) -> float:
    """``tail_share`` with each species' tails taken from its own pool distribution (Na and
    Cl atomic energies lie in different ranges), pooled over atoms."""
    bounds = species_bounds(ref_values, ref_numbers, percent)
    return float(np.mean(in_tails(values, numbers, bounds)))
