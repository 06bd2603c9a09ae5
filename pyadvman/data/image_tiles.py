"""Figures of datasets: the FONTS contact sheet (every font's prototypes A–J) and image grids."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def displayable(images: np.ndarray) -> np.ndarray:
    """Images [N, C, H, W] in [0, 1] -> what imshow shows as they are: [N, H, W, 3] for RGB, else [N, H, W] (gray;
    the channel mean for other channel counts, e.g. gray + alpha)."""
    return images.transpose(0, 2, 3, 1) if images.shape[1] == 3 else images.mean(axis=1)


def show_images(ax: Axes, image: np.ndarray, **options: object) -> None:
    """``ax.imshow`` of a gray [H, W] or RGB [H, W, 3] image in [0, 1] (gray colour map only for the first)."""
    ax.imshow(image, **({"cmap": "gray"} if image.ndim == 2 else {}), vmin=0, vmax=1, **options)


def tile(images: np.ndarray, columns: int, pad: int = 1) -> np.ndarray:
    """Images [N, H, W] or [N, H, W, 3] in [0, 1] -> one mosaic [rows·(H+pad), columns·(W+pad)] (and the
    channels), row-major, gaps = 0.5."""
    count, height, width = images.shape[:3]
    rows = max(1, math.ceil(count / columns))
    mosaic = np.full((rows * (height + pad), columns * (width + pad), *images.shape[3:]), 0.5, dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        mosaic[r * (height + pad): r * (height + pad) + height, c * (width + pad): c * (width + pad) + width] = image
    return mosaic


def fonts_contact_sheet(prototypes: np.ndarray, path: str | Path, *, columns: int = 8, title: str = "") -> Path:
    """Saves a PNG with the letters of every font: each font one strip "ABCDEFGHIJ", ``columns`` strips a row.

    Args:
        prototypes: np.ndarray[F, L, H, W] in [0, 1].
        path: the PNG to write (folders are created).
        columns: font strips per row.
        title: printed above, after the font count.

    Returns:
        The path written.
    """
    fonts, letters, height, width = prototypes.shape
    strips = np.concatenate([prototypes[:, i] for i in range(letters)], axis=2) if fonts else \
        np.zeros((0, height, width * letters), np.float32)
    mosaic = tile(strips, columns)
    rows = mosaic.shape[0] / (height + 1)
    fig_width = 2.0 * columns
    fig = Figure(figsize=(fig_width, max(1.5, fig_width * mosaic.shape[0] / mosaic.shape[1] + 0.6)))
    ax = fig.subplots()
    show_images(ax, mosaic, interpolation="nearest")
    ax.set_yticks((np.arange(int(rows)) + 0.5) * (height + 1))
    ax.set_yticklabels([str(r * columns) for r in range(int(rows))], fontsize=5)
    ax.set_xticks([])
    ax.set_ylabel("index of the row's first font")
    ax.set_title(f"FONTS: {fonts} fonts{' — ' + title if title else ''}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150, bbox_inches="tight", metadata={"Description": f"fonts={fonts}"})
    return path
