"""One model per training variant on one training-set size, as the flatness and spectra studies train them."""

from __future__ import annotations

from pyadvman.data import DatasetSplits
from pyadvman.experiments.folder import ExperimentFolder
from pyadvman.training import TrainResult, train, train_config


def train_variant(cfg, variant: str, folder: ExperimentFolder, data: DatasetSplits, *, progress: bool,
                  **overrides: object) -> TrainResult:
    """Trains (or reloads, or resumes) objective ``variant`` in folder/models/<variant> from cfg's dataset,
    train_size, model, epochs, train_attack_steps, epsilon, seed and device, plus TrainConfig ``overrides``."""
    train_cfg = train_config("paper", dataset=cfg.dataset, dataset_options=cfg.loader_options(),
                             train_size=cfg.train_size, model=cfg.model, objective=variant, epochs=cfg.epochs,
                             attack_steps=cfg.train_attack_steps, epsilon=cfg.epsilon, seed=cfg.seed,
                             device=cfg.device, **overrides)
    return train(train_cfg, folder.models / variant, data=data, resume=True, progress=progress)
