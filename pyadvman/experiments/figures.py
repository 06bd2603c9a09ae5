"""PNG figures of the experiments (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from pyadvman.experiments.study import VARIANT_LABELS, records_by_size


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _by_variant(records: list[dict], metric: str) -> dict[str, tuple[list[int], list[float], list[float], list[float]]]:
    """Per objective: sizes, and the mean, min and max of ``metric`` over seeds at each size."""
    out = {}
    for objective in dict.fromkeys(r["objective"] for r in records):
        groups = records_by_size(records, objective)
        sizes = list(groups)
        arrays = [np.asarray([r[metric] for r in groups[n]], dtype=float) for n in sizes]
        out[objective] = (sizes, [float(a.mean()) for a in arrays], [float(a.min()) for a in arrays],
                          [float(a.max()) for a in arrays])
    return out


def metric_vs_size(ax, records: list[dict], metric: str, ylabel: str, objectives: list[str] | None = None,
                   paper: dict[str, dict[int, float]] | None = None) -> None:
    """Lines of ``metric`` (mean over seeds, band min–max) against N per training variant; the paper's values
    dashed in the same colour where given."""
    for i, (objective, (sizes, mean, low, high)) in enumerate(_by_variant(records, metric).items()):
        if objectives is not None and objective not in objectives:
            continue
        color = f"C{i}"
        ax.plot(sizes, mean, "o-", color=color, label=VARIANT_LABELS.get(objective, objective))
        ax.fill_between(sizes, low, high, color=color, alpha=0.2)
        if paper and objective in paper:
            ref = sorted(paper[objective].items())
            ax.plot([n for n, _ in ref], [v for _, v in ref], "x--", color=color, alpha=0.6,
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
    for i, (metric, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        metric_vs_size(ax, records, metric, label, objectives, (paper or {}).get(metric))
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def correlation_figure(records: list[dict], fit: dict | None, path: Path, title: str) -> Path:
    """On-manifold success rate against test error for every model, with the least-squares line."""
    fig = Figure(figsize=(5, 4))
    ax = fig.add_subplot(1, 1, 1)
    objectives = sorted({r["objective"] for r in records})
    for i, objective in enumerate(objectives):
        rows = [r for r in records if r["objective"] == objective]
        ax.scatter([r["test_error"] for r in rows], [r["on_manifold_success_rate"] for r in rows], color=f"C{i}",
                   label=VARIANT_LABELS.get(objective, objective))
    if fit is not None:
        xs = np.linspace(min(r["test_error"] for r in records), max(r["test_error"] for r in records), 10)
        ax.plot(xs, fit["slope"] * xs + fit["intercept"], "k--",
                label=f"fit: r = {fit['pearson_r']:.3f}, slope {fit['slope']:.3f}")
    ax.set_xlabel("test error")
    ax.set_ylabel("on-manifold success rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


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
    return _save(fig, path)
