"""Flatness of the robust loss against the robust generalization gap (Stutz, Hein & Schiele, ICCV 2021;
docs/papers.md §4), across training variants and the epochs of each: robust overfitting is said to coincide with a
loss of flatness, and methods that generalize better robustly to sit in flatter minima."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import ClassVar

import torch
from matplotlib.figure import Figure

from pyadvman._file_reading import load_checkpoint
from pyadvman._presets import config_from_preset
from pyadvman.analysis import RobustLoss, average_flatness, linear_fit, worst_case_flatness
from pyadvman.errors import check_fields
from pyadvman.experiments.folder import ExperimentFolder, default_out_dir
from pyadvman.experiments.one_size import train_variant
from pyadvman.experiments.classifier_config import ClassifierConfig
from pyadvman.attacks.protocol import SIGNED_PGD
from pyadvman.experiments.report import table, verdict
from pyadvman.experiments.study import VARIANT_LABELS
from pyadvman.models import build_model
from pyadvman.training import OBJECTIVE_NAMES
from pyadvman.training.distributed import Processes
from pyadvman.training.loop import resolve_device
from pyadvman.training.run_folder import RunFolder


@dataclass(frozen=True)
class FlatnessConfig(ClassifierConfig):
    """Models, epochs and flatness measures on FONTS, with ClassifierConfig's training fields (every epoch's
    weights kept; epsilon is also the robust loss's radius, paper: 8/255 on CIFAR-10). Use
    ``flatness_config("quick")`` for the quick preset: its training (signed PGD-7, 6 epochs, per-epoch decay) is
    not the class defaults'."""

    train_size: int | None = 5000  # first N training examples (None: all)
    variants: tuple[str, ...] = ("normal", "adversarial", "trades")  # TrainConfig objectives
    evaluated_epochs: tuple[int, ...] = ()  # epochs whose flatness is measured (empty: every epoch)
    examples: int = 200  # first training and test images of the robust losses (paper: 1000 test images)
    robust_steps: int = 10  # PGD steps of the robust loss (paper: 20)
    robust_restarts: int = 1  # restarts of the robust loss, worst kept per example (paper: 10)
    average_xi: float = 0.5  # relative radius of average-case flatness (paper: 0.5)
    average_samples: int = 3  # random weight perturbations (paper: 10)
    worst_xi: float = 0.00075  # relative radius of worst-case flatness (paper: 0.00075)
    worst_passes: int = 2  # passes of the joint weight / input ascent (paper: 20)
    worst_restarts: int = 1  # restarts of the worst-case search (paper: 10)
    worst_weight_lr: float = 0.01  # step of the normalised weight ascent (paper: 0.01)
    worst_input_step: float | None = None  # signed input step (default 2.5·epsilon/robust_steps; paper: 0.007)
    seed: int = 0  # training seed and attack seed

    OPTION_CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"variants": OBJECTIVE_NAMES}  # listed by the command's --help

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fields([
            (len(self.variants) >= 1 and all(v in OBJECTIVE_NAMES for v in self.variants), "variants",
             f"a non-empty tuple of {OBJECTIVE_NAMES}", self.variants),
            (self.examples >= 1, "examples", ">= 1", self.examples),
            (all(1 <= e <= self.epochs for e in self.evaluated_epochs), "evaluated_epochs",
             f"epochs in [1, {self.epochs}] (1 … epochs)", self.evaluated_epochs),
        ])

    def robust_loss(self) -> RobustLoss:
        return RobustLoss(eps=self.epsilon, steps=self.robust_steps, alpha=None, restarts=self.robust_restarts)


FLATNESS_PRESETS: dict[str, dict] = {
    # textbook adversarial training (signed PGD-7), 6 epochs with the lr decayed per epoch
    "quick": {"epochs": 6, "lr_schedule": "epoch", "train_attack": replace(SIGNED_PGD, steps=7)},
    "paper": {"fonts_preset": "paper", "train_size": None, "variants": ("normal", "adversarial",
              "trades", "mart"), "epochs": 20, "lr_schedule": "epoch", "train_attack": SIGNED_PGD,
              "examples": 1000, "robust_steps": 20, "robust_restarts": 10, "average_samples": 10,
              "worst_passes": 20, "worst_restarts": 10},
}


def flatness_config(preset: str = "quick", **overrides: object) -> FlatnessConfig:
    """The FlatnessConfig of ``preset`` ("quick" or "paper") with ``overrides``.

    Raises:
        ValueError: unknown preset or field, or an invalid value.
    """
    return config_from_preset(FlatnessConfig, FLATNESS_PRESETS, preset, **overrides)


def _measure(cfg: FlatnessConfig, model, data) -> dict:
    torch.manual_seed(cfg.seed)
    robust = cfg.robust_loss()
    train_split, test = data.train.first(min(cfg.examples, len(data.train))), data.test.first(cfg.examples)
    train_loss, train_accuracy = robust(model, train_split.images, train_split.labels)
    average = average_flatness(model, test.images, test.labels, xi=cfg.average_xi, samples=cfg.average_samples,
                               robust_loss=robust, seed=cfg.seed)
    step = cfg.worst_input_step if cfg.worst_input_step is not None else 2.5 * cfg.epsilon / max(cfg.robust_steps, 1)
    worst = worst_case_flatness(model, test.images, test.labels, xi=cfg.worst_xi, weight_lr=cfg.worst_weight_lr,
                                input_step=step, passes=cfg.worst_passes, restarts=cfg.worst_restarts,
                                robust_loss=robust, seed=cfg.seed)
    return {"train_robust_loss": train_loss, "train_robust_accuracy": train_accuracy,
            "test_robust_loss": average["robust_loss"], "test_robust_accuracy": average["robust_accuracy"],
            "robust_generalization_gap": average["robust_loss"] - train_loss,
            "average_flatness": average["flatness"], "worst_case_flatness": worst["flatness"]}


def _figure(records: list[dict], fits: dict, path: Path) -> Path:
    fig = Figure(figsize=(13, 3.8))
    for i, (key, label) in enumerate((("average_flatness", "average-case flatness"),
                                      ("worst_case_flatness", "worst-case flatness"))):
        ax = fig.add_subplot(1, 3, i + 1)
        for j, variant in enumerate(dict.fromkeys(r["variant"] for r in records)):
            rows = [r for r in records if r["variant"] == variant]
            ax.plot([r["robust_generalization_gap"] for r in rows], [r[key] for r in rows], "o-", color=f"C{j}",
                    label=VARIANT_LABELS.get(variant, variant))
            for r in rows:
                ax.annotate(str(r["epoch"]), (r["robust_generalization_gap"], r[key]), fontsize=6)
        fit = fits.get(key)
        ax.set_title(f"r = {fit['pearson_r']:.3f}" if fit else "no fit", fontsize=9)
        ax.set_xlabel("robust generalization gap (test − train robust loss)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax = fig.add_subplot(1, 3, 3)
    for j, variant in enumerate(dict.fromkeys(r["variant"] for r in records)):
        rows = [r for r in records if r["variant"] == variant]
        ax.plot([r["epoch"] for r in rows], [r["train_robust_loss"] for r in rows], "--", color=f"C{j}")
        ax.plot([r["epoch"] for r in rows], [r["test_robust_loss"] for r in rows], "-", color=f"C{j}",
                label=f"{VARIANT_LABELS.get(variant, variant)} (test solid, train dashed)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("robust loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def _fit(records: list[dict], key: str) -> dict | None:
    try:
        return linear_fit([r["robust_generalization_gap"] for r in records], [r[key] for r in records]).as_dict()
    except ValueError:
        return None


def report(cfg: FlatnessConfig, metrics: dict) -> str:
    rows = [[VARIANT_LABELS.get(r["variant"], r["variant"]), r["epoch"], r["train_robust_loss"],
             r["test_robust_loss"], r["robust_generalization_gap"], r["test_robust_accuracy"], r["average_flatness"],
             r["worst_case_flatness"]] for r in metrics["records"]]
    fits = metrics["fits"]
    fit_rows = [[key, fit["slope"], fit["pearson_r"], fit["n"]] if fit else [key, None, None, 0]
                for key, fit in fits.items()]
    return "\n".join([
        f"# Flatness vs robust generalization on {cfg.dataset}", "",
        (f"Robust loss: L∞ PGD-{cfg.robust_steps}, ε = {cfg.epsilon}, {cfg.robust_restarts} restart(s), worst per "
        f"example, on the first {cfg.examples} training / test images. Average-case flatness: ξ = {cfg.average_xi}, "
        f"{cfg.average_samples} samples; worst-case: ξ = {cfg.worst_xi}, {cfg.worst_passes} passes, "
        f"{cfg.worst_restarts} restart(s). Flatness = perturbed minus unperturbed test robust loss."), "",
        table(["variant", "epoch", "train robust loss", "test robust loss", "gap", "test robust acc.",
               "average flatness", "worst-case flatness"], rows), "",
        "Correlation of flatness with the robust generalization gap over all (variant, epoch) points:", "",
        table(["measure", "slope", "Pearson r", "points"], fit_rows), "",
        ("Paper (docs/papers.md §4): robust overfitting coincides with a loss of flatness; methods that generalize "
        "better robustly sit in flatter minima."), "",
        "Criterion: worst-case flatness correlates positively with the robust generalization gap (r > 0).", "",
        verdict(metrics["holds"]), "", f"![flatness]({metrics['figures']['flatness']})", ""])


def run(cfg: FlatnessConfig, out_dir: str | Path | None = None, *, resume: bool = False,
        progress: bool = True) -> dict:
    """Trains each variant keeping every epoch's weights, measures robust losses and both flatness measures at
    the evaluated epochs, and writes metrics.json ({"config", "records", "fits", "holds", "figures",
    "seconds"}), figures/flatness.png and report.md into ``out_dir`` (default runs/flatness-<dataset>).
    Resumable: trained models and measured epochs are reloaded.

    Raises:
        FileExistsError: out_dir holds a run and resume is False. ValueError: resuming with another config.
    """
    folder = ExperimentFolder(out_dir or default_out_dir("flatness", cfg.dataset))
    started = time.monotonic()
    data = cfg.load_data()
    folder.prepare(cfg, data, resume)
    device = resolve_device(cfg.device, Processes())
    epochs = cfg.evaluated_epochs or tuple(range(1, cfg.epochs + 1))
    records = []
    for variant in cfg.variants:
        run_dir = train_variant(cfg, variant, folder, data, progress=progress, validation_attack_steps=0,
                                selection="last", eval_examples=cfg.examples,
                                eval_attack=replace(SIGNED_PGD, steps=cfg.robust_steps),
                                epoch_checkpoints=True).out_dir
        for epoch in epochs:
            def measure(epoch=epoch, run_dir=run_dir):
                model = build_model(cfg.model, data.image_shape, len(data.classes)).to(device)
                path = RunFolder(run_dir).epoch_checkpoint(epoch)
                saved = load_checkpoint(path, f"delete {run_dir} to train this variant again")
                model.load_state_dict(saved["model"])
                return _measure(cfg, model.eval(), data)
            record = folder.cached(run_dir / f"flatness_epoch_{epoch}.json", measure)
            records.append({"variant": variant, "epoch": epoch, **record})
    fits = {key: _fit(records, key) for key in ("average_flatness", "worst_case_flatness")}
    worst = fits["worst_case_flatness"]
    path = _figure(records, fits, folder.figures / "flatness.png")
    metrics = {"experiment": "flatness", "config": asdict(cfg), "records": records, "fits": fits,
               "holds": None if worst is None else worst["pearson_r"] > 0,
               "figures": {"flatness": str(path.relative_to(folder.root))},
               "seconds": round(time.monotonic() - started, 1)}
    folder.write_results(metrics, report(cfg, metrics))
    return metrics
