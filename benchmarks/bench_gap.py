"""Our sparse GPR against GAP (quippy-ase's ``gap_fit``) with its standard recipe for ionic
systems: a 2-body GP (``distance_2b``) plus SOAP (l_max 4, n_max 8, zeta 4, 200 sparse
points per species).

Both are fitted to the same 24 BMHTF frames of a 216-ion melt at 1400 K (energies and
forces) and tested on independent frames of a 1300 K melt; ours at the settings of the quick
profile's largest GPR. Ratios: force RMSE (goal <= 1, aim 0.8) and energy + forces per MD
step at 216 and 1000 ions (goal <= 0.1); and our cost per step over that of SchNet 32x2 (the
quick profile's), trained on the same frames (goal <= 3). Costs are measured on one thread.
"""

import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from .bench_models import labelled_frames
from .goals import goal, known_miss

SCHNET_FASTER = ("SchNet's own evaluation became 1.5x faster (each pair's filter computed once "
                 "for both directions) and the GPR did not: 2.97 at 216 ions, 3.45 at 1000")

GAP_RECIPE = (
    "distance_2b cutoff=5.0 cutoff_transition_width=1.0 covariance_type=ard_se delta=0.5 "
    "theta_uniform=1.0 sparse_method=uniform n_sparse=20 : "
    "soap l_max=4 n_max=8 cutoff=5.0 cutoff_transition_width=0.5 atom_sigma=0.5 zeta=4 "
    "delta=0.2 covariance_type=dot_product n_sparse=200 sparse_method=cur_points"
)


def melt_frames(temperature: float, count: int, seed: int) -> list:
    """``count`` frames 0.2 ps apart of an NVT melt of 216 ions with BMHTF labels."""
    from mlipselect.config import complete_profile
    from mlipselect.pool.store import Pool
    from mlipselect.reference.sampler import sample_state

    profile = complete_profile({
        "system": {"repeat": 3}, "reference": {"cutoff": 8.0, "accuracy": 1e-5},
        "sample": {"equilibrate_ps": 4.0, "melt_ps": 6.0, "production_ps": 0.2 * count,
                   "every": 100, "seed": seed,
                   "states": [{"name": "melt", "ensemble": "nvt", "temperature": temperature,
                               "pressure": 1.0, "phase": "melt"}]}}, "benchmark")
    with tempfile.TemporaryDirectory() as tmp:
        sample_state(profile, 0, Path(tmp) / "melt.h5", progress=False)
        with Pool(Path(tmp) / "melt.h5") as pool:
            return list(pool.frames())[-count:]


def gap_fit(frames, workdir: Path):
    """A GAP potential fitted by quippy-ase's ``gap_fit`` with ``GAP_RECIPE``."""
    import quippy
    from quippy.potential import Potential

    train = workdir / "train.xyz"
    bare = []  # positions, cell and the two labels both fits use, nothing else
    for atoms in frames:
        copy = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=True)
        copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy(),
                                          forces=atoms.get_forces())
        bare.append(copy)
    ase.io.write(train, bare, format="extxyz")  # labels under `energy` and `forces`
    subprocess.run(
        [os.path.join(os.path.dirname(quippy.__file__), "gap_fit"), f"at_file={train}",
         f"gap={{{GAP_RECIPE}}}", "default_sigma={0.002 0.05 0.0 0.0}",
         "energy_parameter_name=energy", "force_parameter_name=forces", "e0_method=average",
         f"gp_file={workdir / 'gap.xml'}", "sparse_jitter=1e-8"],
        check=True, capture_output=True, cwd=workdir, text=True,
    )
    return Potential(param_filename=str(workdir / "gap.xml"))


def quick_fit(family: str, size: str, frames, **train):
    """A model of the quick profile's ``size`` of ``family`` trained on ``frames``."""
    from mlipselect.config import load_profile
    from mlipselect.models import train_model

    profile = load_profile("quick")
    profile["train"][family].update(train)
    with tempfile.TemporaryDirectory() as tmp:
        return train_model(family, frames, profile, Path(tmp) / "m", size=size, progress=False)


def ours_fit(frames):
    """Our GPR at the quick profile's largest size, trained on ``frames``."""
    from mlipselect.config import load_profile

    return quick_fit("gpr", list(load_profile("quick")["train"]["gpr"]["sizes"])[-1], frames)


def force_rmse(predict, frames) -> float:
    errors = [predict(a) - a.get_forces() for a in frames]
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))


def seconds_per_frame(predicts, atoms, repeat=7) -> list[float]:
    """The fastest of ``repeat`` timings of each of ``predicts`` on ``atoms``. They are timed
    in turn, so that a change in the machine's load between them touches each alike."""
    times = [[] for _ in predicts]
    for _ in range(repeat):
        for predict, timed in zip(predicts, times, strict=True):
            start = time.perf_counter()
            predict(atoms)
            timed.append(time.perf_counter() - start)
    return [min(timed) for timed in times]


@contextlib.contextmanager
def one_thread():
    """Torch, BLAS and OpenMP on one thread each, as the workflow runs its MD jobs: costs per
    MD step are compared core for core (featomic computes one frame on one thread anyway)."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(threads)


class GPRAgainstGAP:
    """Force RMSE and cost per MD step of our GPR over GAP's, trained on the same frames.
    Sampling and both fits take minutes: everything is measured once, in ``setup_cache``."""

    timeout = 1800
    number = 1
    repeat = 1

    def setup_cache(self):
        train, test = melt_frames(1400.0, 24, seed=0), melt_frames(1300.0, 8, seed=1)
        with tempfile.TemporaryDirectory() as tmp:
            gap = gap_fit(train, Path(tmp))
            ours = ours_fit(train)
            # its cost per step does not depend on how well it is trained
            schnet = quick_fit("nn", "32x2", train, epochs=1)

            def gap_forces(atoms):
                atoms = atoms.copy()
                gap.reset()  # an ASE calculator: it would return cached forces otherwise
                atoms.calc = gap
                return atoms.get_forces()

            def ours_forces(atoms):
                return ours.predict(atoms)[1]

            results = {"rmse_gap": force_rmse(gap_forces, test),
                       "rmse_ours": force_rmse(ours_forces, test)}
            with one_thread():
                for ions, atoms in ((216, test[0]), (1000, labelled_frames(1000, 1)[0])):
                    ours_s, gap_s, schnet_s = seconds_per_frame(
                        [ours_forces, gap_forces, lambda a: schnet.predict(a)[1]], atoms)
                    results[f"cost_{ions}"] = ours_s / gap_s
                    results[f"cost_{ions}_schnet"] = ours_s / schnet_s
        return results

    def track_force_rmse_gap(self, results):
        return results["rmse_gap"]

    track_force_rmse_gap.unit = "eV/A"

    def track_force_rmse_ours(self, results):
        return results["rmse_ours"]

    track_force_rmse_ours.unit = "eV/A"

    @goal("<=", 1.0)
    def track_force_rmse_ours_over_gap(self, results):
        return results["rmse_ours"] / results["rmse_gap"]

    track_force_rmse_ours_over_gap.unit = "ratio"

    @goal("<=", 0.1)
    def track_cost_per_step_ours_over_gap_216(self, results):
        return results["cost_216"]

    track_cost_per_step_ours_over_gap_216.unit = "ratio"

    @goal("<=", 0.1)
    def track_cost_per_step_ours_over_gap_1000(self, results):
        return results["cost_1000"]

    track_cost_per_step_ours_over_gap_1000.unit = "ratio"

    @goal("<=", 3.0)
    @known_miss(SCHNET_FASTER)
    def track_cost_per_step_ours_over_schnet_216(self, results):
        return results["cost_216_schnet"]

    track_cost_per_step_ours_over_schnet_216.unit = "ratio"

    @goal("<=", 3.0)
    @known_miss(SCHNET_FASTER)
    def track_cost_per_step_ours_over_schnet_1000(self, results):
        return results["cost_1000_schnet"]

    track_cost_per_step_ours_over_schnet_1000.unit = "ratio"
