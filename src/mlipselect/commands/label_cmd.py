"""Relabel frames with single points of a reference calculator (BMHTF or any ASE calculator).

--calculator takes 'reference' (the default: the BMHTF NaCl potential, for Na and Cl only),
an importable MODULE:CALLABLE (the working directory is searched too), or a PATH.py:CALLABLE;
the callable takes no arguments and returns an ASE calculator, e.g.

    mlipselect label train.extxyz --calculator mycalc.py:make_calculator --out labelled.extxyz

Progress is shown; finished frames are kept in OUT.partial, so an interrupted run resumes
where it stopped, and a rerun of finished work does nothing. A partial or finished result of
other work (another input or calculator) is never appended to or replaced without
--overwrite. A frame the calculator fails on is named in one error message.
"""

from pathlib import Path

ON_INTERRUPT = "the frames labelled so far are kept in {out}.partial; the same command resumes"


def configure(p) -> None:
    p.add_argument("input", type=Path, help="frames to label (extxyz or any ASE format)")
    p.add_argument("--calculator", default="reference",
                   help="'reference' (BMHTF NaCl; default), MODULE:CALLABLE or PATH.py:CALLABLE "
                   "returning an ASE calculator")
    p.add_argument("--config", "--profile", dest="profile", default=None,
                   help="profile whose 'reference' section sets the BMHTF cutoff and accuracy")
    p.add_argument("--out", required=True, type=Path,
                   help="labelled frames, in the format of its extension (.extxyz, .traj, ...)")


def run(args) -> int:
    from mlipselect.config import load_profile
    from mlipselect.label import label_file, make_calculator, reference_species
    from mlipselect.pool.frames_io import iread_frames

    reference = load_profile(args.profile)["reference"] if args.profile else None
    if args.calculator == "reference":
        reference_species(iread_frames(args.input, require=()), str(args.input))
    counts = label_file(args.input, args.out, make_calculator(args.calculator, reference),
                        overwrite=args.overwrite)
    if counts is None:
        print(f"{args.out} already holds these frames labelled by this calculator; nothing to do")
    else:
        resumed = f" ({counts[1]} more resumed from the partial result)" if counts[1] else ""
        print(f"labelled {counts[0]} frames{resumed} -> {args.out}")
    return 0
