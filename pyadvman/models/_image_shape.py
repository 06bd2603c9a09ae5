"""Argument checks shared by the classifiers."""

from __future__ import annotations


def check_image_shape(image_shape: tuple[int, ...], num_classes: int, min_side: int = 1) -> tuple[int, int, int]:
    """Returns (C, H, W) after checking it; raises ValueError naming the argument otherwise."""
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or min(shape) < 1 or min(shape[1:]) < min_side:
        raise ValueError(f"image_shape must be (C, H, W) with C >= 1 and H, W >= {min_side}, got {tuple(image_shape)}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return shape
