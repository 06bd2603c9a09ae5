"""Uncertainty of the reported numbers: Wilson score intervals of rates, intervals of differences (MOVER),
bootstrap intervals of medians, Fisher intervals of Pearson's r, and the spread over seeds. The textbook intervals
come from statsmodels (Wilson) and scipy.stats (Student's t, the normal quantile); the MOVER interval of two
estimates, the Fisher interval from (r, n) and the clustered bootstrap are this module's, as no library takes
those inputs (tests/analysis/test_uncertainty.py checks them against statsmodels' Newcombe and scipy's pearsonr
intervals).

Every interval is a 95% interval unless told otherwise. Rates of one model are binomial proportions (Wilson,
1927); a difference of two estimates gets the MOVER interval of Zou & Donner (2008), which for two Wilson
intervals is Newcombe's (1998) hybrid score interval. Both treat the two estimates as independent; models
evaluated on the same test images are positively correlated, so on that account the interval of their
difference is too wide rather than too narrow. The intervals treat test images as independent draws (on FONTS:
of θ, for the dataset's fixed fonts) and cover the variation between training runs only when there are several
seeds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
_RESAMPLES_PER_CHUNK = 100  # bootstrap resamples drawn at once (memory: this × the number of values)


@dataclass(frozen=True)
class Estimate:
    """A number with its 95% interval [low, high]; all NaN when nothing was measured."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def measured(self) -> bool:
        return not math.isnan(self.value)

    def side_of(self, threshold: float) -> int:
        """+1 when the whole interval lies above ``threshold``, −1 when below, 0 when it contains it (or nothing
        was measured): whether the uncertainty separates the estimate from the threshold."""
        if not self.measured or math.isnan(self.low) or math.isnan(self.high):
            return 0
        return 1 if self.low > threshold else -1 if self.high < threshold else 0


NOT_MEASURED = Estimate(math.nan, math.nan, math.nan)


def _z(confidence: float = CONFIDENCE) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def wilson(successes: float, trials: float, confidence: float = CONFIDENCE) -> Estimate:
    """The rate successes/trials with its Wilson score interval (Wilson, JASA 1927; statsmodels'
    ``proportion_confint(method="wilson")``), widened to contain the rate where rounding puts it a hair outside.

    Args:
        successes: in [0, trials] (a rate times a count is accepted: the interval only needs p̂ and n).
        trials: n >= 0; with n = 0 nothing is measured (NaN).
        confidence: the interval's coverage, in (0, 1).

    Raises:
        ValueError: successes outside [0, trials].
    """
    if trials <= 0:
        return NOT_MEASURED
    if not 0 <= successes <= trials * (1 + 1e-12):
        raise ValueError(f"successes must be in [0, trials = {trials}], got {successes}")
    from statsmodels.stats.proportion import (
        proportion_confint,  # imported here: slow, and only reports need it
    )

    p = min(successes / trials, 1.0)
    low, high = proportion_confint(min(successes, trials), trials, alpha=1 - confidence, method="wilson")
    return Estimate(p, min(p, max(0.0, float(low))), max(p, min(1.0, float(high))))


def difference(a: Estimate, b: Estimate) -> Estimate:
    """a − b with the MOVER interval (Zou & Donner, 2008): from the point estimates and each interval's
    distances to them, treating a and b as independent; the coverage is that of the two intervals."""
    if not (a.measured and b.measured):
        return NOT_MEASURED
    value = a.value - b.value
    low = value - math.hypot(a.value - a.low, b.high - b.value)
    high = value + math.hypot(a.high - a.value, b.value - b.low)
    return Estimate(value, low, high)


def t_quantile(degrees: int, confidence: float = CONFIDENCE) -> float:
    """The two-sided ``confidence`` quantile of Student's t with ``degrees`` >= 1 degrees of freedom."""
    return float(stats.t.ppf(0.5 + confidence / 2, degrees))


def rate_over_seeds(rates: list[float], trials: list[float], confidence: float = CONFIDENCE) -> Estimate:
    """A rate measured on several models (one per seed) of the same kind: their mean with an interval that
    adds both sources of uncertainty. The models are evaluated on the same examples, so the sampling of the
    examples is not averaged out by more seeds: its part is the Wilson interval of the mean rate over the fewest
    trials of any seed; the seeds' part is the t interval of their mean (t·sd/√s). The two half-widths add in
    quadrature, on each side; with one seed the interval is Wilson's.

    Args:
        rates: one rate per seed (NaN entries are left out). trials: the number of trials behind each rate.
        confidence: the interval's coverage.
    """
    pairs = [(r, n) for r, n in zip(rates, trials) if not math.isnan(r) and n > 0]
    if not pairs:
        return NOT_MEASURED
    values = np.asarray([r for r, _ in pairs])
    mean, fewest = float(values.mean()), min(n for _, n in pairs)
    interval = wilson(mean * fewest, fewest, confidence)
    if len(values) < 2:
        return interval
    spread = t_quantile(len(values) - 1, confidence) * float(values.std(ddof=1)) / math.sqrt(len(values))
    return Estimate(mean, max(0.0, mean - math.hypot(mean - interval.low, spread)),
                    min(1.0, mean + math.hypot(interval.high - mean, spread)))


def mean_interval(values, confidence: float = CONFIDENCE) -> Estimate:
    """The mean of ``values`` (e.g. per-example differences between two models on the same test images) with
    its t interval mean ± t·sd/√n; NaN values are left out, and fewer than two leave the interval unbounded."""
    array = np.asarray([float(v) for v in values], dtype=np.float64)
    array = array[np.isfinite(array)]
    if array.size == 0:
        return NOT_MEASURED
    mean = float(array.mean())
    if array.size < 2:
        return Estimate(mean, -math.inf, math.inf)
    scale = float(array.std(ddof=1)) / math.sqrt(array.size)
    if scale == 0:  # every value equal: scipy takes no zero scale
        return Estimate(mean, mean, mean)
    low, high = stats.t.interval(confidence, array.size - 1, loc=mean, scale=scale)
    return Estimate(mean, float(low), float(high))


def bootstrap_interval(statistic, groups: int, *, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """The percentile-bootstrap 95% interval of ``statistic(rows)``, rows an int array of ``groups`` indices
    drawn with replacement from 0 … groups − 1 (e.g. test images shared by every model compared); resamples
    whose statistic is NaN are left out."""
    draws = _bootstrap(statistic, groups, resamples, seed)
    draws = draws[np.isfinite(draws)]
    return _percentiles(draws) if draws.size else (math.nan, math.nan)


def _bootstrap(statistic, groups: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """``statistic(indices)`` of ``resamples`` bootstrap resamples of the group indices 0 … groups − 1,
    drawn in chunks so that memory stays at _RESAMPLES_PER_CHUNK resamples."""
    rng = np.random.default_rng(seed)
    values = []
    for start in range(0, resamples, _RESAMPLES_PER_CHUNK):
        count = min(_RESAMPLES_PER_CHUNK, resamples - start)
        values += [statistic(row) for row in rng.integers(0, groups, size=(count, groups))]
    return np.asarray(values)


def _finite(values, clusters) -> tuple[np.ndarray, np.ndarray]:
    array = np.asarray([float(v) for v in values], dtype=np.float64)
    ids = np.arange(array.size) if clusters is None else np.asarray(clusters)
    keep = np.isfinite(array)
    return array[keep], ids[keep]


def _percentiles(draws: np.ndarray) -> tuple[float, float]:
    low, high = np.quantile(draws, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return float(low), float(high)


class _Clusters:
    """Values sorted by cluster, to gather the values of a resample of clusters without a Python loop."""

    def __init__(self, values: np.ndarray, ids: np.ndarray, groups: np.ndarray) -> None:
        order = np.argsort(np.searchsorted(groups, ids), kind="stable")
        self.values = values[order]
        self.counts = np.bincount(np.searchsorted(groups, ids), minlength=groups.size)
        self.starts = np.cumsum(self.counts) - self.counts

    def gather(self, rows: np.ndarray) -> np.ndarray:
        lengths = self.counts[rows]
        ends = np.cumsum(lengths)
        index = np.arange(int(ends[-1]) if ends.size else 0) - np.repeat(ends - lengths, lengths)
        return self.values[index + np.repeat(self.starts[rows], lengths)]


def bootstrap_median(values, *, clusters=None, resamples: int = 2000, seed: int = 0) -> Estimate:
    """The median of ``values`` with its percentile-bootstrap 95% interval. ``clusters`` (one id per value)
    resamples whole clusters instead of single values: values measured on the same test image by several
    models are not independent, and treating them so would narrow the interval."""
    array, ids = _finite(values, clusters)
    if array.size == 0:
        return NOT_MEASURED
    groups = np.unique(ids)
    members = _Clusters(array, ids, groups)
    draws = _bootstrap(lambda rows: np.median(members.gather(rows)), groups.size, resamples, seed)
    return Estimate(float(np.median(array)), *_percentiles(draws))


def median_difference(a, b, *, a_clusters=None, b_clusters=None, resamples: int = 2000, seed: int = 0) -> Estimate:
    """median(a) − median(b) with the percentile-bootstrap 95% interval. With cluster ids (the test image each
    value was measured on, shared by a and b), clusters are resampled together for both, keeping the pairing;
    without, a and b are resampled independently, value by value."""
    x, x_ids = _finite(a, a_clusters)
    y, y_ids = _finite(b, b_clusters)
    if x.size == 0 or y.size == 0:
        return NOT_MEASURED
    value = float(np.median(x) - np.median(y))
    if a_clusters is None or b_clusters is None:
        rng = np.random.default_rng(seed)
        draws = np.concatenate([np.median(rng.choice(x, size=(n, x.size)), axis=1)
                                - np.median(rng.choice(y, size=(n, y.size)), axis=1)
                                for n in np.diff(np.r_[0:resamples:_RESAMPLES_PER_CHUNK, resamples])])
        return Estimate(value, *_percentiles(draws))
    groups = np.unique(np.concatenate([x_ids, y_ids]))
    x_members, y_members = _Clusters(x, x_ids, groups), _Clusters(y, y_ids, groups)

    def statistic(rows: np.ndarray) -> float:
        xs, ys = x_members.gather(rows), y_members.gather(rows)
        return float(np.median(xs) - np.median(ys)) if xs.size and ys.size else math.nan

    draws = _bootstrap(statistic, groups.size, resamples, seed)
    return Estimate(value, *_percentiles(draws[np.isfinite(draws)]))


def pearson_interval(r: float, n: int, covariates: int = 0) -> Estimate:
    """Pearson's r of n pairs (a partial correlation given ``covariates`` covariates) with the Fisher z interval
    tanh(atanh r ± z/√(n − 3 − covariates)); with no degree of freedom left the interval is [−1, 1] (nothing
    separates r from any threshold)."""
    if math.isnan(r):
        return NOT_MEASURED
    if n - 3 - covariates <= 0:
        return Estimate(r, -1.0, 1.0)
    centre, half = math.atanh(max(min(r, 1 - 1e-12), -1 + 1e-12)), _z() / math.sqrt(n - 3 - covariates)
    return Estimate(r, math.tanh(centre - half), math.tanh(centre + half))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; NaN with one value) of the finite values."""
    array = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    if array.size == 0:
        return math.nan, math.nan
    return float(array.mean()), float(array.std(ddof=1)) if array.size > 1 else math.nan
