"""The whole study at the smoke scale, end to end, through `mlipselect reproduce`."""

import json
import subprocess
import sys

import pytest
import yaml

from mlipselect.cli import main
from mlipselect.config import PROFILES_DIR

VERDICTS = {"holds", "does not hold", "inconclusive"}


def _dry_run_jobs(profile, results) -> str:
    """Snakemake's plan for a run, as text."""
    out = subprocess.run(
        [sys.executable, "-m", "mlipselect.cli", "reproduce", "--profile", str(profile),
         "--results", str(results), "--dry-run", "--", "--quiet", "rules"],
        capture_output=True, text=True, check=True)
    return out.stdout + out.stderr


@pytest.mark.slow
def test_smoke_reproduction_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    profile = tmp_path / "smoke.yaml"
    profile.write_text((PROFILES_DIR / "smoke.yaml").read_text())
    results = tmp_path / "results"
    args = ["reproduce", "--profile", str(profile), "--results", str(results), "--cores", "2"]

    # Interrupted after the pool: the rest of the run must not redo it.
    assert main([*args, "--", "--until", "pool"]) == 0
    pool_mtime = (results / "pool.h5").stat().st_mtime_ns
    assert main([*args, "--publish", str(tmp_path / "published")]) == 0
    assert (results / "pool.h5").stat().st_mtime_ns == pool_mtime

    report = json.loads((results / "report.json").read_text())
    assert set(report["claims"]) == {"C1", "C2", "C3"}
    for claim in report["claims"].values():
        assert claim["verdict"] in VERDICTS and claim["rule"]
    assert report["scales"]["ions_per_frame"] == 64
    for name in ("fig1_distributions", "fig2_force_errors", "fig3_rdf"):
        for suffix in (".png", ".pdf"):
            assert (results / "figures" / f"{name}{suffix}").stat().st_size > 10_000
            assert (tmp_path / "published" / f"{name}{suffix}").exists()
    text = (tmp_path / "published" / "report.md").read_text()
    assert "](fig1_distributions.png)" in text  # links work beside the published figures

    # Nothing changed: nothing to do. One setting changed: only what depends on it.
    assert "Nothing to be done" in _dry_run_jobs(profile, results)
    settings = yaml.safe_load(profile.read_text())
    settings["rdf"]["bins"] = 50
    profile.write_text(yaml.safe_dump(settings))
    plan = _dry_run_jobs(profile, results)
    assert "rdf" in plan and "report" in plan
    for rule in ("sample_state", "select", "label", "train", "evaluate", "md_model"):
        assert f"\n{rule}" not in plan and f" {rule} " not in plan, plan
