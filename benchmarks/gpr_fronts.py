"""Accuracy-cost fronts of our GPR and of GAP, both tuned by the same sweep.

Usage: ``python benchmarks/gpr_fronts.py [OUT_DIR]`` (default ``figures``). Both families are
fitted to the same 24 BMHTF frames of a 216-ion melt at 1400 K and judged on the same frames:

1. every SOAP basis of ``BASES`` (cutoff, radial functions, l_max) at every sparse-point count
   of ``SPARSE`` (over both species), with the 2-body term and regularisation of ``BASE``;
2. from the point of stage 1 with the lowest validation error (8 frames of a 1300 K melt),
   one setting at a time along each axis of ``AXES`` (2-body cutoff and prior, its richness,
   the SOAP prior, the kernel exponent, the energy and force noise); then one point with each
   axis at its best value, where that beat the base.

Each point's force RMSE is measured on the validation frames (which choose) and on 8 other
frames of a 1300 K melt (the test, which is reported), and its cost as the energy + forces
time of a 216-ion frame on one thread (one MD step; the fastest of 7). A point is on its
family's front when no point of the family is both cheaper and more accurate on the test.

Writes ``gpr_fronts.json`` (every point, one per line as it is measured, so that an
interrupted sweep resumes where it stopped) and ``fig_gpr_fronts.png``/``.pdf``. About 90
minutes on 2 cores, most of it GAP's fits.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.bench_gap import (  # noqa: E402
    FIT,
    force_rmse,
    front,
    melt_frames,
    one_thread,
    seconds_per_frame,
)

BASES = [  # (cutoff A, radial functions, l_max): GAP's n_max; our max_radial is n_max - 1
    (5.0, 4, 2), (5.0, 5, 2), (5.0, 5, 3), (5.0, 6, 3), (5.5, 5, 2), (6.0, 7, 4), (5.0, 8, 4),
]
SPARSE = [100, 200, 400, 800]  # sparse points over both species
BASE = {
    "ours": {"pair_cutoff": 6.0, "pair_sigma": 1.0, "pair_basis": 16, "delta": 0.2, "zeta": 2,
             "energy_sigma": 0.002, "forces_sigma": 0.05},
    "gap": {"pair_cutoff": 6.0, "pair_delta": 1.0, "pair_sparse": 30, "delta": 0.2, "zeta": 4,
            "energy_sigma": 0.002, "forces_sigma": 0.05},
}
COMMON = {"pair_cutoff": [5.0, 7.0, 8.0], "delta": [0.1, 0.5], "zeta": [2, 4],
          "energy_sigma": [0.0005, 0.008], "forces_sigma": [0.02, 0.1]}
AXES = {  # the 2-body prior and richness have each family's own names
    "ours": COMMON | {"pair_sigma": [0.3, 3.0], "pair_basis": [8, 32]},
    "gap": COMMON | {"pair_delta": [0.5, 2.0], "pair_sparse": [15, 60]},
}


def measure(family: str, s: dict, train, validation, test) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        forces = FIT[family](s, train, Path(tmp))
        fit_s = time.perf_counter() - start
        with one_thread():
            step_s = seconds_per_frame([forces], test[0])[0]
        return {"family": family, "settings": s, "fit_s": round(fit_s, 1),
                "rmse_validation": force_rmse(forces, validation),
                "rmse": force_rmse(forces, test), "step_s": step_s}


def sweep(family: str, log: Path, frames) -> list[dict]:
    """Both stages for ``family``, reusing the points ``log`` already holds."""
    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            p = json.loads(line)
            done[(p["family"], json.dumps(p["settings"], sort_keys=True))] = p

    def point(s: dict, stage: str) -> dict:
        key = (family, json.dumps(s, sort_keys=True))
        if key not in done:
            done[key] = measure(family, s, *frames) | {"stage": stage}
            print(json.dumps(done[key]), flush=True)
            with log.open("a") as f:
                f.write(json.dumps(done[key]) + "\n")
        return done[key]

    def validated(points: list[dict]) -> dict:
        return min(points, key=lambda p: p["rmse_validation"])

    base = validated([point(BASE[family] | {"cutoff": c, "n_max": n, "l_max": lmax,
                                            "sparse_points": m}, "basis")
                      for c, n, lmax in BASES for m in SPARSE])
    best = {}
    for axis, values in AXES[family].items():
        along = [point(base["settings"] | {axis: v}, axis)
                 for v in values if v != base["settings"][axis]]
        if validated([base, *along]) is not base:
            best[axis] = validated(along)["settings"][axis]
    if len(best) > 1:
        point(base["settings"] | best, "combined")
    return [p for (f, _), p in done.items() if f == family]


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = (melt_frames(1400.0, 24, seed=0), melt_frames(1300.0, 8, seed=2),
              melt_frames(1300.0, 8, seed=1))
    log = out_dir / "gpr_fronts.jsonl"
    points = [p for family in FIT for p in sweep(family, log, frames)]
    summary = {family: {"points": len([p for p in points if p["family"] == family]),
                        "front": front([p for p in points if p["family"] == family])}
               for family in FIT}
    from mlipselect.study.figures import fig_fronts

    (out_dir / "gpr_fronts.json").write_text(json.dumps(summary, indent=1) + "\n")
    fig_fronts(points, {family: s["front"] for family, s in summary.items()},
               out_dir / "fig_gpr_fronts", label)


def label(point: dict) -> str:
    """A point's basis, sparse points and what else differs from its family's ``BASE``."""
    s, base = point["settings"], BASE[point["family"]]
    changed = " ".join(f"{k} {s[k]:g}" for k in base if s[k] != base[k])
    return f"{s['cutoff']:g}/{s['n_max']}/{s['l_max']} m{s['sparse_points']} {changed}".strip()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "figures"))
