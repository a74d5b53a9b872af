"""Write a pool's frames to extxyz (or any ASE format) with ASE's label keys.

Keys: info['energy'], arrays['forces'], arrays['energies'] (per-atom), info['stress'],
plus info['pool_index'], the frame's row in the pool.
"""

from pathlib import Path


def configure(p) -> None:
    p.add_argument("pool", type=Path, help="pool file (HDF5)")
    p.add_argument("out", type=Path, help="output file; extxyz for .xyz/.extxyz")


def run(args) -> int:
    from mlipselect.pool.frames_io import export_pool

    n = export_pool(args.pool, args.out)
    print(f"wrote {n} frames to {args.out}")
    return 0
