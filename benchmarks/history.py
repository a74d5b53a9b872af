"""The stored benchmark results: one series per machine kind, read back, compared and drawn.

asv names a result file after its environment, and an ``existing`` environment after the path
of its Python (``existing-py_work_main_.tox_mlipselect_bin_python``), so every checkout would
start a series of its own. :func:`normalise` files every result of a machine under one name,
``SERIES`` (results of one commit from several runs merged, the latest value winning), so all
runs on a kind of machine extend one history wherever the checkout lives.

Usage: ``python benchmarks/history.py`` draws ``figures/bench_history.png`` (the goal-tracked
ratios against commits) from ``benchmarks/results``; ``track.py`` normalises and compares.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent
RESULTS = BENCHMARKS / "results"
SERIES = f"existing-py{sys.version_info.major}.{sys.version_info.minor}"
"""The environment name of every stored result: the Python version, not its path."""

LOWER_IS_BETTER = ("time_", "peakmem_", "mem_")
"""Benchmarks whose growth is a regression (a ``track_*`` value has no direction)."""

HISTORY_RATIOS = {
    "bench_selection.IPSuiteEnergySelection.track_speedup_over_ipsuite":
        "energy selection: IPSuite's time / ours",
    "bench_selection.FPSAgainstScikitMatter.track_speedup_over_scikit_matter":
        "FPS: scikit-matter's time / ours",
    "bench_gap.GPRFronts.track_front_cost_ours_over_gap":
        "GPR front: our cost / GAP's at no more error",
    "bench_sampler.SamplerThroughput.track_sampler_over_bare_lammps":
        "sampler: ours / bare LAMMPS",
    "bench_md.MDStep.track_step_over_energy_forces":
        "MD step: step / energy and forces",
    "bench_md.BatchedReplicas.track_batched_over_sequential":
        "MD replicas: batched / one after another",
    "bench_commandline.CommandLineSelection.track_command_over_kernel_time":
        "command line: select / kernel",
}
"""The main ratios the history figure draws, with their labels."""


def normalise(machine: str, results: Path = RESULTS) -> list[Path]:
    """File every result of ``machine`` under ``SERIES`` (one file per commit; where runs of
    one commit overlap, the later run's values win); returns the files written."""
    written = []
    for path in sorted((results / machine).glob("*.json")):
        if path.name == "machine.json":
            continue
        data = json.loads(path.read_text())
        if data.get("env_name") == SERIES:
            continue
        target = path.with_name(f"{data['commit_hash'][:8]}-{SERIES}.json")
        if target.exists():  # the commit has results already: the later run's values win
            kept = json.loads(target.read_text())
            old, new = sorted((kept, data), key=lambda d: d.get("date", 0))
            for key in ("results", "durations"):
                new[key] = {**old.get(key, {}), **new.get(key, {})}
            data = new
        version = SERIES.removeprefix("existing-py")
        data.update(env_name=SERIES, python=version)
        data["params"] = {**data.get("params", {}), "python": version}
        target.write_text(json.dumps(data, indent=None, sort_keys=True) + "\n")
        if path != target:
            path.unlink()
        written.append(target)
    return written


def stored_values(commit: str, machine: str, results: Path = RESULTS,
                  repeated_only: bool = False) -> dict[str, list]:
    """``{benchmark: [value per parameter combination]}`` stored for ``commit`` (asv's order;
    None where a combination failed or was skipped, and with ``repeated_only`` where it was
    timed once, as ``--quick`` does: a single timing moves by tens of percent with the load
    of a shared machine, too much to call a change a regression)."""
    path = results / machine / f"{commit[:8]}-{SERIES}.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    columns = data["result_columns"]

    def column(row, name):
        k = columns.index(name) if name in columns else len(row)
        value = row[k] if len(row) > k else None
        return value if isinstance(value, list) else [value]

    values = {}
    for name, row in data["results"].items():
        found = column(row, "result")
        if repeated_only:
            repeats = column(row, "stats_repeat")
            found = [v if k < len(repeats) and (repeats[k] or 0) > 1 else None
                     for k, v in enumerate(found)]
        values[name] = found
    return values


def regressions(previous: dict[str, list], head: dict[str, list],
                factor: float = 1.2) -> list[str]:
    """The time and memory benchmarks (per parameter combination) whose value at ``head`` is
    more than ``factor`` times their value at ``previous``: ``"name[k]: a -> b (x1.31)"``."""
    found = []
    for name, now in sorted(head.items()):
        before = previous.get(name)
        if before is None or not name.rsplit(".", 1)[-1].startswith(LOWER_IS_BETTER):
            continue
        for k, (a, b) in enumerate(zip(before, now, strict=False)):
            if a is not None and b is not None and a > 0 and b > factor * a:
                found.append(f"{name}[{k}]: {a:.3g} -> {b:.3g} (x{b / a:.2f})")
    return found


def commits_in_order(machine: str, results: Path = RESULTS,
                     repeated_only: bool = False) -> list[tuple[str, dict]]:
    """The stored results of ``machine`` (:func:`stored_values`), oldest commit first (by the
    repository's history where it knows the commit, else by the run's date)."""
    runs = []
    for path in (results / machine).glob(f"*-{SERIES}.json"):
        data = json.loads(path.read_text())
        runs.append((_commit_time(data["commit_hash"]) or data.get("date", 0) / 1000,
                     data["commit_hash"], path))
    return [(commit, stored_values(commit, machine, results, repeated_only))
            for _, commit, _ in sorted(runs)]


def _commit_time(commit: str) -> float | None:
    done = subprocess.run(["git", "show", "-s", "--format=%ct", commit], capture_output=True,
                          text=True, cwd=BENCHMARKS.parent)
    return float(done.stdout) if done.returncode == 0 and done.stdout.strip() else None


def draw(machine: str, out: Path, results: Path = RESULTS) -> None:
    """The main ratios (``HISTORY_RATIOS``) against commits, at each parameter combination a
    goal applies to, as their margin to it: value / bound for a ``>=`` goal (a speed-up),
    bound / value for a ``<=`` goal (a cost), so above 1 is met on every line."""
    import matplotlib.pyplot as plt

    from benchmarks.goals import _combinations, _matches, declared

    goals = declared(BENCHMARKS)
    runs = commits_in_order(machine, results)
    fig, ax = plt.subplots(figsize=(12.5, 5.2), constrained_layout=True)
    for colour, (name, label) in enumerate(HISTORY_RATIOS.items()):
        declared_goals, _, cls = goals[name]
        styles = iter(["-", "--", ":", "-."])
        for k, combo in enumerate(_combinations(cls)):
            goal = next(((op, bound) for op, bound, where in declared_goals
                         if _matches(combo, where)), None)
            if goal is None:
                continue
            op, bound = goal
            points = [(x, run[name][k]) for x, (_, run) in enumerate(runs)
                      if name in run and k < len(run[name]) and run[name][k] is not None]
            if not points:
                continue
            xs, values = zip(*points, strict=True)
            margins = [v / bound if op in (">=", ">") else bound / v for v in values]
            where = ", ".join(f"{key} {value}" for key, value in combo.items())
            ax.plot(xs, margins, marker="o", color=f"C{colour}", ls=next(styles, "-"),
                    label=f"{label} ({where}; {op} {bound:g})" if where else
                    f"{label} ({op} {bound:g})")
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.set_xticks(range(len(runs)), [commit[:7] for commit, _ in runs], rotation=30)
    ax.set_xlim(-0.3, max(len(runs) - 0.7, 0.3))
    ax.set_xlabel("commit, oldest first (a commit shows the benchmarks measured at it)")
    ax.set_ylabel("margin to the goal (dashed: the goal;\nabove it, met)")
    ax.set_title(f"Ratio benchmarks (each against a peer or a limit in the same run) "
                 f"per commit, {machine}", fontsize=11)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(out, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.path.insert(0, str(BENCHMARKS.parent))
    from benchmarks.track import machine_name

    target = BENCHMARKS.parent / "figures" / "bench_history.png"
    draw(machine_name(), target)
    print(f"wrote {target}")
