"""Our sparse GPR against GAP (quippy-ase's ``gap_fit``), the peer, on the same frames.

Both are fitted to the same BMHTF-labelled training frames (energies and forces) with the
same SOAP settings and sparse-point count, and tested on the same held-out frames: the
ratios of force RMSE (goal <= 1.5) and of energy+forces cost per 216-ion frame, i.e. per MD
step (goal <= 1, aim 0.1).
"""

import os
import subprocess
import tempfile
import time
from pathlib import Path

import ase.io
import numpy as np

from .bench_models import labelled_frames, trained
from .goals import goal

SOAP = {"cutoff": 5.0, "max_radial": 6, "max_angular": 4, "sparse_points": 200}


def gap_fit(frames, workdir: Path):
    """A GAP potential fitted by quippy-ase's ``gap_fit`` (SOAP only, as our GPR)."""
    import quippy
    from quippy.potential import Potential

    train = workdir / "train.xyz"
    ase.io.write(train, frames, format="extxyz")  # labels under `energy` and `forces`
    per_species = SOAP["sparse_points"] // 2
    descriptor = (
        f"soap l_max={SOAP['max_angular']} n_max={SOAP['max_radial']} "
        f"cutoff={SOAP['cutoff']} cutoff_transition_width=0.5 atom_sigma=0.5 zeta=2 "
        f"delta=0.2 covariance_type=dot_product n_sparse={per_species} "
        "sparse_method=cur_points"
    )
    subprocess.run(
        [os.path.join(os.path.dirname(quippy.__file__), "gap_fit"), f"at_file={train}",
         f"gap={{{descriptor}}}", "default_sigma={0.002 0.05 0.0 0.0}",
         "energy_parameter_name=energy", "force_parameter_name=forces", "e0_method=average",
         f"gp_file={workdir / 'gap.xml'}", "sparse_jitter=1e-8"],
        check=True, capture_output=True, cwd=workdir,
    )
    return Potential(param_filename=str(workdir / "gap.xml"))


def force_rmse(predict, frames) -> float:
    errors = [predict(a) - a.get_forces() for a in frames]
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))


def seconds_per_frame(predict, atoms, repeat=3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        predict(atoms)
        times.append(time.perf_counter() - start)
    return min(times)


class GPRAgainstGAP:
    """Force RMSE and cost per MD step of our GPR over GAP's, trained on the same frames."""

    timeout = 1200
    number = 1
    repeat = 1

    def setup(self):
        self.train = labelled_frames(216, 16, seed=0)
        self.test = labelled_frames(216, 4, seed=1)
        self.tmp = tempfile.TemporaryDirectory()
        gap = gap_fit(self.train, Path(self.tmp.name))
        ours = trained("gpr", "soap", self.train, sizes={"soap": SOAP})

        def gap_forces(atoms):
            atoms = atoms.copy()
            gap.reset()  # an ASE calculator: it would return cached forces for the same atoms
            atoms.calc = gap
            return atoms.get_forces()

        self.predict = {"gap": gap_forces, "ours": lambda a: ours.predict(a)[1]}

    def teardown(self):
        self.tmp.cleanup()

    def track_force_rmse_gap(self):
        return force_rmse(self.predict["gap"], self.test)

    track_force_rmse_gap.unit = "eV/A"

    def track_force_rmse_ours(self):
        return force_rmse(self.predict["ours"], self.test)

    track_force_rmse_ours.unit = "eV/A"

    @goal("<=", 1.5)
    def track_force_rmse_ours_over_gap(self):
        return self.track_force_rmse_ours() / self.track_force_rmse_gap()

    track_force_rmse_ours_over_gap.unit = "ratio"

    @goal("<=", 1.0)
    def track_cost_per_step_ours_over_gap(self):
        atoms = self.test[0]
        return (seconds_per_frame(self.predict["ours"], atoms)
                / seconds_per_frame(self.predict["gap"], atoms))

    track_cost_per_step_ours_over_gap.unit = "ratio"
