"""SVHN (Netzer et al. 2011), cropped digits: train_32x32.mat, test_32x32.mat and optionally extra_32x32.mat.

Each .mat (MATLAB 5 format) holds ``X``, uint8 [32, 32, 3, N] (height, width, RGB, image), and ``y``, [N, 1] with
the digits 1 … 9 and 10 for the digit 0; pyadvman's label is the digit (10 -> 0), as torchvision reads them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pyadvman._file_reading import require_file
from pyadvman.data.image_decoding import as_float_images
from pyadvman.data.official_splits import with_validation
from pyadvman.data.splits import DatasetSplits, Split
from pyadvman.data.torchvision_download import torchvision_datasets
from pyadvman.errors import UnreadableFileError

SVHN_FILES = {"train": "train_32x32.mat", "test": "test_32x32.mat", "extra": "extra_32x32.mat"}


def _read_mat(path: Path) -> Split:
    import scipy.io

    require_file(path, "SVHN file")
    try:
        arrays = scipy.io.loadmat(path, variable_names=("X", "y"))
    except NotImplementedError:  # MATLAB 7.3 (HDF5) files
        raise UnreadableFileError(path, "a MATLAB 7.3 (HDF5) file", "the published SVHN files are MATLAB 5; "
                                  "download them again or save them with scipy.io.savemat") from None
    except Exception as error:  # noqa: BLE001 (whatever fails here comes from the file's bytes)
        raise UnreadableFileError(path, f"{type(error).__name__}: {error}", "the file is truncated or not a "
                                  "MATLAB file: download it again") from None
    if "X" not in arrays or "y" not in arrays:
        raise UnreadableFileError(path, f"it holds {sorted(k for k in arrays if not k.startswith('__'))}, not X and "
                                  "y", "not an SVHN cropped-digits file")
    pixels, digits = arrays["X"], np.asarray(arrays["y"]).reshape(-1)
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[2] != 3 or pixels.shape[3] != digits.size:
        raise UnreadableFileError(path, f"X is {pixels.dtype} {list(pixels.shape)} and y holds {digits.size} labels, "
                                  "not uint8 [32, 32, 3, N] with N labels", "not an SVHN cropped-digits file")
    if digits.size and (digits.min() < 1 or digits.max() > 10):
        raise UnreadableFileError(path, f"labels in [{digits.min()}, {digits.max()}], not 1 … 10",
                                  "not an SVHN cropped-digits file")
    return Split(as_float_images(pixels.transpose(3, 0, 1, 2)), torch.from_numpy(digits.astype(np.int64) % 10))


def load_svhn(root: str | Path, *, validation_size: int = 5000, split: str = "stratified", split_seed: int = 0,
              extra: bool = False, download: bool = False) -> DatasetSplits:
    """SVHN cropped digits: 73,257 training (+ 531,131 extra) and 26,032 test images, 32 × 32 RGB, 10 classes.

    Args:
        root: the folder with train_32x32.mat and test_32x32.mat (and extra_32x32.mat for ``extra``).
        validation_size: training images held out for validation (default 5,000).
        split: "stratified" (default: a seeded draw with every class in proportion; the published training
            file is not shuffled) or "ordered" (the last ``validation_size``).
        extra: append the extra images to the training set (as most SVHN robustness papers do not).
        download: download the missing files into ``root`` first (needs torchvision).

    Returns:
        DatasetSplits "svhn": Tensor[N, 3, 32, 32] float32 in [0, 1]; labels int64, the digit 0 … 9.

    Raises:
        FileNotFoundError: a file is missing. UnreadableFileError: a damaged or foreign file (named).
        DataError: a bad split; a split that lacks a class. ValueError: validation_size outside [0, N).
        ImportError: download=True without a usable torchvision.
    """
    root = Path(root).expanduser()
    parts = ("train", "test", "extra") if extra else ("train", "test")
    if download:
        _download(root, [part for part in parts if not (root / SVHN_FILES[part]).is_file()])
    for part in parts:
        if not (root / SVHN_FILES[part]).is_file():
            raise FileNotFoundError(f"svhn: no {SVHN_FILES[part]} in {root}; pass root= the folder that holds it, "
                                    "or download=True")
    splits = {part: _read_mat(root / SVHN_FILES[part]) for part in parts}
    train = splits["train"]
    if extra:
        train = Split(torch.cat([train.images, splits["extra"].images]),
                      torch.cat([train.labels, splits["extra"].labels]))
    return with_validation("svhn", tuple(str(digit) for digit in range(10)), train, splits["test"],
                           validation_size=validation_size, split=split, split_seed=split_seed,
                           provenance={"source": str(root), "extra": extra})


def _download(root: Path, parts: list[str]) -> None:
    datasets = torchvision_datasets("svhn")
    for part in parts:
        datasets.SVHN(str(root), split=part, download=True)
