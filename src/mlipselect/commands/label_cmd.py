"""Relabel frames with single points of a reference calculator (BMHTF or any ASE calculator).

Progress is shown; finished frames are kept in OUT.partial, so an interrupted run resumes
where it stopped. A frame the calculator fails on is named in one error message.
"""

from pathlib import Path


def configure(p) -> None:
    p.add_argument("input", type=Path, help="frames to label (extxyz or any ASE format)")
    p.add_argument("--calculator", default="reference",
                   help="'reference' (BMHTF) or MODULE:CALLABLE returning an ASE calculator")
    p.add_argument("--config", "--profile", dest="profile", default=None,
                   help="profile whose 'reference' section sets the BMHTF cutoff and accuracy")
    p.add_argument("--out", required=True, type=Path, help="labelled frames (extxyz)")


def run(args) -> int:
    from mlipselect.config import load_profile
    from mlipselect.label import label_file, make_calculator

    reference = load_profile(args.profile)["reference"] if args.profile else None
    n = label_file(args.input, args.out, make_calculator(args.calculator, reference))
    print(f"labelled {n} frames -> {args.out}")
    return 0
