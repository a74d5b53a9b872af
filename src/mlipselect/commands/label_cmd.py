"""Relabel frames with single points of a labeller (BMHTF, GFN1-/GFN2-xTB or any ASE calculator).

--calculator takes 'reference' (the BMHTF NaCl potential, for Na and Cl only), 'gfn1-xtb' or
'gfn2-xtb' (tblite's tight binding, any elements it parametrises), an importable
MODULE:CALLABLE (the working directory is searched too), or a PATH.py:CALLABLE; the callable
takes no arguments and returns an ASE calculator, e.g.

    mlipselect label train.extxyz --calculator gfn1-xtb --cache labels --out labelled.extxyz
    mlipselect label train.extxyz --calculator mycalc.py:make_calculator --out labelled.extxyz

Without --calculator, the profile's label.calculator (with its label.settings) is used, else
'reference'. Progress is shown; a rerun of finished work does nothing.

Without --cache, finished frames are kept in OUT.partial, an interrupted run resumes where it
stopped, and a frame the calculator fails on stops the run with one message naming it. With
--cache DIR, each distinct frame is labelled once per labeller across every file labelled
through DIR (overlapping selections cost nothing extra), a killed run resumes with every
finished frame, and a frame the labeller fails on is recorded there, named and left out of OUT
while the others are labelled. A result of other work (another input or calculator) is never
appended to or replaced without --overwrite.
"""

import sys
from pathlib import Path

ON_INTERRUPT = ("the frames labelled so far are kept in {out}.partial (or in the --cache "
                "folder); the same command resumes")

PROFILE = "optional"
PROGRESS = True


def configure(p) -> None:
    p.add_argument("input", type=Path, help="frames to label (extxyz or any ASE format)")
    p.add_argument("--calculator", default=None,
                   help="'reference' (BMHTF NaCl), 'gfn1-xtb', 'gfn2-xtb', MODULE:CALLABLE or "
                   "PATH.py:CALLABLE returning an ASE calculator (default: the profile's "
                   "label.calculator, else 'reference')")
    p.add_argument("--cache", type=Path, default=None,
                   help="folder of labels shared by every run that names it: each distinct "
                   "frame is labelled once, failures are recorded and skipped")
    p.add_argument("--retry-failed", action="store_true",
                   help="with --cache: label again the frames whose failure the cache "
                   "recorded (failures are otherwise kept and not retried)")
    p.add_argument("--out", required=True, type=Path,
                   help="labelled frames, in the format of its extension (.extxyz, .traj, ...)")


def run(args) -> int:
    from mlipselect.config import load_profile
    from mlipselect.label import label_frames

    done = label_frames(args.input, args.out, args.calculator,
                        load_profile(args.profile) if args.profile else None, args.cache,
                        args.retry_failed, args.overwrite, args.progress)
    if done.already:
        print(f"{args.out} already holds these frames labelled by this calculator; nothing to do")
        return 0
    for failure in done.failed:
        print(f"{args.input}: the labeller failed on {failure}; left out of {args.out} "
              "(--retry-failed labels it again)", file=sys.stderr)
    reused = (f", {done.reused} from the cache {args.cache}, {len(done.failed)} failed"
              if args.cache else f" ({done.reused} more resumed from the partial result)"
              if done.reused else "")
    print(f"labelled {done.computed} frames{reused} -> {args.out}")
    return 0
