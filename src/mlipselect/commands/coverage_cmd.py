"""How well selections cover their pool, in SOAP descriptor space.

For the pool and each selection (files written by `mlipselect select` from this pool): the
frames, the atoms of each species, the covering radius (largest descriptor distance from a
pool frame to its nearest selected one), the coverage (share of pool frames within the
bandwidth h of a selected one) and QUESTS' dataset entropy at h (nats; log n at most). One h
serves all, by default the median distance from a pool frame to its nearest other frame. The
descriptors are those of `select --method fps` (cached beside the pool).
"""

from pathlib import Path

PROGRESS = True


def configure(p) -> None:
    p.add_argument("pool", type=Path, help="pool file (HDF5)")
    p.add_argument("selections", type=Path, nargs="+", help="selection files of this pool")
    p.add_argument("--bandwidth", type=float, default=None, metavar="H",
                   help="descriptor distance h (default: the pool's median nearest-frame "
                        "distance)")
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="also write the numbers as JSON")


def run(args) -> int:
    import json

    from mlipselect.analysis.coverage import pool_coverage
    from mlipselect.io import atomic_path, claim_output

    if args.out is not None:
        claim_output(args.out, args.overwrite, inputs=[args.pool, *args.selections])
    result = pool_coverage(args.pool, args.selections, args.bandwidth, args.progress)
    pool = result["pool"]
    print(f"{args.pool}: {pool['frames']} frames, bandwidth h = {result['bandwidth']:.4g}, "
          f"entropy {pool['entropy']:.3f} nats (on {pool['entropy_frames']} frames)")
    print(f"{'selection':40s} {'frames':>6s} {'radius':>8s} {'coverage':>8s} {'entropy':>8s}"
          "  atoms per species")
    for name, entry in result["selections"].items():
        print(f"{Path(name).name:40s} {entry['frames']:6d} {entry['covering_radius']:8.4f} "
              f"{entry['coverage']:8.1%} {entry['entropy']:8.3f}  "
              + ", ".join(f"Z={z}: {c}" for z, c in entry["atoms"].items()))
    if args.out is not None:
        with atomic_path(args.out) as tmp:
            Path(tmp).write_text(json.dumps(result, indent=1))
    return 0
