"""Images in class folders (``root/<class>/<image>``, as torchvision's ImageFolder reads them), decoded with Pillow.

With ``root/train/<class>/…`` and ``root/test/<class>/…`` the two are the training and test sets; otherwise the
test set is a seeded, stratified draw from all images. Classes are the folder names in sorted order.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from pyadvman.data.official_splits import check_split_rule, with_validation
from pyadvman.data.splits import DatasetSplits, Split, split_off
from pyadvman.errors import DataError, UnreadableFileError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
COLORS = ("rgb", "gray")
_DECODING_THREADS = 4  # Pillow decodes without the GIL
_PROGRESS_FROM = 2000  # a progress bar for folders with at least this many images


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


def _decode(path: Path, color: str, image_size: int | None) -> tuple[np.ndarray, str, tuple[int, int]]:
    """(uint8 [H, W, C], the file's mode, its (width, height)) of one image, converted to ``color``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            mode, size = image.mode, image.size
            if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
                # transparent pixels over black (converting alone keeps whatever colour they hold)
                image = Image.alpha_composite(Image.new("RGBA", size, (0, 0, 0, 255)), image.convert("RGBA"))
            converted = image.convert("RGB" if color == "rgb" else "L")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise UnreadableFileError(path, f"{type(error).__name__}: {error}", "the image is truncated or not an "
                                  "image: remove or replace it") from None
    if image_size is not None and converted.size != (image_size, image_size):
        converted = converted.resize((image_size, image_size), Image.Resampling.BILINEAR)
    pixels = np.asarray(converted, dtype=np.uint8)
    return (pixels[..., None] if pixels.ndim == 2 else pixels), mode, size


def _read_images(files: list[Path], color: str, image_size: int | None, source: Path) -> torch.Tensor:
    """Tensor[N, C, S, S] float32 in [0, 1] of ``files``.

    Raises:
        UnreadableFileError: a file Pillow cannot decode. DataError: images of several sizes with no image_size.
    """
    with ThreadPoolExecutor(_DECODING_THREADS) as pool:
        decoded = list(tqdm(pool.map(lambda path: _decode(path, color, image_size), files), total=len(files),
                            desc=f"decoding {source.name}", unit="img", disable=len(files) < _PROGRESS_FROM))
    sizes = Counter(size for _, _, size in decoded)
    if image_size is None and len(sizes) > 1:
        (common, count), *others = sizes.most_common()
        first_other = next(path for path, (_, _, size) in zip(files, decoded, strict=True) if size != common)
        shown = ", ".join(f"{w}×{h} ({n})" for (w, h), n in others[:3])
        raise DataError(f"imagefolder {source}: images of {len(sizes)} sizes, {common[0]}×{common[1]} "
                        f"({count} images) "
                        f"and {shown}{' …' if len(others) > 3 else ''} (first: {first_other}); pass image_size=S to "
                        f"resize every image to S × S (command line: --dataset-options '{{\"image_size\": "
                        f"{min(common)}}}')")
    wanted = "RGB" if color == "rgb" else "L"
    modes = Counter(mode for _, mode, _ in decoded if mode != wanted)
    if modes:
        first = next(path for path, (_, mode, _) in zip(files, decoded, strict=True) if mode != wanted)
        logger.warning("imagefolder %s: %d of %d images were not %s (%s; first: %s) and were converted to %s",
                       source, sum(modes.values()), len(files), wanted, ", ".join(f"{m}: {n}" for m, n in
                                                                                  modes.items()), first, wanted)
    pixels = np.stack([array for array, _, _ in decoded])
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous().float().div_(255.0)


def _read_split(root: Path, classes: tuple[str, ...], color: str, image_size: int | None) -> Split:
    files, labels = [], []
    for label, name in enumerate(classes):
        folder_files = _image_files(root / name)
        files += folder_files
        labels += [label] * len(folder_files)
    return Split(_read_images(files, color, image_size, root), torch.tensor(labels, dtype=torch.int64))


def load_image_folder(root: str | Path, *, image_size: int | None = None, color: str = "rgb",
                      test_size: int | None = None, validation_size: int | None = None, split: str = "stratified",
                      split_seed: int = 0) -> DatasetSplits:
    """A dataset of image files in class folders: ``root/<class>/<image>`` (any depth below the class folder), or
    ``root/train/<class>/…`` and ``root/test/<class>/…``.

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

    Returns:
        DatasetSplits named after ``root``: Tensor[N, C, H, W] float32 in [0, 1] (C = 3 for "rgb", 1 for "gray"),
        labels int64 indexing the sorted class folder names.

    Raises:
        FileNotFoundError: no folder at root. DataError: no class folders, an empty class folder, images of
        several sizes without image_size, train/ and test/ with different classes, a bad option.
        UnreadableFileError: a file that is not a readable image (truncated, corrupt): it is named.
    """
    check_split_rule(split, split_seed)
    if color not in COLORS:
        raise DataError(f"color must be one of {COLORS}, got {color!r}")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int)
                                   or image_size < 1):
        raise DataError(f"image_size must be an integer >= 1 or None, got {image_size!r}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"imagefolder: {root} is not a folder")
    provenance = {"source": str(root), "image_size": image_size, "color": color}
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = tuple(folder.name for folder in _class_folders(root / "train"))
        test_classes = tuple(folder.name for folder in _class_folders(root / "test"))
        if test_classes != classes:
            raise DataError(f"imagefolder {root}: train/ has the classes {list(classes)}, test/ "
                            f"{list(test_classes)}; both need the same class folders")
        train = _read_split(root / "train", classes, color, image_size)
        test = _read_split(root / "test", classes, color, image_size)
        if train.images.shape[1:] != test.images.shape[1:]:
            raise DataError(f"imagefolder {root}: test images are {list(test.images.shape[1:])}, training images "
                            f"{list(train.images.shape[1:])}; pass image_size=S to resize both")
    else:
        classes = tuple(folder.name for folder in _class_folders(root))
        full = _read_split(root, classes, color, image_size)
        train, test = split_off(full, len(full) // 7 if test_size is None else test_size, "test_size", split,
                                split_seed)
    size = len(train) // 10 if validation_size is None else validation_size
    return with_validation(root.name, classes, train, test, validation_size=size, split=split,
                           split_seed=split_seed, provenance=provenance, draw=1)
