"""F1 distributions, F2 test force errors, F3 Na-Na g(r): one function per figure.

Each writes ``<stem>.png`` and ``<stem>.pdf`` and returns the paths. Colours are fixed per
selection method across figures.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

METHOD_STYLE = {
    "random": {"color": "#7f7f7f", "label": "random"},
    "energy": {"color": "#1f77b4", "label": "uniform in global energy"},
    "forces": {"color": "#2ca02c", "label": "uniform in |f_i|"},
    "atomic-energies": {"color": "#d62728", "label": "uniform in atomic energies"},
}


def _style(method: str) -> dict:
    return METHOD_STYLE.get(method, {"color": None, "label": method})


def _save(fig, stem: Path) -> list[Path]:
    stem = Path(stem)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


def fig1_distributions(pool, selections: dict, stem) -> list[Path]:
    """Histograms of the global energy per atom, the atomic energies and |f_i|: the pool
    (grey) and each method's selections pooled over seeds, as densities on a log scale."""
    panels = [("energy_per_atom", "global energy per atom $E/N$ (eV/atom)"),
              ("atomic_energies", "atomic energy $E_i$ (eV)"),
              ("force_norms", r"force magnitude $|\mathbf{f}_i|$ (eV/$\mathrm{\AA}$)")]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, (key, xlabel) in zip(axes, panels, strict=True):
        values = getattr(pool, key)
        bins = np.linspace(values.min(), values.max(), 41 if key == "energy_per_atom" else 81)
        ax.hist(values, bins=bins, density=True, color="0.85", label="pool")
        for method, q in selections.items():
            style = _style(method)
            ax.hist(getattr(q, key), bins=bins, density=True, histtype="step", lw=1.6,
                    color=style["color"], label=style["label"])
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("probability density")
    axes[0].legend(fontsize=8, loc="lower center")
    fig.suptitle("F1  Distributions in the pool and in the selected training sets")
    fig.tight_layout()
    return _save(fig, stem)


def fig2_force_errors(errors: list[dict], stem) -> list[Path]:
    """Max, RMSE and MAE of test force errors against model size (parameters for NN, sparse
    points for GPR), one line per method, mean and standard deviation over seeds."""
    families = sorted({e["family"] for e in errors})
    metrics = [("max", "Max"), ("rmse", "RMSE"), ("mae", "MAE")]
    fig, axes = plt.subplots(len(families), 3, figsize=(15, 4 * len(families)), squeeze=False)
    for row, family in enumerate(families):
        rows = [e for e in errors if e["family"] == family]
        for col, (key, title) in enumerate(metrics):
            ax = axes[row, col]
            for method in [m for m in METHOD_STYLE if any(e["method"] == m for e in rows)]:
                sizes = sorted({e["size_value"] for e in rows if e["method"] == method})
                values = [[e[key] for e in rows if e["method"] == method and e["size_value"] == s]
                          for s in sizes]
                mean = [np.mean(v) for v in values]
                std = [np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values]
                style = _style(method)
                ax.errorbar(sizes, mean, yerr=std, marker="o", capsize=3, color=style["color"],
                            label=style["label"])
            ax.set_xscale("log")
            ax.set_xlabel(rows[0]["size_label"])
            ax.set_ylabel(rf"{title} force error (eV/$\mathrm{{\AA}}$)")
            ax.set_title(f"{family.upper()}: {title}")
        axes[row, 0].legend(fontsize=8)
    fig.suptitle("F2  Test-set force errors by selection method and model size "
                 "(error bars: standard deviation over seeds)")
    fig.tight_layout()
    return _save(fig, stem)


def fig3_rdf(reference, runs: list[dict], stem, zoom=(1.5, 3.5)) -> list[Path]:
    """Na-Na g(r): the BMHTF reference against MD driven by models trained on global-energy
    and atomic-energy selections, one panel per model family, with a zoom on the short range.
    ``reference`` and each run's ``rdf`` are tables with columns ``r`` and ``Na-Na``."""
    families = sorted({r["family"] for r in runs})
    fig, axes = plt.subplots(1, max(1, len(families)), figsize=(7 * max(1, len(families)), 4.8),
                             squeeze=False)
    for ax, family in zip(axes[0], families, strict=False):
        ax.plot(reference["r"], reference["Na-Na"], color="k", lw=2.2, label="BMHTF reference")
        inset = ax.inset_axes([0.5, 0.45, 0.46, 0.5])
        for run in (r for r in runs if r["family"] == family):
            style = _style(run["method"])
            label = f"{style['label']} (seed {run['seed']})"
            if not run["stable"]:
                label += f", stopped at {run['stopped_ps']:.1f} ps"
            ls = "-" if run["stable"] else ":"
            for target in (ax, inset):
                target.plot(run["rdf"]["r"], run["rdf"]["Na-Na"], ls=ls, color=style["color"],
                            lw=1.3, label=label if target is ax else None)
        inset.plot(reference["r"], reference["Na-Na"], color="k", lw=2.2)
        inset.set_xlim(*zoom)
        short = (reference["r"] >= zoom[0]) & (reference["r"] <= zoom[1])
        top = max([1e-3] + [float(np.max(r["rdf"]["Na-Na"][(r["rdf"]["r"] >= zoom[0]) &
                                                             (r["rdf"]["r"] <= zoom[1])]))
                            for r in runs if r["family"] == family]
                  + [float(reference["Na-Na"][short].max())])
        inset.set_ylim(0, 1.1 * top)
        inset.set_title(r"short range", fontsize=8)
        inset.tick_params(labelsize=7)
        ax.set_xlabel(r"$r$ ($\mathrm{\AA}$)")
        ax.set_ylabel(r"$g_\mathrm{NaNa}(r)$")
        ax.set_title(f"{family.upper()}-driven MD")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("F3  Na-Na radial distribution function in NVT MD")
    fig.tight_layout()
    return _save(fig, stem)
