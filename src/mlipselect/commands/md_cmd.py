"""Run NVT MD driven by a trained model or the BMHTF reference, guarded against instability.

MODEL is a model directory or 'reference' (BMHTF: through ASE like a model, or inside LAMMPS
with --engine lammps or the profile's md.reference_engine). The run starts from the last frame
of --start. Settings come from the profile's 'md' section; the options below override it.
Frames (momenta, energy, forces) are written to OUT.partial as they come and OUT appears when
the run ends; a rerun resumes an interrupted one and does nothing for a finished one. A
trajectory of another run (other model, settings or start) at OUT is replaced only with
--overwrite. When the stability guard stops a run (ions too close, temperature runaway,
non-finite numbers), the frames so far are kept, the reason and time go to OUT's status file
(OUT with suffix .json) and the log, and the command still exits 0.
"""

from pathlib import Path

from mlipselect.commands import seed

ON_INTERRUPT = "the frames so far are kept in {out}.partial; the same command resumes"


def configure(p) -> None:
    p.add_argument("model", help="model directory, or 'reference' for the BMHTF potential")
    p.add_argument("--start", required=True, type=Path,
                   help="frames (extxyz or any ASE format); the run starts from the last one")
    p.add_argument("--out", required=True, type=Path, help="trajectory to write (extxyz)")
    p.add_argument("--config", "--profile", dest="profile", default=None,
                   help="profile whose 'md' and 'reference' sections set the defaults")
    p.add_argument("--temperature", type=float, help="target temperature, K")
    p.add_argument("--time-ps", type=float, help="simulated time, ps")
    p.add_argument("--timestep", dest="timestep_fs", type=float, help="time step, fs")
    p.add_argument("--seed", type=seed, help="seed of the thermostat and of any drawn velocities")
    p.add_argument("--thermostat", choices=("bussi", "nve"), help="thermostat")
    p.add_argument("--stride", type=int, help="steps between stored frames")
    p.add_argument("--engine", choices=("ase", "lammps"),
                   help="integrator: ase (any model) or lammps (reference only)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")


def run(args) -> int:
    import ase.io

    from mlipselect.config import SCHEMA, load_profile
    from mlipselect.errors import InputError
    from mlipselect.io import check_not_input
    from mlipselect.md import run_md, status_path

    profile = load_profile(args.profile) if args.profile else SCHEMA
    settings = dict(profile["md"])
    for key in ("temperature", "time_ps", "timestep_fs", "seed", "thermostat", "stride"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if args.model != "reference" and args.engine == "lammps":
        raise InputError(f"{args.model}: --engine lammps runs the reference only")
    engine = "ase" if args.model != "reference" else args.engine or settings["reference_engine"]
    check_not_input(args.out, [args.start, None if args.model == "reference" else args.model])
    if not args.start.is_file():
        raise InputError(f"{args.start}: no such file")
    try:
        start = ase.io.read(args.start, index=-1)
    except Exception as err:  # ASE's readers raise many kinds for malformed files
        raise InputError(f"{args.start}: cannot read ({type(err).__name__}: {err})") from None

    calculator = None
    reference: dict | None = dict(profile["reference"])
    potential, species = {"family": "reference"}, None
    if args.model != "reference":
        from mlipselect.models import load_model

        model = load_model(args.model)
        calculator, reference = model.calculator(), None
        potential = {k: model.manifest[k] for k in ("family", "size", "seed", "train")}
        species = model.manifest["species"]
    elif engine == "ase":
        from mlipselect.reference.calculator import BMHTF

        calculator, reference = BMHTF(**profile["reference"]), None
    print(f"md {args.model}: {settings['time_ps']} ps at {settings['temperature']} K "
          f"({engine}, {settings['thermostat']}) -> {args.out}")
    status = run_md(start, args.out, settings, model=args.model, calculator=calculator,
                    reference=reference, progress=args.progress, overwrite=args.overwrite,
                    potential=potential, species=species)
    if status.get("already_done"):
        print(f"md {args.model}: {args.out} already holds this run; nothing to do")
        return 0
    rate = f"{status['ps_per_s']:.3g} ps/s"
    if status["stable"]:
        print(f"md {args.model}: completed {status['time_ps']:g} ps ({rate}), "
              f"{status['frames']} frames -> {args.out}")
    else:
        print(f"md {args.model}: stopped by the stability guard at {status['time_ps']:g} ps: "
              f"{status['reason']}; {status['frames']} frames kept in {args.out}, "
              f"status in {status_path(args.out)}")
    return 0
