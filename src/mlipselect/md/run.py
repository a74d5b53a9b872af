"""NVT (or NVE) MD from a starting frame, written as it runs, stopped by the stability guard.

Frames go to ``OUT.partial`` as they are made (extxyz, flushed frame by frame); when the run
ends, the run's status is written to ``OUT.json`` (see :func:`status_path`) and the partial
file is renamed to ``OUT``. So ``OUT`` exists only for a finished run; a rerun of a finished
run does nothing, and a rerun of an interrupted one resumes from the last complete frame in
``OUT.partial`` (the thermostat's random stream restarts from a seed derived from the step).
Every frame records the run it belongs to (settings, model and start): a partial or finished
trajectory of another run is replaced only with ``overwrite``.

A run the guard stops is a result, not an error: its status says ``"stable": false`` with the
reason and the time, and the frames up to the stop are kept (the offending configuration too
when its numbers are finite).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import ase.io
import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from tqdm.auto import tqdm

from mlipselect.config import MD
from mlipselect.errors import InputError
from mlipselect.io import (
    ALREADY,
    Outcome,
    OutputExistsError,
    appending,
    atomic_path,
    claim_output,
    commit_file,
    work_key,
)
from mlipselect.md.engines import AseEngine, LammpsEngine
from mlipselect.md.guard import Guard, temperature
from mlipselect.pool.frames_io import cut_to_complete_frames, first_frame_info
from mlipselect.reference.bmhtf import SPECIES


def status_path(out) -> Path:
    """Where the status of the trajectory ``out`` is recorded: ``out`` with suffix ``.json``."""
    return Path(out).with_suffix(".json")


@dataclass(frozen=True)
class Status:
    """What became of a finished run, as its status file records it: ``stable`` (or the
    guard's ``reason`` for stopping it at ``time_ps``, after ``steps``), the ``frames``
    stored, the ``model`` and ``potential`` that drove it, the ``engine``, the ``settings``,
    and ``wall_s`` and ``ps_per_s`` of the last invocation (which may have resumed an earlier
    one)."""

    stable: bool
    reason: str | None
    time_ps: float
    steps: int
    frames: int
    model: str
    potential: dict
    engine: str
    settings: MD
    wall_s: float
    ps_per_s: float

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def read(cls, path) -> Status:
        """The status recorded in the file ``path``."""
        try:
            data = json.loads(Path(path).read_text())
            return cls(**{**data, "settings": MD(**data["settings"])})
        except OSError as err:
            raise InputError(f"{path}: cannot read the MD status ({err.strerror})") from None
        except (ValueError, TypeError, KeyError) as err:
            raise InputError(f"{path}: not an MD status ({err})") from None


def read_status(out) -> Status:
    """The status of the finished trajectory ``out`` (from :func:`status_path`)."""
    return Status.read(status_path(out))


def starting_state(start: Atoms, temperature_k: float, seed: int) -> Atoms:
    """``start`` with momenta: its own if it has any, else Maxwell-Boltzmann at
    ``temperature_k`` drawn with ``seed``; the total momentum is removed."""
    atoms = Atoms(numbers=start.numbers, positions=start.positions, cell=start.cell, pbc=True)
    momenta = start.get_momenta()
    if np.any(momenta):
        atoms.set_momenta(momenta)
    else:
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k,
                                     rng=np.random.default_rng(seed))
    masses = atoms.get_masses()
    atoms.set_momenta(atoms.get_momenta()
                      - masses[:, None] * atoms.get_momenta().sum(0) / masses.sum())
    return atoms


def check_start(start: Atoms, species, where: str) -> None:
    """Refuse, before any work, a start an MD run cannot take: a cell that is not periodic in
    all three directions (or has no volume), or species outside those the potential knows
    (atomic numbers ``species``)."""
    if not start.pbc.all() or start.cell.volume < 1e-6:
        raise InputError(f"{where}: the start must be periodic in all three directions with a "
                         f"cell (pbc {start.pbc.tolist()}, volume {start.cell.volume:.3g} A^3); "
                         "MD here runs bulk systems")
    unknown = sorted(set(start.get_chemical_symbols())
                     - {chemical_symbols[z] for z in species})
    if unknown:
        known = ", ".join(chemical_symbols[z] for z in sorted(species))
        raise InputError(f"{where}: holds {', '.join(unknown)}, which the potential does not "
                         f"know (it knows {known})")


def run_key(start: Atoms, settings: MD, model: str) -> str:
    """Identifies a run: a partial trajectory resumes only under the same key."""
    return work_key({"settings": asdict(settings), "model": model},
                    arrays=[start.numbers, start.positions, start.cell[:]])


def _run_of(trajectory: Path) -> str | None:
    return first_frame_info(trajectory, "md_run", "extxyz")


def _resume_point(fh, partial: Path, key: str, overwrite: bool) -> Atoms | None:
    """The last complete frame of this run's partial trajectory (open as ``fh``), if any."""
    if cut_to_complete_frames(partial) == 0:
        return None
    if _run_of(partial) != key:
        if not overwrite:
            raise OutputExistsError(f"{partial}: left by a run with other settings, model or "
                                    "start; pass --overwrite to start afresh")
        fh.truncate(0)
        return None
    return ase.io.read(partial, index=-1, format="extxyz")


@dataclass(frozen=True)
class MDRun:
    """An MD run's ``status`` (as :func:`read_status` reads it) and what this call did:
    ``outcome.computed`` steps run now, ``outcome.reused`` steps an interrupted run had
    already made, ``outcome.already`` when the trajectory held the finished run."""

    status: Status
    outcome: Outcome

    def describe(self, out) -> str:
        """One line for the user: what became of the run written to ``out``."""
        status = self.status
        if self.outcome.already:
            return f"{out} already holds this run; nothing to do"
        if status.stable:
            return (f"completed {status.time_ps:g} ps ({status.ps_per_s:.3g} ps/s, "
                    f"{status.engine}), {status.frames} frames -> {out}")
        return (f"stopped by the stability guard at {status.time_ps:g} ps: "
                f"{status.reason}; {status.frames} frames kept in {out}, status in "
                f"{status_path(out)}")


class _Trajectory:
    """One run's files: the partial trajectory it writes as frames come (and resumes from
    after an interruption) and, when it ends, its status and the finished trajectory."""

    def __init__(self, start: Atoms, out, settings: MD, model: str, engine: str,
                 potential: dict | None, overwrite: bool):
        self.out, self.settings, self.model = Path(out), settings, model
        self.partial = self.out.with_name(self.out.name + ".partial")
        self.engine, self.potential, self.overwrite = engine, potential or {}, overwrite
        self.start = starting_state(start, settings.temperature, settings.seed)
        self.key = run_key(self.start, settings, f"{model} ({engine})")
        self.dt_fs = float(settings.timestep_fs)
        self.total, self.stride = settings.steps, settings.stride
        self.step = self.frames = self.first_step = 0
        self.began = time.perf_counter()

    def finished(self) -> MDRun | None:
        """Claim the output; this very run when ``out`` already holds it."""
        if claim_output(self.out, self.overwrite, done=lambda p: _run_of(p) == self.key
                        and status_path(p).is_file()):
            return MDRun(read_status(self.out), ALREADY)
        return None

    def open(self, stack: ExitStack) -> Atoms:
        """Lock the partial trajectory (until ``stack`` closes) and return the state to go on
        from: the start, or the last frame an interrupted run of this key left."""
        self.fh = stack.enter_context(appending(self.partial))
        resumed = _resume_point(self.fh, self.partial, self.key, self.overwrite)
        if resumed is None:
            return self.start
        self.step = self.first_step = int(resumed.info["md_step"])
        self.frames = int(resumed.info["md_frame"]) + 1
        return starting_state(resumed, 0.0, 0)

    @property
    def thermostat_seed(self) -> np.random.SeedSequence:
        """The thermostat's stream from the current step: a resumed run draws afresh."""
        return np.random.SeedSequence([self.settings.seed, self.step])

    def write(self, frame: Atoms) -> None:
        frame.info.update(time=self.step * self.dt_fs, md_step=self.step, md_frame=self.frames,
                          md_run=self.key,
                          temperature=temperature(frame.get_momenta(), frame.get_masses()))
        ase.io.write(self.fh, frame, format="extxyz")
        self.fh.flush()
        self.frames += 1

    def finish(self, reason: str | None) -> MDRun:
        """Write the status and make the trajectory final."""
        wall_s = time.perf_counter() - self.began
        status = Status(
            stable=reason is None, reason=reason, time_ps=self.step * self.dt_fs / 1000,
            steps=self.step, frames=self.frames, model=self.model, potential=self.potential,
            engine=self.engine, settings=self.settings, wall_s=wall_s,
            ps_per_s=(self.step - self.first_step) * self.dt_fs / 1000 / wall_s)
        with atomic_path(status_path(self.out)) as tmp:
            tmp.write_text(json.dumps(status.to_json(), indent=2) + "\n")
        commit_file(self.partial, self.out)
        return MDRun(status, Outcome(computed=self.step - self.first_step,
                                     reused=self.first_step))


def _species(calculator, reference, batched, model: str, species):
    """The species a start may hold; one potential given, or a ValueError."""
    if sum(x is not None for x in (calculator, reference, batched)) != 1:
        raise ValueError("MD needs one of a calculator, a batched potential or the reference")
    if species is None and (reference is not None or model == "reference"):
        species = [atomic_numbers[s] for s in SPECIES]
    return range(len(chemical_symbols)) if species is None else species


def run_md(start: Atoms, out, settings: MD, model: str, calculator=None,
           reference: dict | None = None, progress: bool = True,
           overwrite: bool = False, potential: dict | None = None, species=None) -> MDRun:
    """Run MD from ``start`` and write the trajectory to ``out`` (extxyz).

    Parameters
    ----------
    start : ase.Atoms
        Starting configuration, periodic; its momenta are used when it has any.
    out : path
        Trajectory to write; the status goes to :func:`status_path` ``(out)``.
    settings : mlipselect.config.MD
        The profile's ``md`` section (``profile.md``, or ``MD(temperature=..., ...)``).
    model : str
        Names the potential in the status (``"reference"`` or a model directory).
    calculator : ase.calculators.calculator.Calculator
        The potential, integrated through ASE.
    reference : dict
        Instead of ``calculator``: BMHTF settings (the profile's ``reference`` section); the
        reference then runs inside LAMMPS with the same protocol.
    progress : bool
        Show a progress bar in simulated ps with ps per wall-clock second.
    overwrite : bool
        Replace a trajectory, finished or partial, of another run (or of this one) at ``out``.
    potential : dict
        What drove the run (a model's family, size, seed and training set), kept in the
        status as ``potential`` (``mlipselect md`` gives ``{"family": "reference"}`` for the
        reference).
    species : iterable of int, optional
        Atomic numbers the potential knows (a model's ``species``); a start holding others is
        refused before any work, as is one not periodic in three directions. Default: Na and
        Cl for the reference (``reference`` given, or ``model == "reference"``), no species
        check for another ``calculator``.

    Returns
    -------
    MDRun
        The run's status (:func:`read_status`) and what this call did.
    """
    species = _species(calculator, reference, None, model, species)
    check_start(start, species, f"the start of {out}")
    run = _Trajectory(start, out, settings, model, "ase" if reference is None else "lammps",
                      potential, overwrite)
    done = run.finished()
    if done is not None:
        return done
    guard = Guard(settings.min_distance,
                  settings.max_temperature_factor * settings.temperature)
    # The lock on the partial trajectory is held from reading its last frame to renaming it.
    with ExitStack() as stack:
        state = run.open(stack)
        resumed = run.step > 0 or run.frames > 0
        engine: LammpsEngine | AseEngine
        if reference is not None:
            lammps_seed = int(run.thermostat_seed.generate_state(1)[0] % 900_000_000) + 1
            engine = LammpsEngine(state, reference, settings, lammps_seed)
        else:
            engine = AseEngine(state, calculator, settings, run.thermostat_seed)
        stack.callback(engine.close)
        reason = None
        with _progress(run, progress, f"md {model}") as bar:
            if not resumed:
                reason = engine.check(guard)
                if _finite(engine.frame()):
                    run.write(engine.frame())
            while reason is None and run.step < run.total:
                done_steps, reason = engine.advance(min(run.stride, run.total - run.step), guard)
                run.step += done_steps
                bar.update(done_steps * run.dt_fs / 1000)
                frame = engine.frame()
                if reason is None or _finite(frame):
                    run.write(frame)
        return run.finish(reason)


def run_replicas(starts: list[Atoms], outs: list, settings: MD, seeds: list[int],
                 model: str, batched, progress: bool = True, overwrite: bool = False,
                 potential: dict | None = None, species=None) -> list[MDRun]:
    """Run MD of many replicas of one model as one batch (:mod:`mlipselect.md.batched`): one
    model call per step for every replica still running.

    Each replica is a run of its own, exactly as :func:`run_md` makes one: its start
    ``starts[k]``, thermostat seed ``seeds[k]`` (also drawing its momenta where the start has
    none), trajectory ``outs[k]``, status, guard and resume point. A replica the guard stops
    or that reaches the end is finished at once and leaves the batch; the others go on. A
    rerun resumes every replica where its partial trajectory ends, and does nothing for one
    already finished.

    Parameters
    ----------
    batched : mlipselect.models.base.BatchedPotential
        The model (``Potential.batched()``); the other parameters are :func:`run_md`'s.

    Returns
    -------
    list of MDRun
        Each replica's run, in the order of ``outs``.
    """
    from mlipselect.md.batched import BatchedEngine

    if not len(starts) == len(outs) == len(seeds):
        raise ValueError("one start, one output and one seed per replica")
    if len({Path(o).resolve() for o in outs}) < len(outs):
        raise InputError("two replicas would write the same trajectory")
    species = _species(None, None, batched, model, species)
    for start, out in zip(starts, outs, strict=True):
        check_start(start, species, f"the start of {out}")
    runs = [_Trajectory(start, out, replace(settings, seed=int(seed)), model, "batched",
                        potential, overwrite)
            for start, out, seed in zip(starts, outs, seeds, strict=True)]
    results = [run.finished() for run in runs]
    slots = [k for k, result in enumerate(results) if result is None]
    todo = [runs[k] for k in slots]
    guard = Guard(settings.min_distance,
                  settings.max_temperature_factor * settings.temperature)
    every = int(settings.guard_every)
    # The locks on the partial trajectories are held from reading their last frames to
    # renaming them.
    with ExitStack() as stack:
        states = [run.open(stack) for run in todo]
        if not todo:
            return cast(list[MDRun], results)
        engine = BatchedEngine(states, batched, settings, [r.thermostat_seed for r in todo])
        since_distance = [0] * len(todo)

        def record(reasons: list[str | None], due: list[bool]) -> None:
            """Write the frames due; finish and take out the replicas that end."""
            leaving = []
            for b, (member, reason) in enumerate(zip(engine.members, reasons, strict=True)):
                run = todo[member]
                if due[b] or reason is not None:
                    frame = engine.frame(b)
                    if reason is None or _finite(frame):
                        run.write(frame)
                if reason is not None or run.step >= run.total:
                    results[slots[member]] = run.finish(reason)
                    leaving.append(b)
            if leaving:
                engine.remove(leaving)

        remaining = sum(run.total - run.step for run in todo)
        with _progress(None, progress, f"md {model} x{len(todo)}", remaining) as bar:
            # A fresh replica's start is checked and written; a resumed one goes on.
            fresh = [todo[m].frames == 0 for m in engine.members]
            record([r if f else None for r, f in zip(engine.check(guard, fresh), fresh,
                                                      strict=True)], fresh)
            while engine.members:
                engine.step()
                check_distance, write = [], []
                for member in engine.members:
                    run = todo[member]
                    run.step += 1
                    since_distance[member] += 1
                    write.append(run.step % run.stride == 0 or run.step == run.total)
                    check_distance.append(since_distance[member] >= every or write[-1])
                    if check_distance[-1]:
                        since_distance[member] = 0
                bar.update(len(engine.members))
                record(engine.check(guard, check_distance), write)
    return cast(list[MDRun], results)


def read_starts(path, indices: list[int], outs: list, model_dir=None,
                momenta: bool = True) -> list[Atoms]:
    """The start of each run in ``outs``: frame ``indices[k]`` of ``path`` (one index serves
    every run), with its momenta, or without them (``momenta`` False: each run then draws
    Maxwell-Boltzmann momenta from its seed); none of ``outs`` may be ``path`` or the model
    directory ``model_dir``."""
    from mlipselect.io import check_not_input

    if len(indices) not in (1, len(outs)):
        raise InputError(f"{len(indices)} start frames for {len(outs)} runs: give one for all "
                         "or one per run")
    for out in outs:
        check_not_input(out, [path, model_dir])
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    try:
        frames = ase.io.read(path, index=":")
    except Exception as err:  # ASE's readers raise many kinds for malformed files
        raise InputError(f"{path}: cannot read ({type(err).__name__}: {err})") from None
    starts = []
    for index in indices * (len(outs) // len(indices)):
        if not -len(frames) <= index < len(frames):
            raise InputError(f"{path}: no frame {index} (it holds {len(frames)})")
        start = frames[index].copy()
        if not momenta:
            start.set_momenta(np.zeros((len(start), 3)))
        starts.append(start)
    return starts


def replica_seeds(seeds: list[int], runs: int) -> list[int]:
    """A thermostat seed per run: ``seeds`` itself, or ``S, S+1, ...`` from a single ``S``."""
    if len(seeds) == 1:
        return [seeds[0] + k for k in range(runs)]
    if len(seeds) != runs:
        raise InputError(f"{len(seeds)} seeds for {runs} runs: give one per run, or one S "
                         "for S, S+1, ...")
    return list(seeds)


def simulate(starts: list[Atoms], outs: list, settings: MD, seeds: list[int], name: str,
             model=None, reference: dict | None = None, engine: str | None = None,
             progress: bool = True, overwrite: bool = False) -> list[MDRun]:
    """MD runs of a trained model, or of the BMHTF reference, by the engine that suits it.

    Parameters
    ----------
    starts, outs, seeds : list
        One start, trajectory and thermostat seed per run (see :func:`run_replicas`).
    name : str
        Names the potential in the runs' statuses (a model directory, or ``reference``).
    model : mlipselect.models.Potential, optional
        The potential; None runs the reference with the ``reference`` settings.
    engine : str, optional
        ``batched`` (every run in one batch; models with a batched form), ``ase`` (one run
        after another through ASE) or ``lammps`` (the reference only). Default: ``batched``
        where the model has a batched form, else ``ase``; for the reference
        ``settings.reference_engine``.

    Returns
    -------
    list of MDRun
        Each run, in the order of ``outs``.
    """
    batched = model.batched() if model is not None else None
    if engine is None:
        engine = ("batched" if batched is not None else "ase") if model is not None \
            else settings.reference_engine
    if engine == "batched" and batched is None:
        raise InputError(f"{name}: the {'reference' if model is None else model.family} "
                         "potential has no batched form; use --engine ase")
    if engine == "lammps" and model is not None:
        raise InputError(f"{name}: --engine lammps runs the reference only")
    if model is None:
        potential, species = {"family": "reference"}, None
    else:
        potential = {k: model.manifest[k] for k in ("family", "size", "seed", "train")}
        species = model.species
    if engine == "batched":
        return run_replicas(starts, outs, settings, seeds, name, batched, progress=progress,
                            overwrite=overwrite, potential=potential, species=species)
    kwargs: dict[str, Any]
    if model is not None:
        kwargs = {"calculator": model.calculator()}
    elif engine == "ase":
        from mlipselect.reference.calculator import BMHTF

        kwargs = {"calculator": BMHTF(**(reference or {}))}
    else:
        kwargs = {"reference": reference or {}}
    return [run_md(start, out, replace(settings, seed=int(seed)), name, progress=progress,
                   overwrite=overwrite, potential=potential, species=species, **kwargs)
            for start, out, seed in zip(starts, outs, seeds, strict=True)]


def simulate_files(model_dir, start, outs: list, settings: MD, start_frames=(-1,),
                   seeds: list[int] | None = None, fresh_momenta: bool = False,
                   reference: dict | None = None, engine: str | None = None,
                   progress: bool = True, overwrite: bool = False,
                   log: Callable[[str], None] = lambda line: None) -> list[MDRun]:
    """What ``mlipselect md`` does: runs of the model saved in ``model_dir`` (or of the BMHTF
    reference with the ``reference`` settings, for ``"reference"``), each from its frame of
    the file ``start`` (:func:`read_starts`; ``fresh_momenta`` drops the frames' momenta) with
    its seed (:func:`replica_seeds`; default ``settings.seed`` and on), written to ``outs`` by
    :func:`simulate`. ``log`` is told what will run once the inputs are read."""
    model = None
    if str(model_dir) != "reference":
        from mlipselect.models import load_model

        model = load_model(model_dir)
    starts = read_starts(start, list(start_frames), outs, None if model is None else model_dir,
                         momenta=not fresh_momenta)
    seeds = replica_seeds(list(seeds or [settings.seed]), len(outs))
    log(f"{len(outs)} run(s) of {settings.time_ps} ps at {settings.temperature} K "
        f"({settings.thermostat})")
    return simulate(starts, outs, settings, seeds, str(model_dir), model=model,
                    reference=reference, engine=engine, progress=progress, overwrite=overwrite)


@contextmanager
def _progress(run: _Trajectory | None, progress: bool, desc: str, steps: int | None = None):
    """A progress bar in simulated ps (one run) or replica-steps (a batch)."""
    if run is not None:
        bar = tqdm(total=round(run.total * run.dt_fs / 1000, 6),
                   initial=round(run.step * run.dt_fs / 1000, 6), unit="ps", desc=desc,
                   disable=not progress, leave=False)
    else:
        bar = tqdm(total=steps, unit="replica-step", unit_scale=True, desc=desc,
                   disable=not progress, leave=False)
    with bar:
        yield bar


def _finite(frame: Atoms) -> bool:
    return bool(np.isfinite(frame.positions).all() and np.isfinite(frame.get_forces()).all()
                and np.isfinite(frame.get_potential_energy()))
