"""``atomic-energies``: uniform in the per-atom energies E_i."""

from __future__ import annotations

from mlipselect.errors import InputError
from mlipselect.selection.kernels import ATOM_BINS
from mlipselect.selection.registry import atom_column_chunks, by_atom_values, register


@register("atomic-energies")
def atomic_energies(pool, n, seed=0, exclude=None, per_species=True, bins=ATOM_BINS):
    """``n`` frames whose atoms' energies ``E_i`` cover their range as evenly as possible:
    :func:`~mlipselect.selection.uniform_by_atom_value` on the pool's per-atom ``energies``
    column, per species (atomic number) unless ``per_species`` is false. The pool is streamed
    in chunks, so it need not fit in memory."""
    if "energies" not in pool.atom_keys:
        raise InputError(
            f"{pool.path}: no per-atom energies (atom column 'energies'), which "
            "'atomic-energies' selects on; pools from `mlipselect sample` have them, and "
            "`mlipselect label` adds them to frames from elsewhere (then `mlipselect import`)"
        )
    values = atom_column_chunks(pool, "energies")
    return by_atom_values(pool, "energies", values, n, seed, exclude, per_species, bins)
