r"""Batches from scores and features: the kernels of selection by a model's uncertainty.

They work on plain arrays, whatever model gave them:

:func:`top_apart`
    The highest-scoring rows (a committee's force spread, a GPR's variance), none closer than
    ``separation`` to another pick or to a ``selected`` row in descriptor space, so a batch is
    not one uncertain region sampled ten times over (consecutive MD frames score alike).
:func:`max_dist`, :func:`max_det`, :func:`lcmd`
    Batch active learning on a feature matrix :math:`G` (one row per frame, the kernel
    :math:`k(x, x') = g(x) \cdot g(x')`), as Zaverkin et al., Digital Discovery 1, 605 (2022)
    define it, starting from ``selected`` (the training set) or, without one, from the row of
    largest norm (the largest prior variance):

    - ``max_dist``: each pick the row farthest (in the kernel's distance) from the picks,
      the origin among them (a row's distance from it is its prior variance);
    - ``max_det``: each pick the row of largest posterior variance given the picks, its
      residual after projecting out the span of their features, which greedily maximises the
      determinant of the picks' kernel matrix; once the picks span every feature direction
      (all residuals vanish) the rest go on as ``max_dist``;
    - ``lcmd`` (largest cluster maximum distance, Holzmüller et al., JMLR 24, 164 (2023)):
      every row belongs to its nearest pick; the next pick is, in the cluster of largest
      summed squared distance, the row farthest from its centre.

Ties go to the lowest index; the result holds ``selected`` first, then the picks in order.
"""

from __future__ import annotations

import numpy as np

from mlipselect.errors import InputError
from mlipselect.selection.structure import farthest_points


def _start(n_rows: int, n: int, selected, candidates) -> tuple[np.ndarray, list[int]]:
    """The candidate mask without the selected rows, and the selected rows (checked)."""
    mask = np.ones(n_rows, bool) if candidates is None else np.asarray(candidates, bool).copy()
    picked = [] if selected is None else [int(i) for i in selected]
    if n > mask.sum() or n < len(picked):
        raise InputError(f"cannot pick {n} of {int(mask.sum())} candidates "
                         f"({len(picked)} selected)")
    mask[picked] = False
    return mask, picked


def top_apart(score, n: int, x=None, separation: float = 0.0, selected=None,
              candidates=None) -> np.ndarray:
    """``n`` rows by decreasing ``score``, each at least ``separation`` (Euclidean, in the
    rows of ``x``) from the earlier picks and the ``selected`` rows; once no candidate is that
    far from them, the rest by score alone. ``selected`` come first. Each pick reads ``x``
    once (a matrix-vector product: float32 descriptors are not copied)."""
    score = np.asarray(score, np.float64)
    mask, picked = _start(len(score), n, selected, candidates)
    apart = separation > 0 and x is not None
    far = np.ones(len(score), bool)
    if apart:
        norms = np.einsum("ij,ij->i", x, x, dtype=np.float64)
        for i in picked:
            far &= _squared_distances(x, norms, i) >= separation ** 2
    while len(picked) < n:
        pool = mask & far if (mask & far).any() else mask
        best = int(np.argmax(np.where(pool, score, -np.inf)))
        picked.append(best)
        mask[best] = False
        if apart:
            far &= _squared_distances(x, norms, best) >= separation ** 2
    return np.asarray(picked, np.int64)


def _squared_distances(x, norms: np.ndarray, row: int) -> np.ndarray:
    """Squared distances from row ``row`` of ``x`` to every row (``norms``: their squares)."""
    return np.maximum(norms + norms[row] - 2 * (x @ x[row]).astype(np.float64), 0.0)


def _largest_norm(g: np.ndarray, mask: np.ndarray) -> int:
    return int(np.argmax(np.where(mask, np.einsum("ij,ij->i", g, g), -np.inf)))


def max_dist(g, n: int, selected=None, candidates=None) -> np.ndarray:
    """``n`` rows of ``g`` by greedy largest distance (module docstring). The origin counts
    as a pick: a row's distance from it, its kernel norm, is its variance before any data."""
    g = np.asarray(g, np.float64)
    mask, picked = _start(len(g), n, selected, candidates)
    origin = len(g)
    allowed = np.append(mask, True)
    allowed[picked] = True
    order, _ = farthest_points(np.vstack([g, np.zeros(g.shape[1])]), n + 1,
                               selected=[origin, *picked], candidates=allowed)
    return order[1:]


def max_det(g, n: int, selected=None, candidates=None) -> np.ndarray:
    """``n`` rows of ``g`` by greedy largest determinant (module docstring)."""
    g = np.asarray(g, np.float64)
    mask, picked = _start(len(g), n, selected, candidates)
    residual = g.copy()
    scale = float(np.einsum("ij,ij->i", g, g).max(initial=0.0))
    for i in list(picked):
        _project_out(residual, i)
    while len(picked) < n:
        variance = np.where(mask, np.einsum("ij,ij->i", residual, residual), -np.inf)
        best = int(np.argmax(variance))
        if variance[best] <= 1e-12 * scale:  # the picks span the features: go on by distance
            mask[picked] = True
            return max_dist(g, n, selected=picked, candidates=mask)
        picked.append(best)
        mask[best] = False
        _project_out(residual, best)
    return np.asarray(picked, np.int64)


def _project_out(residual: np.ndarray, row: int) -> None:
    direction = residual[row] / max(np.linalg.norm(residual[row]), 1e-300)
    residual -= np.outer(residual @ direction, direction)


def lcmd(g, n: int, selected=None, candidates=None) -> np.ndarray:
    """``n`` rows of ``g`` by largest cluster maximum distance (module docstring)."""
    g = np.asarray(g, np.float64)
    mask, picked = _start(len(g), n, selected, candidates)
    norms = np.einsum("ij,ij->i", g, g)
    nearest = np.full(len(g), np.inf)
    owner = np.zeros(len(g), np.int64)

    def add(row: int) -> None:
        d2 = _squared_distances(g, norms, row)
        closer = d2 < nearest
        nearest[closer], owner[closer] = d2[closer], row

    for i in picked:
        add(i)
    if not picked:
        first = _largest_norm(g, mask)
        picked.append(first)
        mask[first] = False
        add(first)
    while len(picked) < n:
        size = np.bincount(owner[mask], weights=nearest[mask], minlength=len(g))
        members = mask & (owner == int(np.argmax(size)))
        members = members if members.any() else mask  # every cluster empty of spread
        best = int(np.argmax(np.where(members, nearest, -np.inf)))
        picked.append(best)
        mask[best] = False
        add(best)
    return np.asarray(picked, np.int64)
