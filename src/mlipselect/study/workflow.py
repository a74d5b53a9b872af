"""The study as one call: the package's Snakemake workflow at a profile's scale.

:func:`reproduce` runs the workflow (``study/Snakefile``) on a loaded profile, locally or
through a Snakemake cluster profile, one run at a time per results directory, and can publish
the figures and report of a finished run; :func:`estimate` prints what a run would cost.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mlipselect.config import Profile
from mlipselect.io import exclusive_run
from mlipselect.study.plan import Plan, cluster_profile, snakefile

CLAIMS_START, CLAIMS_END = "<!-- claims -->", "<!-- /claims -->"
"""The lines around the claims table :func:`write_claims_table` writes into a README."""


def snakemake_command(profile: Profile, results: Path, cores: int | None = None,
                      cluster=None, dry_run: bool = False, extra=()) -> list[str]:
    """The Snakemake command line that runs ``profile``'s workflow into ``results``."""
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile()),
        "--directory", str(Path.cwd()), "--printshellcmds",
        "--config", f"profile={Path(profile.path).resolve()}", f"results={results}",
    ]
    command += ["--profile", str(cluster_profile(cluster))] if cluster else [
        "--cores", str(cores or "all")]
    if dry_run:
        command.append("--dry-run")
    else:
        # Our lock replaces Snakemake's, which outlives a killed run and then blocks the
        # rerun; jobs a killed run left half done are rerun (Snakemake's incomplete marks).
        command += ["--nolock", "--rerun-incomplete"]
    return command + list(extra)


def reproduce(profile: Profile, results=None, cores: int | None = None, cluster=None,
              dry_run: bool = False, extra=(), publish_to=None, readme=None) -> int:
    """Run (or, with ``dry_run``, plan) the study of ``profile`` into ``results`` (default
    ``results/NAME``); Snakemake's exit status. ``cluster``: a Snakemake profile directory,
    or the name of one shipped with the package; ``extra``: Snakemake arguments;
    ``publish_to``: a directory the figures and report of a complete run are copied to;
    ``readme``: a file whose claims table (:func:`write_claims_table`) is then rewritten."""
    Plan(profile)  # checks the profile's grid before Snakemake starts
    if readme:
        claims_markers(Path(readme))  # a README that cannot take the table fails now
    results = Path(results or Path("results") / profile.name)
    command = snakemake_command(profile, results, cores, cluster, dry_run, extra)
    print(f"results go to {results}/", file=sys.stderr)
    # The rules call `mlipselect`: the one installed beside this Python comes first.
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent),
                                                  os.environ.get("PATH", "")])}
    lock = contextlib.nullcontext() if dry_run else exclusive_run(
        results, "`mlipselect reproduce`")
    with lock:
        status = subprocess.run(command, env=env).returncode
    if status == 0 and publish_to and not dry_run:
        publish(results, Path(publish_to))
        if readme:
            write_claims_table(Path(publish_to) / "report.json", Path(readme))
    return status


def estimate(profile: Profile, cores: int) -> str:
    """What a run of ``profile`` costs on ``cores`` cores (and the GPU torch sees), per rule
    and in total, from a calibration on this machine (cached)."""
    import torch

    from mlipselect.study.estimate import calibrate, jobs, summary, table

    plan = Plan(profile)
    costs = calibrate(profile, progress=lambda m: print(m, file=sys.stderr))
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return f"profile {profile.name}:\n" + table(summary(jobs(plan, costs), cores, gpu))


def publish(results: Path, target: Path) -> None:
    """Copy the figures and the report of a finished run into ``target``, side by side (the
    report's figure links lose their ``figures/`` prefix): the figures the report drew, not
    others an earlier report of another profile left in the same results."""
    target.mkdir(parents=True, exist_ok=True)
    drawn = json.loads((results / "report.json").read_text())["figures"]
    for path in [*(results / f for f in drawn), results / "report.json"]:
        shutil.copy2(path, target / path.name)
    text = (results / "report.md").read_text().replace("](figures/", "](")
    (target / "report.md").write_text(text)
    print(f"published figures and report to {target}/", file=sys.stderr)


def claims_markers(readme: Path) -> str:
    """The text of ``readme``, checked to hold the claims markers once each, in order."""
    from mlipselect.errors import InputError

    try:
        text = readme.read_text()
    except OSError as err:
        raise InputError(f"{readme}: cannot read ({err.strerror})") from None
    if text.count(CLAIMS_START) != 1 or text.count(CLAIMS_END) != 1 \
            or text.index(CLAIMS_START) > text.index(CLAIMS_END):
        raise InputError(f"{readme}: needs one line {CLAIMS_START} and, after it, one line "
                         f"{CLAIMS_END} around the claims table")
    return text


def write_claims_table(report_json: Path, readme: Path) -> None:
    """Replace the lines between the claims markers of ``readme`` with the claims table of a
    report (:func:`~mlipselect.study.report.claims_table`), so the README states what the
    published run measured; a file without the markers is refused, untouched."""
    from mlipselect.io import atomic_path
    from mlipselect.study.report import claims_table

    text = claims_markers(readme)
    head, rest = text.split(CLAIMS_START)
    _, tail = rest.split(CLAIMS_END)
    table = claims_table(json.loads(report_json.read_text()))
    with atomic_path(readme) as tmp:
        tmp.write_text(f"{head}{CLAIMS_START}\n{table}{CLAIMS_END}{tail}")
    print(f"wrote the claims table of {report_json} into {readme}", file=sys.stderr)
