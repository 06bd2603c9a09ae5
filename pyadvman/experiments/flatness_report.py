"""Figures and report.md of the flatness study: per-epoch curves per variant, flatness against the gap, the
verdicts with the tests that decided them, and the per-epoch tables."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from pyadvman.attacks.threat_models import NORM_LABELS
from pyadvman.experiments.flatness_criteria import CHANCE_MULTIPLE, FLATTER_THAN_AT, by_variant
from pyadvman.experiments.report import (
    data_lines,
    fmt,
    interval,
    table,
    tests_table,
    training_images,
    verdict_line,
)
from pyadvman.experiments.strong_evaluation import autoattack_section
from pyadvman.experiments.study_config import variant_label as _label
from pyadvman.experiments.study_figures import color, save
from pyadvman.training.objective_registry import AWP_GAMMA, awp_gamma

CURVES = (("test_robust_loss", "robust loss (test solid, train dashed)"),
          ("robust_generalization_gap", "robust generalization gap (test − train robust loss)"),
          ("test_robust_accuracy", "test robust accuracy"),
          ("worst_case_flatness", "worst-case flatness"), ("average_flatness", "average-case flatness"))
CLAIM_TITLES = {
    "overfitting_flatness": "1. Robust overfitting coincides with a loss of flatness",
    "ordering": "2. Methods that generalize better robustly sit in flatter minima",
    "flatter_than_at": "3. {variants} flatter than plain adversarial training",
}
CLAIM_CRITERIA = {
    "overfitting_flatness": (
        "Per robust variant, the epoch of minimum test robust loss is chosen on the first half of the test images "
        "and every change from it to the last epoch is measured on the other half. Robust overfitting occurs when "
        "the held-out test robust loss rises (paired over images, t interval > 0). Then the robust generalization "
        "gap must rise (the held-out rise minus the training robust loss's change, MOVER interval > 0) and "
        "worst-case flatness on the held-out images must rise beyond the search's noise floor (the mean over the "
        "independent searches of the last measured epochs minus that over the minimum's searches, t intervals "
        "over searches, MOVER interval above the noise floor: the pooled standard deviation of one search). "
        "Holds when both rise in "
        "every variant that overfits; inconclusive when no variant overfits. The correlations over the epochs "
        "are reported, not tested (consecutive epochs are not independent)."),
    "ordering": (
        "Across the robust variants at the last epoch, Spearman's ρ between worst-case flatness and the robust "
        "generalization gap: its bootstrap interval over test and training images > 0, and ρ above what that "
        "many methods give by chance (exact permutation, one-sided 5%). Holds when both hold; does not hold "
        "when the interval lies below 0 and ρ is below minus that chance threshold; else inconclusive. The "
        "seeds, not these tests, show the variation between training runs."),
    "flatter_than_at": (
        "At the end of training (the searches of the last measured epochs), worst-case flatness of regular AT minus "
        "that of AT-AWP, and of TRADES (those trained and robust), above the larger noise floor of the two (t "
        "intervals over searches and epochs, MOVER interval of the difference)."),
}


def figures(records: list[dict], verdicts: dict, out: Path) -> dict[str, Path]:
    """figures/epochs.png (each measure against epochs, robust variants; the chosen minimum epoch marked) and
    figures/flatness_vs_gap.png (worst- and average-case flatness against the gap, every measured epoch, the
    last one ringed)."""
    grouped = by_variant(records)
    shown = verdicts["robust_variants"] or list(grouped)

    def series(variant: str, key: str) -> list[float]:
        return [r[key] for r in grouped[variant]]

    fig = Figure(figsize=(16, 3.6))
    for i, (key, label) in enumerate(CURVES):
        ax = fig.add_subplot(1, len(CURVES), i + 1)
        for variant in shown:
            epochs, values = series(variant, "epoch"), series(variant, key)
            ax.plot(epochs, values, "-", color=color(variant), label=_label(variant))
            if key == "test_robust_loss":
                ax.plot(epochs, series(variant, "train_robust_loss"), "--", color=color(variant))
            minimum = verdicts["per_variant"].get(variant, {}).get("minimum_epoch")
            if minimum in epochs:
                ax.plot([minimum], [values[epochs.index(minimum)]], "v", color=color(variant), ms=6)
        ax.set_xlabel("epoch")
        ax.set_title(label, fontsize=8)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    fig.suptitle("Per epoch, robust variants (▼: epoch of minimum test robust loss on the first half of the test "
                 "images; the curves are all images)", fontsize=9)
    paths = {"epochs": save(fig, out / "epochs.png")}

    fig = Figure(figsize=(11, 4.2))
    for i, (key, label) in enumerate((("worst_case_flatness", "worst-case flatness (the criteria)"),
                                      ("average_flatness", "average-case flatness (reported)"))):
        ax = fig.add_subplot(1, 2, i + 1)
        for variant in shown:
            gaps, flatness = series(variant, "robust_generalization_gap"), series(variant, key)
            ax.plot(gaps, flatness, "o-", ms=3, color=color(variant), alpha=0.6, label=_label(variant))
            ax.plot(gaps[-1:], flatness[-1:], "o", ms=10, mfc="none", color=color(variant))
        ax.set_xlabel("robust generalization gap (test − train robust loss)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    fig.suptitle("Flatness vs gap over the measured epochs (ringed: last epoch)", fontsize=9)
    paths["flatness_vs_gap"] = save(fig, out / "flatness_vs_gap.png")
    return paths


def _summary_rows(records: list[dict], verdicts: dict) -> list[list[object]]:
    rows = []
    for variant, own in by_variant(records).items():
        best, last = max(own, key=lambda r: r["test_robust_accuracy"]), own[-1]
        per = verdicts["per_variant"].get(variant)
        rows.append([_label(variant), f"{fmt(best['test_robust_accuracy'])} (epoch {best['epoch']})",
                     "yes" if variant in verdicts["robust_variants"] else "no",
                     per["minimum_epoch"] if per else "–", last["test_accuracy"], last["test_robust_accuracy"],
                     last["robust_generalization_gap"], last["worst_case_flatness"], last["average_flatness"]])
    return rows


def _epoch_table(rows_of_variant: list[dict]) -> str:
    rows = [[r["epoch"], r["train_robust_loss"], r["test_robust_loss"], r["robust_generalization_gap"],
             r["test_accuracy"], r["test_robust_accuracy"], r["average_flatness"], r["worst_case_flatness"]]
            for r in rows_of_variant]
    return table(["epoch", "train robust loss", "test robust loss", "gap", "test acc.", "test robust acc.",
                  "average-case flatness", "worst-case flatness"], rows)


def _claim_section(key: str, claim: dict, verdicts: dict) -> list[str]:
    tested = [_label(v) for v in claim.get("tested_variants") or FLATTER_THAN_AT]
    title = CLAIM_TITLES[key].format(variants=" and ".join(tested) + (" are" if len(tested) > 1 else " is"))
    lines = [f"### {title}", "", f"Criterion: {CLAIM_CRITERIA[key]}", ""]
    if key == "overfitting_flatness" and verdicts["per_variant"]:
        rows = [[_label(v), p["minimum_epoch"], p["selection_loss"], p["last_epoch"], p["gap_change"],
                 p["flatness_change"], p.get("noise_floor"), f"{p.get('failed_searches', 0)} of {p.get('searches', 0)}",
                 interval(p["correlations"]["worst_case_flatness"]),
                 interval(p["correlations"]["average_flatness"]), p["points"], p["outcome"]]
                for v, p in verdicts["per_variant"].items()]
        lines += [table(["variant", "minimum epoch (first half)", "its first-half test robust loss", "last epoch",
                         "gap change", "worst-case flatness change", "search noise floor (SD of one search)",
                         "failed searches (flatness < 0)", "r(gap, worst-case), reported",
                         "r(gap, average-case), reported", "epochs in r", "variant outcome"], rows), ""]
        below = [p["flatness"]["test"] for p in verdicts["per_variant"].values()
                 if abs(p["flatness"]["estimate"]["value"]) < p["flatness"].get("margin", 0.0)]
        if below:
            lines += ["Below the search's noise (the change is smaller than one search's standard deviation): "
                      + "; ".join(below) + ".", ""]
    if claim["tests"]:
        lines += [tests_table(claim["tests"]), ""]
    trained = [v for v in verdicts["robust"] if v != "normal"]
    why = ("no variant trained is robust enough to enter the criteria: see the summary's robust column"
           if trained and not verdicts["robust_variants"] else "the variants it needs were not trained")
    return [*lines, verdict_line(claim, why), ""]


def _magnitude(records: list[dict], verdicts: dict, cfg) -> list[str]:
    """How large worst-case flatness is against the robust loss it perturbs, so that a reader can tell a
    difference in flatness from a difference in noise-sized numbers."""
    robust = [r for r in records if r["variant"] in verdicts["robust_variants"]]
    if not robust:
        return []
    largest = max(robust, key=lambda r: abs(r["worst_case_flatness"]))
    return [(f"Scale: over the robust variants' measured epochs, worst-case flatness (ξ = {cfg.worst_xi}) is at most "
             f"{fmt(abs(largest['worst_case_flatness']))} nats in magnitude ({_label(largest['variant'])}, epoch "
             f"{largest['epoch']}; test robust loss {fmt(largest['test_robust_loss'])}), average-case flatness "
             f"(ξ = {cfg.average_xi}) between {fmt(min(r['average_flatness'] for r in robust))} and "
             f"{fmt(max(r['average_flatness'] for r in robust))}."), ""]


def _fewer(cfg, metrics: dict) -> str:
    """Where the test split holds fewer than ``examples`` images: how many were measured."""
    measured = min((r.get("examples", cfg.examples) for r in metrics["records"]), default=cfg.examples)
    return f" (the test split holds {measured}, all measured)" if measured < cfg.examples else ""


def _awp_gammas(cfg) -> str:
    """The AWP radius of each AWP variant of the study, e.g. "0.01 (AT-AWP)"."""
    variants = [v for v in cfg.variants if v in AWP_GAMMA] or ["awp"]
    return ", ".join(f"{awp_gamma(v, cfg.awp_gamma):g} ({_label(v)})" for v in variants)


def report(cfg, metrics: dict) -> str:
    records, verdicts = metrics["records"], metrics["verdicts"]
    classes = len(metrics["data"]["classes"])
    robust_tests = list(verdicts["robust"].values())
    fraction = cfg.train_config("adversarial").adversarial_fraction
    lines = [
        f"# Flatness vs robust generalization on {cfg.dataset}", "",
        *data_lines(metrics["data"]), "",
        (f"Training: {', '.join(_label(v) for v in cfg.variants)} on {training_images(cfg)} training "
         f"images for {cfg.epochs} epochs (lr schedule {cfg.lr_schedule}; adversarial variants at ε = {cfg.epsilon}, "
         f"{cfg.train_attack.describe('ε')}; regular AT and AT-AWP perturb {fraction:.0%} of each batch (Stutz et "
         f"al.'s 50/50 scheme by default; Wu et al.'s AT-AWP perturbs 100%); AWP γ = {_awp_gammas(cfg)}, warm-up "
         f"{cfg.awp_warmup_epochs} epochs), "
         f"seed {cfg.seed}. Measured every {cfg.evaluate_every} epoch(s) and at the last: the robust loss ({NORM_LABELS[cfg.norm]} "
         f"PGD-{cfg.robust_attack.steps}, ε = {cfg.epsilon}, {cfg.robust_attack.restarts} restart(s), "
         "worst per example) on the "
         f"first {cfg.examples} training and test images{_fewer(cfg, metrics)}; average-case flatness "
         f"(ξ = {cfg.average_xi}, "
         f"{cfg.average_samples} samples) and worst-case flatness (ξ = {cfg.worst_xi}, {cfg.worst_passes} passes, "
         f"{cfg.worst_restarts} restart(s) per search, {cfg.worst_searches} independent search(es) per epoch) on "
         f"the test images, each the perturbed minus the unperturbed test robust loss (nats); claims 1 and 3 "
         f"average the searches of the last {cfg.last_epochs} measured epochs."), "",
        ("Paper (Stutz et al., ICCV 2021; docs/papers.md §4): robust overfitting coincides with a loss of "
         "flatness of the robust loss in weight space, and methods that generalize better robustly (TRADES, MART, "
         "AWP, ...) sit in flatter minima."), "",
        "## Summary", "",
        table(["variant", "best test robust acc.", "robust", "minimum epoch (first half)", "last: test acc.",
               "last: test robust acc.", "last: gap", "last: worst-case flatness", "last: average-case flatness"],
              _summary_rows(records, verdicts)), "",
        (f"A variant is robust, and enters the criteria, when the lower bound of its best test robust accuracy "
         f"exceeds {CHANCE_MULTIPLE:g} × chance ({fmt(CHANCE_MULTIPLE / classes, 2)}); normal training never "
         f"enters them."), "",
        tests_table(robust_tests), "",
        *_magnitude(records, verdicts, cfg),
        "## Verdicts", "",
    ]
    for key, claim in verdicts["claims"].items():
        lines += _claim_section(key, claim, verdicts)
    lines += autoattack_section({_label(v): r for v, r in metrics.get("autoattack", {}).items()}, cfg.epsilon,
                                cfg.norm)
    lines += ["## Figures", "", f"![per epoch]({metrics['figures']['epochs']})", "",
              f"![flatness vs gap]({metrics['figures']['flatness_vs_gap']})", "", "## Per epoch", ""]
    for variant, rows in by_variant(records).items():
        lines += [f"### {_label(variant)}", "", _epoch_table(rows), ""]
    resumed = " (resumed: what earlier invocations finished was reloaded, and their time is not counted)"
    lines.append(f"Time of this invocation: {metrics['seconds']} s{resumed if metrics.get('resumed') else ''}.")
    return "\n".join(lines) + "\n"
