"""What trained models say about frames, streamed so a pool need not fit in memory.

- :func:`committee_spread`: per frame, the largest per-atom force standard deviation across
  a committee, :math:`\\max_i \\sqrt{\\frac{1}{K}\\sum_k |F_{ki} - \\bar F_i|^2}` (eV/A), and
  the standard deviation of its energy per atom (eV/atom);
- :func:`predicted_spread`: per frame, the largest standard deviation the model itself
  predicts for an atom's energy (eV; the GPR's posterior variance);
- :func:`gradient_features`: per frame, the energy's gradient with respect to each model's
  last-layer parameters, joined and scaled by :math:`1/\\sqrt{K}` so that their dot product is
  the committee's mean kernel.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from mlipselect.errors import InputError
from mlipselect.models.base import Potential, load_model

CHUNK_FRAMES = 256
"""Frames read, and held, at a time."""


def load_models(spec: str | Iterable, at_least: int = 1, at_most: int | None = None,
                needed_by: str = "") -> list[Potential]:
    """The models of ``spec``: model directories, as a list or one string of comma-separated
    paths or glob patterns (``runs/committee/m*``), in sorted order within a pattern; from
    ``at_least`` to ``at_most`` of them."""
    parts = ([p.strip() for p in spec.split(",") if p.strip()] if isinstance(spec, str)
             else [str(p) for p in spec])
    by = f"'{needed_by}' " if needed_by else ""
    empty = [part for part in parts if glob.has_magic(part) and not glob.glob(part)]
    if empty:
        raise InputError(f"{by}models: no directory matches {', '.join(empty)}")
    paths = [Path(p) for part in parts for p in (sorted(glob.glob(part)) or [part])]
    if len(paths) < at_least:
        raise InputError(f"{by}needs {'a model' if at_least == 1 else f'{at_least} or more models'}"
                         f" (model directories, comma-separated), got {len(paths)}")
    if at_most is not None and len(paths) > at_most:
        raise InputError(f"{by}takes {at_most} model{'s' if at_most > 1 else ''}, got "
                         f"{len(paths)}: {', '.join(map(str, paths))}")
    if len(set(paths)) < len(paths):
        raise InputError(f"{by}was given the same model twice: {', '.join(map(str, paths))}")
    return [load_model(p) for p in paths]


def _chunks(frames: Iterable[Atoms], size: int = CHUNK_FRAMES) -> Iterator[list[Atoms]]:
    frames = iter(frames)
    while chunk := list(islice(frames, size)):
        yield chunk


def _bar(total: int | None, what: str):
    return tqdm(total=total, desc=what, unit="frame", disable=None, leave=False)


def committee_spread(models: list[Potential], frames: Iterable[Atoms],
                     total: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the committee's largest per-atom force spread and its energy-per-atom
    spread (module docstring)."""
    if len(models) < 2:
        raise InputError(f"a committee needs 2 or more models, got {len(models)}")
    forces_spread, energy_spread = [], []
    with _bar(total, "committee") as bar:
        for chunk in _chunks(frames):
            predictions = [list(model.predict_many(chunk)) for model in models]
            for k, atoms in enumerate(chunk):
                energies = np.array([p[k][0] for p in predictions]) / len(atoms)
                forces = np.stack([p[k][1] for p in predictions])
                deviation = ((forces - forces.mean(axis=0)) ** 2).sum(axis=2).mean(axis=0)
                forces_spread.append(float(np.sqrt(deviation.max())))
                energy_spread.append(float(energies.std()))
            bar.update(len(chunk))
    return np.array(forces_spread), np.array(energy_spread)


def predicted_spread(model: Potential, frames: Iterable[Atoms],
                     total: int | None = None) -> np.ndarray:
    """Per frame, the largest standard deviation ``model`` predicts for an atom's energy."""
    spread = []
    with _bar(total, f"{model.family} variance") as bar:
        for atoms in frames:
            variance = model.energy_variance(atoms)
            if variance is None:
                raise InputError(f"the {model.family} model predicts no variance of its own "
                                 "(use 'committee' with several models of it)")
            spread.append(float(np.sqrt(np.max(variance))))
            bar.update()
    return np.array(spread)


def gradient_features(models: list[Potential], frames: Iterable[Atoms],
                      total: int | None = None) -> np.ndarray:
    """Per frame (rows), the models' last-layer-gradient features (module docstring)."""
    blocks = []
    with _bar(total, "features") as bar:
        for chunk in _chunks(frames):
            blocks.append(np.concatenate([_features_of(model, chunk) for model in models],
                                         axis=1) / np.sqrt(len(models)))
            bar.update(len(chunk))
    return np.concatenate(blocks)


def _features_of(model: Potential, frames: list[Atoms]) -> np.ndarray:
    rows = model.gradient_features(frames)
    if rows is None:
        raise InputError(f"the {model.family} model has no last-layer-gradient features "
                         "(batch active learning needs a neural network)")
    return np.concatenate(list(rows))
