"""Figures and report.md of the flatness study: per-epoch curves per variant, flatness against the gap, the
verdicts with the tests that decided them, and the per-epoch tables."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from pyadvman.experiments.flatness_criteria import CHANCE_MULTIPLE
from pyadvman.experiments.report import data_lines, fmt, interval, table, tests_table, verdict_line
from pyadvman.experiments.study import VARIANT_LABELS

CURVES = (("test_robust_loss", "robust loss (test solid, train dashed)"),
          ("robust_generalization_gap", "robust generalization gap (test − train robust loss)"),
          ("test_robust_accuracy", "test robust accuracy"),
          ("worst_case_flatness", "worst-case flatness"), ("average_flatness", "average-case flatness"))
CLAIM_TITLES = {
    "overfitting_flatness": "1. Robust overfitting coincides with a loss of flatness",
    "ordering": "2. Methods that generalize better robustly sit in flatter minima",
    "flatter_than_at": "3. AWP and TRADES are flatter than plain adversarial training",
}
CLAIM_CRITERIA = {
    "overfitting_flatness": (
        "Per robust variant, the epoch of minimum test robust loss is chosen on the first half of the test images; "
        "robust overfitting occurs when the other half's test robust loss is higher at the last epoch (paired "
        "difference, t interval > 0). For those variants, the robust generalization gap and worst-case flatness "
        "rise together from that epoch on: Pearson r over those epochs > 0 (Fisher interval). Holds when r > 0 "
        "in every variant that overfits; inconclusive when no variant overfits."),
    "ordering": (
        "Across the robust variants at the last epoch, Spearman's ρ between worst-case flatness and the robust "
        "generalization gap > 0 (bootstrap interval over test and training images)."),
    "flatter_than_at": (
        "At the last epoch, worst-case flatness of adversarial training minus that of AWP, and of TRADES, per "
        "test image (paired, t interval) > 0."),
}


def _label(variant: str) -> str:
    return VARIANT_LABELS.get(variant, variant)


def _series(records: list[dict], variant: str, key: str) -> tuple[list[int], list[float]]:
    rows = [r for r in records if r["variant"] == variant]
    return [r["epoch"] for r in rows], [r[key] for r in rows]


def figures(records: list[dict], verdicts: dict, out: Path) -> dict[str, Path]:
    """figures/epochs.png (each measure against epochs, robust variants; the chosen minimum epoch marked) and
    figures/flatness_vs_gap.png (worst-case flatness against the gap, every measured epoch, last one ringed)."""
    out.mkdir(parents=True, exist_ok=True)
    shown = verdicts["robust_variants"] or list(dict.fromkeys(r["variant"] for r in records))
    colours = {v: f"C{i}" for i, v in enumerate(dict.fromkeys(r["variant"] for r in records))}
    fig = Figure(figsize=(16, 3.6))
    for i, (key, label) in enumerate(CURVES):
        ax = fig.add_subplot(1, len(CURVES), i + 1)
        for variant in shown:
            epochs, values = _series(records, variant, key)
            ax.plot(epochs, values, "-", color=colours[variant], label=_label(variant))
            if key == "test_robust_loss":
                ax.plot(*_series(records, variant, "train_robust_loss"), "--", color=colours[variant])
            minimum = verdicts["per_variant"].get(variant, {}).get("minimum_epoch")
            if minimum in epochs:
                ax.plot([minimum], [values[epochs.index(minimum)]], "v", color=colours[variant], ms=6)
        ax.set_xlabel("epoch")
        ax.set_title(label, fontsize=8)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    fig.suptitle("Per epoch, robust variants (▼: epoch of minimum test robust loss, chosen on half the test images)",
                 fontsize=9)
    fig.tight_layout()
    paths = {"epochs": out / "epochs.png"}
    fig.savefig(paths["epochs"], dpi=110)

    fig = Figure(figsize=(11, 4.2))
    for i, (key, label) in enumerate((("worst_case_flatness", "worst-case flatness (the criteria)"),
                                      ("average_flatness", "average-case flatness (reported)"))):
        ax = fig.add_subplot(1, 2, i + 1)
        for variant in shown:
            _, gaps = _series(records, variant, "robust_generalization_gap")
            _, flatness = _series(records, variant, key)
            ax.plot(gaps, flatness, "o-", ms=3, color=colours[variant], alpha=0.6, label=_label(variant))
            ax.plot(gaps[-1:], flatness[-1:], "o", ms=10, mfc="none", color=colours[variant])
        ax.set_xlabel("robust generalization gap (test − train robust loss)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=7)
    fig.suptitle("Flatness vs gap over the measured epochs (ringed: last epoch)", fontsize=9)
    fig.tight_layout()
    paths["flatness_vs_gap"] = out / "flatness_vs_gap.png"
    fig.savefig(paths["flatness_vs_gap"], dpi=110)
    return paths


def _summary_rows(records: list[dict], verdicts: dict) -> list[list[object]]:
    rows = []
    for variant in dict.fromkeys(r["variant"] for r in records):
        own = [r for r in records if r["variant"] == variant]
        best, last = max(own, key=lambda r: r["test_robust_accuracy"]), own[-1]
        per = verdicts["per_variant"].get(variant)
        rows.append([_label(variant), f"{fmt(best['test_robust_accuracy'])} (epoch {best['epoch']})",
                     "yes" if variant in verdicts["robust_variants"] else "no",
                     per["minimum_epoch"] if per else "–", last["test_accuracy"], last["test_robust_accuracy"],
                     last["robust_generalization_gap"], last["worst_case_flatness"], last["average_flatness"]])
    return rows


def _epoch_table(records: list[dict], variant: str) -> str:
    rows = [[r["epoch"], r["train_robust_loss"], r["test_robust_loss"], r["robust_generalization_gap"],
             r["test_accuracy"], r["test_robust_accuracy"], r["average_flatness"], r["worst_case_flatness"]]
            for r in records if r["variant"] == variant]
    return table(["epoch", "train robust loss", "test robust loss", "gap", "test acc.", "test robust acc.",
                  "average-case flatness", "worst-case flatness"], rows)


def _claim_section(key: str, claim: dict, verdicts: dict) -> list[str]:
    lines = [f"### {CLAIM_TITLES[key]}", "", f"Criterion: {CLAIM_CRITERIA[key]}", ""]
    if key == "overfitting_flatness" and verdicts["per_variant"]:
        rows = [[_label(v), p["minimum_epoch"], p["last_epoch"], p["points"], p["gap_change"], p["flatness_change"],
                 interval(p["average_case_correlation"]), p["outcome"]] for v, p in verdicts["per_variant"].items()]
        lines += [table(["variant", "minimum epoch", "last epoch", "epochs in r", "gap change", "worst-case "
                         "flatness change", "r(gap, average-case flatness), reported", "variant outcome"], rows), ""]
    if claim["tests"]:
        lines += [tests_table(claim["tests"]), ""]
    return [*lines, verdict_line(claim), ""]


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


def report(cfg, metrics: dict) -> str:
    records, verdicts = metrics["records"], metrics["verdicts"]
    classes = len(metrics["data"]["classes"])
    robust_tests = list(verdicts["robust"].values())
    lines = [
        f"# Flatness vs robust generalization on {cfg.dataset}", "",
        *data_lines(metrics["data"]), "",
        (f"Training: {', '.join(_label(v) for v in cfg.variants)} on the first {cfg.train_size or 'all'} training "
         f"images for {cfg.epochs} epochs (lr schedule {cfg.lr_schedule}; adversarial variants at ε = {cfg.epsilon}, "
         f"{cfg.train_attack.describe('ε')}; AWP γ = {cfg.awp_gamma}, warm-up {cfg.awp_warmup_epochs} epochs), "
         f"seed {cfg.seed}. Measured every {cfg.evaluate_every} epoch(s) and at the last: the robust loss (L∞ "
         f"PGD-{cfg.robust_steps}, ε = {cfg.epsilon}, {cfg.robust_restarts} restart(s), worst per example) on the "
         f"first {cfg.examples} training and test images; average-case flatness (ξ = {cfg.average_xi}, "
         f"{cfg.average_samples} samples) and worst-case flatness (ξ = {cfg.worst_xi}, {cfg.worst_passes} passes, "
         f"{cfg.worst_restarts} restart(s)) on the test images, each the perturbed minus the unperturbed test "
         f"robust loss (nats)."), "",
        ("Paper (Stutz et al., ICCV 2021; docs/papers.md §4): robust overfitting coincides with a loss of "
         "flatness of the robust loss in weight space, and methods that generalize better robustly (TRADES, MART, "
         "AWP, ...) sit in flatter minima."), "",
        "## Summary", "",
        table(["variant", "best test robust acc.", "robust", "minimum epoch", "last: test acc.",
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
    lines += ["## Figures", "", f"![per epoch]({metrics['figures']['epochs']})", "",
              f"![flatness vs gap]({metrics['figures']['flatness_vs_gap']})", "", "## Per epoch", ""]
    for variant in dict.fromkeys(r["variant"] for r in records):
        lines += [f"### {_label(variant)}", "", _epoch_table(records, variant), ""]
    lines.append(f"Total time: {metrics['seconds']} s.")
    return "\n".join(lines) + "\n"
