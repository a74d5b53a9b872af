"""The quantities the selection methods work on, read from a pool or from frames.

For F1 and claim C1: the global energy per atom of each frame, and the per-atom energies and
force magnitudes of every atom, with the pool's tails as the reference.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    def from_pool(cls, pool, frames: np.ndarray | None = None) -> Quantities:
        """From a ``Pool``'s columns; ``frames`` restricts to those rows."""
        off = pool.offsets
        if frames is None:
            atoms = slice(None)
            energy, natoms = pool.energy, np.diff(off)
        else:
            frames = np.asarray(frames)
            atoms = np.concatenate([np.arange(off[i], off[i + 1]) for i in frames])
            energy, natoms = pool.energy[frames], np.diff(off)[frames]
        return cls(
            energy_per_atom=energy / natoms,
            atomic_energies=pool.atom_column("energies")[atoms],
            force_norms=np.linalg.norm(pool.atom_column("forces")[atoms], axis=1),
            numbers=pool.atom_column("numbers")[atoms],
        )

    @classmethod
    def from_frames(cls, frames: Iterable) -> Quantities:
        """From labelled ASE ``Atoms`` (energy, forces, per-atom energies)."""
        frames = list(frames)
        return cls(
            energy_per_atom=np.array([a.get_potential_energy() / len(a) for a in frames]),
            atomic_energies=np.concatenate([a.get_potential_energies() for a in frames]),
            force_norms=np.concatenate([np.linalg.norm(a.get_forces(), axis=1) for a in frames]),
            numbers=np.concatenate([a.numbers for a in frames]),
        )


def tail_share(values: np.ndarray, reference: np.ndarray, percent: float = 1.0) -> float:
    """Share of ``values`` outside the ``percent`` / ``100 - percent`` percentiles of
    ``reference``: how much of a selection lies in the pool's tails (2% for a random one)."""
    low, high = np.percentile(reference, [percent, 100 - percent])
    return float(np.mean((values < low) | (values > high)))


def species_tail_share(values, numbers, ref_values, ref_numbers, percent: float = 1.0) -> float:
    """``tail_share`` with each species' tails taken from its own pool distribution (Na and
    Cl atomic energies lie in different ranges), pooled over atoms."""
    outside = 0
    for z in np.unique(numbers):  # a species the selection lacks adds nothing
        mine = values[numbers == z]
        outside += tail_share(mine, ref_values[ref_numbers == z], percent) * len(mine)
    return outside / len(values)
