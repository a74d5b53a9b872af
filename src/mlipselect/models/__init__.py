"""Potentials: one protocol for every model family.

A model is trained from labelled frames (total energies and forces) and the profile's
``train.<family>`` settings, saved to a directory holding a small JSON manifest
(``model.json``: family, size, settings, seed, species, training record) beside the family's
own files, loaded back with :func:`load_model`, and yields an ASE calculator through
``.calculator()``. Evaluation and MD hold a :class:`Potential` and never ask which family it is.

Families: ``nn`` (SchNet through schnetpack, :mod:`mlipselect.models.nn`) and ``gpr`` (sparse
GPR on SOAP, :mod:`mlipselect.models.gpr`).
"""

from __future__ import annotations

from mlipselect.models.base import (
    FAMILIES,
    MANIFEST,
    ModelCalculator,
    Potential,
    family_settings,
    load_model,
    read_training_frames,
    train_model,
)

__all__ = [
    "FAMILIES",
    "MANIFEST",
    "ModelCalculator",
    "Potential",
    "family_settings",
    "load_model",
    "read_training_frames",
    "train_model",
]
