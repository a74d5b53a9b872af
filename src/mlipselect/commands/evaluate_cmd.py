"""Force and energy errors of a trained model on test frames, as JSON.

forces.mae, forces.rmse, forces.max (largest absolute component error), forces.max_atom
(largest per-atom error norm), forces.reference_rms (the zero-force baseline's RMSE), energy
per atom MAE/RMSE/max, the same force metrics per species, units, frame and atom counts.
For a model that predicts its own uncertainty (the GPR), also uncertainty: the mean and largest
predicted standard deviation of an atom's energy and its rank correlation with the atom's
force error.
With --tails POOL, also tails.forces: the force errors on the test atoms whose reference
atomic energy or force magnitude lies beyond the pool's 1st/99th percentiles (per species),
where selection methods differ by design.
"""

from pathlib import Path

PROGRESS = True


def configure(p) -> None:
    p.add_argument("model", type=Path, help="model directory written by `mlipselect train`")
    p.add_argument("--test", required=True, type=Path, action="append",
                   help="labelled test frames (extxyz or any ASE format); repeat for several "
                        "test sets, each with its own --out, in the same order")
    p.add_argument("--out", required=True, type=Path, action="append",
                   help="metrics JSON to write")
    p.add_argument("--tails", type=Path, default=None, metavar="POOL",
                   help="also the errors on atoms in this pool's tails")
    p.add_argument("--tail-percent", type=float, default=1.0,
                   help="tails lie beyond these percentiles, and 100 minus (default 1)")


def run(args) -> int:
    from mlipselect.analysis.evaluation import evaluate_files

    done = evaluate_files(args.model, args.test, args.out, args.tails, args.tail_percent,
                          overwrite=args.overwrite, progress=args.progress)
    for test, out, metrics in zip(args.test, args.out, done, strict=True):
        print(f"{test}: {metrics.describe()} -> {out}")
    return 0
