"""A selection from a pool file to a frames file, with what the frames must record.

:func:`select_to_file` is what ``mlipselect select`` does, for a Python user: the test set of an
index file held out (checked against the pool's checksum), an earlier selection extended with
the test set it was selected without, and every frame written with its labels, its row in the
pool and the selection's provenance (:mod:`mlipselect.provenance`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlipselect.io import claim_output
from mlipselect.pool.frames_io import frame_format, write_frames
from mlipselect.pool.store import Pool
from mlipselect.provenance import carried_exclusion, record, selection_frames
from mlipselect.selection.frames import Frames
from mlipselect.selection.registry import get_method, select
from mlipselect.selection.split import exclusions


@dataclass(frozen=True)
class Selected:
    """What :func:`select_to_file` wrote: ``new`` frames after the ``kept`` ones of the
    selection it extended, chosen from ``candidates`` frames (``excluded`` held out)."""

    out: Path
    new: int
    kept: int
    candidates: int
    excluded: int


def select_to_file(pool_path, method: str, n: int, out, seed: int = 0, exclude=None,
                   extend=None, options: dict | None = None, overwrite: bool = False,
                   log: Callable[[str], None] = lambda message: None,
                   progress: bool = False) -> Selected:
    """Select ``n`` frames of the pool file ``pool_path`` with ``method`` and write them to
    ``out`` (any frames format; :func:`~mlipselect.pool.frames_io.frame_format` checks that it
    keeps what a selection needs).

    Parameters
    ----------
    exclude : path, optional
        An index file of this pool (``mlipselect split``): frames never to select.
    extend : path, optional
        A selection of this pool to extend to ``n`` frames (ordered methods): its frames come
        first, each with the method and seed that chose it, and the test set it was selected
        without is excluded again (a different ``exclude`` is refused).
    options : dict, optional
        The method's options; the rest take their defaults.
    log : callable
        Receives a line saying what is selected from what, before the work.
    progress : bool
        A progress bar while the pool's descriptors are computed (structure methods, once
        per pool and settings).
    """
    out, pool_path = Path(out), Path(pool_path)
    claim_output(out, overwrite, inputs=[pool_path, exclude, extend])
    frame_format(out, n)
    options = get_method(method).settings(options or {})
    with Pool(pool_path) as pool:
        checksum = pool.checksum()
        excluded = None if exclude is None else exclusions(exclude, pool)
        base = [] if extend is None else selection_frames(extend, checksum)
        if extend is not None:  # the extension excludes what the selection excluded
            carried = carried_exclusion(base, None if excluded is None else excluded[1], extend)
            if carried is not None and excluded is None:
                excluded = exclusions(carried["exclude"], pool)
        held, test_set = excluded or ([], {})
        log(f"selecting {n} of {len(pool) - len(held)} candidate frames by '{method}' from "
            f"{pool_path} ({len(pool)} frames, {len(held)} excluded)")
        indices = select(Frames.from_pool(pool, progress), method, n, seed=seed, exclude=held,
                         selected=[int(a.info["pool_index"]) for a in base] or None, **options)
        frames = list(pool.frames(indices[len(base):]))
        record(frames, method=method, n=n, seed=seed, **options, excluded=len(held),
               **test_set, pool=str(pool_path), pool_sha256=checksum)
        write_frames(base + frames, out)
        return Selected(out, len(frames), len(base), len(pool) - len(held), len(held))
