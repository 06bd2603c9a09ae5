"""The linear fit against the textbook formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyadvman.analysis import linear_fit, median


def test_linear_fit_matches_covariance_formulas() -> None:
    rng = np.random.default_rng(1)
    x = rng.random(12)
    y = 0.7 * x + 0.1 + 0.05 * rng.standard_normal(12)
    fit = linear_fit(x.tolist(), y.tolist())
    cov = ((x - x.mean()) * (y - y.mean())).sum()
    slope = cov / ((x - x.mean()) ** 2).sum()
    r = cov / math.sqrt(((x - x.mean()) ** 2).sum() * ((y - y.mean()) ** 2).sum())
    assert fit.slope == pytest.approx(slope, rel=1e-10)
    assert fit.intercept == pytest.approx(y.mean() - slope * x.mean(), rel=1e-10)
    assert fit.pearson_r == pytest.approx(r, rel=1e-10) and fit.n == 12


def test_linear_fit_errors_and_constant_targets() -> None:
    with pytest.raises(ValueError, match="at least 2 finite pairs with distinct x"):
        linear_fit([0.1, 0.1], [0.2, 0.3])
    with pytest.raises(ValueError, match="same length"):
        linear_fit([0.1, 0.2], [0.3])
    assert math.isnan(linear_fit([0.1, 0.2, 0.3], [0.5, 0.5, 0.5]).pearson_r)
    assert median([3.0, 1.0, 2.0]) == 2.0 and math.isnan(median([]))
