"""The random draws of Square's searches (pyadvman.attacks.square, square_lp): square windows and signs."""

from __future__ import annotations

import torch
from torch import Tensor


def random_windows(n: int, height: int, width: int, side: int, device: torch.device) -> Tensor:
    """One side × side window per example at a uniformly random position: Tensor[n, 1, H, W] bool."""
    top = torch.randint(0, height - side + 1, (n, 1, 1, 1), device=device)
    left = torch.randint(0, width - side + 1, (n, 1, 1, 1), device=device)
    rows = torch.arange(height, device=device).view(1, 1, height, 1)
    cols = torch.arange(width, device=device).view(1, 1, 1, width)
    return (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)


def random_signs(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Random signs as a bool Tensor (True: +), each with probability 1/2."""
    return torch.randint(0, 2, shape, device=like.device) > 0
