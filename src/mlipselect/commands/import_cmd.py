"""Build a pool from any ASE-readable file(s) with energies and forces.

Per-frame `energy` and per-atom `forces` are required; per-atom `energies`, `stress` and
`momenta` are kept when present (the `atomic-energies` selection needs `energies`). Every
other per-frame value (info, calculator results) and per-atom array is kept too, its type
decided over all frames (the files are read twice); what cannot be kept (a key some frames
lack, or whose shape changes) is named.
"""

import sys
from pathlib import Path

PROGRESS = True


def configure(p) -> None:
    p.add_argument("inputs", nargs="+", type=Path, help="extxyz or any file ASE can read")
    p.add_argument("--out", required=True, type=Path,
                   help="pool file to write (HDF5: .h5 or .hdf5)")


def run(args) -> int:
    from mlipselect.io import claim_output
    from mlipselect.pool.frames_io import import_frames, pool_path

    claim_output(pool_path(args.out), args.overwrite, inputs=args.inputs)
    n, dropped = import_frames(args.inputs, args.out, progress=args.progress)
    for key, why in dropped.items():
        print(f"mlipselect import: not kept: '{key}', {why}", file=sys.stderr)
    print(f"wrote {n} frames to {args.out}")
    return 0
