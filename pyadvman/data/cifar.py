"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) from their published files, binary or python version.

Binary version (``cifar-10-batches-bin``: data_batch_1.bin … data_batch_5.bin, test_batch.bin, batches.meta.txt;
``cifar-100-binary``: train.bin, test.bin, fine_label_names.txt): fixed-size records, CIFAR-10 ``<label byte>
<3072 pixel bytes>``, CIFAR-100 ``<coarse label byte><fine label byte><3072 pixel bytes>``; the pixels are the
red, green and blue planes of 32 × 32 in row-major order.

Python version (``cifar-10-batches-py``: data_batch_1 … data_batch_5, test_batch, batches.meta; ``cifar-100-python``:
train, test, meta), the one torchvision downloads: pickled dicts with ``data`` (uint8 [N, 3072], the same planes)
and ``labels`` (CIFAR-100: ``fine_labels``). They are read with an unpickler that builds nothing but numpy arrays,
lists, dicts and strings, so a doctored file cannot run code.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import torch

from pyadvman._file_reading import require_file
from pyadvman.data.official_splits import with_validation
from pyadvman.data.splits import DatasetSplits, Split
from pyadvman.data.torchvision_download import torchvision_datasets
from pyadvman.errors import DataError, UnreadableFileError

SIDE, PIXELS = 32, 3 * 32 * 32
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# folder, training files, test file, class-name file, label bytes before the pixels, the label byte used
_BINARY = {
    "cifar10": ("cifar-10-batches-bin", [f"data_batch_{i}.bin" for i in range(1, 6)], "test_batch.bin",
                "batches.meta.txt", 1, 0),
    "cifar100": ("cifar-100-binary", ["train.bin"], "test.bin", "fine_label_names.txt", 2, 1),
}
# folder, training files, test file, meta file, the labels' key, the class names' key
_PYTHON = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "batches.meta",
                "labels", "label_names"),
    "cifar100": ("cifar-100-python", ["train"], "test", "meta", "fine_labels", "fine_label_names"),
}
_NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
_PICKLE_GLOBALS = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
                   *((module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
                     for name in ("_reconstruct", "scalar")),
                   *((module, "_frombuffer") for module in ("numpy.core.numeric", "numpy._core.numeric"))}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR batch never does")
        return super().find_class(module, name)


def _read_pickle(path: Path) -> dict:
    require_file(path, "CIFAR file")
    try:
        value = _ArraysOnlyUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except Exception as error:  # noqa: BLE001 (whatever fails here comes from the file's bytes)
        raise UnreadableFileError(path, f"{type(error).__name__}: {error}", "not a CIFAR batch of the python "
                                  "version, or a damaged one: download it again") from None
    if not isinstance(value, dict):
        raise UnreadableFileError(path, f"it holds a {type(value).__name__}, not a dict", "not a CIFAR batch")
    return {key.decode("latin1") if isinstance(key, bytes) else key: item for key, item in value.items()}


def _text(value: object) -> str:
    return value.decode("latin1") if isinstance(value, bytes) else str(value)


def _planes_to_images(pixels: np.ndarray) -> torch.Tensor:
    """uint8 [N, 3072] (red, green, blue planes, row-major) -> Tensor[N, 3, 32, 32] float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(pixels).reshape(-1, 3, SIDE, SIDE)).float().div_(255.0)


def _labels(path: Path, labels: np.ndarray, num_classes: int) -> torch.Tensor:
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise UnreadableFileError(path, f"labels in [{labels.min()}, {labels.max()}], not [0, {num_classes})",
                                  "not a batch of this dataset, or a damaged one")
    return torch.from_numpy(labels)


def _read_binary_part(path: Path, label_bytes: int, label_index: int, num_classes: int) -> Split:
    require_file(path, "CIFAR file")
    record = label_bytes + PIXELS
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % record:
        raise UnreadableFileError(path, f"{raw.size:,} bytes, not a whole number of {record}-byte records",
                                  "the file is truncated or of another dataset: download it again")
    records = raw.reshape(-1, record)
    return Split(_planes_to_images(records[:, label_bytes:]), _labels(path, records[:, label_index], num_classes))


def _read_python_part(path: Path, labels_key: str, num_classes: int) -> Split:
    batch = _read_pickle(path)
    if "data" not in batch or labels_key not in batch:
        raise UnreadableFileError(path, f"it holds {sorted(batch)}, not 'data' and {labels_key!r}",
                                  "not a batch of this dataset")
    pixels = np.asarray(batch["data"])
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != PIXELS:
        raise UnreadableFileError(path, f"'data' is {pixels.dtype} {list(pixels.shape)}, not uint8 [N, {PIXELS}]",
                                  "not a batch of this dataset")
    labels = _labels(path, np.asarray(batch[labels_key]), num_classes)
    if labels.shape[0] != pixels.shape[0]:
        raise UnreadableFileError(path, f"{pixels.shape[0]} images but {labels.shape[0]} labels", "a damaged batch")
    return Split(_planes_to_images(pixels), labels)


def _concatenate(parts: list[Split]) -> Split:
    return Split(torch.cat([part.images for part in parts]), torch.cat([part.labels for part in parts]))


def _find_folder(root: Path, name: str, file_format: str) -> tuple[Path, str]:
    """(the folder of the files, "binary" or "python"): ``root`` itself or its published sub-folder."""
    formats = ("binary", "python") if file_format == "auto" else (file_format,)
    for candidate_format in formats:
        folder_name, training = (_BINARY if candidate_format == "binary" else _PYTHON)[name][:2]
        for folder in (root / folder_name, root):
            if (folder / training[0]).is_file():
                return folder, candidate_format
    expected = " or ".join(f"{(_BINARY if f == 'binary' else _PYTHON)[name][0]}/" for f in formats)
    raise FileNotFoundError(f"{name}: no {expected} in {root} (nor its files in the folder itself); pass root= the "
                            "folder that holds it, or download=True to download the python version there")


def _download(name: str, root: Path) -> None:
    datasets = torchvision_datasets(name)
    (datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100)(str(root), train=True, download=True)


def load_cifar(name: str, root: str | Path, *, validation_size: int = 5000, split: str = "ordered",
               split_seed: int = 0, file_format: str = "auto", download: bool = False) -> DatasetSplits:
    """CIFAR-10 or CIFAR-100 (fine labels): 50,000 training and 10,000 test images, 32 × 32 RGB.

    Args:
        name: "cifar10" or "cifar100".
        root: the folder holding ``cifar-10-batches-bin`` / ``cifar-10-batches-py`` (CIFAR-100:
            ``cifar-100-binary`` / ``cifar-100-python``), or that folder itself.
        validation_size: training images held out for validation (default 5,000; 0: none).
        split: "ordered" (default: the last ``validation_size`` training images; the published training order is
            already shuffled, so ``train.first(N)`` are the first N of the files) or "stratified" (a seeded draw
            with every class in proportion).
        file_format: "auto" (the binary version where both are present), "binary" or "python".
        download: download the python version into ``root`` first when it is missing (needs torchvision).

    Returns:
        DatasetSplits ``name``: Tensor[N, 3, 32, 32] float32 in [0, 1]; labels int64 in [0, 10) or [0, 100);
        the class names from the files' meta data.

    Raises:
        ValueError: another name; validation_size outside [0, 50,000).
        FileNotFoundError: the files are missing (the message names the folders looked for).
        UnreadableFileError: a truncated or damaged file (named), or labels outside the classes.
        DataError: a bad split or file_format, or download=True with file_format "binary"; a split that lacks a
            class.
        ImportError: download=True without a usable torchvision.
    """
    if name not in _NUM_CLASSES:
        raise ValueError(f"name must be 'cifar10' or 'cifar100', got {name!r}")
    if file_format not in ("auto", "binary", "python"):
        raise DataError(f"file_format must be 'auto', 'binary' or 'python', got {file_format!r}")
    root = Path(root).expanduser()
    if download and file_format == "binary":
        raise DataError("download=True fetches the python version of the files; leave file_format 'auto' or give "
                        "'python', or download the binary version yourself")
    if download:
        try:
            _find_folder(root, name, file_format)
        except FileNotFoundError:
            _download(name, root)
    folder, found_format = _find_folder(root, name, file_format)
    num_classes = _NUM_CLASSES[name]
    if found_format == "binary":
        _, training, test_file, names_file, label_bytes, label_index = _BINARY[name]
        parts = [_read_binary_part(folder / file, label_bytes, label_index, num_classes)
                 for file in [*training, test_file]]
        names_path = folder / names_file
        classes = tuple(line.strip() for line in names_path.read_text().splitlines() if line.strip()) \
            if names_path.is_file() else ()
    else:
        _, training, test_file, meta_file, labels_key, names_key = _PYTHON[name]
        parts = [_read_python_part(folder / file, labels_key, num_classes) for file in [*training, test_file]]
        meta = _read_pickle(folder / meta_file) if (folder / meta_file).is_file() else {}
        classes = tuple(_text(value) for value in meta.get(names_key, ()))
    if len(classes) != num_classes:  # no or another meta file: the published names (CIFAR-100: the indices)
        classes = CIFAR10_CLASSES if name == "cifar10" else tuple(str(k) for k in range(num_classes))
    provenance = {"source": str(folder), "format": found_format}
    return with_validation(name, classes, _concatenate(parts[:-1]), parts[-1], validation_size=validation_size,
                           split=split, split_seed=split_seed, provenance=provenance)


def load_cifar10(root: str | Path, *, validation_size: int = 5000, split: str = "ordered", split_seed: int = 0,
                 file_format: str = "auto", download: bool = False) -> DatasetSplits:
    """CIFAR-10: see :func:`load_cifar`."""
    return load_cifar("cifar10", root, validation_size=validation_size, split=split, split_seed=split_seed,
                      file_format=file_format, download=download)


def load_cifar100(root: str | Path, *, validation_size: int = 5000, split: str = "ordered", split_seed: int = 0,
                  file_format: str = "auto", download: bool = False) -> DatasetSplits:
    """CIFAR-100 with its 100 fine labels: see :func:`load_cifar`."""
    return load_cifar("cifar100", root, validation_size=validation_size, split=split, split_seed=split_seed,
                      file_format=file_format, download=download)
