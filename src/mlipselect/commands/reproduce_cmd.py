"""Reproduce the study: the package's Snakemake workflow at a profile's scale.

Runs sample -> pool -> split -> select -> label -> train -> evaluate -> MD -> RDF -> report,
writing every intermediate to results/PROFILE/ and the figures and report to
results/PROFILE/figures and results/PROFILE/report.{md,json}. Finished jobs are not redone:
an interrupted run (Ctrl-C, a killed process, a lost node) resumes with the same command, a
rerun with nothing changed does nothing, and a changed setting reruns only what depends on it.
One run at a time per results directory: a second is refused while the first is alive.
Arguments after `--` go to Snakemake unchanged.

--estimate runs nothing of the workflow: it prints, per rule and in total, the core-hours,
GPU-hours, peak memory and the wall time on --cores cores, from costs measured on this
machine by a short calibration at the profile's size (cached; about a minute at the quick
profile's size), and names the jobs that no single node finishes in a day.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

WRITES = False  # Snakemake decides what is rerun; each job's verb guards its own outputs
ON_INTERRUPT = "the finished jobs are kept; the same command resumes"

PROFILE = "quick"


def configure(p) -> None:
    from mlipselect.study.workflow import CLAIMS_END, CLAIMS_START

    p.add_argument("--dry-run", action="store_true", help="plan the jobs, run nothing")
    p.add_argument("--estimate", action="store_true",
                   help="print what the run would cost on --cores cores, run nothing")
    p.add_argument("--cores", type=int, default=None, help="local cores (default: all)")
    p.add_argument("--cluster", metavar="PROFILE", default=None,
                   help="a Snakemake profile directory for a cluster, or 'slurm' for the one "
                        "that ships with mlipselect")
    p.add_argument("--results", type=Path, default=None,
                   help="results directory (default: results/PROFILE)")
    p.add_argument("--publish", type=Path, default=None, metavar="DIR",
                   help="after a complete run, copy the figures and report into DIR")
    p.add_argument("--readme", type=Path, default=None, metavar="FILE",
                   help="with --publish: write the published report's claims table into FILE, "
                        f"between the lines {CLAIMS_START} and {CLAIMS_END}")
    p.add_argument("snakemake_args", nargs=argparse.REMAINDER,
                   help="after --: extra Snakemake arguments")


def run(args) -> int:
    from mlipselect.config import load_profile
    from mlipselect.errors import InputError
    from mlipselect.study.workflow import estimate, reproduce

    profile = load_profile(args.profile)
    if args.estimate:
        print(estimate(profile, args.cores or os.cpu_count() or 1))
        return 0
    extra = args.snakemake_args[1:] if args.snakemake_args[:1] == ["--"] else args.snakemake_args
    if args.readme and not args.publish:
        raise InputError("--readme needs --publish: the table comes from the published report")
    return reproduce(profile, args.results, args.cores, args.cluster, args.dry_run, extra,
                     args.publish, readme=args.readme)
