"""`mlipselect reproduce --estimate`: every job of the plan is costed, jobs are packed onto the
cores as they would run, jobs no node finishes in a day are named, and the calibration is
measured once per machine and settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from mlipselect.config import load_profile
from mlipselect.study.estimate import Costed, jobs, summary, table, wall_seconds
from mlipselect.study.plan import Plan


def unit_costs(plan: Plan, md_step_s: float = 0.01) -> dict:
    """Costs per unit as a calibration reports them, the same for every model size."""
    model = {"train_s_per_frame": 0.1, "predict_s": 0.01, "md_step_s": md_step_s,
             "memory_mb": 900.0}
    profile = plan.profile
    return {"startup": {"light": {"seconds": 1.0, "memory_mb": 200.0},
                        "models": {"seconds": 4.0, "memory_mb": 800.0}},
            "sample": {"step_s": 1e-3, "memory_mb": 400.0},
            "reference_point": {"step_s": 0.02, "memory_mb": 400.0},
            "label": {"step_s": 3.6, "memory_mb": 500.0},
            "descriptors": {"env_s": 2.5e-5, "memory_mb": 600.0},
            "models": {f"{family}-{size}": model for family in profile.reproduce.train_n
                       for size in profile.train[family]["sizes"]}}


def planned_jobs(profile: str, tmp_path) -> dict[str, int]:
    """Snakemake's own count of jobs per rule for a fresh run of ``profile``."""
    out = subprocess.run(
        [sys.executable, "-m", "mlipselect.cli", "reproduce", "--profile", profile,
         "--results", str(tmp_path / "results"), "--dry-run", "--", "--quiet", "rules"],
        capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, re.MULTILINE))
    return {rule: int(n) for rule, n in counts.items() if rule not in ("all", "total")}


@pytest.mark.parametrize("profile", ["smoke", "quick", "active", "xtb"])
def test_every_job_of_the_workflow_is_costed(profile, tmp_path):
    plan = Plan(load_profile(profile))
    costed: dict[str, int] = {}
    for job in jobs(plan, unit_costs(plan)):
        costed[job.rule] = costed.get(job.rule, 0) + 1
    assert costed == planned_jobs(profile, tmp_path)


def test_jobs_are_packed_onto_the_cores_stage_by_stage():
    one = [Costed("train", str(i), 10.0, 1.0, stage=0) for i in range(4)]
    assert wall_seconds(one, cores=2) == 20.0
    assert wall_seconds(one, cores=4) == 10.0
    # a two-thread job takes two cores; a later stage waits for the earlier one
    wide = [Costed("md", "a", 10.0, 1.0, threads=2), Costed("md", "b", 10.0, 1.0),
            Costed("rdf", "c", 5.0, 1.0, stage=1)]
    assert wall_seconds(wide, cores=2) == 25.0
    # GPU jobs run beside the CPU jobs of their stage where there is a GPU
    mixed = [Costed("train", "nn", 10.0, 1.0, gpu=True), Costed("train", "gpr", 8.0, 1.0)]
    assert wall_seconds(mixed, cores=1, gpus=1) == 10.0
    assert wall_seconds(mixed, cores=1) == 18.0


def test_jobs_no_node_finishes_in_a_day_are_named_and_a_shorter_md_brings_them_under():
    profile = load_profile("paper")
    plan = Plan(profile)
    costs = unit_costs(plan)
    # the GPR's step at 1000 ions as measured (0.13 s on a core): 1000 ps take about 19 hours
    gpr_sizes = [f"gpr-{size}" for size in profile.train["gpr"]["sizes"]]
    for size in gpr_sizes:
        costs["models"][size] = {**costs["models"][size], "md_step_s": 0.13}
    assert summary(jobs(plan, costs), cores=16, gpu=None)["over_a_day"] == []
    # a GPR five times slower: every GPR-driven run needs days, and is named
    for size in gpr_sizes:
        costs["models"][size]["md_step_s"] = 0.7
    full = summary(jobs(plan, costs), cores=16, gpu=None)
    slow = full["over_a_day"]
    assert len(slow) == sum(job.startswith("gpr-") for job in plan.md_jobs)
    assert all(name.startswith("md_model gpr-") for name in slow)
    assert full["dominant"][0] == "md_model"
    text = table(full)
    assert f"{len(slow)} job(s) need more than a day on one node" in text
    assert "GPU: none seen here" in text
    # ... until the profile shortens that model's MD
    profile.reproduce.md_models["gpr-soap"]["time_ps"] = 100.0
    shortened = Plan(profile)
    assert shortened.md_settings["gpr-soap"].time_ps == 100.0
    assert shortened.md_settings["nn-medium"].time_ps == profile.md.time_ps
    assert summary(jobs(shortened, costs), cores=16, gpu=None)["over_a_day"] == []


@pytest.mark.slow
def test_the_estimate_calibrates_once_and_prints_every_rule(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "mlipselect.cli", "reproduce", "--profile", "smoke",
               "--estimate", "--cores", "2"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "calibrating: nn small" in first.stderr
    assert len(list((tmp_path / "cache" / "mlipselect").glob("calibration-*.json"))) == 1
    for rule in ("sample_state", "train", "evaluate", "md_model", "report"):
        assert re.search(rf"^{rule}\s+\d+\s+[\d.]+", first.stdout, re.MULTILINE), first.stdout
    assert re.search(r"wall time on 2 cores: [\d.]+ h", first.stdout)
    again = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "calibrating" not in again.stderr and again.stdout == first.stdout
    assert not (tmp_path / "results").exists()  # nothing of the workflow ran


def test_a_shortened_model_runs_shorter_md_and_nothing_else_changes(tmp_path, make_profile):
    shortened = make_profile("paper", reproduce={"md_models": {
        "nn-medium": {"runs": 2}, "gpr-soap": {"runs": 2, "time_ps": 100.0}}})
    out = subprocess.run(
        [sys.executable, "-m", "mlipselect.cli", "reproduce", "--profile", shortened,
         "--results", str(tmp_path / "results"), "--dry-run", "--", "--forceall"],
        capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    md = [line for line in out.splitlines() if "mlipselect md " in line and "reference" not in line]
    assert md and all(("--time-ps 100.0 " in line) == ("/models/gpr-" in line) for line in md)
    assert all("--time-ps 1000.0 " in line for line in md if "/models/nn-" in line)
    profile = load_profile("paper")
    profile.reproduce.md_models["gpr-soap"]["time_ps"] = 2000.0
    with pytest.raises(ValueError, match=r"md_models.gpr-soap.time_ps \(2000.0\) must be up to "
                                         r"md.time_ps \(1000.0\)"):
        Plan(profile)
