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
    from mlipselect.config import Split

    defaults = Split()
    p.add_argument("--test-fraction", type=float, default=None,
                   help="share of the frames held out (default: the profile's split.test_fraction"
                   f", else {defaults.test_fraction})")
    p.add_argument("--seed", type=seed, default=None,
                   help=f"random seed (default: the profile's split.seed, else {defaults.seed})")
    p.add_argument("--by", choices=["random", "block", "trajectory"], default="random",
                   help="frames at random, a time block per trajectory, or whole trajectories "
                        "(default random)")
    p.add_argument("--gap", type=float, default=1.0, metavar="PS",
                   help="--by block: ps kept out on each side of a test block (default 1)")
    p.add_argument("--out", required=True, type=Path, help="test-set index file to write")


def run(args) -> int:
    from mlipselect.config import profile_or_defaults
    from mlipselect.selection.split import split_pool

    settings = profile_or_defaults(args.profile).split
    split = split_pool(args.pool, args.out,
                       settings.test_fraction if args.test_fraction is None
                       else args.test_fraction,
                       settings.seed if args.seed is None else args.seed,
                       by=args.by, gap_ps=args.gap, overwrite=args.overwrite)
    kept = f", {len(split['buffer'])} more kept out" if "buffer" in split else ""
    print(f"held out {len(split['indices'])} of {split['frames']} frames by {args.by}{kept} "
          f"-> {args.out}")
    return 0
