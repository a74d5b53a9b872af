"""The goal check behind CI's performance tracking: a ratio that misses its goal fails the run,
a known miss is reported and does not, and goals apply only where their parameters say."""

import json
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.goals import check  # noqa: E402


def test_goals_fail_where_missed_and_only_there(tmp_path, monkeypatch):
    package = tmp_path / "fakebench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bench_fake.py").write_text(textwrap.dedent("""\
        from benchmarks.goals import goal, known_miss

        class Ratios:
            params = [[1, 2], ["a", "b"]]
            param_names = ["size", "kind"]

            @goal("<=", 2)
            @known_miss("start-up cost", kind="a", size=1)
            def track_over_limit(self, size, kind):
                pass

            @goal(">=", 100, size=2)
            def track_speedup(self, size, kind):
                pass
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    # asv's order: the product of the parameters, (1,a), (1,b), (2,a), (2,b).
    values = {"bench_fake.Ratios.track_over_limit": [5.0, 1.5, 3.0, None],
              "bench_fake.Ratios.track_speedup": [1.0, 1.0, 150.0, 90.0]}
    lines, missed = check(values, package)
    assert missed == ["bench_fake.Ratios.track_over_limit(size=2, kind=a)",
                      "bench_fake.Ratios.track_speedup(size=2, kind=b)"]
    text = "\n".join(lines)
    assert "known  bench_fake.Ratios.track_over_limit(size=1, kind=a): 5 <= 2" in text
    assert "(known miss: start-up cost)" in text
    assert "n/a    bench_fake.Ratios.track_over_limit(size=2, kind=b)" in text
    assert "track_speedup(size=1" not in text  # that goal is for size 2 only
    values["bench_fake.Ratios.track_over_limit"][0] = 1.0
    lines, _ = check(values, package)
    assert any("met" in line and "remove the mark" in line for line in lines)
    # asv stores a benchmark skipped where it cannot run (no GPU, say) as NaN: no value
    values["bench_fake.Ratios.track_speedup"][3] = float("nan")
    lines, missed = check(values, package)
    assert missed == ["bench_fake.Ratios.track_over_limit(size=2, kind=a)"]
    assert "n/a    bench_fake.Ratios.track_speedup(size=2, kind=b)" in "\n".join(lines)


def test_the_goals_of_the_suite_are_found_with_their_units():
    from benchmarks.goals import declared

    goals = declared(ROOT / "benchmarks")
    assert "bench_commandline.CommandLineSelection.track_command_over_kernel_time" in goals
    assert "bench_selection.IPSuiteEnergySelection.track_speedup_over_ipsuite" in goals
    for name, (_, _, cls) in goals.items():
        ratio = getattr(cls, name.rsplit(".", 1)[1])
        assert getattr(ratio, "unit", None) in ("ratio", "seconds", "MB"), name


def _result_file(results, machine, commit, env, values, date=0, repeat=5):
    """A result file in asv's format (version 2) holding ``values`` ({benchmark: list})."""
    (results / machine).mkdir(parents=True, exist_ok=True)
    data = {"commit_hash": commit, "env_name": env, "date": date, "python": "/x/bin/python",
            "params": {"machine": machine, "python": "/x/bin/python"}, "requirements": {},
            "env_vars": {}, "version": 2,
            "result_columns": ["result", "params", "version", "stats_repeat"],
            "results": {name: [value, [], "v", [repeat] * len(value)]
                        for name, value in values.items()},
            "durations": {}}
    path = results / machine / f"{commit[:8]}-{env}.json"
    path.write_text(json.dumps(data))
    return path


def test_results_of_any_checkout_extend_one_series(tmp_path):
    from benchmarks.history import SERIES, normalise, stored_values

    commit = "a" * 40
    # two runs of one commit from checkouts at two paths: one series, the later run winning
    _result_file(tmp_path, "m", commit, "existing-py_work_main_.tox_bin_python",
                 {"b.C.time_x": [1.0, 2.0], "b.C.time_y": [5.0]}, date=1)
    _result_file(tmp_path, "m", commit, "existing-py_home_me_clone_.tox_bin_python",
                 {"b.C.time_x": [1.5, 2.5]}, date=2)
    normalise("m", tmp_path)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [f"aaaaaaaa-{SERIES}.json"]
    assert stored_values(commit, "m", tmp_path) == {"b.C.time_x": [1.5, 2.5],
                                                    "b.C.time_y": [5.0]}
    stored = json.loads((tmp_path / "m" / f"aaaaaaaa-{SERIES}.json").read_text())
    assert "/" not in stored["env_name"] and "/" not in stored["params"]["python"]
    # a single timing (track.py --quick) is drawn, but not compared for regressions
    _result_file(tmp_path, "m", "b" * 40, SERIES, {"b.C.time_x": [9.0, 9.0]}, repeat=1)
    assert stored_values("b" * 40, "m", tmp_path) == {"b.C.time_x": [9.0, 9.0]}
    assert stored_values("b" * 40, "m", tmp_path, repeated_only=True) == {
        "b.C.time_x": [None, None]}


def test_the_regression_check_fails_on_a_kernel_30_percent_slower_and_not_on_5():
    from benchmarks.history import regressions

    before = {"bench_selection.EnergySelection.time_select": [0.010, 0.100],
              "bench_selection.AtomSelection.peakmem_select": [1e8],
              "bench_selection.IPSuiteEnergySelection.track_speedup_over_ipsuite": [900.0]}
    slowed = {name: [v * 1.30 for v in values] for name, values in before.items()}
    found = regressions(before, slowed)
    assert found == [
        "bench_selection.AtomSelection.peakmem_select[0]: 1e+08 -> 1.3e+08 (x1.30)",
        "bench_selection.EnergySelection.time_select[0]: 0.01 -> 0.013 (x1.30)",
        "bench_selection.EnergySelection.time_select[1]: 0.1 -> 0.13 (x1.30)",
    ]  # a ratio has no direction: a higher speed-up is no regression
    assert regressions(before, {name: [v * 1.05 for v in values]
                                for name, values in before.items()}) == []
    # one combination slower, one that failed: only the slower is named
    mixed = {"bench_selection.EnergySelection.time_select": [0.013, None]}
    assert len(regressions(before, mixed)) == 1


def test_the_front_goals_compare_front_to_front():
    from benchmarks.bench_gap import covering_cost, front

    points = [{"step_s": 1.0, "rmse": 0.10}, {"step_s": 2.0, "rmse": 0.12},  # dominated
              {"step_s": 3.0, "rmse": 0.07}, {"step_s": 0.5, "rmse": 0.20}]
    assert front(points) == [points[3], points[0], points[2]]
    gap = [{"step_s": 10.0, "rmse": 0.11}, {"step_s": 40.0, "rmse": 0.08}]
    # GAP's first point is covered at 0.1x its cost (0.10 <= 0.11 at 1.0 s), its second at
    # 0.075x (0.07 <= 0.08 at 3.0 s): the goal's value is the worse of the two
    assert covering_cost(points, gap) == 0.1
    assert covering_cost(points, gap[1:]) == 3.0 / 40.0
    assert covering_cost(points, [{"step_s": 1.0, "rmse": 0.05}]) == float("inf")
