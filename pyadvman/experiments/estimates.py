"""Estimates over a grid's model records: a measure (test error, a success rate, ...) per training-set size N for
one training objective, with its 95% interval over the seeds there (docs/papers.md §1)."""

from __future__ import annotations

from pyadvman.analysis.uncertainty import CONFIDENCE, Estimate, rate_over_seeds
from pyadvman.experiments.records import Measure, ModelRecord


def records_by_size(records: list[ModelRecord], objective: str) -> dict[int, list[ModelRecord]]:
    """The model records of one objective grouped by training-set size N (ascending); one record per seed."""
    sizes = sorted({r.train_size for r in records if r.objective == objective})
    return {n: [r for r in records if r.objective == objective and r.train_size == n] for n in sizes}


def estimate_over_seeds(group: list[ModelRecord], measure: Measure, confidence: float = CONFIDENCE) -> Estimate:
    """``measure`` of the models of one (objective, N), one per seed: their mean with the interval of
    :func:`pyadvman.analysis.uncertainty.rate_over_seeds`."""
    rates = [measure(r) for r in group]
    return rate_over_seeds([r.value for r in rates], [r.trials for r in rates], confidence)


def size_estimates(records: list[ModelRecord], objective: str, measure: Measure,
                   confidence: float = CONFIDENCE) -> dict[int, Estimate]:
    """Per training-set size N (ascending), ``measure`` of an objective's models with its interval (95% unless
    told) over the seeds there."""
    return {n: estimate_over_seeds(group, measure, confidence)
            for n, group in records_by_size(records, objective).items()}


def model_estimate(record: ModelRecord, measure: Measure) -> Estimate:
    """``measure`` of one model with its Wilson interval."""
    return estimate_over_seeds([record], measure)
