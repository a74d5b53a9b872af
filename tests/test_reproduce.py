"""The whole study at the smoke scale, end to end, through `mlipselect reproduce`."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import ase.io
import pytest
import yaml

from mlipselect.cli import main
from mlipselect.config import PROFILES_DIR

VERDICTS = {"holds", "holds in part", "does not hold", "inconclusive", "untested"}
FIELDS = {"unit", "n", "effect", "ci", "p_value", "p_adjusted", "detectable", "outcome"}


def _dry_run_jobs(profile, results, cwd, *snakemake_args) -> str:
    """Snakemake's plan for a run made in ``cwd``, as text."""
    out = subprocess.run(
        [sys.executable, "-m", "mlipselect.cli", "reproduce", "--profile", str(profile),
         "--results", str(results), "--dry-run", "--", *(snakemake_args or ("--quiet", "rules"))],
        capture_output=True, text=True, check=True, cwd=cwd)
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """A smoke reproduction, stopped after the pool and then run to the end."""
    tmp_path = tmp_path_factory.mktemp("smoke")
    profile = tmp_path / "smoke.yaml"
    profile.write_text((PROFILES_DIR / "smoke.yaml").read_text())
    results = tmp_path / "results"
    args = ["reproduce", "--profile", str(profile), "--results", str(results), "--cores", "2"]
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        # Interrupted after the pool: the rest of the run must not redo it.
        assert main([*args, "--", "--until", "pool"]) == 0
        pool_mtime = (results / "pool.h5").stat().st_mtime_ns
        readme = tmp_path / "README.md"
        readme.write_text("# A study\n\n<!-- claims -->\nold table\n<!-- /claims -->\n\nMore.\n")
        assert main([*args, "--publish", str(tmp_path / "published"), "--readme",
                     str(readme)]) == 0
    finally:
        os.chdir(cwd)
    return {"dir": tmp_path, "profile": profile, "results": results, "pool_mtime": pool_mtime}


@pytest.mark.slow
def test_smoke_reproduction_end_to_end(smoke_run):
    tmp_path, profile, results = smoke_run["dir"], smoke_run["profile"], smoke_run["results"]
    assert (results / "pool.h5").stat().st_mtime_ns == smoke_run["pool_mtime"]

    report = json.loads((results / "report.json").read_text())
    assert set(report["claims"]) == {"C1", "C2", "C3"}
    for claim in report["claims"].values():
        assert claim["verdict"] in VERDICTS and claim["rule"]
    # The structure-based method ran beside the study's: Q1 compares them.
    q1 = report["questions"]["Q1"]
    assert q1["verdict"] in VERDICTS and q1["structure_methods"] == ["fps"]
    # The uncertainty methods learned their selections in rounds: Q2 judges each in the
    # family that scored it, against the physics- and structure-based methods.
    q2 = report["questions"]["Q2"]
    assert q2["scorers"] == {"committee": "nn", "gpr-variance": "gpr", "bal": "nn"}
    assert q2["baselines"] == ["forces", "atomic-energies", "fps"]
    assert {(c["family"], c["method"]) for c in q2["comparisons"]} == {
        ("nn", "committee"), ("nn", "bal"), ("gpr", "gpr-variance")}
    assert (results / "selections" / "committee-n8-s0.rounds" / "round-2.extxyz").is_file()
    # Every part behind a verdict carries its unit, n, effect, interval, p-values, the
    # effect it could detect and its outcome; one seed tests nothing.
    for key in ("C1", "C2", "C3"):
        for part in report["claims"][key]["comparisons"]:
            assert FIELDS <= set(part), (key, part)
    assert report["claims"]["C2"]["verdict"] == "untested"
    assert {c["test_set"] for c in report["claims"]["C2"]["comparisons"]} == {
        "independent", "extrapolation", "tail atoms"}
    # The README's claims table is the report's.
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("# A study\n\n<!-- claims -->\n| | claim | verdict |")
    assert "old table" not in readme and readme.endswith("<!-- /claims -->\n\nMore.\n")
    assert f"| C2 | {report['claims']['C2']['claim']} | **untested** |" in readme
    # Each MD run of a model starts from its own frame; the same run of another method
    # from the same frame, with the same momenta (paired).
    md = results / "md" / "nn-small"
    first = {path.relative_to(md).as_posix(): ase.io.read(path, 0)
             for path in md.glob("*/r*.extxyz")}
    assert (first["energy-n8-s0/r0.extxyz"].positions
            != first["energy-n8-s0/r1.extxyz"].positions).any()
    for run in ("r0", "r1"):
        a, b = first[f"energy-n8-s0/{run}.extxyz"], first[f"fps-n8-s0/{run}.extxyz"]
        assert (a.positions == b.positions).all() and (a.get_momenta() == b.get_momenta()).all()
    sets = {e["test_set"] for e in report["metrics"]["force_errors"]}
    assert sets == {"in-pool", "independent", "extrapolation"}
    assert report["scales"]["ions_per_frame"] == 64
    for path in (results / "metrics").rglob("*.json"):  # the GPR's say how sure it was
        metrics = json.loads(path.read_text())
        assert ("uncertainty" in metrics) == (metrics["model"]["family"] == "gpr"), path
    for name in ("fig1_distributions", "fig2_force_errors", "fig3_rdf", "fig5_uncertainty"):
        for suffix in (".png", ".pdf"):
            assert (results / "figures" / f"{name}{suffix}").stat().st_size > 10_000
            assert (tmp_path / "published" / f"{name}{suffix}").exists()
    text = (tmp_path / "published" / "report.md").read_text()
    assert "](fig1_distributions.png)" in text  # links work beside the published figures

    # Nothing changed: nothing to do. One setting changed: only what depends on it.
    assert "Nothing to be done" in _dry_run_jobs(profile, results, tmp_path)
    settings = yaml.safe_load(profile.read_text())
    settings["rdf"]["bins"] = 50
    profile.write_text(yaml.safe_dump(settings))
    plan = _dry_run_jobs(profile, results, tmp_path)
    assert "rdf" in plan and "report" in plan
    for rule in ("sample_state", "select", "label", "train", "evaluate", "md_batch",
                 "md_model"):
        assert f"\n{rule}" not in plan and f" {rule} " not in plan, plan
    # A setting of one model family retrains that family only, and what its models chose:
    # the GPR scored gpr-variance's candidates, so that selection is learned again.
    settings["train"]["gpr"]["sizes"]["soap"]["sparse_points"] = 30
    profile.write_text(yaml.safe_dump(settings))
    plan = _dry_run_jobs(profile, results, tmp_path, "--forceall", "--until", "train")
    changed = _dry_run_jobs(profile, results, tmp_path, "--until", "train")
    assert "models/gpr-soap/" in changed and "models/nn-small/gpr-variance-n8" in changed
    assert not re.search(r"models/nn-small/(?!gpr-variance)", changed), changed
    assert "models/nn-small/" in plan  # the same dry run forced does list both


def _newly(pattern: str, root, before: set):
    return [p for p in root.glob(pattern) if p not in before]


@pytest.mark.slow
def test_a_reproduction_killed_at_any_point_resumes_with_the_same_command(smoke_run, tmp_path):
    # SIGKILL to the whole process group, as an out-of-memory kill or a lost node would:
    # while a state point is sampled, while a model trains and while MD runs. The same
    # command then finishes, with the results of an uninterrupted run.
    profile, results = tmp_path / "smoke.yaml", tmp_path / "results"
    profile.write_text((PROFILES_DIR / "smoke.yaml").read_text())
    command = [sys.executable, "-m", "mlipselect.cli", "reproduce", "--profile", str(profile),
               "--results", str(results), "--cores", "2"]
    for pattern in ("states/.*.part", "models/*/.*.part", "md/*/*/*.partial"):
        before = set(results.glob(pattern))
        proc = subprocess.Popen(command, cwd=tmp_path, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 600
        while not _newly(pattern, results, before):
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list(results.rglob(".*.part")), "temporary files of killed writes are cleared"
    # Training and evaluation are deterministic: the same metrics as the uninterrupted run.
    reference = smoke_run["results"]
    metrics = sorted(p.relative_to(reference) for p in (reference / "metrics").rglob("*.json"))
    assert metrics == sorted(p.relative_to(results) for p in (results / "metrics").rglob("*.json"))
    for path in metrics:
        ours, theirs = (json.loads((root / path).read_text()) for root in (results, reference))
        for key in ("mae", "rmse", "max"):
            assert ours["forces"][key] == pytest.approx(theirs["forces"][key], rel=1e-6), path
    ours, theirs = (json.loads((root / "report.json").read_text())
                    for root in (results, reference))
    assert ours["metrics"]["tail_shares"] == theirs["metrics"]["tail_shares"]
    # MD resumed from a stored frame continues with a fresh thermostat stream: the run is
    # complete and stable or stopped by the guard, like any other.
    for status in (results / "md").rglob("*.json"):
        assert json.loads(status.read_text())["frames"] > 0


def test_a_readme_without_the_claims_markers_is_refused_before_any_work(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# A study without a claims table\n")
    results = tmp_path / "results"
    assert main(["reproduce", "--profile", "smoke", "--results", str(results), "--publish",
                 str(tmp_path / "published"), "--readme", str(readme)]) == 2
    assert "<!-- claims -->" in capsys.readouterr().err
    assert not results.exists()
    assert readme.read_text() == "# A study without a claims table\n"


def test_a_second_run_on_the_same_results_is_refused(tmp_path):
    from mlipselect.errors import InputError
    from mlipselect.io import exclusive_run

    def one_run(results):
        return exclusive_run(results, "`mlipselect reproduce`")

    results = tmp_path / "results"
    with one_run(results):
        busy = f"another `mlipselect reproduce` \\(pid {os.getpid()}\\) is running"
        with pytest.raises(InputError, match=busy), one_run(results):
            pass
    with one_run(results):  # released when the first run ends
        pass


def test_selections_are_relabelled_only_by_another_labeller(tmp_path):
    settings = yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())
    plans = {}
    for labeller in ("reference", "mine.py:calculator"):
        settings["label"] = {"calculator": labeller}
        profile = tmp_path / f"{labeller.split('.')[0]}.yaml"
        profile.write_text(yaml.safe_dump(settings))
        plans[labeller] = _dry_run_jobs(profile, tmp_path / "results", tmp_path, "--forceall")
    assert "rule label:" not in plans["reference"] and "/labelled/" not in plans["reference"]
    relabelled = plans["mine.py:calculator"]
    assert "rule label:" in relabelled and "--cache" in relabelled
    # the test sets are relabelled too: models are tested on the labeller's labels
    for test_set in ("in-pool", "independent"):
        assert f"labelled/test/{test_set}.extxyz" in relabelled


def test_the_xtb_profile_labels_selections_and_test_sets_once_each(tmp_path):
    plan = _dry_run_jobs("xtb", tmp_path / "results", tmp_path, "--forceall")
    labelled = {line.split("--out ")[1].split()[0] for line in plan.splitlines()
                if "mlipselect label " in line}
    assert len(labelled) == 15 + 3  # 5 methods x 3 seeds, and the three test sets
    assert {f"{tmp_path}/results/labelled/test/{t}.extxyz"
            for t in ("in-pool", "independent", "extrapolation")} <= labelled
    assert all("--cache" in line for line in plan.splitlines() if "mlipselect label " in line)
    # Models are tested on the labeller's labels, without BMHTF's tails of the pool.
    evaluate = [line for line in plan.splitlines() if "mlipselect evaluate " in line]
    assert evaluate and all("/labelled/test/" in line and "--tails" not in line
                            for line in evaluate)


@pytest.mark.slow
def test_the_study_on_xtb_labels_at_smoke_size(tmp_path):
    settings = yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())
    settings.update(name="xtb-smoke", label={"calculator": "gfn1-xtb"},
                    split={"test_fraction": 0.1, "seed": 0})
    settings["test"].update(every=50, states=[])
    settings["select"].update(methods=["random", "atomic-energies"], n=[4])
    settings["reproduce"].update(train_n={"nn": 4}, md_models={"nn-small": {}},
                                 md_methods=["atomic-energies"])
    profile = tmp_path / "xtb-smoke.yaml"
    profile.write_text(yaml.safe_dump(settings))
    results = tmp_path / "results"
    done = subprocess.run([sys.executable, "-m", "mlipselect.cli", "reproduce", "--profile",
                           str(profile), "--results", str(results), "--cores", "2"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    # Trained and tested on GFN1-xTB's labels (about -64 eV per ion; BMHTF's: about -4).
    for path in (results / "labelled").rglob("*.extxyz"):
        assert all(a.get_potential_energy() / len(a) < -30 for a in ase.io.read(path, ":"))
    report = json.loads((results / "report.json").read_text())
    labels = report["labels"]
    assert labels["labeller"] == "gfn1-xtb" and labels["frames"] == len(
        {a.info["pool_index"] for p in (results / "selections").glob("*.extxyz")
         for a in ase.io.read(p, ":")})
    for quantity in ("energy_per_atom", "force_norms", *(f"atomic_energies.{s}"
                                                          for s in ("Na", "Cl"))):
        found = labels
        for key in quantity.split("."):
            found = found[key]
        assert -1 <= found["spearman"] <= 1 and found["count"] > 0
    assert (results / "figures" / "fig4_labels.png").stat().st_size > 10_000
    text = (results / "report.md").read_text()
    assert "The selector against the labeller: BMHTF and gfn1-xtb" in text
    assert "no MD was driven by the labeller" in text
