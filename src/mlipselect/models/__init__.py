"""Potentials: one protocol for every model family.

A model is trained from labelled frames (total energies and forces) and the profile's
``train.<family>`` settings, saved to a directory holding a small JSON manifest
(``model.json``: family, size, settings, seed, species, training record) beside the family's
own files, loaded back with :func:`load_model`, and yields an ASE calculator through
``.calculator()``. Evaluation and MD hold a :class:`Potential` and never ask which family it is.

Families are registered by name (:mod:`mlipselect.models.registry`); this package ships SchNet
through schnetpack (:mod:`mlipselect.models.nn`) and a sparse GPR on SOAP
(:mod:`mlipselect.models.gpr`).
"""

from __future__ import annotations

from mlipselect.models.base import (
    MANIFEST,
    ModelCalculator,
    Potential,
    Training,
    family_settings,
    load_model,
    read_training_frames,
    train_model,
)
from mlipselect.models.registry import Family, families

__all__ = [
    "MANIFEST",
    "Family",
    "ModelCalculator",
    "Potential",
    "Training",
    "families",
    "family_settings",
    "load_model",
    "read_training_frames",
    "train_model",
]
