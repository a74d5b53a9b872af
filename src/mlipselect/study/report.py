"""The reproduction's report: figures F1-F3, claims C1-C3, report.json and report.md.

Reads what the workflow wrote under a results directory (the layout is ``workflow.Plan``'s)
and measures every claim; nothing here is assumed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from mlipselect.analysis.claims import claim_c1, claim_c2, claim_c3
from mlipselect.analysis.distributions import Quantities, species_tail_share
from mlipselect.analysis.rdf import compare_with_reference, read_rdf_csv
from mlipselect.io import atomic_path, claim_output
from mlipselect.md import read_status
from mlipselect.plots.figures import fig1_distributions, fig2_force_errors, fig3_rdf
from mlipselect.pool.frames_io import iread_frames
from mlipselect.pool.store import Pool
from mlipselect.workflow import Plan, parse_selection

CLAIMS = {
    "C1": "Uniform selection in atomic energies (and forces) samples the low-probability tails "
          "more than random or global-energy selection.",
    "C2": "Models trained on force or atomic-energy selections have lower Max and RMSE test "
          "force errors than models trained on random or global-energy selections.",
    "C3": "MD driven by global-energy-selected models shows non-physical short-range peaks in "
          "g_NaNa(r); atomic-energy-selected models match the BMHTF reference.",
}


def selection_tails(plan: Plan, results: Path, pool_q: Quantities, percent: float):
    """Per method: the quantities of the NN-size selections pooled over seeds, and the
    per-seed tail shares of atomic energies and |f_i| (species-wise pool percentiles)."""
    n = plan.profile["reproduce"]["train_n"]["nn"]
    pooled: dict[str, list] = defaultdict(list)
    tails = {"atomic_energies": defaultdict(list), "force_norms": defaultdict(list)}
    for name in plan.selections:
        sel = parse_selection(name)
        if sel["n"] != n:
            continue
        q = Quantities.of(list(iread_frames(results / "labelled" / f"{name}.extxyz")))
        pooled[sel["method"]].append(q)
        for key in tails:
            tails[key][sel["method"]].append(species_tail_share(
                getattr(q, key), q.numbers, getattr(pool_q, key), pool_q.numbers, percent))
    merged = {m: Quantities(*(np.concatenate([getattr(q, f) for q in qs]) for f in
                              ("energy_per_atom", "atomic_energies", "force_norms", "numbers")))
              for m, qs in pooled.items()}
    return merged, {k: dict(v) for k, v in tails.items()}


def force_errors(plan: Plan, results: Path) -> list[dict]:
    """One record per trained model: family, size (name, value and axis label), method, seed,
    and the test force errors max, rmse, mae (eV/A)."""
    records = []
    for model, selection in plan.trained:
        metrics = json.loads((results / "metrics" / model / f"{selection}.json").read_text())
        family, size = metrics["model"]["family"], metrics["model"]["size"]
        records.append({
            "family": family, "size": size,
            "size_value": metrics["model"]["size_value"],
            "size_label": metrics["model"]["size_label"],
            **parse_selection(selection),
            **{k: metrics["forces"][k] for k in ("max", "rmse", "mae")},
        })
    return records


def md_runs(plan: Plan, results: Path):
    """The reference g(r), and per model-driven MD: family, method, seed, its g(r), the
    comparison with the reference (``analysis.rdf.compare_with_reference``) and the guard's
    status."""
    reference = read_rdf_csv(results / "rdf" / "reference.csv")
    runs = []
    for run in plan.md_runs[1:]:
        model, selection = run.split("/")
        rdf = read_rdf_csv(results / "rdf" / f"{run}.csv")
        status = read_status(results / "md" / f"{run}.extxyz")
        runs.append({
            "run": run, "family": model.split("-")[0], **parse_selection(selection),
            "rdf": {"r": rdf.r, "Na-Na": rdf.g["Na-Na"]},
            "stable": status["stable"], "stopped_ps": status["time_ps"],
            "reason": status.get("reason"), **compare_with_reference(rdf, reference),
        })
    return {"r": reference.r, "Na-Na": reference.g["Na-Na"]}, runs


FIGURES = ("fig1_distributions", "fig2_force_errors", "fig3_rdf")


def report_outputs(results) -> list[Path]:
    """Every file the report writes under ``results``: the figures and the report."""
    results = Path(results)
    return [*(results / "figures" / f"{name}{suffix}" for name in FIGURES
              for suffix in (".png", ".pdf")), results / "report.json", results / "report.md"]


def build_report(profile: dict, results: Path, overwrite: bool = False) -> dict:
    """Measure everything, draw F1-F3 into ``results/figures`` and write ``report.json`` and
    ``report.md`` into ``results``; returns the report. An existing report or figure is
    replaced only with ``overwrite``."""
    plan, settings = Plan(profile), profile["report"]
    for path in report_outputs(results):
        claim_output(path, overwrite)
    figures = results / "figures"
    figures.mkdir(exist_ok=True)
    with Pool(results / "pool.h5") as pool:
        pool_q = Quantities.of(pool)
        pool_frames = len(pool)
    selected, tails = selection_tails(plan, results, pool_q, settings["tail_percent"])
    errors = force_errors(plan, results)
    reference_rdf, runs = md_runs(plan, results)
    stems = [figures / name for name in FIGURES]
    paths = [*fig1_distributions(pool_q, selected, stems[0]),
             *fig2_force_errors(errors, stems[1]),
             *fig3_rdf(reference_rdf, runs, stems[2])]
    report = {
        "profile": profile["name"],
        "scales": scales(profile, pool_frames, pool_q),
        "claims": {
            "C1": {"claim": CLAIMS["C1"], **claim_c1(tails)},
            "C2": {"claim": CLAIMS["C2"], **claim_c2(errors)},
            "C3": {"claim": CLAIMS["C3"],
                   **claim_c3(runs, settings["artifact_threshold"])},
        },
        "metrics": {
            "tail_shares": tails,
            "force_errors": errors,
            "md": [{k: v for k, v in r.items() if k != "rdf"} for r in runs],
        },
        "figures": [str(p.relative_to(results)) for p in paths],
    }
    with atomic_path(results / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2, default=float) + "\n")
    with atomic_path(results / "report.md") as tmp:
        tmp.write_text(markdown(report))
    return report


def scales(profile: dict, pool_frames: int, pool_q: Quantities) -> dict:
    """What the run was made of, to state beside the seed's scale."""
    md, sel = profile["md"], profile["select"]
    return {
        "ions_per_frame": int(8 * profile["system"]["repeat"] ** 3),
        "state_points": len(profile["sample"]["states"]),
        "pool_frames": pool_frames,
        "selection_sizes": sel["n"],
        "seeds": len(sel["seeds"]),
        "training_frames": profile["reproduce"]["train_n"],
        "nn_sizes": list(profile["train"]["nn"]["sizes"]),
        "gpr_sizes": list(profile["train"]["gpr"]["sizes"]),
        "md": {"temperature_K": md["temperature"], "time_ps": md["time_ps"],
               "ions": int(8 * profile["system"]["repeat"] ** 3)},
    }


PAPER_SCALE = ("The seed's scale: 1000 ions, 512 (NN) / 128 (GPR) training configurations, "
               "several NN sizes, NVT MD at 1400 K for up to 1000 ps.")


def _mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return f"{values.mean():.4g}"
    return f"{values.mean():.4g} ± {values.std(ddof=1):.2g}"


def markdown(report: dict) -> str:
    """The report as Markdown, figures linked relative to the report."""
    sc = report["scales"]
    lines = [
        f"# Reproduction report: profile `{report['profile']}`",
        "",
        f"Ran at {sc['ions_per_frame']} ions per frame, {sc['state_points']} state points, "
        f"{sc['pool_frames']} pool frames; selections of {sc['selection_sizes']} frames over "
        f"{sc['seeds']} seed(s); models trained on {sc['training_frames']} frames; NN sizes "
        f"{sc['nn_sizes']}, GPR {sc['gpr_sizes']}; MD at {sc['md']['temperature_K']} K for "
        f"{sc['md']['time_ps']} ps of {sc['md']['ions']} ions. {PAPER_SCALE}",
        "",
        "## Claims",
        "",
        "| | claim | verdict |",
        "|---|---|---|",
    ]
    for key, claim in report["claims"].items():
        lines.append(f"| {key} | {claim['claim']} | **{claim['verdict']}** |")
    lines += ["", "Verdict rules: a difference counts when it exceeds twice its standard error "
              "over seeds; with one seed nothing is significant and claims are inconclusive.", ""]
    for key, claim in report["claims"].items():
        lines.append(f"- {key}: {claim['rule']}.")
    tails = report["metrics"]["tail_shares"]
    lines += ["", "## F1: distributions", "", "![F1](figures/fig1_distributions.png)", "",
              "Share of selected atoms beyond the pool's 1st/99th percentiles (per species), "
              "mean ± standard deviation over seeds (random selection: about 0.02):", "",
              "| method | atomic energies | force magnitudes |", "|---|---|---|"]
    for method in tails["atomic_energies"]:
        lines.append(f"| {method} | {_mean_std(tails['atomic_energies'][method])} | "
                     f"{_mean_std(tails['force_norms'][method])} |")
    lines += ["", "## F2: test force errors", "", "![F2](figures/fig2_force_errors.png)", "",
              "Test-set force errors in eV/A, mean ± standard deviation over seeds:", "",
              "| model | size | method | Max | RMSE | MAE |", "|---|---|---|---|---|---|"]
    errors = report["metrics"]["force_errors"]
    for family, size, method in sorted({(e["family"], e["size"], e["method"]) for e in errors}):
        rows = [e for e in errors if (e["family"], e["size"], e["method"]) == (family, size,
                                                                              method)]
        lines.append(f"| {family} | {size} | {method} | "
                     + " | ".join(_mean_std([e[k] for e in rows]) for k in ("max", "rmse", "mae"))
                     + " |")
    lines += ["", "## F3: Na-Na g(r) in model-driven MD", "", "![F3](figures/fig3_rdf.png)", "",
              f"Artifact: integral of g_NaNa below the reference's first rise (A); a run is "
              f"non-physical above {report['claims']['C3']['threshold']} A or when the "
              "stability guard stopped it.", "",
              "| run | stable | artifact (A) | integrated abs. difference (A) | "
              "first-peak r error (A) |", "|---|---|---|---|---|"]
    for run in report["metrics"]["md"]:
        stable = "yes" if run["stable"] else f"no: {run['reason']} at {run['stopped_ps']:.2f} ps"
        lines.append(f"| {run['run']} | {stable} | {run['artifact']:.4f} | {run['iae']:.3f} | "
                     f"{run['peak_r_error']:+.3f} |")
    return "\n".join(lines) + "\n"
