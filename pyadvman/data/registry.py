"""One registry of datasets by name: ``load_dataset(name, **options) -> DatasetSplits``.

==================  ==============================================================================
``fonts``           FONTS, the synthetic dataset with a known manifold (options: FontsConfig fields,
                    ``preset`` "default" / "quick" / "paper")
``fashion-mnist``   Fashion-MNIST from Debian's dataset-fashion-mnist (options: root, validation_size)
``idx``             four MNIST-style IDX files in a folder (options: root, validation_size)
``npz``             a user .npz with images and labels (options: path, test_size, validation_size)
==================  ==============================================================================
"""

from __future__ import annotations

from collections.abc import Callable

from pyadvman.data.fonts import fonts_config, load_fonts
from pyadvman.data.real_datasets import load_fashion_mnist, load_idx_dataset, load_npz_dataset
from pyadvman.data.splits import DatasetSplits


def _fonts(preset: str = "default", progress: bool = True, **fields: object) -> DatasetSplits:
    return load_fonts(fonts_config(preset, **fields), progress=progress)


DATASETS: dict[str, Callable[..., DatasetSplits]] = {
    "fonts": _fonts,
    "fashion-mnist": load_fashion_mnist,
    "idx": load_idx_dataset,
    "npz": load_npz_dataset,
}


def load_dataset(name: str, **options: object) -> DatasetSplits:
    """Loads dataset ``name`` (see the module table) with its train / validation / test splits.

    Every split holds images Tensor[N, C, H, W] float32 in [0, 1] and labels Tensor[N] int64; take the
    paper's "first N training examples" with ``splits.train.first(N)``.

    Raises:
        ValueError: an unknown name (the message lists the known ones); loaders raise their own errors.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[name](**options)
