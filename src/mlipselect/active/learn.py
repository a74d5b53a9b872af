"""Active learning from a pool: rounds of train, score, select and label.

:func:`learn` makes a selection of ``n`` frames with a method that asks models
(``committee``, ``gpr-variance``, ``bal``, or one a package registers) the way it is used:

1. round 0: ``start_fraction`` of the ``n`` frames by the profile's ``active.initial`` method
   (random by default), with the seed;
2. each next round: the method's models (``active.models.METHOD``: family, size, count;
   members differ by their seed and, with ``bootstrap``, each trains on its own resample of
   the frames, drawn with replacement) are trained on the frames so far, labelled, and the
   method extends the selection by its share of the remaining frames (the ``rounds`` split
   them evenly), scoring the candidates with those models;
3. the last round's selection, ``n`` frames, is the result: a selection file like any other,
   so a one-shot method and an iterative one compare at the same number of labelled frames.

Labels are the pool's own, or, where the profile names a labeller (``label.calculator``),
the labeller's through its cache (each distinct frame labelled once, whichever round or
selection asks). Every round's files stay in a rounds directory beside the output; a rerun
reuses the rounds that finished (models and selections alike) and goes on from there.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlipselect.config import Profile
from mlipselect.errors import InputError
from mlipselect.io import claim_output, exclusive_run, work_key
from mlipselect.models.base import family_settings, read_training_frames, train_model
from mlipselect.pool.frames_io import frame_format, iread_frames, write_frames
from mlipselect.pool.store import Pool
from mlipselect.provenance import PREFIX, record
from mlipselect.selection.files import select_to_file
from mlipselect.selection.registry import get_method

KEY = "rounds.json"
"""What a rounds directory was made for (its work key and settings)."""


@dataclass(frozen=True)
class Round:
    """One round: its selection so far (``frames`` of them) and the models that chose its new
    frames (none for round 0)."""

    index: int
    frames: int
    selection: Path
    models: tuple[Path, ...]


def round_sizes(n: int, start_fraction: float, rounds: int) -> list[int]:
    """Frames selected after each round: ``start_fraction`` of ``n`` first (at least 1), then
    the rest in ``rounds`` even steps."""
    start = min(max(1, round(n * start_fraction)), n - rounds)
    if start < 1:
        raise InputError(f"active learning: {n} frames cannot be split into a start and "
                         f"{rounds} rounds of at least one frame each")
    return [start + round(r * (n - start) / rounds) for r in range(rounds + 1)]


def rounds_directory(out) -> Path:
    """Where :func:`learn` keeps the rounds of the selection ``out``."""
    out = Path(out)
    return out.with_name(out.name.rsplit(".", 1)[0] + ".rounds")


def learn(pool_path, method: str, n: int, out, profile: Profile, seed: int = 0, exclude=None,
          label_cache=None, progress: bool = True, overwrite: bool = False,
          log: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> list[Round]:
    """Select ``n`` frames of the pool file ``pool_path`` by active learning with ``method``
    (module docstring) and write them to ``out``; the rounds it ran.

    Parameters
    ----------
    profile : mlipselect.config.Profile
        A loaded profile: ``active`` (the rounds and each method's models), ``train`` (the
        models' settings), ``select.options`` (the methods' options), ``label`` (the
        labeller).
    exclude : path, optional
        An index file of frames never to select (the test set).
    label_cache : path, optional
        The labeller's cache folder (``mlipselect label --cache``), shared with other work.
    """
    out, pool_path = Path(out), Path(pool_path)
    active = profile.active
    if method not in active.models:
        raise InputError(f"'{method}' has no models to learn with: name their family and "
                         f"count (and size) in the profile's active.models (given for: "
                         f"{', '.join(active.models) or 'none'})")
    if not get_method(method).extends:
        raise InputError(f"'{method}' cannot extend a selection, so it cannot run in rounds")
    spec = active.models[method]
    family, count = spec["family"], spec["count"]
    size = family_settings(profile, family, spec.get("size"))["size"]
    sizes = round_sizes(n, active.start_fraction, active.rounds)
    frame_format(out, n)
    work = rounds_directory(out)
    with Pool(pool_path) as pool:
        checksum = pool.checksum()
    settings = {"method": method, "n": n, "seed": seed, "active": profile.section("active"),
                "train": profile.train[family], "label": profile.section("label"),
                "options": profile.select.options, "pool": checksum}
    key = work_key(settings, files=[exclude] if exclude else [])
    finished = claim_output(out, overwrite, inputs=[pool_path, exclude],
                            done=lambda p: _made_for(work, key) and _holds(p, n))
    with exclusive_run(work, "active learning"):
        _start_afresh_unless(work, key, settings)
        done: list[Round] = []
        for r, frames in enumerate(sizes):
            selection = work / f"round-{r}.extxyz"
            models: tuple[Path, ...] = ()
            if r:
                labelled = _labelled(done[-1].selection, profile, label_cache, progress)
                training = read_training_frames(labelled)
                (work / f"round-{r}").mkdir(exist_ok=True)
                models = tuple(work / f"round-{r}" / f"{family}-{size}-m{k}"
                               for k in range(count))
                log(f"round {r}/{len(sizes) - 1}: training {count} {family}-{size} on "
                    f"{len(training)} frames")
                for k, model in enumerate(models):
                    member = seed * count + k
                    frames_k = training
                    if spec.get("bootstrap", False):
                        draw = np.random.default_rng(member).integers(0, len(training),
                                                                      len(training))
                        frames_k = [training[i] for i in draw]
                    train_model(family, frames_k, profile, model, size=size, seed=member,
                                progress=progress, source=str(labelled))
            if not _holds(selection, frames):
                by = method if r else active.initial
                chosen = profile.select.options.get(by, {})
                if r:
                    chosen = {**chosen, "models": ",".join(map(str, models))}
                select_to_file(pool_path, by, frames, selection, seed=seed, exclude=exclude,
                               extend=done[-1].selection if r else None, options=chosen,
                               overwrite=True, log=log)
            done.append(Round(r, frames, selection, models))
        if not finished:
            write_frames(_as_one_selection(done, method=method, n=n, seed=seed,
                                           initial=active.initial, rounds=active.rounds,
                                           models=f"{count}x {family}-{size}"), out)
    return done


def _as_one_selection(history: list[Round], **provenance) -> list:
    """The last round's frames recorded as one selection (``provenance``: the method, n, seed
    and how it learned), each with the round that chose it (``info["active_round"]``, 0 for
    the start) and the method (``info["active_chosen_by"]``)."""
    frames = list(iread_frames(history[-1].selection, require=()))
    kept = {PREFIX + k for k in ("excluded", "exclude", "exclude_sha256", "pool", "pool_sha256")}
    for position, atoms in enumerate(frames):
        atoms.info["active_round"] = next(r.index for r in history if position < r.frames)
        atoms.info["active_chosen_by"] = atoms.info[PREFIX + "method"]
        for key in [k for k in atoms.info if k.startswith(PREFIX) and k not in kept]:
            del atoms.info[key]
    record(frames, **provenance)
    return frames


def _made_for(work: Path, key: str) -> bool:
    record = work / KEY
    return record.is_file() and json.loads(record.read_text()).get("key") == key


def _start_afresh_unless(work: Path, key: str, settings: dict) -> None:
    """Keep the rounds in ``work`` if they were made for this ``key``; else clear them (they
    are this function's own files: a directory holding anything else is refused)."""
    if _made_for(work, key):
        return
    own = {KEY, ".run.lock"}
    strangers = [p.name for p in work.iterdir() if p.name not in own
                 and not p.name.startswith("round-") and not p.name.startswith(".")]
    if strangers:
        raise InputError(f"{work}: holds files that are not rounds of active learning "
                         f"({', '.join(sorted(strangers)[:3])}); not clearing it")
    for path in work.iterdir():
        if path.name.startswith("round-"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    (work / KEY).write_text(json.dumps({"key": key, "settings": settings}, indent=1,
                                 default=str) + "\n")


def _holds(selection: Path, frames: int) -> bool:
    """``selection`` is a finished round of ``frames`` frames (files are written whole)."""
    return selection.is_file() and sum(1 for _ in iread_frames(selection, require=())) == frames


def _labelled(selection: Path, profile: Profile, cache, progress: bool) -> Path:
    """The frames of ``selection`` with the labels models train on: the pool's, or the
    profile's labeller's (beside it, ``.labelled.extxyz``)."""
    if profile.label.calculator == "reference":
        return selection
    from mlipselect.label import label_frames

    labelled = selection.with_name(selection.stem + ".labelled.extxyz")
    label_frames(selection, labelled, profile=profile, cache=cache, progress=progress)
    return labelled
