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

    import numpy as np

    from mlipselect.analysis.coverage import bandwidth, coverage, pool_entropy
    from mlipselect.descriptors import pool_descriptors
    from mlipselect.io import atomic_path, claim_output
    from mlipselect.pool.store import Pool
    from mlipselect.provenance import selection_rows

    if args.out is not None:
        claim_output(args.out, args.overwrite, inputs=[args.pool, *args.selections])
    with Pool(args.pool) as pool:
        checksum = pool.checksum()
        chosen = {str(path): selection_rows(path, checksum) for path in args.selections}
        x = pool_descriptors(pool, progress=args.progress)
        numbers, offsets = pool.atom_column("numbers"), pool.offsets
    h = bandwidth(x) if args.bandwidth is None else args.bandwidth
    species = np.unique(numbers)

    def atoms_of(rows) -> dict:
        found = np.concatenate([numbers[offsets[i]:offsets[i + 1]] for i in rows])
        return {int(s): int((found == s).sum()) for s in species}

    pool_h, sampled = pool_entropy(x, h)
    selections: dict[str, dict] = {}
    result = {"pool": {"frames": len(x), "entropy": pool_h, "entropy_frames": sampled},
              "bandwidth": h, "selections": selections}
    print(f"{args.pool}: {len(x)} frames, bandwidth h = {h:.4g}, entropy {pool_h:.3f} nats "
          f"(on {sampled} frames)")
    print(f"{'selection':40s} {'frames':>6s} {'radius':>8s} {'coverage':>8s} {'entropy':>8s}"
          "  atoms per species")
    for name, rows in chosen.items():
        numbers_of = atoms_of(rows)
        entry = {"frames": len(rows), **coverage(x, rows, h), "atoms": numbers_of}
        selections[name] = entry
        print(f"{Path(name).name:40s} {len(rows):6d} {entry['covering_radius']:8.4f} "
              f"{entry['coverage']:8.1%} {entry['entropy']:8.3f}  "
              + ", ".join(f"Z={z}: {c}" for z, c in numbers_of.items()))
    if args.out is not None:
        with atomic_path(args.out) as tmp:
            Path(tmp).write_text(json.dumps(result, indent=1))
    return 0
