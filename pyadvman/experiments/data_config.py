"""The dataset fields every experiment config starts with, and how they become a ``load_dataset`` call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pyadvman.data import DATASETS, DatasetSplits, load_dataset


@dataclass(frozen=True)
class DataConfig:
    """Which dataset an experiment runs on (the first fields of every experiment config)."""

    dataset: str = "fonts"  # the dataset (pyadvman.data.DATASETS)
    dataset_options: dict = field(default_factory=dict)  # loader options, e.g. {"path": "my.npz"}
    fonts_preset: str = "quick"  # FONTS size when dataset is fonts: quick (100 fonts) | default | paper

    CHOICES: ClassVar[dict] = {"dataset": DATASETS}  # listed by --help

    def loader_options(self, progress: bool | None = None) -> dict:
        """The options given to ``load_dataset``: dataset_options, plus the FONTS preset (and progress) for
        FONTS."""
        resolved = dict(self.dataset_options)
        if self.dataset == "fonts":
            resolved.setdefault("preset", self.fonts_preset)
            if progress is not None:
                resolved.setdefault("progress", progress)
        return resolved

    def load_data(self, progress: bool | None = None) -> DatasetSplits:
        """The dataset's splits (FONTS is generated and cached on first use)."""
        return load_dataset(self.dataset, **self.loader_options(progress))
