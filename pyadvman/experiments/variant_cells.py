"""One model per training variant on one training-set size, as the flatness and spectra studies train them."""

from __future__ import annotations

from dataclasses import dataclass

from pyadvman.data import DatasetSplits
from pyadvman.errors import ConfigError
from pyadvman.experiments.cells import CellJob
from pyadvman.experiments.executors import Executor
from pyadvman.experiments.folder import ExperimentFolder
from pyadvman.training import TrainResult, train


def train_variant(cfg, variant: str, folder: ExperimentFolder, data: DatasetSplits, *, progress: bool,
                  **overrides: object) -> TrainResult:
    """Trains (or reloads, or resumes) objective ``variant`` in folder/models/<variant>: cfg's training fields
    (a ClassifierConfig's ``train_config``) with its train_size and seed, plus TrainConfig ``overrides``."""
    train_cfg = cfg.train_config(variant, train_size=cfg.train_size, seed=cfg.seed, **overrides)
    return train(train_cfg, folder.models / variant, data=data, resume=True, progress=progress)


@dataclass(frozen=True)
class VariantRun:
    """What every variant's cell shares: the study's config (a ClassifierConfig with train_size and seed), its
    run folder and the data."""

    cfg: object
    folder: ExperimentFolder
    data: DatasetSplits


def run_variants(job: CellJob, cfg, folder: ExperimentFolder, data: DatasetSplits, executor: Executor | None, *,
                 progress: bool) -> dict[str, object]:
    """``job(VariantRun, variant, progress)`` for each of cfg.variants, one cell each under ``executor`` (default:
    local); {variant: result} in cfg.variants' order (a repeated variant runs once)."""
    if cfg.train_size is not None and cfg.train_size > len(data.train):
        raise ConfigError("train_size", f"<= {len(data.train)} (the training split of {data.name!r}), or None to "
                          "train on all of it (--train-size none)", cfg.train_size)
    variants = list(dict.fromkeys(cfg.variants))
    results = (executor or Executor()).run_cells(job, VariantRun(cfg, folder, data), {v: v for v in variants},
                                                 folder.cells, progress=progress)
    return dict(zip(variants, results))
