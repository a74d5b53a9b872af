"""Cost against problem size for selection, prediction and MD, with fitted growth orders.

Usage: ``python benchmarks/scaling.py [OUT_DIR]`` (default ``figures``): measures on this
machine, writes ``fig_scaling.png``/``.pdf`` and ``scaling.json`` (times and the exponent k of
a least-squares fit time ~ size**k). Takes about ten minutes on 2 cores and, for the pool of
10^7 frames, 6 GB of disk in the working directory.
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.bench_commandline import command, kernel, measured, write_pool  # noqa: E402
from benchmarks.bench_models import labelled_frames, trained  # noqa: E402
from benchmarks.bench_selection import best_seconds  # noqa: E402
from mlipselect.md.engines import AseEngine  # noqa: E402
from mlipselect.md.guard import Guard  # noqa: E402
from mlipselect.reference.calculator import BMHTF  # noqa: E402
from mlipselect.selection import uniform_by_atom_value, uniform_by_frame_value  # noqa: E402
from mlipselect.study.figures import fig_scaling  # noqa: E402


def selection_costs() -> dict:
    rng = np.random.default_rng(0)
    frames = [10**3, 10**4, 10**5, 10**6]
    energy = [best_seconds(lambda f=f: uniform_by_frame_value(rng.gamma(2.0, size=f), 512, 0))
              for f in frames]
    values = [10**5, 10**6, 10**7, 10**8]
    per_atom = []
    for v in values:
        data = rng.standard_t(3, size=v).astype(np.float32)
        offsets = np.arange(0, v + 1, 1000)
        per_atom.append(best_seconds(lambda d=data, o=offsets: uniform_by_atom_value(d, o, 64, 0),
                                repeat=1 if v >= 10**8 else 3))
    return {"energy selection (n=512)": {"x": frames, "t": energy, "x_label": "pool frames"},
            "per-atom selection, 1000-atom frames (n=64)": {"x": values, "t": per_atom,
                                           "x_label": "atomic values"}}


def command_line_costs() -> dict:
    """`mlipselect select` on pool files (process start to frames written) beside the
    kernel on the same columns in a process of its own, 10^4 to 10^7 frames of 8 atoms."""
    frames = [10**4, 10**5, 10**6, 10**7]
    x_label = "pool-file frames (8 atoms each)"
    out = {}
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        directory = Path(tmp)
        for f in frames:
            pool = directory / "pool.h5"
            write_pool(pool, f)
            for method in ("energy", "atomic-energies"):
                paths = {f"mlipselect select --method {method}":
                         command(pool, method, directory / "out.extxyz"),
                         f"kernel only ({method})": kernel(pool, method)}
                for name, argv in paths.items():
                    series = out.setdefault(name, {"x": [], "t": [], "x_label": x_label,
                                                   "fit_min": 10**6})
                    series["x"].append(f)
                    series["t"].append(measured(argv, directory)[0])
            pool.unlink()
    return out


def prediction_and_md_costs() -> dict:
    ions = [64, 216, 1000]
    out = {}
    models = {"SchNet small": ("nn", "small", {"epochs": 1}),
              "GPR": ("gpr", "soap", {"sizes": {"soap": {"cutoff": 5.0, "max_radial": 5,
                                                         "max_angular": 3,
                                                         "sparse_points": 100}}})}
    for name, (family, size, train) in models.items():
        model = trained(family, size, labelled_frames(64, 4), **train)
        costs = []
        for n in ions:
            atoms = labelled_frames(n, 1)[0]
            costs.append(best_seconds(lambda a=atoms, m=model: m.predict(a)))
        out[f"{name} energy+forces"] = {"x": ions, "t": costs, "x_label": "atoms per frame"}
    md = []
    settings = {"timestep_fs": 2.0, "thermostat": "bussi", "temperature": 1400.0,
                "taut_fs": 100.0, "guard_every": 10}
    for n in ions:
        atoms = labelled_frames(n, 1)[0]
        MaxwellBoltzmannDistribution(atoms, temperature_K=1400.0, rng=np.random.default_rng(0))
        engine = AseEngine(atoms, BMHTF(), settings, 0)
        guard = Guard(min_distance=0.5, max_temperature=14000.0)
        md.append(best_seconds(lambda e=engine, g=guard: e.advance(20, g)) / 20)
    out["reference MD step (BMHTF)"] = {"x": ions, "t": md, "x_label": "atoms per frame"}
    return out


def fit_orders(series: dict) -> None:
    """The growth order k of each series, fitted from its ``fit_min`` size up (default: all
    sizes): the command line's fixed start-up hides its growth at small pools."""
    for s in series.values():
        x, t = np.asarray(s["x"], dtype=float), np.asarray(s["t"], dtype=float)
        keep = x >= s.get("fit_min", 0)
        s["order"] = float(np.polyfit(np.log(x[keep]), np.log(t[keep]), 1)[0])


def main(out_dir: Path) -> None:
    series = {**selection_costs(), **command_line_costs(), **prediction_and_md_costs()}
    fit_orders(series)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scaling.json").write_text(json.dumps(series, indent=2) + "\n")
    fig_scaling(series, out_dir / "fig_scaling")
    for name, s in series.items():
        print(f"{name}: time ~ size^{s['order']:.2f}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "figures"))
