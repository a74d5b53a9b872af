"""Select training frames from a pool: random, or uniform in energy, forces or atomic energies.

Methods: random; energy (uniform in the energy per atom); forces (uniform in the per-atom
force magnitudes |f_i|); atomic-energies (uniform in the per-atom energies E_i). The exact
semantics are in docs/selection.md.

OUT gets the frames with their labels under ASE's keys (info['energy'], arrays['forces'],
arrays['energies']) and info['pool_index'], their row in the pool; every frame's info also
records the provenance: selection_method, selection_n, selection_seed,
selection_per_species (per-atom methods), selection_excluded, selection_pool and
selection_pool_sha256.
"""

from pathlib import Path

from mlipselect.commands import seed


def configure(p) -> None:
    p.add_argument("pool", type=Path, help="pool file (HDF5)")
    p.add_argument("--method", required=True,
                   help="random, energy, forces or atomic-energies")
    p.add_argument("-n", type=int, required=True, help="number of frames to select")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--exclude", type=Path, default=None,
                   help="index file of frames never to select (from `mlipselect split`)")
    p.add_argument("--species", choices=("separate", "pooled"), default=None,
                   help="per-atom methods: bin each species over its own range (default; or "
                   "the profile's select.per_species) or all atoms together")
    p.add_argument("--config", "--profile", dest="profile", default=None,
                   help="profile whose 'select' section gives the defaults")
    p.add_argument("--out", required=True, type=Path,
                   help="selected frames, in the format of its extension (.extxyz, .traj, ...)")


def run(args) -> int:
    import inspect
    import sys

    from mlipselect.config import SCHEMA, load_profile
    from mlipselect.errors import InputError
    from mlipselect.io import claim_output
    from mlipselect.pool.frames_io import frame_format, write_frames
    from mlipselect.pool.store import Pool
    from mlipselect.selection import get_method, read_index, select

    settings = load_profile(args.profile)["select"] if args.profile else SCHEMA["select"]
    claim_output(args.out, args.overwrite, inputs=[args.pool, args.exclude])
    frame_format(args.out, args.n)
    with Pool(args.pool) as pool:
        checksum = pool.checksum()
        exclude = []
        if args.exclude is not None:
            exclude, made_for = read_index(args.exclude, len(pool))
            if made_for.get("pool_sha256", checksum) != checksum:
                raise InputError(
                    f"{args.exclude}: made for another pool ({made_for.get('pool')}, SHA-256"
                    f" {made_for['pool_sha256'][:12]}...) than {args.pool} ({checksum[:12]}...)"
                )
        options = {}
        if "per_species" in inspect.signature(get_method(args.method)).parameters:
            options["per_species"] = (
                settings["per_species"] if args.species is None else args.species == "separate"
            )
        elif args.species is not None:
            raise InputError(f"--species applies to per-atom methods, not '{args.method}'")
        print(f"selecting {args.n} of {len(pool) - len(exclude)} candidate frames by "
              f"'{args.method}' from {args.pool} ({len(pool)} frames, {len(exclude)} excluded)",
              file=sys.stderr)
        indices = select(pool, args.method, args.n, seed=args.seed, exclude=exclude, **options)
        provenance = {
            "selection_method": args.method,
            "selection_n": args.n,
            "selection_seed": args.seed,
            **{f"selection_{key}": value for key, value in options.items()},
            "selection_excluded": len(exclude),
            "selection_pool": str(args.pool),
            "selection_pool_sha256": checksum,
        }
        frames = []
        for atoms in pool.frames(indices):
            atoms.info.update(provenance)
            frames.append(atoms)
        write_frames(frames, args.out)
    print(f"selected {len(frames)} frames -> {args.out}")
    return 0
