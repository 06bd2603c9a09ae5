"""PNG figures of the experiments (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from pyadvman.analysis.uncertainty import Estimate
from pyadvman.experiments.study import VARIANT_LABELS, model_estimate, size_estimates


def save(fig: Figure, path: Path) -> Path:
    """Writes ``fig`` to ``path`` (110 dpi, tight layout, the folder created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def color(objective: str) -> str:
    """One colour per training objective in every figure (matplotlib's cycle, in VARIANT_LABELS' order)."""
    order = list(VARIANT_LABELS)
    return f"C{order.index(objective) % 10}" if objective in order else "C9"


def _error_bars(estimates: list[Estimate]) -> np.ndarray:
    """matplotlib's yerr (distances below and above each value) of 95% intervals; 0 where not measured."""
    below = [e.value - e.low for e in estimates]
    above = [e.high - e.value for e in estimates]
    return np.nan_to_num(np.asarray([below, above], dtype=float)).clip(min=0.0)


def metric_vs_size(ax, records: list[dict], metric: str, ylabel: str, objectives: list[str] | None = None,
                   paper: dict[str, dict[int, float]] | None = None) -> None:
    """Lines of ``metric`` (a name of ``study.metric``; the mean over seeds) against N per training variant,
    with 95% error bars (``study.size_estimates``); the paper's values dashed in the same colour where given."""
    for objective in dict.fromkeys(r["objective"] for r in records):
        if objectives is not None and objective not in objectives:
            continue
        estimates = size_estimates(records, objective, metric)
        sizes = list(estimates)
        ax.errorbar(sizes, [estimates[n].value for n in sizes], yerr=_error_bars(list(estimates.values())),
                    fmt="o-", capsize=3, color=color(objective), label=VARIANT_LABELS.get(objective, objective))
        if paper and objective in paper:
            ref = sorted(paper[objective].items())
            ax.plot([n for n, _ in ref], [v for _, v in ref], "x--", color=color(objective), alpha=0.6,
                    label=f"{VARIANT_LABELS.get(objective, objective)} (paper)")
    ax.set_xscale("log")
    ax.set_xlabel("training examples N")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def grid_figure(records: list[dict], panels: list[tuple[str, str]], path: Path, title: str,
                paper: dict[str, dict[str, dict[int, float]]] | None = None,
                objectives: list[str] | None = None) -> Path:
    """One panel per (metric, label) of ``metric_vs_size``; ``paper`` maps a metric to its paper curves."""
    fig = Figure(figsize=(4.6 * len(panels), 3.8))
    for i, (name, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        metric_vs_size(ax, records, name, label, objectives, (paper or {}).get(name))
    fig.suptitle(title, fontsize=10)
    return save(fig, path)


def correlation_figure(records: list[dict], fit: dict | None, path: Path, title: str) -> Path:
    """On-manifold success rate against test error for every model, each with its 95% intervals on both
    axes, and the least-squares line with Pearson r and its interval."""
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot(1, 1, 1)
    for objective in dict.fromkeys(r["objective"] for r in records):
        rows = [r for r in records if r["objective"] == objective]
        errors = [model_estimate(r, "test_error") for r in rows]
        success = [model_estimate(r, "on_manifold.success_rate") for r in rows]
        ax.errorbar([e.value for e in errors], [e.value for e in success], xerr=_error_bars(errors),
                    yerr=_error_bars(success), fmt="o", capsize=2, color=color(objective),
                    label=VARIANT_LABELS.get(objective, objective))
    if fit is not None:
        xs = np.linspace(min(r["test_error"] for r in records), max(r["test_error"] for r in records), 10)
        interval = fit.get("pearson_interval", {})
        ax.plot(xs, fit["slope"] * xs + fit["intercept"], "k--",
                label=f"fit: r = {fit['pearson_r']:.3f} [{interval.get('low', np.nan):.2f}, "
                      f"{interval.get('high', np.nan):.2f}], slope {fit['slope']:.3f}")
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
        for v, name, color in zip(values, ("regular (L∞ PGD)", "on-manifold"), ("C3", "C0")):
            if v.size:
                ax.hist(v, bins=bins, alpha=0.6, color=color,
                        label=f"{name}: median {np.median(v):.3f}")
        ax.set_xlabel(label)
        ax.set_ylabel("adversarial examples")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save(fig, path)
