"""Each claim's criterion against hand-made model records whose answer is known: one set where it holds, one
where it does not, one where the uncertainty cannot tell."""

from __future__ import annotations

import numpy as np
import pytest

from pyadvman.experiments.claims_criteria import claim1, claim2, claim3, claim4
from pyadvman.experiments.records import ModelDistances, ModelRecord
from pyadvman.experiments.verdicts import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_EVALUATED,
    all_of,
    any_of,
    at_least_half,
)


def _counts(examples: int, correct: int, success_rate: float, restarts: int = 5) -> dict:
    successful = round(success_rate * correct * restarts)
    return {"examples": examples, "restarts": restarts, "clean_correct": correct, "successful_pairs": successful,
            "robust": round(correct * (1 - success_rate)), "clean_accuracy": correct / examples,
            "success_rate": successful / (correct * restarts) if correct else float("nan"),
            "robust_accuracy": correct * (1 - success_rate) / examples}


def record(objective: str, n: int, *, test_error: float, test_examples: int = 4000, regular: float = 0.9,
           on_manifold: float = 0.5, correct: int = 400, seed: int = 0, pgd: float | None = None) -> ModelRecord:
    return ModelRecord.from_dict({
        "name": f"{objective}-n{n}-seed{seed}", "variant": objective, "objective": objective, "train_size": n,
        "seed": seed, "epochs": 1, "test_examples": test_examples, "test_error": test_error,
        "test_accuracy": 1 - test_error,
        "attacks": {"regular": _counts(500, correct, regular), "on_manifold": _counts(1250, correct, on_manifold),
                    "strong_pgd": _counts(500, correct, min(1.0, regular + 0.05) if pgd is None else pgd)}})


def _tests(*outcomes: str) -> list[dict]:
    return [{"test": f"t{i}", "outcome": o} for i, o in enumerate(outcomes)]


def _decided(part: dict) -> tuple[str, list[str]]:
    return part["outcome"], [t["test"] for t in part["decided_by"]]


def test_three_valued_combinations_name_the_tests_that_decided() -> None:
    assert _decided(all_of(_tests(HOLDS, HOLDS))) == (HOLDS, ["t0", "t1"])
    assert _decided(all_of(_tests(HOLDS, INCONCLUSIVE))) == (INCONCLUSIVE, ["t1"])
    assert _decided(all_of(_tests(INCONCLUSIVE, FAILS, NOT_EVALUATED))) == (FAILS, ["t1"])  # a failure decides
    assert _decided(all_of([])) == (NOT_EVALUATED, [])
    assert _decided(any_of(_tests(FAILS, HOLDS))) == (HOLDS, ["t1"])
    assert _decided(any_of(_tests(FAILS, INCONCLUSIVE))) == (INCONCLUSIVE, ["t1"])
    assert _decided(any_of(_tests(FAILS, FAILS))) == (FAILS, ["t0", "t1"])
    assert _decided(at_least_half(_tests(HOLDS, FAILS))) == (HOLDS, ["t0"])
    assert _decided(at_least_half(_tests(HOLDS, FAILS, FAILS))) == (FAILS, ["t1", "t2"])
    assert _decided(at_least_half(_tests(HOLDS, FAILS, INCONCLUSIVE))) == (INCONCLUSIVE, ["t2"])
    # parts nest: a claim that fails on part (b) is decided by (b)'s test, not by (a)'s that held
    part_a = at_least_half(_tests(HOLDS, FAILS, HOLDS))
    assert _decided(all_of([part_a, {"test": "r", "outcome": FAILS}])) == (FAILS, ["r"])


def _distances(regular: np.ndarray, on: np.ndarray, true_regular=None, true_on=None) -> dict:
    entry = {"regular": {"examples": len(regular), "normalised_residual": regular.tolist(),
                         "angle": np.degrees(np.arcsin(np.clip(regular, 0, 1))).tolist()},
             "on_manifold": {"examples": len(on), "normalised_residual": on.tolist(),
                             "angle": np.degrees(np.arcsin(np.clip(on, 0, 1))).tolist()}}
    if true_regular is not None:
        entry["regular"]["true_manifold_distance"] = true_regular.tolist()
        entry["on_manifold"]["true_manifold_distance"] = true_on.tolist()
    return {"normal-n500-seed0": ModelDistances.from_dict(entry)}


def test_claim1_tests_the_true_manifold_distance_and_the_normalised_residual() -> None:
    rng = np.random.default_rng(0)
    far, near = rng.uniform(0.8, 0.95, 200), rng.uniform(0.2, 0.4, 200)
    names = ["normal-n500-seed0"]
    holds = claim1(_distances(far, near, rng.uniform(4, 6, 200), rng.uniform(0, 0.1, 200)), names, "true")
    assert holds["verdict"] == HOLDS and [t["outcome"] for t in holds["tests"]] == [HOLDS, HOLDS]
    assert holds["tested_measures"] == ["true_manifold_distance", "normalised_residual"]
    # regular examples farther by kNN but not from the true manifold: the true distance decides
    fails = claim1(_distances(far, near, rng.uniform(0, 0.1, 200), rng.uniform(4, 6, 200)), names, "true")
    assert fails["verdict"] == FAILS and fails["decided_by"] == ["median true manifold distance: regular − on-manifold"]
    unclear = claim1(_distances(rng.uniform(0.3, 0.9, 6), rng.uniform(0.3, 0.9, 6)), names, "learned")
    assert unclear["verdict"] == INCONCLUSIVE and unclear["tested_measures"] == ["normalised_residual"]
    assert "angle" in unclear["medians"]["regular"]  # reported, not tested


def test_claim2_needs_the_whole_interval_above_ten_percent() -> None:
    holds = claim2([record("normal", n, test_error=0.2, on_manifold=0.5) for n in (500, 2500)])
    assert holds["verdict"] == HOLDS
    fails = claim2([record("normal", 500, test_error=0.2, on_manifold=0.5),
                    record("normal", 2500, test_error=0.1, on_manifold=0.02)])
    assert fails["verdict"] == FAILS and [t["outcome"] for t in fails["tests"]] == [HOLDS, FAILS]
    unclear = claim2([record("normal", 500, test_error=0.2, on_manifold=0.14, correct=40)])
    assert unclear["verdict"] == INCONCLUSIVE
    low = unclear["on_manifold_success_rate"]["500"]["low"]
    assert low < 0.10 < unclear["on_manifold_success_rate"]["500"]["high"]


def _claim3_records(on_errors: list[float], test_examples: int = 4000) -> list[dict]:
    records = []
    for n, normal_error, on_error in zip((500, 2500, 10000), (0.40, 0.20, 0.10), on_errors):
        records.append(record("normal", n, test_error=normal_error, on_manifold=0.2 + normal_error,
                              test_examples=test_examples))
        records.append(record("on_true_manifold", n, test_error=on_error, on_manifold=0.2 + on_error,
                              test_examples=test_examples))
        records.append(record("adversarial", n, test_error=normal_error + 0.05, on_manifold=0.25 + normal_error,
                              test_examples=test_examples))
    return records


def test_claim3_asks_lower_test_error_at_half_the_sizes_and_a_correlation() -> None:
    holds = claim3(_claim3_records([0.30, 0.25, 0.05]), "true", 10)  # lower at 2 of 3 sizes, r ≈ 1
    assert holds["part_a"] == HOLDS and holds["part_b"] == HOLDS and holds["verdict"] == HOLDS
    assert holds["fit"]["pearson_r"] > 0.99 and holds["fit"]["n"] == 9
    assert "N = 2500: test error, on-true-manifold AT − normal" not in holds["decided_by"]  # that size is higher
    fails = claim3(_claim3_records([0.50, 0.30, 0.20]), "true", 10)  # higher everywhere
    assert fails["part_a"] == FAILS and fails["verdict"] == FAILS
    unclear = claim3(_claim3_records([0.39, 0.19, 0.11], test_examples=200), "true", 10)
    assert unclear["part_a"] == INCONCLUSIVE and unclear["verdict"] == INCONCLUSIVE


def test_claim3_leaves_chance_models_out_of_the_fit() -> None:
    records = _claim3_records([0.30, 0.25, 0.05]) + [record("normal", 250, test_error=0.88, on_manifold=0.0)]
    unmeasured = record("adversarial", 250, test_error=0.5, correct=0)  # no correctly classified example
    result = claim3(records + [unmeasured], "true", 10)
    assert set(result["excluded_from_fit"]) == {"normal-n250-seed0", "adversarial-n250-seed0"}
    assert "at chance" in result["excluded_from_fit"]["normal-n250-seed0"] and result["fit"]["n"] == 9


def _claim4_records(at_success: list[float], penalties: list[float], test_examples: int = 10000,
                    correct: int = 400) -> list[dict]:
    records = []
    for n, success, penalty in zip((500, 2500, 10000), at_success, penalties):
        records.append(record("normal", n, test_error=0.10, regular=1.0, test_examples=test_examples, correct=correct))
        records.append(record("adversarial", n, test_error=0.10 + penalty, regular=success, pgd=0.97,
                              test_examples=test_examples, correct=correct))
    return records


def test_claim4_robustness_needs_data_and_need_not_cost_accuracy() -> None:
    holds = claim4(_claim4_records([0.9, 0.6, 0.3], [0.08, 0.05, 0.005]))
    assert holds["part_a"] == HOLDS and holds["part_b"] == HOLDS and holds["verdict"] == HOLDS
    # part (b): the penalty at the largest N is not provably <= 0.01, but provably below the one at N = 500 (by a
    # Bonferroni-corrected interval: 97.5% for the two smaller sizes), which decides
    costs = [t for t in holds["tests"] if t["part"] == "b"]
    assert [t["outcome"] for t in costs] == [INCONCLUSIVE, HOLDS, HOLDS]
    assert costs[1]["confidence"] == pytest.approx(0.975) and "penalty at N = 10000 − penalty at N = 500" in holds["decided_by"]
    # the strong attack fools 97% of the pairs at every N: with it, the fall of part (a) is not seen
    assert holds["strong"] == {"strong_pgd": INCONCLUSIVE}
    rising = claim4(_claim4_records([0.3, 0.6, 0.9], [0.08, 0.05, 0.005]))
    assert rising["part_a"] == FAILS and rising["verdict"] == FAILS
    costly = claim4(_claim4_records([0.9, 0.6, 0.3], [0.01, 0.03, 0.08]))
    assert costly["part_b"] == FAILS and costly["verdict"] == FAILS
    unclear = claim4(_claim4_records([0.6, 0.55, 0.5], [0.05, 0.05, 0.04], test_examples=300, correct=30))
    assert unclear["verdict"] == INCONCLUSIVE


def test_claims_without_their_variants_are_not_evaluated() -> None:
    only_normal = [record("normal", 500, test_error=0.2)]
    assert claim3(only_normal, "true", 10)["verdict"] == NOT_EVALUATED
    assert claim4(only_normal)["verdict"] == NOT_EVALUATED
    assert claim1({}, [], "true")["verdict"] == NOT_EVALUATED


@pytest.mark.parametrize("relation", ["<=", "=="])
def test_compare_refuses_other_relations(relation) -> None:
    from pyadvman.analysis.uncertainty import Estimate
    from pyadvman.experiments.verdicts import compare

    with pytest.raises(ValueError, match="relation must be '>' or '<'"):
        compare("x", Estimate(0.1, 0.0, 0.2), relation, 0.0)
