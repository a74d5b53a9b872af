"""Train a potential of a registered family (SchNet 'nn', sparse GPR 'gpr') on labelled frames.

The profile's train.<model> section sets the model's sizes and training; --size picks one
(default: the first listed). The model directory gets model.json (family, size, settings,
seed, species, fit time and peak memory) and the model's files (for nn, also loss.csv); it
appears only when training finishes. A rerun on the same frames with the same settings and
seed keeps the model and does nothing; another model at OUT is replaced only with --overwrite.
"""

from pathlib import Path

from mlipselect.commands import seed

PROFILE = "quick"
PROGRESS = True


def configure(p) -> None:
    from mlipselect.models import families

    p.add_argument("--model", required=True, choices=list(families()), help="model family")
    p.add_argument("--train", required=True, type=Path,
                   help="labelled frames (extxyz or any ASE format) with energies and forces")
    p.add_argument("--size", default=None, help="size name from train.<model>.sizes")
    p.add_argument("--seed", type=seed, default=0, help="seed of initial weights, split, order")
    p.add_argument("--out", required=True, type=Path, help="model directory to write")


def run(args) -> int:
    from mlipselect.config import load_profile
    from mlipselect.models import family_settings, read_training_frames, train_model

    profile = load_profile(args.profile)
    family_settings(profile, args.model, args.size)  # a bad size fails before any work
    frames = read_training_frames(args.train)
    training = train_model(args.model, frames, profile, args.out, size=args.size,
                           seed=args.seed, progress=args.progress, source=str(args.train),
                           overwrite=args.overwrite)
    model, fit = training.model, training.model.manifest["fit"]
    if training.outcome.already:
        print(f"{args.out} already holds this model, trained on the same frames with the same "
              "settings and seed; nothing to do")
        return 0
    device = fit.get("device")  # the GPR records none: it runs on the CPU
    where = {None: "", "cpu": " on the CPU (torch sees no GPU)"}.get(device, f" on {device}")
    print(f"trained {args.model}-{model.manifest['size']} on {len(frames)} frames{where} in "
          f"{fit['seconds']:.1f} s (peak memory {fit['peak_memory_mb']:.0f} MB) -> {args.out}")
    return 0
