"""The model protocol, its ASE calculator, and training/loading by family name."""

from __future__ import annotations

import abc
import copy
import importlib
import json
import resource
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import chemical_symbols

from mlipselect import provenance
from mlipselect.errors import InputError
from mlipselect.io import (
    ALREADY,
    TEMPORARIES,
    Outcome,
    claim_output,
    commit_directory,
    release,
    work_key,
)
from mlipselect.models.registry import registered_family
from mlipselect.pool.store import labels

if TYPE_CHECKING:
    import torch

    from mlipselect.config import Profile

MANIFEST = "model.json"


class BatchedPotential(Protocol):
    """A potential evaluated on many configurations ("images") in one call, on torch tensors
    that stay on ``device``: what MD of many replicas at once (:mod:`mlipselect.md.batched`)
    asks of a model family."""

    cutoff: float
    """Pairs farther apart than this (A) contribute nothing."""
    dtype: torch.dtype
    device: torch.device

    def __call__(self, numbers: torch.Tensor, positions: torch.Tensor, pair_i: torch.Tensor,
                 pair_j: torch.Tensor, offsets: torch.Tensor, image: torch.Tensor,
                 n_atoms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Energies (eV, one per image) and forces (eV/A, one row per atom) of the images
        whose atoms are concatenated in ``numbers`` and ``positions`` (``dtype``); ``image``
        is each atom's image, ``n_atoms`` each image's atom count; every pair of atoms
        within ``cutoff`` (periodic images included) is listed once, as ``pair_i``,
        ``pair_j`` with ``positions[j] - positions[i] + offsets`` its separation (pairs
        farther apart may be listed too)."""
        ...


class Potential(abc.ABC):
    """A trained potential: energy and forces of a configuration, periodic in all, some
    (a slab, a wire) or none (a molecule, a cluster) of the directions of its cell.

    Subclasses implement ``fit`` (a classmethod), ``predict``, ``save_files`` and
    ``load_files``; the manifest, the species check and the calculator are shared.

    Attributes
    ----------
    manifest : dict
        What ``model.json`` holds: ``family``, ``size``, ``settings`` (the family's training
        settings with the chosen size resolved), ``seed``, ``species`` (atomic numbers seen
        in training) and ``fit`` (frames, seconds, peak memory).
    """

    family: str
    loaded_from: Path | None = None
    """The directory :func:`load_model` read this model from; None for a model just fitted."""

    def __init__(self, manifest: dict):
        self.manifest = manifest

    @property
    def species(self) -> tuple[int, ...]:
        return tuple(self.manifest["species"])

    @classmethod
    @abc.abstractmethod
    def fit(cls, frames: list[Atoms], manifest: dict, workdir: Path,
            progress: bool = True) -> Potential:
        """Train on ``frames`` with ``manifest['settings']`` and ``manifest['seed']``;
        files written during training (logs) go to ``workdir``, the model's directory. The
        model's manifest is ``manifest`` with the training's record under ``fit``; the given
        one is left as it is."""

    @abc.abstractmethod
    def predict(self, atoms: Atoms) -> tuple[float, np.ndarray]:
        """Total energy (eV) and forces (eV/A, shape (n, 3)) of ``atoms``; a species the
        model was not trained on fails (:meth:`check_species`)."""

    def predict_many(self, frames: Iterable[Atoms]) -> Iterator[tuple[float, np.ndarray]]:
        """:meth:`predict` of each of ``frames`` in turn, as a stream (a family that can
        evaluates many frames in one call)."""
        for atoms in frames:
            yield self.predict(atoms)

    def gradient_features(self, frames: Iterable[Atoms]) -> Iterator[np.ndarray] | None:
        """Each frame's energy gradient with respect to the model's last-layer parameters,
        as rows streamed in blocks (the features of batch active learning); None for a
        family that has none."""
        return None

    def energy_variance(self, atoms: Atoms) -> np.ndarray | None:
        """The model's own predicted variance (eV^2) of each atom's energy; None for a family
        that predicts none."""
        return None

    def batched(self) -> BatchedPotential | None:
        """This potential on many configurations in one call (for batched MD); None for a
        family that has none."""
        return None

    @abc.abstractmethod
    def capacity(self) -> tuple[int, str]:
        """How big the model is, for plots of error against size: ``(value, what)``."""

    @abc.abstractmethod
    def save_files(self, directory: Path) -> None:
        """Write the fitted parameters into ``directory`` (the manifest is written apart)."""

    @classmethod
    @abc.abstractmethod
    def load_files(cls, directory: Path, manifest: dict) -> Potential:
        """The model saved by ``save_files`` in ``directory``."""

    def check_species(self, atoms: Atoms, where: str = "") -> None:
        """Fail with one message when ``atoms`` holds a species the model was not trained on."""
        unknown = sorted(set(atoms.numbers.tolist()) - set(self.species))
        if unknown:
            names = ", ".join(chemical_symbols[z] for z in unknown)
            known = ", ".join(chemical_symbols[z] for z in self.species)
            raise InputError(f"{where}{': ' if where else ''}species {names} not in the "
                             f"{self.family} model's training species ({known})")

    def calculator(self) -> ModelCalculator:
        return ModelCalculator(self)

    def save(self, directory) -> None:
        directory = Path(directory)
        self.save_files(directory)
        (directory / MANIFEST).write_text(json.dumps(self.manifest, indent=2) + "\n")


class ModelCalculator(Calculator):
    """ASE calculator of a :class:`Potential`: energy, free energy (the same) and forces."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, potential: Potential, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        energy, forces = self.potential.predict(self.atoms)
        self.results = {"energy": energy, "free_energy": energy, "forces": forces}


def _family_class(name: str) -> type[Potential]:
    module, cls = registered_family(name).entry.split(":")
    return getattr(importlib.import_module(module), cls)


def family_settings(profile: Profile, family: str, size: str | None = None) -> dict:
    """The ``train.<family>`` settings of a loaded ``profile`` with ``size`` (a size or a
    variant; the first size when None) resolved: the result has ``size`` (its name) and the
    size's keys (a variant's changes over its base size's) in place of ``sizes``."""
    registered_family(family)
    settings = copy.deepcopy(profile.train[family])
    sizes, variants = settings.pop("sizes"), settings.pop("variants", {})
    name = size if size is not None else next(iter(sizes))
    if name in variants:
        changed = {k: v for k, v in variants[name].items() if k != "base"}
        return {"size": name, **settings, **sizes[variants[name]["base"]], **changed}
    if name not in sizes:
        raise InputError(f"{profile.path}: no {family} size named '{name}' "
                         f"(known: {', '.join([*sizes, *variants])})")
    return {"size": name, **settings, **sizes[name]}


def frame_labels(atoms: Atoms) -> tuple[float, np.ndarray]:
    """Total energy and forces of a labelled frame (found by :func:`pool.store.labels`)."""
    given = labels(atoms)
    return float(given["energy"]), np.asarray(given["forces"], dtype=float)


def read_training_frames(path) -> list[Atoms]:
    """Frames of an ASE-readable file, each with a total energy and forces and a cell
    vector along each periodic direction (else one error)."""
    from mlipselect.pool.frames_io import iread_frames

    frames = list(iread_frames(path, require=("energy", "forces")))
    if not frames:
        raise InputError(f"{path}: no frames")
    for i, atoms in enumerate(frames):
        lengths = atoms.cell.lengths()
        if (atoms.pbc & (lengths < 1e-6)).any():
            raise InputError(f"{path}, frame {i}: periodic (pbc {atoms.pbc.tolist()}) along a "
                             f"cell vector of no length (lengths {lengths.round(3).tolist()} A)")
    return frames


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def training_key(family: str, settings: dict, seed: int, frames: list[Atoms]) -> str:
    """The work of a training: family, settings, seed and the frames with their labels."""
    arrays = []
    for atoms in frames:
        energy, forces = frame_labels(atoms)
        arrays += [atoms.numbers, atoms.positions, atoms.cell[:], np.array(energy), forces]
    return work_key({"family": family, "settings": settings, "seed": int(seed)}, arrays=arrays)


@dataclass(frozen=True)
class Training:
    """A trained ``model`` and what :func:`train_model` did: ``outcome.computed`` frames
    trained on now, or ``outcome.already`` when the directory held this very model."""

    model: Potential
    outcome: Outcome


def train_model(family: str, frames: list[Atoms], profile: Profile, out, size: str | None = None,
                seed: int = 0, progress: bool = True, source: str | None = None,
                overwrite: bool = False) -> Training:
    """Train a ``family`` model of ``size`` on ``frames`` and save it to directory ``out``.

    The directory appears complete or not at all: training writes into a temporary directory
    beside ``out`` that is renamed onto it at the end. A model at ``out`` trained the same way
    on the same frames is kept and returned (nothing is trained); anything else at ``out`` is
    replaced only with ``overwrite``.
    """
    out = Path(out)
    cls = _family_class(family)
    settings = family_settings(profile, family, size)
    key = training_key(family, settings, seed, frames)
    if claim_output(out, overwrite, inputs=[source] if source else [],
                    done=lambda p: _manifest(p).get("work") == key):
        return Training(load_model(out), ALREADY)
    if out.exists() and not (out / MANIFEST).is_file():  # never remove a user's directory
        raise InputError(f"{out}: exists and is not a model directory; not replacing it")
    species = sorted({int(z) for atoms in frames for z in atoms.numbers})
    manifest = {"family": family, "size": settings["size"], "seed": int(seed), "work": key,
                "species": species, "settings": settings,
                "train": {"source": source, "frames": len(frames),
                          "atoms": int(sum(len(a) for a in frames)),
                          "selection": provenance.recorded(frames)}}
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    TEMPORARIES.add(tmp)
    try:
        start = time.perf_counter()
        model = cls.fit(frames, manifest, tmp, progress=progress)
        model.manifest = {**model.manifest,
                          "fit": {"seconds": round(time.perf_counter() - start, 3),
                                  "peak_memory_mb": round(peak_memory_mb(), 1),
                                  **model.manifest.get("fit", {})}}
        model.save(tmp)
        commit_directory(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        TEMPORARIES.discard(tmp)
        release(out)
    return Training(model, Outcome(computed=len(frames)))


def _manifest(directory: Path) -> dict:
    try:
        return json.loads((directory / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def load_model(directory) -> Potential:
    """The model saved in ``directory`` by :func:`train_model`."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise InputError(f"{directory}: not a model directory (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON ({err})") from None
    model = _family_class(manifest.get("family", "?")).load_files(directory, manifest)
    model.loaded_from = directory
    return model
