"""The standard CIFAR data augmentation, on whole batches where they are: a random crop of the image padded by 4
zero pixels on each side, then a horizontal flip with probability 1/2 (He et al. 2016, §4.2; Madry et al. 2018;
torchvision's ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip()``)."""

from __future__ import annotations

from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

Augmentation = Literal["none", "crop-flip"]
AUGMENTATIONS = get_args(Augmentation)
CROP_PADDING = 4


def crop_flip(images: Tensor, rows: Tensor, columns: Tensor, flips: Tensor, padding: int = CROP_PADDING) -> Tensor:
    """Each image zero-padded by ``padding`` pixels, cropped back to its size at offset (rows[b], columns[b]) of the
    padded image, then mirrored left-right where flips[b].

    Args:
        images: Tensor[B, C, H, W] float. rows, columns: Tensor[B] int64 in [0, 2·padding]. flips: Tensor[B] bool.

    Returns:
        Tensor[B, C, H, W] like images (a new tensor); offset (padding, padding) without a flip is the image.
    """
    batch, _, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    row_index = rows.to(images.device)[:, None] + torch.arange(height, device=images.device)  # [B, H]
    column_index = columns.to(images.device)[:, None] + torch.arange(width, device=images.device)  # [B, W]
    column_index = torch.where(flips.to(images.device)[:, None], column_index.flip(1), column_index)
    examples = torch.arange(batch, device=images.device)[:, None, None]
    cropped = padded.permute(0, 2, 3, 1)[examples, row_index[:, :, None], column_index[:, None, :]]  # [B, H, W, C]
    return cropped.permute(0, 3, 1, 2).contiguous(memory_format=torch.contiguous_format)


def augment(images: Tensor, augmentation: str, seed: int, *, batch: int | None = None, rank: int = 0,
            world: int = 1) -> Tensor:
    """``images`` (Tensor[B, C, H, W]) under ``augmentation``: "none" returns them unchanged; "crop-flip" returns a new
    tensor like them (dtype, device), each image's crop offset and flip drawn from a generator seeded with
    ``seed``. Under DDP ``images`` are the rows ``rank::world`` of a global batch of ``batch`` (default B) rows:
    the draws are the global batch's, so that a run draws the same crops and flips however many processes share
    it, and a resumed run those of an uninterrupted one.

    Raises:
        ValueError: an unknown augmentation.
    """
    if augmentation == "none":
        return images
    if augmentation != "crop-flip":
        raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, got {augmentation!r}")
    generator = torch.Generator().manual_seed(seed)
    size = images.shape[0] if batch is None else batch
    rows = torch.randint(0, 2 * CROP_PADDING + 1, (size,), generator=generator)[rank::world]
    columns = torch.randint(0, 2 * CROP_PADDING + 1, (size,), generator=generator)[rank::world]
    flips = (torch.rand(size, generator=generator) < 0.5)[rank::world]
    return crop_flip(images, rows, columns, flips)
