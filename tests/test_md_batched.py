"""Many MD replicas as one batch: pairs, forces and trajectories equal the single runs', NVE
conserves energy, Bussi samples the canonical kinetic energy, and each replica keeps its own
guard, files and resume point."""

from __future__ import annotations

from dataclasses import replace

import ase.io
import numpy as np
import pytest
import torch
from ase import units
from ase.neighborlist import neighbor_list
from scipy import stats
from test_md import Harmonic

from mlipselect.config import MD
from mlipselect.errors import InputError
from mlipselect.md import Guard, read_status, run_md, run_replicas
from mlipselect.md.batched import BatchedEngine, keep_freed_memory, replica_pairs
from mlipselect.md.run import starting_state
from mlipselect.models.nn import SchNetPotential, build_network
from mlipselect.reference.sampler import rocksalt

MELT_LATTICE = 6.17  # A: rocksalt at the density of the 1400 K melt


def md_settings(**changes) -> MD:
    return MD(**changes)


def melt_start(seed: int, repeat: int = 2, temperature: float = 1400.0):
    """Rocksalt at melt density with ions displaced by 0.3 A and Maxwell-Boltzmann momenta."""
    atoms = rocksalt(repeat, MELT_LATTICE)
    atoms.positions += np.random.default_rng(seed).normal(scale=0.3, size=atoms.positions.shape)
    return starting_state(atoms, temperature, seed)


def schnet(dtype=torch.float64, **size) -> SchNetPotential:
    """A SchNet with random weights: a smooth, bounded energy surface without a repulsive
    core, so ions may pass through each other (runs with it guard only far below 1 A)."""
    settings = {"features": 16, "interactions": 2, "cutoff": 5.0, "rbf": 12, **size}
    torch.manual_seed(0)
    network = build_network(settings, scale=0.5, shift=-3.0).eval().requires_grad_(False)
    manifest = {"family": "nn", "size": "test", "seed": 0, "species": [11, 17],
                "settings": settings}
    return SchNetPotential(manifest, network.to(dtype))


def _pair_set(i, j, separations, decimals=6):
    """Unordered pairs with their separation, comparable across lists of either direction."""
    pairs = set()
    for a, b, v in zip(i, j, np.round(separations, decimals), strict=True):
        pairs.add((a, b, *v) if (a, b) <= (b, a) else (b, a, *(-v)))
    return pairs


@pytest.mark.parametrize("cutoff", [4.0, 7.0], ids=["minimum-image", "vesin"])
def test_replica_pairs_are_every_pair_within_the_cutoff_once(cutoff):
    atoms = melt_start(0)
    # Unwrapped positions, as MD leaves them: some atoms a cell vector or two away.
    atoms.positions[::5] += atoms.cell[0] - 2 * atoms.cell[2]
    positions = torch.as_tensor(atoms.positions)
    i, j, offsets = replica_pairs(positions, torch.as_tensor(atoms.cell[:]), cutoff)
    separations = (positions[j] - positions[i] + offsets).numpy()
    ours = _pair_set(i.tolist(), j.tolist(), separations)
    ai, aj, ad = neighbor_list("ijD", atoms, cutoff)
    expected = _pair_set(ai.tolist(), aj.tolist(), ad)
    assert len(ours) == len(i)  # each pair once
    assert ours == expected


def test_batched_forces_equal_single_frame_forces():
    model = schnet(torch.float32)
    starts = [melt_start(seed) for seed in range(3)]
    engine = BatchedEngine(starts, model.batched(), md_settings(), seeds=[0, 1, 2])
    for k, atoms in enumerate(starts):
        energy, forces = model.predict(atoms)
        frame = engine.frame(k)
        scale = np.abs(forces).max()
        # float32: about 7 significant digits, summed in another order
        np.testing.assert_allclose(frame.get_forces(), forces, atol=2e-6 * scale)
        assert frame.get_potential_energy() == pytest.approx(energy, rel=1e-6)
        # each replica's net force is removed (its centre of mass stays put)
        np.testing.assert_allclose(frame.get_forces().sum(0), 0.0, atol=1e-9)


def test_replicas_follow_the_single_runs_of_the_same_seeds(tmp_path):
    """float64: 100 Bussi steps of three replicas equal three runs through ASE to the 1e-8 A
    that extxyz writes."""
    model = schnet()
    settings = md_settings(time_ps=0.2, stride=50, min_distance=0.05, max_temperature_factor=5)
    starts = [melt_start(seed) for seed in range(3)]
    outs = [tmp_path / f"batch{k}.extxyz" for k in range(3)]
    batch = [run.status for run in run_replicas(starts, outs, settings, [5, 6, 7], model="m",
                                                batched=model.batched(), progress=False)]
    assert [s.steps for s in batch] == [100] * 3 and all(s.stable for s in batch)
    for k, start in enumerate(starts):
        single = tmp_path / f"single{k}.extxyz"
        run_md(start, single, replace(settings, seed=5 + k), model="m",
               calculator=model.calculator(), progress=False)
        a, b = ase.io.read(single, index=":"), ase.io.read(outs[k], index=":")
        assert [f.info["md_step"] for f in a] == [f.info["md_step"] for f in b] == [0, 50, 100]
        np.testing.assert_allclose(b[-1].positions, a[-1].positions, atol=2e-8)
        np.testing.assert_allclose(b[-1].get_momenta(), a[-1].get_momenta(), atol=2e-7)
        assert read_status(outs[k]).engine == "batched"
        assert read_status(outs[k]).settings.seed == 5 + k


def _total_energy(frame) -> float:
    return frame.get_potential_energy() + frame.get_kinetic_energy()


def test_nve_conserves_energy_as_well_as_the_single_engine(tmp_path):
    model = schnet()
    settings = md_settings(thermostat="nve", time_ps=0.3, stride=10, timestep_fs=1.0,
                           min_distance=0.05, max_temperature_factor=5)
    start = melt_start(3, temperature=1000.0)
    run_replicas([start], [tmp_path / "b.extxyz"], settings, [0], model="m",
                 batched=model.batched(), progress=False)
    run_md(start, tmp_path / "s.extxyz", settings, model="m", calculator=model.calculator(),
           progress=False)
    drift = {}
    for name in ("b", "s"):
        energies = np.array([_total_energy(f) for f in ase.io.read(tmp_path / f"{name}.extxyz",
                                                                   index=":")])
        drift[name] = np.abs(energies - energies[0]).max() / len(start)
    kinetic = 1.5 * units.kB * 1000.0  # eV per atom moving in and out of the potential
    assert drift["b"] < 1e-3 * kinetic, drift
    assert drift["b"] <= 1.2 * drift["s"] + 1e-9, drift


def test_each_replica_samples_the_canonical_kinetic_energy():
    """Bussi's thermostat: with 3N - 3 degrees of freedom the kinetic energy is Gamma
    distributed with shape (3N - 3)/2 and scale kT. Eight ions make the distribution wide, so
    counting 3N (or any other number) would fail the test."""
    model = schnet(torch.float32, features=8, interactions=1, cutoff=4.0, rbf=8)
    temperature, replicas, every = 1400.0, 16, 25
    settings = md_settings(temperature=temperature, taut_fs=20.0)
    starts = [melt_start(seed, repeat=1) for seed in range(replicas)]
    engine = BatchedEngine(starts, model.batched(), settings, seeds=list(range(replicas)))
    samples = []
    for step in range(1, 2001):
        engine.step()
        if step > 200 and step % every == 0:
            samples.append(engine.kinetic().numpy())
    kinetic = np.concatenate(samples) / (units.kB * temperature)
    ndof = 3 * 8 - 3
    assert stats.kstest(kinetic, stats.gamma(ndof / 2).cdf).pvalue > 1e-3
    assert kinetic.mean() == pytest.approx(ndof / 2, rel=0.03)
    assert stats.kstest(kinetic, stats.gamma(3 * 8 / 2).cdf).pvalue < 1e-6


def test_a_stopped_replica_leaves_and_the_others_go_on(tmp_path):
    starts = [melt_start(seed, temperature=300.0) for seed in range(3)]
    starts[1].positions[1] = starts[1].positions[0] + [1.2, 0.0, 0.0]  # ions 1.2 A apart
    outs = [tmp_path / f"r{k}.extxyz" for k in range(3)]
    statuses = [run.status for run in run_replicas(
        starts, outs, md_settings(thermostat="nve", time_ps=0.1, stride=10), [0, 1, 2],
        model="s", batched=SpringsBatch(starts), progress=False)]
    assert [s.stable for s in statuses] == [True, False, True]
    assert "shortest distance 1.20 A below 1.50 A" in statuses[1].reason
    assert statuses[1].steps == 0 and statuses[1].frames == 1
    assert [s.steps for s in statuses] == [50, 0, 50]
    assert len(ase.io.read(outs[0], index=":")) == 6


def test_guard_schedule_and_reasons_match_the_single_engine(tmp_path):
    """A replica whose forces turn non-finite stops at the step, with the reason and the
    frames, of the same run through ASE; the replica beside it runs on."""
    starts = [melt_start(seed, temperature=300.0) for seed in range(2)]
    settings = md_settings(thermostat="nve", time_ps=0.1, stride=10)
    outs = [tmp_path / f"r{k}.extxyz" for k in range(2)]
    statuses = [run.status for run in run_replicas(
        starts, outs, settings, [0, 1], model="s",
        batched=SpringsBatch(starts, nan_image=1, nan_after=26), progress=False)]
    single = run_md(starts[1], tmp_path / "single.extxyz", replace(settings, seed=1), model="s",
                    calculator=Harmonic(starts[1].positions, nan_after=26),
                    progress=False).status
    assert statuses[0].stable and statuses[0].steps == 50
    assert not statuses[1].stable and statuses[1].reason == single.reason
    assert statuses[1].steps == single.steps == 26  # the 27th call: step 26
    steps = [f.info["md_step"] for f in ase.io.read(outs[1], index=":")]
    assert steps == [f.info["md_step"] for f in ase.io.read(tmp_path / "single.extxyz",
                                                            index=":")] == [0, 10, 20]


class SpringsBatch:
    """test_md's ``Harmonic`` (atoms on springs to their starting sites) as a batched
    potential.

    ``nan_image`` (a replica's index among the starts) gets non-finite forces from call
    ``nan_after`` on; ``interrupt_after`` raises KeyboardInterrupt at that call."""

    cutoff, dtype, device = 3.0, torch.float64, torch.device("cpu")

    def __init__(self, starts, nan_image=None, nan_after=None, interrupt_after=None):
        self.sites = [torch.as_tensor(a.positions) for a in starts]
        self.nan_image, self.nan_after = nan_image, nan_after
        self.interrupt_after, self.calls = interrupt_after, 0

    def __call__(self, numbers, positions, pair_i, pair_j, offsets, image, n_atoms):
        self.calls += 1
        if self.interrupt_after is not None and self.calls > self.interrupt_after:
            raise KeyboardInterrupt
        # The starts are told apart by their first atom's site (replicas leave the batch).
        first = torch.cumsum(n_atoms, 0) - n_atoms
        members = [min(range(len(self.sites)), key=lambda k: float(
            (self.sites[k][0] - positions[f]).norm())) for f in first.tolist()]
        sites = torch.cat([self.sites[k] for k in members])
        forces = -2.0 * (positions - sites)
        energies = torch.zeros(len(n_atoms), dtype=torch.float64).index_add_(
            0, image, (positions - sites).pow(2).sum(1))
        if self.nan_after is not None and self.calls > self.nan_after \
                and self.nan_image in members:
            forces[image == members.index(self.nan_image)] = np.nan
        return energies, forces


def test_an_interrupted_batch_resumes_every_replica_where_it_stopped(tmp_path):
    starts = [melt_start(seed, temperature=300.0) for seed in range(3)]
    starts[2].positions[1] = starts[2].positions[0] + [1.0, 0.0, 0.0]  # stopped at once
    settings = md_settings(thermostat="nve", time_ps=0.2, stride=10)
    whole = [tmp_path / f"whole{k}.extxyz" for k in range(3)]
    run_replicas(starts, whole, settings, [0, 1, 2], model="s", batched=SpringsBatch(starts),
                 progress=False)
    outs = [tmp_path / f"r{k}.extxyz" for k in range(3)]
    with pytest.raises(KeyboardInterrupt):
        run_replicas(starts, outs, settings, [0, 1, 2], model="s",
                     batched=SpringsBatch(starts, interrupt_after=46), progress=False)
    assert outs[2].exists()  # the stopped replica was finished before the interruption
    for out in outs[:2]:
        partial = out.with_name(out.name + ".partial")
        assert not out.exists()
        assert len(ase.io.read(partial, index=":", format="extxyz")) == 5  # steps 0..40
    again = SpringsBatch(starts)
    runs = run_replicas(starts, outs, settings, [0, 1, 2], model="s", batched=again,
                        progress=False)
    assert runs[2].outcome.already and not runs[2].status.stable
    assert [(r.outcome.computed, r.outcome.reused) for r in runs[:2]] == [(60, 40)] * 2
    assert [r.status.frames for r in runs[:2]] == [11, 11] and again.calls == 1 + 60
    for a, b in zip(whole[:2], outs[:2], strict=True):
        fa, fb = ase.io.read(a, index=":"), ase.io.read(b, index=":")
        assert [f.info["md_step"] for f in fb] == list(range(0, 101, 10))
        np.testing.assert_allclose(fb[-1].positions, fa[-1].positions, atol=1e-5)


def test_replicas_need_distinct_outputs_and_one_seed_each(tmp_path):
    model = schnet()
    start = melt_start(0)
    with pytest.raises(InputError, match="same trajectory"):
        run_replicas([start, start], [tmp_path / "a.extxyz"] * 2, md_settings(), [0, 1],
                     model="m", batched=model.batched(), progress=False)
    with pytest.raises(ValueError, match="one seed per replica"):
        run_replicas([start], [tmp_path / "a.extxyz"], md_settings(), [0, 1], model="m",
                     batched=model.batched(), progress=False)


def test_guard_judges_as_the_single_checks_do():
    guard = Guard(1.5, 2800.0)
    assert guard.judge(True, 2000.0) is None
    assert guard.judge(True, 2900.0) == "temperature 2900 K above 2800 K"
    assert guard.judge(False, 2000.0) == "non-finite energy, forces or momenta"
    assert guard.judge_distance(1.49) == "shortest distance 1.49 A below 1.50 A"
    assert guard.judge_distance(1.51) is None


def test_freed_memory_is_reused_without_page_faults():
    """A step frees and allocates the same large buffers: once the heap holds them, none
    may have to be faulted in from the system again (glibc's default returns them and faults
    them back: about 1,000 faults for each buffer each time)."""
    import resource

    if not keep_freed_memory():
        pytest.skip("malloc is not glibc's")

    def step():
        for n in (1_000_000, 2_000_000, 1_500_000, 3_000_000):  # 4-12 MB, as at 8 replicas
            buffer = torch.ones(n)
            del buffer

    faults = []
    for _ in range(10):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        step()
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    assert sum(faults[5:]) < 100, faults  # the first few may still lay out the heap


def test_the_gpu_race_is_between_engines_on_one_model():
    """``bench_md.BatchedReplicasOnGPU`` races our batch against schnetpack.md's ``Simulator``
    (on a GPU; its code runs on the CPU here): the Simulator's forces on each of its replicas
    are the model's own on the start, to the float32 rounding of the Simulator's positions."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from benchmarks.bench_md import _start, schnet, schnetpack_simulator

    model = schnet(torch.float64)
    start = _start(216)
    simulator = schnetpack_simulator(model.network, start, 2, model.batched().cutoff,
                                     torch.device("cpu"))
    simulator.calculator.calculate(simulator.system)
    theirs = (simulator.system.forces / simulator.calculator.force_conversion).numpy()
    _, ours = model.predict(start)
    for replica in theirs:
        np.testing.assert_allclose(replica, ours, atol=1e-5 * np.abs(ours).max())
