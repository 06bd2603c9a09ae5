"""Intervals against published worked examples (Newcombe, Stat. Med. 1998) and textbook values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyadvman.analysis.uncertainty import (
    Estimate,
    bootstrap_median,
    difference,
    mean_std,
    median_difference,
    pearson_interval,
    rate_over_seeds,
    t_quantile,
    wilson,
)


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (81, 263, 0.2553, 0.3662),   # Newcombe (1998a), Table I: the Wilson score interval
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),        # no successes
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_newcombes_examples(k, n, low, high) -> None:
    estimate = wilson(k, n)
    assert estimate.value == pytest.approx(k / n)
    assert (estimate.low, estimate.high) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))


def test_difference_is_newcombes_hybrid_score_interval() -> None:
    # Newcombe (1998b), Table II: 56/70 − 48/80, method 10 (hybrid score) gives 0.0524 to 0.3339
    estimate = difference(wilson(56, 70), wilson(48, 80))
    assert estimate.value == pytest.approx(0.2)
    assert (estimate.low, estimate.high) == (pytest.approx(0.0524, abs=1e-4), pytest.approx(0.3339, abs=1e-4))
    assert difference(wilson(1, 2), Estimate(math.nan, math.nan, math.nan)).measured is False


def test_wilson_refuses_impossible_counts_and_measures_nothing_without_trials() -> None:
    with pytest.raises(ValueError, match=r"successes must be in \[0, trials = 10\], got 11"):
        wilson(11, 10)
    assert not wilson(0, 0).measured


def test_pearson_interval_is_fishers() -> None:
    estimate = pearson_interval(0.5, 50)  # the textbook example: about 0.26 to 0.68
    assert (estimate.low, estimate.high) == (pytest.approx(0.2575, abs=1e-3), pytest.approx(0.6833, abs=1e-3))
    assert pearson_interval(0.9, 3) == Estimate(0.9, -1.0, 1.0)  # too few points to separate anything
    assert pearson_interval(0.3, 100).high < pearson_interval(0.3, 20).high
    # a partial correlation given 2 covariates: the interval of n − 2 pairs
    assert pearson_interval(0.5, 50, covariates=2) == pearson_interval(0.5, 48)
    assert pearson_interval(0.9, 6, covariates=3) == Estimate(0.9, -1.0, 1.0)


def test_seeds_add_their_spread_to_the_sampling_of_the_examples() -> None:
    assert rate_over_seeds([0.3], [500]) == wilson(150, 500)
    spread = rate_over_seeds([0.2, 0.4, 0.3], [500, 500, 400])
    seeds = t_quantile(2) * float(np.std([0.2, 0.4, 0.3], ddof=1)) / math.sqrt(3)
    sampling = wilson(120, 400)  # the mean rate over the fewest trials
    assert spread.value == pytest.approx(0.3)
    assert spread.low == pytest.approx(0.3 - math.hypot(0.3 - sampling.low, seeds))
    assert spread.high == pytest.approx(0.3 + math.hypot(sampling.high - 0.3, seeds))
    agreeing = rate_over_seeds([0.3, 0.3], [500, 400])
    assert (agreeing.low, agreeing.high) == (pytest.approx(sampling.low), pytest.approx(sampling.high))
    assert t_quantile(4) == pytest.approx(2.7764, abs=1e-4) and t_quantile(100) == pytest.approx(1.984, abs=1e-3)
    assert t_quantile(2, 0.975) > t_quantile(2)  # a Bonferroni-corrected coverage is wider
    assert wilson(30, 100, confidence=0.99).low < wilson(30, 100).low
    assert not rate_over_seeds([math.nan], [0]).measured


def test_bootstrap_intervals_cover_the_median_and_shrink_with_data() -> None:
    rng = np.random.default_rng(1)
    small, large = rng.normal(1.0, 1.0, 30), rng.normal(1.0, 1.0, 3000)
    a, b = bootstrap_median(small), bootstrap_median(large)
    assert a.low <= np.median(small) <= a.high and b.low <= np.median(large) <= b.high
    assert b.high - b.low < (a.high - a.low) / 4
    apart = median_difference(rng.normal(2.0, 0.5, 200), rng.normal(1.0, 0.5, 200))
    assert apart.low > 0.8 and apart.high < 1.2
    same = median_difference(rng.normal(0, 1, 50), rng.normal(0, 1, 50))
    assert same.low < 0 < same.high
    assert bootstrap_median([1.0, 2.0, 3.0], seed=5) == bootstrap_median([1.0, 2.0, 3.0], seed=5)  # seeded
    assert not bootstrap_median([]).measured and mean_std([2.0]) == (2.0, pytest.approx(math.nan, nan_ok=True))


def test_clusters_are_resampled_whole() -> None:
    """Three models measuring the same 100 test images give 300 values but only 100 independent ones: the
    clustered interval is as wide as for 100 values, the unclustered one too narrow by about √3."""
    rng = np.random.default_rng(2)
    per_image = rng.normal(0.0, 1.0, 100)
    values, images = np.tile(per_image, 3), np.tile(np.arange(100), 3)
    clustered, naive = bootstrap_median(values, clusters=images), bootstrap_median(values)
    alone = bootstrap_median(per_image)
    width = lambda e: e.high - e.low  # noqa: E731
    assert width(clustered) > 1.4 * width(naive) and width(clustered) == pytest.approx(width(alone), rel=0.3)
    other = np.tile(per_image + 1.0, 3)  # the same images shifted: the paired difference is exactly −1
    paired = median_difference(values, other, a_clusters=images, b_clusters=images)
    assert paired.value == pytest.approx(-1.0) and paired.high < -0.5


def test_side_of_says_whether_the_interval_separates() -> None:
    estimate = Estimate(0.3, 0.2, 0.4)
    assert (estimate.side_of(0.1), estimate.side_of(0.5), estimate.side_of(0.25)) == (1, -1, 0)


def test_the_library_intervals_agree_to_1e12() -> None:
    """Wilson is statsmodels' and the t interval scipy's; the MOVER difference of two Wilson intervals is
    statsmodels' Newcombe interval, and the Fisher interval from (r, n) is scipy's pearsonr interval, both to 1e-12."""
    from scipy import stats
    from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

    from pyadvman.analysis.uncertainty import mean_interval

    rng = np.random.default_rng(0)
    for _ in range(200):
        n1, n2 = (int(v) for v in rng.integers(5, 3000, 2))
        k1, k2 = int(rng.integers(0, n1 + 1)), int(rng.integers(0, n2 + 1))
        a, b = wilson(k1, n1), wilson(k2, n2)
        low, high = proportion_confint(k1, n1, alpha=0.05, method="wilson")
        assert abs(a.low - max(0.0, low)) < 1e-12 and abs(a.high - min(1.0, high)) < 1e-12
        newcombe = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
        assert np.allclose([difference(a, b).low, difference(a, b).high], newcombe, rtol=0, atol=1e-12)
        x = rng.normal(size=int(rng.integers(5, 40)))
        y = 0.5 * x + rng.normal(size=x.size)
        scipy_interval = stats.pearsonr(x, y).confidence_interval(0.95)
        fisher = pearson_interval(float(np.corrcoef(x, y)[0, 1]), x.size)
        assert np.allclose([fisher.low, fisher.high], [scipy_interval.low, scipy_interval.high], rtol=0, atol=1e-12)
        t = stats.ttest_1samp(x, 0.0).confidence_interval(0.95)
        assert np.allclose([mean_interval(x).low, mean_interval(x).high], [t.low, t.high], rtol=0, atol=1e-12)
    assert mean_interval([2.0, 2.0, 2.0]) == Estimate(2.0, 2.0, 2.0)  # no spread: the value itself
