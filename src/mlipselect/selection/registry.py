"""The selection methods by name, and ``select``, the one way to run any of them on a pool.

A method is a function ``method(pool, n, seed, exclude, **options) -> frame indices``
registered under its command-line name with ``@register(name)``; the methods of this package
register themselves when ``mlipselect.selection`` is imported.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlipselect.errors import InputError
from mlipselect.pool.store import Pool
from mlipselect.selection.kernels import candidate_mask, uniform_by_atom_value

Method = Callable[..., np.ndarray]
METHODS: dict[str, Method] = {}

STREAM_ATOMS = 1 << 20
"""Atoms read from a pool file at a time by the per-atom methods."""


def register(name: str) -> Callable[[Method], Method]:
    """Register a method under ``name``; use as a decorator."""

    def add(method: Method) -> Method:
        METHODS[name] = method
        return method

    return add


def select(pool: Pool, method: str, n: int, seed: int = 0, exclude=None, **options) -> np.ndarray:
    """Select ``n`` frames of ``pool`` with the named method.

    Parameters
    ----------
    pool : mlipselect.pool.store.Pool
        The frames to select from.
    method : str
        A name in ``METHODS``: ``random``, ``energy``, ``forces``, ``atomic-energies`` (see
        their docstrings for the exact semantics).
    n : int
        Frames to select, from 1 to the pool's frames less the excluded ones.
    seed : int
        Same pool, method, options and seed give the same frames.
    exclude : array_like of int, optional
        Frames never to select, e.g. a held-out test set.
    **options
        Passed to the method: ``bins`` (``energy`` and the per-atom methods) and
        ``per_species`` (per-atom methods; default ``True``).

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Frame indices into the pool, sorted ascending, no duplicates, none excluded.

    Raises
    ------
    InputError
        Unknown method; empty pool; a frame without atoms; ``n`` out of range; excluded
        indices outside the pool; a non-finite value (naming the frame); a column the method
        needs that the pool lacks.
    """
    run = get_method(method)
    candidate_mask(len(pool), n, exclude, str(pool.path))
    empty = np.flatnonzero(pool.n_atoms == 0)
    if empty.size:
        raise InputError(f"{pool.path}: frame {empty[0]} has no atoms")
    return run(pool, n, seed=seed, exclude=exclude, **options)


def get_method(name: str) -> Method:
    """The method registered as ``name``; ``InputError`` listing the known ones otherwise."""
    if name not in METHODS:
        raise InputError(f"unknown selection method '{name}' (known: {', '.join(METHODS)})")
    return METHODS[name]


def atom_column_chunks(pool: Pool, key: str):
    """A zero-argument callable streaming the per-atom column ``key`` of ``pool`` in chunks:
    the form :func:`~mlipselect.selection.uniform_by_atom_value` takes for large data."""
    return lambda: pool.iter_atom_column(key, STREAM_ATOMS)


def by_atom_values(pool: Pool, key: str, values, n, seed, exclude, per_species, bins):
    """:func:`~mlipselect.selection.uniform_by_atom_value` on per-atom ``values`` derived from
    the pool's column ``key``, with the pool's atomic numbers as species if ``per_species``."""
    return uniform_by_atom_value(
        values, pool.offsets, n, seed,
        species=atom_column_chunks(pool, "numbers") if per_species else None,
        bins=bins, exclude=exclude, source=f"{pool.path}: '{key}'",
    )
