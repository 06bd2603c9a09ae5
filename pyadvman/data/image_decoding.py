"""Decoding image files with Pillow into arrays: one size for all (or resized), one colour mode (converted, with one
warning line that counts the converted images), a named error for a file that cannot be read."""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from pyadvman.errors import DataError, UnreadableFileError

logger = logging.getLogger(__name__)

_DECODING_THREADS = 4  # Pillow decodes without the GIL
PROGRESS_FROM = 2000  # a progress bar for at least this many images


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


def decode_images(files: list[Path], color: str, image_size: int | None, source: Path,
                  modes: Counter | None = None) -> np.ndarray:
    """uint8 [N, H, W, C] of ``files`` (C = 3 for "rgb", 1 for "gray"); the files' modes other than the wanted one
    are counted into ``modes`` ({mode: count}, for the warning line), with their first file under key "first".

    Raises:
        UnreadableFileError: a file Pillow cannot decode. DataError: images of several sizes with no image_size.
    """
    with ThreadPoolExecutor(_DECODING_THREADS) as pool:
        decoded = list(tqdm(pool.map(lambda path: _decode(path, color, image_size), files), total=len(files),
                            desc=f"decoding {source.name}", unit="img", disable=len(files) < PROGRESS_FROM))
    sizes = Counter(size for _, _, size in decoded)
    if image_size is None and len(sizes) > 1:
        (common, count), *others = sizes.most_common()
        first_other = next(path for path, (_, _, size) in zip(files, decoded, strict=True) if size != common)
        shown = ", ".join(f"{w}×{h} ({n})" for (w, h), n in others[:3])
        raise DataError(f"imagefolder {source}: images of {len(sizes)} sizes, {common[0]}×{common[1]} "
                        f"({count} images) and {shown}{' …' if len(others) > 3 else ''} (first: {first_other}); "
                        "pass image_size=S to resize every image to S × S (command line: --dataset-options "
                        f"'{{\"image_size\": {min(common)}}}')")
    if modes is not None:
        wanted = "RGB" if color == "rgb" else "L"
        for path, (_, mode, _) in zip(files, decoded, strict=True):
            if mode != wanted:
                modes[mode] += 1
                modes.setdefault("first", path)
    return np.stack([array for array, _, _ in decoded])


def warn_converted(modes: Counter, total: int, color: str, source: Path) -> None:
    """The one warning line for images converted to ``color`` (``modes`` as :func:`decode_images` counts them)."""
    counts = {mode: n for mode, n in modes.items() if mode != "first"}
    if counts:
        wanted = "RGB" if color == "rgb" else "L"
        logger.warning("imagefolder %s: %d of %d images were not %s (%s; first: %s) and were converted to %s",
                       source, sum(counts.values()), total, wanted, ", ".join(f"{m}: {n}" for m, n in counts.items()),
                       modes["first"], wanted)


def as_float_images(pixels: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, C] -> Tensor[N, C, H, W] float32 in [0, 1]."""
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous().float().div_(255.0)
