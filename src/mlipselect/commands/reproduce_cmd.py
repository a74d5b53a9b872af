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
import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

WRITES = False  # Snakemake decides what is rerun; each job's verb guards its own outputs
ON_INTERRUPT = "the finished jobs are kept; the same command resumes"


def configure(p) -> None:
    p.add_argument("--profile", "--config", dest="profile", default="quick",
                   help="smoke, quick (default), xtb, paper, or a profile YAML")
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
    p.add_argument("snakemake_args", nargs=argparse.REMAINDER,
                   help="after --: extra Snakemake arguments")


def run(args) -> int:
    from mlipselect.config import load_profile
    from mlipselect.study.plan import Plan, cluster_profile, snakefile

    profile = load_profile(args.profile)
    plan = Plan(profile)  # checks the profile's grid before Snakemake starts
    if args.estimate:
        return estimate(plan, args.cores or os.cpu_count() or 1)
    results = args.results or Path("results") / profile["name"]
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile()),
        "--directory", str(Path.cwd()), "--printshellcmds",
        "--config", f"profile={Path(profile['path']).resolve()}", f"results={results}",
    ]
    command += ["--profile", str(cluster_profile(args.cluster))] if args.cluster else [
        "--cores", str(args.cores or "all")]
    if args.dry_run:
        command.append("--dry-run")
    extra = args.snakemake_args[1:] if args.snakemake_args[:1] == ["--"] else args.snakemake_args
    if not args.dry_run:
        # Our lock replaces Snakemake's, which outlives a killed run and then blocks the
        # rerun; jobs a killed run left half done are rerun (Snakemake's incomplete marks).
        command += ["--nolock", "--rerun-incomplete"]
    print(f"results go to {results}/", file=sys.stderr)
    # The rules call `mlipselect`: the one installed beside this Python comes first.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                  os.environ.get("PATH", "")])}
    with contextlib.nullcontext() if args.dry_run else one_run(results):
        status = subprocess.run(command + extra, env=env).returncode
    if status == 0 and args.publish and not args.dry_run:
        publish(results, args.publish)
    return status


def estimate(plan, cores: int) -> int:
    import torch

    from mlipselect.study.estimate import calibrate, jobs, summary, table

    costs = calibrate(plan.profile, progress=lambda m: print(m, file=sys.stderr))
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    print(f"profile {plan.profile['name']}:")
    print(table(summary(jobs(plan, costs), cores, gpu)))
    return 0


@contextlib.contextmanager
def one_run(results: Path):
    """Hold an exclusive lock on ``results`` for the run. The kernel releases it when the
    holder dies, however it dies, so a killed run never blocks the next one."""
    from mlipselect.errors import InputError

    results.mkdir(parents=True, exist_ok=True)
    with open(results / ".reproduce.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise InputError(f"{results}: another `mlipselect reproduce` (pid "
                             f"{fh.read().strip() or '?'}) is running on it; wait for it or "
                             "stop it") from None
        fh.truncate(0)
        fh.write(str(os.getpid()))
        fh.flush()
        # Temporary files of writes a killed run cut short (``io.atomic_path``); nothing else
        # writes here while the lock is held. Resumable ``.partial`` results are kept.
        for stale in results.rglob(".*.part"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        yield


def publish(results: Path, target: Path) -> None:
    """Copy the figures and the report of a finished run into ``target``, side by side (the
    report's figure links lose their ``figures/`` prefix)."""
    target.mkdir(parents=True, exist_ok=True)
    for path in [*sorted((results / "figures").glob("fig*")), results / "report.json"]:
        shutil.copy2(path, target / path.name)
    text = (results / "report.md").read_text().replace("](figures/", "](")
    (target / "report.md").write_text(text)
    print(f"published figures and report to {target}/", file=sys.stderr)
