"""``fps-atoms``: farthest-point sampling of atomic environments, per-species quotas."""

from __future__ import annotations

import numpy as np

from mlipselect.errors import InputError
from mlipselect.selection.kernels import candidate_mask
from mlipselect.selection.registry import Option, register
from mlipselect.selection.structure import DESCRIPTOR_OPTIONS, FarthestPoints


def quotas(environments: dict[int, int], n: int, how: str) -> dict[int, int]:
    """Frames each species brings: ``n`` apportioned in proportion to the species' candidate
    environments (``"pool"``) or equally (``"equal"``), by largest remainder (ties: the lower
    atomic number)."""
    if how not in ("pool", "equal"):
        raise InputError(f"option 'quota' of 'fps-atoms' must be 'pool' or 'equal', got {how!r}")
    species = sorted(environments)
    weight = np.array([environments[s] if how == "pool" else 1 for s in species], float)
    exact = n * weight / weight.sum()
    share = np.floor(exact).astype(int)
    for k in np.argsort(-(exact - share), kind="stable")[:n - share.sum()]:
        share[k] += 1
    return dict(zip(species, share.tolist(), strict=True))


@register("fps-atoms", "farthest-point sampling of atomic environments, per-species quotas",
          options=(*DESCRIPTOR_OPTIONS, Option(
              "quota", str, "pool", "each species' share of the frames: 'pool' (as its share "
              "of the candidates' environments) or 'equal'", choices=("pool", "equal"))),
          extends=True)
def fps_atoms(frames, n, seed, exclude, quota, selected=None, **soap) -> np.ndarray:
    """``n`` frames, each brought by an atomic environment picked by farthest-point sampling
    among the environments of its species (normalised SOAP power spectra of
    :mod:`mlipselect.descriptors`). Species take turns, the one furthest below its quota
    (:func:`quotas`) next; its first environment is drawn with
    ``numpy.random.default_rng(seed)``, each next one is the farthest from those it picked,
    and an environment whose frame was already chosen brings none. Each species brings its
    quota of frames where its environments allow; a species whose every environment lies in
    frames already chosen (or that fewer frames hold than its quota) hands the rest of its
    quota to the others, which take turns. Sorted,
    distinct; ``InputError`` if the candidates hold fewer than ``n`` frames with atoms.

    With ``selected`` frames, those come first, their environments count as picked (the next
    ones are farthest from them too) and the ``n - k`` new frames follow, sorted, with the
    quotas apportioning those."""
    mask = candidate_mask(len(frames), n, exclude, frames.source)
    environments = frames.descriptors(soap, "fps-atoms", per="atom")
    usable = {s: mask[frame] for s, (frame, _) in environments.items()}
    kept = [] if selected is None else [int(i) for i in selected]
    target = quotas({s: int(u.sum()) for s, u in usable.items()}, n - len(kept), quota)
    rng = np.random.default_rng(seed)
    samplers = {s: FarthestPoints(environments[s][1], usable[s]) for s in target
                if usable[s].any()}
    for s, sampler in samplers.items():  # the selected frames' environments are picked
        for row in np.flatnonzero(np.isin(environments[s][0], kept) & usable[s]):
            sampler.add(int(row))
    chosen: dict[int, None] = dict.fromkeys(kept)
    brought = dict.fromkeys(target, 0)
    while len(chosen) < n:
        # the species furthest below its quota; once every quota is met or out of reach,
        # the species that can still bring frames make up the rest in turn
        able = [s for s in samplers if not samplers[s].exhausted]
        if not able:
            raise InputError(f"{frames.source}: fps-atoms found only {len(chosen)} distinct "
                             f"frames of the {n} asked among the candidates' environments")
        below = [s for s in able if brought[s] < target[s]] or able
        s = min(below, key=lambda s: (brought[s] / max(target[s], 1), s))
        sampler, frame_of = samplers[s], environments[s][0]
        while not sampler.exhausted:  # environments of chosen frames bring none
            row = int(rng.choice(sampler.rows)) if not sampler.picked else sampler.farthest()
            sampler.add(row)
            if int(frame_of[row]) not in chosen:
                chosen[int(frame_of[row])] = None
                brought[s] += 1
                break
    picks = np.fromiter(chosen, np.int64)
    return np.concatenate([picks[:len(kept)], np.sort(picks[len(kept):])])
