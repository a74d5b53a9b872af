"""F1 distributions, F2 test force errors, F3 Na-Na g(r), F4 the selector's labels against the
labeller's: one function per figure.

Each writes ``<stem>.png`` and ``<stem>.pdf`` and returns the paths. Colours are fixed per
selection method across figures.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from mlipselect.io import atomic_path  # noqa: E402
from mlipselect.models.registry import in_report_order  # noqa: E402

METHOD_STYLE = {
    "random": {"color": "#7f7f7f", "label": "random"},
    "energy": {"color": "#1f77b4", "label": "uniform in global energy"},
    "forces": {"color": "#2ca02c", "label": "uniform in |f_i|"},
    "atomic-energies": {"color": "#d62728", "label": "uniform in atomic energies"},
    # by structure: dashed
    "fps": {"color": "#9467bd", "label": "farthest points (SOAP)", "ls": "--"},
    "fps-atoms": {"color": "#8c564b", "label": "farthest environments (SOAP)", "ls": "--"},
    "cur": {"color": "#e377c2", "label": "CUR (SOAP)", "ls": "--"},
    "direct": {"color": "#17becf", "label": "DIRECT strata (SOAP)", "ls": "--"},
    # by a model's uncertainty: dash-dotted
    "committee": {"color": "#ff7f0e", "label": "committee force spread", "ls": "-."},
    "gpr-variance": {"color": "#bcbd22", "label": "GPR predicted variance", "ls": "-."},
    "bal": {"color": "#000080", "label": "batch active learning", "ls": "-."},
}


def _style(method: str) -> dict:
    return {"ls": "-", **METHOD_STYLE.get(method, {"color": None, "label": method})}


def _save(fig, stem: Path) -> list[Path]:
    stem = Path(stem)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


def fig1_distributions(pool, selections: dict, stem, projection: dict,
                       percent: float) -> list[Path]:
    """Histograms of the global energy per atom, and of the atomic energies and |f_i| of each
    species: the pool (grey) and each method's selections pooled over seeds, as densities on
    a log scale, with the pool's ``percent`` / ``100 - percent`` percentiles of each species
    (the tails claim C1 counts) as dotted lines; and the pool and the selections on the first
    two principal components of the per-frame SOAP descriptors (``projection``: ``pool``, and
    ``selections`` per method, as (k, 2) arrays)."""
    from ase.data import chemical_symbols

    species = [int(z) for z in np.unique(pool.numbers)]
    panels: list[tuple[str, int | None, str]] = [
        ("energy_per_atom", None, "BMHTF global energy per atom $E/N$ (eV/atom)")]
    for key, label in (("atomic_energies", "BMHTF atomic energy $E_i$ (eV)"),
                       ("force_norms", r"BMHTF force magnitude $|\mathbf{f}_i|$ "
                                       r"(eV/$\mathrm{\AA}$)")):
        panels += [(key, z, f"{chemical_symbols[z]}: {label}") for z in species]
    ncol = (len(panels) + 2) // 2
    fig, axes = plt.subplots(2, ncol, figsize=(5 * ncol, 8.4), squeeze=False)
    axes = axes.ravel()
    for ax, (key, z, xlabel) in zip(axes, panels, strict=False):
        def of(q, key=key, z=z):
            values = getattr(q, key)
            return values if z is None else values[q.numbers == z]

        values = of(pool)
        bins = np.linspace(values.min(), values.max(), 41 if z is None else 81)
        ax.hist(values, bins=bins, density=True, color="0.85", label="pool")
        for method, q in selections.items():
            style = _style(method)
            ax.hist(of(q), bins=bins, density=True, histtype="step", lw=1.6,
                    color=style["color"], ls=style["ls"], label=style["label"])
        if z is not None:
            for cut in np.percentile(values, [percent, 100 - percent]):
                ax.axvline(cut, color="k", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("probability density")
    # one legend, where the energy panel has room: the cuts are drawn in the other panels
    axes[0].plot([], [], color="k", lw=0.8, ls=":",
                 label=f"per species: the pool's {percent:g}% and\n{100 - percent:g}% "
                       "percentiles (C1's tails)")
    axes[0].legend(fontsize=7, loc="lower center")
    ax = axes[len(panels)]
    ax.scatter(*projection["pool"].T, s=3, color="0.8", label="pool", rasterized=True)
    for method, points in projection["selections"].items():
        style = _style(method)
        ax.scatter(*points.T, s=14, marker="o" if style["ls"] == "-" else "^",
                   facecolors="none", edgecolors=style["color"], lw=0.9,
                   label=f"{style['label']} (all seeds)")
    ax.set_xlabel("SOAP descriptors: principal component 1")
    ax.set_ylabel("principal component 2")
    ax.legend(fontsize=7, markerscale=1.2)
    for extra in axes[len(panels) + 1:]:
        extra.axis("off")
    fig.suptitle("F1  Distributions in the pool and in the selected training sets, in the "
                 "selector's (BMHTF's) quantities")
    fig.tight_layout()
    return _save(fig, stem)


def _geometric_interval(values) -> tuple[float, float, float]:
    """Geometric mean of positive ``values`` and its 95% t interval on the log scale (the
    mean itself for a single value)."""
    logs = np.log(np.asarray(values, dtype=float))
    mean = logs.mean()
    if len(logs) < 2:
        return float(np.exp(mean)), float(np.exp(mean)), float(np.exp(mean))
    half = stats.t.ppf(0.975, len(logs) - 1) * logs.std(ddof=1) / np.sqrt(len(logs))
    return float(np.exp(mean)), float(np.exp(mean - half)), float(np.exp(mean + half))


def _by_size(ax, rows: list[dict], key: str) -> None:
    """Per model size (in order of size, not joined: sizes differ in cutoff and basis) and
    method: each selection seed's model as a small point, the geometric mean over seeds as a
    large one with its 95% interval on the log scale."""
    methods = [m for m in METHOD_STYLE if any(e["method"] == m for e in rows)]
    sizes = sorted({(e["size_value"], e["size"]) for e in rows})
    width = 0.8 / max(1, len(methods))
    for k, method in enumerate(methods):
        style = _style(method)
        for i, (value, _) in enumerate(sizes):
            seeds = [e[key] for e in rows if e["method"] == method and e["size_value"] == value]
            if not seeds:
                continue
            _seed_points(ax, i + (k - (len(methods) - 1) / 2) * width, seeds, style,
                         style["label"] if i == 0 else None)
    _log_errors(ax)
    ax.set_xticks(range(len(sizes)), labels=[f"{name}\n({value:,})" for value, name in sizes],
                  fontsize=8)
    ax.set_xlabel(rows[0]["size_label"])


def _seed_points(ax, x: float, seeds: list[float], style: dict, label: str | None) -> None:
    """Each seed's value as a small point at ``x``, their geometric mean as a square with
    its 95% interval."""
    mean, low, high = _geometric_interval(seeds)
    ax.scatter([x] * len(seeds), seeds, s=10, color=style["color"], alpha=0.45, lw=0)
    ax.errorbar([x], [mean], yerr=[[mean - low], [high - mean]], fmt="s", ms=5, capsize=3,
                color=style["color"], label=label)


def _log_errors(ax) -> None:
    """A log scale for errors, which span less than a decade: the minor ticks labelled too,
    as plain numbers."""
    ax.set_yscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:.3g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=7)


def fig2_force_errors(errors: list[dict], extrapolation: list[dict], stem) -> list[Path]:
    """Max, RMSE and MAE of test force errors by model size (parameters for NN, sparse points
    for GPR) and method, and the Max and RMSE on the extrapolation set where there is one:
    every selection seed's model as a point, the geometric mean over seeds with its 95%
    interval (log scale: errors are positive and spread in proportion)."""
    families = in_report_order({e["family"] for e in errors})
    panels = [("max", "Max", errors), ("rmse", "RMSE", errors), ("mae", "MAE", errors)]
    if extrapolation:
        panels += [("max", "Max, extrapolation set", extrapolation),
                   ("rmse", "RMSE, extrapolation set", extrapolation)]
    fig, axes = plt.subplots(len(families), len(panels), figsize=(4.6 * len(panels),
                                                                  4.2 * len(families)),
                             squeeze=False)
    for row, family in enumerate(families):
        for col, (key, title, records) in enumerate(panels):
            ax = axes[row, col]
            _by_size(ax, [e for e in records if e["family"] == family], key)
            ax.set_ylabel(rf"{title.split(',')[0]} force error (eV/$\mathrm{{\AA}}$)")
            ax.set_title(f"{family.upper()}: {title}")
        axes[row, 0].legend(fontsize=7)
    test_set = errors[0]["test_set"] if errors and "test_set" in errors[0] else "test"
    fig.suptitle(f"F2  Force errors by selection method and model size on the {test_set} test "
                 "set (and the extrapolation set): small points, one model per selection "
                 "seed; squares, geometric mean with its 95% interval")
    fig.tight_layout()
    return _save(fig, stem)


def _survival(ax, groups: dict[str, list[dict]], horizon: float, comparison: dict | None):
    """Kaplan-Meier curves of the time to a guard stop per method, with 95% intervals,
    censoring marks and the runs at risk below; the hazard ratio of the comparison on it."""
    from lifelines import KaplanMeierFitter
    from lifelines.plotting import add_at_risk_counts

    fitters, legend = [], {}
    for method, group in groups.items():
        style = _style(method)
        fitter = KaplanMeierFitter(label=method)  # names its row of runs at risk
        fitter.fit([r["stopped_ps"] for r in group], [not r["stable"] for r in group])
        fitter.plot_survival_function(ax=ax, ci_show=True, show_censors=True,
                                      color=style["color"], ls=style["ls"],
                                      censor_styles={"ms": 6, "marker": "|"})
        fitters.append(fitter)
        legend[method] = (f"{style['label']}: {sum(not r['stable'] for r in group)}/"
                          f"{len(group)} stopped")
    handles, names = ax.get_legend_handles_labels()
    shown = [(h, legend[n]) for h, n in zip(handles, names, strict=True) if n in legend]
    ax.plot([], [], "k|", ms=6, label="censored: ran to its end")
    ax.fill_between([], [], color="0.7", label="95% interval")
    extra, extra_names = ax.get_legend_handles_labels()
    ax.legend([*(h for h, _ in shown), *extra[-2:]], [*(n for _, n in shown),
                                                       *extra_names[-2:]],
              fontsize=7, loc="lower left")
    ax.set_xlim(0, horizon)
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlabel("simulated time (ps)")
    ax.set_ylabel("share of runs not stopped by the guard")
    if comparison is not None:
        if comparison["effect"] is None:
            said = "untestable (an arm has no stop)"
        elif comparison["ci"] is None:
            said = f"{comparison['effect']:.2g}, untested (one trained model in an arm)"
        else:
            said = (f"{comparison['effect']:.2g} [{comparison['ci'][0]:.2g}, "
                    f"{comparison['ci'][1]:.2g}], p = {comparison['p_value']:.2g}")
        text = f"{comparison['method']} vs {comparison['versus']}: hazard ratio {said}"
        ax.text(0.98, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=7,
                bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    add_at_risk_counts(*fitters, ax=ax, rows_to_show=["At risk"], fontsize=6)


def fig3_rdf(reference, runs: list[dict], comparisons: list[dict], temperature: float,
             stem) -> list[Path]:
    """Per MD model (a column, NN first): Na-Na g(r) of the BMHTF reference against MD
    driven by models of each selection method, the full range on top and the short range
    below (where non-physical peaks show; any weight left of the reference's first rise), and
    at the bottom the survival to a guard stop (Kaplan-Meier with 95% intervals, censoring
    marks and runs at risk) with the hazard ratio of ``comparisons`` (C3's guard-stop parts).
    Thin lines: single runs, dotted where the guard stopped them; thick: the method's mean."""
    models = sorted({r["model"] for r in runs},
                    key=lambda m: (in_report_order({r["family"] for r in runs}).index(
                        m.split("-")[0]), m))
    ncol = max(1, len(models))
    fig, axes = plt.subplots(3, ncol, figsize=(6.2 * ncol, 13), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2, 2.6]})
    rise = reference["r"][np.argmax(reference["Na-Na"] > 0.01)]
    zoom = (0.8, rise + 0.6)  # from below any collapsed pair the guard lets through
    for col, model in enumerate(models):
        full, short = axes[0, col], axes[1, col]
        for ax in (full, short):
            ax.plot(reference["r"], reference["Na-Na"], color="k", lw=2.2, zorder=5,
                    label="BMHTF reference")
        mine = [r for r in runs if r["model"] == model]
        groups = {m: [r for r in mine if r["method"] == m]
                  for m in METHOD_STYLE if any(r["method"] == m for r in mine)}
        for method, group in groups.items():
            style = _style(method)
            for run in group:
                for ax in (full, short):
                    ax.plot(run["rdf"]["r"], run["rdf"]["Na-Na"],
                            ls="-" if run["stable"] else ":", color=style["color"], lw=0.6,
                            alpha=0.35)
            mean = np.mean([run["rdf"]["Na-Na"] for run in group], axis=0)
            for ax in (full, short):
                ax.plot(group[0]["rdf"]["r"], mean, color=style["color"], lw=1.8,
                        ls=style["ls"], label=f"{style['label']}: mean of {len(group)} runs")
        full.plot([], [], color="0.4", lw=0.6, label="single run (dotted: stopped by the guard)")
        full.set_title(f"MD driven by {model}")
        full.set_ylabel(r"$g_\mathrm{NaNa}(r)$")
        full.legend(fontsize=7, loc="upper left")
        window = [r["rdf"]["Na-Na"][(r["rdf"]["r"] >= zoom[0]) & (r["rdf"]["r"] <= zoom[1])]
                  for r in mine]
        top = max([0.05] + [float(w.max()) for w in window if w.size])
        short.set_xlim(*zoom)
        short.set_ylim(-0.02 * top, 1.1 * top)
        short.axvline(rise, color="0.5", lw=0.8, ls="--")
        short.text(rise, 1.05 * top, " reference's first rise", fontsize=7, va="top")
        short.set_title("short range: any weight left of the dashed line is non-physical",
                        fontsize=9)
        short.set_xlabel(r"$r$ ($\mathrm{\AA}$)")
        short.set_ylabel(r"$g_\mathrm{NaNa}(r)$")
        comparison = next((c for c in comparisons if c["model"] == model
                           and c["endpoint"] == "guard stop"), None)
        _survival(axes[2, col], groups, max(r["time_ps"] for r in mine), comparison)
    fig.suptitle("F3  Na-Na radial distribution function and survival to a guard stop in NVT "
                 f"MD at {temperature:g} K")
    fig.tight_layout(rect=(0, 0, 1, 0.98))  # the title above the columns' own
    return _save(fig, stem)


def fig5_uncertainty(errors: list[dict], runs: list[dict], question: dict, stem) -> list[Path]:
    """Q2: per family whose models scored an uncertainty method (a column), the Max and RMSE
    test force errors against the labelled frames for the uncertainty methods, their
    baselines and random (for context): each selection seed's value the geometric mean over
    model sizes, as Q2 tests it; squares, the geometric mean over seeds with its 95%
    interval. Below, the survival to a guard stop of that family's first MD model."""
    scorers = question["scorers"]
    families = in_report_order(set(scorers.values()))
    fig, axes = plt.subplots(3, len(families), figsize=(6.2 * len(families), 13),
                             squeeze=False, gridspec_kw={"height_ratios": [2.4, 2.4, 2.6]})
    for col, family in enumerate(families):
        context = ["random"] if any(e["method"] == "random" for e in errors) else []
        methods = [*context, *question["baselines"], *(m for m in scorers if scorers[m] == family)]
        rows = [e for e in errors if e["family"] == family and e["method"] in methods]
        budgets = sorted({e["n"] for e in rows})
        for row, (key, name) in enumerate((("max", "Max"), ("rmse", "RMSE"))):
            ax = axes[row, col]
            for k, method in enumerate(methods):
                style = _style(method)
                for i, n in enumerate(budgets):
                    by_seed: dict[int, list[float]] = {}
                    for e in rows:
                        if e["method"] == method and e["n"] == n:
                            by_seed.setdefault(e["seed"], []).append(np.log(e[key]))
                    seeds = [float(np.exp(np.mean(v))) for v in by_seed.values()]
                    if not seeds:
                        continue
                    _seed_points(ax, i + (k - (len(methods) - 1) / 2) * 0.8 / len(methods),
                                 seeds, style, style["label"] if i == 0 else None)
            _log_errors(ax)
            ax.set_xticks(range(len(budgets)), labels=[f"{n} labelled frames" for n in budgets])
            ax.set_ylabel(rf"{name} force error (eV/$\mathrm{{\AA}}$)")
            test_set = rows[0]["test_set"] if rows else "test"
            ax.set_title(f"{family.upper()} models: {name} on the {test_set} test set, "
                         "geometric mean over sizes", fontsize=9)
            ax.legend(fontsize=7)
        own = [m for m in scorers if scorers[m] == family]
        mine = [r for r in runs if r["family"] == family and r["method"] in methods]
        ax = axes[2, col]
        if not any(r["method"] in own for r in mine):
            ax.text(0.5, 0.5, f"{' and '.join(own)} selections drove no MD of "
                    f"{family.upper()} models here", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
            continue
        model = sorted({r["model"] for r in mine})[0]
        groups = {m: [r for r in mine if r["model"] == model and r["method"] == m]
                  for m in methods if any(r["model"] == model and r["method"] == m
                                          for r in mine)}
        ax.set_title(f"MD driven by {model}: survival to a guard stop", fontsize=9)
        _survival(ax, groups, max(r["time_ps"] for r in mine), None)
    fig.suptitle("F5  Q2: selections by a model's uncertainty against physics- and "
                 "structure-based ones at the same number of labelled frames")
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    return _save(fig, stem)


def fig4_labels(points: dict, labeller: str, stem, within_state: dict | None = None
                ) -> list[Path]:
    """BMHTF's labels of the selected frames against ``labeller``'s: energy per atom, |f_i|,
    and atomic energies per species, each panel with its rank correlation (the energy's also
    within state points, ``within_state``, where separate state points cannot inflate it).
    Energies are shown relative to their means (the two methods' zeros differ)."""
    fig, axes = plt.subplots(1, len(points), figsize=(3.6 * len(points), 3.4))
    titles = {"energy_per_atom": "energy per atom (eV)", "force_norms": "|f_i| (eV/A)"}
    for ax, (key, (x, y)) in zip(np.atleast_1d(axes), points.items(), strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if key != "force_norms":
            x, y = x - x.mean(), y - y.mean()
        ax.scatter(x, y, s=4, alpha=0.3, color="#1f77b4", rasterized=True)
        low, high = min(x.min(), y.min()), max(x.max(), y.max())
        ax.plot([low, high], [low, high], color="k", lw=0.8, ls=":", label="y = x")
        rho = stats.spearmanr(x, y).statistic
        title = titles.get(key) or f"E_i of {key.rsplit('_', 1)[1]} (eV)"
        if key != "force_norms":
            title = title.replace(" (eV)", " minus its mean (eV)")
        within = (f"; within a state point {within_state['spearman']:.2f}"
                  if key == "energy_per_atom" and within_state else "")
        ax.set_title(f"{title}\nSpearman ρ = {rho:.2f}{within}", fontsize=9)
        ax.set_xlabel("BMHTF (selector)")
        ax.set_ylabel(f"{labeller} (labeller)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.suptitle(f"F4  The same selected frames labelled by the selector (BMHTF) and by the "
                 f"labeller ({labeller})", fontsize=10)
    fig.tight_layout()
    return _save(fig, stem)


def fig_scaling(series: dict, stem) -> list[Path]:
    """Cost against size on log-log axes, one panel per kind of size, each series labelled
    with its growth order k (time ~ size**k) fitted from its ``fit_min`` size up."""
    kinds = sorted({s["x_label"] for s in series.values()})
    fig, axes = plt.subplots(1, len(kinds), figsize=(6.5 * len(kinds), 4.5), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        for name, s in series.items():
            if s["x_label"] != kind:
                continue
            x, t = np.asarray(s["x"], dtype=float), np.asarray(s["t"], dtype=float)
            fit = x >= s.get("fit_min", 0)
            above = f" from {s['fit_min']:.0e}" if "fit_min" in s else ""
            line, = ax.loglog(x, t, "o-", label=f"{name}: k = {s['order']:.2f}{above}")
            coeffs = np.polyfit(np.log(x[fit]), np.log(t[fit]), 1)
            ax.loglog(x[fit], np.exp(np.polyval(coeffs, np.log(x[fit]))), ls=":",
                      color=line.get_color())
        ax.set_xlabel(kind)
        ax.set_ylabel("seconds")
        ax.legend(fontsize=8)
    fig.suptitle("Cost against size on this machine (dotted: fitted power law)")
    fig.tight_layout()
    return _save(fig, stem)


FAMILY_STYLE = {"ours": ("#1f77b4", "our GPR"), "gap": ("#ff7f0e", "GAP (gap_fit)")}


def fig_fronts(points: list[dict], fronts: dict[str, list[dict]], stem, label) -> list[Path]:
    """Force RMSE against energy + forces time per 216-ion frame for every point of each
    family's sweep (small), its front (line, each point labelled by ``label(point)``) and
    GAP's front at a tenth of its cost (dotted): where our front should lie below."""
    fig, ax = plt.subplots(figsize=(9, 6))
    for family, (colour, name) in FAMILY_STYLE.items():
        mine = [p for p in points if p["family"] == family]
        ax.scatter([p["step_s"] * 1000 for p in mine], [p["rmse"] for p in mine], s=12,
                   color=colour, alpha=0.35, label=f"{name}: all {len(mine)} fits")
        line = fronts[family]
        x, y = [p["step_s"] * 1000 for p in line], [p["rmse"] for p in line]
        ax.step(x, y, where="post", color=colour, lw=1.5, marker="o",
                label=f"{name}: best accuracy for its cost")
        for p, xi, yi in zip(line, x, y, strict=True):
            ax.annotate(label(p), (xi, yi), fontsize=6, color=colour, xytext=(4, 1),
                        textcoords="offset points")
        if family == "gap":
            ax.step([xi / 10 for xi in x], y, where="post", color=colour, lw=0.8, ls=":",
                    label="GAP's front at a tenth of its cost")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 3, 5)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    for formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
        formatter(matplotlib.ticker.FormatStrFormatter("%.2f"))
    ax.set_xlabel("energy + forces per 216-ion frame, one thread (ms, one MD step)")
    ax.set_ylabel(r"force RMSE on an independent 1300 K melt (eV/$\mathrm{\AA}$)")
    ax.legend(fontsize=8)
    fig.suptitle("Sparse GPR on SOAP: our fit against GAP's, both swept alike\n"
                 "(labels: SOAP cutoff A / radial functions / l_max, sparse points m; "
                 "settings changed from the sweep's base)", fontsize=10)
    fig.tight_layout()
    return _save(fig, stem)
