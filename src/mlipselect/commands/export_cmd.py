"""Write a pool's frames to extxyz (or any ASE format) with ASE's label keys.

Keys: info['energy'], arrays['forces'], arrays['energies'] (per-atom), info['stress'],
plus info['pool_index'], the frame's row in the pool.
"""

from pathlib import Path


def configure(p) -> None:
    p.add_argument("pool", type=Path, help="pool file (HDF5)")
    p.add_argument("--out", required=True, type=Path,
                   help="output file, in the format of its extension (.extxyz, .xyz, .traj, ...)")
    p.add_argument("--indices", type=Path, default=None, metavar="IDX",
                   help="write only the frames of this index file (from split or select)")


def run(args) -> int:
    from mlipselect.io import claim_output
    from mlipselect.pool.frames_io import export_pool, frame_format
    from mlipselect.pool.store import Pool
    from mlipselect.selection.split import index_for

    claim_output(args.out, args.overwrite, inputs=[args.pool, args.indices])
    with Pool(args.pool) as pool:
        indices = None if args.indices is None else index_for(args.indices, pool)[0]
        frame_format(args.out, len(pool) if indices is None else len(indices))
    n = export_pool(args.pool, args.out, indices)
    print(f"wrote {n} frames to {args.out}")
    return 0
