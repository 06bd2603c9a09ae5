"""The papers' reported numbers that the reports print beside the measured ones (docs/papers.md)."""

from __future__ import annotations

# Stutz et al., CVPR 2019, FONTS: on-manifold attack success rate vs N, read off the authors' plot (docs/papers.md §1).
ON_MANIFOLD_SUCCESS_FONTS: dict[str, dict[int, float]] = {
    "normal": {500: 0.95, 2500: 0.74, 10000: 0.50, 20000: 0.44},
    "adversarial": {500: 0.89, 2500: 0.71, 10000: 0.50, 20000: 0.44},
    "on_learned_manifold": {500: 0.93, 2500: 0.65, 10000: 0.39, 20000: 0.32},
    "stn": {500: 0.85, 2500: 0.59, 10000: 0.40, 20000: 0.33},
    "adversarial_transformation": {500: 0.80, 2500: 0.37, 10000: 0.22, 20000: 0.16},
    "on_true_manifold": {500: 0.78, 2500: 0.34, 10000: 0.22, 20000: 0.17},
}


def paper_on_manifold_success(dataset: str, objective: str, train_size: int) -> float | None:
    """The paper's on-manifold success rate for (objective, N) on FONTS, None where it reports none."""
    if dataset != "fonts":
        return None
    return ON_MANIFOLD_SUCCESS_FONTS.get(objective, {}).get(train_size)
