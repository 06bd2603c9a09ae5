"""Datasets: FONTS (synthetic, known manifold), Fashion-MNIST, CIFAR-10/100, SVHN, and user IDX/.npz/image-folder
data, one registry.

>>> from pyadvman.data import load_dataset
>>> data = load_dataset("fashion-mnist")            # doctest: +SKIP
>>> data.train.first(1000).images.shape              # doctest: +SKIP
torch.Size([1000, 1, 28, 28])
"""

from pyadvman.data.cifar import load_cifar10, load_cifar100
from pyadvman.data.dataset_registry import DATASETS, load_dataset
from pyadvman.data.fonts import (
    FONTS_PRESETS,
    FontsConfig,
    available_fonts,
    fonts_config,
    generate_fonts,
    load_fonts,
)
from pyadvman.data.image_folder import load_image_folder
from pyadvman.data.real_datasets import load_fashion_mnist, load_idx_dataset, load_npz_dataset
from pyadvman.data.splits import DatasetSplits, Split
from pyadvman.data.svhn import load_svhn

__all__ = [
    "DATASETS", "FONTS_PRESETS", "DatasetSplits", "FontsConfig", "Split", "available_fonts", "fonts_config",
    "generate_fonts", "load_cifar10", "load_cifar100", "load_dataset", "load_fashion_mnist", "load_fonts",
    "load_idx_dataset", "load_image_folder", "load_npz_dataset", "load_svhn",
]
