"""Sample the pool: BMHTF NaCl MD inside LAMMPS at a grid of state points.

Each state point starts from the rocksalt crystal, is melted first when its phase is
``melt``, equilibrates, then stores a frame every ``every`` steps. LAMMPS integrates all
steps; Python only gathers the frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from ase import units
from ase.build import bulk
from tqdm.auto import tqdm

from mlipselect.config import Profile, Sample, State
from mlipselect.errors import InputError
from mlipselect.io import work_key
from mlipselect.pool.store import PoolWriter
from mlipselect.reference.lammps import NaClLammps

# LAMMPS metal velocities are A/ps; ASE's time unit is units.fs fs.
ASE_VELOCITY_PER_A_PS = 1e-3 / units.fs


class SamplingError(RuntimeError):
    """A state point whose MD failed (lost atoms, non-finite numbers)."""


def rocksalt(repeat: int, lattice_constant: float):
    """The NaCl rocksalt crystal of ``8 * repeat**3`` ions."""
    return bulk("NaCl", "rocksalt", a=lattice_constant, cubic=True).repeat(repeat)


def state_seed(seed: int, index: int) -> int:
    """A LAMMPS velocity seed (1 .. 2**31-2) for state point ``index`` of a run seeded ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] % (2**31 - 2)) + 1


def _ensemble_fixes(state: State, dt_fs: float, temperature: float | None = None,
                    relax: bool = False) -> list[str]:
    """LAMMPS fixes for a state point; ``relax`` swaps the Nose-Hoover barostat for a
    Berendsen one, which brings the volume of a freshly melted liquid to its density in a few
    ps instead of tens."""
    t = state.temperature if temperature is None else temperature
    tdamp, pdamp = 100 * dt_fs / 1000, 1000 * dt_fs / 1000  # ps
    p = state.pressure
    if state.ensemble == "nve":
        return ["fix md all nve"]
    if state.ensemble == "npt" and not relax:
        return [f"fix md all npt temp {t} {t} {tdamp} iso {p} {p} {pdamp}"]
    fixes = [f"fix md all nvt temp {t} {t} {tdamp}"]
    if state.ensemble == "npt":
        # Modulus ~ the melt's bulk modulus (bar): the relaxation time is about pdamp.
        fixes.append(f"fix baro all press/berendsen iso {p} {p} {pdamp / 2} modulus 25000")
    return fixes


def _apply(lmp: NaClLammps, fixes: list[str], steps: int) -> None:
    for fix in fixes:
        lmp.command(fix)
    lmp.command(f"run {steps}")
    for fix in fixes:
        lmp.command(f"unfix {fix.split()[1]}")


class StateRun:
    """One state point of a profile, brought up to production inside LAMMPS.

    ``StateRun(profile, index)`` builds the crystal, melts it when the phase is ``melt``,
    equilibrates, and leaves the production ensemble in place; ``run_frames`` then advances
    ``every`` steps per frame. The sampler and the bare-LAMMPS benchmark share this set-up, so
    they time the same input.
    """

    def __init__(self, profile: Profile, index: int):
        cfg = profile.sample
        self.state = cfg.states[index]
        self.index, self.dt, self.every = index, cfg.timestep_fs, cfg.every
        self.n_frames = max(1, self._steps(cfg.production_ps) // self.every)
        self.seed = state_seed(cfg.seed, index)
        self.atoms = rocksalt(profile.system.repeat, profile.system.lattice_constant)
        self.lmp = NaClLammps(self.atoms, **profile.section("reference"))
        try:
            self._equilibrate(cfg)
        except Exception as err:  # LAMMPS raises plain Exception for lost atoms and the like
            self.close()
            raise SamplingError(f"state point '{self.state.name}' failed: {err}") from err

    def _steps(self, ps: float) -> int:
        return int(round(ps * 1000 / self.dt))

    def _equilibrate(self, cfg: Sample) -> None:
        lmp, state, dt = self.lmp, self.state, self.dt
        lmp.command(f"timestep {dt / 1000}")
        lmp.command("compute pesum all reduce sum c_peatom")  # tallies per-atom energies
        lmp.command(f"thermo {self.every}")
        lmp.command("thermo_style custom step temp pe press c_pesum")
        start_t = cfg.melt_temperature if state.phase == "melt" else state.temperature
        lmp.command(f"velocity all create {start_t} {self.seed} mom yes rot no dist gaussian")
        if state.phase == "melt":
            _apply(lmp, _ensemble_fixes(state, dt, start_t, relax=True),
                   self._steps(cfg.melt_ps))
        _apply(lmp, _ensemble_fixes(state, dt, relax=True), self._steps(cfg.equilibrate_ps))
        for fix in _ensemble_fixes(state, dt):
            lmp.command(fix)
        lmp.command("reset_timestep 0")

    def run_frames(self):
        """Advance frame by frame; yield ``(frame, per_atom)`` pool columns for each."""
        name = self.state.name
        try:
            for k in range(self.n_frames):
                self.lmp.command(f"run {self.every}" + (" pre no post no" if k else " post no"))
                frame, per_atom = lammps_frame(self.lmp, self.atoms)
                frame.update(
                    temperature=[self.lmp.lmp.get_thermo("temp")],
                    pressure=[self.lmp.lmp.get_thermo("press")],
                    time=[(k + 1) * self.every * self.dt],
                    state=[self.index],
                    seed=[self.seed],
                )
                yield frame, per_atom
        except Exception as err:
            raise SamplingError(f"state point '{name}' failed: {err}") from err

    def write(self, out, metadata: dict, progress: bool = True) -> int:
        """Run the production and write its frames as a pool at ``out``; returns the count."""
        name = self.state.name
        try:
            with PoolWriter(out, metadata=metadata) as writer:
                frames = tqdm(self.run_frames(), total=self.n_frames, desc=name, unit="frame",
                              disable=not progress, leave=False)
                for k, (frame, per_atom) in enumerate(frames):
                    writer.append_columns(frame, per_atom, where=f"state '{name}', frame {k}")
        except InputError as err:  # a non-finite number in a frame
            raise SamplingError(f"state point '{name}' failed: {err}") from err
        return self.n_frames

    def close(self) -> None:
        self.lmp.close()


def sample_state(profile: Profile, index: int, out, progress: bool = True) -> int:
    """Run state point ``index`` of ``profile`` and write its frames as a pool at ``out``,
    whose metadata records the work (``state_work``).

    Returns the number of frames written. Raises ``SamplingError`` naming the state point
    when LAMMPS fails or a number is not finite; nothing is written then.
    """
    run = StateRun(profile, index)
    try:
        metadata = {**pool_metadata(profile), "work": state_work(profile, index)}
        return run.write(out, metadata, progress)
    finally:
        run.close()


@dataclass(frozen=True)
class Sampled:
    """What :func:`sample_states` did: the ``frames`` written to ``out`` (None where it
    already held them, ``reused``, or a state point failed), the state points ``kept`` from
    an earlier run and the ``failed`` ones with their errors."""

    out: Path
    frames: int | None
    reused: bool = False
    kept: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


def _sample_part(profile: Profile, index: int, out, progress: bool) -> int:
    return sample_state(profile, index, out, progress)


def sample_states(profile: Profile, out, states: list[str] | None = None,
                  jobs: int | None = None,
                  threads: int | None = None, overwrite: bool = False, progress: bool = True,
                  log: Callable[[str], None] = lambda message: None) -> Sampled:
    """Sample the state points ``states`` of ``profile`` (default: all of
    ``sample.states``) into the pool ``out``.

    A single state point is written to ``out`` directly; several go each into a part file
    (``OUT.parts/NAME.h5``), ``jobs`` at a time (default ``sample.jobs``), and are merged into
    ``out`` when all are done. Finished parts are kept, so an interrupted run resumes with the
    state points still missing, and ``out`` holding this very work is left as it is. A part
    or ``out`` sampled with other settings is refused, or replaced with ``overwrite``. A state
    point that fails is named in ``failed``; the others are kept, and ``out`` is not written.
    ``threads``: OpenMP threads of each LAMMPS run (default ``reference.threads``). ``log``
    receives a line per state point as it finishes; ``progress`` shows a bar per state point
    (of the one that runs here, or of each part run).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from mlipselect.io import OutputExistsError, check_directory, claim_output
    from mlipselect.pool.frames_io import merge_pools, pool_path
    from mlipselect.pool.store import Pool

    out = Path(out)
    if threads is not None:
        profile = replace(profile, reference=replace(profile.reference, threads=int(threads)))
    names = [s.name for s in profile.sample.states]
    if not names:
        raise InputError(f"{profile.path}: sample.states is empty")
    wanted = list(states or names)
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise InputError(f"unknown state point(s) {unknown}; the profile has {names}")
    check_directory(pool_path(out))  # before the state points' work keys
    works = {name: state_work(profile, names.index(name)) for name in wanted}
    work = works[wanted[0]] if len(wanted) == 1 else work_key([works[n] for n in wanted])

    def work_of(path) -> str | None:
        with Pool(path) as pool:
            return pool.metadata.get("work")

    if claim_output(out, overwrite, done=lambda p: work_of(p) == work):
        return Sampled(out, None, reused=True)
    if len(wanted) == 1:  # one state point (a workflow job): straight to out
        frames = sample_state(profile, names.index(wanted[0]), out, progress)
        log(f"state point '{wanted[0]}': {frames} frames -> {out}")
        return Sampled(out, frames)
    parts_dir = out.with_name(out.name + ".parts")
    parts_dir.mkdir(exist_ok=True)
    parts = {name: parts_dir / f"{name}.h5" for name in wanted}
    for name in wanted:
        if parts[name].exists() and work_of(parts[name]) != works[name]:
            if not overwrite:
                raise OutputExistsError(
                    f"{parts[name]}: state point '{name}' was sampled with other settings; "
                    "pass --overwrite to sample it again")
            parts[name].unlink()
    todo = [name for name in wanted if not parts[name].exists()]
    kept = tuple(sorted(set(wanted) - set(todo)))
    for name in kept:
        log(f"state point '{name}': done before, kept {parts[name]}")
    failed = []
    # forkserver: forking a process that has imported torch or LAMMPS threads can deadlock.
    context = multiprocessing.get_context("forkserver")
    workers = max(1, min(jobs or profile.sample.jobs, len(todo) or 1))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {name: pool.submit(_sample_part, profile, names.index(name), parts[name],
                                     progress)
                   for name in todo}
        for name, future in futures.items():
            try:
                log(f"state point '{name}': {future.result()} frames -> {parts[name]}")
            except RuntimeError as err:
                failed.append(str(err))
                log(f"error: {err}")
    if failed:
        return Sampled(out, None, kept=kept, failed=tuple(failed))
    return Sampled(out, merge_pools([parts[name] for name in wanted], out, work=work), kept=kept)


def state_work(profile: Profile, index: int) -> str:
    """The work of sampling state point ``index``: everything that changes its frames (the
    state, the sampling settings, the system and the reference; not threads or jobs)."""
    cfg = profile.section("sample")
    return work_key({
        "state": cfg["states"][index],
        "sample": {k: v for k, v in cfg.items() if k not in ("states", "jobs")},
        "system": profile.section("system"),
        "reference": {k: v for k, v in profile.section("reference").items() if k != "threads"},
    })


def pool_metadata(profile: Profile) -> dict:
    """What a sampled pool records of the profile that made it."""
    cfg = profile.section("sample")
    return {"profile": profile.name, "states": cfg["states"],
            "sample": {k: v for k, v in cfg.items() if k != "states"},
            "reference": profile.section("reference"), "system": profile.section("system")}


def lammps_frame(lmp: NaClLammps, atoms) -> tuple[dict, dict]:
    """The current LAMMPS state as pool columns (``PoolWriter.append_columns``): labels,
    positions wrapped into the cell, momenta, all in ASE's frame and units."""
    res = lmp.results()
    masses = atoms.get_masses()[:, None]
    frame = {
        "energy": [res["energy"]],
        "cell": lmp.box()[None],
        "pbc": np.ones((1, 3), dtype=bool),
        "stress": res["stress"][None],
    }
    per_atom = {
        "natoms": [lmp.natoms],
        "numbers": atoms.numbers.astype(np.int32),
        "positions": lmp.positions(),
        "forces": res["forces"],
        "energies": res["energies"],
        "momenta": masses * lmp.velocities() * ASE_VELOCITY_PER_A_PS,
    }
    return frame, per_atom
