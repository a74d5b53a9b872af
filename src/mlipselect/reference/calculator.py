"""The BMHTF reference as an ASE calculator: the labeller of the pipeline."""

from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from mlipselect.reference.lammps import NaClLammps


class BMHTF(Calculator):
    """Born-Mayer-Huggins-Tosi-Fumi NaCl through LAMMPS: energy, forces, per-atom energies
    (``energies``, summing to ``energy``) and stress.

    Parameters
    ----------
    cutoff : float
        Real-space cutoff of the short-range and the real-space Coulomb sums, A.
    kspace : {"pppm", "ewald"}
        Long-range Coulomb solver.
    accuracy : float
        Relative force accuracy of the long-range solver.
    threads : int
        OpenMP threads for LAMMPS.
    """

    implemented_properties = ["energy", "free_energy", "forces", "energies", "stress"]
    default_parameters = {"cutoff": 9.0, "kspace": "pppm", "accuracy": 1e-5, "threads": 1}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._lammps: NaClLammps | None = None
        self._numbers: np.ndarray | None = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if not atoms.pbc.all():
            raise ValueError("BMHTF needs a periodic cell in all three directions")
        if self._lammps is None or not np.array_equal(self._numbers, atoms.numbers):
            self._reset()
            self._lammps = NaClLammps(atoms, **self.parameters)
            self._numbers = atoms.numbers.copy()
        else:
            cell = atoms.cell[:] if "cell" in system_changes else None
            self._lammps.set_positions(atoms.positions, cell)
        results = self._lammps.single_point()
        results["free_energy"] = results["energy"]
        self.results = results

    def _reset(self):
        if self._lammps is not None:
            self._lammps.close()
            self._lammps = None

    def reset(self):
        super().reset()
        self._reset()

    def __del__(self):
        self._reset()
