"""The flatness paper's claims as tests on the flatness study's per-epoch records (Stutz, Hein & Schiele, ICCV
2021, Sec. 4-5; docs/papers.md §4), computed for robust variants only (never pooled with normal training):

1. robust overfitting coincides with a loss of flatness: within each variant whose test robust loss rises after
   its minimum, the robust generalization gap and worst-case flatness both rise after that minimum;
2. across methods, those that generalize better robustly sit in flatter minima: at the last epoch, the ordering
   by worst-case flatness agrees with the ordering by the robust generalization gap, beyond what the evaluated
   images and the number of methods leave to chance;
3. AWP and TRADES are flatter than plain adversarial training at the last epoch.

Every test compares an estimate's 95% interval with a threshold (pyadvman.experiments.verdicts). The criteria
are fixed before any run; the study reports them whatever they say.

Worst-case flatness is measured by a search (an ascent on the weights and inputs), and every image of an epoch
shares that search: its unit of replication is the search, not the image. Each measured epoch runs several
independent searches; a flatness estimate is the mean over searches (and over the last ``last_epochs`` measured
epochs where the claim is about the end of training) with its t interval over those values, and its margin is
the search's noise floor (the standard deviation of one search around its epoch's mean, pooled over epochs): a
change smaller than one search's noise is not a finding.

A record is one (variant, epoch): {"variant", "epoch", "examples", "test_robust_accuracy",
"robust_generalization_gap", "worst_case_flatness", "average_flatness", "per_example": {"train_robust_loss",
"test_robust_loss", "worst_case_robust_loss", "worst_case_robust_loss_searches" (one list per search; absent in
records of one search)}} (per-example lists over the same first test / training images for every record).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.stats import rankdata

from pyadvman.analysis.uncertainty import (
    NOT_MEASURED,
    Estimate,
    bootstrap_interval,
    difference,
    mean_interval,
    pearson_interval,
    wilson,
)
from pyadvman.experiments.study_config import variant_label as _label
from pyadvman.experiments.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_EVALUATED,
    all_of,
    compare,
    part,
    verdict_of,
)

# Raised whenever a criterion changes (metrics.json's provenance records it); 2: the search is the unit of
# worst-case flatness, with the noise floor as margin.
CRITERIA_VERSION = 2
CHANCE_MULTIPLE = 2.0  # "well above chance": the best test robust accuracy's lower bound exceeds 2 × 1/classes
FLATTER_THAN_AT = ("awp", "trades")  # claim 3: the methods said to be flatter than plain adversarial training


def by_variant(records: list[dict]) -> dict[str, list[dict]]:
    """The records of each variant, in the order variants first appear, each sorted by epoch."""
    grouped: dict[str, list[dict]] = {}
    for record in records:
        grouped.setdefault(record["variant"], []).append(record)
    return {v: sorted(rows, key=lambda r: r["epoch"]) for v, rows in grouped.items()}


def _array(record: dict, key: str) -> np.ndarray:
    return np.asarray(record["per_example"][key], dtype=np.float64)


def _flatness_per_image(record: dict) -> np.ndarray:
    """Worst-case flatness of each test image: its robust loss at the perturbed minus the unperturbed weights."""
    return _array(record, "worst_case_robust_loss") - _array(record, "test_robust_loss")


def search_values(record: dict, images: slice = slice(None)) -> np.ndarray:
    """Worst-case flatness of each independent search of a record over ``images``: the mean perturbed robust loss
    minus the unperturbed one ([searches]; a record without searches is one)."""
    base = _array(record, "test_robust_loss")[images]
    rows = record["per_example"].get("worst_case_robust_loss_searches") or [record["per_example"]["worst_case_robust_loss"]]
    return np.asarray([float(np.mean(np.asarray(row, dtype=np.float64)[images] - base)) for row in rows])


def noise_floor(rows: list[dict], images: slice = slice(None)) -> float:
    """The search's noise: the standard deviation of one search's worst-case flatness on ``images`` around the
    mean of its epoch's searches, pooled over the epochs ``rows`` (root mean variance); NaN with fewer than two
    searches."""
    variances = [float(np.var(values, ddof=1)) for values in (search_values(r, images) for r in rows)
                 if values.size > 1]
    return math.sqrt(sum(variances) / len(variances)) if variances else math.nan


def _margin(*floors: float) -> float:
    finite = [f for f in floors if math.isfinite(f)]
    return max(finite) if finite else 0.0


def robustness_tests(records: list[dict], classes: int) -> dict[str, dict]:
    """Per variant the test "best test robust accuracy (Wilson interval over the attacked test images) >
    CHANCE_MULTIPLE / classes"; a variant other than normal training is robust when it holds."""
    threshold = CHANCE_MULTIPLE / classes
    tests = {}
    for variant, rows in by_variant(records).items():
        best = max(rows, key=lambda r: r["test_robust_accuracy"])
        estimate = wilson(best["test_robust_accuracy"] * best["examples"], best["examples"])
        tests[variant] = compare(f"{_label(variant)}: best test robust accuracy (epoch {best['epoch']}) well above "
                                 f"chance", estimate, ">", threshold)
    return tests


def _pearson(a: list[float], b: list[float]) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def overfitting_and_flatness(rows: list[dict], last_epochs: int = 3) -> dict:
    """Claim 1 for one variant (its records, any order). The epoch of minimum test robust loss is chosen on the
    first half of the test images and every change after it is measured on the other half (the held-out half),
    so that choosing the minimum does not make the changes look larger than they are. From the minimum to the
    last epoch:

    - "rise": the held-out test robust loss rises (paired over images, t interval > 0): robust overfitting;
    - "gap": the robust generalization gap rises: the held-out rise minus the change of the training robust
      loss (paired over training images; MOVER interval of the two) > 0;
    - "flatness": worst-case flatness on the held-out images rises beyond the search's noise floor: the mean
      over the searches of the last ``last_epochs`` measured epochs after the minimum minus the mean over the
      minimum's searches (t intervals over the searches, MOVER interval of the difference) > 0 by more than
      :func:`noise_floor`.

    The variant's outcome: gap and flatness must both rise when the rise holds, else inconclusive (without
    robust overfitting the claim is not tested). Reported beside, not tested: Pearson r over those epochs
    between the gap and worst-case (and average-case) flatness with Fisher intervals, which treat the epochs as
    independent although they are one trending series, so they overstate the certainty.
    """
    rows = sorted(rows, key=lambda r: r["epoch"])
    variant, examples = rows[0]["variant"], len(rows[0]["per_example"]["test_robust_loss"])
    half = examples // 2
    held_out = slice(half, None)
    selection = [float(_array(r, "test_robust_loss")[:half].mean()) for r in rows]
    minimum = int(np.argmin(selection))
    low, last = rows[minimum], rows[-1]
    end = rows[max(minimum + 1, len(rows) - last_epochs):]
    span = f"from epoch {low['epoch']} to {last['epoch']}"

    def change(key: str, images: slice = held_out) -> np.ndarray:
        return _array(last, key)[images] - _array(low, key)[images]

    test_rise = mean_interval(change("test_robust_loss"))
    rise = compare(f"{_label(variant)}: held-out test robust loss rises {span}", test_rise, ">", 0.0)
    gap = compare(f"{_label(variant)}: robust generalization gap rises {span}",
                  difference(test_rise, mean_interval(change("train_robust_loss", slice(None)))), ">", 0.0)
    floor = noise_floor(rows, held_out)
    ending = (mean_interval(np.concatenate([search_values(r, held_out) for r in end])) if end else NOT_MEASURED)
    window = "the last epoch" if len(end) <= 1 else f"epochs {end[0]['epoch']}–{end[-1]['epoch']}"
    flatness = compare(f"{_label(variant)}: held-out worst-case flatness rises from epoch {low['epoch']} to {window}",
                       difference(ending, mean_interval(search_values(low, held_out))), ">", 0.0,
                       margin=_margin(floor))
    gaps = [r["robust_generalization_gap"] for r in rows[minimum:]]
    correlations = {key: pearson_interval(_pearson(gaps, [r[key] for r in rows[minimum:]]), len(gaps)).as_dict()
                    for key in ("worst_case_flatness", "average_flatness")}
    verdict = all_of([gap, flatness]) if rise["outcome"] == HOLDS else part(INCONCLUSIVE, [rise])
    return {"variant": variant, "minimum_epoch": low["epoch"], "last_epoch": last["epoch"], "points": len(gaps),
            "selection_loss": selection[minimum],
            "gap_change": last["robust_generalization_gap"] - low["robust_generalization_gap"],
            "flatness_change": last["worst_case_flatness"] - low["worst_case_flatness"],
            "noise_floor": floor, "failed_searches": sum(r.get("failed_searches", 0) for r in rows),
            "searches": sum(len(search_values(r)) for r in rows),
            "rise": rise, "gap": gap, "flatness": flatness, "correlations": correlations, **verdict}


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ with average ranks for ties; NaN when a value is not finite or one side is constant."""
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan
    ra, rb = rankdata(a), rankdata(b)
    return float(np.corrcoef(ra, rb)[0, 1]) if ra.std() > 0 and rb.std() > 0 else math.nan


def permutation_threshold(methods: int, level: float = 0.05) -> float:
    """The smallest ρ₀ with P(ρ > ρ₀) <= level when the methods' ordering by flatness is a random permutation
    of their ordering by gap (no ties): exact over all orderings up to 8 methods, else from 20,000 drawn
    ones. A ρ above it is beyond what that many methods give by chance (one-sided)."""
    ranks = np.arange(methods, dtype=np.float64)
    if methods <= 8:
        orders = np.asarray(list(itertools.permutations(range(methods))), dtype=np.float64)
    else:
        rng = np.random.default_rng(0)
        orders = np.stack([rng.permutation(methods) for _ in range(20000)]).astype(np.float64)
    centred = ranks - ranks.mean()
    rhos = np.round((orders - ranks.mean()) @ centred / (centred @ centred), 12)
    support = np.unique(rhos)
    exceed = np.array([(rhos > value).mean() for value in support])
    return float(support[np.argmax(exceed <= level)])


def ordering_tests(last: dict[str, dict], *, resamples: int = 2000, seed: int = 0) -> list[dict]:
    """Claim 2 over the variants' last-epoch records ``last`` (>= 3 variants): Spearman's ρ between worst-case
    flatness and the robust generalization gap, tested twice:

    - "images": its percentile-bootstrap interval, resampling the test images (shared by all variants) and,
      independently, the training images, > 0: the ordering is not an accident of the evaluated images;
    - "methods": ρ > permutation_threshold(number of variants): the agreement is more than that many methods
      give by chance (with 4 methods only ρ = 1 is). Neither covers the variation between training runs; the
      study's seeds do.
    """
    variants = sorted(last)
    name = f"Spearman ρ(worst-case flatness, robust gap) over {', '.join(map(_label, variants))} at the last epoch"
    if len(variants) < 3:
        return [compare(name, NOT_MEASURED, ">", 0.0)]
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
    threshold = permutation_threshold(len(variants))
    return [compare(f"{name}: bootstrap over images", Estimate(value, low, high), ">", 0.0),
            compare(f"{name}: beyond chance over {len(variants)} methods (one-sided 5%)",
                    Estimate(value, value, value), ">", threshold)]


def _ordering_verdict(tests: list[dict]) -> dict:
    """Holds when both tests hold; does not hold when the images put ρ below 0 and ρ is below minus the chance
    threshold (the mirror image); else inconclusive."""
    if len(tests) < 2:
        return part(NOT_EVALUATED, [])
    images, methods = tests
    if images["outcome"] == HOLDS and methods["outcome"] == HOLDS:
        return part(HOLDS, tests)
    if images["outcome"] == FAILS and images["estimate"]["value"] < -methods["threshold"]:
        return part(FAILS, tests)
    return part(INCONCLUSIVE, [t for t in tests if t["outcome"] != HOLDS])


def flatter_than_at_tests(ends: dict[str, list[dict]], floors: dict[str, float]) -> list[dict]:
    """Claim 3: for AWP and TRADES (those present and robust beside adversarial training), worst-case flatness
    of adversarial training minus theirs at the end of training, > 0 by more than the larger of the two noise
    floors: each the mean over the searches of its last measured epochs ``ends[variant]`` (t intervals over
    those searches and epochs, MOVER interval of the difference)."""
    if "adversarial" not in ends:
        return []

    def end_value(variant: str):
        return mean_interval(np.concatenate([search_values(r) for r in ends[variant]]))

    base = end_value("adversarial")
    return [compare(f"{_label(variant)} flatter than regular AT (worst-case flatness of regular AT minus "
                    f"{_label(variant)}'s, last {len(ends[variant])} measured epochs)",
                    difference(base, end_value(variant)), ">", 0.0,
                    margin=_margin(floors["adversarial"], floors[variant]))
            for variant in FLATTER_THAN_AT if variant in ends]


def evaluate(records: list[dict], classes: int, last_epochs: int = 3) -> dict:
    """All verdicts of the flatness study: {"robust": {variant: test}, "robust_variants": [...],
    "per_variant": {variant: overfitting_and_flatness}, "claims": {"overfitting_flatness", "ordering",
    "flatter_than_at"}: each {"verdict", "tests", "decided_by": names of the deciding tests, and for the first
    and last "tested_variants"}}; ``last_epochs``: the measured epochs at the end whose searches claims 1 and 3
    average."""
    grouped = by_variant(records)
    robust = robustness_tests(records, classes)
    robust_variants = [v for v in grouped if v != "normal" and robust[v]["outcome"] == HOLDS]
    per_variant = {v: overfitting_and_flatness(grouped[v], last_epochs) for v in robust_variants}
    overfitting = [p for p in per_variant.values() if p["rise"]["outcome"] == HOLDS]
    if not robust_variants:
        claim1 = part(NOT_EVALUATED, [])
    elif not overfitting:
        claim1 = part(INCONCLUSIVE, [p["rise"] for p in per_variant.values()])
    else:
        claim1 = all_of(overfitting)
    last = {v: grouped[v][-1] for v in robust_variants}
    ordering = ordering_tests(last)
    flatter = flatter_than_at_tests({v: grouped[v][-last_epochs:] for v in robust_variants},
                                    {v: noise_floor(grouped[v]) for v in robust_variants})
    compared = [v for v in FLATTER_THAN_AT if v in last] if "adversarial" in last else []
    tests1 = [t for p in per_variant.values() for t in (p["rise"], p["gap"], p["flatness"])]
    return {"robust": robust, "robust_variants": robust_variants, "per_variant": per_variant,
            "claims": {"overfitting_flatness": {"tests": tests1, **verdict_of(claim1),
                                                "tested_variants": [p["variant"] for p in overfitting]},
                       "ordering": {"tests": ordering, **verdict_of(_ordering_verdict(ordering))},
                       "flatter_than_at": {"tests": flatter, **verdict_of(all_of(flatter)),
                                           "tested_variants": compared}}}
