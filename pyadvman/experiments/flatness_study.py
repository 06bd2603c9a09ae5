"""Flatness of the robust loss against the robust generalization gap over training (Stutz, Hein & Schiele,
ICCV 2021; docs/papers.md §4): robust overfitting is said to coincide with a loss of flatness, and methods that
generalize better robustly (TRADES, MART, AWP) to sit in flatter minima. Each variant is trained keeping every
epoch's weights; robust losses and both flatness measures are measured every ``evaluate_every`` epochs; the
claims are tested on the robust variants (flatness_criteria.py) and reported (flatness_report.py)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, is_dataclass, replace
from pathlib import Path
from typing import ClassVar

import torch
from tqdm.auto import tqdm

from pyadvman._file_reading import load_checkpoint, load_weights
from pyadvman.analysis import RobustLoss, average_flatness, worst_case_flatness
from pyadvman.attacks.protocol import SIGNED_PGD, AttackProtocol
from pyadvman.configs import accepts_old_fields, config_from_preset
from pyadvman.errors import check_fields
from pyadvman.experiments import flatness_criteria, flatness_report
from pyadvman.experiments.classifier_config import ClassifierConfig, check_variants
from pyadvman.experiments.executors import Executor
from pyadvman.experiments.folder import ExperimentFolder, default_out_dir, locks_its_folder
from pyadvman.experiments.strong_evaluation import autoattack_record
from pyadvman.experiments.variant_cells import VariantRun, run_variants, train_variant
from pyadvman.models import build_model
from pyadvman.provenance import portable_fingerprint, provenance
from pyadvman.training import OBJECTIVES
from pyadvman.training.evaluation import clean_accuracy
from pyadvman.training.loop import load_trained
from pyadvman.training.run_folder import RunFolder, holds_results

PER_EXAMPLE_DIGITS = 5  # per-example robust losses are stored rounded (nats)


@accepts_old_fields
@dataclass(frozen=True)
class FlatnessConfig(ClassifierConfig):
    """Models, epochs and flatness measures, with ClassifierConfig's training fields (every epoch's weights kept;
    epsilon is also the robust loss's radius, paper: 8/255 on CIFAR-10). Use ``flatness_config("quick")`` for the
    quick preset (Fashion-MNIST at ε = 0.1, 2,500 training images, 40 epochs): its data and training are not the
    class defaults'."""

    train_size: int | None = 5000  # first N training examples (None: all)
    variants: tuple[str, ...] = ("normal", "adversarial", "trades", "mart", "awp")  # training objectives
    evaluate_every: int = 1  # measure every k-th epoch (and always the last)
    examples: int = 1000  # first training and test images of the robust losses (paper: 1000 test images)
    robust_attack: AttackProtocol = replace(SIGNED_PGD, steps=10)  # robust loss: PGD (paper: 20 steps, 10 restarts)
    average_xi: float = 0.5  # relative radius of average-case flatness (paper: 0.5)
    average_samples: int = 3  # random weight perturbations (paper: 10)
    worst_xi: float = 0.00075  # relative radius of worst-case flatness (paper: 0.00075)
    worst_passes: int = 2  # passes of the joint weight / input ascent (paper: 20)
    worst_restarts: int = 1  # restarts of the worst-case search (paper: 10)
    worst_searches: int = 3  # independent worst-case searches per measured epoch (their spread: the noise floor)
    last_epochs: int = 3  # the measured epochs at the end whose searches the criteria average
    worst_weight_lr: float = 0.01  # step of the normalised weight ascent (paper: 0.01)
    worst_input_step: float | None = None  # signed input step (default: robust_attack's; paper: 0.007)
    awp_gamma: float | None = None  # AWP's relative weight radius per layer; None: the authors' (AT 0.01, TRADES 0.005)
    awp_warmup_epochs: int = 0  # epochs before AWP starts (the authors' AT-AWP: 0)
    seed: int = 0  # training seed and attack seed

    CHOICES: ClassVar[dict] = {**ClassifierConfig.CHOICES, "variants": OBJECTIVES}  # listed by --help

    def __post_init__(self) -> None:
        super().__post_init__()
        check_variants(self.variants, OBJECTIVES)
        check_fields([
            (self.examples >= 2, "examples", ">= 2 (halves choose and test the minimum epoch)", self.examples),
            (self.evaluate_every >= 1, "evaluate_every", ">= 1", self.evaluate_every),
            (self.worst_searches >= 1, "worst_searches", ">= 1 (2 or more give the search's noise floor)",
             self.worst_searches),
            (self.last_epochs >= 1, "last_epochs", ">= 1", self.last_epochs),
            (self.awp_gamma is None or self.awp_gamma >= 0, "awp_gamma", "None or >= 0", self.awp_gamma),
        ])

    @classmethod
    def from_record(cls, record: dict):
        """The config stored in a run folder; runs of pyadvman 0.2 and earlier, which did not record
        ``worst_searches``, measured one worst-case search per epoch."""
        return super().from_record({"worst_searches": 1, **record})

    @classmethod
    def upgrade_record(cls, record: dict) -> dict:
        """pyadvman 0.1's ``robust_steps`` and ``robust_restarts`` as ``robust_attack``'s, and ClassifierConfig's."""
        record = super().upgrade_record(record)
        robust = {name: record.pop(f"robust_{name}") for name in ("steps", "restarts") if f"robust_{name}" in record}
        if robust:
            current = record.get("robust_attack") or {}
            record["robust_attack"] = {**(asdict(current) if is_dataclass(current) else current), **robust}
        return record

    def robust_loss(self) -> RobustLoss:
        return RobustLoss(eps=self.epsilon, norm=self.norm, protocol=self.robust_attack,
                          execution=self.attack_execution)

    def measured_epochs(self) -> tuple[int, ...]:
        """The epochs (1-based) whose weights are measured: every ``evaluate_every``-th and the last."""
        return tuple(sorted({*range(self.evaluate_every, self.epochs + 1, self.evaluate_every), self.epochs}))


# Fashion-MNIST at ε = 0.1: adversarial training becomes clearly robust there on a CPU; 2,500 training images and
# 40 epochs of the lr decayed per epoch (0.01·0.95^epoch) leave room for robust overfitting to show if it occurs
_FASHION = {"dataset": "fashion-mnist", "epsilon": 0.1, "train_size": 2500, "epochs": 40, "lr_schedule": "epoch"}
FLATNESS_PRESETS: dict[str, dict] = {
    # textbook adversarial training (signed PGD-7), every second epoch measured; about 12 minutes on 2 CPU cores
    "quick": {**_FASHION, "train_attack": replace(SIGNED_PGD, steps=7), "evaluate_every": 2},
    # the paper's measurement settings (PGD-20 with 10 restarts, 10 samples, 20 passes, 10 restarts) every epoch,
    # 3 independent worst-case searches as in quick
    "paper": {**_FASHION, "train_attack": replace(SIGNED_PGD, steps=10),
              "robust_attack": replace(SIGNED_PGD, steps=20, restarts=10), "average_samples": 10, "worst_passes": 20,
              "worst_restarts": 10,
              "autoattack_examples": 1000},
    # CIFAR-10 as the paper measures it (docs/papers.md §4): ResNet-18, ε 8/255, robust loss PGD-20 (step 0.007)
    # with 10 restarts on 1,000 test images, 10 average-case samples, worst-case 20 passes × 10 restarts (input
    # step 0.007), AutoAttack robust accuracy; trained with the cifar10 recipe (Rice et al.: SGD, crops and flips,
    # 200 epochs, lr ×0.1 at 100 and 150), every 10th epoch measured. GPU scale: docs/studies.md gives the time.
    "cifar10-paper": {"dataset": "cifar10", "training_preset": "cifar10", "model": "resnet18", "epochs": 200,
                      "lr_schedule": "piecewise", "epsilon": 8 / 255, "train_size": None,
                      "train_attack": replace(SIGNED_PGD, steps=10, step_size=2 / 255),
                      "robust_attack": replace(SIGNED_PGD, steps=20, step_size=0.007, restarts=10),
                      "worst_input_step": 0.007, "average_samples": 10, "worst_passes": 20, "worst_restarts": 10,
                      "evaluate_every": 10, "autoattack_examples": 1000},
    # the cifar10-paper measurements at a 2-core CPU's scale: the small ResNet (16 channels) on the first 2,500
    # training images, 10 epochs of the cifar10-quick recipe, PGD-5 training and PGD-10 robust-loss attacks on 250
    # images, every second epoch measured; the five variants the criteria compare
    "cifar10-quick": {"dataset": "cifar10", "training_preset": "cifar10-quick", "model": "resnet",
                      "model_options": {"channels": 16}, "epochs": 10, "lr_schedule": "piecewise",
                      "epsilon": 8 / 255, "train_size": 2500,
                      "train_attack": replace(SIGNED_PGD, steps=5, step_size=2 / 255),
                      "robust_attack": replace(SIGNED_PGD, steps=10, step_size=2 / 255), "examples": 250,
                      "evaluate_every": 2},
}


def flatness_config(preset: str = "quick", **overrides: object) -> FlatnessConfig:
    """The FlatnessConfig of ``preset`` ("quick", "paper", "cifar10-quick" or "cifar10-paper") with ``overrides``.

    Raises:
        ValueError: unknown preset or field, or an invalid value.
    """
    return config_from_preset(FlatnessConfig, FLATNESS_PRESETS, preset, **overrides)


def _rounded(values) -> list[float]:
    return [round(float(v), PER_EXAMPLE_DIGITS) for v in values]


def measure_epoch(cfg: FlatnessConfig, model, data) -> dict:
    """One epoch's weights: robust loss and accuracy on the first ``examples`` training images (of the
    ``train_size`` trained on) and test images, the gap (test − train robust loss), clean test accuracy,
    average-case flatness and ``worst_searches`` independent worst-case searches on the test images
    ("worst_case_flatness": their mean; "worst_case_searches": each search's; "failed_searches": those below 0,
    where the search found no loss above the unperturbed one), and the per-example robust losses the criteria
    resample ({"per_example": {"train_robust_loss", "test_robust_loss", "worst_case_robust_loss" (the mean
    over searches), "worst_case_robust_loss_searches" (one list per search)}})."""
    robust = cfg.robust_loss()
    trained = data.train.first(cfg.train_size) if cfg.train_size is not None else data.train
    train_split = trained.first(min(cfg.examples, len(trained)))
    test = data.test.first(min(cfg.examples, len(data.test)))
    train_losses, train_robust = robust.per_example(model, train_split.images, train_split.labels)
    base = robust.per_example(model, test.images, test.labels)
    average = average_flatness(model, test.images, test.labels, xi=cfg.average_xi, samples=cfg.average_samples,
                               robust_loss=robust, seed=cfg.seed, base=base)
    step = cfg.worst_input_step
    if step is None:
        step = cfg.robust_attack.step_size_for(cfg.epsilon)
    # independent searches (search s seeded seed + 1000·s): each is one noisy measurement of the same maximum
    searches = [worst_case_flatness(model, test.images, test.labels, xi=cfg.worst_xi, weight_lr=cfg.worst_weight_lr,
                                    input_step=step, passes=cfg.worst_passes, restarts=cfg.worst_restarts,
                                    robust_loss=robust, seed=cfg.seed + 1000 * s, base=base)
                for s in range(cfg.worst_searches)]
    flatness = [float(search["flatness"]) for search in searches]
    worst_losses = torch.stack([search["perturbed_losses"] for search in searches])
    train_loss = float(train_losses.mean())
    return {"examples": len(test), "train_robust_loss": train_loss,
            "train_robust_accuracy": float(train_robust.double().mean()),
            "test_robust_loss": average["robust_loss"], "test_robust_accuracy": average["robust_accuracy"],
            "test_accuracy": clean_accuracy(model, test.images, test.labels),
            "robust_generalization_gap": average["robust_loss"] - train_loss,
            "average_flatness": average["flatness"], "worst_case_flatness": sum(flatness) / len(flatness),
            "worst_case_searches": flatness, "failed_searches": sum(f < 0 for f in flatness),
            "per_example": {"train_robust_loss": _rounded(train_losses), "test_robust_loss": _rounded(base[0]),
                            "worst_case_robust_loss": _rounded(worst_losses.mean(dim=0)),
                            "worst_case_robust_loss_searches": [_rounded(row) for row in worst_losses]}}


def flatness_cell(run: VariantRun, variant: str, progress: bool) -> dict:
    """One variant's cell: trains it keeping every epoch's weights, measures the measured epochs (each cached as
    models/<variant>/flatness_epoch_<k>.json) and, with autoattack_examples, runs AutoAttack on the final model
    (cached as autoattack.json); {"records": one per measured epoch, "autoattack": the record or None}."""
    cfg, folder, data = run.cfg, run.folder, run.data
    device = cfg.execution.torch_device()
    # the final test attack: signed PGD with the robust loss's steps and one restart (as pyadvman 0.1 ran it)
    run_dir = train_variant(cfg, variant, folder, data, progress=progress, validation_attack=None,
                            selection="last", eval_examples=cfg.examples,
                            eval_attack=replace(SIGNED_PGD, steps=cfg.robust_attack.steps), epoch_checkpoints=True,
                            awp_gamma=cfg.awp_gamma, awp_warmup_epochs=cfg.awp_warmup_epochs).out_dir
    records = []
    for epoch in tqdm(cfg.measured_epochs(), desc=f"measure {variant}", unit="epoch", disable=not progress):
        def measure(epoch=epoch):
            model = build_model(cfg.model, data.image_shape, len(data.classes), **cfg.model_options).to(device)
            path = RunFolder(run_dir).epoch_checkpoint(epoch)
            advice = f"delete {run_dir} to train this variant again"
            load_weights(model, load_checkpoint(path, advice), "model", path, advice)
            return measure_epoch(cfg, model.eval(), data)
        record = folder.cached(run_dir / f"flatness_epoch_{epoch}.json", measure)
        records.append({"variant": variant, "epoch": epoch, **record})
    autoattack = None
    if cfg.autoattack_examples:
        def evaluate():
            model, _ = load_trained(run_dir, map_location=device)
            return autoattack_record(model, data.test, cfg.epsilon, cfg.autoattack_examples, cfg.seed,
                                     run_dir / "autoattack", progress=progress,
                                     execution=cfg.attack_execution, norm=cfg.norm)
        autoattack = folder.cached(run_dir / "autoattack.json", evaluate)
    return {"records": records, "autoattack": autoattack}


@locks_its_folder("flatness")
def run(cfg: FlatnessConfig, out_dir: str | Path | None = None, *, resume: bool = False,
        progress: bool = True, executor: Executor | None = None) -> dict:
    """Trains each variant keeping every epoch's weights, measures robust losses and both flatness measures at
    the measured epochs, tests the claims and writes metrics.json ({"experiment", "config", "data", "resumed",
    "records" (one per variant and epoch, without the per-example losses), "verdicts" (flatness_criteria.evaluate),
    "figures", "seconds"}), figures/*.png and report.md into ``out_dir`` (default runs/flatness-<dataset>).
    Resumable: trained models and measured epochs (models/<variant>/flatness_epoch_<k>.json) are reloaded. Each
    variant is one cell of ``executor`` (``flatness_cell``; local by default, or Ray).

    Raises:
        FileExistsError: out_dir holds a run and resume is False. ValueError: resuming with another config.
    """
    folder = ExperimentFolder(out_dir or default_out_dir("flatness", cfg.dataset))
    started = time.monotonic()
    data = cfg.load_data()
    resumed = resume and holds_results(folder.root)  # anything of an earlier invocation to reload
    folder.prepare(cfg, data, resume)
    cells = run_variants(flatness_cell, cfg, folder, data, executor, progress=progress)
    records = [record for cell in cells.values() for record in cell["records"]]
    autoattack = {variant: cell["autoattack"] for variant, cell in cells.items() if cell["autoattack"] is not None}
    verdicts = flatness_criteria.evaluate(records, len(data.classes), cfg.last_epochs)
    figures = flatness_report.figures(records, verdicts, folder.figures)
    metrics = {"experiment": "flatness", "config": asdict(cfg), "data": portable_fingerprint(data.fingerprint),
               "provenance": provenance(criteria_version=flatness_criteria.CRITERIA_VERSION), "resumed": resumed,
               "records": [{k: v for k, v in r.items() if k != "per_example"} for r in records],
               "verdicts": verdicts, "autoattack": autoattack,
               "figures": {k: str(p.relative_to(folder.root)) for k, p in figures.items()},
               "seconds": round(time.monotonic() - started, 1)}
    folder.write_results(metrics, flatness_report.report(cfg, metrics))
    return metrics
