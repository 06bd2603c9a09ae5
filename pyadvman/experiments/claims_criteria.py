"""The criteria of the four claims of Stutz et al. (CVPR 2019; docs/papers.md §1), each a function of the model
records and distances only (so it can be checked against hand-made records), each fixed before any run, stated
in the report next to the paper's claim and justified, margin by margin, in docs/protocol.md ("Criteria and
margins"). Every number carries a 95% interval and every test is a minimum-effect test with an equivalence margin
(pyadvman.experiments.verdicts.compare): holds / does not hold / inconclusive, a precisely measured null does not
hold.

Seeds are the unit: an estimate of one (variant, N) is the mean over its seeds with the t interval over seeds and
the image-level interval added in quadrature (pyadvman.analysis.uncertainty.rate_over_seeds); a correlation is
taken over cell means (one point per (variant, N)), never over the seeds of one cell as if they were models.

Claims 2–4 are judged under two protocols: "paper" (the paper's attacks, the released code's protocol) and
"strong" (APGD-CE off the manifold, signed PGD with restarts on it). The claim's verdict is the strong protocol's
where its attacks ran (a weak attack's success rates are lower bounds, its robustness an upper bound); the paper
protocol's verdict is kept beside it.

Success rates are the paper's: successful (example, restart) pairs over the pairs whose clean input is
classified correctly; robust accuracy counts misclassified clean inputs as non-robust.
"""

from __future__ import annotations

import math

from pyadvman.analysis import linear_fit, median, within_group_correlation
from pyadvman.analysis.uncertainty import (
    NOT_MEASURED,
    bootstrap_median,
    difference,
    median_difference,
    pearson_interval,
)
from pyadvman.experiments.estimates import size_estimates
from pyadvman.experiments.records import (
    ATTACK_LABELS,
    DISTANCE_MEASURES,
    PERTURBATION_KINDS,
    ModelDistances,
    ModelRecord,
    robust_accuracy,
    success_rate,
    test_error,
)
from pyadvman.experiments.study_config import ROBUST_VARIANTS, variant_label
from pyadvman.experiments.verdicts import (
    HOLDS,
    NOT_EVALUATED,
    all_of,
    any_of,
    at_least_half,
    compare,
    verdict_of,
)

# Raised whenever a criterion, a margin or a test changes: metrics.json records it, so a report rendered again
# by later code can tell that its criteria are not the run's.
CRITERIA_VERSION = 2

# The margins, fixed before any run (docs/protocol.md, "Criteria and margins", says why each is what it is).
CLAIM1_RESIDUAL_MARGIN = 0.05  # normalised residual (in [0, 1]): 5% of the perturbation's norm
GREY_LEVEL = 1 / 255  # true-manifold distance: one grey level on every pixel, √D/255 in L2
CLAIM2_EXISTENCE_MARGIN = 0.01  # on-manifold success rate: 1 in 100 (example, restart) pairs
CLAIM3_TEST_ERROR_MARGIN = 0.01  # test-error difference: 1 point
CLAIM3_CORRELATION_MARGIN = 0.3  # within-N Pearson r: Cohen's "medium" association
CLAIM4_ROBUSTNESS_MARGIN = 0.02  # robust-accuracy gain from the smallest to the largest N: 2 points
CLAIM4_PENALTY_MARGIN = 0.01  # AT's test-error penalty and its change with N: 1 point
# Cells within 5 points of chance accuracy are left out of claim 3's correlation: their success rate is measured
# on the few (often one class's) test images they classify correctly.
CHANCE_MARGIN = 0.05

# the measures whose medians are reported (the perturbation's norm too: it tells the kinds' sizes apart)
REPORTED_MEASURES = DISTANCE_MEASURES
NULL_CONTROLS = {"sign_noise": "uniform sign noise at ε", "gaussian_noise": "Gaussian noise at the L2 norm"}

PROTOCOLS = ("paper", "strong")
PROTOCOL_LABELS = {"paper": "the paper's attacks", "strong": "the strong attacks"}

CLAIMS = {
    "1": "regular adversarial examples leave the manifold",
    "2": "on-manifold adversarial examples exist",
    "3": "on-manifold adversarial examples are generalization errors, and on-manifold adversarial training "
         "improves generalization",
    "4": "regular robustness and generalization are not necessarily contradicting: robustness needs more data "
         "(the robust accuracy of a robust model rises with N), and adversarial training's test-error penalty "
         "shrinks with N",
}


def protocol_attacks(records: list[ModelRecord], protocol: str) -> dict[str, str]:
    """The attacks (names of records.ATTACKS) a protocol judges by: {"regular": off the manifold, "on_manifold":
    on it}. "paper": the paper's attacks; "strong": APGD-CE (signed PGD where APGD did not run) and the strong
    on-manifold attack.

    Raises:
        ValueError: a protocol other than those of PROTOCOLS.
    """
    if protocol == "paper":
        return {"regular": "regular", "on_manifold": "on_manifold"}
    if protocol == "strong":
        regular = "apgd" if any(r.apgd is not None for r in records) else "strong_pgd"
        return {"regular": regular, "on_manifold": "strong_on_manifold"}
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


def ran(records: list[ModelRecord], attack: str) -> bool:
    """Whether the attack ``attack`` ran on every model of ``records`` (and there are some)."""
    return bool(records) and all(getattr(r, attack) is not None for r in records)


def judged_under_protocols(per_protocol: dict[str, dict], strong_ran: bool) -> dict:
    """A claim judged under each protocol ({protocol: {"tests", "verdict", "decided_by", ...}}): its verdict is
    the strong protocol's where the strong attacks ran on every model the claim reads (``strong_ran``) and gave
    a verdict, else the paper protocol's; "protocol" names which."""
    chosen = "strong" if strong_ran and per_protocol["strong"]["verdict"] != NOT_EVALUATED else "paper"
    used = per_protocol[chosen]
    return {"protocols": per_protocol, "protocol": chosen, "tests": used["tests"], "verdict": used["verdict"],
            "decided_by": used["decided_by"]}


def _pooled(distances: dict[str, ModelDistances], names: list[str], kind: str, measure: str) -> tuple[list, list]:
    """The values of ``measure`` pooled over the models ``names`` and the test image each was measured on."""
    values, examples = [], []
    for name in names:
        entry = distances[name].of(kind)
        series = entry.values(measure) if entry is not None else []
        values += series
        examples += (entry.example if entry.example is not None else list(range(len(series)))) if series else []
    return values, examples


def _farther(distances: dict[str, ModelDistances], names: list[str], kind: str, than: str, measure: str,
             margin: float, label: str) -> dict:
    """The test: the median ``measure`` of ``kind`` exceeds that of ``than`` by more than ``margin`` (the
    bootstrap interval of the difference of medians, resampling the test images both were measured on)."""
    (a, a_examples), (b, b_examples) = (_pooled(distances, names, k, measure) for k in (kind, than))
    estimate = median_difference(a, b, a_clusters=a_examples, b_clusters=b_examples) if a and b else NOT_MEASURED
    return compare(f"median {measure.replace('_', ' ')}: {label}", estimate, ">", 0.0, margin=margin)


def claim1(distances: dict[str, ModelDistances], normal_names: list[str], manifold_kind: str, pixels: int) -> dict:
    """Regular adversarial examples lie farther from the manifold than on-manifold ones: on a dataset with a
    true manifold by the distance to it (margin √pixels/255: one grey level per pixel), everywhere by the kNN
    normalised residual ‖δ − Pδ‖/‖δ‖ (margin CLAIM1_RESIDUAL_MARGIN), pooled over the normal models' successful
    examples, by the difference of medians with its bootstrap interval resampling test images.

    The null control (reported beside, not deciding): the same measures for uniform sign noise at ε and for
    Gaussian noise at each adversarial example's L2 norm, on the same test images: where noise leaves the
    manifold as far as the adversarial examples do, leaving it is a property of any perturbation of that size.
    The angle is reported, not tested (arcsin of the normalised residual)."""
    margins = {"true_manifold_distance": math.sqrt(pixels) * GREY_LEVEL,
               "normalised_residual": CLAIM1_RESIDUAL_MARGIN}
    tested = (["true_manifold_distance"] if manifold_kind == "true" else []) + ["normalised_residual"]
    kinds = [k for k in PERTURBATION_KINDS if any(distances[n].of(k) is not None for n in normal_names)]
    medians: dict[str, dict] = {}
    for kind in kinds:
        medians[kind] = {}
        for measure in REPORTED_MEASURES:
            values, examples = _pooled(distances, normal_names, kind, measure)
            if values:
                medians[kind][measure] = bootstrap_median(values, clusters=examples).as_dict()
    examples = {kind: sum(distances[n].of(kind).examples for n in normal_names if distances[n].of(kind))
                for kind in kinds}
    tests = [_farther(distances, normal_names, "regular", "on_manifold", m, margins[m], "regular − on-manifold")
             for m in tested]
    # the normalised residual against both noises; a distance (which grows with the norm) only against the noise
    # of the adversarial example's own L2 norm
    null_control = [_farther(distances, normal_names, "regular", kind, m, margins[m], f"regular − {label}")
                    for kind, label in NULL_CONTROLS.items() if kind in kinds for m in tested
                    if m == "normalised_residual" or kind == "gaussian_noise"]
    per_model = [{"name": name, **{kind: {m: median(distances[name].of(kind).values(m))
                                          for m in ("normalised_residual", "angle", "true_manifold_distance",
                                                    "learned_manifold_distance")
                                          if distances[name].of(kind) is not None
                                          and distances[name].of(kind).values(m)}
                                   for kind in kinds}} for name in normal_names]
    verdict = all_of(tests) if normal_names else all_of([])
    return {"tested_measures": tested, "margins": {m: margins[m] for m in tested}, "examples": examples,
            "medians": medians, "per_model": per_model, "tests": tests, "null_control": null_control,
            **verdict_of(verdict)}


def claim2(records: list[ModelRecord]) -> dict:
    """On-manifold adversarial examples exist: under each protocol, the normal models' on-manifold success rate
    exceeds 0 by more than CLAIM2_EXISTENCE_MARGIN at every N (an existence claim; the magnitude is reported)."""
    per_protocol = {}
    for protocol in PROTOCOLS:
        attack = protocol_attacks(records, protocol)["on_manifold"]
        rates = size_estimates(records, "normal", success_rate(attack))
        tests = [compare(f"N = {n}: on-manifold success rate of normal models ({ATTACK_LABELS[attack]})", e, ">",
                         0.0, margin=CLAIM2_EXISTENCE_MARGIN) for n, e in rates.items()]
        per_protocol[protocol] = {"attack": attack, "success_rate": {str(n): e.as_dict() for n, e in rates.items()},
                                  "tests": tests, **verdict_of(all_of(tests))}
    normal = [r for r in records if r.objective == "normal"]
    strong_ran = ran(normal, protocol_attacks(records, "strong")["on_manifold"])
    return {**judged_under_protocols(per_protocol, strong_ran), "margin": CLAIM2_EXISTENCE_MARGIN}


def _cell_means(records: list[ModelRecord], attack: str, num_classes: int) -> tuple[list[dict], dict[str, str]]:
    """One point per (objective, N): the mean over its seeds of test error and of ``attack``'s success rate; and
    the cells left out ({cell: why}): at chance, or with no success rate measured."""
    cells: dict[tuple[str, int], list[ModelRecord]] = {}
    for r in records:
        cells.setdefault((r.objective, r.train_size), []).append(r)
    chance = 1 / num_classes
    points, excluded = [], {}
    for (objective, n), group in cells.items():
        name = f"{objective}-n{n}"
        rates = [success_rate(attack)(r).value for r in group]
        rates = [v for v in rates if not math.isnan(v)]
        accuracy = sum(r.test_accuracy for r in group) / len(group)
        if accuracy <= chance + CHANCE_MARGIN:
            excluded[name] = f"at chance (mean test accuracy within {CHANCE_MARGIN:g} of {chance:g})"
        elif not rates:
            excluded[name] = "no correctly classified on-manifold example (no success rate)"
        else:
            points.append({"cell": name, "objective": objective, "train_size": n, "seeds": len(group),
                           "test_error": sum(r.test_error for r in group) / len(group),
                           "success_rate": sum(rates) / len(rates)})
    return points, excluded


def _within_n_association(records: list[ModelRecord], attack: str, num_classes: int) -> dict:
    """Claim 3 (b) under ``attack``: the on-manifold success rate rises with test error within N (the partial
    correlation given N over the cell means), by more than CLAIM3_CORRELATION_MARGIN."""
    points, excluded = _cell_means(records, attack, num_classes)
    association = within_group_correlation([p["test_error"] for p in points], [p["success_rate"] for p in points],
                                           [p["train_size"] for p in points])
    estimate = pearson_interval(association.r, association.n, covariates=max(association.groups - 1, 0))
    test = dict(compare(f"within-N Pearson r of on-manifold success rate ({ATTACK_LABELS[attack]}) and test error "
                        "(cell means over seeds)", estimate, ">", 0.0, margin=CLAIM3_CORRELATION_MARGIN), part="b")
    return {"association_test": test, "cells": points, "excluded": excluded, "association": association.as_dict()}


def claim3(records: list[ModelRecord], manifold_kind: str, num_classes: int) -> dict:
    """(a) On-manifold adversarial training lowers test error by more than CLAIM3_TEST_ERROR_MARGIN (the
    interval of its difference to normal training, over seeds and test images) at at least half of the N values;
    (b) under each protocol, the on-manifold success rate rises with test error within N: the partial correlation
    given N of the cell means (one point per (variant, N), cells above chance) exceeds 0 by more than
    CLAIM3_CORRELATION_MARGIN, its Fisher interval with n − 3 − (groups − 1) degrees of freedom. N drives both
    test error and success rate, so a correlation across N would hold by construction; within N it asks whether
    a model that generalizes worse is also easier to attack on the manifold. A linear fit over all models is
    reported (the paper's Fig. 5), not tested. The reconstruction control, where trained, is reported."""
    objective = f"on_{manifold_kind}_manifold"
    label = variant_label(objective)
    normal = size_estimates(records, "normal", test_error)
    on = size_estimates(records, objective, test_error)
    sizes = [n for n in normal if n in on]
    lower = [dict(compare(f"N = {n}: test error, {label} − normal", difference(on[n], normal[n]), "<", 0.0,
                          margin=CLAIM3_TEST_ERROR_MARGIN), part="a") for n in sizes]
    part_a = at_least_half(lower)
    per_protocol = {}
    for protocol in PROTOCOLS:
        attack = protocol_attacks(records, protocol)["on_manifold"]
        association = _within_n_association(records, attack, num_classes)
        test = association.pop("association_test")
        verdict = all_of([part_a, test]) if sizes else all_of([])
        per_protocol[protocol] = {"attack": attack, **association, "part_a": part_a["outcome"],
                                  "part_b": test["outcome"], "tests": [*lower, test], **verdict_of(verdict)}
    fitted = [r for r in records if not math.isnan(success_rate("on_manifold")(r).value)]
    try:
        fit = linear_fit([r.test_error for r in fitted], [success_rate("on_manifold")(r).value for r in fitted])
        fit_record = fit.as_dict()
    except ValueError:
        fit_record = None
    control = size_estimates(records, "reconstruction", test_error)
    return {"objective": objective,
            "test_error": {str(n): {"normal": normal[n].as_dict(), objective: on[n].as_dict()} for n in sizes},
            "control": {str(n): {"reconstruction": control[n].as_dict(),
                                 f"{objective} − reconstruction": difference(on[n], control[n]).as_dict(),
                                 "reconstruction − normal": difference(control[n], normal[n]).as_dict()}
                        for n in sizes if n in control},
            "part_a": part_a["outcome"], "fit": fit_record, "chance_accuracy": 1 / num_classes,
            "margins": {"test_error": CLAIM3_TEST_ERROR_MARGIN, "correlation": CLAIM3_CORRELATION_MARGIN},
            **judged_under_protocols(per_protocol, ran(records, protocol_attacks(records, "strong")["on_manifold"]))}


def _robust_variant(records: list[ModelRecord], variant: str, attack: str, sizes: list[int]) -> dict:
    """Claim 4 for one robust variant under ``attack``: (a) its robust accuracy rises from the smallest to the
    largest N; (b) its test-error penalty over normal training shrinks from the smallest to the largest N; and,
    reported, whether the penalty at the largest N lies below the margin (non-inferiority)."""
    label = variant_label(variant)
    small, large = sizes[0], sizes[-1]
    robust = size_estimates(records, variant, robust_accuracy(attack))
    errors, normal = size_estimates(records, variant, test_error), size_estimates(records, "normal", test_error)
    penalty = {n: difference(errors[n], normal[n]) for n in (small, large)}
    rises = dict(compare(f"{label}: robust accuracy ({ATTACK_LABELS[attack]}), N = {large} − N = {small}",
                         difference(robust.get(large, NOT_MEASURED), robust.get(small, NOT_MEASURED)), ">", 0.0,
                         margin=CLAIM4_ROBUSTNESS_MARGIN), part="a")
    shrinks = dict(compare(f"{label}: test-error penalty, N = {large} − N = {small}",
                           difference(penalty[large], penalty[small]), "<", 0.0, margin=CLAIM4_PENALTY_MARGIN),
                   part="b")
    reached = compare(f"{label}: test-error penalty at N = {large}", penalty[large], "<", CLAIM4_PENALTY_MARGIN)
    # robust accuracy is bounded by clean accuracy, which rises with N too; the success rate over correctly
    # classified images is robustness without test error in it (reported, not deciding)
    success = size_estimates(records, variant, success_rate(attack))
    falls = compare(f"{label}: success rate ({ATTACK_LABELS[attack]}), N = {large} − N = {small}",
                    difference(success.get(large, NOT_MEASURED), success.get(small, NOT_MEASURED)), "<", 0.0,
                    margin=CLAIM4_ROBUSTNESS_MARGIN)
    return {"part_a": rises["outcome"], "part_b": shrinks["outcome"], "reaches_margin": reached,
            "success_rate_falls": falls, "tests": [rises, shrinks], "outcome": all_of([rises, shrinks])["outcome"]}


def claim4(records: list[ModelRecord]) -> dict:
    """Regular robustness and generalization are not necessarily contradicting, as the paper and the released
    README state it, for a robust variant (ROBUST_VARIANTS: released-protocol AT, Madry AT): (a) robustness needs
    more data: its robust accuracy at the largest N exceeds that at the smallest by more than
    CLAIM4_ROBUSTNESS_MARGIN; (b) its test-error penalty over normal training shrinks: the penalty at the largest
    N is below that at the smallest by more than CLAIM4_PENALTY_MARGIN; whether the penalty at the largest N
    reaches the equivalence margin is reported. The claim is existential: under each protocol it holds when
    (a) and (b) hold for some robust variant, and the report names which."""
    normal = size_estimates(records, "normal", test_error)
    variants = [v for v in ROBUST_VARIANTS if any(r.objective == v for r in records)]
    sizes = sorted(set(normal).intersection(*(size_estimates(records, v, test_error) for v in variants))) \
        if variants else []
    per_protocol = {}
    for protocol in PROTOCOLS:
        attack = protocol_attacks(records, protocol)["regular"]
        if len(sizes) < 2:
            per_protocol[protocol] = {"attack": attack, "variants": {}, "tests": [], **verdict_of(all_of([]))}
            continue
        by_variant = {v: _robust_variant(records, v, attack, sizes) for v in variants}
        verdict = any_of([all_of(r["tests"]) for r in by_variant.values()])
        per_protocol[protocol] = {"attack": attack, "variants": by_variant,
                                  "tests": [t for r in by_variant.values() for t in r["tests"]],
                                  "holds_for": [v for v, r in by_variant.items() if r["outcome"] == HOLDS],
                                  **verdict_of(verdict)}
    measures = {"test_error": test_error,
                **{f"{kind}_{attack}": by for attack in ("regular", "strong_pgd", "apgd")
                   for kind, by in (("robust_accuracy", robust_accuracy(attack)), ("success_rate", success_rate(attack)))}}
    estimates = {(objective, key): size_estimates(records, objective, measure)  # each once, not once per N
                 for objective in ("normal", *variants) for key, measure in measures.items()}
    rows = {str(n): {objective: {key: estimates[objective, key].get(n, NOT_MEASURED).as_dict() for key in measures}
                     for objective in ("normal", *variants)} for n in sizes}
    judged = [r for r in records if r.objective in ("normal", *variants)]
    strong_ran = ran(judged, protocol_attacks(records, "strong")["regular"])
    return {"per_size": rows, "variants": variants,
            "margins": {"robustness": CLAIM4_ROBUSTNESS_MARGIN, "penalty": CLAIM4_PENALTY_MARGIN},
            **judged_under_protocols(per_protocol, strong_ran)}


def evaluate_claims(records: list[ModelRecord], distances: dict[str, ModelDistances], manifold_kind: str,
                    num_classes: int, pixels: int) -> dict:
    """The evidence and verdict of each claim ("1" … "4") from the model records and the normal models'
    distances (``pyadvman.experiments.claims.measure_distances``); ``pixels``: the number of values of one image
    (claim 1's margin on the true-manifold distance)."""
    normal_names = [r.name for r in records if r.objective == "normal" and r.name in distances]
    claims = {"1": claim1(distances, normal_names, manifold_kind, pixels), "2": claim2(records),
              "3": claim3(records, manifold_kind, num_classes), "4": claim4(records)}
    for key, claim in claims.items():
        claim["claim"] = CLAIMS[key]
    return claims


__all__ = ["CHANCE_MARGIN", "CLAIM1_RESIDUAL_MARGIN", "CLAIM2_EXISTENCE_MARGIN", "CLAIM3_CORRELATION_MARGIN",
           "CLAIM3_TEST_ERROR_MARGIN", "CLAIM4_PENALTY_MARGIN", "CLAIM4_ROBUSTNESS_MARGIN", "CLAIMS",
           "CRITERIA_VERSION", "GREY_LEVEL", "PROTOCOLS", "REPORTED_MEASURES", "claim1", "claim2", "claim3",
           "claim4", "evaluate_claims", "judged_under_protocols", "protocol_attacks"]
