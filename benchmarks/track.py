"""Run the asv suite on the working tree, keep the results, compare with the previous commit.

Usage: ``python benchmarks/track.py [--quick] [asv run options...]``; ``tox -e bench`` calls
it. Results are stored per commit in ``.asv/results`` on this machine; the HTML report goes to
``.asv/html``. Exits 1 when a benchmark is more than 20% slower than at the previous commit.
"""

import subprocess
import sys


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()


def asv(*args: str) -> None:
    print("+ asv", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "asv", *args], check=True)


def main(argv: list[str]) -> int:
    head = git("rev-parse", "HEAD")
    asv("machine", "--yes")
    if "--quick" in argv:  # a smoke pass: every benchmark once, nothing stored
        asv("run", "--python=same", "--dry-run", "--show-stderr", *argv)
        return 0
    asv("run", "--python=same", f"--set-commit-hash={head}", "--show-stderr", *argv)
    asv("publish")
    previous = git("rev-parse", "HEAD~1") if git("rev-list", "--count", "HEAD") != "1" else None
    if previous is None:
        return 0
    compared = subprocess.run(
        [sys.executable, "-m", "asv", "compare", previous, head, "--factor=1.2", "--split",
         "--only-changed"], capture_output=True, text=True,
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
