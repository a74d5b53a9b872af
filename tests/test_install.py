"""The package as users install it: a wheel, not this checkout, carries the workflow and the
profiles, so `mlipselect reproduce` plans the study from any directory."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_wheel_plans_the_reproduction_from_any_directory(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "--wheel-dir", str(tmp_path / "dist"), str(ROOT)],
                   check=True, capture_output=True)
    wheel, = (tmp_path / "dist").glob("mlipselect-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in ("mlipselect/study/Snakefile", "mlipselect/profiles/quick.yaml",
                    "mlipselect/study/slurm/config.yaml"):
        assert shipped in names
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed)}
    where = subprocess.run([sys.executable, "-c", "import mlipselect; print(mlipselect.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(installed))  # the wheel's copy, not the checkout's
    plan = subprocess.run([sys.executable, "-m", "mlipselect.cli", "reproduce", "--profile",
                           "smoke", "--dry-run"], cwd=elsewhere, env=env, capture_output=True,
                          text=True)
    assert plan.returncode == 0, plan.stderr[-3000:]
    out = plan.stdout + plan.stderr
    assert "results go to results/smoke/" in out
    for rule in ("sample_state", "select", "train", "md_batch", "md_model", "report"):
        assert rule in out
    assert "rule label:" not in out  # the pool's own labels are kept
