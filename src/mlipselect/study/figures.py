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
from mlipselect.models.base import in_report_order  # noqa: E402
from mlipselect.study.claims import non_physical  # noqa: E402
from mlipselect.study.statistics import kaplan_meier  # noqa: E402

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


def fig1_distributions(pool, selections: dict, stem, projection: dict) -> list[Path]:
    """Histograms of the global energy per atom, the atomic energies and |f_i|: the pool
    (grey) and each method's selections pooled over seeds, as densities on a log scale; and
    the pool and the selections on the first two principal components of the per-frame SOAP
    descriptors (``projection``: ``pool``, and ``selections`` per method, as (k, 2) arrays)."""
    panels = [("energy_per_atom", "global energy per atom $E/N$ (eV/atom)"),
              ("atomic_energies", "atomic energy $E_i$ (eV)"),
              ("force_norms", r"force magnitude $|\mathbf{f}_i|$ (eV/$\mathrm{\AA}$)")]
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))
    for ax, (key, xlabel) in zip(axes, panels, strict=False):
        values = getattr(pool, key)
        bins = np.linspace(values.min(), values.max(), 41 if key == "energy_per_atom" else 81)
        ax.hist(values, bins=bins, density=True, color="0.85", label="pool")
        for method, q in selections.items():
            style = _style(method)
            ax.hist(getattr(q, key), bins=bins, density=True, histtype="step", lw=1.6,
                    color=style["color"], ls=style["ls"], label=style["label"])
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("probability density")
    ax = axes[3]
    ax.scatter(*projection["pool"].T, s=3, color="0.8", label="pool", rasterized=True)
    for method, points in projection["selections"].items():
        style = _style(method)
        ax.scatter(*points.T, s=14, marker="o" if style["ls"] == "-" else "^",
                   facecolors="none", edgecolors=style["color"], lw=0.9, label=style["label"])
    ax.set_xlabel("SOAP descriptors: principal component 1")
    ax.set_ylabel("principal component 2")
    axes[0].legend(fontsize=8, loc="lower center")
    fig.suptitle("F1  Distributions in the pool and in the selected training sets")
    fig.tight_layout()
    return _save(fig, stem)


def _ci95(values) -> float:
    """Half-width of the 95% t interval of the mean of ``values`` (0 for a single value)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return 0.0
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def _by_size(ax, rows: list[dict], key: str) -> None:
    """One line per method: mean of ``key`` against model size, 95% intervals over seeds."""
    methods = [m for m in METHOD_STYLE if any(e["method"] == m for e in rows)]
    for k, method in enumerate(methods):
        sizes = sorted({e["size_value"] for e in rows if e["method"] == method})
        values = [[e[key] for e in rows if e["method"] == method and e["size_value"] == s]
                  for s in sizes]
        style = _style(method)
        dodge = 1 + 0.04 * (k - (len(methods) - 1) / 2)  # keep error bars apart
        ax.errorbar(np.array(sizes) * dodge, [np.mean(v) for v in values],
                    yerr=[_ci95(v) for v in values], marker="o", capsize=3,
                    color=style["color"], ls=style["ls"], label=style["label"])
    ax.set_xscale("log")
    ticks = sorted({e["size_value"] for e in rows})
    names = {e["size_value"]: e["size"] for e in rows}
    # sizes can lie close on the axis (24x3 and 32x2): slanted labels keep them apart
    ax.set_xticks(ticks, labels=[f"{names[t]} ({t:,})" for t in ticks], rotation=30,
                  ha="right")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(rows[0]["size_label"])


def fig2_force_errors(errors: list[dict], extrapolation: list[dict], stem) -> list[Path]:
    """Max, RMSE and MAE of test force errors against model size (parameters for NN, sparse
    points for GPR), one line per method, mean and 95% interval over seeds; a fourth column
    with the RMSE on the extrapolation test set where there is one."""
    families = in_report_order({e["family"] for e in errors})
    panels = [("max", "Max", errors), ("rmse", "RMSE", errors), ("mae", "MAE", errors)]
    if extrapolation:
        panels.append(("rmse", "RMSE, extrapolation set", extrapolation))
    fig, axes = plt.subplots(len(families), len(panels), figsize=(5 * len(panels),
                                                                  4 * len(families)),
                             squeeze=False)
    for row, family in enumerate(families):
        for col, (key, title, records) in enumerate(panels):
            ax = axes[row, col]
            _by_size(ax, [e for e in records if e["family"] == family], key)
            ax.set_ylabel(rf"{title.split(',')[0]} force error (eV/$\mathrm{{\AA}}$)")
            ax.set_title(f"{family.upper()}: {title}")
        axes[row, 0].legend(fontsize=8)
    test_set = errors[0]["test_set"] if errors and "test_set" in errors[0] else "test"
    fig.suptitle(f"F2  Force errors on the {test_set} test set by selection method and model "
                 "size (error bars: 95% interval over seeds)")
    fig.tight_layout()
    return _save(fig, stem)


def fig3_rdf(reference, runs: list[dict], threshold: float, temperature: float,
             stem) -> list[Path]:
    """Na-Na g(r): the BMHTF reference against MD driven by models trained on global-energy
    and atomic-energy selections; one column per model family (NN first, as in the seed),
    the full range on top, the short range below, where non-physical peaks show, and at the
    bottom the share of runs still physical against time (Kaplan-Meier; a run stops being
    physical when the guard stops it or, at its end, when its short-range artifact exceeds
    ``threshold``). ``reference`` and each run's ``rdf`` map ``r`` and ``Na-Na`` to arrays;
    runs the stability guard stopped are dotted."""
    families = in_report_order({r["family"] for r in runs})
    ncol = max(1, len(families))
    fig, axes = plt.subplots(3, ncol, figsize=(7 * ncol, 11), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2, 2]})
    rise = reference["r"][np.argmax(reference["Na-Na"] > 0.01)]
    zoom = (0.8, rise + 0.6)  # from below any collapsed pair the guard lets through
    for col, family in enumerate(families):
        full, short = axes[0, col], axes[1, col]
        for ax in (full, short):
            ax.plot(reference["r"], reference["Na-Na"], color="k", lw=2.2,
                    label="BMHTF reference")
        mine = [r for r in runs if r["family"] == family]
        for method in dict.fromkeys(r["method"] for r in mine):
            group = [r for r in mine if r["method"] == method]
            style = _style(method)
            stopped = sum(not r["stable"] for r in group)
            label = f"{style['label']} ({len(group)} runs, {stopped} stopped by the guard)"
            for k, run in enumerate(group):
                for ax in (full, short):
                    ax.plot(run["rdf"]["r"], run["rdf"]["Na-Na"],
                            ls="-" if run["stable"] else ":", color=style["color"], lw=1.0,
                            alpha=0.7, label=label if k == 0 else None)
            times, events = zip(*(non_physical(r, threshold) for r in group), strict=True)
            t, alive = kaplan_meier(times, events, max(r["time_ps"] for r in group))
            axes[2, col].step(t, alive, where="post", color=style["color"], lw=1.8,
                              ls=style["ls"],
                              label=f"{style['label']}: {sum(events)}/{len(group)} "
                                    "non-physical")
        full.set_title(f"{family.upper()}-driven MD")
        full.set_ylabel(r"$g_\mathrm{NaNa}(r)$")
        full.legend(fontsize=7, loc="lower right")
        window = [r["rdf"]["Na-Na"][(r["rdf"]["r"] >= zoom[0]) & (r["rdf"]["r"] <= zoom[1])]
                  for r in runs if r["family"] == family]
        top = max([0.05] + [float(w.max()) for w in window if w.size])
        short.set_xlim(*zoom)
        short.set_ylim(-0.02 * top, 1.1 * top)
        short.axvline(rise, color="0.5", lw=0.8, ls="--")
        short.text(rise, 1.05 * top, " reference's first rise", fontsize=7, va="top")
        short.set_title("short range: any weight left of the dashed line is non-physical",
                        fontsize=9)
        short.set_xlabel(r"$r$ ($\mathrm{\AA}$)")
        short.set_ylabel(r"$g_\mathrm{NaNa}(r)$")
        survival = axes[2, col]
        survival.set_ylim(-0.03, 1.05)
        survival.set_xlabel("simulated time (ps)")
        survival.set_ylabel("share of runs still physical")
        survival.set_title("survival: guard stops, and artifacts counted at the run's end",
                           fontsize=9)
        survival.legend(fontsize=7, loc="lower left")
    fig.suptitle("F3  Na-Na radial distribution function and stability in NVT MD at "
                 f"{temperature:g} K")
    fig.tight_layout()
    return _save(fig, stem)


def fig4_labels(points: dict, labeller: str, stem) -> list[Path]:
    """BMHTF's labels of the selected frames against ``labeller``'s: energy per atom, |f_i|,
    and atomic energies per species, each panel with its rank correlation. Energies are shown
    relative to their means (the two methods' zeros differ)."""
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
        ax.set_title(f"{title}\nSpearman ρ = {rho:.2f}", fontsize=9)
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


def fig_accuracy_cost(points: list[dict], stem) -> list[Path]:
    """GPR force RMSE against energy + forces time per frame, one line per SOAP basis
    through its sparse-point counts (labelled), the Pareto front dashed."""
    fig, ax = plt.subplots(figsize=(8, 5.5))
    bases = dict.fromkeys((p["cutoff"], p["max_radial"], p["max_angular"]) for p in points)
    for cutoff, n, lmax in bases:
        line = sorted((p for p in points if (p["cutoff"], p["max_radial"], p["max_angular"])
                       == (cutoff, n, lmax)), key=lambda p: p["sparse_points"])
        x, y = [p["step_s"] * 1000 for p in line], [p["rmse"] for p in line]
        drawn, = ax.plot(x, y, "o-", label=f"cutoff {cutoff} A, n_max {n}, l_max {lmax}")
        for p, xi, yi in zip(line, x, y, strict=True):
            ax.annotate(str(p["sparse_points"]), (xi, yi), fontsize=7, xytext=(3, 3),
                        textcoords="offset points", color=drawn.get_color())
    front, best = [], float("inf")
    for p in sorted(points, key=lambda p: p["step_s"]):
        if p["rmse"] < best:
            front.append(p)
            best = p["rmse"]
    ax.plot([p["step_s"] * 1000 for p in front], [p["rmse"] for p in front], "k--", lw=0.8,
            label="best accuracy for its cost")
    ax.set_xscale("log")
    ax.set_xlabel("energy + forces per 216-ion frame (ms, one MD step)")
    ax.set_ylabel(r"force RMSE on an independent 1300 K melt (eV/$\mathrm{\AA}$)")
    ax.legend(fontsize=8)
    fig.suptitle("GPR: accuracy against cost by SOAP basis (labels: sparse points)")
    fig.tight_layout()
    return _save(fig, stem)
