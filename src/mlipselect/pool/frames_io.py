"""Frames in and out of ASE formats, with their labels under ASE's own keys.

extxyz keys: ``info['energy']``, ``arrays['forces']``, ``arrays['energies']`` (per-atom
energies), ``info['stress']``, so ASE, schnetpack and other tools read the files unchanged.
extxyz stores numbers with 8 decimals: a round trip through it is exact to that precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.outputs import all_outputs
from tqdm.auto import tqdm

from mlipselect.io import atomic_path
from mlipselect.pool.store import LABELS, Pool, PoolError, PoolWriter, labels

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


LABELLED_FORMATS = {"extxyz": "extxyz (.extxyz, .xyz)", "traj": "ASE trajectory (.traj)"}
"""The ASE formats that hold what frames carry here: energy, forces, per-atom energies and
stress, and the info that records where each frame came from (pool index, selection)."""


def frame_format(path, frames: int = 2) -> str:
    """The ASE format that ``path``'s extension names (extxyz for .xyz and .extxyz), checked
    to hold ``frames`` labelled frames with their info; ``PoolError`` for a pool's extension
    or a format that would lose labels or provenance (.pdb, .cif, .vasp, ...)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xyz", ".extxyz"):
        return "extxyz"
    if suffix in POOL_SUFFIXES:
        raise PoolError(f"{path}: {suffix} is a pool's extension; frames are written as "
                        "extxyz (.extxyz, .xyz) or another ASE format (.traj, ...), and "
                        "`mlipselect import FRAMES --out POOL.h5` makes a pool")
    try:
        fmt = ase.io.formats.filetype(path, read=False)
    except Exception:  # ASE raises several kinds for names it does not know
        fmt = None
    if fmt not in LABELLED_FORMATS:
        known = fmt in ase.io.formats.ioformats
        what = f"ASE's '{fmt}' format" if known else f"the extension '{suffix}'"
        raise PoolError(f"{path}: {what} cannot hold {frames} frames with their labels and "
                        f"provenance; use {' or '.join(LABELLED_FORMATS.values())}")
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
            present = labels(atoms)
            for key in require:
                if key not in present:
                    raise PoolError(f"{path}, frame {i}: no '{key}' label")
            yield atoms
    except PoolError:
        raise
    except Exception as err:  # ASE's readers raise many kinds for malformed files
        raise PoolError(f"{path}: cannot read frames ({type(err).__name__}: {err})") from None


def first_frame_info(path, key: str, fmt: str | None = None):
    """``info[key]`` of the first frame of ``path`` (None where the file is empty, cut short,
    foreign or lacks it): the key a partial or finished result records its work under."""
    try:
        return ase.io.read(path, index=0, format=fmt).info.get(key)
    except Exception:  # an empty, truncated or foreign file holds no key
        return None


def cut_to_complete_frames(path) -> int:
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


IMPORTED = "imported"
"""Pool metadata key recording what an import kept and dropped of the frames' own data."""


def import_frames(paths: Iterable, out, metadata: dict | None = None,
                  progress: bool = True) -> tuple[int, dict[str, str]]:
    """Build a pool at ``out`` from ASE-readable files, streamed frame by frame; returns the
    number of frames and ``{key: why}`` for what was not kept.

    Besides the labels, every per-frame value (``info``, calculator results such as
    ``free_energy`` or ``dipole``) and per-atom array (``arrays``, results such as
    ``charges``) becomes a column of the pool, with one type decided over all frames (an
    integer ``time`` in the first frame and 2.5 fs in a later one make a float column): the
    files are read twice, once to decide, once to write. A key is dropped, and named, when
    some frames lack it, its shape changes, it mixes text and numbers or it is neither."""
    paths = [Path(p) for p in paths]
    n_frames, columns, dropped = _survey(paths, progress)
    metadata = {"imported_from": [str(p) for p in paths], **(metadata or {}),
                IMPORTED: {"kept": sorted(columns), "dropped": dropped}}
    with PoolWriter(pool_path(out), metadata=metadata) as w:
        for path in paths:
            frames = tqdm(iread_frames(path), desc=f"import {path.name}", unit="frame",
                          disable=not progress)
            for i, atoms in enumerate(frames):
                per_frame, per_atom = _extras(atoms)
                w.append(atoms, where=f"{path}, frame {i}",
                         atom_columns={k: _as_column(v, columns[f"atoms/{k}"])
                                       for k, v in per_atom.items() if f"atoms/{k}" in columns},
                         **{k: _as_column(v, columns[f"frames/{k}"])
                            for k, v in per_frame.items() if f"frames/{k}" in columns})
        return w.n_frames, dropped


_OWN = {"frames": ("energy", "stress", "cell", "pbc"),
        "atoms": ("numbers", "positions", "forces", "energies", "momenta", "natoms")}
"""Keys the pool stores as its own columns (or, ``pool_index``, gives every frame it reads)."""


def _extras(atoms: Atoms) -> tuple[dict, dict]:
    """A frame's values beyond the pool's own columns: per frame and per atom."""
    results = {k: v for k, v in (atoms.calc.results if atoms.calc is not None else {}).items()
               if k not in LABELS}
    per_frame, per_atom = {}, {}
    for key, value in {**atoms.info, **results}.items():
        spec = all_outputs.get(key)
        if key in results and spec is not None and spec.shapespec[:1] == ("natoms",):
            per_atom[key] = value
        else:
            per_frame[key] = value
    per_atom.update(atoms.arrays)
    return ({k: v for k, v in per_frame.items() if k not in _OWN["frames"]},
            {k: v for k, v in per_atom.items() if k not in _OWN["atoms"]})


def _survey(paths: list[Path], progress: bool) -> tuple[int, dict[str, np.dtype], dict]:
    """Read every frame once: the frame count, each extra column's type (``"frames/key"`` or
    ``"atoms/key"``) and the keys that cannot be kept, with the reason."""
    seen: dict[str, dict] = {}
    n_frames = 0
    for path in paths:
        for atoms in tqdm(iread_frames(path), desc=f"survey {path.name}", unit="frame",
                          disable=not progress):
            for group, values in zip(("frames", "atoms"), _extras(atoms), strict=True):
                for key, value in values.items():
                    value = np.asarray(value)
                    shape = value.shape if group == "frames" else value.shape[1:]
                    entry = seen.setdefault(f"{group}/{key}", {"count": 0, "shapes": set(),
                                                               "dtypes": set()})
                    entry["count"] += 1
                    entry["shapes"].add(shape)
                    entry["dtypes"].add(value.dtype if value.dtype.kind != "U"
                                        else np.dtype(f"S{_utf8_bytes(value)}"))
            n_frames += 1
    columns, dropped = {}, {}
    for name, entry in seen.items():
        key = name.split("/", 1)[1]
        kinds = {d.kind for d in entry["dtypes"]}
        if entry["count"] < n_frames:
            dropped[key] = f"in {entry['count']} of {n_frames} frames"
        elif len(entry["shapes"]) > 1:
            dropped[key] = f"its shape changes between frames ({sorted(entry['shapes'])})"
        elif "/" in key:
            dropped[key] = "a name holding '/'"
        elif name == "frames/pool_index":
            dropped[key] = "each frame's row in the new pool replaces it"
        elif kinds <= set("biuf"):
            columns[name] = np.result_type(*entry["dtypes"])
        elif kinds == {"S"}:
            columns[name] = max(entry["dtypes"], key=lambda d: d.itemsize)
        else:
            dropped[key] = ("text in some frames, numbers in others" if "S" in kinds
                            else "neither numbers nor text")
    return n_frames, columns, dropped


def _as_column(value, dtype: np.dtype) -> np.ndarray:
    """``value`` as a column of ``dtype`` (text as UTF-8 bytes)."""
    value = np.asarray(value)
    if dtype.kind == "S" and value.dtype.kind == "U":
        value = np.char.encode(value, "utf-8")
    return value.astype(dtype)


def _utf8_bytes(text: np.ndarray) -> int:
    """Bytes of the longest string of ``text`` in UTF-8 (at least 1)."""
    return max([1, *(len(str(t).encode()) for t in text.ravel())])


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
