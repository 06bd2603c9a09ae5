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


def median(values) -> float:
    """Median of a sequence or tensor of numbers; NaN when empty."""
    array = np.asarray([float(v) for v in values], dtype=np.float64)
    return float(np.median(array)) if array.size else math.nan
