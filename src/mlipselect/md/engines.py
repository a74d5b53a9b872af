"""Integrators behind ``run_md``: ASE with any calculator, or LAMMPS with the BMHTF reference.

Both integrate velocity Verlet with Bussi's stochastic velocity rescaling (or no thermostat),
count 3N - 3 degrees of freedom (total momentum is held at zero) and present the same
interface: ``advance(steps, guard)`` runs at most ``steps`` steps and returns how many it ran
and the guard's reason to stop (or None); ``frame()`` is the current state as labelled Atoms.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixCom
from ase.md.bussi import Bussi
from ase.md.verlet import VelocityVerlet

from mlipselect.config import MD
from mlipselect.md.guard import Guard
from mlipselect.pool.store import LABELS


def labelled_atoms(numbers, positions, cell, momenta, results: dict) -> Atoms:
    """A frame: atoms with momenta and the labels present in ``results``, copied."""
    atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True, momenta=momenta)
    labels = {k: np.copy(results[k]) for k in LABELS if k in results}
    atoms.calc = SinglePointCalculator(atoms, **labels)
    return atoms


class AseEngine:
    """Velocity Verlet (Bussi thermostat or none) through any ASE calculator.

    ``guard_every``: steps between shortest-distance checks; the O(N) checks run every step.
    """

    def __init__(self, start: Atoms, calculator, settings: MD, rng_seed):
        atoms = Atoms(numbers=start.numbers, positions=start.positions, cell=start.cell, pbc=True)
        atoms.calc = calculator
        atoms.set_constraint(FixCom())  # 3 fewer degrees of freedom, as the thermostat counts
        atoms.set_momenta(start.get_momenta())
        dt = settings.timestep_fs * units.fs
        if settings.thermostat == "bussi":
            self.dyn = Bussi(atoms, dt, temperature_K=settings.temperature,
                             taut=settings.taut_fs * units.fs,
                             rng=np.random.default_rng(rng_seed))
        else:
            self.dyn = VelocityVerlet(atoms, dt)
        self.atoms, self.masses = atoms, atoms.get_masses()
        self.guard_every = int(settings.guard_every)
        self._forces = atoms.get_forces(md=True)
        self._since_distance = 0

    def advance(self, steps: int, guard: Guard) -> tuple[int, str | None]:
        atoms = self.atoms
        for k in range(1, steps + 1):
            self._forces = self.dyn.step(self._forces)
            reason = guard.check_fast(self._energy(), self._forces, atoms.arrays["momenta"],
                                      self.masses)
            self._since_distance += 1
            if reason is None and (self._since_distance >= self.guard_every or k == steps):
                self._since_distance = 0
                reason = guard.check_distance(atoms.positions, atoms.cell[:])
            if reason is not None:
                return k, reason
        return steps, None

    def _energy(self) -> float:
        # Calculators fill in the energy with the forces; asking the Atoms for it would
        # compare the whole configuration with the calculator's copy once more per step.
        energy = self.atoms.calc.results.get("energy")
        return self.atoms.get_potential_energy() if energy is None else energy

    def check(self, guard: Guard) -> str | None:
        """The guard on the current state (used on the starting configuration)."""
        atoms = self.atoms
        return (guard.check_fast(self._energy(), self._forces,
                                 atoms.arrays["momenta"], self.masses)
                or guard.check_distance(atoms.positions, atoms.cell[:]))

    def frame(self) -> Atoms:
        atoms = self.atoms
        results = {**atoms.calc.results, "energy": self._energy(),
                   "forces": self._forces}
        return labelled_atoms(atoms.numbers, atoms.positions, atoms.cell[:],
                              atoms.get_momenta(), results)

    def close(self) -> None:
        pass


class LammpsEngine:
    """The BMHTF reference integrated inside LAMMPS: ``fix nve`` with ``fix temp/csvr``
    (Bussi's thermostat), guard checks at the end of each ``advance``."""

    def __init__(self, start: Atoms, reference: dict, settings: MD, lammps_seed: int):
        from mlipselect.reference.lammps import NaClLammps
        from mlipselect.reference.sampler import ASE_VELOCITY_PER_A_PS

        self.start = start
        self.masses = start.get_masses()
        self.lmp = NaClLammps(start, **reference)
        velocities = start.get_momenta() / self.masses[:, None] / ASE_VELOCITY_PER_A_PS
        self.lmp.set_velocities(velocities)
        t, dt = settings.temperature, settings.timestep_fs / 1000
        self.lmp.command(f"timestep {dt!r}")
        self.lmp.command("fix md all nve")
        if settings.thermostat == "bussi":
            taut = settings.taut_fs / 1000
            self.lmp.command(f"fix thermostat all temp/csvr {t!r} {t!r} {taut!r} {lammps_seed}")
        self.lmp.command("run 0 post no")
        self._frame = self._read_frame()

    def _read_frame(self) -> Atoms:
        from mlipselect.reference.sampler import lammps_frame

        frame, per_atom = lammps_frame(self.lmp, self.start)
        results = {"energy": frame["energy"][0], "stress": frame["stress"][0], **per_atom}
        return labelled_atoms(per_atom["numbers"], per_atom["positions"], frame["cell"][0],
                              per_atom["momenta"], results)

    def advance(self, steps: int, guard: Guard) -> tuple[int, str | None]:
        self.lmp.command(f"run {steps} pre no post no")
        self._frame = self._read_frame()
        return steps, self.check(guard)

    def check(self, guard: Guard) -> str | None:
        atoms = self._frame
        return (guard.check_fast(atoms.get_potential_energy(), atoms.get_forces(),
                                 atoms.get_momenta(), self.masses)
                or guard.check_distance(atoms.positions, atoms.cell[:]))

    def frame(self) -> Atoms:
        return self._frame

    def close(self) -> None:
        self.lmp.close()
