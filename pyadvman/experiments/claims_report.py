"""report.md and the figures of the claims experiment: per claim, the paper's claim, the criterion fixed before
the run, the measured numbers with their 95% intervals (those of metrics.json, formatted by ``report.fmt``), the
paper's numbers where it gives them, the tests with their outcomes and the verdict with the numbers that decided
it; then the strong evaluation beside the paper's attack."""

from __future__ import annotations

from pathlib import Path

from pyadvman.analysis.uncertainty import mean_std
from pyadvman.attacks.protocol import RELEASED_EVALUATION, RELEASED_TRAINING
from pyadvman.experiments.claims_criteria import (
    CLAIM2_MIN_SUCCESS,
    CLAIM3_MIN_CORRELATION,
    CLAIM4_PENALTY_TOLERANCE,
)
from pyadvman.experiments.estimates import records_by_size
from pyadvman.experiments.paper_figures import ON_MANIFOLD_SUCCESS_FONTS, paper_on_manifold_success
from pyadvman.experiments.records import (
    ATTACK_LABELS,
    ON_MANIFOLD_SUCCESS,
    ModelDistances,
    ModelRecord,
    clean_accuracy,
    robust_accuracy,
    success_rate,
    test_error,
)
from pyadvman.experiments.report import data_lines, fmt, interval, table, tests_table, verdict_line
from pyadvman.experiments.strong_evaluation import grid_autoattack_section
from pyadvman.experiments.study_config import variant_label
from pyadvman.experiments.study_figures import correlation_figure, distance_figure, grid_figure
from pyadvman.manifolds.vae_gan import vae_gan_config

MEASURE_LABELS = {"normalised_residual": "normalised residual ‖δ − Pδ‖/‖δ‖ (kNN)",
                  "angle": "angle ∠(δ, Pδ) in degrees (kNN)", "residual": "residual ‖δ − Pδ‖ (kNN)",
                  "true_manifold_distance": "distance to the true manifold (L2)",
                  "learned_manifold_distance": "distance to the learned manifold (L2)"}


def _pooled(distances: dict[str, ModelDistances], kind: str) -> dict[str, list[float]]:
    """Each measure's values, pooled over the models (those a measure has)."""
    values: dict[str, list[float]] = {}
    for entry in distances.values():
        for measure in MEASURE_LABELS:
            if entry.of(kind).values(measure):
                values.setdefault(measure, []).extend(entry.of(kind).values(measure))
    return values


def figures(study, metrics: dict, records: list[ModelRecord], distances: dict[str, ModelDistances],
            out: Path) -> dict[str, str]:
    """Writes the PNGs; returns {figure: path relative to the run folder}."""
    cfg = study.cfg
    paper = ON_MANIFOLD_SUCCESS_FONTS if cfg.dataset == "fonts" else None
    written = {}
    regular, on_manifold = _pooled(distances, "regular"), _pooled(distances, "on_manifold")
    panels = [(k, MEASURE_LABELS[k]) for k in MEASURE_LABELS
              if k != "residual" and (regular.get(k) or on_manifold.get(k))]
    if panels:
        written["claim1"] = distance_figure(regular, on_manifold, panels, out / "claim1_distances.png",
                                            "Claim 1: distance of adversarial examples to the manifold (normal models)")
    written["claim2_3"] = grid_figure(records, [(ON_MANIFOLD_SUCCESS, "on-manifold success rate"),
                                                (test_error, "test error")], out / "claim2_3_on_manifold.png",
                                      "Claims 2 and 3: on-manifold success rate and test error vs N (95% intervals)",
                                      paper={"on-manifold success rate": paper} if paper else None)
    fit = metrics["claims"]["3"]["fit"]
    if fit is not None:
        fitted = [r for r in records if r.name not in metrics["claims"]["3"]["excluded_from_fit"]]
        written["claim3_fit"] = correlation_figure(fitted, fit, out / "claim3_correlation.png",
                                                   "Claim 3: on-manifold success rate vs test error (the fitted "
                                                   "models)")
    panels = [(test_error, "test error"), (success_rate("regular"), "success rate, paper's attack"),
              (robust_accuracy("strong_pgd"), "robust accuracy, signed PGD")]
    if any(r.apgd is not None for r in records):
        panels.append((robust_accuracy("apgd"), "robust accuracy, APGD-CE"))
    written["claim4"] = grid_figure(records, panels, out / "claim4_robustness.png",
                                    f"Claim 4: normal vs regular AT (L∞, ε = {cfg.epsilon}; 95% intervals)",
                                    objectives=["normal", "adversarial"])
    return {name: str(path.relative_to(out.parent)) for name, path in written.items()}


def _image(metrics: dict, name: str) -> str:
    path = metrics["figures"].get(name)
    return f"\n![{name}]({path})\n" if path else ""


def _heading(key: str, claim: dict) -> list[str]:
    return [f"## Claim {key}: {claim['claim'].split(':')[0]}", "",
            f"**The paper's claim** (Stutz et al., CVPR 2019; docs/papers.md §1): {claim['claim']}.", ""]


def _claim1(metrics: dict, cfg) -> list[str]:
    claim = metrics["claims"]["1"]
    reg, on = claim["medians"]["regular"], claim["medians"]["on_manifold"]
    rows = [["adversarial examples (successful)", claim["examples"]["regular"], claim["examples"]["on_manifold"]]]
    for measure, label in MEASURE_LABELS.items():
        if measure in reg or measure in on:
            rows.append([f"median {label}", interval(reg.get(measure)), interval(on.get(measure))])
    kind = metrics["manifold"]
    distance = f"{kind}_manifold_distance"
    per_model = [[m["name"], m["regular"].get("normalised_residual"), m["on_manifold"].get("normalised_residual"),
                  m["regular"].get(distance), m["on_manifold"].get(distance), m["regular"].get("angle"),
                  m["on_manifold"].get("angle")] for m in claim["per_model"]]
    tested = " and ".join(MEASURE_LABELS[m] for m in claim["tested_measures"])
    by_construction = (" On-manifold examples lie on the true manifold by construction (up to the projection's "
                       "error), so its test says that regular ones do not." if kind == "true" else "")
    return [*_heading("1", claim),
            (f"**Criterion** (fixed before the run): the median {tested} of the normal models' successful regular "
             "adversarial examples exceeds that of their on-manifold ones (the bootstrap 95% interval of the "
             "difference of medians, resampling test images, lies above 0). The angle is reported, not tested: it "
             f"is arcsin of the normalised residual, the same test stated twice.{by_construction}"), "",
            (f"Successful adversarial examples of the normal models on the first {cfg.distance_examples} test "
             "images (the paper's attack, a seeded run of its own), pooled over N and seeds (medians with "
             "bootstrap 95% intervals). The residual ‖δ − Pδ‖ itself is not comparable between the two kinds: "
             "their perturbations differ in size; the normalised residual is."), "",
            table(["measure", "regular (L∞)", "on-manifold"], rows), "",
            "Per normal model (medians):", "",
            table(["model", "norm. residual regular", "norm. residual on-manifold", f"{kind}-manifold dist. regular",
                   f"{kind}-manifold dist. on-manifold", "angle regular", "angle on-manifold"], per_model), "",
            ("Paper (Fig. 2): regular adversarial examples have a large residual and an angle near 90° to the "
             "local manifold; on-manifold ones a small residual."), "",
            tests_table(claim["tests"]), "", verdict_line(claim), _image(metrics, "claim1")]


def _claim2(metrics: dict, dataset: str) -> list[str]:
    claim = metrics["claims"]["2"]
    rows = [[n, interval(value), fmt(paper_on_manifold_success(dataset, "normal", int(n)))]
            for n, value in claim["on_manifold_success_rate"].items()]
    return [*_heading("2", claim),
            (f"**Criterion**: the on-manifold success rate of normal models is at least "
             f"{fmt(CLAIM2_MIN_SUCCESS, 2)} at every N (its 95% interval lies above it)."), "",
            table(["N", "on-manifold success rate of normal models (95% interval)", "paper"], rows), "",
            ("Paper (FONTS, read off its plot): normal models' on-manifold success rate about 0.95 at N = 500, "
             "0.74 at 2,500, 0.50 at 10,000, 0.44 at 20,000."), "",
            tests_table(claim["tests"]), "", verdict_line(claim), _image(metrics, "claim2_3")]


def _claim3(metrics: dict, records: list[ModelRecord], dataset: str) -> list[str]:
    claim = metrics["claims"]["3"]
    objective = claim["objective"]
    label = variant_label(objective)
    rows = [[n, interval(v["normal"]), interval(v[objective])] for n, v in claim["test_error"].items()]
    per_model = [[r.train_size, variant_label(r.objective), r.seed, r.test_error, ON_MANIFOLD_SUCCESS(r).value,
                  fmt(paper_on_manifold_success(dataset, r.objective, r.train_size))] for r in records]
    fit = claim["fit"]
    fit_line = (f"Linear fit of on-manifold success rate on test error over {fit['n']} models: slope "
                f"{fmt(fit['slope'])}, intercept {fmt(fit['intercept'])}, Pearson r = {fmt(fit['pearson_r'])} "
                f"(Fisher 95% interval {interval(fit['pearson_interval'], value=False)})."
                if fit else "Linear fit: not enough distinct test errors to fit a line.")
    if claim["excluded_from_fit"]:
        left_out = "; ".join(f"{name}, {why}" for name, why in claim["excluded_from_fit"].items())
        fit_line += f" Left out: {left_out}."
    control = [[n, interval(v["reconstruction"]), interval(v["reconstruction − normal"]),
                interval(v[f"{objective} − reconstruction"])] for n, v in claim["control"].items()]
    control_lines = [] if not control else [
        ("The control: the same training with the class VAE-GANs' reconstructions and no attack (η = 0), which "
         "separates what the learned manifold's images do to test error from what the attack does:"), "",
        table(["N", "test error, reconstruction training", "reconstruction − normal",
               f"{label} − reconstruction"], control), ""]
    return [*_heading("3", claim),
            (f"**Criterion**: (a) {label} lowers test error (the 95% interval of its difference to normal "
             "training lies below 0) at at least half of the N values, and (b) the on-manifold success rate "
             "correlates with test error across the models more than 5 points above chance accuracy (the Fisher "
             "95% interval of Pearson r "
             f"lies above {fmt(CLAIM3_MIN_CORRELATION, 2)})."), "",
            f"Test error of normal vs {label} models (95% intervals):", "",
            table(["N", "normal", label], rows), "",
            table(["N", "variant", "seed", "test error", "on-manifold success rate", "paper success rate"], per_model),
            "", fit_line, "", *control_lines,
            ("Paper (FONTS): on-manifold adversarial training lowers test error (on-true-manifold AT's on-manifold "
             "success 0.78 / 0.34 / 0.22 / 0.17 at N = 500 / 2.5k / 10k / 20k against normal training's "
             "0.95 / 0.74 / 0.50 / 0.44), and on-manifold success rate correlates with test error."), "",
            f"Part (a): **{claim['part_a']}**; part (b): **{claim['part_b']}**.", "",
            tests_table(claim["tests"]), "", verdict_line(claim), _image(metrics, "claim3_fit")]


def _claim4(metrics: dict, cfg) -> list[str]:
    claim = metrics["claims"]["4"]
    rows = [[n, interval(v["normal_test_error"]), interval(v["adversarial_test_error"]),
             interval(v["test_error_penalty"]), interval(v["normal_regular_success_rate"]),
             interval(v["adversarial_regular_success_rate"])] for n, v in claim["per_size"].items()]
    strong = [[n, *(interval(v.get(f"{objective}_{attack}_robust_accuracy"))
                    for attack in ("regular", "strong_pgd", "apgd") for objective in ("normal", "adversarial"))]
              for n, v in claim["per_size"].items()]
    sensitivity = "; ".join(f"{ATTACK_LABELS[a]}: {outcome}" for a, outcome in claim["strong"].items())
    return [*_heading("4", claim),
            ("**Criterion**, in the paper's two parts, on success rates under the paper's attack (robust accuracy "
             "counts misclassified clean images as non-robust and mixes test error into robustness): (a) "
             "robustness needs data: regular AT's success rate is lower at the largest N than at the smallest, "
             "and below normal training's at the largest N; (b) robustness need not cost accuracy: regular AT's "
             f"test-error penalty at the largest N is at most {fmt(CLAIM4_PENALTY_TOLERANCE, 2)}, or smaller than "
             "its largest penalty at a smaller N (smaller than at some smaller N, by Bonferroni-corrected "
             "intervals, since which N has the largest penalty is not known beforehand). Every comparison by the "
             "interval of the difference. Part (a) shows that robustness grows with data; it does not compare the "
             "sample complexities of robustness and accuracy."), "",
            table(["N", "test error normal", "test error regular AT", "AT penalty", "success rate normal",
                   "success rate regular AT"], rows), "",
            "Robust accuracy under the paper's attack and the strong evaluation (95% intervals):", "",
            table(["N", "paper's attack, normal", "paper's attack, regular AT", "signed PGD, normal",
                   "signed PGD, regular AT", "APGD-CE, normal", "APGD-CE, regular AT"], strong), "",
            ("Paper: regular AT reaches the test accuracy of normal training given more data; its robustness "
             "has a higher sample complexity than its accuracy (no numbers in docs/papers.md)."), "",
            f"Part (a): **{claim.get('part_a', 'not evaluated')}**; "
            f"part (b): **{claim.get('part_b', 'not evaluated')}**."
            + (f" Part (a) with the strong evaluation's success rates instead (reported, not the verdict): "
               f"{sensitivity}." if sensitivity else ""), "",
            tests_table(claim["tests"]), "", verdict_line(claim), _image(metrics, "claim4")]


def _strong_evaluation(records: list[ModelRecord], cfg) -> list[str]:
    attacks = [a for a in ("regular", "strong_pgd", "apgd") if any(a in r.attacks() for r in records)]
    header = ["model", "test error"]
    for attack in attacks:
        header += [f"{ATTACK_LABELS[attack]} success rate", f"{ATTACK_LABELS[attack]} robust acc."]
    rows = [[r.name, r.test_error, *(v for a in attacks for v in (success_rate(a)(r).value,
                                                                  robust_accuracy(a)(r).value))]
            for r in records]
    return ["## The strong evaluation beside the paper's attack", "",
            (f"The paper's attack is weak by design: Adam on δ takes steps of about its learning rate, so here a "
             f"pixel travels about {cfg.eval_attack.lr * cfg.eval_attack.steps:g} (lr × iterations) beyond its "
             "random start, where signed PGD can cross the whole ball. The same models under "
             f"{cfg.strong_attack.describe('ε', cfg.epsilon)}"
             + (f", and APGD-CE ({cfg.apgd_attack.steps} iterations)" if cfg.apgd_attack is not None else "")
             + f", on the first {cfg.regular_examples} test images; conclusions that change between the columns "
             "depend on attack strength."), "",
            table(header, rows), "",
            *grid_autoattack_section(records, cfg.epsilon)]


def _over_seeds(records: list[ModelRecord], cfg) -> list[str]:
    if len(cfg.seeds) < 2:
        return []
    names = ((test_error, "test error"), (success_rate("regular"), "success rate, paper's attack"),
             (ON_MANIFOLD_SUCCESS, "on-manifold success rate"))
    rows = []
    for objective in dict.fromkeys(r.objective for r in records):
        for n, group in records_by_size(records, objective).items():
            cells = []
            for measure, _ in names:
                mean, std = mean_std([measure(r).value for r in group])
                cells.append(f"{fmt(mean)} ± {fmt(std)}")
            rows.append([variant_label(objective), n, len(group), *cells])
    return ["## Over seeds", "", "Mean ± standard deviation over the seeds of each (variant, N):", "",
            table(["variant", "N", "seeds", *(label for _, label in names)], rows)]


def _learned_manifold(metrics: dict, records: list[ModelRecord], cfg) -> list[str]:
    quality = metrics.get("learned_manifold")
    if quality is None or metrics["manifold"] != "learned":
        return []
    vae, median = quality["vae_gan"], quality["median_distance"]
    paper = vae_gan_config("paper", cfg.dataset)
    rows = [["test images", interval(median["test_image_to_train"])],
            ["their reconstructions dec_y(enc_y(x))", interval(median["reconstruction_to_train"])],
            ["samples dec_y(z), z ~ N(0, I)", interval(median["sample_to_train"])]]
    yardstick = median["test_image_to_train"]["value"]

    def relative(name: str) -> str:
        return fmt(median[name]["value"] / yardstick, 2) if yardstick and yardstick > 0 else "n/a"

    models = [[r.name, r.test_accuracy, clean_accuracy("on_manifold")(r).value, ON_MANIFOLD_SUCCESS(r).value]
              for r in records]
    return ["## The learned manifold", "",
            (f"Class VAE-GANs of the `{cfg.vae_gan_preset}` preset: {vae['channels']} channels, {vae['epochs']} "
             f"epochs, latent size {vae['latent']}, at most {vae['max_examples'] or 'all'} training images per "
             f"class (the paper's: {paper.channels} channels, {paper.epochs} epochs on all images). On-manifold "
             "examples are their decoder outputs, so they lie on the data's manifold only as far as the decoders "
             f"do. Distance of the first {quality['examples']} test images, their reconstructions and prior "
             "samples to the nearest training image (L2, medians with bootstrap 95% intervals):"), "",
            table(["images", "median L2 distance to the nearest training image"], rows), "",
            (f"Reconstructions lie {relative('reconstruction_to_train')}× as far from the training images as the test "
             f"images themselves, and {interval(median['reconstruction_to_image'])} from the image they reconstruct, "
             f"{relative('reconstruction_to_image')}× a test image's distance to its nearest training image: a "
             "ratio near 1 or above means the decoders keep little of what tells an image from its neighbours. "
             "The classifiers on test images and on the reconstructions the on-manifold attack starts from (its "
             "clean accuracy):"),
            "", table(["model", "test accuracy", "accuracy on reconstructions", "on-manifold success rate"], models)]


def report(study, metrics: dict, records: list[ModelRecord]) -> str:
    """report.md of a claims run (a function of metrics.json, its model records and the config)."""
    cfg = study.cfg
    released = cfg.train_attack == RELEASED_TRAINING and cfg.eval_attack == RELEASED_EVALUATION
    protocol = ("the released code's protocol" if released else
                "the released code's protocol scaled down (docs/protocol.md, \"The quick preset\")")
    resumed = " (resumed: what earlier invocations finished was reloaded)" if metrics.get("resumed") else ""
    summary = table(["claim", "the paper's claim", "verdict"],
                    [[k, c["claim"], f"**{c['verdict']}**"] for k, c in metrics["claims"].items()])
    lines = [f"# The four claims of Stutz et al. (CVPR 2019) on {cfg.dataset}", "",
             (f"Models: {', '.join(variant_label(study.objective(v)) for v in cfg.variants)} × "
              f"N ∈ {list(cfg.train_sizes)} × seeds {list(cfg.seeds)}, {cfg.model} classifier, {cfg.epochs} epochs "
              f"(lr decayed per {cfg.lr_schedule}), the last epoch evaluated. Attacks by {protocol}: training "
              f"attacks {cfg.train_attack.describe('ε')}; the test attack {cfg.eval_attack.describe('ε')}, "
              f"L∞ ε = {cfg.epsilon} on the first {cfg.regular_examples} test images, on-{study.manifold_kind}-"
              f"manifold η = {cfg.eta} on the first {cfg.on_manifold_examples}. Run time of this invocation: "
              f"{metrics['seconds']} s{resumed}. The mapping of the released code's protocol to these settings "
              "is in docs/protocol.md."), "",
             *data_lines(metrics["data"]), "", summary, "",
             ("Every number comes with a 95% interval (unless another coverage is marked): Wilson intervals for "
              "success rates (over the correctly classified examples: restarts of one example are not "
              "independent) and test errors (over the test images), with the t interval over seeds added in "
              "quadrature when there are several; bootstrap intervals for medians (resampling test images); "
              "Fisher intervals for Pearson r; MOVER intervals for differences. A test holds or fails only when "
              "its interval lies wholly on one side of the threshold; otherwise it is inconclusive."
              + (" With one seed the intervals cover the sampling of test images, not the variation between "
                 "training runs: another seed can move a verdict between holds and inconclusive."
                 if len(cfg.seeds) == 1 else "")), ""]
    for part in (_claim1(metrics, cfg), _claim2(metrics, cfg.dataset), _claim3(metrics, records, cfg.dataset),
                 _claim4(metrics, cfg), _over_seeds(records, cfg), _strong_evaluation(records, cfg),
                 _learned_manifold(metrics, records, cfg)):
        lines += part + [""]
    return "\n".join(lines)
