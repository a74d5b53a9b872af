"""Model-driven MD and g(r): an MD step costs at most 1.1x the potential's own energy+forces
evaluation; g(r) of 1000 frames of 1000 ions takes seconds."""

import time

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from mlipselect.analysis.rdf import compute_rdf
from mlipselect.config import SCHEMA
from mlipselect.md.engines import AseEngine
from mlipselect.md.guard import Guard
from mlipselect.md.run import starting_state
from mlipselect.reference.calculator import BMHTF
from mlipselect.reference.sampler import rocksalt

from .goals import goal

MELT_LATTICE = 6.17  # A: rocksalt cells at the density of the 1400 K melt (1.38 g/cm^3)
STEPS = 50


def _start(ions: int, seed: int = 0):
    """A rocksalt cell at melt density, ions displaced by 0.2 A, velocities at 1400 K."""
    atoms = rocksalt({216: 3, 1000: 5}[ions], MELT_LATTICE)
    atoms.positions += np.random.default_rng(seed).normal(scale=0.2, size=atoms.positions.shape)
    return starting_state(atoms, 1400.0, seed)


class Free(Calculator):
    """No forces at all: what remains of an MD step is the integrator and the guard."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.results = {"energy": 0.0, "forces": np.zeros((len(self.atoms), 3))}


class MDStep:
    """One Bussi NVT step with the stability guard against one energy+forces evaluation of the
    same potential (the BMHTF reference, whose cost is that of a small SchNet: 5-15 ms)."""

    params = [216, 1000]
    param_names = ["ions"]
    timeout = 300

    def setup(self, ions):
        settings = dict(SCHEMA["md"])
        self.guard = Guard(settings["min_distance"], 1e9)
        self.engine = AseEngine(_start(ions), BMHTF(), settings, 0)
        self.single = self.engine.atoms.copy()
        self.single.calc = BMHTF()
        self.free = AseEngine(_start(ions), Free(), {**settings, "thermostat": "nve"}, 0)
        self.free.atoms.set_momenta(self.free.atoms.get_momenta() * 1e-3)  # nobody collides

    def _steps(self, engine) -> float:
        start = time.perf_counter()
        done, reason = engine.advance(STEPS, self.guard)
        assert done == STEPS and reason is None, reason
        return (time.perf_counter() - start) / STEPS

    def _evaluations(self) -> float:
        start = time.perf_counter()
        for _ in range(STEPS):
            self.single.positions += 1e-4  # a new configuration each time
            self.single.get_forces()
        return (time.perf_counter() - start) / STEPS

    def time_md_step(self, ions):
        self.engine.advance(1, self.guard)

    def time_energy_forces(self, ions):
        self.single.positions += 1e-4
        self.single.get_forces()

    @goal("<=", 1.1)
    def track_step_over_energy_forces(self, ions):
        # Interleaved, best of five each: robust to a busy machine.
        steps, evaluations = [], []
        for _ in range(5):
            steps.append(self._steps(self.engine))
            evaluations.append(self._evaluations())
        return min(steps) / min(evaluations)

    track_step_over_energy_forces.unit = "ratio"

    def track_integrator_overhead_us(self, ions):
        """Step time with a free calculator, minus that calculator's own evaluation: the
        absolute cost the integrator and guard add to any potential."""
        free = Free()
        single = self.free.atoms.copy()
        single.calc = free
        step = min(self._steps(self.free) for _ in range(5))
        start = time.perf_counter()
        for _ in range(STEPS):
            single.positions += 1e-4
            single.get_forces()
        return 1e6 * (step - (time.perf_counter() - start) / STEPS)

    track_integrator_overhead_us.unit = "us"


class GPRDrivenMD:
    """NVT at 1400 K of 216 ions driven by the quick profile's largest GPR, fitted to the
    BMHTF melt frames of ``bench_gap``: the wall time a 20 ps run takes on one core,
    extrapolated from 100 steps, over the 10 minutes it should take at most. Measured once,
    in ``setup_cache`` (sampling and the fit take minutes)."""

    timeout = 900
    number = 1
    repeat = 1

    def setup_cache(self):
        from .bench_gap import melt_frames, one_thread, ours_fit

        frames = melt_frames(1400.0, 24, seed=0)
        settings = dict(SCHEMA["md"])
        guard = Guard(settings["min_distance"], 2 * settings["temperature"])
        engine = AseEngine(starting_state(frames[-1], 1400.0, 0), ours_fit(frames).calculator(),
                           settings, 0)
        engine.advance(5, guard)  # warm
        with one_thread():
            start = time.perf_counter()
            done, reason = engine.advance(100, guard)
            per_step = (time.perf_counter() - start) / 100
        assert done == 100 and reason is None, reason
        return per_step * 20_000 / settings["timestep_fs"]

    @goal("<=", 1.0)
    def track_20ps_over_10_minutes(self, seconds_for_20ps):
        return seconds_for_20ps / 600

    track_20ps_over_10_minutes.unit = "ratio"


class RadialDistribution:
    """Partial g(r) of 1000 frames of 1000 ions (goal: seconds)."""

    params = [[8.0, 10.0, 12.0]]
    param_names = ["rmax"]
    timeout = 600
    number = 1
    repeat = 2

    def setup(self, rmax):
        rng = np.random.default_rng(0)
        base = rocksalt(5, MELT_LATTICE)
        self.frames = []
        for _ in range(1000):
            atoms = base.copy()
            atoms.positions += rng.normal(scale=0.5, size=atoms.positions.shape)
            self.frames.append(atoms)

    def time_rdf_1000_frames_1000_ions(self, rmax):
        compute_rdf(self.frames, rmax=rmax, bins=int(20 * rmax))
