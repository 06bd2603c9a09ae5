"""The datasets by name: ``load_dataset(name, **options) -> DatasetSplits``.

==================  ==============================================================================
``fonts``           FONTS, the synthetic dataset with a known manifold (options: FontsConfig fields,
                    ``preset`` "default" / "quick" / "paper")
``fashion-mnist``   Fashion-MNIST from Debian's dataset-fashion-mnist (options: root, validation_size,
                    split = "ordered" (official order, default) or "stratified", split_seed)
``idx``             four MNIST-style IDX files in a folder (options: root, validation_size, split =
                    "stratified" (default) or "ordered", split_seed, layout)
``npz``             a user .npz with images and labels (options: path, test_size, validation_size, split,
                    split_seed, layout)
``cifar10``         CIFAR-10, binary or python version (options: root, validation_size, split, split_seed,
                    file_format, download)
``cifar100``        CIFAR-100, fine labels (options as cifar10)
``svhn``            SVHN cropped digits, .mat files (options: root, validation_size, split, split_seed, extra,
                    download)
``imagefolder``     image files in class folders (options: root, image_size, color, test_size, validation_size,
                    split, split_seed)
==================  ==============================================================================

Every loader checks its splits (``check_class_coverage``): each class has training examples and each non-empty
validation or test split holds every class.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable

from pyadvman.configs import check_option_types
from pyadvman.data.cifar import load_cifar10, load_cifar100
from pyadvman.data.fonts import FontsConfig, fonts_config, load_fonts
from pyadvman.data.image_folder import load_image_folder
from pyadvman.data.real_datasets import load_fashion_mnist, load_idx_dataset, load_npz_dataset
from pyadvman.data.splits import DatasetSplits
from pyadvman.data.svhn import load_svhn
from pyadvman.registry import Registry


def _fonts(preset: str = "default", progress: bool = True, **fields: object) -> DatasetSplits:
    return load_fonts(fonts_config(preset, **fields), progress=progress)


def _options(loader: Callable[..., DatasetSplits]) -> dict[str, object]:
    """The options a loader takes, with their annotations."""
    hints = typing.get_type_hints(loader)
    return {name: hints.get(name, object) for name in inspect.signature(loader).parameters}


def _required(loader: Callable[..., DatasetSplits]) -> list[str]:
    """The options a loader cannot do without (no default)."""
    return [p.name for p in inspect.signature(loader).parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


# name -> loader(**options) -> DatasetSplits; extras: options (the options it takes, with their types)
DATASETS: Registry = Registry("dataset")
DATASETS.register("fonts", _fonts, label="FONTS", description="synthetic letters A–J with a known manifold",
                  options={"preset": str, "progress": bool, **typing.get_type_hints(FontsConfig)})
# the radius of 8-bit colour images in the robustness literature (CIFAR-10: Madry et al., RobustBench); the
# grayscale datasets keep the configs' default, MNIST's 0.3
COLOUR_IMAGE_DEFAULTS = {"epsilon": 8 / 255}
for _name, _loader, _label, _defaults in (
        ("fashion-mnist", load_fashion_mnist, "Fashion-MNIST", {}), ("idx", load_idx_dataset, "IDX files", {}),
        ("npz", load_npz_dataset, ".npz file", {}), ("cifar10", load_cifar10, "CIFAR-10", COLOUR_IMAGE_DEFAULTS),
        ("cifar100", load_cifar100, "CIFAR-100", COLOUR_IMAGE_DEFAULTS), ("svhn", load_svhn, "SVHN",
                                                                          COLOUR_IMAGE_DEFAULTS),
        ("imagefolder", load_image_folder, "image folder", COLOUR_IMAGE_DEFAULTS)):
    DATASETS.register(_name, _loader, label=_label, options=_options(_loader), required=_required(_loader),
                      defaults=_defaults)


def dataset_defaults(name: str) -> dict[str, object]:
    """The config values that depend on dataset ``name`` (e.g. ``{"epsilon": 8/255}`` for colour images), for
    the fields a preset or the user leaves unset; {} for an unknown name (its config check names it)."""
    return dict(DATASETS.entry(name).extras.get("defaults", {})) if name in DATASETS else {}


def load_dataset(name: str, **options: object) -> DatasetSplits:
    """Loads dataset ``name`` (see the module table) with its train / validation / test splits.

    Every split holds images Tensor[N, C, H, W] float32 in [0, 1] and labels Tensor[N] int64; take the
    paper's "first N training examples" with ``splits.train.first(N)``.

    Raises:
        ValueError: an unknown name or option (the message lists the known ones), or a required option missing
            (npz: path; cifar10, cifar100, svhn, imagefolder: root); loaders raise their own
            errors (DataError for unusable data, FileNotFoundError for missing files).
    """
    DATASETS.check(name, "dataset")
    hints = DATASETS.entry(name).extras["options"]
    unknown = sorted(set(options) - set(hints))
    if unknown:
        raise ValueError(f"dataset {name!r} takes the options {list(hints)}, got unknown {unknown}")
    check_option_types(f"dataset {name!r}", options, hints)
    missing = [option for option in DATASETS.entry(name).extras.get("required", ()) if option not in options]
    if missing:
        example = ", ".join(f'"{option}": ...' for option in missing)
        raise ValueError(f"dataset {name!r} needs the options {missing} (on the command line: --dataset-options "
                         f"'{{{example}}}')")
    return DATASETS[name](**options)


def dataset_options(name: str) -> list[str]:
    """The option names ``load_dataset(name, ...)`` accepts."""
    return list(DATASETS.entry(name).extras["options"])
