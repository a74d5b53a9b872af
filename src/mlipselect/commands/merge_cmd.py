"""Merge pool files into one pool (e.g. the state points of a sampling run)."""

from pathlib import Path

PROGRESS = True


def configure(p) -> None:
    p.add_argument("pools", nargs="+", type=Path, help="pool files (HDF5) to concatenate")
    p.add_argument("--out", required=True, type=Path, help="pool file to write (.h5, .hdf5)")


def run(args) -> int:
    from mlipselect.io import claim_output
    from mlipselect.pool.frames_io import merge_pools, pool_path

    claim_output(pool_path(args.out), args.overwrite, inputs=args.pools)
    n = merge_pools(args.pools, args.out, progress=args.progress)
    print(f"wrote {n} frames to {args.out}")
    return 0
