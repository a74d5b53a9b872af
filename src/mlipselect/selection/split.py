"""Held-out test sets, and the index files that carry frame indices between commands.

An index file is text: a first line ``# mlipselect <what>: {JSON provenance}``, then one
frame index per line, ascending. ``numpy.loadtxt`` reads it as it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlipselect.errors import InputError
from mlipselect.io import atomic_path


def split_test_set(n_frames: int, fraction: float, seed: int) -> np.ndarray:
    """The frames of a held-out test set: ``round(fraction * n_frames)`` of them, drawn
    uniformly at random without replacement with ``numpy.random.default_rng(seed)``, sorted.

    Both the test set and the rest must be non-empty, else ``InputError``.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not (
        0 < fraction < 1
    ):
        raise InputError(f"the test fraction must be between 0 and 1 (exclusive), got {fraction!r}")
    if n_frames == 0:
        raise InputError("the pool has no frames")
    k = round(fraction * n_frames)
    if not 0 < k < n_frames:
        raise InputError(
            f"a test fraction of {fraction} of {n_frames} frames leaves {k} test frames and"
            f" {n_frames - k} others; both must be at least 1"
        )
    return np.sort(np.random.default_rng(seed).choice(n_frames, k, replace=False))


def write_index(path, indices, what: str, provenance: dict) -> None:
    """Write frame ``indices`` to an index file at ``path``, atomically."""
    lines = [f"# mlipselect {what}: {json.dumps(provenance, sort_keys=True)}"]
    lines += [str(int(i)) for i in np.sort(indices)]
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")


def read_index(path, n_frames: int | None = None) -> tuple[np.ndarray, dict]:
    """The frame indices of an index file and its provenance (``{}`` if it has none).

    Fails with ``InputError`` naming the file and line for a line that is not an integer, an
    index repeated, or (given ``n_frames``) an index outside ``0 .. n_frames - 1``.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise InputError(f"{path}: cannot read the index file ({err.strerror})") from None
    provenance: dict = {}
    indices, where = [], []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text.startswith("#"):
            head, _, rest = text.partition(": ")
            if number == 1 and head.startswith("# mlipselect "):
                provenance = _json(rest, path)
            continue
        if not text:
            continue
        try:
            indices.append(int(text))
        except ValueError:
            raise InputError(f"{path}, line {number}: '{text}' is not a frame index") from None
        where.append(number)
    array = np.array(indices, dtype=np.int64)
    seen: dict[int, int] = {}
    for i, number in zip(indices, where, strict=True):
        if i in seen:
            raise InputError(f"{path}, line {number}: frame {i} repeats line {seen[i]}")
        if i < 0 or (n_frames is not None and i >= n_frames):
            pool = "" if n_frames is None else f" (frames 0 to {n_frames - 1})"
            raise InputError(f"{path}, line {number}: frame {i} is not in the pool{pool}")
        seen[i] = number
    return array, provenance


def _json(text: str, path) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise InputError(f"{path}, line 1: the provenance is not valid JSON") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}, line 1: the provenance must be a JSON object")
    return value
