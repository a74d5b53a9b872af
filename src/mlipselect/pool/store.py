"""The pool: one HDF5 file of labelled frames, stored column-wise.

Layout (all lengths in frames F and atoms A, where A is the sum of the frames' atom counts)::

    /offsets            (F+1,)   int64   atoms of frame i are rows offsets[i]:offsets[i+1]
    /frames/energy      (F,)     float64 total potential energy, eV
    /frames/cell        (F,3,3)  float64 A
    /frames/pbc         (F,3)    bool
    /frames/<key>       (F,...)  optional per-frame columns: stress (F,6) eV/A^3 (ASE Voigt),
                                 temperature K, pressure bar, time fs, state (int), seed (int);
                                 an imported frame's own info values and calculator results
                                 (text as UTF-8 bytes, fixed length)
    /atoms/numbers      (A,)     int32   atomic numbers
    /atoms/positions    (A,3)    float64 A
    /atoms/forces       (A,3)    float64 eV/A
    /atoms/<key>        (A,...)  optional per-atom columns: energies (A,) eV, momenta (A,3);
                                 an imported frame's own arrays and per-atom results
    attrs: "metadata"   JSON text (provenance, state-point table, ...)
           "format_version"  FORMAT_VERSION; absent in pools of format 1

Every column can be read as one numpy array without building a Python object per frame;
``Pool.frames`` turns chosen rows into ASE ``Atoms`` when they are needed.

Format 2 protects each column: chunks of about ``CHUNK_BYTES`` carry HDF5's Fletcher-32
checksum, verified on every read, so a damaged chunk is named instead of read as numbers; and
each column records the SHA-256 of its values (attribute ``sha256``), from which
:meth:`Pool.checksum` identifies the pool's content without rereading it. Pools of format 1
still read (without that protection); ``mlipselect merge OLD --out NEW`` rewrites one.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import h5py
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.outputs import all_outputs

from mlipselect.errors import InputError
from mlipselect.io import atomic_path, file_digest

FORMAT_VERSION = 2
CHUNK_BYTES = 1 << 16
"""Target bytes per stored chunk: a column of 10^7 frames is about a thousand chunks (a chunk
per row made whole-column reads take minutes), and a small pool stays small (HDF5 stores
whole chunks)."""
BUFFER_BYTES = 1 << 22
"""Appended frames are held in memory up to about this many bytes, then written column by
column at once: per-frame HDF5 writes (a resize and a write per column) cost a sampler of
216 ions some 5 ms per frame."""

REQUIRED_FRAME = ("energy", "cell", "pbc")
REQUIRED_ATOM = ("numbers", "positions", "forces")
ATOM_KEYS = ("energies", "momenta")


class PoolError(InputError):
    """A pool file, or a frame going into one, is not what the pool needs."""


class PoolFormatWarning(UserWarning):
    """A pool written in an earlier format: it reads, without the current protections."""


_WARNED: set[Path] = set()
"""Pools of an earlier format already named in this process: said once, not at every open."""


def _write_error(path: Path, failure: Exception) -> PoolError:
    """One line for a failed write of the pool ``path``: the system's words for the errno
    (HDF5 quotes it in a long message: ``errno = 28``), and what the writer said."""
    found = re.search(r"errno = (\d+)", str(failure))
    code = int(found.group(1)) if found else getattr(failure, "errno", None)
    reason = os.strerror(code) if code else str(failure).splitlines()[0]
    said = getattr(failure, "strerror", None)
    if found is None and said not in (None, reason):
        reason += f": {said}"
    return PoolError(f"{path}: cannot write the pool ({reason}); nothing was written")


def _check_finite(name: str, values: np.ndarray, where: str) -> None:
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise PoolError(f"{where}: '{name}' has a NaN or infinite value")


class PoolWriter:
    """Append frames to a new pool file, made visible only when closed without error.

    Use as a context manager. Columns are fixed by the first frame: every later frame must
    carry the same optional keys. ``chunk_bytes`` sets the stored chunk size and
    ``buffer_bytes`` how much is held before it is written (the content depends on neither).
    """

    def __init__(self, path, metadata: dict | None = None, chunk_bytes: int = CHUNK_BYTES,
                 buffer_bytes: int = BUFFER_BYTES):
        self.path = Path(path)
        self._atomic = atomic_path(self.path)
        self._written = 0
        try:
            self._ensure_space(0)
            self._h5 = h5py.File(self._atomic.tmp, "w")
        except PoolError:
            self._atomic.discard()
            raise
        except OSError as err:
            self._atomic.discard()
            raise _write_error(self.path, err) from None
        self._h5.attrs["metadata"] = json.dumps(metadata or {})
        self._h5.attrs["format_version"] = FORMAT_VERSION
        self._chunk_bytes = chunk_bytes
        self._columns: dict[str, h5py.Dataset] = {}  # made from the first frame
        self._digests: dict[str, hashlib._Hash] = {}
        self._pending: dict[str, list[np.ndarray]] = {}
        self._pending_bytes, self._buffer_bytes = 0, buffer_bytes
        self.n_frames = 0
        self.n_atoms = 0

    def _dataset(self, name: str, shape: tuple, dtype) -> h5py.Dataset:
        row_bytes = np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64))
        rows = max(1, self._chunk_bytes // max(row_bytes, 1))
        self._digests[name] = hashlib.sha256()
        self._pending[name] = []
        return self._h5.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape),
                                       dtype=dtype, chunks=(rows, *shape), fletcher32=True)

    def _create(self, frame: dict, atoms: dict) -> None:
        self._columns = {"offsets": self._dataset("offsets", (), np.int64)}
        self._write("offsets", np.zeros(1, dtype=np.int64))
        for group, cols in (("frames", frame), ("atoms", atoms)):
            for key, value in cols.items():
                value = np.asarray(value)
                name = f"{group}/{key}"
                self._columns[name] = self._dataset(name, value.shape[1:], value.dtype)

    def _write(self, name: str, value) -> None:
        """Append ``value`` to column ``name``, held until :meth:`_flush`. A small value is
        held as a copy, since callers may reuse their arrays; one of the buffer's size or
        more is written before ``append_columns`` returns, so it is held as it is (a merge's
        blocks are not copied)."""
        value = np.asarray(value)
        dtype = self._columns[name].dtype
        if value.dtype != dtype and not np.can_cast(value.dtype, dtype, casting="safe"):
            raise PoolError(f"column '{name}' holds {dtype} since its first frame; a later "
                            f"{value.dtype} value would be cut to fit (import decides a "
                            "column's type over all frames)")
        value = value.astype(dtype, copy=False)
        if value.nbytes < self._buffer_bytes:
            value = value.copy()
        self._pending[name].append(value)
        self._pending_bytes += value.nbytes

    def _ensure_space(self, incoming: int) -> None:
        """Refuse, before HDF5 writes, a write the disk has no room for, with a margin for the
        file's own metadata (written when it is closed). HDF5 cannot recover from a write
        that fails for want of space: the file can then be neither closed nor let go without
        crashing the process (h5py#914)."""
        margin = (1 << 20) + self._written // 100
        free = shutil.disk_usage(self._atomic.tmp.parent).free
        if free < incoming + margin:
            raise _write_error(self.path, OSError(
                errno.ENOSPC, f"{free / 2**20:.1f} MB free, {incoming / 2**20:.1f} MB to write"))

    def _flush(self) -> None:
        self._ensure_space(self._pending_bytes)
        self._written += self._pending_bytes
        for name, parts in self._pending.items():
            if not parts:
                continue
            ds = self._columns[name]
            value = parts[0] if len(parts) == 1 else np.concatenate(parts)
            start = len(ds)
            ds.resize(start + len(value), axis=0)
            ds[start:] = value
            self._digests[name].update(value.tobytes())
            parts.clear()
        self._pending_bytes = 0

    def append(self, atoms: Atoms, where: str = "", atom_columns: dict | None = None,
               **frame_info) -> None:
        """Append one labelled frame: an ``Atoms`` whose calculator or info/arrays hold the
        ``energy`` and ``forces`` (``energies``, ``stress`` optional), plus per-frame columns
        (``frame_info``) and per-atom ones (``atom_columns``, one row per atom).
        ``where`` names the frame's origin in error messages."""
        where = where or f"frame {self.n_frames}"
        frame, per_atom = frame_columns(atoms, where)
        frame.update({k: np.asarray(v)[None] for k, v in frame_info.items() if v is not None})
        per_atom.update(atom_columns or {})
        self.append_columns(frame, per_atom, where)

    def append_columns(self, frame: dict, per_atom: dict, where: str = "") -> None:
        """Append frames given as columns: ``frame`` values of shape (k, ...), ``per_atom``
        values concatenated over those k frames, plus ``per_atom['natoms']`` (k,)."""
        natoms = np.asarray(per_atom.pop("natoms"), dtype=np.int64)
        for name, value in {**frame, **per_atom}.items():
            _check_finite(name, np.asarray(value), where or f"frame {self.n_frames}")
        if not self._columns:
            self._create(frame, per_atom)
        expected = {k.split("/", 1)[1] for k in self._columns if k != "offsets"}
        given = set(frame) | set(per_atom)
        if given != expected:
            missing, extra = sorted(expected - given), sorted(given - expected)
            raise PoolError(
                f"{where or 'frame ' + str(self.n_frames)}: columns differ from the first frame"
                f" (missing {missing}, extra {extra})"
            )
        for group, cols in (("frames", frame), ("atoms", per_atom)):
            for key, value in cols.items():
                self._write(f"{group}/{key}", value)
        self._write("offsets", self.n_atoms + np.cumsum(natoms))
        self.n_frames += len(natoms)
        self.n_atoms += int(natoms.sum())
        if self._pending_bytes >= self._buffer_bytes:
            self._flush()

    def __enter__(self) -> PoolWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        failure = exc
        try:
            if exc is None and self._columns:
                self._flush()
                for name, digest in self._digests.items():
                    self._columns[name].attrs["sha256"] = digest.hexdigest()
        except BaseException as err:  # noqa: BLE001 - a full disk, a signal: the same end
            failure = err
        self._columns = {}  # HDF5 objects are let go before the file (a failed file's
        self._pending.clear()  # datasets crash the garbage collector when left to it)
        try:
            self._h5.close()
        except Exception as err:  # HDF5 reports a failed last write here (RuntimeError)
            failure = failure or err
        if failure is not None:
            self._atomic.discard()
            if failure is exc:
                return  # the caller's exception goes on
            if isinstance(failure, OSError | RuntimeError):
                raise _write_error(self.path, failure) from None
            raise failure
        if self.n_frames == 0:
            self._atomic.discard()
            raise PoolError(f"{self.path}: no frames to write")
        self._atomic.commit()


LABELS = ("energy", "forces", "energies", "stress")
"""The labels a calculator gives a frame, under ASE's keys (``energies`` per atom, ``stress``
in Voigt order)."""


def labels(atoms: Atoms) -> dict:
    """The labels an ``Atoms`` carries, wherever ASE's readers left them: ``energy``,
    ``forces``, ``energies`` (per atom), ``stress``, ``momenta`` (those present)."""
    results = dict(atoms.calc.results) if atoms.calc is not None else {}
    results.update({k: v for k, v in atoms.info.items() if k in ("energy", "stress")})
    for key in ("forces", "energies"):  # labels some readers leave in arrays
        if key in atoms.arrays:
            results[key] = atoms.arrays[key]
    if atoms.has("momenta"):
        results["momenta"] = atoms.get_momenta()
    return results


def frame_columns(atoms: Atoms, where: str) -> tuple[dict, dict]:
    """The pool columns of one labelled ``Atoms``; one clear error for a missing label."""
    results = labels(atoms)
    for key in ("energy", "forces"):
        if key not in results:
            raise PoolError(f"{where}: no '{key}' (expected info['energy'] and arrays['forces'])")
    frame = {
        "energy": np.array([float(results["energy"])]),
        "cell": atoms.cell[:][None],
        "pbc": atoms.pbc[None],
    }
    if "stress" in results:
        frame["stress"] = voigt(results["stress"])[None]
    per_atom = {
        "natoms": [len(atoms)],
        "numbers": atoms.numbers.astype(np.int32),
        "positions": atoms.positions,
        "forces": np.asarray(results["forces"], dtype=float).reshape(len(atoms), 3),
    }
    for key in ATOM_KEYS:
        if key in results:
            per_atom[key] = np.asarray(results[key], dtype=float)
    return frame, per_atom


def voigt(stress) -> np.ndarray:
    """A stress in ASE's Voigt order (xx, yy, zz, yz, xz, xy), from a 3x3 tensor or as it is."""
    s = np.asarray(stress, dtype=float)
    if s.shape == (3, 3):
        s = s[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
    return s


class Pool:
    """Read access to a pool file.

    Columns are read lazily and cached: ``pool.energy``, ``pool.offsets``,
    ``pool.frame_column(key)``, ``pool.atom_column(key)``; ``pool.iter_atom_column`` streams
    a per-atom column in chunks for pools larger than memory.
    """

    def __init__(self, path):
        self.path = Path(path)
        try:
            self._h5 = h5py.File(self.path, "r")
        except (OSError, FileNotFoundError) as err:
            hint = "" if self.path.suffix in (".h5", ".hdf5") else (
                "; a pool is an HDF5 file: `mlipselect import FRAMES --out POOL.h5` builds one "
                "from extxyz or any ASE-readable file")
            raise PoolError(f"{self.path}: cannot read as a pool ({err}){hint}") from None
        missing = [
            name
            for name in ("offsets", *(f"frames/{k}" for k in REQUIRED_FRAME))
            + tuple(f"atoms/{k}" for k in REQUIRED_ATOM)
            if name not in self._h5
        ]
        if missing:
            raise PoolError(f"{self.path}: not a pool file (missing {', '.join(missing)})")
        self.metadata = json.loads(self._h5.attrs.get("metadata", "{}"))
        self.format_version = int(self._h5.attrs.get("format_version", 1))
        if self.format_version > FORMAT_VERSION:
            raise PoolError(f"{self.path}: pool format {self.format_version} is newer than this "
                            f"mlipselect reads ({FORMAT_VERSION}); upgrade mlipselect")
        if self.format_version < FORMAT_VERSION and self.path.resolve() not in _WARNED:
            _WARNED.add(self.path.resolve())
            warnings.warn(f"{self.path}: a pool of format {self.format_version}, without "
                          "checksums; `mlipselect merge` rewrites it in the current format",
                          PoolFormatWarning, stacklevel=2)
        self._cache: dict[str, np.ndarray] = {}
        self._datasets: dict[str, h5py.Dataset] = {}

    def __len__(self) -> int:
        return len(self._h5["frames/energy"])

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._h5.close()

    @property
    def offsets(self) -> np.ndarray:
        if "offsets" not in self._cache:
            offsets = self._read("offsets")
            sizes = np.diff(offsets)
            if (len(offsets) != len(self) + 1 or offsets[0] != 0 or np.any(sizes < 0)
                    or offsets[-1] != len(self._h5["atoms/numbers"])):
                raise PoolError(f"{self.path}: column 'offsets' is inconsistent with the "
                                "frames and atoms (a damaged file?)")
        return self._cache["offsets"]

    @property
    def n_atoms(self) -> np.ndarray:
        """Atoms per frame."""
        return np.diff(self.offsets)

    @property
    def energy(self) -> np.ndarray:
        return self.frame_column("energy")

    @property
    def frame_keys(self) -> list[str]:
        return list(self._h5["frames"])

    @property
    def atom_keys(self) -> list[str]:
        return list(self._h5["atoms"])

    def frame_column(self, key: str) -> np.ndarray:
        return self._read(f"frames/{key}", key)

    def atom_column(self, key: str) -> np.ndarray:
        return self._read(f"atoms/{key}", key)

    def _read(self, name: str, key: str | None = None) -> np.ndarray:
        if name not in self._cache:
            if name not in self._h5:
                raise PoolError(f"{self.path}: no '{key or name}' column in this pool")
            self._cache[name] = self._rows(name, slice(None))
        return self._cache[name]

    def _rows(self, name: str, rows) -> np.ndarray:
        """Rows of a stored column; a chunk that fails its checksum is named as damage."""
        if name not in self._datasets:  # one handle per column keeps HDF5's chunk cache
            self._datasets[name] = self._h5[name]
        try:
            return self._datasets[name][rows]
        except OSError as err:
            raise PoolError(f"{self.path}: column '{name}' is damaged ({err}); the pool "
                            "cannot be trusted: rebuild it from its sources") from None

    def iter_atom_column(self, key: str, chunk_atoms: int = 1 << 24) -> Iterator[np.ndarray]:
        """Yield a per-atom column in consecutive chunks of at most ``chunk_atoms`` rows."""
        name = f"atoms/{key}"
        if name not in self._h5:
            raise PoolError(f"{self.path}: no '{key}' column in this pool")
        for start in range(0, len(self._h5[name]), chunk_atoms):
            yield self._rows(name, slice(start, start + chunk_atoms))

    def columns(self, start: int, stop: int) -> tuple[dict, dict]:
        """Frames ``start:stop`` as the columns ``PoolWriter.append_columns`` takes: per-frame
        values, and per-atom values with ``natoms``. Copies pools block by block."""
        off = self.offsets
        frame = {k: self._rows(f"frames/{k}", slice(start, stop)) for k in self.frame_keys}
        per_atom = {k: self._rows(f"atoms/{k}", slice(off[start], off[stop]))
                    for k in self.atom_keys}
        per_atom["natoms"] = np.diff(off[start : stop + 1])
        return frame, per_atom

    def checksum(self) -> str:
        """SHA-256 identifying the pool's content (its columns' values), which ties selections
        and models to the pool they came from. Read from the checksums stored with the columns;
        a pool of format 1 has none, and its file's bytes are hashed instead."""
        names = ["offsets", *(f"frames/{k}" for k in self.frame_keys),
                 *(f"atoms/{k}" for k in self.atom_keys)]
        stored = {name: self._h5[name].attrs.get("sha256") for name in names}
        if None in stored.values():
            return file_digest(self.path)
        return hashlib.sha256(json.dumps(stored, sort_keys=True).encode()).hexdigest()

    def frames(self, indices: Iterable[int] | None = None) -> Iterator[Atoms]:
        """Yield the chosen frames as ``Atoms`` carrying their labels in a
        ``SinglePointCalculator`` and their per-frame columns in ``info``."""
        indices = range(len(self)) if indices is None else indices
        off, frame_keys, atom_keys = self.offsets, self.frame_keys, self.atom_keys
        for i in indices:
            i = int(i)
            a, b = off[i], off[i + 1]
            per = {k: self._rows(f"atoms/{k}", slice(a, b)) for k in atom_keys}
            info = {k: self._rows(f"frames/{k}", i) for k in frame_keys}
            atoms = Atoms(
                numbers=per["numbers"],
                positions=per["positions"],
                cell=info.pop("cell"),
                pbc=info.pop("pbc"),
            )
            if "momenta" in per:
                atoms.set_momenta(per["momenta"])
            results = {"energy": float(info.pop("energy")), "forces": per.pop("forces")}
            if "energies" in per:
                results["energies"] = per.pop("energies")
            if "stress" in info:
                results["stress"] = info.pop("stress")
            for key in ("numbers", "positions", "momenta"):
                per.pop(key, None)
            # other columns: calculator results where ASE names them so, info and arrays else
            for values in (info, per):
                for key in [k for k in values if k in all_outputs]:
                    results[key] = values.pop(key)
            for key, value in per.items():  # before the calculator, which copies the atoms
                atoms.set_array(key, _value(value))
            atoms.calc = SinglePointCalculator(atoms, **results)
            atoms.info.update({k: _value(v) for k, v in info.items()})
            atoms.info["pool_index"] = i
            yield atoms


def _value(column: np.ndarray):
    """A stored value as ASE holds it: a number or text for a scalar, else an array."""
    if column.dtype.kind == "S":
        column = np.char.decode(column, "utf-8")
    return column.item() if column.ndim == 0 else column
