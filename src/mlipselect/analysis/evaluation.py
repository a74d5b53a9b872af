"""A model's errors on labelled test frames: what ``mlipselect evaluate`` writes, for Python too.

:func:`evaluate_model` predicts every frame with a :class:`~mlipselect.models.Potential`
(anything with ``predict``, ``energy_variance``, ``check_species``, ``capacity`` and a
``manifest``) and returns :func:`~mlipselect.analysis.metrics.error_metrics` with what was
evaluated; :func:`tail_bounds` and :func:`tail_atoms` restrict errors to the atoms in a pool's
tails, where the selection methods differ by design.
"""

from __future__ import annotations

import time

import numpy as np
from tqdm.auto import tqdm

from mlipselect.analysis.distributions import Quantities, in_tails, species_bounds
from mlipselect.analysis.metrics import error_metrics
from mlipselect.pool.frames_io import iread_frames
from mlipselect.pool.store import Pool, labels


def tail_bounds(pool_path, percent: float) -> dict:
    """The tails of a pool: ``{"pool", "percent", "bounds"}``, the bounds being its
    species-wise ``percent`` / ``100 - percent`` percentiles of the atomic energies and of
    |f_i|. Read once, for as many test sets as there are."""
    with Pool(pool_path) as pool:
        ref = Quantities.of(pool)
    return {"pool": str(pool_path), "percent": percent,
            "bounds": {key: species_bounds(getattr(ref, key), ref.numbers, percent)
                       for key in ("atomic_energies", "force_norms")}}


def tail_atoms(frames, bounds: dict) -> np.ndarray:
    """Mask over the atoms of ``frames``: reference atomic energy or |f_i| beyond ``bounds``
    (the ``bounds`` of :func:`tail_bounds`)."""
    test = Quantities.of(frames)
    mask = np.zeros(len(test.numbers), dtype=bool)
    for key, limits in bounds.items():
        mask |= in_tails(getattr(test, key), test.numbers, limits)
    return mask


def evaluate_model(model, test, tails: dict | None = None, progress: bool = True) -> dict:
    """The errors of ``model`` on the labelled frames of the file ``test`` (energy and forces
    required; each frame's species checked against the model's before any prediction).

    ``tails`` (:func:`tail_bounds`) adds the errors on the atoms in that pool's tails.
    Returns the metrics of :func:`~mlipselect.analysis.metrics.error_metrics`, with the
    model (family, size, seed, training record, capacity), the test file, the tails and the
    prediction time per frame."""
    frames = list(iread_frames(test, require=("energy", "forces")))
    for i, atoms in enumerate(frames):
        model.check_species(atoms, where=f"{test}, frame {i}")
    predicted: dict[str, list] = {"energy": [], "forces": [], "variance": []}
    reference: dict[str, list] = {"energy": [], "forces": []}
    seconds = 0.0
    for atoms in tqdm(frames, desc="evaluate", unit="frame", disable=not progress):
        start = time.perf_counter()
        energy, force = model.predict(atoms)
        seconds += time.perf_counter() - start
        predicted["energy"].append(energy)
        predicted["forces"].append(force)
        predicted["variance"].append(model.energy_variance(atoms))
        given = labels(atoms)
        reference["energy"].append(float(given["energy"]))
        reference["forces"].append(np.asarray(given["forces"], dtype=float))
    in_tail = None if tails is None else tail_atoms(frames, tails["bounds"])
    variances = predicted["variance"]
    metrics = error_metrics([a.numbers for a in frames],
                            (predicted["energy"], reference["energy"]),
                            (predicted["forces"], reference["forces"]), in_tail,
                            None if variances[0] is None else variances)
    manifest = model.manifest
    metrics["model"] = {**{k: manifest[k] for k in ("family", "size", "seed", "train")},
                        "directory": str(getattr(model, "loaded_from", None))}
    metrics["model"]["size_value"], metrics["model"]["size_label"] = model.capacity()
    metrics["test"] = str(test)
    if in_tail is not None and tails is not None:
        metrics["tails_of"] = {"pool": tails["pool"], "percent": tails["percent"],
                               "atoms": int(in_tail.sum())}
    metrics["seconds_per_frame"] = seconds / len(frames)
    return metrics

