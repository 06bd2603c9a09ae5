"""Each claim's criterion against hand-made model records whose answer is known: one set where it holds, one
where it does not (including an effect measured precisely at zero), one where the uncertainty cannot tell."""

from __future__ import annotations

import numpy as np
import pytest

from pyadvman.analysis import within_group_correlation
from pyadvman.analysis.uncertainty import Estimate, pearson_interval
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
    compare,
)


def _counts(examples: int, correct: int, success_rate: float, restarts: int = 5) -> dict:
    successful = round(success_rate * correct * restarts)
    return {"examples": examples, "restarts": restarts, "clean_correct": correct, "successful_pairs": successful,
            "robust": round(correct * (1 - success_rate)), "clean_accuracy": correct / examples,
            "success_rate": successful / (correct * restarts) if correct else float("nan"),
            "robust_accuracy": correct * (1 - success_rate) / examples}


def record(objective: str, n: int, *, test_error: float, test_examples: int = 4000, regular: float = 0.9,
           on_manifold: float = 0.5, correct: int = 400, seed: int = 0, pgd: float | None = None,
           strong_on: float | None = None) -> ModelRecord:
    """A model record; the strong attacks (signed PGD and APGD-CE alike: ``pgd``, default regular + 0.05; on the
    manifold ``strong_on``, default on_manifold + 0.05) on the same examples."""
    pgd = min(1.0, regular + 0.05) if pgd is None else pgd
    strong_on = min(1.0, on_manifold + 0.05) if strong_on is None else strong_on
    return ModelRecord.from_dict({
        "name": f"{objective}-n{n}-seed{seed}", "variant": objective, "objective": objective, "train_size": n,
        "seed": seed, "epochs": 1, "test_examples": test_examples, "test_error": test_error,
        "test_accuracy": 1 - test_error,
        "attacks": {"regular": _counts(500, correct, regular), "on_manifold": _counts(1250, correct, on_manifold),
                    "strong_pgd": _counts(500, correct, pgd), "apgd": _counts(500, correct, pgd),
                    "strong_on_manifold": _counts(500, correct, strong_on)}})


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


def test_a_test_holds_beyond_its_margin_and_a_precise_null_does_not_hold() -> None:
    assert compare("x", Estimate(0.05, 0.03, 0.07), ">", 0.0, margin=0.01)["outcome"] == HOLDS
    assert compare("x", Estimate(0.0, -0.002, 0.002), ">", 0.0, margin=0.01)["outcome"] == FAILS  # precise null
    # without a margin a null is only inconclusive: it fails only when the whole interval is on the wrong side
    assert compare("x", Estimate(0.0, -0.002, 0.002), ">", 0.0)["outcome"] == INCONCLUSIVE
    assert compare("x", Estimate(0.012, 0.005, 0.02), ">", 0.0, margin=0.01)["outcome"] == INCONCLUSIVE
    assert compare("x", Estimate(-0.5, -0.6, -0.4), ">", 0.0, margin=0.01)["outcome"] == FAILS  # the wrong side
    assert compare("x", Estimate(-0.05, -0.07, -0.03), "<", 0.0, margin=0.01)["outcome"] == HOLDS
    assert compare("x", Estimate(-0.005, -0.009, -0.001), "<", 0.0, margin=0.01)["outcome"] == FAILS
    test = compare("x", Estimate(0.05, 0.03, 0.07), ">", 0.0, margin=0.01)
    assert (test["threshold"], test["margin"]) == (0.0, 0.01)
    with pytest.raises(ValueError, match="margin must be >= 0"):
        compare("x", Estimate(0.1, 0.0, 0.2), ">", 0.0, margin=-0.1)


def _entry(values: np.ndarray, true=None) -> dict:
    entry = {"examples": len(values), "normalised_residual": values.tolist(),
             "angle": np.degrees(np.arcsin(np.clip(values, 0, 1))).tolist()}
    if true is not None:
        entry["true_manifold_distance"] = true.tolist()
    return entry


def _distances(regular: np.ndarray, on: np.ndarray, true_regular=None, true_on=None, noise=None) -> dict:
    entry = {"regular": _entry(regular, true_regular), "on_manifold": _entry(on, true_on)}
    if noise is not None:
        entry["sign_noise"] = entry["gaussian_noise"] = _entry(noise, true_regular)
    return {"normal-n500-seed0": ModelDistances.from_dict(entry)}


def test_claim1_tests_the_true_manifold_distance_and_the_normalised_residual_beyond_their_margins() -> None:
    rng = np.random.default_rng(0)
    far, near = rng.uniform(0.8, 0.95, 200), rng.uniform(0.2, 0.4, 200)
    names = ["normal-n500-seed0"]
    holds = claim1(_distances(far, near, rng.uniform(4, 6, 200), rng.uniform(0, 0.1, 200)), names, "true", 784)
    assert holds["verdict"] == HOLDS and [t["outcome"] for t in holds["tests"]] == [HOLDS, HOLDS]
    assert holds["tested_measures"] == ["true_manifold_distance", "normalised_residual"]
    assert holds["margins"] == {"true_manifold_distance": pytest.approx(28 / 255), "normalised_residual": 0.05}
    # regular examples farther by kNN but not from the true manifold: the true distance decides
    fails = claim1(_distances(far, near, rng.uniform(0, 0.1, 200), rng.uniform(4, 6, 200)), names, "true", 784)
    assert fails["verdict"] == FAILS and fails["decided_by"] == ["median true manifold distance: regular − on-manifold"]
    # both kinds equally far, measured on many images: a precise null, which does not hold
    same = rng.uniform(0.5, 0.52, 2000)
    null = claim1(_distances(same, same + rng.normal(0, 1e-4, 2000)), names, "learned", 784)
    assert null["verdict"] == FAILS
    unclear = claim1(_distances(rng.uniform(0.3, 0.9, 6), rng.uniform(0.3, 0.9, 6)), names, "learned", 784)
    assert unclear["verdict"] == INCONCLUSIVE and unclear["tested_measures"] == ["normalised_residual"]
    assert "angle" in unclear["medians"]["regular"]  # reported, not tested


def test_claim1_reports_the_null_control_beside_without_deciding() -> None:
    rng = np.random.default_rng(1)
    far, near = rng.uniform(0.8, 0.95, 300), rng.uniform(0.2, 0.4, 300)
    noisier = rng.uniform(0.95, 0.99, 300)  # noise of the same size leaves the manifold farther still
    result = claim1(_distances(far, near, noise=noisier), ["normal-n500-seed0"], "learned", 784)
    assert result["verdict"] == HOLDS  # decided by regular vs on-manifold only
    assert [t["test"] for t in result["null_control"]] == [
        "median normalised residual: regular − uniform sign noise at ε",
        "median normalised residual: regular − Gaussian noise at the L2 norm"]
    assert all(t["outcome"] == FAILS for t in result["null_control"])
    assert set(result["medians"]) == {"regular", "on_manifold", "sign_noise", "gaussian_noise"}


def test_claim2_is_existence_above_its_margin_at_every_n_under_each_protocol() -> None:
    holds = claim2([record("normal", n, test_error=0.2, on_manifold=0.05) for n in (500, 2500)])
    assert holds["verdict"] == HOLDS and holds["protocol"] == "strong"
    assert holds["protocols"]["paper"]["verdict"] == HOLDS  # 5% is small, and it exists
    # the paper's attack finds none where the strong one finds them: judged by the strong protocol
    weak = claim2([record("normal", n, test_error=0.2, on_manifold=0.0, strong_on=0.3) for n in (500, 2500)])
    assert weak["protocols"]["paper"]["verdict"] == FAILS and weak["verdict"] == HOLDS
    # none found by either attack, on 400 correctly classified images at each N: precisely absent
    none = claim2([record("normal", n, test_error=0.2, on_manifold=0.0, strong_on=0.0) for n in (500, 2500)])
    assert none["verdict"] == FAILS and none["protocols"]["strong"]["success_rate"]["500"]["high"] < 0.01
    unclear = claim2([record("normal", 500, test_error=0.2, on_manifold=0.02, strong_on=0.02, correct=40)])
    assert unclear["verdict"] == INCONCLUSIVE


def test_claim2_takes_the_seeds_of_a_size_as_one_estimate() -> None:
    result = claim2([record("normal", 500, test_error=0.2, on_manifold=rate, seed=seed)
                     for seed, rate in enumerate((0.2, 0.4, 0.3))])
    rate = result["protocols"]["paper"]["success_rate"]["500"]
    assert rate["value"] == pytest.approx(0.3) and len(result["protocols"]["paper"]["tests"]) == 1


def _grid(success_of, sizes=(500, 1000, 2500, 5000, 10000), seeds=(0, 1, 2), on_errors=None,
          test_examples: int = 4000) -> list:
    """Normal, regular AT, Madry AT and on-true-manifold AT at each N and seed; test error falls with N (and
    differs by variant), the on-manifold success rate is ``success_of(N, test error, variant index, seed)``."""
    rng = np.random.default_rng(0)
    records = []
    for i, n in enumerate(sizes):
        base = 0.45 - 0.08 * i
        for v, objective in enumerate(("normal", "adversarial", "madry", "on_true_manifold")):
            for seed in seeds:
                error = base + (0.03, 0.06, 0.09, -0.03)[v] + rng.normal(0, 0.002)
                if on_errors is not None and objective == "on_true_manifold":
                    error = on_errors[i]
                records.append(record(objective, n, test_error=error, on_manifold=success_of(n, error, v, seed),
                                      seed=seed, test_examples=test_examples))
    return records


def test_claim3b_is_the_association_within_n_over_cell_means() -> None:
    # success tracks test error within each N: the within-N correlation is near 1
    within = claim3(_grid(lambda n, error, v, seed: min(1.0, 0.1 + error)), "true", 10)
    paper = within["protocols"]["paper"]
    assert paper["part_b"] == HOLDS and paper["association"]["r"] > 0.95
    assert paper["association"]["n"] == 20 and paper["association"]["groups"] == 5  # 20 cells, not 60 models
    assert all(cell["seeds"] == 3 for cell in paper["cells"])


def test_claim3b_is_not_made_by_n_driving_both_variables() -> None:
    # success rate set by N alone (plus noise unrelated to test error); test error falls with N: across the grid
    # the two correlate strongly, within N they do not
    rng = np.random.default_rng(3)
    rates = {n: 0.8 - 0.1 * i for i, n in enumerate((500, 1000, 2500, 5000, 10000))}
    records = _grid(lambda n, error, v, seed: float(np.clip(rates[n] + rng.normal(0, 0.03), 0, 1)))
    result = claim3(records, "true", 10)
    # pooled over the 60 models, the Fisher interval of r clears 0.5: the old criterion held by pseudo-replication
    assert pearson_interval(result["fit"]["pearson_r"], result["fit"]["n"]).low > 0.5
    assert result["protocols"]["paper"]["part_b"] in (INCONCLUSIVE, FAILS)
    assert result["protocols"]["strong"]["part_b"] in (INCONCLUSIVE, FAILS)


def test_claim3a_asks_lower_test_error_beyond_the_margin_at_half_the_sizes() -> None:
    sizes = (500, 2500, 10000)
    success = lambda n, error, v, seed: min(1.0, 0.1 + error)  # noqa: E731
    holds = claim3(_grid(success, sizes, on_errors=[0.30, 0.40, 0.05]), "true", 10)
    assert holds["part_a"] == HOLDS
    assert "N = 2500: test error, on-true-manifold AT − normal" not in holds["decided_by"]  # higher there
    # equal to normal training's test error, on 200,000 test images: a precise null at every N, which does not
    # hold; on 4,000 images the same null is inconclusive (the interval reaches past the 1-point margin)
    normal = {n: np.mean([r.test_error for r in _grid(success, sizes) if r.objective == "normal" and r.train_size == n])
              for n in sizes}
    null = claim3(_grid(success, sizes, on_errors=[normal[n] for n in sizes], test_examples=200_000), "true", 10)
    assert null["part_a"] == FAILS and null["verdict"] == FAILS
    assert claim3(_grid(success, sizes, on_errors=[normal[n] for n in sizes]), "true", 10)["part_a"] == INCONCLUSIVE
    worse = claim3(_grid(success, sizes, on_errors=[0.60, 0.55, 0.45]), "true", 10)  # higher at every N
    assert worse["part_a"] == FAILS


def test_claim3_leaves_chance_cells_out_of_the_association() -> None:
    records = _grid(lambda n, error, v, seed: min(1.0, 0.1 + error), (500, 2500, 10000))
    records += [record("normal", 250, test_error=0.88, on_manifold=0.0)]
    records += [record("adversarial", 250, test_error=0.5, correct=0)]  # no correctly classified example
    excluded = claim3(records, "true", 10)["protocols"]["paper"]["excluded"]
    assert "at chance" in excluded["normal-n250"] and "no success rate" in excluded["adversarial-n250"]


def _claim4_records(robust_success: dict[str, list[float]], penalties: dict[str, list[float]],
                    strong: dict[str, list[float]] | None = None, test_examples: int = 10000,
                    correct: int = 400) -> list:
    """Normal and robust models at three N: each robust variant's success rate under the paper's attack
    (``robust_success``) and the strong ones (``strong``, default 0.97), and its test-error penalty."""
    records = []
    for i, n in enumerate((500, 2500, 10000)):
        records.append(record("normal", n, test_error=0.10, regular=1.0, pgd=1.0, test_examples=test_examples,
                              correct=correct))
        for variant, successes in robust_success.items():
            records.append(record(variant, n, test_error=0.10 + penalties[variant][i], regular=successes[i],
                                  pgd=(strong or {}).get(variant, [0.97] * 3)[i], test_examples=test_examples,
                                  correct=correct))
    return records


def test_claim4_holds_for_some_robust_variant_and_says_which() -> None:
    falling = [0.9, 0.6, 0.3]
    result = claim4(_claim4_records({"adversarial": falling, "madry": falling},
                                    {"adversarial": [0.05, 0.06, 0.09], "madry": [0.08, 0.05, 0.005]},
                                    strong={"adversarial": [1.0, 1.0, 1.0], "madry": [0.9, 0.6, 0.3]}))
    strong = result["protocols"]["strong"]
    assert strong["attack"] == "apgd" and strong["verdict"] == HOLDS and strong["holds_for"] == ["madry"]
    assert strong["variants"]["adversarial"]["part_a"] == FAILS  # no robustness under APGD at any N: a null
    assert strong["variants"]["adversarial"]["part_b"] == FAILS  # its penalty grows
    assert strong["variants"]["madry"]["reaches_margin"]["outcome"] == INCONCLUSIVE  # 0.5 points of 10,000 images
    assert result["verdict"] == HOLDS and result["protocol"] == "strong"
    assert all(name.startswith("Madry AT") for name in result["decided_by"])


def test_claim4_under_the_strong_attack_sees_robustness_the_weak_one_invents() -> None:
    result = claim4(_claim4_records({"adversarial": [0.9, 0.6, 0.3]}, {"adversarial": [0.08, 0.05, 0.005]},
                                    strong={"adversarial": [1.0, 1.0, 1.0]}))
    assert result["protocols"]["paper"]["verdict"] == HOLDS
    assert result["protocols"]["strong"]["verdict"] == FAILS and result["verdict"] == FAILS
    rising_penalty = claim4(_claim4_records({"madry": [0.9, 0.6, 0.3]}, {"madry": [0.01, 0.03, 0.08]},
                                            strong={"madry": [0.9, 0.6, 0.3]}))
    assert rising_penalty["verdict"] == FAILS
    unclear = claim4(_claim4_records({"madry": [0.6, 0.55, 0.5]}, {"madry": [0.05, 0.05, 0.04]},
                                     strong={"madry": [0.6, 0.55, 0.5]}, test_examples=300, correct=30))
    assert unclear["verdict"] == INCONCLUSIVE


def test_claims_without_their_variants_are_not_evaluated() -> None:
    only_normal = [record("normal", 500, test_error=0.2)]
    assert claim3(only_normal, "true", 10)["verdict"] == NOT_EVALUATED
    assert claim4(only_normal)["verdict"] == NOT_EVALUATED
    assert claim1({}, [], "true", 784)["verdict"] == NOT_EVALUATED


def test_within_group_correlation_is_the_partial_correlation_given_the_groups() -> None:
    rng = np.random.default_rng(4)
    groups = np.repeat([0, 1, 2, 3], 6)
    x = groups * 2.0 + rng.normal(size=24)
    y = groups * -3.0 + 0.5 * x + rng.normal(size=24)
    dummies = np.eye(4)[groups]  # independent reference: residuals of least squares on the group dummies
    rx = x - dummies @ np.linalg.lstsq(dummies, x, rcond=None)[0]
    ry = y - dummies @ np.linalg.lstsq(dummies, y, rcond=None)[0]
    result = within_group_correlation(x, y, groups)
    assert result.r == pytest.approx(np.corrcoef(rx, ry)[0, 1]) and (result.n, result.groups) == (24, 4)
    single = within_group_correlation([1.0, 2.0, 3.0], [1.0, 2.0, 5.0], [0, 0, 1])  # a group of one is left out
    assert (single.n, single.groups) == (2, 1)
    with pytest.raises(ValueError, match="one length"):
        within_group_correlation([1.0], [1.0, 2.0], [0, 0])


@pytest.mark.parametrize("relation", ["<=", "=="])
def test_compare_refuses_other_relations(relation) -> None:
    with pytest.raises(ValueError, match="relation must be '>' or '<'"):
        compare("x", Estimate(0.1, 0.0, 0.2), relation, 0.0)
