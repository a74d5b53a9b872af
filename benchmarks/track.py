"""Run the asv suite on the working tree, keep the results, check the goals, compare with the
previous measured commit.

Usage: ``python benchmarks/track.py [--quick] [asv run options...]``; ``tox -e bench`` calls
it. Results are stored per commit and machine kind in ``benchmarks/results``, in one series per
machine kind whatever the checkout's path (``history.normalise``), and committed with the
change they measure, so ``asv publish`` and ``history.py`` draw the history; the HTML report
goes to ``.asv/html``. ``--quick`` runs each benchmark once. Exits 1 when a ratio benchmark
misses its goal (``benchmarks/goals.py``) in two runs, or a time or memory benchmark, timed
repeatedly, is more than 20% above its value at the latest earlier commit measured on this
machine kind.
"""

import os
import platform
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent
sys.path.insert(0, str(BENCHMARKS.parent))

from benchmarks.goals import check  # noqa: E402
from benchmarks.history import commits_in_order, normalise, regressions, stored_values  # noqa: E402

# asv's --quick runs each benchmark once but stores nothing, and goals need stored values.
QUICK = ["-a", "rounds=1", "-a", "repeat=1", "-a", "number=1", "-a", "warmup_time=0"]


def machine_name() -> str:
    """Results are kept per machine kind: processor and core count, not the host's name."""
    return f"{platform.machine()}-{os.cpu_count()}cpu"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()


def asv(*args: str) -> None:
    print("+ asv", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "asv", *args], check=True)


def main(argv: list[str]) -> int:
    head = git("rev-parse", "HEAD")
    machine = machine_name()
    asv("machine", "--yes", "--machine", machine)
    quick = "--quick" in argv
    options = [*QUICK, *(a for a in argv if a != "--quick")] if quick else argv
    run = ["run", "--python=same", f"--set-commit-hash={head}", f"--machine={machine}",
           "--show-stderr"]
    asv(*run, *options)
    normalise(machine)
    lines, missed = check(stored_values(head, machine), BENCHMARKS)
    print("goals of the ratio benchmarks:", *lines, sep="\n")
    if missed:
        # A shared machine can make one run slow: a miss counts when a second run confirms it.
        names = sorted({label.split("(")[0] for label in missed})
        print(f"{len(missed)} goal(s) missed; running {', '.join(names)} again to confirm")
        # asv matches a parameterised benchmark as "name(param, ...)".
        pattern = "^(" + "|".join(name.replace(".", "\\.") for name in names) + r")(\(|$)"
        asv(*run, *(QUICK if quick else []), "--bench", pattern)
        normalise(machine)
        lines, missed = check(stored_values(head, machine), BENCHMARKS)
        print("goals, second run:", *lines, sep="\n")
        if missed:
            print(f"{len(missed)} goal(s) missed twice: {', '.join(missed)}")
            return 1
    if quick:  # one sample each: too noisy to compare with another commit
        return 0
    asv("publish")
    runs = commits_in_order(machine, repeated_only=True)  # single timings are too noisy
    earlier = [values for commit, values in runs[:[c for c, _ in runs].index(head)]]
    if not earlier:
        print("no earlier commit measured on this machine kind: nothing to compare")
        return 0
    slower = regressions(earlier[-1], stored_values(head, machine, repeated_only=True))
    if slower:
        print("regression: >20% above the latest earlier commit measured here:", *slower,
              sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
