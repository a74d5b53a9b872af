"""The model families by name: what the library and the study know of a family without
importing it (which, for SchNet, takes seconds of torch).

A family is a :class:`Family` record registered under its name in the entry-point group
``mlipselect.families``; this package registers its own two (``mlipselect.models.shipped``)
and another package registers its own the same way::

    [project.entry-points."mlipselect.families"]
    mace = "mypackage.families:MACE"

The profile's ``train.<name>`` section, its defaults and ranges, the study's training-set
size, the CLI's choices, the cost estimate and the cluster's GPU requests all come from here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from mlipselect.errors import InputError

ENTRY_POINTS = "mlipselect.families"


@dataclass(frozen=True)
class Family:
    """A model family: where its :class:`~mlipselect.models.base.Potential` lives
    (``module:Class``, imported only to train or load a model) and what the study needs.

    ``defaults`` is its ``train.<name>`` section: settings and named ``sizes`` (each size has
    the keys of the first); ``ranges`` the values a key may take, ``KEY`` or ``sizes.KEY``
    -> (test, "what it must be"); ``train_n`` the selection size the study trains it on
    unless a profile says otherwise; ``rank`` its place in reports (the first family with
    results carries a claim's verdict); ``batches_md`` whether its models run MD replicas as
    one batch (:meth:`Potential.batched`, held to the class by a test); ``gpu`` whether its
    training and MD use a GPU where torch sees one; ``scores`` the uncertainty methods that
    score with its models unless a profile names another family."""

    entry: str
    defaults: dict[str, Any]
    ranges: dict[str, tuple[Callable[[Any], bool], str]] = field(default_factory=dict)
    train_n: int = 32
    rank: int = 100
    batches_md: bool = False
    gpu: bool = False
    scores: tuple[str, ...] = ()


@functools.cache
def families() -> dict[str, Family]:
    """Every registered family by name, in report order (``rank``, then name)."""
    found = {}
    for point in entry_points(group=ENTRY_POINTS):
        record = point.load()
        if not isinstance(record, Family):
            raise InputError(f"entry point '{point.name} = {point.value}' of group "
                             f"{ENTRY_POINTS} must name a Family record, got "
                             f"{type(record).__name__}")
        found[point.name] = record
    return dict(sorted(found.items(), key=lambda item: (item[1].rank, item[0])))


def registered_family(name: str) -> Family:
    """The registry's record of the family ``name`` (one error naming the known ones)."""
    known = families()
    if name not in known:
        raise InputError(f"unknown model family '{name}' (known: {', '.join(known)})")
    return known[name]


def batches_md(name: str) -> bool:
    """Whether the family's models run many MD replicas as one batch: the workflow then runs
    all of a model's MD in one job."""
    return registered_family(name).batches_md


def in_report_order(names) -> list[str]:
    """Family names in the registry's order (unknown ones last, alphabetically)."""
    order = list(families())
    return sorted(names, key=lambda f: (order.index(f) if f in order else len(order), f))


def scoring_family(method: str) -> str | None:
    """The first family (in report order) whose models score ``method`` by default."""
    return next((name for name, f in families().items() if method in f.scores), None)
