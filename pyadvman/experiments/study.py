"""The grid of the sample-complexity study (Stutz et al., CVPR 2019, Sec. 4; docs/papers.md §1): training variants ×
training-set sizes N × seeds, each model trained on the first N training examples and evaluated on test data:
test error, the paper's attack off and on the manifold (the released code's protocol, docs/protocol.md), and the
strong evaluation beside it (signed PGD with restarts, APGD-CE) at the same ε."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from pyadvman.analysis.uncertainty import CONFIDENCE, Estimate, rate_over_seeds
from pyadvman.attacks import APGD, PGD, LearnedManifoldAttack, TrueManifoldAttack, attack_in_batches
from pyadvman.experiments.strong_evaluation import autoattack_record
from pyadvman.attacks.base import Attack
from pyadvman.attacks.protocol import RELEASED_EVALUATION, RELEASED_TRAINING, SIGNED_PGD, AttackProtocol
from pyadvman.compilation import COMPILE_MODES
from pyadvman.data import DatasetSplits
from pyadvman.errors import ConfigError, check_fields
from pyadvman.experiments.classifier_config import ClassifierConfig
from pyadvman.experiments.executors import Executor
from pyadvman.experiments.folder import ExperimentFolder
from pyadvman.manifolds import FontsRenderer
from pyadvman.manifolds.learned_manifold import LearnedManifold, fit_learned_manifold
from pyadvman.manifolds.vae_gan import vae_gan_config
from pyadvman.training import train
from pyadvman.training.config import LEARNED_MANIFOLD_OBJECTIVES
from pyadvman.training.distributed import Processes
from pyadvman.training.loop import resolve_device

# "on_manifold" is on-true-manifold adversarial training where the dataset has a true manifold (FONTS), else
# on-learned-manifold; the others are TrainConfig objectives ("reconstruction": the control of on-learned-manifold
# training, the same images without the attack).
VARIANTS = ("normal", "adversarial", "on_manifold", "on_true_manifold", "on_learned_manifold", "reconstruction",
            "stn", "adversarial_transformation")
VARIANT_LABELS = {"normal": "normal", "adversarial": "regular AT", "on_true_manifold": "on-true-manifold AT",
                  "on_learned_manifold": "on-learned-manifold AT",
                  "reconstruction": "reconstruction training (control, η = 0)", "stn": "STN augmentation",
                  "adversarial_transformation": "adversarial-transformation AT", "trades": "TRADES", "mart": "MART",
                  "alp": "ALP", "clp": "CLP", "dale": "DALE", "awp": "AT-AWP", "trades_awp": "TRADES-AWP"}
MANIFOLDS = ("auto", "true", "learned")


def variant_label(variant: str) -> str:
    """The name reports give a training objective (VARIANT_LABELS, else the objective's own name)."""
    return VARIANT_LABELS.get(variant, variant)


# The released evaluation attack scaled to 20 iterations (Adam on δ at lr 0.01: lr × iterations stays the
# released 0.2), with the released 5 restarts; the quick preset (docs/protocol.md).
QUICK_EVALUATION = AttackProtocol(steps=20, lr=0.01, restarts=5)
# The strong evaluation beside the paper's attack: signed PGD from uniform starts, an example fooled when any
# iterate of any restart fools the model.
STRONG_PGD = replace(SIGNED_PGD, keep="first_success", restarts=5)


@dataclass(frozen=True)
class StudyConfig(ClassifierConfig):
    """The models of a study and how they are attacked (defaults: the quick preset on FONTS)."""

    train_sizes: tuple[int, ...] = (500, 2500, 10000)  # N: each model sees the first N training examples
    seeds: tuple[int, ...] = (0,)  # one model per (variant, N, seed); paper: 5 per N
    variants: tuple[str, ...] = ("normal", "adversarial", "on_manifold")  # training variants, comma-separated
    manifold: str = "auto"  # on-manifold attacks and training: true (FONTS renderer), learned (VAE-GANs) or auto
    vae_gan_preset: str = "quick"  # learned manifold: quick or paper (pyadvman.manifolds.vae_gan)
    vae_gan_options: dict = field(default_factory=dict)  # overrides of the VAE-GAN config, e.g. {"epochs": 2}
    eta: float = 0.3  # L∞ radius of on-manifold attacks and training in code space (θ or z)
    eval_attack: AttackProtocol = QUICK_EVALUATION  # the paper's test attack, off and on the manifold
    regular_examples: int = 500  # first test images attacked off the manifold (paper: 1000)
    on_manifold_examples: int = 1250  # first test images attacked on the manifold (paper: 2500)
    strong_attack: AttackProtocol = replace(STRONG_PGD, steps=20)  # strong evaluation: signed PGD, restarts
    apgd_steps: int = 50  # iterations of the strong evaluation's APGD-CE (0: none; paper: 100)

    # listed by the command's --help
    OPTION_CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"variants": VARIANTS, "compile": COMPILE_MODES}

    def __post_init__(self) -> None:
        super().__post_init__()
        checks = [
            (len(self.train_sizes) >= 1 and all(n >= 1 for n in self.train_sizes), "train_sizes",
             "a non-empty tuple of sizes >= 1", self.train_sizes),
            (len(self.seeds) >= 1, "seeds", "a non-empty tuple", self.seeds),
            (len(self.variants) >= 1 and all(v in VARIANTS for v in self.variants), "variants",
             f"a non-empty tuple of {VARIANTS}", self.variants),
            (self.manifold in MANIFOLDS, "manifold", f"one of {MANIFOLDS}", self.manifold),
            (self.eta >= 0, "eta", ">= 0", self.eta),
            (self.regular_examples >= 1, "regular_examples", ">= 1", self.regular_examples),
            (self.on_manifold_examples >= 1, "on_manifold_examples", ">= 1", self.on_manifold_examples),
            (self.apgd_steps >= 0, "apgd_steps", ">= 0", self.apgd_steps),
        ]
        check_fields(checks)

    def model_train_config(self, objective: str, train_size: int, seed: int, manifold: str | None = None,
                           **fields: object):
        """The TrainConfig of one model of the grid: ClassifierConfig's training with radius eta for on-manifold
        objectives, the model after the last epoch evaluated (as the paper does: selecting on robust validation
        accuracy would prefer a collapsed constant classifier, robust on 1/K of the data, at small N), no robust
        validation and no test attack (the study attacks the model itself, ``evaluate_model``)."""
        return self.train_config(
            objective, train_size=train_size, seed=seed, manifold=manifold,
            epsilon=self.eta if objective.startswith("on_") else self.epsilon, eval_epsilon=self.epsilon,
            selection="last", validation_attack_steps=0, eval_examples=0, **fields)


PAPER_TRAIN_SIZES = (250, 500, 1000, 1500, 2000, 2500, 5000, 7500, 10000, 15000, 20000, 30000, 40000)

# The paper's scale and the released code's protocol (docs/protocol.md), for a GPU; the quick preset is
# StudyConfig's defaults.
STUDY_PAPER_PRESET: dict[str, object] = {
    "fonts_preset": "paper", "train_sizes": PAPER_TRAIN_SIZES, "seeds": (0, 1, 2, 3, 4),
    "variants": ("normal", "adversarial", "on_manifold", "on_learned_manifold", "stn", "adversarial_transformation"),
    "vae_gan_preset": "paper", "epochs": 20, "lr_schedule": "batch", "train_attack": RELEASED_TRAINING,
    "eval_attack": RELEASED_EVALUATION, "regular_examples": 1000, "on_manifold_examples": 2500,
    "strong_attack": replace(STRONG_PGD, steps=100), "apgd_steps": 100, "autoattack_examples": 1000,
}

# The attacks a model record holds (AttackResult.counts each), read by ``metric``: the paper's attack off the
# manifold ("regular", the paper's term for image-space adversarial examples) and on it, and the strong
# evaluation.
ATTACK_LABELS = {"regular": "paper's attack (L∞)", "on_manifold": "on-manifold", "strong_pgd": "signed PGD",
                 "apgd": "APGD-CE", "autoattack": "AutoAttack"}


@dataclass
class Study:
    """What the variants are trained and attacked with: the data, the manifold kind and its generator."""

    cfg: StudyConfig
    data: DatasetSplits
    manifold_kind: str  # "true" or "learned"
    renderer: FontsRenderer | None
    learned: LearnedManifold | None
    learned_path: Path | None

    def with_learned_on(self, device: torch.device | str) -> Study:
        """This study with its learned manifold on ``device`` (itself when it is there or there is none): a Ray
        cell receives the study on the CPU and moves it to its own device."""
        target, current = torch.device(device), next(self.learned.parameters()).device if self.learned else None
        if current is None or (current.type == target.type and target.index in (None, current.index)):
            return self
        return replace(self, learned=copy.deepcopy(self.learned).to(device))

    def objective(self, variant: str) -> str:
        return f"on_{self.manifold_kind}_manifold" if variant == "on_manifold" else variant

    def on_manifold_attack(self, protocol: AttackProtocol) -> Attack:
        """The on-manifold test attack (radius eta) running ``protocol``: on FONTS θ + δ through the renderer,
        clipped to the test set's θ range (as the released code clips test attacks); else z + ζ through the
        class VAE-GANs."""
        if self.manifold_kind == "true":
            return TrueManifoldAttack.on_split(self.data, "test", eta=self.cfg.eta, compile=self.cfg.compile,
                                               **protocol.options())
        return LearnedManifoldAttack(manifold=self.learned, eta=self.cfg.eta, compile=self.cfg.compile,
                                     **protocol.options())

    def attack_on_manifold(self, model: nn.Module, examples: int, seed: int, *, keep_images: bool = True):
        """The paper's on-manifold attack (``cfg.eval_attack``) on the first ``examples`` test images, seeded;
        an AttackResult."""
        return self.attack_test_images(model, self.on_manifold_attack(self.cfg.eval_attack), examples, seed,
                                       keep_images=keep_images, with_codes=self.manifold_kind == "true")

    def attack_test_images(self, model: nn.Module, attack: Attack, examples: int, seed: int, *,
                           keep_images: bool = True, with_codes: bool = False):
        """``attack`` on the first ``examples`` test images, seeded; an AttackResult. ``with_codes`` passes the
        FONTS codes and θ (the true-manifold attack needs them)."""
        test = self.data.test.first(min(examples, len(self.data.test)))
        codes = {"codes": test.codes, "theta": test.theta} if with_codes else {}
        torch.manual_seed(seed)
        return attack_in_batches(attack, model, test.images, test.labels, progress=False, keep_images=keep_images,
                                 desc="attack", **codes)


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
    if kind == "learned" or any(v in LEARNED_MANIFOLD_OBJECTIVES for v in cfg.variants):
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
    """Trains (or reloads, or resumes) one model of the grid in folder/models/<name>; a TrainResult. The study
    evaluates the model itself (``evaluate_model``), so training ends with the clean test accuracy only."""
    objective = study.objective(key.variant)
    manifold = str(study.learned_path) if objective in LEARNED_MANIFOLD_OBJECTIVES else None
    train_cfg = study.cfg.model_train_config(objective, key.train_size, key.seed, manifold, **train_overrides)
    return train(train_cfg, folder.models / key.name, data=study.data, resume=True, progress=progress)


def evaluate_model(study: Study, key: ModelKey, result) -> dict:
    """The record of a trained model: test error on the whole test split, and under "attacks" the counts and
    rates (AttackResult.counts) of the paper's attack off the manifold ("regular", the first
    ``regular_examples`` test images) and on it ("on_manifold", the first ``on_manifold_examples``), and of the
    strong evaluation on the regular examples ("strong_pgd": signed PGD with restarts; "apgd": APGD-CE) and,
    with ``autoattack_examples``, AutoAttack standard ("autoattack", with its per-attack robust accuracy and
    findings; its state in the model's folder, so an interrupted evaluation resumes)."""
    cfg, model = study.cfg, result.model
    attacks, seconds = {}, {}

    def timed(name: str, run) -> None:
        started = time.monotonic()
        value = run()
        attacks[name] = value if isinstance(value, dict) else value.counts()
        seconds[name] = round(time.monotonic() - started, 2)

    regular = PGD(eps=cfg.epsilon, compile=cfg.compile, **cfg.eval_attack.options())
    timed("regular", lambda: study.attack_test_images(model, regular, cfg.regular_examples, key.seed,
                                                      keep_images=False))
    timed("on_manifold", lambda: study.attack_on_manifold(model, cfg.on_manifold_examples, key.seed,
                                                          keep_images=False))
    strong = PGD(eps=cfg.epsilon, check_model=False, compile=cfg.compile, **cfg.strong_attack.options())
    timed("strong_pgd", lambda: study.attack_test_images(model, strong, cfg.regular_examples, key.seed,
                                                     keep_images=False))
    if cfg.apgd_steps:
        timed("apgd", lambda: study.attack_test_images(model, APGD(eps=cfg.epsilon, steps=cfg.apgd_steps,
                                                               check_model=False, compile=cfg.compile),
                                                   cfg.regular_examples, key.seed, keep_images=False))
    if cfg.autoattack_examples:
        timed("autoattack", lambda: autoattack_record(model, study.data.test, cfg.epsilon, cfg.autoattack_examples,
                                                      key.seed, result.out_dir / "autoattack", progress=False,
                                                      compile=cfg.compile))
    final = result.final
    return {"name": key.name, "variant": key.variant, "objective": study.objective(key.variant),
            "train_size": key.train_size, "seed": key.seed, "epochs": final["checkpoint"]["epoch"],
            "test_examples": final["test_examples"], "test_accuracy": final["test_accuracy"],
            "test_error": final["test_error"], "attacks": attacks, "attack_seconds": seconds}


def metric(record: dict, name: str) -> float:
    """A model record's number by name: "test_error", "test_accuracy", or "<attack>.<rate>" for an attack of
    ATTACK_LABELS and a rate of AttackResult.counts ("on_manifold.success_rate"); NaN when the attack was
    not run."""
    if "." not in name:
        return record[name]
    attack, rate = name.split(".")
    return record["attacks"].get(attack, {}).get(rate, math.nan)


def _trials(record: dict, name: str) -> float:
    """The number of trials behind a rate: test images for test error, correctly classified examples for a
    success rate (restarts of one example are not independent, so pairs would overstate the precision), attacked
    examples for accuracies."""
    if "." not in name:
        return record["test_examples"]
    attack, rate = name.split(".")
    counts = record["attacks"].get(attack)
    if counts is None:
        return 0
    return counts["clean_correct"] if rate == "success_rate" else counts["examples"]


def size_estimates(records: list[dict], objective: str, name: str,
                   confidence: float = CONFIDENCE) -> dict[int, Estimate]:
    """Per training-set size N (ascending), the rate ``name`` (see ``metric``) of an objective's models with
    its interval (95% unless told) over the seeds there (``rate_over_seeds``)."""
    return {n: rate_over_seeds([metric(r, name) for r in group], [_trials(r, name) for r in group], confidence)
            for n, group in records_by_size(records, objective).items()}


def model_estimate(record: dict, name: str) -> Estimate:
    """The rate ``name`` of one model with its Wilson interval."""
    return rate_over_seeds([metric(record, name)], [_trials(record, name)])


def records_by_size(records: list[dict], objective: str) -> dict[int, list[dict]]:
    """The model records of one objective grouped by training-set size N (ascending); one record per seed."""
    sizes = sorted({r["train_size"] for r in records if r["objective"] == objective})
    return {n: [r for r in records if r["objective"] == objective and r["train_size"] == n] for n in sizes}


@dataclass(frozen=True)
class GridRun:
    """What every cell of a study's grid shares: the study, its run folder, and ``after_model(study, key,
    result, folder)``, a module-level function run in the cell after the evaluation (None: nothing)."""

    study: Study
    folder: ExperimentFolder
    after_model: Callable[[Study, ModelKey, object, ExperimentFolder], object] | None = None


def grid_cell(run: GridRun, key: ModelKey, progress: bool) -> tuple[dict, object]:
    """One cell of the grid: trains (or reloads, or resumes) the model, evaluates it (cached in its folder as
    evaluation.json) and runs ``after_model``; (the model record, after_model's value or None)."""
    study = run.study.with_learned_on(resolve_device(run.study.cfg.device, Processes()))
    result = train_model(study, key, run.folder, progress=progress)
    record = run.folder.cached(run.folder.models / key.name / "evaluation.json",
                               lambda: evaluate_model(study, key, result))
    after = run.after_model(study, key, result, run.folder) if run.after_model is not None else None
    return record, after


def run_grid(study: Study, folder: ExperimentFolder, *, executor: Executor | None = None, progress: bool = True,
             after_model=None) -> tuple[list[dict], list[object]]:
    """Trains and evaluates every model of the grid, one cell each (``grid_cell``) under ``executor`` (default:
    the local one; pyadvman.experiments.executors), each cached in its folder, so that a rerun, a resume or a
    retried cell skips the finished work; (the model records, after_model's values), both in the grid's order
    (``model_keys``)."""
    executor = executor or Executor()
    if executor.kind != "local":  # sent to workers that may have no GPU, or another one
        study = study.with_learned_on("cpu")
    cells = executor.run_cells(grid_cell, GridRun(study, folder, after_model),
                               {key.name: key for key in model_keys(study)}, folder.cells, progress=progress)
    return [record for record, _ in cells], [after for _, after in cells]
