"""The criteria of the four claims of Stutz et al. (CVPR 2019; docs/papers.md §1), each a function of the model
records and distances only (so it can be checked against hand-made records), each fixed before any run and
stated in the report next to the paper's claim. Every number carries a 95% interval and every verdict is
holds / does not hold / inconclusive (pyadvman.experiments.verdicts).

Success rates are the paper's: successful (example, restart) pairs over the pairs whose clean input is
classified correctly, under the paper's attack (the released code's protocol). They measure robustness without
test error in them, which is what claim 4 needs; robust accuracy counts misclassified clean inputs as non-robust.
"""

from __future__ import annotations

import math

from pyadvman.analysis import linear_fit, median
from pyadvman.analysis.uncertainty import (
    CONFIDENCE,
    NOT_MEASURED,
    bootstrap_median,
    difference,
    median_difference,
    pearson_interval,
)
from pyadvman.experiments.estimates import size_estimates
from pyadvman.experiments.records import (
    DISTANCE_MEASURES,
    ON_MANIFOLD_SUCCESS,
    ModelDistances,
    ModelRecord,
    robust_accuracy,
    success_rate,
    test_error,
)
from pyadvman.experiments.study_config import variant_label
from pyadvman.experiments.verdicts import all_of, any_of, at_least_half, compare, verdict_of

CLAIM2_MIN_SUCCESS = 0.10  # on-manifold adversarial examples "exist": normal models fooled on >= 10% of pairs
CLAIM3_MIN_CORRELATION = 0.5  # on-manifold success rate and test error correlate (Pearson r over the models)
CLAIM4_PENALTY_TOLERANCE = 0.01  # regular AT may cost at most 1 point of test error at the largest N
# Models within 5 points of chance accuracy are left out of claim 3's fit: their success rate is measured on the
# few (often one class's) test images they classify correctly.
CHANCE_MARGIN = 0.05

# the distances whose medians are reported (the perturbation's norm is not a distance to the manifold)
REPORTED_MEASURES = tuple(m for m in DISTANCE_MEASURES if m != "perturbation_norm")

CLAIMS = {
    "1": "regular adversarial examples leave the manifold",
    "2": "on-manifold adversarial examples exist",
    "3": "on-manifold adversarial examples are generalization errors, and on-manifold adversarial training "
         "improves generalization",
    "4": "regular robustness and generalization are not necessarily contradicting: robustness needs more data "
         "(a higher sample complexity), and need not cost test accuracy",
}


def _pooled(distances: dict[str, ModelDistances], names: list[str], kind: str, measure: str) -> tuple[list, list]:
    """The values of ``measure`` pooled over the models ``names`` and the test image each was measured on."""
    values, examples = [], []
    for name in names:
        entry = distances[name].of(kind)
        series = entry.values(measure)
        values += series
        examples += (entry.example if entry.example is not None else list(range(len(series)))) if series else []
    return values, examples


def claim1(distances: dict[str, ModelDistances], normal_names: list[str], manifold_kind: str) -> dict:
    """Regular adversarial examples lie farther from the manifold than on-manifold ones: on a dataset with a
    true manifold by the distance to it, everywhere by the kNN normalised residual ‖δ − Pδ‖/‖δ‖ (pooled over
    the normal models' successful examples; the difference of medians must be > 0, its bootstrap interval
    resampling test images, since every model attacks the same ones). The angle, the residual and the distance
    to a learned manifold are reported, not tested (the angle is a function of the normalised residual, arcsin,
    and on-learned-manifold examples lie on the learned manifold by construction)."""
    tested = (["true_manifold_distance"] if manifold_kind == "true" else []) + ["normalised_residual"]
    medians: dict[str, dict] = {}
    for kind in ("regular", "on_manifold"):
        medians[kind] = {}
        for measure in REPORTED_MEASURES:
            values, examples = _pooled(distances, normal_names, kind, measure)
            if values:
                medians[kind][measure] = bootstrap_median(values, clusters=examples).as_dict()
    examples = {kind: sum(distances[n].of(kind).examples for n in normal_names) for kind in ("regular", "on_manifold")}
    tests = []
    for measure in tested:
        (reg, reg_examples), (on, on_examples) = (_pooled(distances, normal_names, kind, measure)
                                                  for kind in ("regular", "on_manifold"))
        difference_ = median_difference(reg, on, a_clusters=reg_examples, b_clusters=on_examples)
        tests.append(compare(f"median {measure.replace('_', ' ')}: regular − on-manifold", difference_, ">", 0.0))
    per_model = [{"name": name, **{kind: {m: median(distances[name].of(kind).values(m))
                                          for m in ("normalised_residual", "angle", "true_manifold_distance",
                                                    "learned_manifold_distance")
                                          if distances[name].of(kind).values(m)}
                                   for kind in ("regular", "on_manifold")}} for name in normal_names]
    verdict = all_of(tests) if normal_names else all_of([])
    return {"tested_measures": tested, "examples": examples, "medians": medians, "per_model": per_model,
            "tests": tests, **verdict_of(verdict)}


def claim2(records: list[ModelRecord]) -> dict:
    """Normal models' on-manifold success rate is substantial, at least CLAIM2_MIN_SUCCESS, at every N."""
    success = size_estimates(records, "normal", ON_MANIFOLD_SUCCESS)
    tests = [compare(f"N = {n}: on-manifold success rate of normal models", e, ">", CLAIM2_MIN_SUCCESS)
             for n, e in success.items()]
    return {"on_manifold_success_rate": {str(n): e.as_dict() for n, e in success.items()},
            "threshold": CLAIM2_MIN_SUCCESS, "tests": tests, **verdict_of(all_of(tests))}


def claim3(records: list[ModelRecord], manifold_kind: str, num_classes: int) -> dict:
    """(a) On-manifold AT does not raise test error: it lowers it (the interval of the difference to normal
    training lies below 0) at at least half of the N values; (b) the on-manifold success rate correlates with
    test error across the models above chance (Pearson r with its Fisher interval above CLAIM3_MIN_CORRELATION).
    The reconstruction control, where trained, is compared in ``control`` (reported, not tested)."""
    objective = f"on_{manifold_kind}_manifold"
    label = variant_label(objective)
    normal = size_estimates(records, "normal", test_error)
    on = size_estimates(records, objective, test_error)
    sizes = [n for n in normal if n in on]
    lower = [dict(compare(f"N = {n}: test error, {label} − normal", difference(on[n], normal[n]), "<", 0.0),
                  part="a") for n in sizes]
    part_a = at_least_half(lower)
    chance = 1 / num_classes
    excluded = {r.name: "at chance (test accuracy within "
                f"{CHANCE_MARGIN:g} of {chance:g})" for r in records if r.test_accuracy <= chance + CHANCE_MARGIN}
    excluded.update({r.name: "no correctly classified on-manifold example (no success rate)" for r in records
                     if r.name not in excluded and math.isnan(ON_MANIFOLD_SUCCESS(r).value)})
    fitted = [r for r in records if r.name not in excluded]
    try:
        fit = linear_fit([r.test_error for r in fitted], [ON_MANIFOLD_SUCCESS(r).value for r in fitted])
        r_estimate = pearson_interval(fit.pearson_r, fit.n)
        fit_record = {**fit.as_dict(), "pearson_interval": r_estimate.as_dict()}
    except ValueError:
        fit_record, r_estimate = None, NOT_MEASURED
    correlation = dict(compare("Pearson r of on-manifold success rate and test error (models above chance)",
                               r_estimate, ">", CLAIM3_MIN_CORRELATION), part="b")
    control = size_estimates(records, "reconstruction", test_error)
    verdict = all_of([part_a, correlation]) if sizes else all_of([])
    return {"objective": objective,
            "test_error": {str(n): {"normal": normal[n].as_dict(), objective: on[n].as_dict()} for n in sizes},
            "control": {str(n): {"reconstruction": control[n].as_dict(),
                                 f"{objective} − reconstruction": difference(on[n], control[n]).as_dict(),
                                 "reconstruction − normal": difference(control[n], normal[n]).as_dict()}
                        for n in sizes if n in control},
            "part_a": part_a["outcome"], "part_b": correlation["outcome"], "fit": fit_record,
            "excluded_from_fit": excluded, "chance_accuracy": chance, "min_correlation": CLAIM3_MIN_CORRELATION,
            "tests": [*lower, correlation], **verdict_of(verdict)}


def _robustness_needs_data(records: list[ModelRecord], sizes: list[int], attack: str) -> list[dict]:
    """Claim 4 (a) under ``attack``: regular AT's success rate falls from the smallest to the largest N and is
    below normal training's at the largest N."""
    rate = success_rate(attack)
    at, normal = size_estimates(records, "adversarial", rate), size_estimates(records, "normal", rate)
    small, large = sizes[0], sizes[-1]
    return [dict(compare(f"regular AT's success rate, N = {large} − N = {small}", difference(at[large], at[small]),
                         "<", 0.0), part="a"),
            dict(compare(f"N = {large}: success rate, regular AT − normal", difference(at[large], normal[large]),
                         "<", 0.0), part="a")]


def claim4(records: list[ModelRecord], strong_attacks: tuple[str, ...] = ("strong_pgd", "apgd")) -> dict:
    """(a) Robustness needs data: regular AT's success rate (the paper's attack) falls as N grows (lower at the
    largest N than at the smallest) and is below normal training's at the largest N. (b) Robustness need not
    cost accuracy: regular AT's test-error penalty at the largest N is at most CLAIM4_PENALTY_TOLERANCE, or
    smaller than its largest penalty at a smaller N: smaller than the penalty at some smaller N, each of those
    comparisons with a Bonferroni-corrected interval (1 − 0.05/m for m smaller sizes), since the largest is not
    known beforehand. Part (a) is also computed with the strong attacks and reported beside (``strong``)."""
    normal = size_estimates(records, "normal", test_error)
    at = size_estimates(records, "adversarial", test_error)
    sizes = [n for n in normal if n in at]
    if not sizes:
        return {"per_size": {}, "tests": [], "strong": {}, **verdict_of(all_of([]))}
    penalty = {n: difference(at[n], normal[n]) for n in sizes}
    large = sizes[-1]
    needs_data = _robustness_needs_data(records, sizes, "regular") if len(sizes) > 1 else []
    part_a = all_of(needs_data)
    costs = [dict(compare(f"N = {large}: test-error penalty of regular AT", penalty[large], "<",
                          CLAIM4_PENALTY_TOLERANCE), part="b")]
    smaller = sizes[:-1]
    if smaller:
        confidence = 1 - (1 - CONFIDENCE) / len(smaller)
        corrected = {n: difference(*(size_estimates(records, o, test_error, confidence)[n]
                                     for o in ("adversarial", "normal"))) for n in sizes}
        below = [dict(compare(f"penalty at N = {large} − penalty at N = {n}", difference(corrected[large],
                                                                                      corrected[n]), "<", 0.0,
                              confidence=confidence), part="b") for n in smaller]
        costs.append({**any_of(below), "tests": below})
    part_b = any_of(costs)
    strong = {attack: all_of(_robustness_needs_data(records, sizes, attack))["outcome"]
              for attack in strong_attacks if len(sizes) > 1 and any(attack in r.attacks() for r in records)}
    rates = {f"{objective}_{attack}_{name}": size_estimates(records, objective, measure(attack))
             for attack in ("regular", *strong_attacks) for objective in ("normal", "adversarial")
             for name, measure in (("success_rate", success_rate), ("robust_accuracy", robust_accuracy))}
    rows = {str(n): {"normal_test_error": normal[n].as_dict(), "adversarial_test_error": at[n].as_dict(),
                     "test_error_penalty": penalty[n].as_dict(),
                     **{key: by_size.get(n, NOT_MEASURED).as_dict() for key, by_size in rates.items()}}
            for n in sizes}
    tests = needs_data + [t for item in costs for t in item.get("tests", [item])]
    return {"per_size": rows, "part_a": part_a["outcome"], "part_b": part_b["outcome"],
            "penalty_tolerance": CLAIM4_PENALTY_TOLERANCE, "tests": tests, "strong": strong,
            **verdict_of(all_of([part_a, part_b]))}


def evaluate_claims(records: list[ModelRecord], distances: dict[str, ModelDistances], manifold_kind: str,
                    num_classes: int) -> dict:
    """The evidence and verdict of each claim ("1" … "4") from the model records and the normal models'
    distances (``pyadvman.experiments.claims.measure_distances``)."""
    normal_names = [r.name for r in records if r.objective == "normal" and r.name in distances]
    claims = {"1": claim1(distances, normal_names, manifold_kind), "2": claim2(records),
              "3": claim3(records, manifold_kind, num_classes), "4": claim4(records)}
    for key, claim in claims.items():
        claim["claim"] = CLAIMS[key]
    return claims


__all__ = ["CHANCE_MARGIN", "CLAIM2_MIN_SUCCESS", "CLAIM3_MIN_CORRELATION", "CLAIM4_PENALTY_TOLERANCE", "CLAIMS",
           "REPORTED_MEASURES", "claim1", "claim2", "claim3", "claim4", "evaluate_claims"]
