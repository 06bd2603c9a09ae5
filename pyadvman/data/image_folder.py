"""Images in class folders (``root/<class>/<image>``, as torchvision's ImageFolder reads them), decoded with Pillow.

With ``root/train/<class>/…`` and ``root/test/<class>/…`` the two are the training and test sets; otherwise the
test set is a seeded, stratified draw from all images. Classes are the folder names in sorted order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import torch

from pyadvman.data.image_decoding import as_float_images, decode_images, warn_converted
from pyadvman.data.image_folder_cache import cached_images
from pyadvman.data.official_splits import check_split_rule, with_validation
from pyadvman.data.splits import DatasetSplits, Split, split_off
from pyadvman.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
COLORS = ("rgb", "gray")


def _class_folders(root: Path) -> list[Path]:
    folders = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
    if not folders:
        raise DataError(f"imagefolder {root}: no class folders; images must lie in root/<class name>/<image> "
                        f"(extensions {', '.join(IMAGE_EXTENSIONS)})")
    return folders


def _image_files(folder: Path) -> list[Path]:
    files = sorted(path for path in folder.rglob("*") if path.suffix.lower() in IMAGE_EXTENSIONS
                   and path.is_file() and not path.name.startswith("."))
    if not files:
        raise DataError(f"imagefolder: class folder {folder} holds no images (extensions "
                        f"{', '.join(IMAGE_EXTENSIONS)}); remove the folder or add its images")
    return files


def _listing(root: Path, classes: tuple[str, ...]) -> tuple[list[Path], torch.Tensor]:
    """The image files of the class folders under ``root`` in class order, and their labels Tensor[N] int64."""
    files, labels = [], []
    for label, name in enumerate(classes):
        folder_files = _image_files(root / name)
        files += folder_files
        labels += [label] * len(folder_files)
    return files, torch.tensor(labels, dtype=torch.int64)


def _check_options(image_size: int | None, color: str) -> None:
    if color not in COLORS:
        raise DataError(f"color must be one of {COLORS}, got {color!r}")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int)
                                   or image_size < 1):
        raise DataError(f"image_size must be an integer >= 1 or None, got {image_size!r}")


def load_image_folder(root: str | Path, *, image_size: int | None = None, color: str = "rgb",
                      test_size: int | None = None, validation_size: int | None = None, split: str = "stratified",
                      split_seed: int = 0, in_memory: bool = True) -> DatasetSplits:
    """A dataset of image files in class folders: ``root/<class>/<image>`` (any depth below the class folder), or
    ``root/train/<class>/…`` and ``root/test/<class>/…``.

    The splits are drawn from the file list and labels first, so that a folder without enough images of a class
    is refused before anything is decoded.

    Args:
        root: the folder.
        image_size: resize every image to image_size × image_size pixels (bilinear; the aspect ratio is not kept);
            None (default): keep the files' size, which must then be the same for all.
        color: "rgb" (default; grayscale, palette and RGBA images are converted, with one warning line that counts
            them; transparent pixels become black) or "gray".
        test_size: images held out for testing when there is no test/ folder (default a seventh, stratified).
        validation_size: training images held out for validation (default a tenth).
        split: "stratified" (default: seeded draws with every class in proportion) or "ordered" (the last files
            in sorted order, which holds the last classes only: rarely what you want here).
        split_seed: the seed of the stratified draws.
        in_memory: decode the images into memory (default); False decodes them once, chunk by chunk, into
            float32 files in the cache ($PYADVMAN_CACHE, :mod:`pyadvman.data.image_folder_cache`) and maps them,
            so that a folder larger than the memory can be trained on; the same folder (names, sizes, times) and
            options read the cached files again.

    Returns:
        DatasetSplits named after ``root``: Tensor[N, C, H, W] float32 in [0, 1] (C = 3 for "rgb", 1 for "gray";
        memory-mapped when not in_memory), labels int64 indexing the sorted class folder names.

    Raises:
        FileNotFoundError: no folder at root. DataError: no class folders, an empty class folder, images of
        several sizes without image_size, train/ and test/ with different classes (or with test_size), a bad
        option; a split that lacks a class. ValueError: test_size or validation_size larger than the images they
        are drawn from. UnreadableFileError: a file that is not a readable image (truncated, corrupt): it is named.
    """
    check_split_rule(split, split_seed)
    _check_options(image_size, color)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"imagefolder: {root} is not a folder")
    if (root / "train").is_dir() and (root / "test").is_dir():
        if test_size is not None:
            raise DataError(f"imagefolder {root}: test_size is for a folder without test/; this one has "
                            "train/ and test/, whose test/ is the test set")
        classes = tuple(folder.name for folder in _class_folders(root / "train"))
        test_classes = tuple(folder.name for folder in _class_folders(root / "test"))
        if test_classes != classes:
            raise DataError(f"imagefolder {root}: train/ has the classes {list(classes)}, test/ "
                            f"{list(test_classes)}; both need the same class folders")
        train_files, train_labels = _listing(root / "train", classes)
        test_files, test_labels = _listing(root / "test", classes)
        files = train_files + test_files
        train = Split(torch.arange(len(train_files)), train_labels)  # file indices stand in for the images
        test = Split(torch.arange(len(train_files), len(files)), test_labels)
    else:
        classes = tuple(folder.name for folder in _class_folders(root))
        files, labels = _listing(root, classes)
        train, test = split_off(Split(torch.arange(len(files)), labels), len(files) // 7 if test_size is None
                                else test_size, "test_size", split, split_seed)
    size = len(train) // 10 if validation_size is None else validation_size
    provenance = {"source": str(root), "image_size": image_size, "color": color,
                  **({} if in_memory else {"memory_mapped": True})}
    indices = with_validation(root.resolve().name, classes, train, test, validation_size=size, split=split,
                              split_seed=split_seed, provenance=provenance, draw=1)
    parts = {name: getattr(indices, name) for name in ("train", "validation", "test")}
    if in_memory:
        modes: Counter = Counter()
        images = as_float_images(decode_images(files, color, image_size, root, modes))
        warn_converted(modes, len(files), color, root)
        decoded = {name: images[part.images] for name, part in parts.items()}
    else:
        decoded = cached_images(root, files, {name: part.images for name, part in parts.items()}, color, image_size)
    return replace(indices, **{name: replace(part, images=decoded[name]) for name, part in parts.items()})
