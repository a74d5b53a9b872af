"""Accuracy against cost of the GPR's SOAP basis and sparse-point count, to choose them.

Usage: ``python benchmarks/gpr_basis.py [OUT_DIR]`` (default ``figures``): fits the GPR on the
same 24 frames of a 216-ion melt at 1400 K for each basis (cutoff, max_radial, max_angular)
and sparse-point count below, measures the force RMSE on independent frames of a 1300 K melt
and the energy + forces time per 216-ion frame (one MD step), and writes
``fig_gpr_basis.png``/``.pdf`` and ``gpr_basis.json``. About 20 minutes on 2 cores.
"""

import copy
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.bench_gap import force_rmse, melt_frames, seconds_per_frame  # noqa: E402
from mlipselect.config import load_profile  # noqa: E402
from mlipselect.models import train_model  # noqa: E402
from mlipselect.study.figures import fig_accuracy_cost  # noqa: E402

BASES = [  # (cutoff A, max_radial, max_angular)
    (4.5, 4, 2), (5.0, 3, 2), (5.0, 4, 2), (5.0, 4, 3), (5.0, 5, 3), (5.5, 4, 2), (5.5, 5, 3),
    (6.0, 6, 4),
]
# With zeta = 2 a step's cost does not grow with the sparse points once they outnumber the
# features (the contracted form): only the fit's does.
SPARSE = [100, 200, 400, 800]


def sweep() -> list[dict]:
    train = melt_frames(1400.0, 24, seed=0)
    test = melt_frames(1300.0, 8, seed=1)
    base = load_profile("quick")
    points = []
    for (cutoff, n, lmax), sparse in [(b, s) for b in BASES for s in SPARSE]:
        profile = copy.deepcopy(base)
        profile["train"]["gpr"]["sizes"] = {"x": {"cutoff": cutoff, "max_radial": n,
                                                  "max_angular": lmax,
                                                  "sparse_points": sparse}}
        with tempfile.TemporaryDirectory() as tmp:
            model = train_model("gpr", train, profile, Path(tmp) / "m", progress=False)
        point = {"cutoff": cutoff, "max_radial": n, "max_angular": lmax,
                 "sparse_points": sparse, "fit_s": model.manifest["fit"]["seconds"],
                 "rmse": force_rmse(lambda a, m=model: m.predict(a)[1], test),
                 "step_s": seconds_per_frame([model.predict], test[0])[0]}
        print(point, flush=True)
        points.append(point)
    return points


def main(out_dir: Path) -> None:
    points = sweep()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "gpr_basis.json").write_text(json.dumps(points, indent=2) + "\n")
    fig_accuracy_cost(points, out_dir / "fig_gpr_basis")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "figures"))
