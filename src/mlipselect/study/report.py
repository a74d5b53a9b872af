"""The reproduction's report: figures F1-F3, claims C1-C3, report.json and report.md.

Takes the files the workflow made (``Inputs``) and learns what each one is from the file
itself: selections carry their method, size and seed, metrics the model and the selection it
was trained on, MD statuses the potential that drove them. Nothing here parses a path.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlipselect.analysis.coverage import bandwidth, coverage
from mlipselect.analysis.distributions import Quantities, species_tail_share
from mlipselect.analysis.labels import agreement
from mlipselect.analysis.rdf import compare_with_reference, read_rdf_csv
from mlipselect.config import Profile
from mlipselect.descriptors import pool_descriptors
from mlipselect.errors import InputError
from mlipselect.io import atomic_path, claim_output
from mlipselect.md.run import Status
from mlipselect.models.registry import in_report_order
from mlipselect.pool.frames_io import iread_frames
from mlipselect.pool.store import Pool
from mlipselect.provenance import recorded
from mlipselect.study.claims import (
    claim_c1,
    claim_c2,
    claim_c3,
    effect_text,
    physics_vs_structure,
    uncertainty_vs_others,
)
from mlipselect.study.figures import (
    fig1_distributions,
    fig2_force_errors,
    fig3_rdf,
    fig4_labels,
    fig5_uncertainty,
)
from mlipselect.study.plan import (
    FIGURES,
    LABELS_FIGURE,
    UNCERTAINTY_FIGURE,
    Layout,
    Plan,
    selection_name,
)
from mlipselect.study.statistics import events_needed

CLAIMS = {
    "C1": "Uniform selection in atomic energies (and forces) samples the low-probability tails "
          "more than random or global-energy selection.",
    "C2": "Models trained on force or atomic-energy selections have lower Max and RMSE test "
          "force errors than models trained on random or global-energy selections.",
    "C3": "MD driven by global-energy-selected models shows non-physical short-range peaks in "
          "g_NaNa(r); atomic-energy-selected models match the BMHTF reference.",
}
QUESTIONS = {
    "Q1": "Do the physics-based selections (forces, atomic energies) beat the structure-based "
          "ones (farthest points, CUR, strata in SOAP space) on Max force error and on MD "
          "stability?",
    "Q2": "At an equal labelling budget, do selections by a model's uncertainty (a committee's "
          "force spread, a GPR's predicted variance, batch active learning) give lower force "
          "errors and longer-lived MD than physics-based (forces, atomic energies) and "
          "structure-based (farthest points) ones?",
}


@dataclass
class Inputs:
    """The files a report reads: the pool, the selections, the models' test metrics, and the
    MD runs as pairs of a status (``mlipselect md``'s JSON) and its g(r) CSV, the reference
    among them; and the selections relabelled by another labeller, where one did."""

    pool: Path
    selections: list[Path]
    metrics: dict[str, list[Path]]
    md: list[tuple[Path, Path]]
    labelled: list[Path] = field(default_factory=list)

    @property
    def main_test_set(self) -> str:
        """The test set F2 and C2 use: ``independent`` where there is one."""
        return "independent" if "independent" in self.metrics else next(iter(self.metrics))


def _json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: cannot read ({err})") from None


def _selection(path, record: dict) -> dict:
    """``{"method", "n", "seed"}`` of the selection a file came from."""
    if not {"method", "n", "seed"} <= set(record):
        raise InputError(f"{path}: does not record the selection it was made from (made by "
                         "an older mlipselect? rerun the workflow to remake it)")
    return {k: record[k] for k in ("method", "n", "seed")}


def selection_tails(paths, n: int, pool_q: Quantities, percent: float):
    """Per method: the quantities of its selections of ``n`` frames pooled over seeds, the
    per-seed tail shares of atomic energies and |f_i| (species-wise pool percentiles), and
    the per-seed pool rows."""
    pooled: dict[str, list] = defaultdict(list)
    rows: dict[str, list] = defaultdict(list)
    tails: dict[str, dict[str, list]] = {"atomic_energies": defaultdict(list),
                                         "force_norms": defaultdict(list)}
    for path in paths:
        frames = list(iread_frames(path))
        sel = _selection(path, recorded(frames))
        if sel["n"] != n:
            continue
        q = Quantities.of(frames)
        pooled[sel["method"]].append(q)
        rows[sel["method"]].append([int(a.info["pool_index"]) for a in frames])
        for key in tails:
            tails[key][sel["method"]].append(species_tail_share(
                getattr(q, key), q.numbers, getattr(pool_q, key), pool_q.numbers, percent))
    merged = {m: Quantities(*(np.concatenate([getattr(q, f) for q in qs]) for f in
                              ("energy_per_atom", "atomic_energies", "force_norms", "numbers")))
              for m, qs in pooled.items()}
    return merged, {k: dict(v) for k, v in tails.items()}, dict(rows)


def projection(x: np.ndarray, rows: dict[str, list]) -> dict:
    """The pool and each method's selections (pooled over seeds) on the first two principal
    components of the pool's descriptors."""
    centred = x - x.mean(axis=0)
    step = max(1, len(x) // 5000)
    _, _, vt = np.linalg.svd(centred[::step], full_matrices=False)
    plane = centred @ vt[:2].T
    return {"pool": plane, "selections": {m: plane[np.concatenate(seeds)]
                                          for m, seeds in rows.items()}}


def descriptor_coverage(x: np.ndarray, rows: dict[str, list]) -> dict:
    """Per method and seed, how its selection covers the pool in descriptor space
    (:func:`~mlipselect.analysis.coverage.coverage`, one bandwidth for all)."""
    h = bandwidth(x)
    per_method = {}
    for method, seeds in rows.items():
        found = [coverage(x, chosen, h) for chosen in seeds]
        per_method[method] = {key: [f[key] for f in found] for key in found[0]}
    return {"bandwidth": h, "methods": per_method}


def force_errors(metrics: dict[str, list]) -> list[dict]:
    """One record per trained model and test set: test set, family, size (name, value and
    axis label), method, n, seed of its training selection, and the test force errors max,
    rmse, mae (eV/A), and on the atoms in the pool's tails ``tails_rmse``, ``tails_max``."""
    records = []
    for test_set, paths in metrics.items():
        for path in paths:
            metrics_ = _json(path)
            model = metrics_["model"]
            tails = metrics_.get("tails", {}).get("forces", {})
            records.append({
                "test_set": test_set, "family": model["family"], "size": model["size"],
                "size_value": model["size_value"], "size_label": model["size_label"],
                **_selection(path, model.get("train", {}).get("selection", {})),
                **{k: metrics_["forces"][k] for k in ("max", "rmse", "mae")},
                "tails_rmse": tails.get("rmse"), "tails_max": tails.get("max"),
            })
    return records


def md_runs(pairs):
    """The reference g(r), and per model-driven MD: family, size, method, seed, its g(r),
    the comparison with the reference (``analysis.rdf.compare_with_reference``) and the
    guard's status."""
    loaded = [(path, Status.read(path), read_rdf_csv(rdf)) for path, rdf in pairs]
    references = [rdf for _, status, rdf in loaded
                  if status.potential.get("family") == "reference"]
    if len(references) != 1:
        raise InputError(f"the MD runs hold {len(references)} reference runs; expected one")
    reference = references[0]
    runs = []
    for path, status, rdf in loaded:
        potential = status.potential
        if potential.get("family") == "reference":
            continue
        sel = _selection(path, potential.get("train", {}).get("selection", {}))
        runs.append({
            "run": f"{potential['family']}-{potential['size']}/"
                   f"{selection_name(sel['method'], sel['n'], sel['seed'])}/{Path(path).stem}",
            "model": f"{potential['family']}-{potential['size']}",
            "family": potential["family"], "size": potential["size"], **sel,
            "velocity_seed": status.settings.seed, "time_ps": status.settings.time_ps,
            "rdf": {"r": rdf.r, "Na-Na": rdf.g["Na-Na"]},
            "stable": status.stable, "stopped_ps": status.time_ps,
            "reason": status.reason, **compare_with_reference(rdf, reference, "Na-Na"),
        })
    return {"r": reference.r, "Na-Na": reference.g["Na-Na"]}, runs


def build_report(profile: Profile, inputs: Inputs, results, overwrite: bool = False) -> dict:
    """Measure everything, draw F1-F3 into ``results/figures`` and write ``report.json`` and
    ``report.md`` into ``results``; returns the report. An existing report or figure is
    replaced only with ``overwrite``."""
    settings, results = profile.report, Path(results)
    figures = results / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    learned = bool(Plan(profile).learned)
    for path in Layout(str(results), relabelled=bool(inputs.labelled),
                       learned=learned).report_outputs:
        claim_output(Path(path), overwrite)
    with Pool(inputs.pool) as pool:
        pool_q = Quantities.of(pool)
        pool_frames = len(pool)
        descriptors = np.asarray(pool_descriptors(pool))
    # C1 examines the selections the verdict's family trains on
    train_n = profile.reproduce.train_n
    headline_n = train_n[in_report_order(train_n)[0]]
    selected, tails, rows = selection_tails(
        inputs.selections, headline_n, pool_q,
        settings.tail_percent)
    covered = descriptor_coverage(descriptors, rows)
    errors = force_errors(inputs.metrics)
    main = [e for e in errors if e["test_set"] == inputs.main_test_set]
    extrapolation = [e for e in errors if e["test_set"] == "extrapolation"]
    reference_rdf, runs = md_runs(inputs.md)
    margins, threshold = settings.margins, settings.artifact_threshold
    claims = {
        "C1": {"claim": CLAIMS["C1"], **claim_c1(tails, margins["tail_share"])},
        "C2": {"claim": CLAIMS["C2"], **claim_c2(errors, margins)},
        "C3": {"claim": CLAIMS["C3"], **claim_c3(runs, threshold, margins["hazard_ratio"])},
    }
    claims["C3"]["power"] = md_power(claims["C3"]["comparisons"], settings.target_hazard_ratio)
    stems = [figures / name for name in FIGURES]
    paths = [*fig1_distributions(pool_q, selected, stems[0], projection(descriptors, rows),
                                 settings.tail_percent),
             *fig2_force_errors(main, extrapolation, stems[1]),
             *fig3_rdf(reference_rdf, runs, claims["C3"]["comparisons"],
                       profile.md.temperature, stems[2])]
    labels: dict = {"note": labels_note(profile)}
    if inputs.labelled:
        labels.update(labeller=profile.label.calculator,
                      **labeller_agreement(inputs.pool, inputs.selections, inputs.labelled))
        paths += fig4_labels(labels.pop("points"), labels["labeller"], figures / LABELS_FIGURE,
                             labels["energy_within_state"])
    asked = questions(errors, runs, threshold, margins, {
        method: models["family"] for method, models in profile.active.models.items()})
    if "Q2" in asked:
        asked["Q2"]["power"] = md_power(asked["Q2"]["comparisons"],
                                        settings.target_hazard_ratio, key=part_name)
    if learned:
        paths += fig5_uncertainty(main, runs, asked.get("Q2", {"scorers": {}, "baselines": []}),
                                  figures / UNCERTAINTY_FIGURE)
    report = {
        "profile": profile.name,
        "scales": scales(profile, pool_frames, pool_q),
        "labels": labels,
        "margins": margins,
        "claims": claims,
        "questions": asked,
        "metrics": {
            "tail_shares": tails,
            "coverage": covered,
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


def md_power(parts: list[dict], target: float, key=lambda part: part["model"]) -> dict:
    """Per guard-stop comparison of ``parts`` (named by ``key``: C3's by MD model): the events
    it saw, the events a hazard ratio of ``target`` needs (Schoenfeld), and whether the
    comparison's own detectable hazard ratio reached the target."""
    out = {}
    for part in parts:
        if part.get("endpoint") != "guard stop":
            continue
        detectable, why = part["detectable"], None
        if detectable is None:
            why = ("an arm's runs come from one trained model" if min(part["n"]) < 2
                   else "an arm had no event" if min(part["events"]) == 0
                   else "the Cox fit found no finite estimate")
        out[key(part)] = {"events": sum(part["events"]), "target": target,
                          "events_needed": events_needed(target),
                          "detectable": detectable, "untestable": why,
                          "reached": detectable is not None and detectable <= target}
    return out


def questions(errors: list[dict], runs: list[dict], threshold: float, margins: dict,
              scorers: dict[str, str]) -> dict:
    """The questions beyond the seed's claims that this run can answer."""
    found = {"Q1": physics_vs_structure(errors, runs, threshold, margins),
             "Q2": uncertainty_vs_others(errors, runs, scorers, margins)}
    return {key: {"question": QUESTIONS[key], **q} for key, q in found.items() if q is not None}


def labels_note(profile: Profile) -> str:
    """Where the training and test labels came from."""
    label = profile.label
    if label.calculator == "reference":
        return ("Training and test labels are the pool's own BMHTF energies and forces, "
                "computed once while sampling (not recomputed).")
    settings = ", ".join(f"{k} {v}" for k, v in label.settings.items())
    return (f"The frames were sampled and selected with BMHTF, then the selections and every "
            f"test set were relabelled by single points of {label.calculator}"
            + (f" ({settings})" if settings else "") + "; the models train and are tested on "
            "those labels. The g(r) reference of F3 is BMHTF's: no MD was driven by the "
            "labeller, so F3 shows stability, and structure only against BMHTF.")


def labeller_agreement(pool_path, selections, labelled) -> dict:
    """How BMHTF, which selected the frames, and the labeller label the same frames
    (:func:`~mlipselect.analysis.labels.agreement` over every distinct relabelled pool
    frame), and which selected frames the labeller failed on."""
    chosen: set[int] = set()
    relabelled: dict = {}
    for path in selections:
        chosen.update(int(a.info["pool_index"]) for a in iread_frames(path, require=()))
    for path in labelled:
        for atoms in iread_frames(path, require=("energy", "forces")):
            relabelled[int(atoms.info["pool_index"])] = atoms
    rows = sorted(relabelled)
    with Pool(pool_path) as pool:
        selector = list(pool.frames(rows))
    found = agreement(selector, [relabelled[i] for i in rows])
    return {**found, "failed_pool_indices": sorted(chosen - set(relabelled))}


def scales(profile: Profile, pool_frames: int, pool_q: Quantities) -> dict:
    """What the run was made of, to state beside the seed's scale."""
    sel, ions = profile.select, profile.system.ions
    return {
        "ions_per_frame": ions,
        "state_points": len(profile.sample.states),
        "pool_frames": pool_frames,
        "selection_sizes": list(sel.n),
        "seeds": len(sel.seeds),
        "training_frames": profile.reproduce.train_n,
        "model_sizes": {family: list(profile.train[family]["sizes"])
                        for family in in_report_order(profile.reproduce.train_n)},
        "md": {"temperature_K": profile.md.temperature, "ions": ions,
               "models": {model: vars(settings)
                          for model, settings in Plan(profile).md_settings.items()}},
    }


PAPER_SCALE = ("The seed's scale: 1000 ions, 512 (NN) / 128 (GPR) training configurations, "
               "several NN sizes, NVT MD at 1400 K for up to 1000 ps.")


def _mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return f"{values.mean():.4g}"
    return f"{values.mean():.4g} ± {values.std(ddof=1):.2g}"


def part_name(part: dict) -> str:
    """What one part of a claim compares, in words."""
    where = part.get("model") or part.get("family", "").upper()
    what = (f"{part['test_set']}: {part['metric']}" if "metric" in part
            else part.get("endpoint") or part["quantity"].replace("_", " ") + " tail share")
    return " ".join(x for x in (where, what) if x) + f", {part['method']} vs {part['versus']}"


def _p(value) -> str:
    return "–" if value is None else f"{value:.2g}"


def _n(part: dict) -> str:
    n = part["n"]
    return f"{'+'.join(map(str, n)) if isinstance(n, list) else n} {part['unit']}s"


def _detectable(part: dict) -> str:
    d = part["detectable"]
    if d is None:
        return "–"
    return f"±{d:.2g}" if part.get("difference") else f"{d:.2g}x"


def parts_summary(claim: dict) -> str:
    """How many parts of a claim came out each way."""
    return ", ".join(f"{count} {outcome}" for outcome, count in claim["parts"].items() if count)


def _claim_lines(key: str, claim: dict) -> list[str]:
    """A claim's parts as a table a reader can check."""
    lines = [f"### {key}: {claim['verdict']} ({parts_summary(claim) or 'no parts'})", "",
             f"Rule: {claim['rule']}.", ""]
    if not claim["comparisons"]:
        return [*lines, "Not tested: this run holds no pair of methods to compare.", ""]
    lines += ["| part | effect [95% CI] | n | p | p (Holm) | TOST p (Holm) | detectable "
              "(80%) | outcome |", "|---|---|---|---|---|---|---|---|"]
    for c in claim["comparisons"]:
        extra = (f" ({c['events'][0]}/{c['runs'][0]} vs {c['events'][1]}/{c['runs'][1]} runs "
                 "stopped)" if "events" in c else "")
        lines.append(f"| {part_name(c)}{extra} | {effect_text(c)} | {_n(c)} | "
                     f"{_p(c['p_value'])} | {_p(c['p_adjusted'])} | "
                     f"{_p(c['p_equivalent_adjusted'])} | {_detectable(c)} | "
                     f"{c['outcome']} |")
    return [*lines, ""]


def claims_table(report: dict) -> str:
    """The claims as a Markdown table for the README: each claim's verdict, how its parts
    came out, and the parts that hold or do not hold with their effects."""
    lines = ["| | claim | verdict | parts | parts that hold | parts that do not hold |",
             "|---|---|---|---|---|---|"]
    entries = {**report["claims"], **report["questions"]}
    for key, claim in entries.items():
        def listed(outcomes, claim=claim):
            found = [f"{part_name(c)}: {effect_text(c)}" for c in claim["comparisons"]
                     if c["outcome"] in outcomes]
            return "; ".join(found).replace("|", "\\|") or "none"

        text = claim.get("claim") or claim["question"]
        lines.append(f"| {key} | {text} | **{claim['verdict']}** | {parts_summary(claim)} | "
                     f"{listed(('holds',))} | {listed(('opposite', 'equivalent'))} |")
    return "\n".join(lines) + "\n"


def _labels_lines(labels: dict) -> list[str]:
    """Where a labeller relabelled the frames: how its labels relate to BMHTF's."""
    if "labeller" not in labels:
        return []
    failed = labels["failed_pool_indices"]
    lines = [f"## The selector against the labeller: BMHTF and {labels['labeller']}", "",
             f"![labels](figures/{LABELS_FIGURE}.png)", "",
             f"The seed's method assumes that BMHTF, which selects, ranks configurations as "
             f"the labeller would. On the {labels['frames']} distinct selected frames "
             f"({labels['force_norms']['count']} atoms):", "",
             "| quantity | Pearson r | Spearman rank ρ |", "|---|---|---|"]
    rows = [("energy per atom (per frame)", labels["energy_per_atom"]),
            ("force magnitude \\|f_i\\| (per atom)", labels["force_norms"]),
            *((f"E_i of {species} (per atom)", c)
              for species, c in labels["atomic_energies"].items())]
    if labels.get("energy_within_state"):
        rows.insert(1, ("energy per atom within a state point (frame-weighted mean over "
                        f"{len(labels['energy_within_state']['states'])} state points)",
                        labels["energy_within_state"]))
    lines += [f"| {name} | {c['pearson']:.3f} | {c['spearman']:.3f} |" for name, c in rows]
    lines += ["", f"The forces differ by {labels['force_difference']:.0%} of the labeller's "
              "RMS force component (RMS of the difference).",
              f"The labeller failed on {len(failed)} selected frame(s)"
              + (f" (pool indices {', '.join(map(str, failed))}), left out of training." if failed
                 else "."), ""]
    return lines


def markdown(report: dict) -> str:
    """The report as Markdown, figures linked relative to the report."""
    sections = (_header_lines, _claims_lines, _f1_lines, _f2_lines, _f3_lines)
    return "\n".join(line for section in sections for line in section(report)) + "\n"


def _header_lines(report: dict) -> list[str]:
    """What the run was made of, and where its labels came from."""
    sc = report["scales"]
    return [
        f"# Reproduction report: profile `{report['profile']}`",
        "",
        f"Ran at {sc['ions_per_frame']} ions per frame, {sc['state_points']} state points, "
        f"{sc['pool_frames']} pool frames; selections of {sc['selection_sizes']} frames over "
        f"{sc['seeds']} seed(s); models trained on "
        + ", ".join(f"{n} ({family.upper()})" for family, n in sc["training_frames"].items())
        + " frames; sizes "
        + ", ".join(f"{family.upper()} {', '.join(sizes)}"
                    for family, sizes in sc["model_sizes"].items())
        + f"; MD at {sc['md']['temperature_K']} K of {sc['md']['ions']} ions, each run from "
        "its own frame with fresh Maxwell-Boltzmann momenta: "
        + "; ".join(f"{model} models of {len(md['seeds'])} selection seeds per method, "
                    f"{md['runs']} run(s) each, up to {md['time_ps']:g} ps"
                    for model, md in sc["md"]["models"].items())
        + f". {PAPER_SCALE}",
        "",
        report["labels"]["note"],
        "",
        *_labels_lines(report["labels"]),
    ]


def _claims_lines(report: dict) -> list[str]:
    """The verdicts, how they are reached, and every part of every claim and question."""
    lines = ["## Claims", "", "| | claim | verdict | parts |", "|---|---|---|---|"]
    for key, claim in report["claims"].items():
        lines.append(f"| {key} | {claim['claim']} | **{claim['verdict']}** | "
                     f"{parts_summary(claim)} |")
    margins = report["margins"]
    lines += ["", "How the verdicts are reached: a claim is split into the parts it asserts "
              "(C2: each metric x comparison x test set x model family; C3: each endpoint of "
              "each MD model). The unit of replication is what was drawn independently: the "
              "selection seed for errors and tail shares (force errors paired by seed, since "
              "methods share the training seed at a seed, each seed's value the mean log error "
              "over the model sizes), the trained model for MD (a Cox model with the model as "
              "cluster). A part *holds* when significant in the claimed direction (95%, "
              "Holm-adjusted within its group), is *opposite* when significant the other way, "
              "*equivalent* when an equivalence test (TOST, Holm-adjusted) puts it within the "
              "margin, *untested* without a spread or, in MD, without an event in an arm, "
              "else *inconclusive*; opposite and equivalent parts do not hold. A claim holds "
              "when every part holds, holds in part when some do. Margins (ratios within "
              "1/(1+m) .. 1+m): " + ", ".join(f"{k.replace('_', ' ')} {v:g}"
                                              for k, v in margins.items())
              + ". The RMSE margin is the seed's scale of a difference worth reporting; Max "
              "errors and tail shares vary several times more from seed to seed, and their "
              "margins are the ones three seeds can reach (each part's 'detectable' column is "
              "the smallest ratio it finds with 80% power; a TOST p below 0.05 needs the "
              "spread that makes it small).", ""]
    for key, claim in report["claims"].items():
        lines += _claim_lines(key, claim)
    lines += _power_lines("C3", report["claims"]["C3"]["power"])
    if report["questions"]:
        lines += ["## Beyond the seed's claims", ""]
        for key, question in report["questions"].items():
            lines += [f"{key}: {question['question']} {_ran(question)}", ""]
            lines += _claim_lines(key, question)
            lines += _power_lines(key, question.get("power", {}))
    return lines


def _ran(question: dict) -> str:
    """Which methods a question compared."""
    if "structure_methods" in question:
        return f"Structure-based methods that ran: {', '.join(question['structure_methods'])}."
    scored = ", ".join(f"{m} (scored by {f.upper()} models)"
                       for m, f in question["scorers"].items())
    return (f"Uncertainty methods that ran: {scored}; against {', '.join(question['baselines'])}"
            f", each at the same number of labelled frames. "
            f"![F5](figures/{UNCERTAINTY_FIGURE}.png)")


def _power_lines(key: str, power: dict) -> list[str]:
    """Each guard-stop comparison's events against those a target hazard ratio needs."""
    lines = []
    for name, p in power.items():
        detectable = (f"no hazard ratio can be tested ({p['untestable']})"
                      if p["detectable"] is None else "the comparison detects a hazard "
                      f"ratio of {p['detectable']:.2g} with 80% power")
        lines += [f"Power of {key} for {name}: {p['events']} guard stops (a hazard ratio of "
                  f"{p['target']:g} needs about {p['events_needed']:.0f}); {detectable}: the "
                  f"target of {p['target']:g} is {'reached' if p['reached'] else 'missed'}.",
                  ""]
    return lines


def _f1_lines(report: dict) -> list[str]:
    """F1, with the tail shares and the descriptor coverage of each method."""
    tails = report["metrics"]["tail_shares"]
    lines = ["## F1: distributions", "", "![F1](figures/fig1_distributions.png)", "",
             "Share of selected atoms beyond the pool's 1st/99th percentiles (per species) "
             "of BMHTF's E_i and |f_i| (the selector's quantities, whoever labels), "
             "mean ± standard deviation over seeds (random selection: about 0.02); and how "
             "the selections cover the pool in SOAP descriptor space: the covering radius "
             "(largest distance from a pool frame to its nearest selected frame), and QUESTS' "
             "dataset entropy at the bandwidth h = "
             f"{report['metrics']['coverage']['bandwidth']:.3g} (nats; log n at most):", "",
             "| method | tail share: atomic energies | tail share: force magnitudes | "
             "covering radius | entropy |", "|---|---|---|---|---|"]
    cover = report["metrics"]["coverage"]["methods"]
    for method in tails["atomic_energies"]:
        lines.append(f"| {method} | {_mean_std(tails['atomic_energies'][method])} | "
                     f"{_mean_std(tails['force_norms'][method])} | "
                     f"{_mean_std(cover[method]['covering_radius'])} | "
                     f"{_mean_std(cover[method]['entropy'])} |")
    return lines


def _f2_lines(report: dict) -> list[str]:
    """F2, with the force errors of every model size and method on each test set."""
    errors = report["metrics"]["force_errors"]
    lines = ["", "## F2: test force errors", "", "![F2](figures/fig2_force_errors.png)", "",
             "Force errors in eV/A against the test frames' labels (the labeller's, where "
             "one relabelled them), mean ± standard deviation over seeds, on each test set: "
             "*in-pool* (pool frames held out of every selection, from the same trajectories), "
             "*independent* (new trajectories at the pool's state points; F2 and C2 use it), "
             "*extrapolation* (state points outside the pool's range). Tails: the test atoms "
             "whose reference E_i or |f_i| lies beyond the pool's 1st/99th percentiles"
             + (" (not computed here: the test labels come from another labeller than the "
                "pool's, so the pool's percentiles do not apply)."
                if all(e["tails_rmse"] is None for e in errors) else "."), ""]
    for test_set in dict.fromkeys(e["test_set"] for e in errors):
        lines += [f"**{test_set}**", "",
                  "| model | size | method | Max | RMSE | MAE | tails RMSE |",
                  "|---|---|---|---|---|---|---|"]
        rows_of = [e for e in errors if e["test_set"] == test_set]
        # sizes in order of their value (parameters, sparse points), not of their names
        for family, _, size, method in sorted({(e["family"], e["size_value"], e["size"],
                                                e["method"]) for e in rows_of}):
            rows = [e for e in rows_of if (e["family"], e["size"], e["method"])
                    == (family, size, method)]
            tails_rmse = [e["tails_rmse"] for e in rows if e["tails_rmse"] is not None]
            lines.append(f"| {family} | {size} | {method} | "
                         + " | ".join(_mean_std([e[k] for e in rows])
                                      for k in ("max", "rmse", "mae"))
                         + f" | {_mean_std(tails_rmse) if tails_rmse else '–'} |")
        lines.append("")
    return lines


def _f3_lines(report: dict) -> list[str]:
    """F3, with each MD model's runs per method and every run's stop and g(r)."""
    lines = ["## F3: Na-Na g(r) and survival in model-driven MD", "",
             "![F3](figures/fig3_rdf.png)", "",
             "Events are guard stops (ions closer than the guard's distance, a temperature "
             "runaway, non-finite numbers); runs that reach their end are censored there. The "
             "g(r) artifact, a second endpoint measured at each run's end: the weight of "
             "g_NaNa below the reference's first rise (A), counted above "
             f"{report['claims']['C3']['threshold']} A.", "",
             "| MD model | method | runs | stopped by the guard | median time to stop (ps) | "
             "runs with an artifact | mean integrated abs. g(r) difference (A) |",
             "|---|---|---|---|---|---|---|"]
    threshold = report["claims"]["C3"]["threshold"]
    md = report["metrics"]["md"]
    for model in dict.fromkeys(r["model"] for r in md):
        for method in dict.fromkeys(r["method"] for r in md if r["model"] == model):
            group = [r for r in md if r["model"] == model and r["method"] == method]
            stops = [r["stopped_ps"] for r in group if not r["stable"]]
            lines.append(f"| {model} | {method} | {len(group)} | {len(stops)} | "
                         f"{np.median(stops) if stops else float('nan'):.2f} | "
                         f"{sum(r['artifact'] > threshold for r in group)} | "
                         f"{np.mean([r['iae'] for r in group]):.3f} |")
    lines += ["", "Every run: its stop (reason and time) and its g(r) against the reference.",
              "", "| run | stopped by the guard | artifact (A) | integrated abs. difference "
              "(A) | first-peak r error (A) |", "|---|---|---|---|---|"]
    for run in md:
        stopped = "–" if run["stable"] else f"{run['reason']} at {run['stopped_ps']:.2f} ps"
        lines.append(f"| {run['run']} | {stopped} | {run['artifact']:.4f} | {run['iae']:.3f} | "
                     f"{run['peak_r_error']:+.3f} |")
    return lines
