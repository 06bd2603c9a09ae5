"""The grid of a study: training variants × training-set sizes N × seeds (Stutz et al., CVPR 2019, Sec. 4;
docs/papers.md §1), each model one cell of an executor that trains it on the first N training examples and
evaluates it (pyadvman.experiments.model_evaluation), cached in its folder so that a rerun, a resume or a retried
cell skips the finished work."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from pyadvman.attacks import LearnedManifoldAttack, TrueManifoldAttack, attack_in_batches
from pyadvman.attacks.base import Attack
from pyadvman.attacks.protocol import AttackProtocol
from pyadvman.data import DatasetSplits
from pyadvman.errors import ConfigError
from pyadvman.experiments.executors import Executor
from pyadvman.experiments.folder import ExperimentFolder
from pyadvman.experiments.records import ModelRecord
from pyadvman.experiments.study_config import ON_MANIFOLD, StudyConfig
from pyadvman.manifolds import FontsRenderer
from pyadvman.manifolds.learned_manifold import LearnedManifold, fit_learned_manifold
from pyadvman.manifolds.vae_gan import vae_gan_config
from pyadvman.training import OBJECTIVES, TrainResult, train


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
        """The training objective of a variant (on_manifold: on the study's kind of manifold)."""
        return f"on_{self.manifold_kind}_manifold" if variant == ON_MANIFOLD else variant

    def on_manifold_attack(self, protocol: AttackProtocol) -> Attack:
        """The on-manifold test attack (radius eta) running ``protocol``: on FONTS θ + δ through the renderer,
        clipped to the test set's θ range (as the released code clips test attacks); else z + ζ through the
        class VAE-GANs."""
        options = {"eta": self.cfg.eta, "protocol": protocol, "execution": self.cfg.attack_execution}
        if self.manifold_kind == "true":
            return TrueManifoldAttack.on_split(self.data, "test", **options)
        return LearnedManifoldAttack(manifold=self.learned, **options)

    def attack_on_manifold(self, model: nn.Module, examples: int, seed: int, *, keep_images: bool = True,
                           protocol: AttackProtocol | None = None):
        """The on-manifold attack running ``protocol`` (default: the paper's, ``cfg.eval_attack``) on the first
        ``examples`` test images, seeded; an AttackResult."""
        attack = self.on_manifold_attack(protocol or self.cfg.eval_attack)
        return self.attack_test_images(model, attack, examples, seed, keep_images=keep_images,
                                       with_codes=self.manifold_kind == "true")

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
    if kind == "learned" or any(v in OBJECTIVES.with_extra("needs_manifold") for v in cfg.variants):
        vae_cfg = vae_gan_config(cfg.vae_gan_preset, cfg.dataset, **cfg.vae_gan_options)
        learned = fit_learned_manifold(data, vae_cfg, folder.root / "manifold", progress=progress,
                                       device=cfg.execution.torch_device())
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
                **train_overrides: object) -> TrainResult:
    """Trains (or reloads, or resumes) one model of the grid in folder/models/<name>; a TrainResult. The study
    evaluates the model itself (``evaluate_model``), so training ends with the clean test accuracy only."""
    objective = study.objective(key.variant)
    manifold = str(study.learned_path) if OBJECTIVES.entry(objective).extras.get("needs_manifold") else None
    train_cfg = study.cfg.model_train_config(objective, key.train_size, key.seed, manifold, **train_overrides)
    return train(train_cfg, folder.models / key.name, data=study.data, resume=True, progress=progress)


# evaluate(study, key, trained model) -> its record (pyadvman.experiments.model_evaluation.evaluate_model)
Evaluate = Callable[[Study, ModelKey, TrainResult], ModelRecord]


@dataclass(frozen=True)
class GridRun:
    """What every cell of a study's grid shares: the study, its run folder, ``evaluate`` (the model's record) and
    ``after_model(study, key, result, folder)``, run in the cell after the evaluation (None: nothing); both
    module-level functions, so that Ray can send them by name."""

    study: Study
    folder: ExperimentFolder
    evaluate: Evaluate
    after_model: Callable[[Study, ModelKey, TrainResult, ExperimentFolder], object] | None = None


def grid_cell(run: GridRun, key: ModelKey, progress: bool) -> tuple[ModelRecord, object]:
    """One cell of the grid: trains (or reloads, or resumes) the model, evaluates it (cached in its folder as
    evaluation.json) and runs ``after_model``; (the model record, after_model's value or None)."""
    study = run.study.with_learned_on(run.study.cfg.execution.torch_device())
    result = train_model(study, key, run.folder, progress=progress)
    record = run.folder.cached(run.folder.models / key.name / "evaluation.json",
                               lambda: run.evaluate(study, key, result).as_dict())
    after = run.after_model(study, key, result, run.folder) if run.after_model is not None else None
    return ModelRecord.from_dict(record), after


def run_grid(study: Study, folder: ExperimentFolder, evaluate: Evaluate, *, executor: Executor | None = None,
             progress: bool = True, after_model=None) -> tuple[list[ModelRecord], list[object]]:
    """Trains every model of the grid and ``evaluate``s it, one cell each (``grid_cell``) under ``executor``
    (default: the local one; pyadvman.experiments.executors), each cached in its folder, so that a rerun, a resume
    or a retried cell skips the finished work; (the model records, after_model's values), both in the grid's order
    (``model_keys``)."""
    executor = executor or Executor()
    if executor.kind != "local":  # sent to workers that may have no GPU, or another one
        study = study.with_learned_on("cpu")
    keys = model_keys(study)
    # run one by one, smallest N first (partial results cover every variant early); at once, largest N first
    # (training time grows with N), so the last cells to start are short ones
    cells = executor.run_cells(grid_cell, GridRun(study, folder, evaluate, after_model),
                               {key.name: key for key in keys}, folder.cells, progress=progress,
                               priority={key.name: key.train_size for key in keys})
    return [record for record, _ in cells], [after for _, after in cells]
