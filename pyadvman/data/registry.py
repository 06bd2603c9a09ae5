"""One registry of datasets by name: ``load_dataset(name, **options) -> DatasetSplits``.

==================  ==============================================================================
``fonts``           FONTS, the synthetic dataset with a known manifold (options: FontsConfig fields,
                    ``preset`` "default" / "quick" / "paper")
``fashion-mnist``   Fashion-MNIST from Debian's dataset-fashion-mnist (options: root, validation_size,
                    split = "ordered" (official order, default) or "stratified", split_seed)
``idx``             four MNIST-style IDX files in a folder (options: root, validation_size, split =
                    "stratified" (default) or "ordered", split_seed, layout)
``npz``             a user .npz with images and labels (options: path, test_size, validation_size, split,
                    split_seed, layout)
==================  ==============================================================================

Every loader checks its splits (``check_class_coverage``): each class has training examples and each non-empty
validation or test split holds every class.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable

from pyadvman._config_options import check_option_types
from pyadvman.data.fonts import FontsConfig, fonts_config, load_fonts
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
        ValueError: an unknown name or option (the message lists the known ones); loaders raise their own
            errors (DataError for unusable data, FileNotFoundError for missing files).
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}")
    known = dataset_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ValueError(f"dataset {name!r} takes the options {known}, got unknown {unknown}")
    hints = typing.get_type_hints(FontsConfig if name == "fonts" else DATASETS[name])
    check_option_types(f"dataset {name!r}", options, {"preset": str, "progress": bool, **hints})
    return DATASETS[name](**options)


def dataset_options(name: str) -> list[str]:
    """The option names ``load_dataset(name, ...)`` accepts."""
    if name == "fonts":
        return ["preset", "progress", *FontsConfig.__dataclass_fields__]
    return list(inspect.signature(DATASETS[name]).parameters)
