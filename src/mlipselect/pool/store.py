"""The pool: one HDF5 file of labelled frames, stored column-wise.

Layout (all lengths in frames F and atoms A, where A is the sum of the frames' atom counts)::

    /offsets            (F+1,)   int64   atoms of frame i are rows offsets[i]:offsets[i+1]
    /frames/energy      (F,)     float64 total potential energy, eV
    /frames/cell        (F,3,3)  float64 A
    /frames/pbc         (F,3)    bool
    /frames/<key>       (F,...)  optional per-frame columns: stress (F,6) eV/A^3 (ASE Voigt),
                                 temperature K, pressure bar, time fs, state (int), seed (int)
    /atoms/numbers      (A,)     int32   atomic numbers
    /atoms/positions    (A,3)    float64 A
    /atoms/forces       (A,3)    float64 eV/A
    /atoms/<key>        (A,...)  optional per-atom columns: energies (A,) eV, momenta (A,3)
    attrs: "metadata"   JSON text (provenance, state-point table, ...)

Every column can be read as one numpy array without building a Python object per frame;
``Pool.frames`` turns chosen rows into ASE ``Atoms`` when they are needed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import h5py
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlipselect.errors import InputError
from mlipselect.io import atomic_path

REQUIRED_FRAME = ("energy", "cell", "pbc")
REQUIRED_ATOM = ("numbers", "positions", "forces")
ATOM_KEYS = ("energies", "momenta")


class PoolError(InputError):
    """A pool file, or a frame going into one, is not what the pool needs."""


def _check_finite(name: str, values: np.ndarray, where: str) -> None:
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise PoolError(f"{where}: '{name}' has a NaN or infinite value")


class PoolWriter:
    """Append frames to a new pool file, made visible only when closed without error.

    Use as a context manager. Columns are fixed by the first frame: every later frame must
    carry the same optional keys.
    """

    def __init__(self, path, metadata: dict | None = None, chunk_frames: int = 256):
        self.path = Path(path)
        self._atomic = atomic_path(self.path)
        self._h5 = h5py.File(self._atomic.tmp, "w")
        self._h5.attrs["metadata"] = json.dumps(metadata or {})
        self._chunk = chunk_frames
        self._columns: dict[str, h5py.Dataset] | None = None
        self.n_frames = 0
        self.n_atoms = 0

    def _create(self, frame: dict, atoms: dict) -> None:
        h5 = self._h5
        self._columns = {}
        off = h5.create_dataset("offsets", shape=(1,), maxshape=(None,), dtype="i8", chunks=True)
        off[0] = 0
        for group, cols, chunk in (("frames", frame, self._chunk), ("atoms", atoms, 1 << 14)):
            for key, value in cols.items():
                value = np.asarray(value)
                shape = value.shape[1:]
                self._columns[f"{group}/{key}"] = h5.create_dataset(
                    f"{group}/{key}",
                    shape=(0, *shape),
                    maxshape=(None, *shape),
                    dtype=value.dtype,
                    chunks=(chunk, *shape),
                )

    def append(self, atoms: Atoms, where: str = "", **frame_info) -> None:
        """Append one labelled frame: an ``Atoms`` whose calculator or info/arrays hold the
        ``energy`` and ``forces`` (``energies``, ``stress`` optional), plus per-frame columns.
        ``where`` names the frame's origin in error messages."""
        where = where or f"frame {self.n_frames}"
        frame, per_atom = frame_columns(atoms, where)
        frame.update({k: np.asarray(v)[None] for k, v in frame_info.items() if v is not None})
        self.append_columns(frame, per_atom, where)

    def append_columns(self, frame: dict, per_atom: dict, where: str = "") -> None:
        """Append frames given as columns: ``frame`` values of shape (k, ...), ``per_atom``
        values concatenated over those k frames, plus ``per_atom['natoms']`` (k,)."""
        natoms = np.asarray(per_atom.pop("natoms"), dtype=np.int64)
        for name, value in {**frame, **per_atom}.items():
            _check_finite(name, np.asarray(value), where or f"frame {self.n_frames}")
        if self._columns is None:
            self._create(frame, per_atom)
        expected = {k.split("/", 1)[1] for k in self._columns}
        given = set(frame) | set(per_atom)
        if given != expected:
            missing, extra = sorted(expected - given), sorted(given - expected)
            raise PoolError(
                f"{where or 'frame ' + str(self.n_frames)}: columns differ from the first frame"
                f" (missing {missing}, extra {extra})"
            )
        k, a = len(natoms), int(natoms.sum())
        for group, cols, n0, n in (
            ("frames", frame, self.n_frames, k),
            ("atoms", per_atom, self.n_atoms, a),
        ):
            for key, value in cols.items():
                ds = self._columns[f"{group}/{key}"]
                ds.resize(n0 + n, axis=0)
                ds[n0 : n0 + n] = value
        off = self._h5["offsets"]
        off.resize(self.n_frames + k + 1, axis=0)
        off[self.n_frames + 1 :] = self.n_atoms + np.cumsum(natoms)
        self.n_frames += k
        self.n_atoms += a

    def __enter__(self) -> PoolWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._h5.close()
        if exc_type is None and self.n_frames == 0:
            self._atomic.discard()
            raise PoolError(f"{self.path}: no frames to write")
        self._atomic.__exit__(exc_type, exc, tb)


def frame_columns(atoms: Atoms, where: str) -> tuple[dict, dict]:
    """The pool columns of one labelled ``Atoms``; one clear error for a missing label."""
    results = dict(atoms.calc.results) if atoms.calc is not None else {}
    results.update({k: v for k, v in atoms.info.items() if k in ("energy", "stress")})
    for key in ("forces", "energies"):  # labels some readers leave in arrays
        if key in atoms.arrays:
            results[key] = atoms.arrays[key]
    if atoms.has("momenta"):
        results["momenta"] = atoms.get_momenta()
    for key in ("energy", "forces"):
        if key not in results:
            raise PoolError(f"{where}: no '{key}' (expected info['energy'] and arrays['forces'])")
    frame = {
        "energy": np.array([float(results["energy"])]),
        "cell": atoms.cell[:][None],
        "pbc": atoms.pbc[None],
    }
    if "stress" in results:
        frame["stress"] = _voigt(results["stress"])[None]
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


def _voigt(stress) -> np.ndarray:
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
            raise PoolError(f"{self.path}: cannot read as a pool ({err})") from None
        missing = [
            name
            for name in ("offsets", *(f"frames/{k}" for k in REQUIRED_FRAME))
            + tuple(f"atoms/{k}" for k in REQUIRED_ATOM)
            if name not in self._h5
        ]
        if missing:
            raise PoolError(f"{self.path}: not a pool file (missing {', '.join(missing)})")
        self.metadata = json.loads(self._h5.attrs.get("metadata", "{}"))
        self._cache: dict[str, np.ndarray] = {}

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
        return self._read("offsets")

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
            self._cache[name] = self._h5[name][()]
        return self._cache[name]

    def iter_atom_column(self, key: str, chunk_atoms: int = 1 << 24) -> Iterator[np.ndarray]:
        """Yield a per-atom column in consecutive chunks of at most ``chunk_atoms`` rows."""
        if f"atoms/{key}" not in self._h5:
            raise PoolError(f"{self.path}: no '{key}' column in this pool")
        ds = self._h5[f"atoms/{key}"]
        for start in range(0, len(ds), chunk_atoms):
            yield ds[start : start + chunk_atoms]

    def checksum(self) -> str:
        """SHA-256 of the file's bytes: ties selections and models to the pool they came from."""
        h = hashlib.sha256()
        with open(self.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
        return h.hexdigest()

    def frames(self, indices: Iterable[int] | None = None) -> Iterator[Atoms]:
        """Yield the chosen frames as ``Atoms`` carrying their labels in a
        ``SinglePointCalculator`` and their per-frame columns in ``info``."""
        indices = range(len(self)) if indices is None else indices
        off = self.offsets
        frame_cols = {k: self._h5[f"frames/{k}"] for k in self.frame_keys}
        atom_cols = {k: self._h5[f"atoms/{k}"] for k in self.atom_keys}
        for i in indices:
            i = int(i)
            a, b = off[i], off[i + 1]
            per = {k: ds[a:b] for k, ds in atom_cols.items()}
            info = {k: ds[i] for k, ds in frame_cols.items()}
            atoms = Atoms(
                numbers=per["numbers"],
                positions=per["positions"],
                cell=info.pop("cell"),
                pbc=info.pop("pbc"),
            )
            if "momenta" in per:
                atoms.set_momenta(per["momenta"])
            results = {"energy": float(info.pop("energy")), "forces": per["forces"]}
            if "energies" in per:
                results["energies"] = per["energies"]
            if "stress" in info:
                results["stress"] = info.pop("stress")
            atoms.calc = SinglePointCalculator(atoms, **results)
            atoms.info.update({k: v.item() for k, v in info.items()})
            atoms.info["pool_index"] = i
            yield atoms
