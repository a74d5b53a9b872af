"""Model-driven MD and g(r): an MD step costs at most 1.1x the potential's own energy+forces
evaluation; 8 SchNet replicas batched run at least 1.5x the replica-steps per second of the same
8 runs one after another on 2 cores; on a GPU, batched replicas beat schnetpack.md's
``Simulator`` 5x at 256 replicas (2x at 64) and stay within 2x of the model alone; g(r) of 1000
frames of 1000 ions takes seconds."""

import time
from dataclasses import replace

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from mlipselect.analysis.rdf import compute_rdf
from mlipselect.config import MD, defaults
from mlipselect.md.batched import SKIN, BatchedEngine
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
        settings = MD()
        self.guard = Guard(settings.min_distance, 1e9)
        self.engine = AseEngine(_start(ions), BMHTF(), settings, 0)
        self.single = self.engine.atoms.copy()
        self.single.calc = BMHTF()
        self.free = AseEngine(_start(ions), Free(), replace(settings, thermostat="nve"), 0)
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


def schnet(dtype=None, device=None):
    """The quick profile's SchNet driving MD (32 features, 2 interactions, cutoff 6 A), with
    random weights: a trained one costs the same."""
    import torch

    from mlipselect.models import family_settings
    from mlipselect.models.nn import SchNetPotential, build_network

    settings = family_settings(defaults(), "nn")  # the defaults' SchNet, which drives their MD
    torch.manual_seed(0)
    network = build_network(settings, scale=0.5, shift=-3.0).eval().requires_grad_(False)
    network = network.to(device or "cpu", dtype or torch.float32)
    manifest = {"family": "nn", "size": settings["size"], "seed": 0, "species": [11, 17],
                "settings": settings}
    return SchNetPotential(manifest, network)


FREE_RUNNING = Guard(0.0, float("inf"))
"""Random weights let ions pass through each other: nothing may stop a timed run."""


class BatchedReplicas:
    """R SchNet replicas of 216 ions: replica-steps per second of one batch over those of the
    same R runs one after another through the single-run engine (ASE), side by side, with the
    same model evaluation and the torch threads the machine has (2 here). Both run in one
    process, so both with the malloc setting the batched engine makes
    (``keep_freed_memory``), which leaves the single runs' speed as it was."""

    params = [8]
    param_names = ["replicas"]
    timeout = 600

    def setup(self, replicas):
        model = schnet()
        settings = MD()
        starts = [_start(216, k) for k in range(replicas)]
        self.batch = BatchedEngine(starts, model.batched(), settings, list(range(replicas)))
        self.singles = [AseEngine(s, model.calculator(), settings, k)
                        for k, s in enumerate(starts)]
        self.batch.step()
        for engine in self.singles:
            engine.advance(1, FREE_RUNNING)

    def _batched(self, steps: int = 10) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            self.batch.step()
        return len(self.singles) * steps / (time.perf_counter() - start)

    def _sequential(self, steps: int = 10) -> float:
        start = time.perf_counter()
        for engine in self.singles:
            done, reason = engine.advance(steps, FREE_RUNNING)
            assert done == steps, reason
        return len(self.singles) * steps / (time.perf_counter() - start)

    def time_batched_step(self, replicas):
        self.batch.step()

    @goal(">=", 1.5)
    def track_batched_over_sequential(self, replicas):
        # Interleaved, best of five each: robust to a busy machine.
        batched, sequential = [], []
        for _ in range(5):
            batched.append(self._batched())
            sequential.append(self._sequential())
        return max(batched) / max(sequential)

    track_batched_over_sequential.unit = "ratio"

    def track_batched_replica_steps_per_s(self, replicas):
        return max(self._batched() for _ in range(3))

    track_batched_replica_steps_per_s.unit = "replica-steps/s"


class BatchedReplicasOnGPU:
    """R SchNet replicas of 216 ions on a GPU (float64, as schnetpack.md casts its models):
    replica-steps per second of our batch over schnetpack.md's ``Simulator`` with
    ``n_replicas`` (same model, system, cutoff and 1 A skin; its Langevin thermostat, as it
    has no Bussi), and the model's own energies and forces on the same batched inputs over our
    step: how close the engine comes to the model alone. Skipped where torch sees no GPU."""

    params = [64, 256]
    param_names = ["replicas"]
    timeout = 900
    number = 1
    repeat = 1

    def setup(self, replicas):
        import torch

        if not torch.cuda.is_available():
            raise NotImplementedError("no GPU")
        self.device = torch.device("cuda")
        model = schnet(torch.float64, self.device)
        settings = MD()
        starts = [_start(216, k) for k in range(replicas)]
        self.batch = BatchedEngine(starts, model.batched(), settings, list(range(replicas)))
        self.simulator = schnetpack_simulator(model.network, starts[0], replicas,
                                              model.batched().cutoff, self.device)
        self.replicas = replicas

    def _rate(self, step, steps: int = 20) -> float:
        import torch

        step()  # warm
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
        return self.replicas * steps / (time.perf_counter() - start)

    def _model_alone(self):
        batch = self.batch
        i, j, offsets, _ = batch._all_pairs()
        near = ((batch.positions[j] - batch.positions[i] + offsets) ** 2).sum(1) \
            < batch.potential.cutoff**2
        args = (batch.numbers, batch.positions, i[near], j[near], offsets[near], batch.image,
                batch.sizes)
        return lambda: batch.potential(*args)

    @goal(">=", 5.0, replicas=256)
    @goal(">=", 2.0, replicas=64)
    def track_ours_over_schnetpack_md(self, replicas):
        ours = self._rate(self.batch.step)
        theirs = self._rate(lambda: self.simulator.simulate(1))
        return ours / theirs

    track_ours_over_schnetpack_md.unit = "ratio"

    @goal("<=", 2.0)
    def track_step_over_model_alone(self, replicas):
        return self._rate(self._model_alone()) / self._rate(self.batch.step)

    track_step_over_model_alone.unit = "ratio"


def schnetpack_simulator(network, start, replicas: int, cutoff: float, device):
    """schnetpack.md's ``Simulator`` of ``replicas`` copies of ``start`` driven by
    ``network``: velocity Verlet at 2 fs, Langevin at 1400 K, torch neighbour lists with a
    ``SKIN`` shell, on ``device``."""
    import tempfile

    import torch
    from schnetpack import md
    from schnetpack.md.calculators import SchNetPackCalculator
    from schnetpack.md.neighborlist_md import NeighborListMD
    from schnetpack.md.simulation_hooks import LangevinThermostat
    from schnetpack.transform import TorchNeighborList

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/model.pt"
        torch.save(network, path)
        calculator = SchNetPackCalculator(
            path, force_key="forces", energy_unit="eV", position_unit="Angstrom",
            energy_key="energy", neighbor_list=NeighborListMD(cutoff, SKIN, TorchNeighborList))
    system = md.System()
    system.load_molecules(start, n_replicas=replicas, position_unit_input="Angstrom")
    md.UniformInit(1400.0, remove_center_of_mass=True).initialize_system(system)
    simulator = md.Simulator(system, md.integrators.VelocityVerlet(2.0), calculator,
                             simulator_hooks=[LangevinThermostat(1400.0, 100.0)],
                             progress=False)
    return simulator.to(device)


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
        settings = MD()
        guard = Guard(settings.min_distance, 2 * settings.temperature)
        engine = AseEngine(starting_state(frames[-1], 1400.0, 0), ours_fit(frames).calculator(),
                           settings, 0)
        engine.advance(5, guard)  # warm
        with one_thread():
            start = time.perf_counter()
            done, reason = engine.advance(100, guard)
            per_step = (time.perf_counter() - start) / 100
        assert done == 100 and reason is None, reason
        return per_step * 20_000 / settings.timestep_fs

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
