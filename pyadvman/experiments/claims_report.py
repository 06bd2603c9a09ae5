"""report.md and the figures of the claims experiment: each claim, the measured numbers (those of
metrics.json, formatted by ``report.fmt``), the paper's figure beside them, and the verdict."""

from __future__ import annotations

from pathlib import Path

from pyadvman.experiments.figures import correlation_figure, distance_figure, grid_figure
from pyadvman.experiments.paper_figures import ON_MANIFOLD_SUCCESS_FONTS, paper_on_manifold_success
from pyadvman.experiments.report import fmt, table, verdict
from pyadvman.experiments.study import VARIANT_LABELS

MEASURE_LABELS = {"normalised_residual": "normalised residual ‖δ − Pδ‖/‖δ‖ (kNN)", "angle": "angle ∠(δ, Pδ) in degrees (kNN)",
                  "true_manifold_distance": "distance to the true manifold (L2)",
                  "learned_manifold_distance": "distance to the learned manifold (L2)"}


def _pooled(metrics: dict, kind: str) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for entry in metrics["distances"].values():
        for key, series in entry[kind].items():
            if isinstance(series, list):
                values.setdefault(key, []).extend(series)
    return values


def figures(study, metrics: dict, out: Path) -> dict[str, str]:
    """Writes the PNGs; returns {figure: path relative to the run folder}."""
    records, dataset = metrics["models"], study.cfg.dataset
    paper = ON_MANIFOLD_SUCCESS_FONTS if dataset == "fonts" else None
    written = {}
    regular, on_manifold = _pooled(metrics, "regular"), _pooled(metrics, "on_manifold")
    panels = [(k, MEASURE_LABELS[k]) for k in MEASURE_LABELS if regular.get(k) or on_manifold.get(k)]
    if panels:
        written["claim1"] = distance_figure(regular, on_manifold, panels, out / "claim1_distances.png",
                                            "Claim 1: distance of adversarial examples to the manifold (normal models)")
    written["claim2_3"] = grid_figure(records, [("on_manifold_success_rate", "on-manifold success rate"),
                                                ("test_error", "test error")], out / "claim2_3_on_manifold.png",
                                      "Claims 2 and 3: on-manifold success rate and test error vs N",
                                      paper={"on_manifold_success_rate": paper} if paper else None)
    fit = metrics["claims"]["3"]["fit"]
    if fit is not None:
        written["claim3_fit"] = correlation_figure(records, fit, out / "claim3_correlation.png",
                                                   "Claim 3: on-manifold success rate vs test error (all models)")
    written["claim4"] = grid_figure(records, [("test_error", "test error"), ("robust_accuracy", "robust accuracy")],
                                    out / "claim4_robustness.png",
                                    f"Claim 4: normal vs regular AT (PGD, ε = {study.cfg.epsilon})",
                                    objectives=["normal", "adversarial"])
    return {name: str(path.relative_to(out.parent)) for name, path in written.items()}


def _image(metrics: dict, name: str) -> str:
    path = metrics["figures"].get(name)
    return f"\n![{name}]({path})\n" if path else ""


def _claim1(metrics: dict) -> list[str]:
    claim = metrics["claims"]["1"]
    reg, on = claim["pooled"]["regular"], claim["pooled"]["on_manifold"]
    rows = [["adversarial examples (successful)", reg["examples"], on["examples"]]]
    for measure, label in (("normalised_residual", "median normalised residual ‖δ − Pδ‖/‖δ‖ (kNN, k = 50)"),
                           ("angle", "median angle ∠(δ, Pδ) in degrees (kNN)"),
                           ("residual", "median residual ‖δ − Pδ‖ (kNN)"),
                           ("true_manifold_distance", "median distance to the true manifold"),
                           ("learned_manifold_distance", "median distance to the learned manifold")):
        key = f"median_{measure}"
        if key in reg or key in on:
            rows.append([label, reg.get(key), on.get(key)])
    per_model = [[m["train_size"], m["name"], m["regular"].get("median_normalised_residual"),
                  m["on_manifold"].get("median_normalised_residual"), m["regular"].get("median_angle"),
                  m["on_manifold"].get("median_angle")] for m in claim["per_model"]]
    return ["## Claim 1: regular adversarial examples leave the manifold", "",
            "Successful adversarial examples of the normal models on the first test images, pooled over N:", "",
            table(["measure", "regular (L∞ PGD)", "on-manifold"], rows), "",
            "Per normal model:", "",
            table(["N", "model", "norm. residual regular", "norm. residual on-manifold", "angle regular",
                   "angle on-manifold"], per_model), "",
            ("Paper (docs/papers.md §1, Fig. 2): regular adversarial examples have a large residual and an angle near "
            "90° to the local manifold; on-manifold ones a small residual."), "",
            ("Criterion: the median normalised residual and the median angle of regular adversarial examples both "
            "exceed those of on-manifold adversarial examples."), "", verdict(claim["holds"]), _image(metrics, "claim1")]


def _claim2(metrics: dict, dataset: str) -> list[str]:
    claim = metrics["claims"]["2"]
    rows = [[n, value, fmt(paper_on_manifold_success(dataset, "normal", int(n)))]
            for n, value in claim["on_manifold_success_rate"].items()]
    return ["## Claim 2: on-manifold adversarial examples exist", "",
            table(["N", "on-manifold success rate (normal models)", "paper"], rows), "",
            ("Paper (docs/papers.md §1, FONTS): normal models' on-manifold success rate ~0.95 at N = 500, 0.74 at 2.5k, "
            "0.50 at 10k, 0.44 at 20k."), "",
            (f"Criterion: the on-manifold success rate of normal models is at least {fmt(claim['threshold'], 2)} "
            "at every N."), "", verdict(claim["holds"]), _image(metrics, "claim2_3")]


def _claim3(metrics: dict, dataset: str) -> list[str]:
    claim = metrics["claims"]["3"]
    objective = claim["objective"]
    rows = [[n, v["normal"], v[objective], v[objective] - v["normal"]] for n, v in claim["test_error"].items()]
    success = [[r["train_size"], VARIANT_LABELS.get(r["objective"], r["objective"]), r["seed"], r["test_error"],
                r["on_manifold_success_rate"],
                fmt(paper_on_manifold_success(dataset, r["objective"], r["train_size"]))] for r in metrics["models"]]
    fit = claim["fit"]
    excluded = claim["excluded_from_fit"]
    fit_line = (f"Linear fit of on-manifold success rate on test error over {fit['n']} models: slope "
                f"{fmt(fit['slope'])}, intercept {fmt(fit['intercept'])}, Pearson r = {fmt(fit['pearson_r'])}."
                if fit else "Linear fit: not enough distinct test errors to fit a line.")
    if excluded:
        fit_line += (f" Left out as at chance (test accuracy within 0.05 of {fmt(claim['chance_accuracy'], 2)}): "
                     f"{', '.join(excluded)}.")
    return ["## Claim 3: on-manifold adversarial examples are generalization errors", "",
            f"Test error of normal vs {VARIANT_LABELS.get(objective, objective)} models (mean over seeds):", "",
            table(["N", "normal", VARIANT_LABELS.get(objective, objective), "difference"], rows), "",
            table(["N", "variant", "seed", "test error", "on-manifold success rate", "paper success rate"], success),
            "", fit_line, "",
            ("Paper (docs/papers.md §1): on-manifold adversarial training lowers test error (on-true-manifold AT's "
            "on-manifold success 0.78 / 0.34 / 0.22 / 0.17 at N = 500 / 2.5k / 10k / 20k against normal training's "
            "0.95 / 0.74 / 0.50 / 0.44), and on-manifold success rate correlates with test error."), "",
            (f"Criterion: on-manifold AT has test error at most normal training's at no fewer than half of the N "
            f"values, and Pearson r >= {fmt(claim['min_correlation'], 2)}. Improved at {claim['sizes_improved']} "
            f"of {claim['sizes']} N values."), "", verdict(claim["holds"]), _image(metrics, "claim3_fit")]


def _claim4(metrics: dict, epsilon: float) -> list[str]:
    claim = metrics["claims"]["4"]
    rows = [[n, v["normal_test_error"], v["adversarial_test_error"], v["test_error_penalty"],
             v["normal_robust_accuracy"], v["adversarial_robust_accuracy"]] for n, v in claim["per_size"].items()]
    return ["## Claim 4: regular robustness and generalization are not necessarily contradicting", "",
            table(["N", "test error normal", "test error regular AT", "AT penalty", "robust acc. normal",
                   "robust acc. regular AT"], rows), "",
            f"Robust accuracy: PGD at ε = {epsilon} on the first test images.", "",
            ("Paper (docs/papers.md §1): regular AT buys robustness at little cost in test error given enough data; "
            "robustness has a higher sample complexity than accuracy."), "",
            (f"Criterion: regular AT is more robust than normal training at every N, and its test-error penalty "
            f"at the largest N is at most {fmt(claim['penalty_tolerance'], 2)} or no larger than at the smallest "
            "N."), "", verdict(claim["holds"]), _image(metrics, "claim4")]


def report(study, metrics: dict) -> str:
    """report.md of a claims run (a function of metrics.json and the config)."""
    cfg = study.cfg
    holds = {k: v["holds"] for k, v in metrics["claims"].items()}
    summary = table(["claim", "holds"], [[k, {True: "yes", False: "no", None: "not evaluated"}[v]]
                                         for k, v in holds.items()])
    lines = [f"# The four claims of Stutz et al. (CVPR 2019) on {cfg.dataset}", "",
             (f"Models: {', '.join(VARIANT_LABELS.get(study.objective(v), v) for v in cfg.variants)} × "
             f"N ∈ {list(cfg.train_sizes)} × seeds {list(cfg.seeds)}, {cfg.model} classifier, {cfg.epochs} epochs, "
             f"training attacks {cfg.train_attack_steps} steps; regular attacks L∞ PGD-{cfg.attack_steps} "
             f"ε = {cfg.epsilon}, on-{study.manifold_kind}-manifold attacks η = {cfg.eta}, "
             f"{cfg.attack_restarts} restart(s), first {cfg.attack_examples} test images. "
             f"Run time of this invocation: {metrics['seconds']} s."), "", summary, ""]
    for part in (_claim1(metrics), _claim2(metrics, cfg.dataset), _claim3(metrics, cfg.dataset),
                 _claim4(metrics, cfg.epsilon)):
        lines += part + [""]
    return "\n".join(lines)
