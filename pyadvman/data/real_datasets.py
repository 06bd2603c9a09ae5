"""Real datasets from local files: Fashion-MNIST from Debian's ``dataset-fashion-mnist``, any IDX dataset,
and any .npz with ``images`` and ``labels``. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pyadvman.data.idx import read_idx
from pyadvman.data.splits import DatasetSplits, Split

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def images_to_tensor(images: np.ndarray, name: str = "images") -> torch.Tensor:
    """uint8 [N, H, W] or [N, H, W, C] (or floats in [0, 1]) -> Tensor[N, C, H, W] float32 in [0, 1].

    Raises:
        ValueError: another rank, or float values outside [0, 1].
    """
    if images.ndim == 3:
        images = images[:, :, :, None]
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape [N, H, W] or [N, H, W, C], got {list(images.shape)}")
    tensor = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    if tensor.dtype == torch.uint8:
        return tensor.to(torch.float32).div_(255.0)
    tensor = tensor.to(torch.float32)
    if tensor.numel() and (tensor.min() < 0 or tensor.max() > 1):
        raise ValueError(f"{name}: float images must lie in [0, 1], got [{tensor.min().item()}, "
                         f"{tensor.max().item()}]")
    return tensor


def labels_to_tensor(labels: np.ndarray, count: int, name: str = "labels") -> torch.Tensor:
    """Labels [N] of non-negative integers -> Tensor[N] int64.

    Raises:
        ValueError: wrong shape, non-integer or negative values.
    """
    labels = np.asarray(labels)
    if labels.shape != (count,):
        raise ValueError(f"{name} must have shape [{count}] (one per image), got {list(labels.shape)}")
    if count and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0):
        raise ValueError(f"{name} must be non-negative integers, got dtype {labels.dtype}, min {labels.min()}")
    return torch.from_numpy(labels.astype(np.int64))


def _find(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"{root}: no {stem}[.gz]")


def load_idx_dataset(root: str | Path, *, validation_size: int = 10000, name: str = "idx",
                     classes: tuple[str, ...] | None = None) -> DatasetSplits:
    """A dataset stored as the four MNIST-style IDX files in one folder.

    Args:
        root: folder with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
            t10k-labels-idx1-ubyte (each optionally .gz).
        validation_size: the last training examples held out for validation.

    Returns:
        DatasetSplits with images Tensor[N, C, H, W] float32 in [0, 1] and labels Tensor[N] int64.

    Raises:
        FileNotFoundError: a file is missing. ValueError: inconsistent files.
    """
    root = Path(root)
    arrays = {key: read_idx(_find(root, stem)) for key, stem in IDX_FILES.items()}
    splits = {}
    for part in ("train", "test"):
        images = images_to_tensor(arrays[f"{part}_images"], f"{part} images")
        splits[part] = Split(images, labels_to_tensor(arrays[f"{part}_labels"], images.shape[0],
                                                      f"{part} labels"))
    train, validation = splits["train"].split_last(validation_size, "validation_size")
    num_classes = int(max(splits["train"].labels.max(), splits["test"].labels.max())) + 1
    return DatasetSplits(name, classes or tuple(str(c) for c in range(num_classes)), train, validation,
                         splits["test"])


def load_fashion_mnist(root: str | Path = FASHION_MNIST_DIR, *, validation_size: int = 10000) -> DatasetSplits:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test images, 28×28, 10 classes.

    The files come from Debian's ``dataset-fashion-mnist`` package (the original IDX files).

    Args:
        root: folder holding the IDX files.
        validation_size: the last training images held out for validation (default 10,000).

    Returns:
        DatasetSplits "fashion-mnist": Tensor[N, 1, 28, 28] float32 in [0, 1], labels int64 in [0, 10).

    Raises:
        FileNotFoundError: the files are missing; the message gives the command that installs them.
    """
    root = Path(root)
    try:
        return load_idx_dataset(root, validation_size=validation_size, name="fashion-mnist",
                                classes=FASHION_MNIST_CLASSES)
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"Fashion-MNIST not found ({error}). Install it with `sudo apt-get install dataset-fashion-mnist` "
            f"(files go to {FASHION_MNIST_DIR}), or pass root= a folder with the four IDX files."
        ) from None


def load_npz_dataset(path: str | Path, *, test_size: int | None = None,
                     validation_size: int | None = None) -> DatasetSplits:
    """A user dataset in one .npz file.

    Keys: ``images`` (uint8 [N, H, W] or [N, H, W, C], or floats in [0, 1]) and ``labels`` (integers [N]);
    optionally ``test_images`` and ``test_labels``. Without them the last ``test_size`` examples are the test
    set (default N // 7, the MNIST proportion). The last ``validation_size`` training examples (default a
    tenth) are the validation set.

    Raises:
        FileNotFoundError: no such file. KeyError: a required key is missing. ValueError: bad shapes or values.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"npz dataset {str(path)!r} does not exist")
    with np.load(path) as data:
        for key in ("images", "labels"):
            if key not in data:
                raise KeyError(f"{path}: the .npz must hold {key!r}; it holds {sorted(data.files)}")
        images = images_to_tensor(data["images"])
        full = Split(images, labels_to_tensor(data["labels"], images.shape[0]))
        if "test_images" in data:
            test_images = images_to_tensor(data["test_images"], "test_images")
            test = Split(test_images, labels_to_tensor(data["test_labels"], test_images.shape[0], "test_labels"))
            train = full
        else:
            size = len(full) // 7 if test_size is None else test_size
            train, test = full.split_last(size, "test_size")
    validation_size = len(train) // 10 if validation_size is None else validation_size
    train, validation = train.split_last(validation_size, "validation_size")
    num_classes = int(max(train.labels.max(), test.labels.max())) + 1
    return DatasetSplits(path.stem, tuple(str(c) for c in range(num_classes)), train, validation, test)
