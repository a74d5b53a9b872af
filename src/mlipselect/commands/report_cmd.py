"""Draw the figures F1-F3 and write the claims report from the files of a reproduction.

Takes the pool, the selections, the models' test metrics per test set and the MD runs (each
a status JSON of `mlipselect md` and its g(r) CSV from `mlipselect rdf`, in the same order,
the reference among them); what each file is comes from the file itself. Writes
OUT/figures/fig{1,2,3}_*.{png,pdf}, OUT/report.json and OUT/report.md. With --labelled (the
selections relabelled by another labeller, e.g. GFN1-xTB), also how the selector's labels
relate to the labeller's: OUT/figures/fig4_labels.{png,pdf} and a section of the report.
"""

from pathlib import Path

PROFILE = "required"


def configure(p) -> None:
    p.add_argument("--pool", required=True, type=Path, help="the pool (HDF5)")
    p.add_argument("--selections", required=True, nargs="+", type=Path,
                   help="selected frames written by `mlipselect select`")
    p.add_argument("--metrics", required=True, nargs="+", action="append",
                   metavar=("TEST_SET", "METRICS"),
                   help="a test set's name, then the metrics `mlipselect evaluate` wrote on it "
                        "(repeat per test set; F2 and C2 use 'independent', else the first)")
    p.add_argument("--md", required=True, nargs="+", type=Path,
                   help="MD status files (TRAJECTORY.json), the reference's among them")
    p.add_argument("--rdf", required=True, nargs="+", type=Path,
                   help="g(r) of the same runs, in the same order")
    p.add_argument("--labelled", nargs="+", type=Path, default=[],
                   help="the selections relabelled by `mlipselect label` (another labeller)")
    p.add_argument("--out", required=True, type=Path,
                   help="directory for figures/, report.json and report.md")


def run(args) -> int:
    from mlipselect.config import load_profile
    from mlipselect.errors import InputError
    from mlipselect.study.report import Inputs, build_report

    if len(args.md) != len(args.rdf):
        raise InputError(f"--md names {len(args.md)} runs and --rdf {len(args.rdf)}: give one "
                         "g(r) per MD status, in the same order")
    runs = list(zip(args.md, args.rdf, strict=True))
    metrics = {}
    for name, *files in args.metrics:
        if not files:
            raise InputError(f"--metrics {name}: name a test set, then its metrics files")
        metrics[name] = [Path(f) for f in files]
    inputs = Inputs(args.pool, args.selections, metrics, runs, args.labelled)
    report = build_report(load_profile(args.profile), inputs, args.out,
                          overwrite=args.overwrite)
    for key, claim in report["claims"].items():
        print(f"{key}: {claim['verdict']}")
    print(f"report: {args.out / 'report.md'}")
    return 0
