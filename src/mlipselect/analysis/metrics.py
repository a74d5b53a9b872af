"""Prediction errors of a potential against reference labels: forces and energies.

One place for the metrics of the evaluation and the figures. Forces in eV/A, energies in eV
per atom. ``max`` of the forces is the largest absolute error of one Cartesian component;
``max_atom`` the largest norm of one atom's error vector. ``reference_rms`` is the RMS
reference force component: the RMSE of a model that predicts zero forces.
"""

from __future__ import annotations

import numpy as np
from ase.data import chemical_symbols

UNITS = {"forces": "eV/A", "energy_per_atom": "eV/atom"}


def force_errors(predicted: np.ndarray, reference: np.ndarray) -> dict:
    """MAE, RMSE, max component and max per-atom norm of force errors, arrays (n, 3)."""
    predicted, reference = np.asarray(predicted, float), np.asarray(reference, float)
    err = predicted - reference
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "max": float(np.abs(err).max()),
        "max_atom": float(np.linalg.norm(err, axis=1).max()),
        "reference_rms": float(np.sqrt((reference**2).mean())),
        "atoms": len(err),
    }


def energy_errors(predicted: np.ndarray, reference: np.ndarray, n_atoms: np.ndarray) -> dict:
    """MAE, RMSE and max of per-atom energy errors of frames with ``n_atoms`` atoms."""
    err = (np.asarray(predicted, float) - np.asarray(reference, float)) / np.asarray(n_atoms)
    return {"mae": float(np.abs(err).mean()), "rmse": float(np.sqrt((err**2).mean())),
            "max": float(np.abs(err).max())}


def uncertainty_metrics(variances: list[np.ndarray], predicted: list[np.ndarray],
                        reference: list[np.ndarray]) -> dict:
    """How a model's predicted variance of each atom's energy (eV^2) bears on its force errors,
    all three given per frame (forces (n, 3)): the mean and largest predicted standard
    deviation (eV), and the Spearman rank correlation of the standard deviation with the norm
    of the force error two ways. ``rank_within_frames``: of the atoms of each frame, averaged
    over the frames (near 1 where the model knows which atoms of a configuration it gets
    wrong). ``rank_between_frames``: of the frames by their largest atomic values, which is
    what choosing frames by uncertainty relies on. Pooling every atom would mix the two with
    what sets frames apart (their state point changes both). None where undefined (fewer
    than three frames, or no spread)."""
    from scipy.stats import spearmanr

    def rank(x, y) -> float | None:
        if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
            return None
        return float(spearmanr(x, y).statistic)

    stds = [np.sqrt(np.asarray(v, float)) for v in variances]
    errors = [np.linalg.norm(np.asarray(p, float) - np.asarray(r, float), axis=1)
              for p, r in zip(predicted, reference, strict=True)]
    within = [r for r in map(rank, stds, errors) if r is not None]
    every = np.concatenate(stds)
    return {"energy_std_mean": float(every.mean()), "energy_std_max": float(every.max()),
            "rank_within_frames": float(np.mean(within)) if within else None,
            "rank_between_frames": rank([s.max() for s in stds], [e.max() for e in errors])}


def error_metrics(numbers: list[np.ndarray], energies: tuple[np.ndarray, np.ndarray],
                  forces: tuple[list[np.ndarray], list[np.ndarray]], tails=None,
                  variances: list[np.ndarray] | None = None) -> dict:
    """All metrics of a test set: per frame atomic ``numbers``, ``energies`` as
    (predicted, reference) totals and ``forces`` as (predicted, reference) lists of (n, 3);
    with ``tails`` (a mask over all atoms), also the force errors on those atoms; with
    ``variances`` (per frame, the model's predicted variance of each atom's energy), also
    :func:`uncertainty_metrics`."""
    z = np.concatenate(numbers)
    predicted, reference = np.concatenate(forces[0]), np.concatenate(forces[1])
    n_atoms = np.array([len(n) for n in numbers])
    extra = {}
    if tails is not None and np.any(tails):
        extra["tails"] = {"forces": force_errors(predicted[tails], reference[tails])}
    if variances is not None:
        extra["uncertainty"] = uncertainty_metrics(variances, *forces)
    return {**extra,
        "frames": len(numbers),
        "atoms": int(n_atoms.sum()),
        "units": UNITS,
        "forces": force_errors(predicted, reference),
        "energy_per_atom": energy_errors(*energies, n_atoms),
        "per_species": {chemical_symbols[s]: {"forces": force_errors(predicted[z == s],
                                                                      reference[z == s])}
                        for s in np.unique(z).tolist()},
    }
