"""Our sparse GPR against GAP (quippy-ase's ``gap_fit``), front against front.

``benchmarks/gpr_fronts.py`` sweeps both families alike (SOAP basis, sparse points, 2-body
term, priors and noise), each fitted to the same 24 BMHTF frames of a 216-ion melt at 1400 K
(energies and forces) and tested on independent frames of a 1300 K melt, and keeps each
family's accuracy-cost front in ``figures/gpr_fronts.json``. ``GPRFronts`` fits both fronts
again and measures them in one run: force RMSE, and energy + forces per 216-ion MD step on
one thread (as the workflow's MD jobs run), all points timed in turn. Goals: for every point
of GAP's front, one of ours with no more error at no more than 0.1x its cost; our most
accurate point at no more than 0.85x the error of GAP's most accurate, at no more than its
cost. And the quick profile's largest GPR costs no more than 3x SchNet 32x2 per step.
"""

import contextlib
import json
import math
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

TWO_BODY = ("the 2-body range carries most of the accuracy in this ionic melt, and GAP's term "
            "reaches as far as ours: at 8 A GAP's best is 0.064 eV/A (0.090 at 6 A), ours "
            "0.062 at 7 A (0.068 at 6 A), the same within 3%; ours costs 0.05x per step "
            "(figures/gpr_fronts.json)")
SCHNET_FASTER = ("SchNet's own evaluation became 1.5x faster (each pair's filter computed once "
                 "for both directions) and the GPR did not: 3.45-4.5 at 1000 ions")
FRONTS = Path(__file__).parents[1] / "figures" / "gpr_fronts.json"


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


def bare_copies(frames) -> list[Atoms]:
    """Positions, cell and the two labels both fits use, nothing else: written as extxyz,
    the labels are under `energy` and `forces`."""
    bare = []
    for atoms in frames:
        copy = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=True)
        copy.calc = SinglePointCalculator(copy, energy=atoms.get_potential_energy(),
                                          forces=atoms.get_forces())
        bare.append(copy)
    return bare


def gap_recipe(s: dict) -> str:
    """``gap_fit``'s descriptor string for the settings ``s`` (n_sparse is per species)."""
    return (f"distance_2b cutoff={s['pair_cutoff']} cutoff_transition_width=1.0 "
            f"covariance_type=ard_se delta={s['pair_delta']} theta_uniform=1.0 "
            f"sparse_method=uniform n_sparse={s['pair_sparse']} : "
            f"soap l_max={s['l_max']} n_max={s['n_max']} cutoff={s['cutoff']} "
            f"cutoff_transition_width=0.5 atom_sigma=0.5 zeta={s['zeta']} delta={s['delta']} "
            f"covariance_type=dot_product n_sparse={s['sparse_points'] // 2} "
            "sparse_method=cur_points")


def fit_gap(s: dict, frames, workdir: Path):
    """GAP with the settings ``s`` fitted by quippy-ase's ``gap_fit``; its forces function."""
    import quippy
    from quippy.potential import Potential

    workdir.mkdir(parents=True, exist_ok=True)
    ase.io.write(workdir / "train.xyz", bare_copies(frames), format="extxyz")
    subprocess.run(
        [os.path.join(os.path.dirname(quippy.__file__), "gap_fit"),
         f"at_file={workdir / 'train.xyz'}", f"gap={{{gap_recipe(s)}}}",
         f"default_sigma={{{s['energy_sigma']} {s['forces_sigma']} 0.0 0.0}}",
         "energy_parameter_name=energy", "force_parameter_name=forces", "e0_method=average",
         f"gp_file={workdir / 'gap.xml'}", "sparse_jitter=1e-8"],
        check=True, capture_output=True, cwd=workdir, text=True)
    gap = Potential(param_filename=str(workdir / "gap.xml"))

    def forces(atoms):
        atoms = atoms.copy()
        gap.reset()  # an ASE calculator: it would return cached forces otherwise
        atoms.calc = gap
        return atoms.get_forces()

    return forces


def fit_ours(s: dict, frames, workdir: Path):
    """Our GPR with the settings ``s`` (in GAP's terms: ``n_max`` radial functions) over the
    quick profile's; its forces function."""
    from mlipselect.config import load_profile
    from mlipselect.models import train_model

    workdir.mkdir(parents=True, exist_ok=True)
    profile = load_profile("quick")
    gpr = profile.train["gpr"]
    gpr.update({k: v for k, v in s.items() if k in gpr})
    gpr["sizes"] = {"x": {"cutoff": s["cutoff"], "max_radial": s["n_max"] - 1,
                          "max_angular": s["l_max"], "sparse_points": s["sparse_points"]}}
    model = train_model("gpr", frames, profile, workdir / "m", progress=False).model
    return lambda atoms: model.predict(atoms)[1]


FIT = {"ours": fit_ours, "gap": fit_gap}


def front(points: list[dict]) -> list[dict]:
    """The points that no cheaper point beats on test error, cheapest first."""
    out, best = [], float("inf")
    for p in sorted(points, key=lambda p: (p["step_s"], p["rmse"])):
        if p["rmse"] < best:
            out.append(p)
            best = p["rmse"]
    return out


def quick_fit(family: str, size: str, frames, **train):
    """A model of the quick profile's ``size`` of ``family`` trained on ``frames``."""
    from mlipselect.config import load_profile
    from mlipselect.models import train_model

    profile = load_profile("quick")
    profile.train[family].update(train)
    with tempfile.TemporaryDirectory() as tmp:
        return train_model(family, frames, profile, Path(tmp) / "m", size=size,
                           progress=False).model


def ours_fit(frames):
    """Our GPR at the quick profile's largest size, trained on ``frames``."""
    from mlipselect.config import load_profile

    return quick_fit("gpr", list(load_profile("quick").train["gpr"]["sizes"])[-1], frames)


def force_rmse(predict, frames) -> float:
    errors = [predict(a) - a.get_forces() for a in frames]
    return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))


def seconds_per_frame(predicts, atoms, repeat=7) -> list[float]:
    """The least of ``repeat`` timings of each of ``predicts`` on ``atoms``, in CPU time of
    this process: the cost on one core (run under :func:`one_thread`), which other
    processes' load does not inflate as it inflates wall time. They are timed in turn, so
    that a change in the machine's load between them touches each alike."""
    times = [[] for _ in predicts]
    for _ in range(repeat):
        for predict, timed in zip(predicts, times, strict=True):
            start = time.process_time()
            predict(atoms)
            timed.append(time.process_time() - start)
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


def covering_cost(ours: list[dict], gap: list[dict]) -> float:
    """The largest, over GAP's points, of the cost of our cheapest point with no more error,
    over that GAP point's cost: infinite where none of ours is as accurate."""
    return max(min((p["step_s"] for p in ours if p["rmse"] <= g["rmse"]), default=math.inf)
               / g["step_s"] for g in gap)


class GPRFronts:
    """Both fronts of ``figures/gpr_fronts.json`` fitted again to the same frames and
    measured in one run. Fits take minutes: everything is measured once, in
    ``setup_cache``."""

    timeout = 3600
    number = 1
    repeat = 1

    def setup_cache(self):
        fronts = json.loads(FRONTS.read_text())
        train, test = melt_frames(1400.0, 24, seed=0), melt_frames(1300.0, 8, seed=1)
        with tempfile.TemporaryDirectory() as tmp:
            fitted = [(family, FIT[family](p["settings"], train, Path(tmp) / f"{family}{i}"))
                      for family, summary in fronts.items()
                      for i, p in enumerate(summary["front"])]
            quick = ours_fit(train)
            # its cost per step does not depend on how well it is trained
            schnet = quick_fit("nn", "32x2", train, epochs=1)
            with one_thread():
                costs = seconds_per_frame([forces for _, forces in fitted], test[0])
                schnet_ratio = {}
                for ions, atoms in ((216, test[0]), (1000, labelled_frames(1000, 1)[0])):
                    quick_s, schnet_s = seconds_per_frame(
                        [lambda a: quick.predict(a)[1], lambda a: schnet.predict(a)[1]], atoms)
                    schnet_ratio[ions] = quick_s / schnet_s
        points = {family: [] for family in fronts}
        for (family, forces), cost in zip(fitted, costs, strict=True):
            points[family].append({"rmse": force_rmse(forces, test), "step_s": cost})
        return {**points, "schnet": schnet_ratio}

    @goal("<=", 0.1)
    def track_front_cost_ours_over_gap(self, results):
        return covering_cost(results["ours"], results["gap"])

    track_front_cost_ours_over_gap.unit = "ratio"

    def track_best_rmse_gap(self, results):
        return min(p["rmse"] for p in results["gap"])

    track_best_rmse_gap.unit = "eV/A"

    def track_best_rmse_ours(self, results):
        return min(p["rmse"] for p in results["ours"])

    track_best_rmse_ours.unit = "eV/A"

    @goal("<=", 0.85)
    @known_miss(TWO_BODY)
    def track_best_rmse_ours_over_gap(self, results):
        return self.track_best_rmse_ours(results) / self.track_best_rmse_gap(results)

    track_best_rmse_ours_over_gap.unit = "ratio"

    @goal("<=", 1.0)
    def track_best_cost_ours_over_gap(self, results):
        ours = min(results["ours"], key=lambda p: p["rmse"])
        gap = min(results["gap"], key=lambda p: p["rmse"])
        return ours["step_s"] / gap["step_s"]

    track_best_cost_ours_over_gap.unit = "ratio"

    @goal("<=", 3.0)
    def track_cost_per_step_ours_over_schnet_216(self, results):
        return results["schnet"][216]

    track_cost_per_step_ours_over_schnet_216.unit = "ratio"

    @goal("<=", 3.0)
    @known_miss(SCHNET_FASTER)
    def track_cost_per_step_ours_over_schnet_1000(self, results):
        return results["schnet"][1000]

    track_cost_per_step_ours_over_schnet_1000.unit = "ratio"
