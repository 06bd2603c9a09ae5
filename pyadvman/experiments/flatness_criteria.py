"""The flatness paper's claims as tests on the flatness study's per-epoch records (Stutz, Hein & Schiele, ICCV
2021, Sec. 4-5; docs/papers.md §4), computed for robust variants only (never pooled with normal training):

1. robust overfitting coincides with a loss of flatness: within each variant whose test robust loss rises after
   its minimum, the robust generalization gap and worst-case flatness rise together after that minimum;
2. across methods, those that generalize better robustly sit in flatter minima: at the last epoch, the ordering
   by worst-case flatness agrees with the ordering by the robust generalization gap;
3. AWP and TRADES are flatter than plain adversarial training at the last epoch.

Every test compares an estimate's 95% interval with a threshold (pyadvman.experiments.verdicts). The criteria
are fixed before any run; the study reports them whatever they say.

A record is one (variant, epoch): {"variant", "epoch", "examples", "test_robust_accuracy",
"robust_generalization_gap", "worst_case_flatness", "average_flatness", "per_example": {"train_robust_loss", "test_robust_loss",
"worst_case_robust_loss"}} (per-example lists over the same first test / training images for every record).
"""

from __future__ import annotations

import math

import numpy as np

from pyadvman.analysis.uncertainty import (
    NOT_MEASURED,
    Estimate,
    bootstrap_interval,
    mean_interval,
    pearson_interval,
    wilson,
)
from pyadvman.experiments.study import VARIANT_LABELS
from pyadvman.experiments.verdicts import HOLDS, INCONCLUSIVE, NOT_EVALUATED, all_of, compare, part, verdict_of

CHANCE_MULTIPLE = 2.0  # "well above chance": the best test robust accuracy's lower bound exceeds 2 × 1/classes
FLATTER_THAN_AT = ("awp", "trades")  # claim 3: the methods said to be flatter than plain adversarial training


def _label(variant: str) -> str:
    return VARIANT_LABELS.get(variant, variant)


def _by_variant(records: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for record in records:
        grouped.setdefault(record["variant"], []).append(record)
    return {v: sorted(rows, key=lambda r: r["epoch"]) for v, rows in grouped.items()}


def _array(record: dict, key: str) -> np.ndarray:
    return np.asarray(record["per_example"][key], dtype=np.float64)


def robustness_tests(records: list[dict], classes: int) -> dict[str, dict]:
    """Per variant the test "best test robust accuracy (Wilson interval over the attacked test images) >
    CHANCE_MULTIPLE / classes"; a variant other than normal training is robust when it holds."""
    threshold = CHANCE_MULTIPLE / classes
    tests = {}
    for variant, rows in _by_variant(records).items():
        best = max(rows, key=lambda r: r["test_robust_accuracy"])
        estimate = wilson(best["test_robust_accuracy"] * best["examples"], best["examples"])
        tests[variant] = compare(f"{_label(variant)}: best test robust accuracy (epoch {best['epoch']}) well above "
                                 f"chance", estimate, ">", threshold)
    return tests


def _pearson(a: list[float], b: list[float]) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def overfitting_and_flatness(rows: list[dict]) -> dict:
    """Claim 1 for one variant (its records, any order). The epoch of minimum test robust loss is chosen on the
    first half of the test images and the rise after it is measured on the other half, so that choosing the
    minimum does not make the rise look larger than it is:

    - "rise": the held-out half's test robust loss at the last epoch minus at the minimum (paired over images,
      t interval) > 0: robust overfitting occurs;
    - "correlation": Pearson r over the epochs from the minimum to the last between the robust generalization
      gap and worst-case flatness (Fisher interval; at least 4 epochs give a bounded interval) > 0.

    The variant's outcome is the correlation's when the rise holds, else inconclusive: without robust
    overfitting the claim is not tested. The same correlation with average-case flatness is reported beside it
    ("average_case_correlation"), not tested: the paper states the claim for worst-case flatness.
    """
    rows = sorted(rows, key=lambda r: r["epoch"])
    variant, examples = rows[0]["variant"], len(rows[0]["per_example"]["test_robust_loss"])
    half = examples // 2
    selection = [float(_array(r, "test_robust_loss")[:half].mean()) for r in rows]
    minimum = int(np.argmin(selection))
    low, last = rows[minimum], rows[-1]
    held_out = _array(last, "test_robust_loss")[half:] - _array(low, "test_robust_loss")[half:]
    rise = compare(f"{_label(variant)}: held-out test robust loss rises from epoch {low['epoch']} to {last['epoch']}",
                   mean_interval(held_out), ">", 0.0)
    window = rows[minimum:]
    gaps = [r["robust_generalization_gap"] for r in window]
    flatness = [r["worst_case_flatness"] for r in window]
    correlation = compare(f"{_label(variant)}: r(gap, worst-case flatness) over epochs {low['epoch']}-{last['epoch']}",
                          pearson_interval(_pearson(gaps, flatness), len(window)), ">", 0.0)
    average = [r["average_flatness"] for r in window]
    average_r = pearson_interval(_pearson(gaps, average), len(window)).as_dict()  # reported, not a test
    verdict = correlation if rise["outcome"] == HOLDS else {"outcome": INCONCLUSIVE, "decided_by": [rise]}
    return {"variant": variant, "minimum_epoch": low["epoch"], "last_epoch": last["epoch"], "points": len(window),
            "gap_change": last["robust_generalization_gap"] - low["robust_generalization_gap"],
            "flatness_change": last["worst_case_flatness"] - low["worst_case_flatness"],
            "rise": rise, "correlation": correlation, "average_case_correlation": average_r,
            "outcome": verdict["outcome"],
            "decided_by": verdict.get("decided_by", [correlation])}


def _ranks(values: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(values, kind="stable"), kind="stable").astype(np.float64)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _ranks(a), _ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1]) if ra.std() > 0 and rb.std() > 0 else math.nan


def ordering_test(last: dict[str, dict], *, resamples: int = 2000, seed: int = 0) -> dict:
    """Claim 2: Spearman's ρ between worst-case flatness and the robust generalization gap over the variants'
    last-epoch records ``last`` (>= 3 variants), with a percentile-bootstrap interval that resamples the test
    images (shared by all variants) and, independently, the training images."""
    variants = sorted(last)
    name = f"Spearman ρ(worst-case flatness, robust gap) over {', '.join(map(_label, variants))} at the last epoch"
    if len(variants) < 3:
        return compare(name, NOT_MEASURED, ">", 0.0)
    test = np.stack([_array(last[v], "test_robust_loss") for v in variants])
    worst = np.stack([_array(last[v], "worst_case_robust_loss") for v in variants])
    train = np.stack([_array(last[v], "train_robust_loss") for v in variants])
    rng = np.random.default_rng(seed + 1)

    def statistic(rows: np.ndarray) -> float:
        train_rows = rng.integers(0, train.shape[1], train.shape[1])
        t = test[:, rows].mean(axis=1)
        return _spearman(worst[:, rows].mean(axis=1) - t, t - train[:, train_rows].mean(axis=1))

    value = _spearman(worst.mean(axis=1) - test.mean(axis=1), test.mean(axis=1) - train.mean(axis=1))
    low, high = bootstrap_interval(statistic, test.shape[1], resamples=resamples, seed=seed)
    return compare(name, Estimate(value, low, high), ">", 0.0)


def flatter_than_at_tests(last: dict[str, dict]) -> list[dict]:
    """Claim 3: for AWP and TRADES (those present and robust beside adversarial training), the worst-case
    flatness of adversarial training minus theirs at the last epoch, per test image (paired; t interval) > 0."""
    if "adversarial" not in last:
        return []
    base = _array(last["adversarial"], "worst_case_robust_loss") - _array(last["adversarial"], "test_robust_loss")
    tests = []
    for variant in FLATTER_THAN_AT:
        if variant in last:
            own = _array(last[variant], "worst_case_robust_loss") - _array(last[variant], "test_robust_loss")
            tests.append(compare(f"{_label(variant)} flatter than regular AT (worst-case flatness of regular AT "
                                 f"minus {_label(variant)}'s)", mean_interval(base - own), ">", 0.0))
    return tests


def evaluate(records: list[dict], classes: int) -> dict:
    """All verdicts of the flatness study: {"robust": {variant: test}, "robust_variants": [...],
    "per_variant": {variant: overfitting_and_flatness}, "claims": {"overfitting_flatness", "ordering",
    "flatter_than_at"}: each {"verdict", "tests", "decided_by": names of the deciding tests}}."""
    grouped = _by_variant(records)
    robust = robustness_tests(records, classes)
    robust_variants = [v for v in grouped if v != "normal" and robust[v]["outcome"] == HOLDS]
    per_variant = {v: overfitting_and_flatness(grouped[v]) for v in robust_variants}
    overfitting = [p for p in per_variant.values() if p["rise"]["outcome"] == HOLDS]
    if not robust_variants:
        claim1 = part(NOT_EVALUATED, [])
    elif not overfitting:
        claim1 = part(INCONCLUSIVE, [p["rise"] for p in per_variant.values()])
    else:
        claim1 = all_of([p["correlation"] for p in overfitting])
    last = {v: grouped[v][-1] for v in robust_variants}
    ordering = ordering_test(last)
    flatter = flatter_than_at_tests(last)
    claim3 = all_of(flatter) if flatter else part(NOT_EVALUATED, [])
    tests1 = [t for p in per_variant.values() for t in (p["rise"], p["correlation"])]
    return {"robust": robust, "robust_variants": robust_variants, "per_variant": per_variant,
            "claims": {"overfitting_flatness": {"tests": tests1, **verdict_of(claim1),
                                                "tested_variants": [p["variant"] for p in overfitting]},
                       "ordering": {"tests": [ordering], **verdict_of(part(ordering["outcome"], [ordering]))},
                       "flatter_than_at": {"tests": flatter, **verdict_of(claim3)}}}
