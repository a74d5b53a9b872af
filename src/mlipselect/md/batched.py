"""Many MD replicas of one torch model, integrated as one system: one model call per step.

Survival statistics need many independent runs, and a small model on a few hundred ions leaves
most of a core (or a GPU) idle: batching the replicas into one call costs little more than one
replica. :class:`BatchedEngine` holds every replica's atoms concatenated on the model's device
and integrates them with velocity Verlet and Bussi's stochastic velocity rescaling, each
replica with its own thermostat stream (drawn exactly as ASE's ``Bussi`` draws it, so a
replica follows the single run of the same seed) and 3N - 3 degrees of freedom (each replica's
total momentum is held at zero).

Neighbour pairs are built per replica within the model's cutoff plus a ``skin`` and rebuilt
only for a replica one of whose atoms has moved more than half the skin since; each step the
pairs beyond the cutoff are dropped before the model sees them (they would contribute exactly
zero), and the same distances give each replica's shortest one to the guard at no extra cost.
Pairs come from all minimum images on the device where the cutoff plus skin is under half the
cell's smallest width, else from vesin on the CPU.

On the CPU a step allocates and frees the same buffers of a few megabytes every time; glibc's
malloc hands such blocks back to the system when they are freed, and the next step faults them
in again page by page. The engine has malloc keep freed memory for reuse instead
(:func:`keep_freed_memory`): 8 replicas of 216 ions make about 25% more replica-steps per
second, and their speed varies much less from one process to the next.
"""

from __future__ import annotations

import ctypes
import functools
import math
import platform

import numpy as np
import torch
from ase import Atoms, units

from mlipselect.config import MD
from mlipselect.md.engines import labelled_atoms
from mlipselect.md.guard import Guard
from mlipselect.models.base import BatchedPotential

SKIN = 1.0
"""A: pairs are listed this far beyond the cutoff; lists are rebuilt after moves of half it."""


@functools.cache
def keep_freed_memory() -> bool:
    """Have glibc's malloc keep the memory a process frees for its own reuse rather than
    return it to the system; True where it did. Process-wide and for the process's lifetime:
    its resident memory stays at its peak. Does nothing without glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    trim_threshold, mmap_threshold = -1, -3  # mallopt's M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
    return bool(libc.mallopt(mmap_threshold, 1 << 30)) and bool(libc.mallopt(trim_threshold,
                                                                             1 << 30))


def bussi_alpha(kinetic: float, target: float, ndof: int, exp_term: float,
                rng: np.random.Generator) -> float:
    """Bussi's velocity scaling factor (eq. A7 of J. Chem. Phys. 126, 014101), drawing from
    ``rng`` in the order ASE's ``Bussi`` does: one normal deviate, then one gamma deviate."""
    scaling = (1 - exp_term) * target / kinetic / ndof
    normal = rng.standard_normal()
    chi2 = 2.0 * rng.standard_gamma(0.5 * (ndof - 1))
    return math.sqrt(exp_term + scaling * (chi2 + normal**2)
                     + 2 * normal * math.sqrt(exp_term * scaling))


def replica_pairs(positions: torch.Tensor, cell: torch.Tensor,
                  cutoff: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every pair of atoms of one periodic replica within ``cutoff``, once: ``i``, ``j`` and
    the ``offsets`` that make ``positions[j] - positions[i] + offsets`` its separation."""
    normals = torch.linalg.cross(cell[[1, 2, 0]], cell[[2, 0, 1]])
    widths = torch.abs(torch.linalg.det(cell)) / torch.linalg.norm(normals, dim=1)
    if cutoff < 0.5 * float(widths.min()):
        # Every separation shorter than half of each width has fractional components under
        # one half: rounding them finds the one image of each pair within the cutoff.
        fractional = positions @ torch.linalg.inv(cell)
        delta = fractional[None, :, :] - fractional[:, None, :]
        vectors = (delta - torch.round(delta)) @ cell
        close = torch.triu((vectors**2).sum(-1) < cutoff**2, diagonal=1)
        i, j = close.nonzero(as_tuple=True)
        return i, j, vectors[i, j] - (positions[j] - positions[i])
    from vesin import NeighborList

    box = cell.cpu().numpy()
    points = positions.cpu().numpy()
    wraps = np.floor(np.linalg.solve(box.T, points.T).T)
    i, j, shifts = NeighborList(cutoff=cutoff, full_list=False).compute(
        points=points - wraps @ box, box=box, periodic=True, quantities="ijS")
    offsets = (shifts - wraps[j] + wraps[i]) @ box
    as_long = {"dtype": torch.long, "device": positions.device}
    return (torch.as_tensor(i, **as_long), torch.as_tensor(j, **as_long),
            torch.as_tensor(offsets, dtype=positions.dtype, device=positions.device))


class BatchedEngine:
    """Velocity Verlet (Bussi thermostat or none) of many replicas through one model call.

    Parameters
    ----------
    states : list of ase.Atoms
        Each replica's start, periodic, with momenta whose total is zero.
    potential : BatchedPotential
        The model (``Potential.batched()``); integration runs on its device in float64.
    settings : mlipselect.config.MD
        The profile's ``md`` section (timestep, thermostat, temperature, taut).
    seeds : list
        Each replica's thermostat seed (anything ``numpy.random.default_rng`` takes).
    skin : float
        A beyond the model's cutoff that neighbour pairs are listed to.

    The replicas still in the batch are ``members`` (their indices in ``states``);
    :meth:`remove` takes replicas out, and the rest go on. Creating an engine calls
    :func:`keep_freed_memory`.
    """

    def __init__(self, states: list[Atoms], potential: BatchedPotential, settings: MD,
                 seeds: list, skin: float = SKIN):
        keep_freed_memory()
        self.potential, self.skin = potential, float(skin)
        self.listed = potential.cutoff + self.skin
        self.dt = float(settings.timestep_fs) * units.fs
        self.bussi = settings.thermostat == "bussi"
        self.kt = float(settings.temperature) * units.kB
        self.exp_term = math.exp(-float(settings.timestep_fs) / float(settings.taut_fs))
        self.rngs = [np.random.default_rng(s) for s in seeds]
        self.members = list(range(len(states)))
        f64 = {"dtype": torch.float64, "device": potential.device}
        self.sizes = torch.tensor([len(a) for a in states], device=potential.device)
        self.ndof = [3 * len(a) - 3 for a in states]
        self.numbers = torch.as_tensor(np.concatenate([a.numbers for a in states]),
                                       device=potential.device)
        self.positions = torch.as_tensor(np.concatenate([a.positions for a in states]), **f64)
        self.momenta = torch.as_tensor(np.concatenate([a.get_momenta() for a in states]), **f64)
        self.masses = torch.as_tensor(np.concatenate([a.get_masses() for a in states]), **f64)
        self.cells = torch.as_tensor(np.stack([a.cell[:] for a in states]), **f64)
        self._index()
        self.pairs = [self._pairs(k) for k in range(len(states))]
        self.built = self.positions.clone()
        self._joined = None
        self._evaluate()

    # -- layout --------------------------------------------------------------------------
    def _index(self) -> None:
        """Each atom's image (position of its replica in the batch), each replica's first
        atom and total mass."""
        dev = self.positions.device
        self.image = torch.repeat_interleave(torch.arange(len(self.sizes), device=dev),
                                             self.sizes)
        self.first = torch.cumsum(self.sizes, 0) - self.sizes
        self._first = self.first.tolist()
        self._sizes = self.sizes.tolist()
        self.total_mass = torch.zeros(len(self.sizes), dtype=torch.float64, device=dev) \
            .index_add_(0, self.image, self.masses)

    def _atoms(self, k: int) -> slice:
        return slice(self._first[k], self._first[k] + self._sizes[k])

    def _pairs(self, k: int):
        return replica_pairs(self.positions[self._atoms(k)], self.cells[k], self.listed)

    def _all_pairs(self):
        """The listed pairs of every replica, in batch-wide atom indices, with their offsets
        and the replica each belongs to."""
        if self._joined is None:
            i = torch.cat([p[0] + f for p, f in zip(self.pairs, self._first, strict=True)])
            j = torch.cat([p[1] + f for p, f in zip(self.pairs, self._first, strict=True)])
            self._joined = (i, j, torch.cat([p[2] for p in self.pairs]), self.image[i])
        return self._joined

    def _per_replica(self, values: torch.Tensor, reduce: str, empty: float,
                     image: torch.Tensor | None = None) -> torch.Tensor:
        """``values`` (one per atom, or per item of ``image``) reduced over each replica."""
        out = torch.full((len(self.sizes),), empty, dtype=values.dtype, device=values.device)
        return out.scatter_reduce(0, self.image if image is None else image, values, reduce)

    # -- physics -------------------------------------------------------------------------
    def _refresh_pairs(self) -> None:
        """Rebuild the lists of the replicas an atom of which moved over half the skin."""
        moved = self._per_replica(((self.positions - self.built) ** 2).sum(1), "amax", 0.0)
        stale = torch.nonzero(moved > (0.5 * self.skin) ** 2).flatten().tolist()
        for k in stale:
            atoms = self._atoms(k)
            self.pairs[k] = self._pairs(k)
            self.built[atoms] = self.positions[atoms]
        if stale:
            self._joined = None

    def _evaluate(self) -> None:
        """Energies and forces at the current positions (each replica's net force removed, so
        its total momentum stays zero), and each replica's shortest distance."""
        self._refresh_pairs()
        i, j, offsets, image = self._all_pairs()
        separation = (self.positions.index_select(0, j) - self.positions.index_select(0, i)
                      + offsets)
        squared = torch.einsum("pk,pk->p", separation, separation)
        self.shortest = self._per_replica(squared, "amin", math.inf, image).sqrt()
        near = torch.nonzero(squared < self.potential.cutoff**2).squeeze(1)
        energies, forces = self.potential(self.numbers, self.positions, i.index_select(0, near),
                                          j.index_select(0, near), offsets.index_select(0, near),
                                          self.image, self.sizes)
        forces = forces.to(torch.float64)
        net = torch.zeros_like(self.cells[:, 0]).index_add_(0, self.image, forces)
        self.forces = forces - self.masses[:, None] * (net / self.total_mass[:, None])[self.image]
        self.energies = energies.to(torch.float64)

    def kinetic(self) -> torch.Tensor:
        """Each replica's kinetic energy, eV."""
        return torch.zeros_like(self.cells[:, 0, 0]).index_add_(
            0, self.image, 0.5 * (self.momenta**2).sum(1) / self.masses)

    def step(self) -> None:
        """One time step of every replica in the batch."""
        if self.bussi:
            kinetic = self.kinetic().tolist()
            alpha = [bussi_alpha(kinetic[k], 0.5 * self.kt * self.ndof[m], self.ndof[m],
                                 self.exp_term, self.rngs[m])
                     for k, m in enumerate(self.members)]
            self.momenta *= torch.as_tensor(alpha, dtype=torch.float64,
                                            device=self.momenta.device)[self.image, None]
        self.momenta += 0.5 * self.dt * self.forces
        self.positions += self.dt * self.momenta / self.masses[:, None]
        self._evaluate()
        self.momenta += 0.5 * self.dt * self.forces

    # -- the replicas --------------------------------------------------------------------
    def check(self, guard: Guard, distance: list[bool]) -> list[str | None]:
        """The guard's reason to stop each replica in the batch (None to go on); the
        shortest distance is judged only for replicas whose ``distance`` is True."""
        finite_atoms = (torch.isfinite(self.forces).all(1) & torch.isfinite(self.momenta).all(1)
                        & torch.isfinite(self.positions).all(1))
        finite = (self._per_replica(finite_atoms.to(torch.float64), "amin", 1.0) > 0) \
            & torch.isfinite(self.energies)
        kelvin = 2 * self.kinetic() / units.kB
        reasons = []
        for k, (ok, t, d, due) in enumerate(zip(finite.tolist(), kelvin.tolist(),
                                                self.shortest.tolist(), distance, strict=True)):
            t /= self.ndof[self.members[k]]
            reasons.append(guard.judge(ok, t) or (guard.judge_distance(d) if due else None))
        return reasons

    def frame(self, k: int) -> Atoms:
        """Replica ``k`` of the batch (``members[k]``) now, as labelled Atoms."""
        atoms = self._atoms(k)
        return labelled_atoms(self.numbers[atoms].cpu().numpy(),
                              self.positions[atoms].cpu().numpy(), self.cells[k].cpu().numpy(),
                              self.momenta[atoms].cpu().numpy(),
                              {"energy": float(self.energies[k]),
                               "forces": self.forces[atoms].cpu().numpy()})

    def remove(self, batch_indices: list[int]) -> None:
        """Take the replicas at ``batch_indices`` out of the batch; the rest go on."""
        gone = set(batch_indices)
        keep = [k for k in range(len(self.members)) if k not in gone]
        atoms = torch.cat([torch.arange(self._first[k], self._first[k] + self._sizes[k],
                                        device=self.positions.device) for k in keep]) \
            if keep else torch.zeros(0, dtype=torch.long, device=self.positions.device)
        for name in ("numbers", "positions", "momenta", "masses", "forces", "built"):
            setattr(self, name, getattr(self, name)[atoms])
        keep_t = torch.as_tensor(keep, dtype=torch.long, device=self.positions.device)
        self.sizes, self.cells = self.sizes[keep_t], self.cells[keep_t]
        self.energies, self.shortest = self.energies[keep_t], self.shortest[keep_t]
        self.members = [self.members[k] for k in keep]
        self.pairs = [self.pairs[k] for k in keep]
        self._joined = None
        self._index()
