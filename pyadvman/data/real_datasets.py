"""Real datasets from local files: Fashion-MNIST from Debian's ``dataset-fashion-mnist``, any IDX dataset,
and any .npz with ``images`` and ``labels``. Nothing is downloaded.

Splits: user data (IDX, .npz) is split by a seeded, stratified draw by default (``split="stratified"``), because
exported datasets are often sorted by class and the last rows would hold only the last classes; Fashion-MNIST
keeps its official order (``split="ordered"``: validation = the last 10,000 training images), whose first N
training images are the papers' "first N".
"""

from __future__ import annotations

import logging
import zipfile
import zlib
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from pyadvman._file_reading import require_file
from pyadvman.data.idx import read_idx
from pyadvman.data.official_splits import check_split_rule
from pyadvman.data.splits import DatasetSplits, Split, check_class_coverage, split_off
from pyadvman.errors import DataError, UnreadableFileError

logger = logging.getLogger(__name__)

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
IDX_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
LAYOUTS = ("auto", "NHWC", "NCHW")
_MAX_CHANNELS = 4  # a side of at most this size can be a channel axis (gray, gray + alpha, RGB, RGBA)


def image_layout(shape: tuple[int, ...], layout: str, name: str = "images") -> str:
    """The layout ("NHW", "NHWC" or "NCHW") of an image array of ``shape``.

    ``layout="auto"`` decides by which of axes 1 and 3 can be a channel axis (at most 4 long); an array where
    both or neither can (e.g. [N, 3, 3, 3] or [N, 28, 28, 28]) needs ``layout="NHWC"`` or ``"NCHW"``.

    Raises:
        DataError: another rank, an ambiguous shape under "auto", or an unknown layout.
    """
    if layout not in LAYOUTS:
        raise DataError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if len(shape) == 3:
        return "NHW"
    if len(shape) != 4:
        raise DataError(f"{name} must have shape [N, H, W], [N, H, W, C] or [N, C, H, W], got {list(shape)}")
    if layout != "auto":
        return layout
    last, first = shape[3] <= _MAX_CHANNELS, shape[1] <= _MAX_CHANNELS
    if last != first:
        return "NHWC" if last else "NCHW"
    raise DataError(f"{name} of shape {list(shape)}: cannot tell whether the channels are the last axis "
                    f"([N, H, W, C]) or the second ([N, C, H, W]); pass layout='NHWC' or layout='NCHW' (command "
                    "line: --dataset-options '{\"layout\": \"NHWC\"}')")


def images_to_tensor(images: np.ndarray, name: str = "images", layout: str = "auto") -> tuple[torch.Tensor, str]:
    """Images -> (Tensor[N, C, H, W] float32 in [0, 1], the layout that was read).

    Accepts uint8 (or other integer arrays with values in [0, 255]), bool (0 or 1) or floats in [0, 1], shaped
    [N, H, W], [N, H, W, C] or [N, C, H, W] (see :func:`image_layout`).

    Raises:
        DataError: an ambiguous or unsupported shape, NaN or infinite values, values outside the range, or
            integer images whose largest value is 1 (binary images, which 8-bit scaling would make black).
    """
    layout = image_layout(images.shape, layout, name)
    if layout == "NHW":
        images = images[:, None]
    elif layout == "NHWC":
        images = images.transpose(0, 3, 1, 2)
    if images.dtype == np.bool_:
        return torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)), layout
    if np.issubdtype(images.dtype, np.integer):
        if images.size and (images.min() < 0 or images.max() > 255):
            raise DataError(f"{name}: integer images must lie in [0, 255], got [{images.min()}, {images.max()}]")
        if images.size and images.max() == 1:
            raise DataError(f"{name}: integer images whose largest value is 1 look binary, and 8-bit scaling "
                            "(÷ 255) would make them black; give them as bool or as floats in [0, 1], or as 0/255")
        return torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)).float().div_(255.0), layout
    if not np.issubdtype(images.dtype, np.floating):
        raise DataError(f"{name} must be integers in [0, 255] or floats in [0, 1], got dtype {images.dtype}")
    finite = np.isfinite(images)
    if not finite.all():
        bad = np.flatnonzero(~finite.reshape(images.shape[0], -1).all(axis=1))
        raise DataError(f"{name}: {int((~finite).sum())} values are NaN or infinite, in {len(bad)} images (first: "
                        f"image {int(bad[0])}); images must be finite values in [0, 1]")
    tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    if tensor.numel() and (tensor.min() < 0 or tensor.max() > 1):
        raise DataError(f"{name}: float images must lie in [0, 1], got [{tensor.min().item()}, "
                        f"{tensor.max().item()}]")
    return tensor, layout


def labels_to_tensor(labels: np.ndarray, count: int, name: str = "labels") -> torch.Tensor:
    """Labels [N] of non-negative integers -> Tensor[N] int64.

    Raises:
        DataError: wrong shape, non-integer (strings, floats, objects), negative or too large (beyond int64) values.
    """
    labels = np.asarray(labels)
    if labels.shape != (count,):
        raise DataError(f"{name} must have shape [{count}] (one per image), got {list(labels.shape)}")
    if not count:
        return torch.zeros(0, dtype=torch.int64)
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{name} must be non-negative integers, got dtype {labels.dtype} (e.g. "
                        f"{labels[0].item()!r}); map class names to 0 … K-1 first, e.g. `names, labels = "
                        "np.unique(labels, return_inverse=True)`")
    if labels.min() < 0 or labels.max() > np.iinfo(np.int64).max:
        bad = labels[(labels < 0) | (labels > np.iinfo(np.int64).max)]
        raise DataError(f"{name} must be non-negative integers, got {len(bad)} values out of range "
                        f"(e.g. {bad[0]}; a -1 stored as unsigned reads as its largest value)")
    return torch.from_numpy(labels.astype(np.int64))


def _class_names(source: str, *label_sets: torch.Tensor) -> tuple[str, ...]:
    """"0" … "K-1" for labels that number the classes 0 … K-1 with each one present. Checked from the distinct
    values only, so a stray huge label costs nothing before it is refused.

    Raises:
        DataError: some class below the largest label has no example (e.g. labels {3, 7}); the message names the
            distinct values and the first empty classes.
    """
    present = torch.cat(label_sets).unique().tolist()
    if not present or present[-1] == len(present) - 1:
        return tuple(str(c) for c in range(len(present)))
    seen = set(present)
    gaps = list(islice((c for c in range(present[-1]) if c not in seen), 5))  # ends by len(present) + 5 tries
    empty = present[-1] + 1 - len(present)
    shown = present if len(present) <= 10 else [*present[:5], "…", *present[-3:]]
    raise DataError(f"{source}: labels must number the classes 0 … K-1 with every class present; got "
                    f"{len(present)} distinct values {shown}, so {empty} classes below {present[-1]} would be "
                    f"empty (first: {gaps}). Relabel them, e.g. `_, labels = np.unique(labels, "
                    "return_inverse=True)`")


def _check_labels_below(source: str, num_classes: int, *label_sets: torch.Tensor) -> None:
    """Every label in [0, num_classes), checked before anything sized by the labels is allocated.

    Raises:
        DataError: naming the out-of-range values (the first few).
    """
    labels = torch.cat(label_sets)
    bad = labels[labels >= num_classes].unique()
    if bad.numel():
        raise DataError(f"{source}: labels must lie in [0, {num_classes}) ({num_classes} classes given), got "
                        f"{bad.numel()} other values (first: {bad[:5].tolist()})")


def _check_same_image_shape(source: str, train: torch.Tensor, test: torch.Tensor) -> None:
    if train.shape[1:] != test.shape[1:]:
        raise DataError(f"{source}: test images have shape [C, H, W] = {list(test.shape[1:])}, training images "
                        f"{list(train.shape[1:])}; a model is built for one image size, so resize the test images "
                        "to the training size first")


def _find(root: Path, stem: str) -> Path:
    names = (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz")
    found = [root / name for name in dict.fromkeys(names) if (root / name).is_file()]
    if len(found) > 1:
        raise DataError(f"{root}: {[p.name for p in found]} are the same file in several forms; keep one")
    if not found:
        raise FileNotFoundError(f"{root}: no {stem}[.gz]")
    return found[0]


def load_idx_dataset(root: str | Path, *, validation_size: int | None = None, name: str = "idx",
                     classes: tuple[str, ...] | None = None, split: str = "stratified", split_seed: int = 0,
                     layout: str = "auto") -> DatasetSplits:
    """A dataset stored as the four MNIST-style IDX files in one folder.

    Args:
        root: folder with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
            t10k-labels-idx1-ubyte (each optionally .gz).
        validation_size: training examples held out for validation (default a sixth, 10,000 of 60,000).
        split: "stratified" (default: a seeded draw with every class in proportion, the training split in
            seeded random order) or "ordered" (the last ``validation_size`` training examples, file order kept).
        split_seed: the seed of the stratified draw. layout: see :func:`image_layout`.

    Returns:
        DatasetSplits with images Tensor[N, C, H, W] float32 in [0, 1] and labels Tensor[N] int64.

    Raises:
        FileNotFoundError: a file is missing. DataError: unreadable or inconsistent files, a bad split.
    """
    check_split_rule(split, split_seed)
    root = Path(root)
    paths = {key: _find(root, stem) for key, stem in IDX_FILES.items()}
    arrays = {key: read_idx(path) for key, path in paths.items()}
    parts, layouts = {}, set()
    for part in ("train", "test"):
        images, read_as = images_to_tensor(arrays[f"{part}_images"], str(paths[f"{part}_images"]), layout)
        layouts.add(read_as)
        parts[part] = Split(images, labels_to_tensor(arrays[f"{part}_labels"], images.shape[0],
                                                     str(paths[f"{part}_labels"])))
    _check_same_image_shape(str(root), parts["train"].images, parts["test"].images)
    if classes:
        _check_labels_below(str(root), len(classes), parts["train"].labels, parts["test"].labels)
    names = classes or _class_names(str(root), parts["train"].labels, parts["test"].labels)
    size = len(parts["train"]) // 6 if validation_size is None else validation_size
    train, validation = split_off(parts["train"], size, "validation_size", split, split_seed)
    provenance = {"source": str(root), "layout": "/".join(sorted(layouts)), "split": split,
                  **({"split_seed": split_seed} if split == "stratified" else {})}
    data = DatasetSplits(name, names, train, validation, parts["test"], provenance=provenance)
    check_class_coverage(data)
    return data


def load_fashion_mnist(root: str | Path = FASHION_MNIST_DIR, *, validation_size: int = 10000,
                       split: str = "ordered", split_seed: int = 0) -> DatasetSplits:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test images, 28×28, 10 classes.

    The files come from Debian's ``dataset-fashion-mnist`` package (the original IDX files, whose training set
    is already shuffled). By default the split keeps the official order (``split="ordered"``): validation is the
    last ``validation_size`` training images and ``train.first(N)`` the first N, as in the papers.

    Returns:
        DatasetSplits "fashion-mnist": Tensor[N, 1, 28, 28] float32 in [0, 1], labels int64 in [0, 10).

    Raises:
        FileNotFoundError: the files are missing; the message gives the command that installs them.
    """
    root = Path(root)
    try:
        return load_idx_dataset(root, validation_size=validation_size, name="fashion-mnist",
                                classes=FASHION_MNIST_CLASSES, split=split, split_seed=split_seed)
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"Fashion-MNIST not found ({error}). Install it with `sudo apt-get install dataset-fashion-mnist` "
            f"(files go to {FASHION_MNIST_DIR}), or pass root= a folder with the four IDX files."
        ) from None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz, or an error naming the file when it is not a readable numpy archive."""
    with open(path, "rb"):  # a file that cannot be opened (permissions) says so, not "not a zip archive"
        pass
    if not zipfile.is_zipfile(path):
        raise UnreadableFileError(path, "not a zip archive, which an .npz is", "it is truncated, corrupt or of "
                                  "another format: write it with numpy.savez or numpy.savez_compressed")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
        if "allow_pickle" in str(error):
            raise UnreadableFileError(path, "it holds an object (pickled) array, which pyadvman does not load: "
                                      "unpickling can run any code", "save numeric arrays, e.g. np.savez(path, "
                                      "images=np.asarray(images, np.uint8), labels=np.asarray(labels))") from None
        raise UnreadableFileError(path, f"{type(error).__name__}: {error}", "the file is truncated or corrupt: "
                                  "write it again") from None


NPZ_KEYS = ("images", "labels", "test_images", "test_labels")


def load_npz_dataset(path: str | Path, *, test_size: int | None = None, validation_size: int | None = None,
                     split: str = "stratified", split_seed: int = 0, layout: str = "auto") -> DatasetSplits:
    """A user dataset in one .npz file.

    Keys: ``images`` (uint8 [N, H, W], [N, H, W, C] or [N, C, H, W], or floats in [0, 1]; see
    :func:`image_layout`) and ``labels`` (integers [N] numbering the classes 0 … K-1); optionally
    ``test_images`` and ``test_labels`` (same image size). Without them ``test_size`` examples (default N // 7,
    the MNIST proportion) are held out for testing; then ``validation_size`` training examples (default a
    tenth) for validation.

    Args:
        split: "stratified" (default: seeded draws with every class in proportion, ±1 example per class, and
            the training split in seeded random order, so ``train.first(N)`` mixes the classes) or "ordered"
            (the last rows, file order kept).
        split_seed: the seed of the stratified draws: the same seed gives the same splits on every run.
        layout: "auto", "NHWC" or "NCHW".

    Raises:
        FileNotFoundError: no such file. DataError: an unreadable file, a missing or unknown key, bad shapes or values
        (NaN, another test image size, empty classes), or a split that lacks a class.
    """
    check_split_rule(split, split_seed)
    path = Path(path)
    require_file(path, "npz dataset")
    arrays = _read_npz(path)
    unknown = sorted(set(arrays) - set(NPZ_KEYS))
    if unknown:  # a test set under a mistyped key would be replaced by one split off the training images
        raise DataError(f"{path}: the .npz holds keys that pyadvman does not read, {unknown}; it reads "
                        f"{list(NPZ_KEYS)}: rename or remove them")
    required = ("images", "labels") + (("test_images", "test_labels") if {"test_images", "test_labels"} & set(arrays)
                                       else ())
    for key in required:
        if key not in arrays:
            raise DataError(f"{path}: the .npz must hold {key!r}; it holds {sorted(arrays)}")
    for key in ("images", "test_images"):
        if key in arrays and arrays[key].shape[:1] == (0,):
            raise DataError(f"{path}: {key} holds 0 images"
                            + ("; leave test_images out to split a test set off the images" if key != "images" else ""))
    images, read_as = images_to_tensor(arrays["images"], f"{path}: images", layout)
    full = Split(images, labels_to_tensor(arrays["labels"], images.shape[0], f"{path}: labels"))
    if "test_images" in arrays:
        test_images, _ = images_to_tensor(arrays["test_images"], f"{path}: test_images",
                                          layout if read_as == "NHW" else read_as)
        _check_same_image_shape(str(path), images, test_images)
        test = Split(test_images, labels_to_tensor(arrays["test_labels"], test_images.shape[0],
                                                   f"{path}: test_labels"))
        names = _class_names(str(path), full.labels, test.labels)
        train = full
    else:
        names = _class_names(str(path), full.labels)  # before the split, whose quotas count every class
        size = len(full) // 7 if test_size is None else test_size
        train, test = split_off(full, size, "test_size", split, split_seed)
    size = len(train) // 10 if validation_size is None else validation_size
    train, validation = split_off(train, size, "validation_size", split, split_seed + 1)
    if read_as != "NHW" and layout == "auto":
        logger.info("%s: images of shape %s read as %s (channels %s, C = %d); pass layout= to override", path,
                    list(arrays["images"].shape), read_as, "first" if read_as == "NCHW" else "last",
                    images.shape[1])
    provenance = {"source": str(path), "layout": read_as, "split": split,
                  **({"split_seed": split_seed} if split == "stratified" else {})}
    data = DatasetSplits(path.stem, names, train, validation, test, provenance=provenance)
    check_class_coverage(data)
    return data
