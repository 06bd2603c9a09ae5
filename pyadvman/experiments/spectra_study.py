"""Layer spectra and confidence of normal vs adversarially trained classifiers (Wen, Li & Jia, ICML 2020;
docs/papers.md §2): adversarial training is said to make each layer's response to input changes smaller and more
uniform across directions, and predictions less confident."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from matplotlib.figure import Figure

from pyadvman.analysis import (
    SpectrumSummary,
    confidence,
    jacobian_singular_values,
    layer_input_shapes,
    linear_layers,
    weight_operator_singular_values,
)
from pyadvman.analysis.uncertainty import mean_interval, mean_std
from pyadvman.attacks.protocol import SIGNED_PGD
from pyadvman.configs import accepts_old_fields, config_from_preset
from pyadvman.errors import check_fields
from pyadvman.experiments.classifier_config import ClassifierConfig, check_variants
from pyadvman.experiments.executors import Executor
from pyadvman.experiments.folder import ExperimentFolder, default_out_dir, locks_its_folder
from pyadvman.experiments.report import interval, table, tests_table, training_images, verdict_line
from pyadvman.experiments.study_config import variant_label
from pyadvman.experiments.variant_cells import VariantRun, run_variants, train_variant
from pyadvman.experiments.verdicts import all_of, compare, verdict_of
from pyadvman.training import OBJECTIVES


@accepts_old_fields
@dataclass(frozen=True)
class SpectraConfig(ClassifierConfig):
    """Models and measurements on FONTS, with ClassifierConfig's training fields. Use ``spectra_config("quick")``
    for the quick preset: its training (signed PGD-10, 10 epochs, per-epoch decay) is not the class defaults'."""

    train_size: int | None = 10000  # first N training examples (None: all)
    variants: tuple[str, ...] = ("normal", "adversarial")  # training objectives; the first is the baseline
    jacobian_examples: int = 100  # first test images whose input-to-layer Jacobians are decomposed
    confidence_examples: int = 1000  # first training and test images of the confidence statistics
    seed: int = 0  # training seed

    CHOICES: ClassVar[dict] = {**ClassifierConfig.CHOICES, "variants": OBJECTIVES}  # listed by --help

    def __post_init__(self) -> None:
        super().__post_init__()
        check_variants(self.variants, OBJECTIVES)
        check_fields([
            (self.jacobian_examples >= 1, "jacobian_examples", ">= 1", self.jacobian_examples),
            (self.confidence_examples >= 1, "confidence_examples", ">= 1", self.confidence_examples),
        ])


SPECTRA_PRESETS: dict[str, dict] = {
    # textbook adversarial training (signed PGD-10), 10 epochs with the lr decayed per epoch
    "quick": {"epochs": 10, "lr_schedule": "epoch", "train_attack": replace(SIGNED_PGD, steps=10)},
    "paper": {"fonts_preset": "paper", "train_size": None, "epochs": 20, "lr_schedule": "epoch",
              "train_attack": SIGNED_PGD, "jacobian_examples": 100, "confidence_examples": 10000},
}


def spectra_config(preset: str = "quick", **overrides: object) -> SpectraConfig:
    """The SpectraConfig of ``preset`` ("quick" or "paper") with ``overrides``.

    Raises:
        ValueError: unknown preset or field, or an invalid value.
    """
    return config_from_preset(SpectraConfig, SPECTRA_PRESETS, preset, **overrides)


def _summary(values: torch.Tensor) -> dict[str, float]:
    return asdict(SpectrumSummary.of(values))


def measure(cfg: SpectraConfig, model, data) -> dict:
    """Per layer: the weight operator's singular values and summary, and the mean over examples of the
    Jacobian spectrum summaries; confidence statistics on training and test images."""
    shapes = layer_input_shapes(model, data.image_shape)
    jacobians = jacobian_singular_values(model, data.test.images[:cfg.jacobian_examples])
    layers = {}
    for name, layer in linear_layers(model):
        weight = weight_operator_singular_values(layer, shapes[name])
        per_example = [SpectrumSummary.of(row) for row in jacobians[name]]
        largest = [s.largest for s in per_example]
        layers[name] = {"weight": {**_summary(weight), "singular_values": weight.tolist()},
                        "jacobian": {key: float(np.mean([getattr(s, key) for s in per_example]))
                                     for key in ("largest", "std", "condition")},
                        "jacobian_largest": {"mean": mean_interval(largest).as_dict(),
                                             "std_over_images": mean_std(largest)[1], "per_image": largest},
                        "jacobian_mean_singular_values": jacobians[name].mean(dim=0).tolist()}
    stats = {}
    for split_name, split in (("train", data.train), ("test", data.test)):
        part = split.first(min(cfg.confidence_examples, len(split)))
        c = confidence(model, part.images, part.labels)
        stats[split_name] = {"accuracy": float(c["correct"].double().mean()),
                             "mean_max_probability": float(c["max_probability"].mean()),
                             "mean_logit_margin": float(c["logit_margin"].mean()),
                             "mean_true_class_margin": float(c["true_class_margin"].mean()),
                             "max_probability": c["max_probability"].tolist()}
    return {"layers": layers, "confidence": stats}


def _figure(results: dict[str, dict], path: Path) -> Path:
    names = list(next(iter(results.values()))["layers"])
    fig = Figure(figsize=(3.2 * (len(names) + 1), 6))
    for row, (key, label) in enumerate((("singular_values", "weight operator σ"),
                                        ("jacobian_mean_singular_values", "input Jacobian σ (mean)"))):
        for col, name in enumerate(names):
            ax = fig.add_subplot(2, len(names) + 1, row * (len(names) + 1) + col + 1)
            for i, (variant, result) in enumerate(results.items()):
                entry = result["layers"][name]
                values = entry["weight"][key] if key == "singular_values" else entry[key]
                ax.semilogy(values, color=f"C{i}", label=variant_label(variant))
            ax.set_title(f"{name}: {label}", fontsize=8)
            ax.set_xlabel("index", fontsize=7)
            ax.legend(fontsize=6)
    ax = fig.add_subplot(2, len(names) + 1, len(names) + 1)
    for i, (variant, result) in enumerate(results.items()):
        ax.hist(result["confidence"]["test"]["max_probability"], bins=20, range=(0, 1), alpha=0.5, color=f"C{i}",
                label=variant_label(variant))
    ax.set_title("test softmax confidence", fontsize=8)
    ax.legend(fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def _paired(base: list[float], other: list[float]) -> np.ndarray:
    return np.asarray(base, dtype=np.float64) - np.asarray(other, dtype=np.float64)


def verdicts(cfg: SpectraConfig, results: dict[str, dict]) -> dict:
    """Paper 2's two observations, the baseline (first variant) against every other variant, each a test on the
    same test images (paired differences, t interval; pyadvman.experiments.verdicts): (a) lower test softmax
    confidence, baseline minus variant > 0; (b) a smaller largest singular value of the input-to-logits
    Jacobian (the last layer), baseline minus variant > 0. Each holds when it holds for every other variant.

    Returns:
        {"less_confident", "smoother": {"verdict", "tests", "decided_by"}, "last_layer"}.
    """
    base, others = cfg.variants[0], cfg.variants[1:]
    last = list(results[base]["layers"])[-1]
    confident = [compare(f"test confidence of {variant_label(base)} minus {variant_label(v)}",
                         mean_interval(_paired(results[base]["confidence"]["test"]["max_probability"],
                                               results[v]["confidence"]["test"]["max_probability"])), ">", 0.0)
                 for v in others]
    smoother = [compare(f"largest Jacobian σ at {last}: {variant_label(base)} minus {variant_label(v)}",
                        mean_interval(_paired(results[base]["layers"][last]["jacobian_largest"]["per_image"],
                                              results[v]["layers"][last]["jacobian_largest"]["per_image"])),
                        ">", 0.0) for v in others]
    return {"less_confident": {"tests": confident, **verdict_of(all_of(confident))},
            "smoother": {"tests": smoother, **verdict_of(all_of(smoother))}, "last_layer": last}


def report(cfg: SpectraConfig, metrics: dict) -> str:
    results = metrics["results"]
    layer_rows = [[name, variant_label(v), results[v]["layers"][name]["weight"]["largest"],
                   results[v]["layers"][name]["weight"]["std"],
                   interval(results[v]["layers"][name]["jacobian_largest"]["mean"]),
                   results[v]["layers"][name]["jacobian_largest"]["std_over_images"],
                   results[v]["layers"][name]["jacobian"]["std"], results[v]["layers"][name]["jacobian"]["condition"]]
                  for name in results[cfg.variants[0]]["layers"] for v in cfg.variants]
    confidence_rows = [[variant_label(v), split, results[v]["confidence"][split]["accuracy"],
                        results[v]["confidence"][split]["mean_max_probability"],
                        results[v]["confidence"][split]["mean_logit_margin"]]
                       for v in cfg.variants for split in ("train", "test")]
    v = metrics["verdicts"]
    return "\n".join([
        f"# Layer spectra and confidence on {cfg.dataset}", "",
        (f"Models trained on {training_images(cfg)} training examples for {cfg.epochs} epochs "
        f"(adversarial variants: ε = {cfg.epsilon}, {cfg.train_attack.describe('ε')}). Jacobians of each layer's "
        f"output w.r.t. the input on the first {cfg.jacobian_examples} test images: the mean over images with its "
        f"95% t interval, and the spread (standard deviation) of the largest singular value over images."), "",
        table(["layer", "variant", "weight σ_max", "weight σ std", "Jacobian σ_max (mean [95%])",
               "Jacobian σ_max std over images", "Jacobian σ std", "Jacobian condition"], layer_rows), "",
        table(["variant", "split", "accuracy", "mean softmax confidence", "mean logit margin"], confidence_rows), "",
        ("Paper (docs/papers.md §2): adversarial training regularises towards less confident solutions and smoother, "
        "more uniform layer responses to input changes."), "",
        ("Criterion (a): every other variant is less confident on the test images than the first (softmax "
         "confidence, first minus other, paired over the same images: t interval > 0)."), "",
        tests_table(v["less_confident"]["tests"]), "", verdict_line(v["less_confident"]), "",
        (f"Criterion (b): every other variant has a smaller largest Jacobian singular value at {v['last_layer']} "
         f"(first minus other, paired over the same images: t interval > 0)."), "",
        tests_table(v["smoother"]["tests"]), "", verdict_line(v["smoother"]), "",
        f"![spectra]({metrics['figures']['spectra']})", ""])


def spectra_cell(run: VariantRun, variant: str, progress: bool) -> dict:
    """One variant's cell: trains it (or reloads it) and measures it (``measure``, cached as
    models/<variant>/spectra.json)."""
    cfg, folder, data = run.cfg, run.folder, run.data
    trained = train_variant(cfg, variant, folder, data, progress=progress,
                            validation_attack=replace(SIGNED_PGD, steps=5), eval_examples=200,
                            eval_attack=replace(SIGNED_PGD, steps=10))
    return folder.cached(folder.models / variant / "spectra.json", lambda: measure(cfg, trained.model, data))


@locks_its_folder("spectra")
def run(cfg: SpectraConfig, out_dir: str | Path | None = None, *, resume: bool = False,
        progress: bool = True, executor: Executor | None = None) -> dict:
    """Trains each variant, measures spectra and confidence, and writes metrics.json ({"config", "results":
    {variant: {"layers", "confidence"}}, "verdicts", "figures", "seconds"}), figures/spectra.png and report.md
    into ``out_dir`` (default runs/spectra-<dataset>). Resumable; each variant one cell of ``executor``
    (``spectra_cell``; local by default, or Ray).

    Raises:
        FileExistsError: out_dir holds a run and resume is False. ValueError: resuming with another config.
    """
    folder = ExperimentFolder(out_dir or default_out_dir("spectra", cfg.dataset))
    started = time.monotonic()
    data = cfg.load_data()
    folder.prepare(cfg, data, resume)
    results = run_variants(spectra_cell, cfg, folder, data, executor, progress=progress)
    path = _figure(results, folder.figures / "spectra.png")
    metrics = {"experiment": "spectra", "config": asdict(cfg), "results": results,
               "verdicts": verdicts(cfg, results), "figures": {"spectra": str(path.relative_to(folder.root))},
               "seconds": round(time.monotonic() - started, 1)}
    folder.write_results(metrics, report(cfg, metrics))
    return metrics
