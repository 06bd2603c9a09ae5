"""PNG figures of the studies (matplotlib, no display needed): measures against N, the correlation of
on-manifold success and test error, distance histograms; one colour per training objective in every figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from pyadvman.analysis.uncertainty import Estimate
from pyadvman.experiments.estimates import model_estimate, size_estimates
from pyadvman.experiments.records import ON_MANIFOLD_SUCCESS, Measure, ModelRecord, test_error
from pyadvman.experiments.study_config import variant_label
from pyadvman.training import OBJECTIVES


def save(fig: Figure, path: Path) -> Path:
    """Writes ``fig`` to ``path`` (110 dpi, tight layout, the folder created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def color(objective: str) -> str:
    """One colour per training objective in every figure (matplotlib's cycle, in OBJECTIVES' order)."""
    order = list(OBJECTIVES)
    return f"C{order.index(objective) % 10}" if objective in order else "C9"


def _error_bars(estimates: list[Estimate]) -> np.ndarray:
    """matplotlib's yerr (distances below and above each value) of 95% intervals; 0 where not measured."""
    below = [e.value - e.low for e in estimates]
    above = [e.high - e.value for e in estimates]
    return np.nan_to_num(np.asarray([below, above], dtype=float)).clip(min=0.0)


def measure_vs_size(ax, records: list[ModelRecord], measure: Measure, ylabel: str,
                    objectives: list[str] | None = None, paper: dict[str, dict[int, float]] | None = None) -> None:
    """Lines of ``measure`` (the mean over seeds) against N per training variant, with 95% error bars
    (``estimates.size_estimates``); the paper's values dashed in the same colour where given."""
    for objective in dict.fromkeys(r.objective for r in records):
        if objectives is not None and objective not in objectives:
            continue
        estimates = size_estimates(records, objective, measure)
        sizes = list(estimates)
        ax.errorbar(sizes, [estimates[n].value for n in sizes], yerr=_error_bars(list(estimates.values())),
                    fmt="o-", capsize=3, color=color(objective), label=variant_label(objective))
        if paper and objective in paper:
            ref = sorted(paper[objective].items())
            ax.plot([n for n, _ in ref], [v for _, v in ref], "x--", color=color(objective), alpha=0.6,
                    label=f"{variant_label(objective)} (paper)")
    ax.set_xscale("log")
    ax.set_xlabel("training examples N")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def grid_figure(records: list[ModelRecord], panels: list[tuple[Measure, str]], path: Path, title: str,
                paper: dict[str, dict[str, dict[int, float]]] | None = None,
                objectives: list[str] | None = None) -> Path:
    """One panel per (measure, label) of ``measure_vs_size``; ``paper`` maps a panel's label to the paper's
    curves (objective -> {N: value})."""
    fig = Figure(figsize=(4.6 * len(panels), 3.8))
    for i, (measure, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        measure_vs_size(ax, records, measure, label, objectives, (paper or {}).get(label))
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def correlation_figure(records: list[ModelRecord], fit: dict | None, path: Path, title: str) -> Path:
    """On-manifold success rate against test error for every model, each with its 95% intervals on both
    axes, and the least-squares line with Pearson r and its interval."""
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot(1, 1, 1)
    for objective in dict.fromkeys(r.objective for r in records):
        rows = [r for r in records if r.objective == objective]
        errors = [model_estimate(r, test_error) for r in rows]
        success = [model_estimate(r, ON_MANIFOLD_SUCCESS) for r in rows]
        ax.errorbar([e.value for e in errors], [e.value for e in success], xerr=_error_bars(errors),
                    yerr=_error_bars(success), fmt="o", capsize=2, color=color(objective),
                    label=variant_label(objective))
    if fit is not None:
        xs = np.linspace(min(r.test_error for r in records), max(r.test_error for r in records), 10)
        interval = fit.get("pearson_interval")
        bounds = f" [{interval['low']:.2f}, {interval['high']:.2f}]" if interval else ""
        ax.plot(xs, fit["slope"] * xs + fit["intercept"], "k--",
                label=f"fit: r = {fit['pearson_r']:.3f}{bounds}, slope {fit['slope']:.3f}")
    ax.set_xlabel("test error")
    ax.set_ylabel("on-manifold success rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return save(fig, path)


def distance_figure(regular: dict[str, list[float]], on_manifold: dict[str, list[float]],
                    panels: list[tuple[str, str]], path: Path, title: str) -> Path:
    """Histograms of distance measures for regular vs on-manifold adversarial examples, one panel per measure."""
    fig = Figure(figsize=(4.2 * len(panels), 3.4))
    for i, (key, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        values = [np.asarray(regular.get(key, []), float), np.asarray(on_manifold.get(key, []), float)]
        finite = np.concatenate([v[np.isfinite(v)] for v in values])
        bins = np.linspace(finite.min(), finite.max() + 1e-9, 30) if finite.size else 10
        for v, name, color in zip(values, ("regular (PGD)", "on-manifold"), ("C3", "C0")):
            if v.size:
                ax.hist(v, bins=bins, alpha=0.6, color=color,
                        label=f"{name}: median {np.median(v):.3f}")
        ax.set_xlabel(label)
        ax.set_ylabel("adversarial examples")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)
