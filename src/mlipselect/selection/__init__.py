"""Selection of training frames: random, and uniform in a frame or atom value.

Methods, by their command-line names (``METHODS``):

``random``
    n frames uniformly at random.
``energy``
    uniform in the global energy per atom (:func:`uniform_by_frame_value`).
``forces``
    uniform in the per-atom force magnitudes |f_i| (:func:`uniform_by_atom_value`).
``atomic-energies``
    uniform in the per-atom energies E_i (:func:`uniform_by_atom_value`).
``fps``, ``cur``, ``direct``
    by structure, on per-frame SOAP descriptors: farthest points, CUR, one frame per
    cluster (:mod:`mlipselect.selection.structure`).
``fps-atoms``
    farthest points among atomic environments, each bringing its frame, with per-species
    quotas.

``select(frames, method, n, seed=0, exclude=None, **options)`` runs any of them on a pool, a
pool file, a sequence of ``ase.Atoms`` or a :class:`Frames` table; ``register`` adds a new
one. The kernels (``uniform_by_frame_value``, ``uniform_by_atom_value``,
``farthest_points``, ``nearest_distances``) work on plain numpy arrays. docs/selection.md
states the semantics.
"""

# The method modules register themselves on import.
from mlipselect.selection import (  # noqa: F401
    atomic_energies,
    cur,
    direct,
    energy,
    forces,
    fps,
    fps_atoms,
    random_frames,
)
from mlipselect.selection.frames import Frames
from mlipselect.selection.kernels import uniform_by_atom_value, uniform_by_frame_value
from mlipselect.selection.registry import METHODS, Option, get_method, register, select
from mlipselect.selection.split import (
    exclusions,
    index_for,
    read_index,
    split_test_set,
    write_index,
)
from mlipselect.selection.structure import farthest_points, nearest_distances, typical_spacing

__all__ = [
    "METHODS",
    "Frames",
    "Option",
    "exclusions",
    "farthest_points",
    "index_for",
    "get_method",
    "nearest_distances",
    "read_index",
    "register",
    "select",
    "split_test_set",
    "typical_spacing",
    "uniform_by_atom_value",
    "uniform_by_frame_value",
    "write_index",
]
