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
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from mlipselect.errors import InputError
    from mlipselect.io import claim_output
    from mlipselect.models import load_model

    if len(args.test) != len(args.out):
        raise InputError(f"{len(args.test)} --test but {len(args.out)} --out: give one metrics "
                         "file per test set, in the same order")
    for out in args.out:
        claim_output(out, args.overwrite, inputs=[*args.test, args.tails, args.model])
    model = load_model(args.model)
    bounds = None if args.tails is None else tail_bounds(args.tails, args.tail_percent)
    for test, out in zip(args.test, args.out, strict=True):
        evaluate(model, test, out, bounds, args)
    return 0


def evaluate(model, test, out, bounds, args) -> None:
    """Write the metrics of ``model`` on the frames of ``test`` to ``out``."""
    import json
    import time

    from tqdm.auto import tqdm

    from mlipselect.analysis.metrics import error_metrics
    from mlipselect.io import atomic_path
    from mlipselect.models.base import frame_labels
    from mlipselect.pool.frames_io import iread_frames

    frames = list(iread_frames(test, require=("energy", "forces")))
    for i, atoms in enumerate(frames):
        model.check_species(atoms, where=f"{test}, frame {i}")
    energies: tuple[list, list] = ([], [])
    forces: tuple[list, list] = ([], [])
    numbers: list = []
    variances: list = []
    seconds = 0.0
    for atoms in tqdm(frames, desc="evaluate", unit="frame", disable=args.quiet):
        start = time.perf_counter()
        energy, force = model.predict(atoms)
        seconds += time.perf_counter() - start
        variances.append(model.energy_variance(atoms))
        ref_energy, ref_force = frame_labels(atoms)
        energies[0].append(energy)
        energies[1].append(ref_energy)
        forces[0].append(force)
        forces[1].append(ref_force)
        numbers.append(atoms.numbers)
    tails = None if bounds is None else tail_atoms(frames, bounds)
    metrics = error_metrics(numbers, energies, forces, tails,
                            None if variances[0] is None else variances)
    manifest = model.manifest
    metrics["model"] = {k: manifest[k] for k in ("family", "size", "seed")}
    metrics["model"]["train"] = manifest["train"]
    metrics["model"]["size_value"], metrics["model"]["size_label"] = model.capacity()
    metrics["model"]["directory"] = str(args.model)
    metrics["test"] = str(test)
    if tails is not None:
        metrics["tails_of"] = {"pool": str(args.tails), "percent": args.tail_percent,
                               "atoms": int(tails.sum())}
    metrics["seconds_per_frame"] = seconds / len(frames)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    f = metrics["forces"]
    print(f"{test}: {len(frames)} frames: force MAE {f['mae']:.4f}, RMSE {f['rmse']:.4f}, "
          f"max {f['max']:.4f} eV/A (zero-force RMSE {f['reference_rms']:.4f}) -> {out}")
    if "uncertainty" in metrics:
        u = metrics["uncertainty"]
        print(f"  predicted energy std per atom: mean {u['energy_std_mean']:.4f}, max "
              f"{u['energy_std_max']:.4f} eV; rank correlation with the force error "
              f"{u['spearman_std_force_error']:.2f}")


def tail_bounds(pool_path, percent: float) -> dict:
    """The pool's species-wise ``percent`` / ``100 - percent`` percentiles of the atomic
    energies and of |f_i|: read once per job, whatever the number of test sets."""
    from mlipselect.analysis.distributions import Quantities, species_bounds
    from mlipselect.pool.store import Pool

    with Pool(pool_path) as pool:
        ref = Quantities.of(pool)
    return {key: species_bounds(getattr(ref, key), ref.numbers, percent)
            for key in ("atomic_energies", "force_norms")}


def tail_atoms(frames, bounds: dict):
    """Mask over the atoms of ``frames``: reference atomic energy or |f_i| beyond ``bounds``
    (``tail_bounds``)."""
    import numpy as np

    from mlipselect.analysis.distributions import Quantities, in_tails

    test = Quantities.of(frames)
    mask = np.zeros(len(test.numbers), dtype=bool)
    for key, limits in bounds.items():
        mask |= in_tails(getattr(test, key), test.numbers, limits)
    return mask
