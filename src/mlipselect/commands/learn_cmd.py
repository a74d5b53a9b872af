"""Select training frames by active learning: rounds of train, score, select and label.

A start of the n frames (active.start_fraction) by active.initial (random by default), then
active.rounds rounds: the method's models (active.models.METHOD: family, size, count) train
on the frames so far, the method scores the pool's candidates with them and extends the
selection, and the new frames are labelled (by the pool's labels, or the profile's
label.calculator through --cache). OUT is a selection like `mlipselect select` writes, each
frame recording the method that chose it; the rounds (selections, models) stay in
OUT's name with .rounds, and a rerun goes on from the last finished round.

Methods: committee (force spread across a committee), gpr-variance (a GPR's predicted
variance), bal (batch active learning on a network's last-layer gradients), or any a package
registers that extends a selection. Example:

  mlipselect learn pool.h5 --method committee -n 64 --exclude test.idx --config quick \\
      --out committee-64.extxyz
"""

import sys
from pathlib import Path

from mlipselect.commands import seed

PROFILE = "optional"
PROGRESS = True
ON_INTERRUPT = "finished rounds are kept beside {out}; run again to go on"


def configure(p) -> None:
    p.add_argument("pool", type=Path, help="pool file (HDF5)")
    p.add_argument("--method", required=True,
                   help="a selection method that asks models: committee, gpr-variance, bal")
    p.add_argument("-n", type=int, required=True, help="frames to select in all")
    p.add_argument("--seed", type=seed, default=0,
                   help="seed of the start's selection and the models' training (default 0)")
    p.add_argument("--exclude", type=Path, default=None,
                   help="index file of frames never to select (from `mlipselect split`)")
    p.add_argument("--cache", type=Path, default=None,
                   help="the labeller's cache folder, where the profile names a labeller")
    p.add_argument("--out", required=True, type=Path, help="selected frames (.extxyz, ...)")


def run(args) -> int:
    from mlipselect.active.learn import learn, rounds_directory
    from mlipselect.config import profile_or_defaults

    rounds = learn(args.pool, args.method, args.n, args.out, profile_or_defaults(args.profile),
                   seed=args.seed, exclude=args.exclude, label_cache=args.cache,
                   progress=args.progress, overwrite=args.overwrite,
                   log=lambda line: print(line, file=sys.stderr))
    print(f"selected {rounds[-1].frames} frames in {len(rounds) - 1} rounds after a start of "
          f"{rounds[0].frames} -> {args.out} (rounds in {rounds_directory(args.out)})")
    return 0
