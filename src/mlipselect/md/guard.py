"""The stability guard: stops model-driven MD that has left physics behind.

A model trained on too little data can let ions collapse onto each other (no repulsion where it
never saw close pairs), heat without bound, or produce non-finite numbers. The guard names the
first of these it sees; the MD keeps the frames so far and records the reason.
"""

from __future__ import annotations

import numpy as np
from ase import units


def temperature(momenta: np.ndarray, masses: np.ndarray) -> float:
    """Kinetic temperature in K with 3N - 3 degrees of freedom (total momentum is zero),
    as LAMMPS' ``compute temp`` counts them."""
    kinetic = 0.5 * float(np.sum(momenta**2 / masses[:, None]))
    return 2.0 * kinetic / ((3 * len(masses) - 3) * units.kB)


class Guard:
    """Checks one MD state.

    Parameters
    ----------
    min_distance : float
        Stop when two ions come closer than this, A.
    max_temperature : float
        Stop when the kinetic temperature exceeds this, K.
    """

    def __init__(self, min_distance: float, max_temperature: float):
        import vesin

        self.min_distance = float(min_distance)
        self.max_temperature = float(max_temperature)
        # vesin's cell list slows down as its cells shrink below a few A: searching to 3 A
        # and comparing costs less than searching to a shorter guard distance.
        self._nl = vesin.NeighborList(cutoff=max(self.min_distance, 3.0), full_list=False)

    def check_fast(self, energy: float, forces: np.ndarray, momenta: np.ndarray,
                   masses: np.ndarray) -> str | None:
        """The O(N) checks, cheap enough for every step: finite numbers and temperature."""
        finite = bool(np.isfinite(energy) and np.isfinite(forces).all()
                      and np.isfinite(momenta).all())
        return self.judge(finite, temperature(momenta, masses) if finite else np.nan)

    def judge(self, finite: bool, temperature_k: float) -> str | None:
        """The reason to stop a state whose numbers are ``finite`` (or not) at kinetic
        temperature ``temperature_k``, or None; engines that compute these themselves ask
        here, so every engine stops for the same reasons with the same words."""
        if not finite:
            return "non-finite energy, forces or momenta"
        if temperature_k > self.max_temperature:
            return f"temperature {temperature_k:.0f} K above {self.max_temperature:.0f} K"
        return None

    def judge_distance(self, shortest: float) -> str | None:
        """The reason to stop a state whose shortest interatomic distance is ``shortest``."""
        if shortest < self.min_distance:
            return f"shortest distance {shortest:.2f} A below {self.min_distance:.2f} A"
        return None

    def check_distance(self, positions: np.ndarray, cell: np.ndarray) -> str | None:
        """The shortest interatomic distance, from a neighbour list within ``min_distance``."""
        if not np.isfinite(positions).all():
            return "non-finite positions"
        fractional = np.linalg.solve(cell.T, positions.T).T % 1.0
        (d,) = self._nl.compute(fractional @ cell, cell, True, quantities="d", copy=False)
        return self.judge_distance(float(d.min())) if len(d) else None
