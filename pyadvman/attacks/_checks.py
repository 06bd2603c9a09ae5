"""Argument checks shared by the attacks: errors name the argument, the expected and the received value."""

from __future__ import annotations

import torch
from torch import Tensor

from pyadvman.attacks.search import BEST, NOISES, UPDATES


def check_images_labels(x: Tensor, y: Tensor) -> None:
    """x must be a floating Tensor[B, C, H, W] in [0, 1] and y an int64 Tensor[B] on x's device."""
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() != 4:
        raise ValueError(f"x must be a floating-point Tensor[B, C, H, W], got "
                         f"{type(x).__name__ if not isinstance(x, Tensor) else f'{x.dtype} {list(x.shape)}'}")
    if not isinstance(y, Tensor) or y.dtype != torch.int64 or y.shape != x.shape[:1]:
        raise ValueError(f"y must be an int64 Tensor[{x.shape[0]}] of labels, got "
                         f"{type(y).__name__ if not isinstance(y, Tensor) else f'{y.dtype} {list(y.shape)}'}")
    if y.device != x.device:
        raise ValueError(f"y must be on x's device {x.device}, got {y.device}")
    if x.numel() and (float(x.min()) < 0 or float(x.max()) > 1):
        raise ValueError(f"x must have values in [0, 1] (normalise inside the model), got "
                         f"[{float(x.min())}, {float(x.max())}]")


def check_target(target: Tensor | None, targeted: bool, y: Tensor) -> None:
    if targeted and (target is None or target.shape != y.shape or target.dtype != torch.int64):
        got = None if target is None else f"{target.dtype} {list(target.shape)}"
        raise ValueError(f"a targeted attack needs target, an int64 Tensor[{y.shape[0]}], got {got}")


def check_settings(steps: int, restarts: int, update: str, best: str, noise: str | None = None) -> None:
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    if update not in UPDATES:
        raise ValueError(f"update must be one of {UPDATES}, got {update!r}")
    if best not in BEST:
        raise ValueError(f"best must be one of {BEST}, got {best!r}")
    if noise not in NOISES:
        raise ValueError(f"noise must be one of {NOISES}, got {noise!r}")
