"""Summary statistics of the experiments: medians, and the linear fit of on-manifold success rate against test
error (Stutz et al., CVPR 2019, Fig. 5; docs/papers.md §1)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LinearFit:
    """y ≈ slope·x + intercept by least squares over n points; pearson_r in [-1, 1] (NaN if either is constant)."""

    slope: float
    intercept: float
    pearson_r: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def linear_fit(x: list[float] | np.ndarray, y: list[float] | np.ndarray) -> LinearFit:
    """Least-squares line and Pearson correlation of paired values (e.g. test error x, on-manifold success y).

    Raises:
        ValueError: x and y of different lengths, fewer than 2 finite pairs, or x constant (no slope).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d of the same length, got shapes {x.shape} and {y.shape}")
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if x.size < 2 or np.ptp(x) == 0:
        raise ValueError(f"linear_fit needs at least 2 finite pairs with distinct x, got {x.size} pairs "
                         f"with x = {x.tolist()}")
    slope, intercept = np.polyfit(x, y, 1)
    r = float(np.corrcoef(x, y)[0, 1]) if np.ptp(y) > 0 else math.nan
    return LinearFit(slope=float(slope), intercept=float(intercept), pearson_r=r, n=int(x.size))


@dataclass(frozen=True)
class WithinGroupCorrelation:
    """Pearson r of x and y after each group's mean is removed from both (the partial correlation given the group
    as a categorical covariate) over n points in ``groups`` groups of at least two points; NaN when a centred
    variable is constant."""

    r: float
    n: int
    groups: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def within_group_correlation(x, y, groups) -> WithinGroupCorrelation:
    """The association of x and y within groups (e.g. on-manifold success rate and test error within each
    training-set size N, so that N driving both does not make a correlation): each group's mean subtracted from
    its x and y, then Pearson r of the residuals. Groups with one point (nothing to centre on) and non-finite
    pairs are left out. It equals the partial correlation of x and y given the group dummies (Fisher, 1924); its
    Fisher interval has n − 3 − (groups − 1) degrees of freedom (``uncertainty.pearson_interval``).

    Raises:
        ValueError: inputs of different lengths.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    labels = np.asarray(groups)
    if not x.shape == y.shape == labels.shape or x.ndim != 1:
        raise ValueError(f"x, y and groups must be 1-d of one length, got shapes {x.shape}, {y.shape}, {labels.shape}")
    finite = np.isfinite(x) & np.isfinite(y)
    x, y, labels = x[finite], y[finite], labels[finite]
    kept, dx, dy = 0, [], []
    for label in dict.fromkeys(labels.tolist()):
        rows = labels == label
        if rows.sum() >= 2:
            kept += 1
            dx.append(x[rows] - x[rows].mean())
            dy.append(y[rows] - y[rows].mean())
    if not kept:
        return WithinGroupCorrelation(math.nan, 0, 0)
    dx, dy = np.concatenate(dx), np.concatenate(dy)
    scale = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return WithinGroupCorrelation(float(dx @ dy) / scale if scale > 0 else math.nan, int(dx.size), kept)


def median(values) -> float:
    """Median of a sequence or tensor of numbers; NaN when empty."""
    array = np.asarray([float(v) for v in values], dtype=np.float64)
    return float(np.median(array)) if array.size else math.nan
