"""Force and energy errors of a trained model on test frames, as JSON.

forces.mae, forces.rmse, forces.max (largest absolute component error), forces.max_atom
(largest per-atom error norm), forces.reference_rms (the zero-force baseline's RMSE), energy
per atom MAE/RMSE/max, the same force metrics per species, units, frame and atom counts.
"""

from pathlib import Path


def configure(p) -> None:
    p.add_argument("model", type=Path, help="model directory written by `mlipselect train`")
    p.add_argument("--test", required=True, type=Path,
                   help="labelled test frames (extxyz or any ASE format)")
    p.add_argument("--out", required=True, type=Path, help="metrics JSON to write")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    import json
    import time

    from tqdm.auto import tqdm

    from mlipselect.analysis.metrics import error_metrics
    from mlipselect.io import atomic_path, claim_output
    from mlipselect.models import load_model
    from mlipselect.models.base import frame_labels
    from mlipselect.pool.frames_io import iread_frames

    claim_output(args.out, args.overwrite, inputs=[args.test])
    model = load_model(args.model)
    frames = list(iread_frames(args.test, require=("energy", "forces")))
    for i, atoms in enumerate(frames):
        model.check_species(atoms, where=f"{args.test}, frame {i}")
    energies, forces, numbers = ([], []), ([], []), []
    start = time.perf_counter()
    for atoms in tqdm(frames, desc="evaluate", unit="frame", disable=args.quiet):
        energy, force = model.predict(atoms)
        ref_energy, ref_force = frame_labels(atoms)
        energies[0].append(energy)
        energies[1].append(ref_energy)
        forces[0].append(force)
        forces[1].append(ref_force)
        numbers.append(atoms.numbers)
    seconds = time.perf_counter() - start
    metrics = error_metrics(numbers, energies, forces)
    manifest = model.manifest
    metrics["model"] = {k: manifest[k] for k in ("family", "size", "seed")}
    metrics["model"]["train"] = manifest["train"]
    metrics["model"]["size_value"], metrics["model"]["size_label"] = model.capacity()
    metrics["model"]["directory"] = str(args.model)
    metrics["test"] = str(args.test)
    metrics["seconds_per_frame"] = seconds / len(frames)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    f = metrics["forces"]
    print(f"{len(frames)} frames: force MAE {f['mae']:.4f}, RMSE {f['rmse']:.4f}, "
          f"max {f['max']:.4f} eV/A (zero-force RMSE {f['reference_rms']:.4f}) -> {args.out}")
    return 0
