"""report.md and the figures of the claims experiment: per claim, the paper's claim, the criterion fixed before
the run, the measured numbers with their 95% intervals (those of metrics.json, formatted by ``report.fmt``), the
paper's numbers where it gives them, the tests with their outcomes and the verdict with the numbers that decided
it; then the strong evaluation beside the paper's attack."""

from __future__ import annotations

import math
from pathlib import Path

from pyadvman.analysis.uncertainty import mean_std
from pyadvman.attacks.protocol import RELEASED_EVALUATION, RELEASED_TRAINING
from pyadvman.attacks.threat_models import NORM_LABELS
from pyadvman.experiments.claims_criteria import NULL_CONTROLS, PROTOCOL_LABELS, PROTOCOLS
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

MEASURE_LABELS = {"perturbation_norm": "perturbation norm ‖δ‖₂",
                  "normalised_residual": "normalised residual ‖δ − Pδ‖/‖δ‖ (kNN)",
                  "angle": "angle ∠(δ, Pδ) in degrees (kNN)", "residual": "residual ‖δ − Pδ‖ (kNN)",
                  "true_manifold_distance": "distance to the true manifold (L2)",
                  "learned_manifold_distance": "distance to the learned manifold (L2)",
                  "pixel_normalised_residual": "normalised residual, neighbours searched in pixel space (kNN)"}


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
              if k not in ("residual", "perturbation_norm") and (regular.get(k) or on_manifold.get(k))]
    if panels:
        written["claim1"] = distance_figure(regular, on_manifold, panels, out / "claim1_distances.png",
                                            "Claim 1: distance of adversarial examples to the manifold (normal models)")
    written["claim2_3"] = grid_figure(records, [(ON_MANIFOLD_SUCCESS, "on-manifold success rate"),
                                                (test_error, "test error")], out / "claim2_3_on_manifold.png",
                                      "Claims 2 and 3: on-manifold success rate and test error vs N (95% intervals)",
                                      paper={"on-manifold success rate": paper} if paper else None)
    fit = metrics["claims"]["3"]["fit"]
    if fit is not None:
        fitted = [r for r in records if not math.isnan(ON_MANIFOLD_SUCCESS(r).value)]
        written["claim3_fit"] = correlation_figure(fitted, fit, out / "claim3_correlation.png",
                                                   "Claim 3: on-manifold success rate vs test error (every model)")
    panels = [(test_error, "test error"), (success_rate("regular"), "success rate, paper's attack"),
              (robust_accuracy("strong_pgd"), "robust accuracy, signed PGD")]
    if any(r.apgd is not None for r in records):
        panels.append((robust_accuracy("apgd"), "robust accuracy, APGD-CE"))
    written["claim4"] = grid_figure(records, panels, out / "claim4_robustness.png",
                                    f"Claim 4: normal vs robust training ({NORM_LABELS[cfg.norm]}, ε = {cfg.epsilon}; "
                                    "95% intervals)",
                                    objectives=["normal", *metrics["claims"]["4"]["variants"]])
    return {name: str(path.relative_to(out.parent)) for name, path in written.items()}


def _image(metrics: dict, name: str) -> str:
    path = metrics["figures"].get(name)
    return f"\n![{name}]({path})\n" if path else ""


def _heading(key: str, claim: dict) -> list[str]:
    return [f"## Claim {key}: {claim['claim'].split(':')[0]}", "",
            f"**The paper's claim** (Stutz et al., CVPR 2019; docs/papers.md §1): {claim['claim']}.", ""]


def protocol_sections(claim: dict) -> list[str]:
    """A claim judged under both protocols: per protocol, its attacks, tests and verdict; then which protocol
    decided the claim's verdict."""
    lines = []
    for protocol, judged in claim["protocols"].items():
        lines += [f"**Under {PROTOCOL_LABELS[protocol]}** ({ATTACK_LABELS[judged['attack']]}):", ""]
        if judged["tests"]:
            lines += [tests_table(judged["tests"]), ""]
        lines += [verdict_line(judged), ""]
    return lines + [f"The claim's verdict is the one under {PROTOCOL_LABELS[claim['protocol']]}"
                    + (" (a weak attack's success rates are lower bounds and its robustness an upper bound)."
                       if claim["protocol"] == "strong" else " (the strong attacks did not run)."), ""]


def _claim1(metrics: dict, cfg) -> list[str]:
    claim = metrics["claims"]["1"]
    medians = claim["medians"]
    kinds = [k for k in ("regular", "on_manifold", "sign_noise", "gaussian_noise") if k in medians]
    labels = {"regular": f"regular ({NORM_LABELS[cfg.norm]})", "on_manifold": "on-manifold", **NULL_CONTROLS}
    rows = [["successful examples", *(claim["examples"].get(k, 0) for k in kinds)]]
    for measure, label in MEASURE_LABELS.items():
        if any(measure in medians[k] for k in kinds):
            rows.append([f"median {label}", *(interval(medians[k].get(measure)) for k in kinds)])
    kind = metrics["manifold"]
    distance = f"{kind}_manifold_distance"
    per_model = [[m["name"], *(m.get(k, {}).get(measure) for measure in ("normalised_residual", distance, "angle")
                               for k in ("regular", "on_manifold"))] for m in claim["per_model"]]
    tested = " and ".join(f"{MEASURE_LABELS[m]} (margin {fmt(claim['margins'][m], 3)})"
                          for m in claim["tested_measures"])
    by_construction = (" On-manifold examples lie on the true manifold by construction (up to the projection's "
                       "error), so its test says that regular ones do not." if kind == "true" else "")
    angle = medians.get("regular", {}).get("angle")
    angle_line = ("" if angle is None else
                  f"The median angle of the regular examples to the local kNN manifold is {interval(angle)} degrees, "
                  "where the paper reports angles near 90°. The kNN angle is arcsin of the normalised residual; "
                  "with k neighbours spanning at most k of the image's dimensions, a random direction keeps most of "
                  "its norm outside their span, so angles well below 90° mean a measurable part of δ lies along "
                  "the neighbours' differences. The null control shows what noise of the same size gets: where "
                  "noise leaves the manifold as far as the adversarial examples, leaving it is not specific to "
                  "adversarial examples.")
    null = claim.get("null_control", [])
    return [*_heading("1", claim),
            (f"**Criterion** (fixed before the run): the median {tested} of the normal models' successful regular "
             "adversarial examples exceeds that of their on-manifold ones by more than the margin (the bootstrap "
             "95% interval of the difference of medians, resampling test images, lies above the margin; inside "
             "it or below: does not hold). The angle is reported, not tested: it is arcsin of the normalised "
             f"residual, the same test stated twice.{by_construction}"), "",
            (f"Successful adversarial examples of the normal models on the first {cfg.distance_examples} test "
             "images (the paper's attack, a seeded run of its own), pooled over N and seeds, and the null control "
             "on the images the regular attack fooled: uniform sign noise at ε, and Gaussian noise at each "
             "adversarial perturbation's L2 norm (medians with bootstrap 95% intervals). The residual ‖δ − Pδ‖ "
             "itself is not comparable between kinds of different size; the normalised residual is."), "",
            table(["measure", *(labels[k] for k in kinds)], rows), "",
            "Per normal model (medians):", "",
            table(["model", "norm. residual regular", "norm. residual on-manifold", f"{kind}-manifold dist. regular",
                   f"{kind}-manifold dist. on-manifold", "angle regular", "angle on-manifold"], per_model), "",
            ("Paper (Fig. 2): regular adversarial examples have a large residual and an angle near 90° to the "
             "local manifold; on-manifold ones a small residual."), "", angle_line, "",
            tests_table(claim["tests"]), "", verdict_line(claim), "",
            *(["The null control (reported, not deciding): are the regular adversarial examples farther from the "
               "manifold than noise of the same size?", "", tests_table(null), ""] if null else []),
            _image(metrics, "claim1")]


def _claim2(metrics: dict, dataset: str) -> list[str]:
    claim = metrics["claims"]["2"]
    protocols = claim["protocols"]
    sizes = list(protocols["paper"]["success_rate"])
    rows = [[n, *(interval(protocols[p]["success_rate"].get(n)) for p in protocols),
             fmt(paper_on_manifold_success(dataset, "normal", int(n)))] for n in sizes]
    return [*_heading("2", claim),
            (f"**Criterion**: an existence claim: under each protocol the on-manifold success rate of normal models "
             f"exceeds 0 by more than {fmt(claim['margin'], 2)} (one in a hundred attacked pairs) at every N (its "
             "95% interval over seeds and test images lies above the margin). The magnitude is reported."), "",
            table(["N", *(f"success rate of normal models, {ATTACK_LABELS[v['attack']]}" for v in protocols.values()),
                   "paper"], rows), "",
            ("Paper (FONTS, read off its plot): normal models' on-manifold success rate about 0.95 at N = 500, "
             "0.74 at 2,500, 0.50 at 10,000, 0.44 at 20,000."), "",
            *protocol_sections(claim), verdict_line(claim), _image(metrics, "claim2_3")]


def _claim3(metrics: dict, records: list[ModelRecord], dataset: str) -> list[str]:
    claim = metrics["claims"]["3"]
    objective = claim["objective"]
    label = variant_label(objective)
    rows = [[n, interval(v["normal"]), interval(v[objective])] for n, v in claim["test_error"].items()]
    cells = [[c["train_size"], variant_label(c["objective"]), c["seeds"], c["test_error"],
              *(next((d["success_rate"] for d in judged["cells"] if d["cell"] == c["cell"]), None)
                for judged in claim["protocols"].values()),
              fmt(paper_on_manifold_success(dataset, c["objective"], c["train_size"]))]
             for c in claim["protocols"]["paper"]["cells"]]
    fit = claim["fit"]
    fit_line = (f"Descriptive, not tested (the paper's Fig. 5): a linear fit of on-manifold success rate on test "
                f"error over {fit['n']} models has slope {fmt(fit['slope'])}, Pearson r = {fmt(fit['pearson_r'])}; "
                "across N it is driven by N itself, which lowers both." if fit else "")
    excluded = {name: why for judged in claim["protocols"].values() for name, why in judged["excluded"].items()}
    if excluded:
        fit_line += " Cells left out of the within-N correlation: " + "; ".join(
            f"{name}, {why}" for name, why in excluded.items()) + "."
    control = [[n, interval(v["reconstruction"]), interval(v["reconstruction − normal"]),
                interval(v[f"{objective} − reconstruction"])] for n, v in claim["control"].items()]
    control_lines = [] if not control else [
        ("The control: the same training with the class VAE-GANs' reconstructions and no attack (η = 0), which "
         "separates what the learned manifold's images do to test error from what the attack does:"), "",
        table(["N", "test error, reconstruction training", "reconstruction − normal",
               f"{label} − reconstruction"], control), ""]
    margins = claim["margins"]
    return [*_heading("3", claim),
            (f"**Criterion**: (a) {label} lowers test error by more than {fmt(margins['test_error'], 2)} (the 95% "
             "interval of its difference to normal training, over seeds and test images, lies below "
             f"−{fmt(margins['test_error'], 2)}) at at least half of the N values, and (b) under each protocol the "
             "on-manifold success rate rises with test error within N: the partial correlation given N over the "
             "cell means (one point per (variant, N), the mean over its seeds; cells more than 5 points above "
             f"chance) exceeds 0 by more than {fmt(margins['correlation'], 2)} (its Fisher interval, with one "
             "degree of freedom less per N, lies above the margin). N drives both test error and success rate, so "
             "a correlation across N would hold by construction; within N it asks whether a model that "
             "generalizes worse is also easier to attack on the manifold."), "",
            f"Test error of normal vs {label} models (means over seeds, 95% intervals):", "",
            table(["N", "normal", label], rows), "",
            table(["N", "variant", "seeds", "test error",
                   *(f"success rate, {ATTACK_LABELS[v['attack']]}" for v in claim["protocols"].values()),
                   "paper success rate"], cells),
            "", fit_line, "", *control_lines,
            ("Paper (FONTS): on-manifold adversarial training lowers test error (on-true-manifold AT's on-manifold "
             "success 0.78 / 0.34 / 0.22 / 0.17 at N = 500 / 2.5k / 10k / 20k against normal training's "
             "0.95 / 0.74 / 0.50 / 0.44), and on-manifold success rate correlates with test error."), "",
            *protocol_sections(claim), verdict_line(claim), _image(metrics, "claim3_fit")]


def _claim4(metrics: dict, cfg) -> list[str]:
    claim = metrics["claims"]["4"]
    variants = claim["variants"]
    attacks = [judged["attack"] for judged in claim["protocols"].values()]
    rows = [[n, interval(v["normal"]["test_error"]),
             *(interval(v[o]["test_error"]) for o in variants),
             *(interval(v[o][f"robust_accuracy_{a}"]) for a in attacks for o in ("normal", *variants))]
            for n, v in claim["per_size"].items()]
    header = ["N", "test error normal", *(f"test error {variant_label(o)}" for o in variants),
              *(f"robust acc. {ATTACK_LABELS[a]}, {variant_label(o)}" for a in attacks
                for o in ("normal", *variants))]
    reached = [[variant_label(v), ATTACK_LABELS[judged["attack"]], r["part_a"], r["part_b"],
                r["reaches_margin"]["outcome"], interval(r["success_rate_falls"]["estimate"]),
                r["success_rate_falls"]["outcome"]]
               for judged in claim["protocols"].values() for v, r in judged.get("variants", {}).items()]
    margins = claim["margins"]
    return [*_heading("4", claim),
            ("**Criterion**, as the paper and its released README state the claim, for each robust variant "
             "(released-protocol AT and Madry AT): (a) robustness needs more data: its robust accuracy at the "
             f"largest N exceeds that at the smallest by more than {fmt(margins['robustness'], 2)}; (b) its "
             "test-error penalty over normal training shrinks with N: the penalty at the largest N is below that "
             f"at the smallest by more than {fmt(margins['penalty'], 2)}. The claim is existential (\"not "
             "necessarily contradicting\"): under a protocol it holds when (a) and (b) hold for some robust "
             "variant. Whether the penalty at the largest N lies below the margin (no cost of robustness) is "
             "reported."), "",
            table(header, rows), "",
            table(["variant", "attack", "(a) robustness rises", "(b) penalty shrinks",
                   f"penalty at the largest N < {fmt(margins['penalty'], 2)}",
                   "success rate, largest − smallest N (reported)", "success rate falls (reported)"], reached), "",
            ("Robust accuracy is bounded by clean accuracy, which also rises with N; the success rate over the "
             "correctly classified images, robustness without test error in it, is reported beside (not "
             "deciding: the criterion was fixed as robust accuracy before the run)."), "",
            ("Paper: regular AT reaches the test accuracy of normal training given more data; its robustness "
             "has a higher sample complexity than its accuracy (no numbers in docs/papers.md)."), "",
            *protocol_sections(claim), verdict_line(claim), _image(metrics, "claim4")]


def _strong_evaluation(records: list[ModelRecord], cfg) -> list[str]:
    attacks = [a for a in ("regular", "strong_pgd", "apgd", "on_manifold", "strong_on_manifold")
               if any(a in r.attacks() for r in records)]
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
             + f" on the first {cfg.regular_examples} test images"
             + (f"; on the manifold {cfg.strong_on_manifold_attack.describe('η', cfg.eta)} on the first "
                f"{cfg.strong_on_manifold_examples}" if cfg.strong_on_manifold_attack is not None else "")
             + ". Conclusions that change between the columns "
             "depend on attack strength."), "",
            table(header, rows), "",
            *grid_autoattack_section(records, cfg.epsilon, cfg.norm)]


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


def _provenance_lines(metrics: dict) -> list[str]:
    """Who made the numbers (metrics.json's provenance) and, for a report rendered again by other code, the
    verdicts of the first rendering beside the new ones."""
    made = metrics.get("provenance", {})
    commit = made.get("commit")
    code = (f"commit {commit[:12]}" + (" with uncommitted changes" if made.get("dirty") else "")
            if isinstance(commit, str) else f"sources {made.get('sources')} (not a git checkout)")
    lines = [f"Made by pyadvman {made.get('pyadvman')} ({code}), criteria version {made.get('criteria_version')}, "
             f"torch {made.get('torch')} with {made.get('threads')} threads on {made.get('cpu')}"
             + (f" and {made['gpu']}" if made.get("gpu") else "") + f", {made.get('date')}."]
    first = metrics.get("first_rendering")
    if first:
        earlier = first.get("provenance") or {}
        verdicts = "; ".join(f"claim {k}: {v}" for k, v in first["verdicts"].items())
        commit = earlier.get("commit")
        lines += ["", (f"**Rendered again by later code.** These results were first rendered by "
                       f"{('commit ' + commit[:12]) if isinstance(commit, str) else 'code that recorded no commit'}"
                       f" (criteria version {earlier.get('criteria_version', 'unrecorded')}), whose verdicts were: "
                       f"{verdicts}. The verdicts above are today's criteria applied to the same records.")]
    return lines


def report(study, metrics: dict, records: list[ModelRecord]) -> str:
    """report.md of a claims run (a function of metrics.json, its model records and the config)."""
    cfg = study.cfg
    released = cfg.train_attack == RELEASED_TRAINING and cfg.eval_attack == RELEASED_EVALUATION
    protocol = ("the released code's protocol" if released else
                "the released code's protocol scaled down (docs/protocol.md, \"The quick and standard presets\")")
    resumed = " (resumed: what earlier invocations finished was reloaded)" if metrics.get("resumed") else ""
    summary = table(["claim", "the paper's claim", "verdict", *(f"under {PROTOCOL_LABELS[p]}" for p in PROTOCOLS)],
                    [[k, c["claim"], f"**{c['verdict']}**",
                      *(c["protocols"][p]["verdict"] if "protocols" in c else "—" for p in PROTOCOLS)]
                     for k, c in metrics["claims"].items()])
    lines = [f"# The four claims of Stutz et al. (CVPR 2019) on {cfg.dataset}", "",
             (f"Models: {', '.join(variant_label(study.objective(v)) for v in cfg.variants)} × "
              f"N ∈ {list(cfg.train_sizes)} × seeds {list(cfg.seeds)}, {cfg.model} classifier, {cfg.epochs} epochs "
              f"(lr decayed per {cfg.lr_schedule}), the last epoch evaluated. Attacks by {protocol}: training "
              f"attacks {cfg.train_attack.describe('ε')}; the test attack {cfg.eval_attack.describe('ε')}, "
              f"{NORM_LABELS[cfg.norm]} ε = {cfg.epsilon} on the first {cfg.regular_examples} test images, on-{study.manifold_kind}-"
              f"manifold η = {cfg.eta} on the first {cfg.on_manifold_examples}. Run time of this invocation: "
              f"{metrics['seconds']} s{resumed}. The mapping of the released code's protocol to these settings "
              "is in docs/protocol.md."), "",
             *data_lines(metrics["data"]), "", summary, "",
             ("Every number comes with a 95% interval (unless another coverage is marked): Wilson intervals for "
              "success rates (over the correctly classified examples: restarts of one example are not "
              "independent) and test errors (over the test images), with the t interval over seeds added in "
              "quadrature (seeds are the unit: a (variant, N) is the mean over its seeds); bootstrap intervals for "
              "medians (resampling test images); Fisher intervals for correlations over cell means; MOVER "
              "intervals for differences. Every test has an equivalence margin, fixed in the code before any run "
              "and justified in docs/protocol.md: it holds when its interval clears the margin in the claimed "
              "direction, does not hold when the interval lies inside the equivalence region or beyond it on "
              "the wrong side (a precisely measured null does not hold), and is inconclusive otherwise. Claims "
              "2–4 are judged under the paper's attacks and under the strong ones (APGD-CE off the manifold, "
              f"{cfg.strong_on_manifold_attack.describe('η', cfg.eta) if cfg.strong_on_manifold_attack else 'none'}"
              " on it); the claim's verdict is the strong protocol's."
              + (" With one seed the intervals cover the sampling of test images, not the variation between "
                 "training runs: another seed can move a verdict." if len(cfg.seeds) == 1 else "")), "",
             *_provenance_lines(metrics), ""]
    for part in (_claim1(metrics, cfg), _claim2(metrics, cfg.dataset), _claim3(metrics, records, cfg.dataset),
                 _claim4(metrics, cfg), _over_seeds(records, cfg), _strong_evaluation(records, cfg),
                 _learned_manifold(metrics, records, cfg)):
        lines += part + [""]
    return "\n".join(lines)
