"""Held-out test sets, and the index files that carry frame indices between commands.

Three ways to hold out frames of MD trajectories, whose neighbouring frames are correlated:

- :func:`split_test_set` (``random``): frames drawn at random. Test frames then sit between
  training candidates of the same trajectory, some femtoseconds away: it measures
  interpolation, and flatters a model wherever frames are stored more often than they
  decorrelate.
- :func:`split_by_block` (``block``): one contiguous time block per trajectory, and around
  it a buffer of ``gap`` on each side that is neither test nor candidate, so that no candidate
  is closer in time to a test frame than ``gap`` (choose at least the decorrelation time).
- :func:`split_by_trajectory` (``trajectory``): whole trajectories, chosen at random: it
  measures transfer to runs the model has never seen.

An index file is text: a first line ``# mlipselect <what>: {JSON provenance}``, then one
frame index per line, ascending. ``numpy.loadtxt`` reads it as it is. The provenance of a
block split lists its buffer (``"buffer"``), which ``mlipselect select --exclude`` keeps out
of the selection beside the test frames.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlipselect.errors import InputError
from mlipselect.io import atomic_path, file_digest


def split_test_set(n_frames: int, fraction: float, seed: int) -> np.ndarray:
    """The frames of a held-out test set: ``round(fraction * n_frames)`` of them, drawn
    uniformly at random without replacement with ``numpy.random.default_rng(seed)``, sorted.

    Both the test set and the rest must be non-empty, else ``InputError``.
    """
    _check_fraction(fraction)
    if n_frames == 0:
        raise InputError("the pool has no frames")
    k = round(fraction * n_frames)
    if not 0 < k < n_frames:
        raise InputError(
            f"a test fraction of {fraction} of {n_frames} frames leaves {k} test frames and"
            f" {n_frames - k} others; both must be at least 1"
        )
    return np.sort(np.random.default_rng(seed).choice(n_frames, k, replace=False))


def _check_fraction(fraction) -> None:
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not (
        0 < fraction < 1
    ):
        raise InputError(f"the test fraction must be between 0 and 1 (exclusive), got {fraction!r}")


def split_by_trajectory(trajectory, fraction: float, seed: int) -> np.ndarray:
    """The frames of whole trajectories (``trajectory``: an id per frame), drawn at random with
    ``numpy.random.default_rng(seed)`` until they hold at least ``round(fraction * frames)``
    frames; sorted. At least one trajectory is held out and at least one is left."""
    _check_fraction(fraction)
    trajectory = np.asarray(trajectory)
    ids = np.unique(trajectory)
    if len(ids) < 2:
        raise InputError(f"a split by trajectory needs at least 2 trajectories, the pool has "
                         f"{len(ids)}")
    want = round(fraction * len(trajectory))
    held: list[np.ndarray] = []
    count = 0
    for t in np.random.default_rng(seed).permutation(ids):
        if held and count >= want:
            break
        held.append(t)
        count += int((trajectory == t).sum())
    if len(held) == len(ids):
        raise InputError(f"a test fraction of {fraction} holds out every trajectory; lower it")
    return np.flatnonzero(np.isin(trajectory, held))


def split_by_block(trajectory, time, fraction: float, gap: float,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per trajectory, a contiguous block of ``round(fraction * its frames)`` frames in time
    (at least one), starting at a position drawn with ``numpy.random.default_rng(seed)``; and
    the buffer: the trajectory's other frames less than ``gap`` (in the unit of ``time``)
    from the block. Returns ``(test, buffer)``, sorted."""
    _check_fraction(fraction)
    if not gap >= 0:
        raise InputError(f"the gap must be at least 0, got {gap!r}")
    trajectory, time = np.asarray(trajectory), np.asarray(time, dtype=float)
    rng = np.random.default_rng(seed)
    test, buffer = [], []
    for t in np.unique(trajectory):
        frames = np.flatnonzero(trajectory == t)
        frames = frames[np.argsort(time[frames], kind="stable")]
        k = max(1, round(fraction * len(frames)))
        start = int(rng.integers(0, len(frames) - k + 1))
        block = frames[start:start + k]
        first, last = time[block[0]], time[block[-1]]
        near = (time[frames] > first - gap) & (time[frames] < last + gap)
        test.append(block)
        buffer.append(np.setdiff1d(frames[near], block))
    test, buffer = np.sort(np.concatenate(test)), np.sort(np.concatenate(buffer))
    if len(test) + len(buffer) >= len(trajectory):
        raise InputError(f"a test fraction of {fraction} with a gap of {gap} leaves no "
                         "candidates; lower either")
    return test, buffer


def trajectories(pool, by: str) -> np.ndarray:
    """An id per frame of ``pool`` naming its trajectory (its state point and seed), for a
    split ``by`` trajectory or time block."""
    needed = ["state"] + (["time"] if by == "block" else [])
    missing = [key for key in needed if key not in pool.frame_keys]
    if missing:
        raise InputError(f"a split by {by} needs the per-frame column(s) "
                         f"{', '.join(map(repr, missing))}, which this pool lacks (pools from "
                         "`mlipselect sample` have them)")
    keys = [pool.frame_column("state")]
    if "seed" in pool.frame_keys:
        keys.append(pool.frame_column("seed"))
    return np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True)[1].ravel()


def split_pool(pool_path, out, fraction: float, seed: int, by: str = "random",
               gap_ps: float = 1.0, overwrite: bool = False) -> dict:
    """Hold out a test set of the pool file ``pool_path`` and write its index file ``out``
    (what ``mlipselect split`` does): ``fraction`` of the frames at random, by whole
    trajectories (``by="trajectory"``) or as a time block per trajectory with ``gap_ps`` kept
    out on each side (``by="block"``). Returns the index file's provenance, with
    ``indices`` (and the ``buffer`` kept out of a block split)."""
    from mlipselect.io import claim_output
    from mlipselect.pool.store import Pool

    claim_output(out, overwrite, inputs=[pool_path])
    with Pool(pool_path) as pool:
        provenance: dict = {"pool": str(pool_path), "pool_sha256": pool.checksum(),
                            "frames": len(pool), "test_fraction": fraction, "seed": seed,
                            "by": by}
        try:
            if by == "random":
                indices = split_test_set(len(pool), fraction, seed)
            elif by == "trajectory":
                indices = split_by_trajectory(trajectories(pool, by), fraction, seed)
            else:
                indices, buffer = split_by_block(trajectories(pool, by),
                                                 pool.frame_column("time"), fraction,
                                                 1000.0 * gap_ps, seed)
                provenance.update(gap_ps=gap_ps, buffer=buffer.tolist())
        except InputError as err:
            raise InputError(f"{pool_path}: {err}") from None
        write_index(out, indices, "test set", provenance)
    return {**provenance, "indices": indices}


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


def index_for(path, pool) -> tuple[np.ndarray, dict]:
    """The indices and provenance of an index file, checked to be made for ``pool`` (a
    :class:`~mlipselect.pool.store.Pool`): an index file recording another pool's SHA-256
    is refused, since its numbers would name other frames."""
    indices, made_for = read_index(path, len(pool))
    checksum = pool.checksum()
    if made_for.get("pool_sha256", checksum) != checksum:
        raise InputError(f"{path}: made for another pool ({made_for.get('pool')}, SHA-256 "
                         f"{made_for['pool_sha256'][:12]}...) than {pool.path} "
                         f"({checksum[:12]}...)")
    return indices, made_for


def exclusions(path, pool) -> tuple[np.ndarray, dict]:
    """The frames an index file (a test set from ``mlipselect split``) keeps out of a
    selection from ``pool``: its frames and, for a block split, its buffer. Also returns
    what identifies the file (``exclude``: its path, ``exclude_sha256``: its bytes), which
    a selection records so that its extension excludes the same frames."""
    indices, made_for = index_for(path, pool)
    buffer = np.asarray(made_for.get("buffer", []), np.int64)
    return np.union1d(indices, buffer), {"exclude": str(path),
                                         "exclude_sha256": file_digest(path)}


def _json(text: str, path) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise InputError(f"{path}, line 1: the provenance is not valid JSON") from None
    if not isinstance(value, dict):
        raise InputError(f"{path}, line 1: the provenance must be a JSON object")
    return value
