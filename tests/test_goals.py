"""The goal check behind CI's performance tracking: a ratio that misses its goal fails the run,
a known miss is reported and does not, and goals apply only where their parameters say."""

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


def test_the_goals_of_the_suite_are_found_with_their_units():
    from benchmarks.goals import declared

    goals = declared(ROOT / "benchmarks")
    assert "bench_commandline.CommandLineSelection.track_command_over_kernel_time" in goals
    assert "bench_selection.IPSuiteEnergySelection.track_speedup_over_ipsuite" in goals
    for name, (_, _, cls) in goals.items():
        ratio = getattr(cls, name.rsplit(".", 1)[1])
        assert getattr(ratio, "unit", None) in ("ratio", "seconds", "MB"), name
