"""Frames in and out of ASE formats, with their labels under ASE's own keys.

extxyz keys: ``info['energy']``, ``arrays['forces']``, ``arrays['energies']`` (per-atom
energies), ``info['stress']``, so ASE, schnetpack and other tools read the files unchanged.
extxyz stores numbers with 8 decimals: a round trip through it is exact to that precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import ase.io
from ase import Atoms
from tqdm.auto import tqdm

from mlipselect.io import atomic_path
from mlipselect.pool.store import Pool, PoolError, PoolWriter

POOL_SUFFIXES = (".h5", ".hdf5")
"""Pool files are HDF5; frames files are anything else ASE writes."""


def pool_path(path) -> Path:
    """``path`` if its extension is a pool's; ``PoolError`` otherwise (so that a forgotten
    output argument never turns a user's frames file into a pool)."""
    path = Path(path)
    if path.suffix.lower() not in POOL_SUFFIXES:
        raise PoolError(f"{path}: a pool file must end in {' or '.join(POOL_SUFFIXES)} (it is "
                        "HDF5); to write frames, use `mlipselect export`")
    return path


def frame_format(path, frames: int = 2) -> str:
    """The ASE format that ``path``'s extension names (extxyz for .xyz and .extxyz), checked
    to write ``frames`` frames; ``PoolError`` for a pool's extension or one ASE cannot write."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xyz", ".extxyz"):
        return "extxyz"
    if suffix in POOL_SUFFIXES:
        raise PoolError(f"{path}: {suffix} is a pool's extension; frames are written as "
                        "extxyz (.extxyz, .xyz) or another ASE format (.traj, ...), and "
                        "`mlipselect import FRAMES POOL.h5` makes a pool")
    try:
        fmt = ase.io.formats.filetype(path, read=False)
        io = ase.io.formats.ioformats[fmt]
    except Exception:  # ASE raises several kinds for names it does not know
        raise PoolError(f"{path}: no frame format has the extension '{suffix}' (use .extxyz, "
                        ".xyz, .traj or another extension ASE writes)") from None
    if not io.can_write or (io.single and frames > 1):
        raise PoolError(f"{path}: ASE's '{fmt}' format cannot hold {frames} frames with their "
                        "labels; use .extxyz or .traj")
    return fmt


def iread_frames(path, require=("energy", "forces")) -> Iterator[Atoms]:
    """Yield the frames of any ASE-readable file, each checked for the ``require``d labels.

    A frame without one fails with a ``PoolError`` naming the file, the frame and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise PoolError(f"{path}: no such file")
    try:
        for i, atoms in enumerate(ase.io.iread(path, index=":")):
            labels = set(atoms.calc.results) if atoms.calc is not None else set()
            labels |= set(atoms.info) | set(atoms.arrays)
            for key in require:
                if key not in labels:
                    raise PoolError(f"{path}, frame {i}: no '{key}' label")
            yield atoms
    except PoolError:
        raise
    except Exception as err:  # ASE's readers raise many kinds for malformed files
        raise PoolError(f"{path}: cannot read frames ({type(err).__name__}: {err})") from None


def complete_frames(path) -> int:
    """The number of complete frames in an extxyz file that is appended to frame by frame,
    after cutting off a last frame that a killed writer left incomplete."""
    path = Path(path)
    frames, good = 0, 0
    with open(path, "rb+") as fh:
        while header := fh.readline():
            try:
                natoms = int(header)
            except ValueError:
                break
            lines = [fh.readline() for _ in range(natoms + 1)]
            if not lines[-1].endswith(b"\n"):
                break
            frames, good = frames + 1, fh.tell()
        fh.truncate(good)
    return frames


def write_frames(frames: Iterable[Atoms], out) -> int:
    """Write frames to ``out`` in the format of its extension (:func:`frame_format`),
    atomically. Returns the number written; writes nothing when there are none."""
    out = Path(out)
    frames = list(frames)
    if not frames:
        raise PoolError(f"{out}: no frames to write")
    fmt = frame_format(out, len(frames))
    with atomic_path(out) as tmp:
        ase.io.write(tmp, frames, format=fmt)
    return len(frames)


def import_frames(paths: Iterable, out, metadata: dict | None = None,
                  progress: bool = True) -> int:
    """Build a pool at ``out`` from ASE-readable files, streamed frame by frame; returns the
    number of frames."""
    paths = [Path(p) for p in paths]
    metadata = {"imported_from": [str(p) for p in paths], **(metadata or {})}
    with PoolWriter(pool_path(out), metadata=metadata) as w:
        for path in paths:
            frames = tqdm(iread_frames(path), desc=path.name, unit="frame", disable=not progress)
            for i, atoms in enumerate(frames):
                frame_info = {k: v for k, v in atoms.info.items() if k in _INFO_COLUMNS}
                w.append(atoms, **frame_info, where=f"{path}, frame {i}")
        return w.n_frames


_INFO_COLUMNS = ("temperature", "pressure", "time", "state", "seed")


def export_pool(pool_path, out, indices=None) -> int:
    """Write the pool's frames (all, or ``indices``) to an ASE file; returns the count."""
    with Pool(pool_path) as pool:
        return write_frames(pool.frames(indices), out)


MERGE_FRAMES = 1 << 16
"""Frames copied at a time by ``merge_pools``: memory stays bounded whatever the pools' size."""


def merge_pools(paths: Iterable, out, work: str | None = None, progress: bool = True) -> int:
    """Concatenate pools into one at ``out``, block by block, keeping the first pool's
    metadata; ``work`` (a :func:`~mlipselect.io.work_key`) records what the merged pool is
    the result of."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise PoolError(f"{out}: no pools to merge")
    with Pool(paths[0]) as first:
        metadata = {**first.metadata, "merged_from": [str(p) for p in paths], "work": work}
    with PoolWriter(pool_path(out), metadata=metadata) as w:
        for path in paths:
            with Pool(path) as pool:
                blocks = range(0, len(pool), MERGE_FRAMES)
                for start in tqdm(blocks, desc=path.name, unit="block", disable=not progress):
                    w.append_columns(*pool.columns(start, min(start + MERGE_FRAMES,
                                                              len(pool))), where=str(path))
        return w.n_frames
