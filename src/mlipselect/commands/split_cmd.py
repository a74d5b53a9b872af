"""Hold out a test set: a seeded share of the pool's frames, as an index file.

--by random (the default) draws frames at random: on MD data, test frames then lie a few
femtoseconds from training candidates, which measures interpolation. --by block holds out a
contiguous time block of each trajectory and keeps a buffer of --gap picoseconds on each side
out of both (use at least the decorrelation time). --by trajectory holds out whole runs. The
block and trajectory splits need the pool's 'state' column (pools from `mlipselect sample`
have it; frames of one state point and seed are one trajectory) and, for block, 'time'.

The index file has a provenance line (pool, its SHA-256, how it was split; for a block split,
the buffer), then one test frame index per line; `mlipselect select --exclude` keeps the test
frames and the buffer out of a selection. Defaults come from the profile's 'split' section
when --config is given.
"""

from pathlib import Path

from mlipselect.commands import seed

PROFILE = "optional"


def configure(p) -> None:
    p.add_argument("pool", type=Path, help="pool file (HDF5)")
    from mlipselect.config import SCHEMA

    defaults = SCHEMA["split"]
    p.add_argument("--test-fraction", type=float, default=None,
                   help="share of the frames held out (default: the profile's split.test_fraction"
                   f", else {defaults['test_fraction']})")
    p.add_argument("--seed", type=seed, default=None,
                   help=f"random seed (default: the profile's split.seed, else {defaults['seed']})")
    p.add_argument("--by", choices=["random", "block", "trajectory"], default="random",
                   help="frames at random, a time block per trajectory, or whole trajectories "
                        "(default random)")
    p.add_argument("--gap", type=float, default=1.0, metavar="PS",
                   help="--by block: ps kept out on each side of a test block (default 1)")
    p.add_argument("--out", required=True, type=Path, help="test-set index file to write")


def run(args) -> int:
    from mlipselect.config import profile_or_defaults
    from mlipselect.errors import InputError
    from mlipselect.io import claim_output
    from mlipselect.pool.store import Pool
    from mlipselect.selection import split_test_set, write_index
    from mlipselect.selection.split import split_by_block, split_by_trajectory

    claim_output(args.out, args.overwrite, inputs=[args.pool])
    settings = profile_or_defaults(args.profile)["split"]
    fraction = settings["test_fraction"] if args.test_fraction is None else args.test_fraction
    seed = settings["seed"] if args.seed is None else args.seed
    with Pool(args.pool) as pool:
        provenance = {"pool": str(args.pool), "pool_sha256": pool.checksum(),
                      "frames": len(pool), "test_fraction": fraction, "seed": seed,
                      "by": args.by}
        try:
            if args.by == "random":
                indices = split_test_set(len(pool), fraction, seed)
            else:
                trajectory = trajectories(pool, args.by)
                if args.by == "trajectory":
                    indices = split_by_trajectory(trajectory, fraction, seed)
                else:
                    indices, buffer = split_by_block(trajectory, pool.frame_column("time"),
                                                     fraction, 1000.0 * args.gap, seed)
                    provenance.update(gap_ps=args.gap, buffer=buffer.tolist())
        except InputError as err:
            raise InputError(f"{args.pool}: {err}") from None
        write_index(args.out, indices, "test set", provenance)
    kept = f", {len(provenance['buffer'])} more kept out" if "buffer" in provenance else ""
    print(f"held out {len(indices)} of {provenance['frames']} frames by {args.by}{kept} "
          f"-> {args.out}")
    return 0


def trajectories(pool, by: str):
    """An id per frame naming its trajectory: its state point and seed."""
    import numpy as np

    from mlipselect.errors import InputError

    needed = ["state"] + (["time"] if by == "block" else [])
    missing = [key for key in needed if key not in pool.frame_keys]
    if missing:
        raise InputError(f"a split by {by} needs the per-frame column(s) "
                         f"{', '.join(map(repr, missing))}, which this pool lacks (pools from "
                         "`mlipselect sample` have them)")
    keys = [pool.frame_column("state")]
    if "seed" in pool.frame_keys:
        keys.append(pool.frame_column("seed"))
    return np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True)[1].ravel()
