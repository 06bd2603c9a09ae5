"""One model per training variant on one training-set size, as the flatness and spectra studies train them."""

from __future__ import annotations

from pyadvman.data import DatasetSplits
from pyadvman.experiments.folder import ExperimentFolder
from pyadvman.training import TrainResult, train


def train_variant(cfg, variant: str, folder: ExperimentFolder, data: DatasetSplits, *, progress: bool,
                  **overrides: object) -> TrainResult:
    """Trains (or reloads, or resumes) objective ``variant`` in folder/models/<variant>: cfg's training fields
    (a ClassifierConfig's ``train_config``) with its train_size and seed, plus TrainConfig ``overrides``."""
    train_cfg = cfg.train_config(variant, train_size=cfg.train_size, seed=cfg.seed, **overrides)
    return train(train_cfg, folder.models / variant, data=data, resume=True, progress=progress)
