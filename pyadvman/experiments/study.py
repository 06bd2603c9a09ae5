"""The grid of the sample-complexity study (Stutz et al., CVPR 2019, Sec. 4; docs/papers.md §1): training variants ×
training-set sizes N × seeds, each model trained on the first N training examples and evaluated on test data
(test error, PGD robust accuracy and success rate, on-manifold success rate)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn
from tqdm.auto import tqdm

from pyadvman.attacks import LearnedManifoldAttack, TrueManifoldAttack, attack_in_batches
from pyadvman.attacks.base import Attack
from pyadvman.data import DatasetSplits
from pyadvman.errors import ConfigError, check_fields
from pyadvman.experiments.data_config import DataConfig
from pyadvman.experiments.folder import ExperimentFolder
from pyadvman.manifolds import FontsRenderer
from pyadvman.manifolds.learned_manifold import LearnedManifold, fit_learned_manifold
from pyadvman.manifolds.vae_gan import vae_gan_config
from pyadvman.training import train, train_config
from pyadvman.training.distributed import Processes
from pyadvman.training.loop import resolve_device
from pyadvman.training.objectives import theta_range

# "on_manifold" is on-true-manifold adversarial training where the dataset has a true manifold (FONTS), else
# on-learned-manifold; the others are TrainConfig objectives.
VARIANTS = ("normal", "adversarial", "on_manifold", "on_true_manifold", "on_learned_manifold", "stn",
            "adversarial_transformation")
VARIANT_LABELS = {"normal": "normal", "adversarial": "regular AT", "on_true_manifold": "on-true-manifold AT",
                  "on_learned_manifold": "on-learned-manifold AT", "stn": "STN augmentation",
                  "adversarial_transformation": "adversarial-transformation AT", "trades": "TRADES", "mart": "MART",
                  "alp": "ALP", "clp": "CLP", "dale": "DALE"}
MANIFOLDS = ("auto", "true", "learned")


@dataclass(frozen=True)
class StudyConfig(DataConfig):
    """The models of a study and how they are attacked (defaults: the quick preset on FONTS)."""

    train_sizes: tuple[int, ...] = (500, 2500, 10000)  # N: each model sees the first N training examples
    seeds: tuple[int, ...] = (0,)  # one model per (variant, N, seed); paper: 5 per N
    variants: tuple[str, ...] = ("normal", "adversarial", "on_manifold")  # training variants, comma-separated
    manifold: str = "auto"  # on-manifold attacks and training: true (FONTS renderer), learned (VAE-GANs) or auto
    vae_gan_preset: str = "quick"  # learned manifold: quick or paper (pyadvman.manifolds.vae_gan)
    vae_gan_options: dict = field(default_factory=dict)  # overrides of the VAE-GAN config, e.g. {"epochs": 2}
    model: str = "standard"  # classifier architecture: standard | resnet | mlp | vgg
    epochs: int = 15  # training epochs (paper: 20)
    train_attack_steps: int = 10  # iterations of the training attacks (paper: 40)
    validation_attack_steps: int = 5  # PGD steps of the per-epoch robust validation of regular AT
    epsilon: float = 0.3  # L∞ radius of regular attacks and regular AT (images in [0, 1])
    eta: float = 0.3  # L∞ radius of on-manifold attacks and training in code space (θ or z)
    attack_examples: int = 500  # first test images attacked (paper: 1000 regular, 2500 on-manifold)
    attack_steps: int = 20  # iterations of the evaluation attacks (paper: 40)
    attack_restarts: int = 1  # restarts of the evaluation attacks (paper: 5)
    device: str = "auto"  # auto | cpu | cuda

    OPTION_CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"variants": VARIANTS}  # listed by the command's --help

    def __post_init__(self) -> None:
        checks = [
            (len(self.train_sizes) >= 1 and all(n >= 1 for n in self.train_sizes), "train_sizes",
             "a non-empty tuple of sizes >= 1", self.train_sizes),
            (len(self.seeds) >= 1, "seeds", "a non-empty tuple", self.seeds),
            (len(self.variants) >= 1 and all(v in VARIANTS for v in self.variants), "variants",
             f"a non-empty tuple of {VARIANTS}", self.variants),
            (self.manifold in MANIFOLDS, "manifold", f"one of {MANIFOLDS}", self.manifold),
            (self.epochs >= 1, "epochs", ">= 1", self.epochs),
            (self.epsilon >= 0 and self.eta >= 0, "epsilon and eta", ">= 0", (self.epsilon, self.eta)),
            (self.attack_examples >= 1, "attack_examples", ">= 1", self.attack_examples),
            (self.attack_steps >= 0 and self.train_attack_steps >= 0, "attack_steps and train_attack_steps",
             ">= 0", (self.attack_steps, self.train_attack_steps)),
            (self.attack_restarts >= 1, "attack_restarts", ">= 1", self.attack_restarts),
        ]
        check_fields(checks)


PAPER_TRAIN_SIZES = (250, 500, 1000, 1500, 2000, 2500, 5000, 7500, 10000, 15000, 20000, 30000, 40000)

# The paper's scale (docs/papers.md §1), for a GPU; the quick preset is StudyConfig's defaults.
STUDY_PAPER_PRESET: dict[str, object] = {
    "fonts_preset": "paper", "train_sizes": PAPER_TRAIN_SIZES, "seeds": (0, 1, 2, 3, 4),
    "variants": ("normal", "adversarial", "on_manifold", "on_learned_manifold", "stn", "adversarial_transformation"),
    "vae_gan_preset": "paper", "epochs": 20, "train_attack_steps": 40, "validation_attack_steps": 10,
    "attack_examples": 1000, "attack_steps": 40, "attack_restarts": 5,
}


@dataclass
class Study:
    """What the variants are trained and attacked with: the data, the manifold kind and its generator."""

    cfg: StudyConfig
    data: DatasetSplits
    manifold_kind: str  # "true" or "learned"
    renderer: FontsRenderer | None
    learned: LearnedManifold | None
    learned_path: Path | None

    def objective(self, variant: str) -> str:
        return f"on_{self.manifold_kind}_manifold" if variant == "on_manifold" else variant

    def on_manifold_attack(self) -> Attack:
        cfg = self.cfg
        if self.manifold_kind == "true":
            low, high = theta_range(self.data)
            return TrueManifoldAttack(renderer=self.renderer, theta_low=low, theta_high=high, eta=cfg.eta,
                                      steps=cfg.attack_steps, restarts=cfg.attack_restarts)
        return LearnedManifoldAttack(manifold=self.learned, eta=cfg.eta, steps=cfg.attack_steps,
                                     restarts=cfg.attack_restarts)

    def attack_on_manifold(self, model: nn.Module, examples: int, seed: int):
        """The on-manifold attack on the first ``examples`` test images; an AttackResult."""
        test = self.data.test.first(min(examples, len(self.data.test)))
        codes = {"codes": test.codes, "theta": test.theta} if self.manifold_kind == "true" else {}
        torch.manual_seed(seed)
        return attack_in_batches(self.on_manifold_attack(), model, test.images, test.labels, progress=False,
                                 desc="on-manifold attack", **codes)


def _has_true_manifold(data: DatasetSplits) -> bool:
    return data.prototypes is not None and data.train.theta is not None


def load_study_data(cfg: StudyConfig, *, progress: bool = True) -> DatasetSplits:
    """The study's dataset, checked against the config before anything is written.

    Raises:
        ConfigError: a training size above the training split, or manifold "true" (or an on_true_manifold
        variant) on a dataset without a true manifold.
    """
    data = cfg.load_data(progress)
    if max(cfg.train_sizes) > len(data.train):
        raise ConfigError("train_sizes", f"<= {len(data.train)} (the training split of {cfg.dataset!r})",
                          cfg.train_sizes)
    if (cfg.manifold == "true" or "on_true_manifold" in cfg.variants) and not _has_true_manifold(data):
        raise ConfigError("manifold", f"'learned' or 'auto' (with no on_true_manifold variant): dataset "
                          f"{cfg.dataset!r} has no known renderer (only FONTS has one)", cfg.manifold)
    return data


def prepare_study(cfg: StudyConfig, data: DatasetSplits, folder: ExperimentFolder, *, progress: bool = True
                  ) -> Study:
    """The study on ``data`` (from :func:`load_study_data`): fits the learned manifold where needed
    (folder/manifold, resumable)."""
    has_true = _has_true_manifold(data)
    kind = cfg.manifold if cfg.manifold != "auto" else ("true" if has_true else "learned")
    learned = learned_path = None
    if kind == "learned" or "on_learned_manifold" in cfg.variants:
        vae_cfg = vae_gan_config(cfg.vae_gan_preset, cfg.dataset, **cfg.vae_gan_options)
        learned = fit_learned_manifold(data, vae_cfg, folder.root / "manifold", progress=progress,
                                       device=resolve_device(cfg.device, Processes()))
        learned_path = folder.root / "manifold" / "manifold.pt"
    renderer = FontsRenderer(data.prototypes) if has_true else None
    return Study(cfg=cfg, data=data, manifold_kind=kind, renderer=renderer, learned=learned,
                 learned_path=learned_path)


@dataclass(frozen=True)
class ModelKey:
    variant: str
    train_size: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.variant}-n{self.train_size}-seed{self.seed}"


def model_keys(study: Study) -> list[ModelKey]:
    """Every model of the grid, smallest N first (so partial results cover every variant early); variants that
    resolve to the same objective (on_manifold and on_true_manifold on FONTS) are trained once."""
    variants, objectives = [], set()
    for variant in study.cfg.variants:
        if study.objective(variant) not in objectives:
            objectives.add(study.objective(variant))
            variants.append(variant)
    return [ModelKey(v, n, s) for n in sorted(study.cfg.train_sizes) for s in study.cfg.seeds for v in variants]


def train_model(study: Study, key: ModelKey, folder: ExperimentFolder, *, progress: bool = True,
                **train_overrides: object):
    """Trains (or reloads, or resumes) one model of the grid in folder/models/<name>; a TrainResult."""
    cfg = study.cfg
    objective = study.objective(key.variant)
    manifold_variant = objective.startswith("on_")
    train_cfg = train_config(
        "paper", dataset=cfg.dataset, dataset_options=cfg.loader_options(), train_size=key.train_size,
        seed=key.seed, model=cfg.model, objective=objective, epochs=cfg.epochs, attack_steps=cfg.train_attack_steps,
        epsilon=cfg.eta if manifold_variant else cfg.epsilon, eval_epsilon=cfg.epsilon,
        manifold=str(study.learned_path) if objective == "on_learned_manifold" else None,
        # the paper evaluates the model after the last epoch; selecting on robust validation accuracy would
        # prefer a collapsed constant classifier (robust on 1/K of the data) to a learning one at small N
        selection="last",
        validation_attack_steps=cfg.validation_attack_steps if objective == "adversarial" else 0,
        eval_examples=cfg.attack_examples, eval_steps=cfg.attack_steps, eval_restarts=cfg.attack_restarts,
        device=cfg.device, **train_overrides)
    return train(train_cfg, folder.models / key.name, data=study.data, resume=True, progress=progress)


def evaluate_model(study: Study, key: ModelKey, result) -> dict:
    """The record of a trained model: test error (all test data), PGD robust accuracy and success rate (from its
    final evaluation), and the on-manifold success rate on the first ``attack_examples`` test images."""
    started = time.monotonic()
    on_manifold = study.attack_on_manifold(result.model, study.cfg.attack_examples, seed=key.seed)
    final = result.final
    return {"name": key.name, "variant": key.variant, "objective": study.objective(key.variant),
            "train_size": key.train_size, "seed": key.seed, "selected_epoch": final["checkpoint"]["epoch"],
            "test_accuracy": final["test_accuracy"], "test_error": final["test_error"],
            "robust_accuracy": final["robust_accuracy"], "regular_success_rate": final["success_rate"],
            "on_manifold_success_rate": on_manifold.success_rate(),
            "on_manifold_clean_accuracy": on_manifold.clean_accuracy(),
            "on_manifold_attack_seconds": round(time.monotonic() - started, 2)}


def records_by_size(records: list[dict], objective: str) -> dict[int, list[dict]]:
    """The model records of one objective grouped by training-set size N (ascending); one record per seed."""
    sizes = sorted({r["train_size"] for r in records if r["objective"] == objective})
    return {n: [r for r in records if r["objective"] == objective and r["train_size"] == n] for n in sizes}


def run_grid(study: Study, folder: ExperimentFolder, *, progress: bool = True,
             after_model=None) -> list[dict]:
    """Trains and evaluates every model of the grid (each cached in its folder: a rerun or resume skips the
    finished ones). ``after_model(key, result)`` runs after each model (e.g. the distance analysis)."""
    records = []
    keys = model_keys(study)
    bar = tqdm(keys, desc="models", unit="model", disable=not progress)
    for key in bar:
        bar.set_postfix_str(key.name)
        result = train_model(study, key, folder, progress=progress)
        records.append(folder.cached(folder.models / key.name / "evaluation.json",
                                     lambda key=key, result=result: evaluate_model(study, key, result)))
        if after_model is not None:
            after_model(key, result)
    return records

