r"""Selection by structure: farthest points, CUR and strata in descriptor space.

The kernels work on a plain matrix ``x`` (rows: frames or environments; columns: features):

:func:`farthest_points`
    Greedy farthest-point sampling: each pick is the row farthest (Euclidean) from the rows
    picked so far. Exact, and fast by skipping most rows: every row remembers its nearest
    pick :math:`a` and the distance :math:`d_i` to it; for a new pick :math:`c`, the triangle
    inequality gives :math:`|x_i - x_c| \ge |x_a - x_c| - d_i`, so rows with
    :math:`d_i \le |x_a - x_c| / 2` cannot come closer and are not visited. Of the others,
    those whose distance to :math:`c` projected on a few principal directions (plus the
    difference of the norms of the rest) already exceeds :math:`d_i` are skipped too; the
    full distance is computed for what remains.
:func:`cur_rows`
    CUR row selection with orthogonalisation: pick the row of largest leverage on the top
    right singular vector, project its direction out of the feature space, repeat. Runs on
    the d x d covariance, so rows are read once per pick and never copied.
:func:`strata`
    DIRECT-style strata: standardise, keep the principal components explaining
    ``variance`` of it, cluster into ``n`` groups with BIRCH, and take from each group the
    row nearest its centroid.
"""

from __future__ import annotations

import warnings

import numba
import numpy as np

from mlipselect.descriptors import SETTINGS
from mlipselect.errors import InputError
from mlipselect.selection.registry import Option

DESCRIPTOR_OPTIONS = (
    Option("cutoff", float, SETTINGS["cutoff"], "SOAP cutoff radius, A",
           require=(lambda v: v > SETTINGS["smoothing"],
                    f"above the smoothing width ({SETTINGS['smoothing']} A)")),
    Option("max_radial", int, SETTINGS["max_radial"], "SOAP radial basis size",
           require=(lambda v: 0 <= v <= 20, "from 0 to 20")),
    Option("max_angular", int, SETTINGS["max_angular"], "SOAP largest angular momentum",
           require=(lambda v: 0 <= v <= 12, "from 0 to 12")),
)
"""The descriptor settings every structure-based method takes."""

_BLOCK = 1 << 16
"""Rows per block when a kernel walks the whole matrix."""

PARALLEL_ROWS = 50_000
"""Candidate rows from which a pick's pass runs on all of numba's threads: below it, waking
them costs more than they save (on 2 cores, 10,000 rows x 33 features: 37 ms for 256 picks on
one thread, 55 ms on two; at 100,000 rows 0.51 s on one, 0.34 s on two)."""


def farthest_points(x, n: int, first: int = 0, selected=None,
                    candidates=None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows of ``x`` in farthest-point order, and the covering radius before each pick.

    Parameters
    ----------
    x : array_like, shape (F, d)
        Rows to pick from (float32 is kept as it is; distances accumulate in float64).
    n : int
        Rows to return, ``selected`` included.
    first : int
        The first pick when nothing is ``selected`` (scikit-matter's ``initialize``).
    selected : array_like of int, optional
        Picks made already: returned first, and the next picks are farthest from them.
    candidates : array_like of bool, shape (F,), optional
        Rows that may be picked (default all); the others are neither picked nor covered.

    Returns
    -------
    order : ndarray of int64, shape (n,)
    radius : ndarray of float64, shape (n,)
        ``radius[k]``: the largest distance from a candidate to picks ``0..k-1`` when pick
        ``k`` was made (``inf`` for the first), i.e. that pick's distance to the earlier ones.
    """
    sampler = FarthestPoints(x, candidates)
    picked = [] if selected is None else [int(i) for i in selected]
    if not picked:
        if not 0 <= first < len(x) or (candidates is not None and not candidates[first]):
            raise InputError(f"farthest points: the first pick {first} is not a candidate")
        picked = [first]
    if n > len(sampler.rows) or n < len(picked):
        raise InputError(f"farthest points: cannot pick {n} of {len(sampler.rows)} candidates")
    radius = np.array([sampler.add(i) for i in picked]
                      + [sampler.add(sampler.farthest()) for _ in range(n - len(picked))])
    return np.asarray(sampler.picked, np.int64), radius


class FarthestPoints:
    """Farthest-point sampling one pick at a time: ``add(row)`` makes a pick, ``farthest()``
    names the candidate farthest from the picks so far (see :func:`farthest_points`)."""

    def __init__(self, x, candidates=None):
        x = np.asarray(x)
        x = x if x.dtype.kind == "f" else x.astype(np.float64)
        if candidates is not None and np.all(candidates):
            candidates = None  # no copy of the rows is needed
        self.rows = np.flatnonzero(np.ones(len(x), bool) if candidates is None else candidates)
        self.xs = x[self.rows] if candidates is not None else x
        self.local = (None if candidates is None else
                      np.full(len(x), -1, np.int64))  # row -> candidate position
        if self.local is not None:
            self.local[self.rows] = np.arange(len(self.rows))
        self.norms = _row_norms(self.xs)
        basis = _subspace(self.xs)
        self.z = np.concatenate([np.asarray(self.xs[s:s + _BLOCK], np.float64) @ basis
                                 for s in range(0, len(self.xs), _BLOCK)])
        self.rest = np.sqrt(np.maximum(self.norms - (self.z ** 2).sum(axis=1), 0.0))
        # squared distance to the nearest pick; -1 marks a pick
        self.nearest = np.full(len(self.xs), np.inf)
        self.owner = np.zeros(len(self.xs), np.int64)
        self.centres = np.empty((16, x.shape[1]))  # the picks' rows; doubled when full
        self.picked: list[int] = []
        self.threads = numba.get_num_threads() if len(self.rows) >= PARALLEL_ROWS else 1

    @property
    def exhausted(self) -> bool:
        """Every candidate is picked."""
        return len(self.picked) == len(self.rows)

    def farthest(self) -> int:
        """The unpicked candidate row farthest from the picks (ties, such as coincident
        rows all at distance zero: the lowest)."""
        if self.exhausted:
            raise InputError(f"farthest points: all {len(self.rows)} candidates are picked")
        return int(self.rows[np.argmax(self.nearest)])

    def add(self, row: int) -> float:
        """Pick ``row``; returns its distance to the earlier picks (``inf`` for the first)."""
        size = len(self.xs) if self.local is None else len(self.local)
        c = -1 if not 0 <= row < size else row if self.local is None else int(self.local[row])
        if c < 0 or self.nearest[c] < 0:
            raise InputError(f"farthest points: row {row} is not a candidate, or is picked")
        k = len(self.picked)
        distance = float(np.sqrt(self.nearest[c]))
        centre = np.asarray(self.xs[c], np.float64)
        # squared distances between the earlier picks and c; -1 makes the first pick visit all
        between = (((self.centres[:k] - centre) ** 2).sum(axis=1) if k else np.array([-1.0]))
        threads = numba.get_num_threads()
        numba.set_num_threads(min(self.threads, threads))
        try:
            _lower_nearest(self.xs, self.norms, self.z, self.rest, centre, self.z[c],
                           float(self.rest[c]), float(centre @ centre), between, self.nearest,
                           self.owner, k)
        finally:
            numba.set_num_threads(threads)
        self.nearest[c] = -1.0  # below every distance: a pick is never the farthest again
        if k == len(self.centres):
            self.centres = np.concatenate([self.centres, np.empty_like(self.centres)])
        self.centres[k] = centre
        self.picked.append(int(row))
        return distance


@numba.njit(cache=True, parallel=True)
def _lower_nearest(xs, norms, z, rest, centre, zc, rc, cc, between, nearest, owner, k):
    """One pass over the rows: lower ``nearest`` (squared distances) to the new pick
    ``centre`` where it is closer, as |x|^2 + |c|^2 - 2 x.c, and make it the owner. A row is
    read only when neither bound rules it out: its nearest pick is farther than half that
    pick's distance to c (triangle inequality), and the distance in the subspace plus the
    difference of the remainders' norms is below its nearest."""
    for i in numba.prange(len(nearest)):  # rows are independent
        current = nearest[i]
        if current <= 0.25 * between[owner[i]]:
            continue
        low = (rest[i] - rc) ** 2
        for j in range(z.shape[1]):  # leading directions first: most rows stop early
            low += (z[i, j] - zc[j]) ** 2
            if low * (1 - 1e-9) >= current:
                break
        if low * (1 - 1e-9) >= current:
            continue
        dot = 0.0
        for j in range(xs.shape[1]):
            dot += xs[i, j] * centre[j]
        d2 = norms[i] + cc - 2.0 * dot
        if d2 < current:
            nearest[i] = max(d2, 0.0)
            owner[i] = k


def _subspace(x, dims: int = 16, sample: int = 4096) -> np.ndarray:
    """An orthonormal basis (d, dims) of the leading principal directions of evenly spaced
    rows: distances projected on it bound the true ones from below, tightly where the rows
    vary along few directions (as descriptors of MD frames do)."""
    step = max(1, len(x) // sample)
    rows = np.asarray(x[::step][:sample], np.float64)
    rows = rows - rows.mean(axis=0)
    _, vectors = np.linalg.eigh(rows.T @ rows)
    return vectors[:, ::-1][:, :min(dims, x.shape[1])]


def _row_norms(x) -> np.ndarray:
    """Squared norms of the rows, in float64, block by block."""
    return np.concatenate([np.einsum("ij,ij->i", b, b, dtype=np.float64) for b in
                           (np.asarray(x[s:s + _BLOCK], np.float64)
                            for s in range(0, len(x), _BLOCK))] or [np.zeros(0)])


SPACING_SAMPLE = 4000
"""Rows :func:`typical_spacing` measures on (evenly drawn with seed 0 when there are more)."""


def typical_spacing(x, candidates=None) -> float:
    """The median distance from a row of ``x`` (a candidate) to its nearest other row, on a
    sample of :data:`SPACING_SAMPLE` rows: the scale of "near" in these descriptors."""
    rows = np.flatnonzero(np.ones(len(x), bool) if candidates is None else candidates)
    if len(rows) > SPACING_SAMPLE:
        rows = np.sort(np.random.default_rng(0).choice(rows, SPACING_SAMPLE, replace=False))
    sample = np.asarray(x[rows], np.float64)
    norms = (sample ** 2).sum(1)
    d2 = np.maximum(norms[:, None] + norms[None, :] - 2 * sample @ sample.T, 0.0)
    np.fill_diagonal(d2, np.inf)
    return float(np.sqrt(np.median(d2.min(axis=1)))) if len(rows) > 1 else 0.0


def nearest_distances(x, chosen, candidates=None) -> np.ndarray:
    """The distance from each candidate row of ``x`` to its nearest ``chosen`` row."""
    x = np.asarray(x)
    rows = np.flatnonzero(np.ones(len(x), bool) if candidates is None else candidates)
    centres = np.asarray(x[np.asarray(chosen)], np.float64)
    nearest = np.empty(len(rows))
    for start in range(0, len(rows), 4096):
        block = np.asarray(x[rows[start:start + 4096]], np.float64)
        d2 = ((block ** 2).sum(1)[:, None] - 2 * block @ centres.T + (centres ** 2).sum(1))
        nearest[start:start + 4096] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return nearest


def covering_radius(x, chosen, candidates=None) -> float:
    """The largest distance from a candidate row of ``x`` to its nearest ``chosen`` row."""
    return float(nearest_distances(x, chosen, candidates).max())


def cur_rows(x, n: int, selected=None, candidates=None) -> np.ndarray:
    """``n`` rows of ``x`` by CUR with orthogonalisation (module docstring), in pick order.

    The leverage of row i is :math:`(x_i \\cdot v)^2`, with :math:`v` the top right singular
    vector of the rows projected onto the complement of the picked rows' span; ties go to the
    lowest index. ``selected`` rows come first and are projected out before the next pick.
    """
    x = np.asarray(x)
    mask = np.ones(len(x), bool) if candidates is None else np.asarray(candidates, bool).copy()
    picked = [] if selected is None else [int(i) for i in selected]
    if n > mask.sum() or n < len(picked):
        raise InputError(f"CUR: cannot pick {n} of {int(mask.sum())} candidates")
    covariance = np.zeros((x.shape[1], x.shape[1]))
    for start in range(0, len(x), _BLOCK):
        block = np.asarray(x[start:start + _BLOCK], np.float64)
        block = block[mask[start:start + _BLOCK]]
        covariance += block.T @ block
    basis = np.zeros((0, x.shape[1]))  # orthonormal directions of the picked rows
    mask[picked] = False
    for i in picked:
        basis = _extend(basis, np.asarray(x[i], np.float64))
    while len(picked) < n:
        projector = np.eye(x.shape[1]) - basis.T @ basis
        _, vectors = np.linalg.eigh(projector @ covariance @ projector)
        v = projector @ vectors[:, -1]
        best, best_score = -1, -1.0
        for start in range(0, len(x), _BLOCK):
            score = (np.asarray(x[start:start + _BLOCK], np.float64) @ v) ** 2
            score[~mask[start:start + _BLOCK]] = -1.0
            k = int(np.argmax(score))
            if score[k] > best_score:
                best, best_score = start + k, float(score[k])
        picked.append(best)
        mask[best] = False
        basis = _extend(basis, np.asarray(x[best], np.float64))
    return np.asarray(picked, np.int64)


def _extend(basis: np.ndarray, row: np.ndarray) -> np.ndarray:
    """``basis`` with the part of ``row`` outside its span, normalised (if any is left)."""
    rest = row - basis.T @ (basis @ row)
    norm = np.linalg.norm(rest)
    return basis if norm <= 1e-12 * max(np.linalg.norm(row), 1e-300) else np.vstack(
        [basis, rest / norm])


def strata(x, n: int, seed: int = 0, variance: float = 0.95, candidates=None,
           selected=None) -> np.ndarray:
    """One row from each of ``n`` BIRCH clusters of the standardised, PCA-reduced ``x`` (the
    row nearest its cluster's centroid), sorted.

    With ``selected`` rows (k of them), those come first and the ``n - k`` new rows represent
    strata they leave empty: the candidates are clustered into ``m >= n`` groups, ``m`` raised
    until at least ``n - k`` groups hold no selected row, and the ``n - k`` largest of those
    each give their row nearest the centroid (sorted).
    """
    from sklearn.decomposition import PCA

    rows = np.flatnonzero(np.ones(len(x), bool) if candidates is None else candidates)
    kept = np.zeros(0, np.int64) if selected is None else np.asarray(selected, np.int64)
    if not 0 < n <= len(rows) or len(kept) > n:
        raise InputError(f"strata: cannot pick {n} of {len(rows)} candidates")
    if not 0 < variance <= 1:
        raise InputError(f"strata: the variance to keep must be in (0, 1], got {variance}")
    if len(kept) == n:
        return kept
    data = np.asarray(x[rows], np.float64)
    scale = data.std(axis=0)
    data = (data - data.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    if n == 1:  # one cluster: the row nearest the centroid
        return rows[[int(np.argmin((data ** 2).sum(axis=1)))]].astype(np.int64)
    if not (scale > 0).any():
        raise InputError(f"strata: all {len(rows)} candidates have the same descriptor, one "
                         f"cluster, fewer than {n}")
    pca = PCA(n_components=min(data.shape), random_state=seed).fit(data)
    keep = int(np.searchsorted(np.cumsum(pca.explained_variance_ratio_), variance) + 1)
    reduced = pca.transform(data)[:, :min(keep, data.shape[1])]
    covered = np.isin(rows, kept)
    need, groups = n - len(kept), n
    while True:
        labels = _clusters(reduced, groups)
        empty = np.setdiff1d(np.unique(labels), labels[covered])
        if len(empty) >= need or groups >= len(rows):
            break
        groups = min(len(rows), groups + need - len(empty))  # more strata, fewer shared
    if len(empty) < need:
        raise InputError(f"strata: the data form only {len(np.unique(labels))} distinct "
                         f"clusters, too few for {n} frames" + (
                             f" beside the {len(kept)} selected" if len(kept) else ""))
    sizes = np.bincount(labels)[empty]
    chosen = []
    for label in empty[np.argsort(-sizes, kind="stable")[:need]]:
        members = np.flatnonzero(labels == label)
        centroid = reduced[members].mean(axis=0)
        chosen.append(members[np.argmin(((reduced[members] - centroid) ** 2).sum(1))])
    return np.concatenate([kept, np.sort(rows[np.asarray(chosen)])]).astype(np.int64)


def _clusters(reduced: np.ndarray, n: int) -> np.ndarray:
    """BIRCH labels of the rows in ``n`` clusters (fewer where the rows form fewer)."""
    from sklearn.cluster import Birch
    from sklearn.exceptions import ConvergenceWarning

    threshold = _birch_threshold(reduced, n)
    for _ in range(6):  # a tighter subcluster radius where too few subclusters formed
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = Birch(n_clusters=n, threshold=threshold).fit_predict(reduced)
        if len(np.unique(labels)) >= n:
            break
        threshold /= 4
    return labels


def _birch_threshold(data: np.ndarray, n: int) -> float:
    """A BIRCH subcluster radius that leaves several subclusters per wanted cluster: the
    spread of the data over the cube root of 4n (subclusters ~ (extent / threshold)^3)."""
    extent = float(np.sqrt(((data - data.mean(0)) ** 2).sum(1).mean()))
    return max(extent / (4 * n) ** (1 / 3), 1e-9)
