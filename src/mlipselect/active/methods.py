"""The selection methods that ask trained models: ``committee``, ``gpr-variance``, ``bal``.

Each scores the candidate frames with the models it is given (model directories from
``mlipselect train``) and picks a batch with the kernels of
:mod:`mlipselect.selection.batch`. They extend a selection: given ``selected`` (the frames
the models were trained on, in an active-learning round), those come first, and the new picks
keep away from them. Deterministic: ``seed`` does not enter.

Redundancy in ``committee`` and ``gpr-variance`` is measured in the per-frame SOAP
descriptors that the structure-based methods use, not in time: frames of a user's own data
carry no time, and near-identical frames come from different trajectories too. The
``separation`` is in units of the candidates' typical spacing
(:func:`~mlipselect.selection.typical_spacing`, the median distance to the nearest other
frame), so 1 keeps picks at least as far apart as typical neighbours are.
"""

from __future__ import annotations

import numpy as np

from mlipselect.active.scores import (
    committee_spread,
    gradient_features,
    load_models,
    predicted_spread,
)
from mlipselect.selection.batch import lcmd, max_det, max_dist, top_apart
from mlipselect.selection.kernels import candidate_mask
from mlipselect.selection.registry import Option, register
from mlipselect.selection.structure import DESCRIPTOR_OPTIONS, typical_spacing

MODELS = Option("models", str | None, None, "model directories from `mlipselect train`, "
                "comma-separated, or a glob pattern: a committee of 2 or more (committee), one "
                "GPR (gpr-variance), one or more networks, their kernels averaged (bal)")
SEPARATION = Option("separation", float, 1.0, "least descriptor distance between picks, in "
                    "units of the candidates' typical spacing (0: none)",
                    require=(lambda v: v >= 0, ">= 0"))


def _rows(mask: np.ndarray, selected) -> np.ndarray:
    """The rows a method scores: the candidates and the selected frames."""
    rows = mask.copy()
    if selected is not None:
        rows[np.asarray(selected, np.int64)] = True
    return np.flatnonzero(rows)


def _apart(frames, score, n, mask, selected, separation, soap, name) -> np.ndarray:
    """``top_apart`` on the frames' descriptors, ``separation`` in typical spacings."""
    x = None
    if separation > 0:
        x = frames.descriptors(soap, name)
        separation *= typical_spacing(x, mask)
    return top_apart(score, n, x, separation, selected=selected, candidates=mask)


@register("committee", "largest force spread across a committee of models (--models), "
          "kept apart in descriptor space", ordered=True, options=(
              MODELS,
              Option("score", str, "forces", "what spreads: 'forces' (largest per-atom force "
                     "standard deviation) or 'energy' (energy per atom)",
                     choices=("forces", "energy")),
              SEPARATION, *DESCRIPTOR_OPTIONS))
def committee(frames, n, seed, exclude, models, score, separation, selected=None,
              **soap) -> np.ndarray:
    """``n`` frames of largest committee spread (:func:`~mlipselect.active.scores.committee_spread`)
    by decreasing spread, none within ``separation`` of an earlier pick or a selected frame
    (:func:`~mlipselect.selection.batch.top_apart`)."""
    mask = candidate_mask(len(frames), n, exclude, frames.source)
    committee = load_models(models or "", at_least=2, needed_by="committee")
    rows = np.flatnonzero(mask)
    spread = committee_spread(committee, frames.structures(rows, "committee"), len(rows))
    scores = np.full(len(frames), -np.inf)
    scores[rows] = spread[0] if score == "forces" else spread[1]
    return _apart(frames, scores, n, mask, selected, separation, soap, "committee")


@register("gpr-variance", "largest predicted energy variance of a GPR (--models), kept "
          "apart in descriptor space", ordered=True, options=(
              MODELS, SEPARATION, *DESCRIPTOR_OPTIONS))
def gpr_variance(frames, n, seed, exclude, models, separation, selected=None,
                 **soap) -> np.ndarray:
    """``n`` frames of largest predicted atomic-energy standard deviation
    (:func:`~mlipselect.active.scores.predicted_spread`), kept apart as in ``committee``."""
    mask = candidate_mask(len(frames), n, exclude, frames.source)
    (model,) = load_models(models or "", needed_by="gpr-variance", at_most=1)
    rows = np.flatnonzero(mask)
    scores = np.full(len(frames), -np.inf)
    scores[rows] = predicted_spread(model, frames.structures(rows, "gpr-variance"), len(rows))
    return _apart(frames, scores, n, mask, selected, separation, soap, "gpr-variance")


BAL_MODES = {"max_dist": max_dist, "max_det": max_det, "lcmd": lcmd}


@register("bal", "batch active learning on a network's last-layer-gradient features "
          "(--models)", ordered=True, options=(
              MODELS,
              Option("mode", str, "max_dist", "how a batch is built: 'max_dist', 'max_det' or "
                     "'lcmd'", choices=tuple(BAL_MODES))))
def bal(frames, n, seed, exclude, models, mode, selected=None) -> np.ndarray:
    """``n`` frames by :mod:`~mlipselect.selection.batch`'s ``mode`` on the last-layer-gradient
    features of the models (:func:`~mlipselect.active.scores.gradient_features`), starting
    from ``selected`` (the training set)."""
    mask = candidate_mask(len(frames), n, exclude, frames.source)
    networks = load_models(models or "", needed_by="bal")
    rows = _rows(mask, selected)
    features = gradient_features(networks, frames.structures(rows, "bal"), len(rows))
    local = np.full(len(frames), -1)
    local[rows] = np.arange(len(rows))
    picks = BAL_MODES[mode](features, n, selected=None if selected is None else
                            local[np.asarray(selected, np.int64)], candidates=mask[rows])
    return rows[picks].astype(np.int64)
