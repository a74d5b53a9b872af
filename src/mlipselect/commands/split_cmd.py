"""Hold out a test set: a seeded random share of the pool's frames, as an index file.

The index file has a provenance line (pool, its SHA-256, fraction, seed), then one frame
index per line; `mlipselect select --exclude` keeps these frames out of a selection.
Defaults come from the profile's 'split' section when --config is given.
"""

from pathlib import Path

from mlipselect.commands import seed


def configure(p) -> None:
    p.add_argument("pool", type=Path, help="pool file (HDF5)")
    from mlipselect.config import SCHEMA

    defaults = SCHEMA["split"]
    p.add_argument("--test-fraction", type=float, default=None,
                   help="share of the frames held out (default: the profile's split.test_fraction"
                   f", else {defaults['test_fraction']})")
    p.add_argument("--seed", type=seed, default=None,
                   help=f"random seed (default: the profile's split.seed, else {defaults['seed']})")
    p.add_argument("--config", "--profile", dest="profile", default=None,
                   help="profile whose 'split' section gives the defaults")
    p.add_argument("--out", required=True, type=Path, help="test-set index file to write")


def run(args) -> int:
    from mlipselect.config import SCHEMA, load_profile
    from mlipselect.errors import InputError
    from mlipselect.io import claim_output
    from mlipselect.pool.store import Pool
    from mlipselect.selection import split_test_set, write_index

    claim_output(args.out, args.overwrite, inputs=[args.pool])
    settings = load_profile(args.profile)["split"] if args.profile else SCHEMA["split"]
    fraction = settings["test_fraction"] if args.test_fraction is None else args.test_fraction
    seed = settings["seed"] if args.seed is None else args.seed
    with Pool(args.pool) as pool:
        try:
            indices = split_test_set(len(pool), fraction, seed)
        except InputError as err:
            raise InputError(f"{args.pool}: {err}") from None
        provenance = {"pool": str(args.pool), "pool_sha256": pool.checksum(),
                      "frames": len(pool), "test_fraction": fraction, "seed": seed}
        write_index(args.out, indices, "test set", provenance)
    print(f"held out {len(indices)} of {provenance['frames']} frames -> {args.out}")
    return 0
