"""Draw the figures F1-F3 and write the claims report from a finished reproduction run.

Reads RESULTS (pool, selections, metrics, MD trajectories and g(r)) as the workflow laid them
out, writes RESULTS/figures/fig{1,2,3}_*.{png,pdf}, RESULTS/report.json and RESULTS/report.md.
"""

from pathlib import Path


def configure(p) -> None:
    p.add_argument("--config", "--profile", dest="profile", required=True,
                   help="the profile the results were made with")
    p.add_argument("--results", required=True, type=Path, help="results directory of the run")


def run(args) -> int:
    from mlipselect.config import load_profile
    from mlipselect.report import build_report

    report = build_report(load_profile(args.profile), args.results, overwrite=args.overwrite)
    for key, claim in report["claims"].items():
        print(f"{key}: {claim['verdict']}")
    print(f"report: {args.results / 'report.md'}")
    return 0
