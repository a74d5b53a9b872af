"""Goals of the ratio benchmarks, and their check against stored asv results.

A ``track_*`` benchmark that measures a ratio against a peer or a limit in the same run
carries its goal::

    @goal("<=", 2)                       # every parameter combination
    @goal(">=", 100, frames=100_000)     # only where the parameter ``frames`` is 100000
    @known_miss("why", method="random")  # missed there, for a stated reason: reported only

``python benchmarks/track.py`` checks every goal against the results of the commit it ran and
exits 1 when one is missed outside a known miss; a known miss that is met is reported, so that
its mark goes.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import math
import operator
import sys
from pathlib import Path

OPERATORS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def goal(op: str, bound: float, **where):
    """Mark a ``track_*`` benchmark with the bound its value must keep (see the module)."""
    if op not in OPERATORS:
        raise ValueError(f"goal operator must be one of {list(OPERATORS)}, got {op!r}")

    def mark(function):
        function.goals = [*getattr(function, "goals", []), (op, bound, where)]
        return function

    return mark


def known_miss(reason: str, **where):
    """Mark the parameter combinations (``where``) at which a goal is known to be missed."""

    def mark(function):
        function.known_misses = [*getattr(function, "known_misses", []), (reason, where)]
        return function

    return mark


def _matches(combo: dict, where: dict) -> bool:
    return all(combo.get(k) == v for k, v in where.items())


def declared(directory: Path) -> dict[str, list]:
    """``{"bench_module.Class.track_name": goals}`` for every benchmark with a goal."""
    sys.path.insert(0, str(directory.parent))
    found = {}
    for path in sorted(directory.glob("bench_*.py")):
        module = importlib.import_module(f"{directory.name}.{path.stem}")
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for name, function in inspect.getmembers(cls, inspect.isfunction):
                if name.startswith("track_") and getattr(function, "goals", None):
                    found[f"{path.stem}.{cls_name}.{name}"] = (
                        function.goals, getattr(function, "known_misses", []), cls)
    return found


def _combinations(cls) -> list[dict]:
    """Each parameter combination of a benchmark class as ``{name: value}``."""
    params = getattr(cls, "params", [])
    names = getattr(cls, "param_names", [])
    if not names:
        return [{}]
    if names and params and not isinstance(params[0], list | tuple):
        params = [params]
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*params)]


def check(values: dict[str, list], directory: Path) -> tuple[list[str], list[str]]:
    """Compare stored results (``{benchmark: [value per parameter combination]}``, asv's
    order) with the declared goals; returns (report lines, missed goals)."""
    lines, missed = [], []
    for name, (goals, known_misses, cls) in declared(directory).items():
        results = values.get(name)
        if results is None:
            continue  # not run (skipped, or filtered out)
        for combo, value in zip(_combinations(cls), results, strict=True):
            known = next((r for r, where in known_misses if _matches(combo, where)), None)
            for op, bound, where in goals:
                if not _matches(combo, where):
                    continue
                label = f"{name}({', '.join(f'{k}={v}' for k, v in combo.items())})"
                if value is None or math.isnan(value):  # asv stores a skipped one as NaN
                    lines.append(f"  n/a    {label}: no value (failed or skipped)")
                    continue
                met = OPERATORS[op](value, bound)
                status = "met" if met else ("known" if known else "MISSED")
                note = f" (known miss: {known})" if known and not met else (
                    " (marked as a known miss: remove the mark)" if known else "")
                lines.append(f"  {status:6} {label}: {value:.3g} {op} {bound}{note}")
                if not met and not known:
                    missed.append(label)
    return lines, missed
