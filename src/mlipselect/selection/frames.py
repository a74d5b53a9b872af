"""The frame table every selection method reads, whatever form the frames come in.

A :class:`Frames` holds, for F frames of A atoms in all: ``offsets`` (F+1,), the atoms of
frame i being rows ``offsets[i]:offsets[i+1]``; per-frame ``energy`` (F,); per-atom
``numbers`` (A,), ``forces`` (A, 3) and ``energies`` (A,); and, for the structure-based
methods, per-frame descriptors computed on demand (:mod:`mlipselect.descriptors`); and, for
methods that ask a model, the frames themselves as ``ase.Atoms`` (:meth:`Frames.structures`).
Any of these may be missing; a method that needs one says so. Built from

- a :class:`~mlipselect.pool.store.Pool` or a pool path: columns are read when a method asks,
  and the per-atom ones are streamed in chunks, so the pool need not fit in memory;
- a sequence of ``ase.Atoms`` with their labels (``energy``, ``forces``, per-atom
  ``energies``) in a calculator or in ``info``/``arrays``;
- plain arrays, as ``Frames(offsets=..., energy=..., ...)``.

The same frames give the same table, hence the same selection, in every form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
from ase import Atoms

from mlipselect.descriptors import atom_descriptors, frame_descriptors, pool_descriptors
from mlipselect.errors import InputError
from mlipselect.pool.store import Pool, labels

STREAM_ATOMS = 1 << 20
"""Atoms read from a pool file at a time for the per-atom methods."""

type Column = np.ndarray | Callable[[], Iterator[np.ndarray]]
"""A per-atom column: an array, or a zero-argument callable yielding consecutive chunks."""

ATOM_LABELS = ("numbers", "forces", "energies")


class Frames:
    """Per-frame and per-atom columns of F frames (see the module docstring).

    Parameters
    ----------
    offsets : array_like of int, shape (F+1,)
        Atom rows of each frame; ``offsets[0] == 0``.
    energy : array_like, shape (F,), or callable, optional
        Total potential energy of each frame, eV; a zero-argument callable is called (once)
        only when a method asks, so a pool's column is read only by methods that use it.
    numbers, forces, energies : optional
        Per-atom atomic numbers (A,), forces (A, 3) in eV/A, energies (A,) in eV: arrays, or
        zero-argument callables streaming them in chunks.
    describe : callable, optional
        ``describe(settings, per)``: the descriptors with these SOAP settings, per frame
        (``per="frame"``: an (F, d) array, :func:`mlipselect.descriptors.frame_descriptors`)
        or per atom (``"atom"``: :func:`mlipselect.descriptors.atom_descriptors`).
    atoms : callable, optional
        ``atoms(rows)``: the frames of these rows as ``ase.Atoms``, streamed in order.
    source : str
        How error messages name these frames (a file, "3 Atoms").
    """

    def __init__(self, offsets, energy=None, numbers: Column | None = None,
                 forces: Column | None = None, energies: Column | None = None,
                 describe: Callable[[dict, str], object] | None = None,
                 atoms: Callable[[Iterable[int]], Iterator[Atoms]] | None = None,
                 source: str = "frames"):
        self.offsets = np.asarray(offsets)
        self._energy = energy
        self._atoms = {"numbers": numbers, "forces": forces, "energies": energies}
        self._describe = describe
        self._structures = atoms
        self.source = source

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_atoms(self) -> np.ndarray:
        """Atoms per frame."""
        return np.diff(self.offsets)

    def frame_energy(self) -> np.ndarray:
        """The per-frame energies; ``InputError`` naming the source when there are none."""
        if self._energy is None:
            raise InputError(f"{self.source}: no per-frame 'energy'")
        if callable(self._energy):
            self._energy = self._energy()
        return np.asarray(self._energy, dtype=float)

    def atom_column(self, key: str, needed_by: str = "") -> Column:
        """A per-atom column (array or chunk stream); ``InputError`` when it is missing."""
        column = self._atoms[key]
        if column is None:
            by = f", which '{needed_by}' selects on" if needed_by else ""
            hint = (" (pools from `mlipselect sample` have them; `mlipselect label` adds them)"
                    if key == "energies" else "")
            raise InputError(f"{self.source}: no per-atom {key} (column '{key}'){by}{hint}")
        return column

    def descriptors(self, settings: dict, needed_by: str = "", per: str = "frame"):
        """Descriptors with these SOAP ``settings``: per frame, an (F, d) array; per atom,
        ``{species: (frame of each environment, (m, d) array)}``."""
        if self._describe is None:
            by = f" for '{needed_by}'" if needed_by else ""
            raise InputError(f"{self.source}: no structures to compute descriptors{by} from "
                             "(give a pool or ase.Atoms)")
        return self._describe(settings, per)

    def structures(self, rows, needed_by: str = "") -> Iterator[Atoms]:
        """The frames of ``rows`` as ``ase.Atoms``, in order; ``InputError`` when the table
        was built from arrays alone."""
        if self._structures is None:
            by = f" for '{needed_by}'" if needed_by else ""
            raise InputError(f"{self.source}: no structures{by} (give a pool or ase.Atoms)")
        return self._structures(rows)

    def force_norms(self, needed_by: str = "") -> Column:
        """|f_i| of every atom, in the form of the ``forces`` column."""
        forces = self.atom_column("forces", needed_by)
        if callable(forces):
            return lambda: (_norms(f) for f in forces())
        return _norms(np.asarray(forces, dtype=float))

    @classmethod
    def from_pool(cls, pool: Pool, progress: bool = False) -> Frames:
        """The columns of ``pool``, read when asked for; per-atom ones streamed in chunks;
        ``progress``: a progress bar while descriptors are computed."""
        def stream(key):
            if key not in pool.atom_keys:
                return None
            return lambda: pool.iter_atom_column(key, STREAM_ATOMS)

        def describe(settings, per):
            return pool_descriptors(pool, settings, progress=progress, per=per)

        return cls(pool.offsets, energy=lambda: pool.energy, source=str(pool.path),
                   describe=describe, atoms=pool.frames,
                   **{key: stream(key) for key in ATOM_LABELS})

    @classmethod
    def from_atoms(cls, frames: Sequence, source: str | None = None) -> Frames:
        """The labels of a sequence of ``ase.Atoms``: each label that every frame carries."""
        frames = list(frames)
        source = source or f"{len(frames)} Atoms"
        if not frames:
            raise InputError(f"{source}: no frames")
        found = [labels(atoms) for atoms in frames]

        def column(key, shape):
            if not all(key in f for f in found):
                return None
            return np.concatenate([np.asarray(f[key], dtype=float).reshape(shape(len(a)))
                                   for f, a in zip(found, frames, strict=True)])

        offsets = np.concatenate([[0], np.cumsum([len(a) for a in frames])])
        energy = column("energy", lambda n: 1)
        numbers = np.concatenate([a.numbers for a in frames]).astype(np.int32)

        def describe(settings, per):
            compute = frame_descriptors if per == "frame" else atom_descriptors
            return compute(frames, len(frames), np.unique(numbers), settings)

        return cls(offsets, energy=energy, source=source, describe=describe,
                   atoms=lambda rows: (frames[int(i)] for i in rows), numbers=numbers,
                   forces=column("forces", lambda n: (n, 3)),
                   energies=column("energies", lambda n: n))


def _norms(forces: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", forces, forces))


def as_frames(frames) -> Frames:
    """A :class:`Frames` from a ``Frames``, a ``Pool`` or a sequence of ``ase.Atoms`` (a pool
    path is opened by :func:`~mlipselect.selection.select`, which closes it)."""
    if isinstance(frames, Frames):
        return frames
    if isinstance(frames, Pool):
        return Frames.from_pool(frames)
    if isinstance(frames, Sequence) and not isinstance(frames, str | bytes):
        return Frames.from_atoms(frames)
    raise InputError(f"cannot select from a {type(frames).__name__}: give a pool (file or "
                     "Pool), a sequence of ase.Atoms, or a Frames table")
