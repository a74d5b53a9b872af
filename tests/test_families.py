"""Model families come from their registry: one registered from outside the package runs the
whole smoke plan, and the registry's errors name what is wrong."""

import json
import os
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import yaml

from mlipselect.config import ProfileError, complete_profile
from mlipselect.errors import InputError
from mlipselect.models import registry

PLUGINS = Path(__file__).parent / "plugins"


def test_a_family_registered_from_outside_runs_the_smoke_plan(tmp_path):
    # Registered as another package registers one: an entry point in its metadata, seen by
    # every process of the run (the workflow's jobs are processes of their own).
    info = tmp_path / "toyfamily-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyfamily\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mlipselect.families]\ntoy = toyfamily:TOY\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(PLUGINS), str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])}
    profile = tmp_path / "toy.yaml"
    profile.write_text(yaml.safe_dump({
        "extends": "smoke", "select": {"methods": ["random", "energy", "atomic-energies"]},
        "reproduce": {"train_n": {"toy": 8}, "md_models": {"toy-b8": {"runs": 2}},
                      "md_methods": ["energy", "atomic-energies"]}}))
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "mlipselect.cli", "reproduce", "--profile", str(profile),
         "--results", str(results), "--cores", "2"],
        env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((results / "report.json").read_text())
    trained = json.loads((results / "models" / "toy-b8" / "energy-n8-s0" / "model.json")
                         .read_text())
    assert trained["family"] == "toy" and trained["size"] == "b8"
    assert {k: trained["settings"][k] for k in ("cutoff", "bumps", "ridge")} == {
        "cutoff": 5.0, "bumps": 8, "ridge": 1e-6}  # the family's own defaults
    rows = report["metrics"]["force_errors"]
    assert {r["family"] for r in rows} == {"toy"} and len(rows) == 3 * 3  # methods x tests
    assert all(0 < r["rmse"] < 1 for r in rows)  # a fitted pair potential, eV/A
    runs = [json.loads(p.read_text()) for p in (results / "md" / "toy-b8").glob("*/r*.json")]
    assert len(runs) == 4 and all(r["steps"] > 0 for r in runs)
    c3 = report["claims"]["C3"]["comparisons"]
    assert {c["model"] for c in c3} == {"toy-b8"}


@pytest.fixture
def entry_points_are(monkeypatch):
    """The registry reading the given entry points instead of the installed ones."""
    def use(*points):
        monkeypatch.setattr(registry, "entry_points", lambda group: list(points))
        registry.families.cache_clear()

    yield use
    registry.families.cache_clear()


def test_an_entry_point_that_is_not_a_family_is_named(entry_points_are):
    entry_points_are(EntryPoint("broken", "json:dumps", registry.ENTRY_POINTS))
    with pytest.raises(InputError, match="'broken = json:dumps' .* must name a Family record"):
        registry.families()


def test_families_are_in_report_order_whatever_their_registration_order(entry_points_are):
    entry_points_are(EntryPoint("gpr", "mlipselect.models.shipped:SPARSE_GPR", "g"),
                     EntryPoint("extra", "toyfamily:TOY", "g"),
                     EntryPoint("nn", "mlipselect.models.shipped:SCHNET", "g"))
    sys.path.insert(0, str(PLUGINS))
    try:
        assert list(registry.families()) == ["nn", "gpr", "extra"]
        assert registry.in_report_order(["extra", "unknown", "gpr"]) == ["gpr", "extra",
                                                                         "unknown"]
        assert registry.scoring_family("gpr-variance") == "gpr"
    finally:
        sys.path.remove(str(PLUGINS))


def test_a_profile_naming_an_unregistered_family_is_refused():
    with pytest.raises(ProfileError, match=r"no model family 'mace' for train.mace \(known: "
                                           r"nn, gpr"):
        complete_profile({"train": {"mace": {"sizes": {"s": {}}}}})
    with pytest.raises(ProfileError, match="'train.gpr.zeta' must be >= 1, got 0"):
        complete_profile({"train": {"gpr": {"zeta": 0}}})
