"""Run NVT MD driven by a trained model or the BMHTF reference, guarded against instability.

MODEL is a model directory or 'reference' (BMHTF: through ASE like a model, or inside LAMMPS
with --engine lammps or the profile's md.reference_engine). Several --out trajectories are
several runs of the same potential, each with its own seed and start frame; a model whose
family has a batched form (SchNet) runs them all as one batch, one model call per step.
Settings come from the profile's 'md' section; the options below override it. Frames
(momenta, energy, forces) are written to OUT.partial as they come and OUT appears when its run
ends; a rerun resumes interrupted runs and does nothing for finished ones. A trajectory of
another run (other model, settings or start) at OUT is replaced only with --overwrite. When
the stability guard stops a run (ions too close, temperature runaway, non-finite numbers),
the frames so far are kept, the reason and time go to OUT's status file (OUT with suffix
.json) and the log, and the command still exits 0.
"""

from pathlib import Path

from mlipselect.commands import seed

ON_INTERRUPT = "the frames so far are kept in each OUT.partial; the same command resumes"

PROFILE = "optional"
PROGRESS = True


def configure(p) -> None:
    p.add_argument("model", help="model directory, or 'reference' for the BMHTF potential")
    p.add_argument("--start", required=True, type=Path,
                   help="frames (extxyz or any ASE format) the runs start from")
    p.add_argument("--start-frame", type=int, nargs="+", default=[-1], metavar="INDEX",
                   help="the frame of --start each run starts from: one index for all, or one "
                        "per --out (default: the last frame)")
    p.add_argument("--fresh-momenta", action="store_true",
                   help="draw Maxwell-Boltzmann momenta from each run's seed even where the "
                        "start frame has momenta (independent runs from correlated frames)")
    p.add_argument("--out", required=True, type=Path, nargs="+",
                   help="trajectories to write (extxyz), one per run")
    p.add_argument("--temperature", type=float, help="target temperature, K")
    p.add_argument("--time-ps", type=float, help="simulated time, ps")
    p.add_argument("--timestep", dest="timestep_fs", type=float, help="time step, fs")
    p.add_argument("--seed", type=seed, nargs="+", metavar="SEED",
                   help="thermostat seed of each run (also drawing momenta for a start without "
                        "any): one per --out, or one S for S, S+1, ... (default: the profile's)")
    p.add_argument("--thermostat", choices=("bussi", "nve"), help="thermostat")
    p.add_argument("--stride", type=int, help="steps between stored frames")
    p.add_argument("--engine", choices=("batched", "ase", "lammps"),
                   help="batched (all runs in one model call per step; SchNet models, the "
                        "default for them), ase (one run after another) or lammps (reference "
                        "only)")


def run(args) -> int:
    from dataclasses import replace

    from mlipselect.config import profile_or_defaults
    from mlipselect.md import simulate_files

    profile = profile_or_defaults(args.profile)
    settings = replace(profile.md, **{key: getattr(args, key) for key in (
        "temperature", "time_ps", "timestep_fs", "thermostat", "stride")
        if getattr(args, key) is not None})
    runs = simulate_files(args.model, args.start, args.out, settings, args.start_frame,
                          args.seed, args.fresh_momenta, profile.section("reference"),
                          args.engine, progress=args.progress, overwrite=args.overwrite,
                          log=lambda line: print(f"md {args.model}: {line}"))
    for out, run in zip(args.out, runs, strict=True):
        print(f"md {args.model}: {run.describe(out)}")
    return 0
