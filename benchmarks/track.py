"""Run the asv suite on the working tree, keep the results, check the goals, compare with the
previous commit.

Usage: ``python benchmarks/track.py [--quick] [asv run options...]``; ``tox -e bench`` calls
it. Results are stored per commit and machine in ``benchmarks/results`` (asv's format; the
history is committed, so ``asv publish`` draws it); the HTML report goes to ``.asv/html``.
``--quick`` runs each benchmark once. Exits 1 when a ratio benchmark misses its goal
(``benchmarks/goals.py``) in two runs, or a benchmark is more than 20% slower than at the
previous commit on this machine.
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent
sys.path.insert(0, str(BENCHMARKS.parent))

from benchmarks.goals import check  # noqa: E402

RESULTS = BENCHMARKS / "results"
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


def stored_values(commit: str, machine: str) -> dict:
    """``{benchmark: [value per parameter combination]}`` stored for ``commit``."""
    values = {}
    for path in (RESULTS / machine).glob(f"{commit[:8]}-*.json"):
        data = json.loads(path.read_text())
        column = data["result_columns"].index("result")
        for name, row in data["results"].items():
            values[name] = row[column] if len(row) > column else None
    return values


def main(argv: list[str]) -> int:
    head = git("rev-parse", "HEAD")
    machine = machine_name()
    asv("machine", "--yes", "--machine", machine)
    quick = "--quick" in argv
    options = [*QUICK, *(a for a in argv if a != "--quick")] if quick else argv
    run = ["run", "--python=same", f"--set-commit-hash={head}", f"--machine={machine}",
           "--show-stderr"]
    asv(*run, *options)
    lines, missed = check(stored_values(head, machine), BENCHMARKS)
    print("goals of the ratio benchmarks:", *lines, sep="\n")
    if missed:
        # A shared machine can make one run slow: a miss counts when a second run confirms it.
        names = sorted({label.split("(")[0] for label in missed})
        print(f"{len(missed)} goal(s) missed; running {', '.join(names)} again to confirm")
        # asv matches a parameterised benchmark as "name(param, ...)".
        pattern = "^(" + "|".join(name.replace(".", "\\.") for name in names) + r")(\(|$)"
        asv(*run, *(QUICK if quick else []), "--bench", pattern)
        lines, missed = check(stored_values(head, machine), BENCHMARKS)
        print("goals, second run:", *lines, sep="\n")
        if missed:
            print(f"{len(missed)} goal(s) missed twice: {', '.join(missed)}")
            return 1
    if quick:  # one sample each: too noisy to compare with another commit
        return 0
    asv("publish")
    previous = git("rev-parse", "HEAD~1") if git("rev-list", "--count", "HEAD") != "1" else None
    if previous is None:
        return 0
    compared = subprocess.run(
        [sys.executable, "-m", "asv", "compare", previous, head, "--factor=1.2", "--split",
         "--only-changed", f"--machine={machine}"], capture_output=True, text=True,
    )
    if compared.returncode != 0:
        print(f"no stored results for the previous commit {previous[:10]}: nothing to compare")
        return 0
    report = compared.stdout
    print(report)
    # asv marks a benchmark that got slower by more than the factor with '+' in column one.
    if any(line.startswith("+") for line in report.splitlines()):
        print("regression: benchmarks above ('+') are >20% slower than at the previous commit")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
