"""How the selector's potential ranks configurations against the labeller's.

The seed's method selects by a cheap potential's energies, forces or atomic energies and then
labels the chosen frames with a costlier method; it pays off only when the cheap potential
ranks configurations roughly as the costly one would. Given the same frames labelled by both,
this measures that: rank (Spearman) and linear (Pearson) correlation of the energy per atom
(per frame, over all frames and within each state point), of |f_i| (per atom) and of the
atomic energies E_i (per atom, within each species, since a method's per-species offsets are
arbitrary), and how far apart the forces are.
"""

from __future__ import annotations

import numpy as np
from ase.data import chemical_symbols
from scipy import stats


def _correlation(x: np.ndarray, y: np.ndarray) -> dict:
    return {"pearson": float(stats.pearsonr(x, y).statistic),
            "spearman": float(stats.spearmanr(x, y).statistic), "count": int(len(x))}


def _labels(frames: list) -> dict:
    """Energy per atom per frame, and per atom the species, forces and (where every frame
    has them) atomic energies."""
    energies = [a.calc.results.get("energies") for a in frames]
    return {
        "energy_per_atom": np.array([a.get_potential_energy() / len(a) for a in frames]),
        "numbers": np.concatenate([a.numbers for a in frames]),
        "forces": np.concatenate([a.get_forces() for a in frames]),
        "atomic_energies": None if any(e is None for e in energies) else np.concatenate(energies),
    }


def agreement(selector: list, labeller: list) -> dict:
    """Correlations between the labels of the same frames by the selector's potential
    (``selector``) and by the labeller (``labeller``), frame by frame in the same order,
    with the paired values (``points``) for a figure. Atomic energies are compared where
    both give them."""
    if len(selector) != len(labeller):
        raise ValueError(f"{len(selector)} frames against {len(labeller)}: pair them first")
    a, b = _labels(selector), _labels(labeller)
    norms = [np.linalg.norm(x["forces"], axis=1) for x in (a, b)]
    points = {"energy_per_atom": (a["energy_per_atom"], b["energy_per_atom"]),
              "force_norms": tuple(norms)}
    per_species: dict[str, dict] = {}
    result = {
        "frames": len(selector),
        "energy_per_atom": _correlation(*points["energy_per_atom"]),
        "force_norms": _correlation(*points["force_norms"]),
        # RMS of the force difference relative to the labeller's RMS force component
        "force_difference": float(np.sqrt(np.mean((a["forces"] - b["forces"]) ** 2)
                                          / np.mean(b["forces"] ** 2))),
        "atomic_energies": per_species,
    }
    if a["atomic_energies"] is not None and b["atomic_energies"] is not None:
        for z in np.unique(a["numbers"]):
            mask = a["numbers"] == z
            pair = (a["atomic_energies"][mask], b["atomic_energies"][mask])
            points[f"atomic_energies_{chemical_symbols[z]}"] = pair
            per_species[chemical_symbols[z]] = _correlation(*pair)
    states = [a.info.get("state") for a in selector]
    energy_selector, energy_labeller = points["energy_per_atom"]
    result["energy_within_state"] = _within_state(energy_selector, energy_labeller, states)
    return {**result, "points": points}


def _within_state(x: np.ndarray, y: np.ndarray, states: list) -> dict | None:
    """Correlations of the energy per atom within each state point (frames of one
    temperature and pressure), where the separation between state points cannot inflate
    them; their mean weighted by frames. None where the frames do not say their state."""
    if any(s is None for s in states):
        return None
    states_ = np.asarray(states)
    per_state = {str(s): _correlation(x[states_ == s], y[states_ == s])
                 for s in np.unique(states_) if np.sum(states_ == s) >= 3}
    if not per_state:
        return None
    counts = np.array([c["count"] for c in per_state.values()])
    return {"states": per_state, **{key: float(np.average(
        [c[key] for c in per_state.values()], weights=counts)) for key in ("pearson", "spearman")}}
