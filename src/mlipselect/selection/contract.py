"""The contract every selection method keeps, as a check any method's author can run.

``check_selection_method(name)`` runs the registered method on pools made to be awkward
(every frame the same; every frame twice; a species in one frame only; all candidates asked
for; a test set excluded) and on an ordinary one, and raises ``AssertionError`` naming the
pool and the broken promise. The promises (docs/selection.md):

- the result is ``n`` distinct frame indices of the pool, none excluded, or the method
  refuses with an ``InputError`` that says why (never another exception, never a duplicate);
- an unordered method returns its frames sorted;
- the same frames, ``n``, seed and options give the same result;
- a method that extends a selection: its result for ``n`` starting from its own selection of
  ``k < n`` frames holds those ``k`` first (then its new picks, sorted if it is unordered).

The project's own methods are held to it in tests/test_selection_contract.py; a plug-in's
author calls it from their tests::

    from mlipselect.selection.contract import check_selection_method
    def test_my_method_keeps_the_contract():
        check_selection_method("my-method")
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mlipselect.errors import InputError
from mlipselect.selection.registry import get_method, select


def labelled_frame(rng: np.random.Generator, numbers, box: float = 6.0) -> Atoms:
    """A periodic frame of ``numbers`` at random positions, with random labels (energy,
    forces, per-atom energies summing to the energy)."""
    atoms = Atoms(numbers=numbers, positions=rng.uniform(0, box, (len(numbers), 3)),
                  cell=[box] * 3, pbc=True)
    energies = rng.normal(-3.0, 0.5, len(numbers))
    atoms.calc = SinglePointCalculator(atoms, energy=float(energies.sum()), energies=energies,
                                       forces=rng.normal(0, 1, (len(numbers), 3)))
    return atoms


def awkward_pools(seed: int = 0) -> dict[str, tuple[list[Atoms], np.ndarray, list[int]]]:
    """``{name: (frames, excluded, sizes to ask for)}``: the pools the contract runs on."""
    rng = np.random.default_rng(seed)
    cu, ni = 29, 28
    ordinary = [labelled_frame(rng, [cu] * 6 + [ni] * 2) for _ in range(12)]
    one = labelled_frame(rng, [cu] * 8)
    distinct = [labelled_frame(rng, [cu] * 8) for _ in range(6)]
    rare = [labelled_frame(rng, [cu] * 8) for _ in range(9)] + [labelled_frame(rng, [cu] * 7
                                                                               + [ni])]
    return {
        "ordinary": (ordinary, np.array([1, 5]), [1, 4, 10]),
        "identical frames": ([one.copy() for _ in range(8)], np.array([], int), [1, 4, 8]),
        "every frame twice": ([a.copy() for a in distinct + distinct], np.array([0]),
                              [6, 9, 11]),
        "one species in one frame": (rare, np.array([9]), [3, 9]),
    }


def check_selection_method(name: str, seed: int = 0, **options) -> None:
    """Hold the method registered as ``name`` (with ``options``) to the contract in the
    module docstring; ``AssertionError`` naming what broke where."""
    method = get_method(name)
    for pool, (frames, excluded, sizes) in awkward_pools(seed).items():
        for n in sizes:
            where = f"'{name}' on the pool '{pool}' ({len(frames)} frames, excluded " \
                    f"{excluded.tolist()}), n={n}"
            try:
                chosen = select(frames, name, n, seed=seed, exclude=excluded, **options)
            except InputError:
                continue  # a refusal with its reason keeps the contract
            except Exception as err:
                raise AssertionError(f"{where}: raised {type(err).__name__} ({err}) instead of "
                                     "a selection or an InputError") from err
            _check_result(chosen, frames, excluded, n, method.ordered, where)
            again = select(frames, name, n, seed=seed, exclude=excluded, **options)
            assert np.array_equal(chosen, again), f"{where}: another result for the same seed"
            if method.extends and n > 1:
                try:  # a refusal with its reason keeps the contract here too
                    first = select(frames, name, n // 2, seed=seed, exclude=excluded,
                                   **options)
                    extended = select(frames, name, n, seed=seed, exclude=excluded,
                                      selected=first, **options)
                except InputError:
                    continue
                _check_result(extended, frames, excluded, n, True, f"{where}, extended")
                assert np.array_equal(extended[:len(first)], first), \
                    f"{where}: an extension does not start with the selection it extends"
                if not method.ordered:
                    _check_result(extended[len(first):], frames, excluded, n - len(first),
                                  False, f"{where}, extended")


def _check_result(chosen, frames, excluded, n, ordered, where) -> None:
    chosen = np.asarray(chosen)
    assert chosen.dtype.kind in "iu", f"{where}: indices of dtype {chosen.dtype}"
    assert len(chosen) == n, f"{where}: {len(chosen)} frames instead of {n}"
    assert len(np.unique(chosen)) == n, f"{where}: a frame selected twice: {chosen.tolist()}"
    assert ((chosen >= 0) & (chosen < len(frames))).all(), f"{where}: an index outside the pool"
    assert not np.isin(chosen, excluded).any(), f"{where}: an excluded frame selected"
    if not ordered:
        assert (np.diff(chosen) > 0).all(), f"{where}: not sorted"
