"""The selection methods by name, their options, and ``select``, the one way to run any of
them on any frames.

A method is a function ``method(frames, n, seed, exclude, **options) -> frame indices`` on a
:class:`~mlipselect.selection.frames.Frames` table, registered under its command-line name
with ``@register(name, summary, options=..., ordered=..., extends=...)``, where each
:class:`Option` declares an option's name, type, default and meaning. An ``ordered`` method
picks frames one after another and returns them in that order; the others return their frames
sorted. A method that ``extends`` (every ordered one, and others that say so) also takes
``selected``, frames already chosen, and returns them first followed by its new picks, so a
selection can be extended (64 frames, later 128 that hold the 64).

The methods of this package register themselves when ``mlipselect.selection`` is imported;
another package registers its own by naming a module in the entry-point group
``mlipselect.selection`` (imported the first time a method is looked up)::

    [project.entry-points."mlipselect.selection"]
    mymethods = "mypackage.selection"
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import UnionType
from typing import Any, Protocol

import numpy as np

from mlipselect.errors import InputError
from mlipselect.pool.store import Pool
from mlipselect.selection.frames import Frames, as_frames
from mlipselect.selection.kernels import candidate_mask

ENTRY_POINTS = "mlipselect.selection"


@dataclass(frozen=True)
class Option:
    """One option of a selection method: its name, type, default and meaning, the values it
    may take (``choices``, or ``require``: a test and how to say it, e.g.
    ``(lambda v: v > 0, "> 0")``)."""

    name: str
    type: type | UnionType
    default: object
    doc: str
    choices: tuple = ()
    require: tuple[Callable[[Any], bool], str] | None = None

    def check(self, value, method: str):
        """``value`` if it has the option's type (numpy integers count as int) and is one it
        may take; ``InputError`` naming the option otherwise."""
        if isinstance(value, np.integer):
            value = int(value)
        if (isinstance(value, int) and not isinstance(value, bool)
                and isinstance(0.5, self.type) and not isinstance(1, self.type)):
            value = float(value)  # 5 is a fine cutoff
        kind = getattr(self.type, "__name__", str(self.type))
        if not isinstance(value, self.type) or (isinstance(value, bool)
                                                and self.type is not bool):
            raise InputError(f"option '{self.name}' of '{method}' must be {kind}, got {value!r}")
        if self.choices and value not in self.choices:
            raise InputError(f"option '{self.name}' of '{method}' must be one of "
                             f"{', '.join(map(repr, self.choices))}, got {value!r}")
        if self.require is not None and value is not None and not self.require[0](value):
            raise InputError(f"option '{self.name}' of '{method}' must be {self.require[1]}, "
                             f"got {value!r}")
        return value

    def parse(self, text: str):
        """The value a command-line string gives the option, of its type (before
        :meth:`check`)."""
        kinds = [k for k in getattr(self.type, "__args__", (self.type,)) if k is not type(None)]
        for kind in (int, float, str):  # the narrowest type the option takes that reads it
            if kind in kinds or (kind is int and float in kinds):
                try:
                    return kind(text)
                except ValueError:
                    continue
        raise InputError(f"option '{self.name}' must be "
                         f"{getattr(self.type, '__name__', str(self.type))}, got {text!r}")


class SelectionMethod(Protocol):
    """What a registered method is: ``n`` frame indices of ``frames``, none of ``exclude``,
    for ``seed`` and the method's options (and, for a method that extends, ``selected``:
    frames to keep first). :func:`select` checks ``n`` and ``exclude`` before it calls one."""

    def __call__(self, frames: Frames, n: int, seed: int, exclude,
                 **options: Any) -> np.ndarray: ...


@dataclass(frozen=True)
class Method:
    """A registered method: its function, its options, whether it returns its picks in the
    order made (``ordered``) and whether it extends a selection (``extends``)."""

    name: str
    run: SelectionMethod
    summary: str
    options: tuple[Option, ...] = ()
    ordered: bool = False
    extends: bool = False

    def settings(self, given: dict) -> dict:
        """The method's options: its defaults updated with the ``given`` ones, checked."""
        known = {o.name: o for o in self.options}
        unknown = sorted(set(given) - set(known))
        if unknown:
            names = ", ".join(known) or "none"
            raise InputError(f"selection method '{self.name}' has no option "
                             f"{', '.join(map(repr, unknown))} (its options: {names})")
        return {name: option.check(given[name], self.name) if name in given else
                option.default for name, option in known.items()}


class Registry:
    """The selection methods by name (``methods``); the plug-ins other packages name in the
    entry-point group are imported on the first look-up."""

    def __init__(self):
        self.methods: dict[str, Method] = {}
        self._plugins_loaded = False

    def load_plugins(self) -> None:
        """Import the modules other packages name in the entry-point group, once."""
        if not self._plugins_loaded:
            self._plugins_loaded = True
            for entry in entry_points(group=ENTRY_POINTS):
                entry.load()

    def get(self, name: str) -> Method:
        """The method registered as ``name``; ``InputError`` listing the known ones
        otherwise."""
        self.load_plugins()
        if name not in self.methods:
            raise InputError(f"unknown selection method '{name}' "
                             f"(known: {', '.join(self.methods)})")
        return self.methods[name]

    @contextlib.contextmanager
    def trial(self):
        """Methods registered inside (and plug-ins, looked for afresh) are forgotten on
        exit: to try a method out, or in tests."""
        saved, loaded = dict(self.methods), self._plugins_loaded
        self._plugins_loaded = False
        try:
            yield self
        finally:
            self.methods.clear()
            self.methods.update(saved)
            self._plugins_loaded = loaded


REGISTRY = Registry()
METHODS = REGISTRY.methods
"""The registered methods by name (the registry's own dictionary)."""
load_plugins, get_method = REGISTRY.load_plugins, REGISTRY.get


def register(name: str, summary: str, options: tuple[Option, ...] = (),
             ordered: bool = False, extends: bool | None = None) -> Callable:
    """Register a method under ``name``, with a one-line ``summary`` (shown by the command
    line), its ``options``, whether it is ``ordered`` and whether it ``extends`` a selection
    (default: when ordered); use as a decorator."""

    def add(function):
        REGISTRY.methods[name] = Method(name, function, summary, tuple(options), ordered,
                                        ordered if extends is None else extends)
        return function

    return add


def select(frames, method: str, n: int, seed: int = 0, exclude=None, selected=None,
           **options) -> np.ndarray:
    """Select ``n`` of ``frames`` with the named method.

    Parameters
    ----------
    frames : Frames, Pool, path of a pool, or sequence of ase.Atoms
        The frames to select from (see :mod:`mlipselect.selection.frames`); the same frames
        give the same selection in every form.
    method : str
        A name in ``METHODS``: ``random``, ``energy``, ``forces``, ``atomic-energies`` (see
        their docstrings for the exact semantics), or one another package registered.
    n : int
        Frames to select, from 1 to the number of frames less the excluded ones.
    seed : int
        Same frames, method, options and seed give the same selection.
    exclude : array_like of int, optional
        Frames never to select, e.g. a held-out test set.
    selected : array_like of int, optional
        A selection to extend (methods that extend): the result holds it first, then
        ``n - len(selected)`` new frames (in pick order, or sorted for an unordered method).
    **options
        The method's options (``METHODS[method].options``), e.g. ``bins`` and
        ``per_species`` for the per-atom methods.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Frame indices, no duplicates, none excluded: in the order picked for an ordered
        method, sorted ascending otherwise.

    Raises
    ------
    InputError
        Unknown method or option; empty input; a frame without atoms; ``n`` out of range;
        ``selected`` given to a method that cannot extend, or not within the candidates;
        excluded indices outside the frames; a non-finite value (naming the frame); a label
        the method needs that the frames lack.
    """
    chosen = get_method(method)
    settings = chosen.settings(options)
    with contextlib.ExitStack() as stack:
        if isinstance(frames, str | Path):
            frames = stack.enter_context(Pool(frames))
        table = as_frames(frames)
        mask = candidate_mask(len(table), n, exclude, table.source)
        empty = np.flatnonzero(table.n_atoms == 0)
        if empty.size:
            raise InputError(f"{table.source}: frame {empty[0]} has no atoms")
        if selected is None:
            return chosen.run(table, n, seed=seed, exclude=exclude, **settings)
        if not chosen.extends:
            raise InputError(f"selection method '{method}' cannot extend a selection (it "
                             "picks all frames at once); select the larger number afresh")
        selected = np.asarray(selected, dtype=np.int64)
        inside = ((selected >= 0) & (selected < len(table))).all()
        if (not inside or len(np.unique(selected)) != len(selected) or len(selected) > n
                or not mask[selected].all()):
            raise InputError(f"selected: {len(selected)} frames to extend to {n} must be "
                             "distinct candidates (none excluded, none out of range)")
        return chosen.run(table, n, seed=seed, exclude=exclude, selected=selected,
                          **settings)
