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

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from tqdm.auto import tqdm

from mlipselect.config import check_md
from mlipselect.errors import InputError
from mlipselect.io import OutputExistsError, appending, atomic_path, claim_output, commit_file
from mlipselect.md.engines import AseEngine, LammpsEngine
from mlipselect.md.guard import Guard, temperature
from mlipselect.pool.frames_io import cut_to_complete_frames
from mlipselect.reference.bmhtf import SPECIES


def status_path(out) -> Path:
    """Where the status of the trajectory ``out`` is recorded: ``out`` with suffix ``.json``."""
    return Path(out).with_suffix(".json")


def read_status(out) -> dict:
    """The status of a finished trajectory: ``stable``, ``reason``, ``time_ps``, ``steps``,
    ``frames``, ``model``, ``potential``, ``engine``, ``settings``, ``wall_s`` and
    ``ps_per_s`` (of the last invocation, which may have resumed an earlier one)."""
    path = status_path(out)
    try:
        return json.loads(path.read_text())
    except OSError as err:
        raise InputError(f"{path}: cannot read the MD status ({err.strerror})") from None


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


def run_key(start: Atoms, settings: dict, model: str) -> str:
    """Identifies a run: a partial trajectory resumes only under the same key."""
    digest = hashlib.sha256(json.dumps({"settings": settings, "model": model}, sort_keys=True)
                            .encode())
    for array in (start.numbers, start.positions, start.cell[:]):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def _run_of(trajectory: Path) -> str | None:
    try:
        return ase.io.read(trajectory, index=0, format="extxyz").info.get("md_run")
    except Exception:  # an empty or foreign file belongs to no run
        return None


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


def run_md(start: Atoms, out, settings: dict, model: str, calculator=None,
           reference: dict | None = None, progress: bool = True,
           overwrite: bool = False, potential: dict | None = None, species=None) -> dict:
    """Run MD from ``start`` and write the trajectory to ``out`` (extxyz); return the status.

    Parameters
    ----------
    start : ase.Atoms
        Starting configuration, periodic; its momenta are used when it has any.
    out : path
        Trajectory to write; the status goes to :func:`status_path` ``(out)``.
    settings : dict
        The profile's ``md`` section (see ``mlipselect.config.SCHEMA``).
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
    dict
        The status (:func:`read_status`), with ``"already_done": True`` when ``out`` already
        held this run and nothing was done.
    """
    settings = check_md(dict(settings))
    if (calculator is None) == (reference is None):
        raise ValueError("run_md needs either a calculator or the reference settings")
    if species is None and (reference is not None or model == "reference"):
        species = [atomic_numbers[s] for s in SPECIES]
    check_start(start, range(len(chemical_symbols)) if species is None else species,
                f"the start of {out}")
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    engine_name = "ase" if reference is None else "lammps"
    start = starting_state(start, settings["temperature"], settings["seed"])
    key = run_key(start, settings, f"{model} ({engine_name})")
    dt_fs = float(settings["timestep_fs"])
    total = int(round(settings["time_ps"] * 1000 / dt_fs))
    stride = int(settings["stride"])
    guard = Guard(settings["min_distance"],
                  settings["max_temperature_factor"] * settings["temperature"])

    if claim_output(out, overwrite, done=lambda p: _run_of(p) == key
                    and status_path(p).is_file()):
        return {**read_status(out), "already_done": True}
    # The lock on the partial trajectory is held from reading its last frame to renaming it.
    with appending(partial) as fh:
        resumed = _resume_point(fh, partial, key, overwrite)
        state = start if resumed is None else starting_state(resumed, 0.0, 0)
        step = 0 if resumed is None else int(resumed.info["md_step"])
        n_frames = 0 if resumed is None else int(resumed.info["md_frame"]) + 1
        seed_now = np.random.SeedSequence([int(settings["seed"]), step])
        engine: LammpsEngine | AseEngine
        if reference is not None:
            lammps_seed = int(seed_now.generate_state(1)[0] % 900_000_000) + 1  # LAMMPS' range
            engine = LammpsEngine(state, reference, settings, lammps_seed)
        else:
            engine = AseEngine(state, calculator, settings, seed_now)

        def write(fh, frame: Atoms) -> None:
            nonlocal n_frames
            frame.info.update(time=step * dt_fs, md_step=step, md_frame=n_frames, md_run=key,
                              temperature=temperature(frame.get_momenta(), frame.get_masses()))
            ase.io.write(fh, frame, format="extxyz")
            fh.flush()
            n_frames += 1

        wall, first_step = time.perf_counter(), step
        reason = None
        try:
            with tqdm(
                total=round(total * dt_fs / 1000, 6), initial=round(step * dt_fs / 1000, 6),
                unit="ps", desc=f"md {model}", disable=not progress, leave=False,
            ) as bar:
                if resumed is None:
                    reason = engine.check(guard)
                    if _finite(engine.frame()):
                        write(fh, engine.frame())
                while reason is None and step < total:
                    done, reason = engine.advance(min(stride, total - step), guard)
                    step += done
                    bar.update(done * dt_fs / 1000)
                    frame = engine.frame()
                    if reason is None or _finite(frame):
                        write(fh, frame)
        finally:
            engine.close()
        wall_s = time.perf_counter() - wall
        status: dict[str, Any] = {
            "stable": reason is None,
            "reason": reason,
            "time_ps": step * dt_fs / 1000,
            "steps": step,
            "frames": n_frames,
            "model": model,
            "potential": potential or {},
            "engine": engine_name,
            "settings": settings,
        }
        status.update(wall_s=wall_s, ps_per_s=(step - first_step) * dt_fs / 1000 / wall_s)
        with atomic_path(status_path(out)) as tmp:
            tmp.write_text(json.dumps(status, indent=2) + "\n")
        commit_file(partial, out)
    return status


def _finite(frame: Atoms) -> bool:
    return bool(np.isfinite(frame.positions).all() and np.isfinite(frame.get_forces()).all()
                and np.isfinite(frame.get_potential_energy()))
