"""A model's errors on labelled test frames: what ``mlipselect evaluate`` writes, for Python too.

:func:`evaluate_model` predicts every frame with a :class:`~mlipselect.models.Potential`
(anything with ``predict``, ``energy_variance``, ``check_species``, ``capacity`` and a
``manifest``) and returns its :class:`Metrics`; :func:`evaluate_files` is the verb, from a
saved model to metrics files; :func:`tail_bounds` and :func:`tail_atoms` restrict errors to
the atoms in a pool's tails, where the selection methods differ by design.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from mlipselect.analysis.distributions import Quantities, in_tails, species_bounds
from mlipselect.analysis.metrics import error_metrics
from mlipselect.errors import InputError
from mlipselect.io import atomic_path, claim_output
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


@dataclass(frozen=True)
class Metrics:
    """A model's errors on one test set: ``errors`` (:func:`~mlipselect.analysis.metrics.
    error_metrics`: forces, energy per atom, per species, counts and, where asked, tails and
    uncertainty), the ``model`` evaluated (family, size, seed, training record, directory,
    capacity), the ``test`` file, the pool whose tails were used and the prediction time."""

    errors: dict
    model: dict
    test: str
    seconds_per_frame: float
    tails_of: dict | None = None

    def to_json(self) -> dict:
        """The metrics file (what ``mlipselect evaluate`` writes): ``errors``' keys at the
        top level beside ``model``, ``test``, ``tails_of`` and ``seconds_per_frame``."""
        return {**self.errors, "model": self.model, "test": self.test,
                **({"tails_of": self.tails_of} if self.tails_of is not None else {}),
                "seconds_per_frame": self.seconds_per_frame}

    def write(self, out) -> None:
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def describe(self) -> str:
        """The force errors in a line (and the predicted uncertainty in another)."""
        f = self.errors["forces"]
        line = (f"{self.errors['frames']} frames: force MAE {f['mae']:.4f}, RMSE "
                f"{f['rmse']:.4f}, max {f['max']:.4f} eV/A (zero-force RMSE "
                f"{f['reference_rms']:.4f})")
        if "uncertainty" in self.errors:
            u = self.errors["uncertainty"]
            line += (f"\n  predicted energy std per atom: mean {u['energy_std_mean']:.4f}, max "
                     f"{u['energy_std_max']:.4f} eV; rank correlation with the force error: "
                     f"of a frame's atoms {_rank(u['rank_within_frames'])} (mean over frames), "
                     f"of the frames by their largest {_rank(u['rank_between_frames'])}")
        return line


def _rank(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f}"


def evaluate_model(model, test, tails: dict | None = None, progress: bool = True) -> Metrics:
    """The errors of ``model`` on the labelled frames of the file ``test`` (energy and forces
    required; each frame's species checked against the model's before any prediction).

    ``tails`` (:func:`tail_bounds`) adds the errors on the atoms in that pool's tails."""
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
    errors = error_metrics([a.numbers for a in frames],
                           (predicted["energy"], reference["energy"]),
                           (predicted["forces"], reference["forces"]), in_tail,
                           None if variances[0] is None else variances)
    manifest = model.manifest
    evaluated = {**{k: manifest[k] for k in ("family", "size", "seed", "train")},
                 "directory": str(getattr(model, "loaded_from", None))}
    evaluated["size_value"], evaluated["size_label"] = model.capacity()
    tails_of = None if in_tail is None or tails is None else {
        "pool": tails["pool"], "percent": tails["percent"], "atoms": int(in_tail.sum())}
    return Metrics(errors, evaluated, str(test), seconds / len(frames), tails_of)


def evaluate_files(model_dir, tests: list, outs: list, tails_pool=None,
                   tail_percent: float = 1.0, overwrite: bool = False,
                   progress: bool = True) -> list[Metrics]:
    """What ``mlipselect evaluate`` does: the model saved in ``model_dir`` evaluated on each
    test file of ``tests``, its metrics written to the file of ``outs`` in the same place
    (:meth:`Metrics.write`); with ``tails_pool``, also on the atoms beyond that pool's
    ``tail_percent`` percentiles. Every output is claimed before any work."""
    from mlipselect.models import load_model

    if len(tests) != len(outs):
        raise InputError(f"{len(tests)} --test but {len(outs)} --out: give one metrics "
                         "file per test set, in the same order")
    for out in outs:
        claim_output(out, overwrite, inputs=[*tests, tails_pool, model_dir])
    model = load_model(model_dir)
    tails = None if tails_pool is None else tail_bounds(tails_pool, tail_percent)
    done = []
    for test, out in zip(tests, outs, strict=True):
        done.append(evaluate_model(model, test, tails, progress=progress))
        done[-1].write(out)
    return done
