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
    import json

    from mlipselect.analysis.evaluation import evaluate_model, tail_bounds
    from mlipselect.errors import InputError
    from mlipselect.io import atomic_path, claim_output
    from mlipselect.models import load_model

    if len(args.test) != len(args.out):
        raise InputError(f"{len(args.test)} --test but {len(args.out)} --out: give one metrics "
                         "file per test set, in the same order")
    for out in args.out:
        claim_output(out, args.overwrite, inputs=[*args.test, args.tails, args.model])
    model = load_model(args.model)
    tails = None if args.tails is None else tail_bounds(args.tails, args.tail_percent)
    for test, out in zip(args.test, args.out, strict=True):
        metrics = evaluate_model(model, test, tails, progress=args.progress)
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(metrics, indent=2) + "\n")
        f = metrics["forces"]
        print(f"{test}: {metrics['frames']} frames: force MAE {f['mae']:.4f}, RMSE "
              f"{f['rmse']:.4f}, max {f['max']:.4f} eV/A (zero-force RMSE "
              f"{f['reference_rms']:.4f}) -> {out}")
        if "uncertainty" in metrics:
            u = metrics["uncertainty"]
            print(f"  predicted energy std per atom: mean {u['energy_std_mean']:.4f}, max "
                  f"{u['energy_std_max']:.4f} eV; rank correlation with the force error "
                  f"{u['spearman_std_force_error']:.2f}")
    return 0
