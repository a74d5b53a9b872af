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

from mlipselect.io import atomic_path
from mlipselect.pool.store import Pool, PoolError, PoolWriter


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


def write_frames(frames: Iterable[Atoms], out) -> int:
    """Write frames to ``out`` (format from its suffix, extxyz for .xyz/.extxyz), atomically.

    Returns the number written; writes nothing when there are none.
    """
    out = Path(out)
    frames = list(frames)
    if not frames:
        raise PoolError(f"{out}: no frames to write")
    fmt = "extxyz" if out.suffix in (".xyz", ".extxyz") else None
    with atomic_path(out) as tmp:
        ase.io.write(tmp, frames, format=fmt or ase.io.formats.filetype(out, read=False))
    return len(frames)


def import_frames(paths: Iterable, out, metadata: dict | None = None) -> int:
    """Build a pool at ``out`` from ASE-readable files; returns the number of frames."""
    paths = [Path(p) for p in paths]
    metadata = {"imported_from": [str(p) for p in paths], **(metadata or {})}
    with PoolWriter(out, metadata=metadata) as w:
        for path in paths:
            for i, atoms in enumerate(iread_frames(path)):
                frame_info = {k: v for k, v in atoms.info.items() if k in _INFO_COLUMNS}
                w.append(atoms, **frame_info, where=f"{path}, frame {i}")
        return w.n_frames


_INFO_COLUMNS = ("temperature", "pressure", "time", "state", "seed")


def export_pool(pool_path, out, indices=None) -> int:
    """Write the pool's frames (all, or ``indices``) to an ASE file; returns the count."""
    with Pool(pool_path) as pool:
        return write_frames(pool.frames(indices), out)


def merge_pools(paths: Iterable, out) -> int:
    """Concatenate pools into one at ``out``, keeping the first pool's metadata."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise PoolError(f"{out}: no pools to merge")
    with Pool(paths[0]) as first:
        metadata = first.metadata
    with PoolWriter(out, metadata={**metadata, "merged_from": [str(p) for p in paths]}) as w:
        for path in paths:
            with Pool(path) as pool:
                frame = {k: pool.frame_column(k) for k in pool.frame_keys}
                per_atom = {k: pool.atom_column(k) for k in pool.atom_keys}
                per_atom["natoms"] = pool.n_atoms
                w.append_columns(frame, per_atom, where=str(path))
        return w.n_frames
