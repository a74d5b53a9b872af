"""Sample the pool: BMHTF NaCl MD inside LAMMPS at a grid of state points.

Each state point starts from the rocksalt crystal, is melted first when its phase is
``melt``, equilibrates, then stores a frame every ``every`` steps. LAMMPS integrates all
steps; Python only gathers the frames.
"""

from __future__ import annotations

import numpy as np
from ase import units
from ase.build import bulk
from tqdm.auto import tqdm

from mlipselect.pool.store import PoolWriter
from mlipselect.reference.lammps import NaClLammps

BAR_TO_EV_A3 = 1e5 / 1.602176634e11
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


def _ensemble_fixes(state: dict, dt_fs: float, temperature: float | None = None,
                    relax: bool = False) -> list[str]:
    """LAMMPS fixes for a state point; ``relax`` swaps the Nose-Hoover barostat for a
    Berendsen one, which brings the volume of a freshly melted liquid to its density in a few
    ps instead of tens."""
    t = state["temperature"] if temperature is None else temperature
    tdamp, pdamp = 100 * dt_fs / 1000, 1000 * dt_fs / 1000  # ps
    p = state["pressure"]
    if state["ensemble"] == "nve":
        return ["fix md all nve"]
    if state["ensemble"] == "npt" and not relax:
        return [f"fix md all npt temp {t} {t} {tdamp} iso {p} {p} {pdamp}"]
    fixes = [f"fix md all nvt temp {t} {t} {tdamp}"]
    if state["ensemble"] == "npt":
        # Modulus ~ the melt's bulk modulus (bar): the relaxation time is about pdamp.
        fixes.append(f"fix baro all press/berendsen iso {p} {p} {pdamp / 2} modulus 25000")
    return fixes


def _apply(lmp: NaClLammps, fixes: list[str], steps: int) -> None:
    for fix in fixes:
        lmp.command(fix)
    lmp.command(f"run {steps}")
    for fix in fixes:
        lmp.command(f"unfix {fix.split()[1]}")


def sample_state(profile: dict, index: int, out, progress: bool = True) -> int:
    """Run state point ``index`` of ``profile`` and write its frames as a pool at ``out``.

    Returns the number of frames written. Raises ``SamplingError`` naming the state point
    when LAMMPS fails or a number is not finite; nothing is written then.
    """
    cfg, state = profile["sample"], profile["sample"]["states"][index]
    name, dt = state["name"], cfg["timestep_fs"]
    steps = lambda ps: int(round(ps * 1000 / dt))  # noqa: E731
    every = int(cfg["every"])
    n_frames = max(1, steps(cfg["production_ps"]) // every)
    seed = state_seed(cfg["seed"], index)
    atoms = rocksalt(profile["system"]["repeat"], profile["system"]["lattice_constant"])
    lmp = NaClLammps(atoms, **profile["reference"])
    metadata = {"profile": profile["name"], "states": profile["sample"]["states"],
                "sample": {k: v for k, v in cfg.items() if k != "states"},
                "reference": profile["reference"], "system": profile["system"]}
    try:
        lmp.command(f"timestep {dt / 1000}")
        lmp.command("compute pesum all reduce sum c_peatom")
        lmp.command(f"thermo {every}")
        lmp.command("thermo_style custom step temp pe press c_pesum")
        if state["phase"] == "melt":
            lmp.command(
                f"velocity all create {cfg['melt_temperature']} {seed} mom yes rot no dist gaussian"
            )
            _apply(lmp, _ensemble_fixes(state, dt, cfg["melt_temperature"], relax=True),
                   steps(cfg["melt_ps"]))
        else:
            lmp.command(
                f"velocity all create {state['temperature']} {seed} mom yes rot no dist gaussian"
            )
        _apply(lmp, _ensemble_fixes(state, dt, relax=True), steps(cfg["equilibrate_ps"]))
        for fix in _ensemble_fixes(state, dt):
            lmp.command(fix)
        lmp.command("reset_timestep 0")
        with PoolWriter(out, metadata=metadata) as writer:
            bar = tqdm(total=n_frames, desc=name, unit="frame", disable=not progress, leave=False)
            for k in range(n_frames):
                lmp.command(f"run {every}" + (" pre no post no" if k else " post no"))
                frame, per_atom = _frame(lmp, atoms)
                frame.update(
                    temperature=[lmp.lmp.get_thermo("temp")],
                    pressure=[lmp.lmp.get_thermo("press")],
                    time=[(k + 1) * every * dt],
                    state=[index],
                    seed=[seed],
                )
                writer.append_columns(frame, per_atom, where=f"state '{name}', frame {k}")
                bar.update()
            bar.close()
    except Exception as err:  # LAMMPS raises plain Exception for lost atoms and the like
        raise SamplingError(f"state point '{name}' failed: {err}") from err
    finally:
        lmp.close()
    return n_frames


def _frame(lmp: NaClLammps, atoms) -> tuple[dict, dict]:
    res = lmp.results()
    ids = lmp.lmp.numpy.extract_atom("id")[: lmp.natoms]
    order = np.argsort(ids)
    rot = lmp.rotation.T
    x = np.asarray(lmp.lmp.numpy.extract_atom("x")[: lmp.natoms])[order] @ rot
    v = np.asarray(lmp.lmp.numpy.extract_atom("v")[: lmp.natoms])[order] @ rot
    boxlo, boxhi, xy, yz, xz, _, _ = lmp.lmp.extract_box()
    lx, ly, lz = (hi - lo for lo, hi in zip(boxlo, boxhi, strict=True))
    cell = np.array([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]]) @ rot
    x = x - np.asarray(boxlo) @ rot
    masses = atoms.get_masses()[:, None]
    frame = {
        "energy": [res["energy"]],
        "cell": cell[None],
        "pbc": np.ones((1, 3), dtype=bool),
        "stress": res["stress"][None],
    }
    per_atom = {
        "natoms": [lmp.natoms],
        "numbers": atoms.numbers.astype(np.int32),
        "positions": x,
        "forces": res["forces"],
        "energies": res["energies"],
        "momenta": masses * v * ASE_VELOCITY_PER_A_PS,
    }
    return frame, per_atom
