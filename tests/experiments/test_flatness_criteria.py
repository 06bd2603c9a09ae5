"""The flatness study's criteria (pyadvman.experiments.flatness_criteria) against hand-made records: robust
variants only, the minimum epoch chosen on one half of the test images and the rise measured on the other,
the correlation after the minimum, the ordering across methods and the pairwise flatness of AWP and TRADES."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import spearmanr

from pyadvman.experiments.flatness_criteria import (
    _spearman,
    evaluate,
    flatter_than_at_tests,
    noise_floor,
    ordering_tests,
    overfitting_and_flatness,
    permutation_threshold,
    robustness_tests,
)

EXAMPLES = 200


def _record(variant, epoch, test_losses, *, train=0.5, flatness=0.1, gap=None, accuracy=0.6, seed=0, searches=3,
            search_sd=0.005):
    """One (variant, epoch); ``searches`` independent worst-case searches, each off the true flatness by its own
    N(0, search_sd) (the search's noise) plus per-image noise."""
    rng = np.random.default_rng(seed + 100 * epoch)
    test_losses = np.asarray(test_losses, dtype=np.float64)
    train_losses = train + 0.01 * rng.standard_normal(EXAMPLES)
    worst = [test_losses + flatness + search_sd * rng.standard_normal() + 0.01 * rng.standard_normal(EXAMPLES)
             for _ in range(searches)]
    found = [float(np.mean(w - test_losses)) for w in worst]
    return {"variant": variant, "epoch": epoch, "examples": EXAMPLES, "test_robust_accuracy": accuracy,
            "test_robust_loss": float(test_losses.mean()),
            "robust_generalization_gap": float(test_losses.mean() - train_losses.mean()) if gap is None else gap,
            "worst_case_flatness": float(np.mean(found)), "average_flatness": 10 * flatness,
            "worst_case_searches": found, "failed_searches": sum(f < 0 for f in found),
            "per_example": {"test_robust_loss": test_losses.tolist(), "train_robust_loss": train_losses.tolist(),
                            "worst_case_robust_loss": np.mean(worst, axis=0).tolist(),
                            "worst_case_robust_loss_searches": [w.tolist() for w in worst]}}


def _noise(epoch, scale=0.05):
    return scale * np.random.default_rng(epoch).standard_normal(EXAMPLES)


def _overfitting(variant, flatness_sign=1.0, epochs=10, minimum=4):
    """Test robust loss falling until ``minimum`` and rising after; flatness following the gap (sign +1) or
    moving against it (−1) after the minimum."""
    rows = []
    for epoch in range(1, epochs + 1):
        level = 1.0 + 0.05 * abs(epoch - minimum)
        gap = 0.05 * epoch
        flatness = 0.1 + flatness_sign * 0.02 * max(epoch - minimum, 0) + 0.002 * ((-1) ** epoch)
        rows.append(_record(variant, epoch, level + _noise(epoch), gap=gap, flatness=flatness))
    return rows


def test_only_variants_well_above_chance_are_robust() -> None:
    records = [_record("adversarial", 1, np.ones(EXAMPLES), accuracy=0.5),
               _record("trades", 1, np.ones(EXAMPLES), accuracy=0.22),  # Wilson low 0.168 < 0.2 < high
               _record("mart", 1, np.ones(EXAMPLES), accuracy=0.1)]
    outcomes = {v: t["outcome"] for v, t in robustness_tests(records, classes=10).items()}
    assert outcomes == {"adversarial": "holds", "trades": "inconclusive", "mart": "does not hold"}
    # normal training never enters the criteria, however robust it looks
    result = evaluate([*_overfitting("normal"), *_overfitting("adversarial")], classes=10)
    assert result["robust"]["normal"]["outcome"] == "holds"
    assert result["robust_variants"] == ["adversarial"]


def _held_out_searches(record):
    """Each search's held-out flatness, computed afresh from the per-example lists."""
    base = np.asarray(record["per_example"]["test_robust_loss"][EXAMPLES // 2:])
    return [float(np.mean(np.asarray(w[EXAMPLES // 2:]) - base))
            for w in record["per_example"]["worst_case_robust_loss_searches"]]


def test_overfitting_with_flatness_following_the_gap_holds() -> None:
    rows = _overfitting("adversarial")
    result = overfitting_and_flatness(rows)
    assert result["minimum_epoch"] == 4 and result["last_epoch"] == 10 and result["points"] == 7
    low, last = rows[3], rows[9]
    held_out = slice(EXAMPLES // 2, None)
    assert result["rise"]["estimate"]["value"] == pytest.approx(0.3 + (_noise(10) - _noise(4))[held_out].mean())
    rise = result["rise"]["estimate"]["value"]
    train_change = np.mean(last["per_example"]["train_robust_loss"]) - np.mean(low["per_example"]["train_robust_loss"])
    assert result["gap"]["estimate"]["value"] == pytest.approx(rise - train_change)
    # the unit is the search: the mean over the searches of the last 3 epochs minus that over the minimum's
    end = [v for r in rows[7:] for v in _held_out_searches(r)]
    start = _held_out_searches(low)
    assert result["flatness"]["estimate"]["value"] == pytest.approx(np.mean(end) - np.mean(start))
    assert result["flatness"]["test"].endswith("from epoch 4 to epochs 8–10")
    assert result["flatness"]["margin"] == pytest.approx(result["noise_floor"]) and 0.002 < result["noise_floor"] < 0.01
    assert np.mean(end) - np.mean(start) == pytest.approx(0.0987, abs=0.01)
    assert [result[k]["outcome"] for k in ("rise", "gap", "flatness")] == ["holds"] * 3
    assert result["outcome"] == "holds" and len(result["decided_by"]) == 2  # gap and flatness
    assert result["gap_change"] == pytest.approx(0.3) and result["flatness_change"] == pytest.approx(0.12, abs=0.01)
    # reported, not tested: the correlations over the epochs (average-case flatness is 10 × the true worst-case
    # flatness here, which the searches measure with noise)
    correlations = result["correlations"]
    assert correlations["worst_case_flatness"]["value"] > 0.9 and correlations["average_flatness"]["value"] > 0.9


def test_flatness_falling_while_the_gap_rises_does_not_hold() -> None:
    result = overfitting_and_flatness(_overfitting("adversarial", flatness_sign=-1.0))
    assert result["rise"]["outcome"] == "holds" and result["gap"]["outcome"] == "holds"
    assert result["flatness"]["outcome"] == "does not hold"
    assert result["outcome"] == "does not hold"
    assert [t["test"] for t in result["decided_by"]] == [result["flatness"]["test"]]


def test_without_robust_overfitting_the_claim_is_not_tested() -> None:
    falling = [_record("awp", e, 2.0 - 0.1 * e + _noise(e), gap=0.05 * e, flatness=0.1 - 0.01 * e)
               for e in range(1, 9)]
    result = overfitting_and_flatness(falling)
    assert result["minimum_epoch"] == 8 and result["points"] == 1
    assert result["rise"]["outcome"] == "inconclusive" and result["outcome"] == "inconclusive"
    claim = evaluate(falling, classes=10)["claims"]["overfitting_flatness"]
    assert claim["verdict"] == "inconclusive" and claim["tested_variants"] == []
    assert claim["decided_by"] == [result["rise"]["test"]]


def test_the_minimum_is_chosen_on_the_first_half_and_the_rise_measured_on_the_other() -> None:
    half = EXAMPLES // 2
    levels = {1: (1.0, 1.0), 2: (0.5, 1.0), 3: (1.0, 1.0), 4: (1.0, 0.2)}  # (first half, second half)
    rows = [_record("trades", e, np.r_[np.full(half, a), np.full(half, b)] + _noise(e, 0.01))
            for e, (a, b) in levels.items()]
    result = overfitting_and_flatness(rows)
    assert result["minimum_epoch"] == 2  # where the first half is lowest, not the mean (epoch 4)
    # the second half at epoch 4 (0.2) minus at epoch 2 (1.0): a fall, so no robust overfitting
    assert result["rise"]["estimate"]["value"] == pytest.approx(-0.8, abs=0.01)
    assert result["rise"]["outcome"] == "does not hold" and result["outcome"] == "inconclusive"


def _last(variant, flatness, gap, seed):
    rng = np.random.default_rng(seed)
    test = 1.0 + gap + 0.02 * rng.standard_normal(EXAMPLES)
    return _record(variant, 10, test, train=1.0, flatness=flatness, seed=seed)


def _claim2(last) -> dict:
    records = [r for r in last.values()]
    return evaluate(records, classes=10)["claims"]["ordering"]


def test_the_ordering_across_methods() -> None:
    agree = {v: _last(v, f, g, i) for i, (v, f, g) in
             enumerate([("adversarial", 0.4, 0.6), ("trades", 0.2, 0.3), ("mart", 0.3, 0.45), ("awp", 0.1, 0.1)])}
    images, methods = ordering_tests(agree)
    assert images["estimate"]["value"] == pytest.approx(1.0) and images["outcome"] == "holds"
    assert methods["threshold"] == pytest.approx(0.8) and methods["outcome"] == "holds"
    assert _claim2(agree)["verdict"] == "holds"
    reverse = {v: _last(v, f, g, i) for i, (v, f, g) in
               enumerate([("adversarial", 0.1, 0.6), ("trades", 0.3, 0.3), ("mart", 0.2, 0.45), ("awp", 0.4, 0.1)])}
    images, _ = ordering_tests(reverse)
    assert images["estimate"]["value"] == pytest.approx(-1.0) and images["outcome"] == "does not hold"
    assert _claim2(reverse)["verdict"] == "does not hold"
    # one discordant pair of four methods: clear on these images, but within what 4 methods give by chance
    one_swap = {v: _last(v, f, g, i) for i, (v, f, g) in
                enumerate([("adversarial", 0.4, 0.6), ("trades", 0.3, 0.3), ("mart", 0.2, 0.45), ("awp", 0.1, 0.1)])}
    images, methods = ordering_tests(one_swap)
    assert images["estimate"]["value"] == pytest.approx(0.8) and images["outcome"] == "holds"
    assert methods["outcome"] == "does not hold"
    claim = _claim2(one_swap)
    assert claim["verdict"] == "inconclusive" and claim["decided_by"] == [methods["test"]]
    tied = {v: _last(v, 0.2, 0.3, i) for i, v in enumerate(["adversarial", "trades", "mart"])}
    assert ordering_tests(tied)[0]["outcome"] == "inconclusive"
    two = {v: agree[v] for v in ("adversarial", "awp")}
    assert [t["outcome"] for t in ordering_tests(two)] == ["not evaluated"]
    assert _claim2(two)["verdict"] == "not evaluated"


def test_spearman_uses_average_ranks_and_refuses_nan_and_constants() -> None:
    tied = np.array([1.0, 1.0, 2.0, 3.0])
    other = np.array([4.0, 3.0, 2.0, 1.0])
    assert _spearman(tied, other) == pytest.approx(spearmanr(tied, other).statistic)
    assert _spearman(tied[[1, 0, 2, 3]], other) == pytest.approx(_spearman(tied, other))  # order of ties: no effect
    assert np.isnan(_spearman(np.array([1.0, np.nan, 2.0]), np.array([1.0, 2.0, 3.0])))
    assert np.isnan(_spearman(np.ones(4), other))


@pytest.mark.parametrize("methods", [3, 4, 5, 6])
def test_permutation_threshold_against_enumerated_spearman(methods) -> None:
    base = np.arange(methods)
    rhos = np.array([spearmanr(base, order).statistic for order in itertools.permutations(base)])
    threshold = permutation_threshold(methods)
    assert (rhos > threshold + 1e-9).mean() <= 0.05  # beyond it: at most 5% of orderings
    below = rhos[rhos < threshold - 1e-9]
    assert below.size == 0 or (rhos > below.max() + 1e-9).mean() > 0.05  # the smallest such value
    assert {3: 1.0, 4: 0.8, 5: 0.8}.get(methods, threshold) == pytest.approx(threshold)


def test_awp_and_trades_flatter_than_at() -> None:
    ends = {"adversarial": [_last("adversarial", 0.3, 0.5, 0)], "awp": [_last("awp", 0.1, 0.2, 1)],
            "trades": [_last("trades", 0.3, 0.3, 2)]}
    floors = {v: noise_floor(rows) for v, rows in ends.items()}
    awp, trades = flatter_than_at_tests(ends, floors)
    assert "AT-AWP flatter than regular AT" in awp["test"]
    assert awp["estimate"]["value"] == pytest.approx(0.2, abs=0.02) and awp["outcome"] == "holds"
    assert awp["margin"] == pytest.approx(max(floors["adversarial"], floors["awp"]))
    assert abs(trades["estimate"]["value"]) < 0.02 and trades["outcome"] != "holds"
    assert flatter_than_at_tests({"awp": ends["awp"]}, floors) == []  # nothing to compare with


def test_a_difference_below_the_search_noise_does_not_hold() -> None:
    # 10 searches on each of 3 end epochs, all with the same flatness: a precise null, inside the noise floor
    ends = {v: [_record(v, e, np.ones(EXAMPLES), flatness=0.2, seed=i, searches=10, search_sd=0.002)
                for e in (8, 9, 10)] for i, v in enumerate(("adversarial", "awp"))}
    (awp,) = flatter_than_at_tests(ends, {v: noise_floor(rows) for v, rows in ends.items()})
    assert awp["outcome"] == "does not hold" and abs(awp["estimate"]["value"]) < awp["margin"]


def test_the_noise_floor_is_the_pooled_spread_of_one_search() -> None:
    rows = [_record("adversarial", e, np.ones(EXAMPLES), flatness=0.1, seed=e, searches=4) for e in (1, 2, 3)]
    spreads = [np.var(r["worst_case_searches"], ddof=1) for r in rows]
    assert noise_floor(rows) == pytest.approx(np.sqrt(np.mean(spreads)))
    one = [_record("adversarial", 1, np.ones(EXAMPLES), searches=1)]
    assert np.isnan(noise_floor(one))
    failed = _record("adversarial", 1, np.ones(EXAMPLES), flatness=-0.05)  # the searches found nothing above base
    assert failed["failed_searches"] == 3
    result = overfitting_and_flatness([failed, _record("adversarial", 2, 2 * np.ones(EXAMPLES))])
    assert (result["failed_searches"], result["searches"]) == (3, 6)


def test_evaluate_combines_the_variants() -> None:
    records = [*_overfitting("adversarial"), *_overfitting("mart", flatness_sign=-1.0),
               *[_record("awp", e, 2.0 - 0.1 * e + _noise(e), gap=0.01 * e, flatness=0.05) for e in range(1, 11)]]
    claims = evaluate(records, classes=10)["claims"]
    first = claims["overfitting_flatness"]
    assert first["tested_variants"] == ["adversarial", "mart"]  # AWP does not overfit: it does not test the claim
    assert first["verdict"] == "does not hold"
    assert first["decided_by"] == ["MART: held-out worst-case flatness rises from epoch 4 to epochs 8–10"]
    # over the last 3 epochs AT's flatness is about 0.20 and AWP's 0.05: AWP is flatter
    (awp,) = claims["flatter_than_at"]["tests"]  # AWP only: TRADES was not trained
    assert awp["estimate"]["value"] == pytest.approx(0.15, abs=0.01) and claims["flatter_than_at"]["verdict"] == "holds"
