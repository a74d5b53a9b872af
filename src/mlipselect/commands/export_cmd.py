"""Write a pool's frames to extxyz (or any ASE format) with ASE's label keys.

Keys: info['energy'], arrays['forces'], arrays['energies'] (per-atom), info['stress'],
plus info['pool_index'], the frame's row in the pool.
"""

from pathlib import Path


def configure(p) -> None:
    p.add_argument("pool", type=Path, help="pool file (HDF5)")
    p.add_argument("out", type=Path, help="output file; extxyz for .xyz/.extxyz")
    p.add_argument("--indices", type=Path, default=None, metavar="IDX",
                   help="write only the frames of this index file (from split or select)")


def run(args) -> int:
    from mlipselect.pool.frames_io import export_pool
    from mlipselect.pool.store import Pool
    from mlipselect.selection.split import read_index

    indices = None
    if args.indices is not None:
        with Pool(args.pool) as pool:
            indices, _ = read_index(args.indices, len(pool))
    n = export_pool(args.pool, args.out, indices)
    print(f"wrote {n} frames to {args.out}")
    return 0
