"""The reproduction through a real SLURM: the one-node cluster of
`reproduce/slurm/single-node` and Snakemake's SLURM executor. Every job is a SLURM job with
the threads and memory its profile asks for; a cancelled job and a killed controller are
survived by running the same command again, which redoes no finished job; and the results
equal those of a local run. Needs the cluster up: `tox -e cluster` brings it up and runs this.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

PROFILE = Path(__file__).parents[1] / "reproduce" / "slurm" / "profile"


def sacct(*fields: str) -> list[list[str]]:
    out = subprocess.run(["sacct", "-X", "--parsable2", "--noheader", "--starttime",
                          "now-1days", f"--format={','.join(fields)}"],
                         capture_output=True, text=True, check=True).stdout
    return [line.split("|") for line in out.splitlines()]


def running(rule: str) -> list[str]:
    """SLURM ids of the running jobs of a workflow rule (the executor puts the rule in the
    job's comment)."""
    out = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], capture_output=True,
                         text=True, check=True).stdout
    return [i for i, comment in (line.split("|", 1) for line in out.splitlines())
            if comment.startswith(f"rule_{rule}_")]


def wait_until(condition, proc, what: str, timeout: float = 900):
    end = time.monotonic() + timeout
    while not (found := condition()):
        assert proc.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.5)
    return found


class Administrator(threading.Thread):
    """The administrator's part after a controller crash, for as long as the runs go on: a
    job the dead controller was starting can come back as a duplicate, for which SLURM drains
    the node and holds the job; put the node back in service and release held jobs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(2):
            if "drain" in subprocess.run(["sinfo", "-h", "-N", "-o", "%T"],
                                         capture_output=True, text=True).stdout:
                subprocess.run(["scontrol", "update", f"nodename={socket.gethostname()}",
                                "state=resume"], capture_output=True)
            pending = subprocess.run(["squeue", "-h", "-t", "PENDING", "-o", "%i|%r"],
                                     capture_output=True, text=True).stdout
            for line in pending.splitlines():
                job, reason = line.split("|", 1)
                if "held" in reason.lower():
                    subprocess.run(["scontrol", "release", job], capture_output=True)


@pytest.fixture(scope="module")
def cluster():
    if shutil.which("sinfo") is None or subprocess.run(["scontrol", "ping"],
                                                       capture_output=True).returncode:
        pytest.fail("no SLURM cluster answers: `reproduce/slurm/single-node up` starts one "
                    "(`tox -e cluster` does)")


def test_the_smoke_reproduction_through_slurm_survives_faults(cluster, tmp_path):
    runs = iter(range(10))

    def reproduce(results: str, *extra: str):
        """A run in the background, its output to a file (a pipe nobody reads would fill)."""
        command = [sys.executable, "-m", "mlipselect.cli", "reproduce", "--profile", "smoke",
                   "--results", results, *extra]
        log = tmp_path / f"run{next(runs)}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(command, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
        proc.log = log
        return proc

    def finished(proc) -> str:
        proc.wait()
        return proc.log.read_text()

    local = reproduce("local", "--cores", "2")
    assert local.wait() == 0, finished(local)[-3000:]
    on_slurm = ("slurm", "--cluster", str(PROFILE))

    # 1. A training job cancelled while it runs: the run fails, naming it.
    first = reproduce(*on_slurm)
    cancelled = wait_until(lambda: running("train"), first, "a training job to run")[0]
    subprocess.run(["scancel", cancelled], check=True)
    log = finished(first)
    assert first.returncode != 0 and f"SLURM jobid {cancelled}" in log
    kept = {p: p.stat().st_mtime_ns for p in (tmp_path / "slurm").rglob("*")
            if p.is_file() and "states" in p.parts}
    assert kept, "sampling finished before the cancel"

    # 2. The controller killed while jobs run and started again a little later (jobs submitted
    #    meanwhile fail; jobs it was running may be requeued and held).
    second = reproduce(*on_slurm)
    wait_until(lambda: running("evaluate") or running("md_batch"), second,
               "an evaluation or MD job to run")
    subprocess.run(["pkill", "-9", "-x", "slurmctld"], check=True)
    time.sleep(10)
    subprocess.run(["slurmctld"], check=True)
    admin = Administrator()
    admin.start()
    try:
        second.wait(timeout=300)
    except subprocess.TimeoutExpired:
        # Jobs submitted just before the crash can be lost with the controller's unsaved
        # state; the executor waits for them forever. The user stops the run (Ctrl-C).
        second.send_signal(signal.SIGINT)
        second.wait(timeout=300)
    log += finished(second)

    # 3. The same command finishes the workflow.
    third = reproduce(*on_slurm)
    log += finished(third)
    admin.done.set()
    assert third.returncode == 0, log[-3000:]

    # Every workflow job ran as a SLURM job; the job ids are in the log; the cancelled one
    # is recorded as such; each asked for what the profile gives it.
    ids = set(re.findall(r"submitted with SLURM jobid (\d+)", log))
    jobs = {row[0]: row[1:] for row in sacct("JobIdRaw", "State", "ReqCPUS", "ReqMem",
                                            "Partition", "Comment%300")}
    assert ids <= set(jobs)
    assert jobs[cancelled][0].startswith("CANCELLED")
    ours = {i: jobs[i] for i in ids}
    held = [i for i, (state, *_) in ours.items() if state in ("PENDING", "REQUEUED")]
    if held:  # left over from the killed controller; the third run redid their work
        subprocess.run(["scancel", *held], check=True)
    for _, cpus, mem, partition, comment in ours.values():
        assert (cpus, mem) == ("1", "2000M")
        rule = comment.removeprefix("rule_").split("_wildcards")[0]
        assert partition == ("gpu" if rule in ("train", "md_batch") else "cpu"), comment
    planned = subprocess.run(
        [sys.executable, "-m", "mlipselect.cli", "reproduce", "--profile", "smoke",
         "--results", "fresh", "--dry-run", "--", "--quiet", "rules"],
        cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"^total\s+(\d+)$", planned, re.MULTILINE).group(1))
    completed = {c for s, _, _, _, c in ours.values() if s == "COMPLETED"}
    assert len(completed) == total - 1  # every job but the local `all`, once

    # Nothing finished before the faults was redone; the metrics are the local run's.
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    local_metrics = sorted(p.relative_to(tmp_path / "local")
                           for p in (tmp_path / "local" / "metrics").rglob("*.json"))
    assert local_metrics == sorted(p.relative_to(tmp_path / "slurm")
                                   for p in (tmp_path / "slurm" / "metrics").rglob("*.json"))
    for path in local_metrics:
        ours_, theirs = (json.loads((tmp_path / root / path).read_text())
                         for root in ("slurm", "local"))
        for key in ("mae", "rmse", "max"):
            assert ours_["forces"][key] == pytest.approx(theirs["forces"][key], rel=1e-6), path
