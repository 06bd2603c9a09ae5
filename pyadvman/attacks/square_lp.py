"""Square's L2 and L1 searches (Andriushchenko et al., "Square Attack", ECCV 2020, Sec. 3.2 for L2; the L1
version of AutoAttack's L1 evaluation, Croce & Hein, ICML 2021): perturbations built from centred square
patterns, the mass of one window moved to another at each query."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pyadvman.attacks.square_windows import random_windows
from pyadvman.ops import l1_project, l2_project

_GRID = 5  # the start tiles the image with a 5 × 5 grid of patterns (the authors' code)
_SMALLEST_SIDE = 3
# the weight of the k-th rectangle of a pattern is 1/k^power: 2 for L2 (the paper), 4 for L1 (AutoAttack's code)
_POWER = {"l2": 2, "l1": 4}


def _norm(t: Tensor, norm: str, dims: tuple[int, ...]) -> Tensor:
    """The L2 or L1 norm of t over ``dims`` (kept)."""
    return t.pow(2).sum(dim=dims, keepdim=True).sqrt() if norm == "l2" else t.abs().sum(dim=dims, keepdim=True)


def rectangles_pattern(height: int, width: int, norm: str, device: torch.device) -> Tensor:
    """Concentric rectangles around the centre, the k-th (k = 1, 2, …, from the centre out) adding 1/k² (L2) or
    1/k⁴ (L1): Tensor[height, width] float32 of norm 1 in ``norm`` (zero-sized: all zeros)."""
    if height == 0 or width == 0:
        return torch.zeros(height, width, device=device)
    centre_h, centre_w = height // 2, width // 2
    rows = torch.arange(height, device=device).view(-1, 1)
    cols = torch.arange(width, device=device).view(1, -1)
    # a cell lies in rectangle k (0-based) when it is within k of the centre cell along both axes
    ring = torch.maximum((rows - centre_h).abs(), (cols - centre_w).abs())
    reach = max(centre_h + 1, centre_w + 1)
    weights = 1.0 / torch.arange(1, reach + 1, device=device, dtype=torch.float32) ** _POWER[norm]
    suffix = weights.flip(0).cumsum(0).flip(0)  # the weights of every rectangle at least as large as ring k
    pattern = suffix[ring.clamp(max=reach - 1)]
    return pattern / _norm(pattern, norm, (0, 1))


def square_pattern(side: int, norm: str, device: torch.device) -> Tensor:
    """η(s) of the paper (Sec. 3.2): the upper half a rectangles pattern, the lower half minus one, so that the
    window's perturbation sums to about zero; norm 1 in ``norm``. Tensor[side, side]."""
    upper = rectangles_pattern(side // 2, side, norm, device)
    lower = -rectangles_pattern(side - side // 2, side, norm, device)
    pattern = torch.cat([upper, lower])
    return pattern / _norm(pattern, norm, (0, 1)).clamp_min(1e-12)


def place(pattern: Tensor, window: Tensor, transposed: Tensor) -> Tensor:
    """``pattern`` [s, s] written into each example's window ([n, 1, H, W] bool, an s × s square), transposed
    where ``transposed`` [n] is True; zero elsewhere. Tensor[n, 1, H, W]."""
    n = window.shape[0]
    side = pattern.shape[0]
    inside_rows = window.any(dim=3, keepdim=True)  # [n, 1, H, 1]
    inside_cols = window.any(dim=2, keepdim=True)  # [n, 1, 1, W]
    local_row = (inside_rows.long().cumsum(dim=2) - 1).clamp(0, side - 1)
    local_col = (inside_cols.long().cumsum(dim=3) - 1).clamp(0, side - 1)
    upright = pattern[local_row, local_col]
    flipped = pattern.t()[local_row, local_col]
    values = torch.where(transposed.view(n, 1, 1, 1), flipped, upright)
    return torch.where(window, values, torch.zeros((), device=window.device))


class LpSquareSearch:
    """The L2 or L1 search of Square. Start: the image tiled with ±η(h/5) patterns (a random sign per example,
    tile and channel); under L2 scaled to ‖δ‖₂ = eps, under L1 projected onto the ball (``l1_project``). Each
    proposal picks two s × s windows W1 and W2 per example; per channel, W1 gets η(s)·(random sign) plus its
    current content (normalised), rescaled to hold the window pair's current mass plus an equal share of the
    budget left (L2: √(max(eps² − ‖δ‖₂², 0)/c + ‖δ_c[W1 ∪ W2]‖₂²); L1: (max(eps − ‖δ‖₁, 0)/c + ‖δ_c[W1 ∪ W2]‖₁)·c,
    as AutoAttack's code), and W2 is emptied; then the image goes back into the ball ∩ [0, 1] (L2: δ rescaled
    to ‖δ‖₂ = eps and ``l2_project``; L1: ``l1_project``). s = √(p·H·W) rounded, at least 3, odd. ``rows`` are
    the clean images."""

    def __init__(self, x0: Tensor, eps: float, norm: str) -> None:
        self.x0, self.eps, self.norm = x0, eps, norm

    def _into_ball(self, x0: Tensor, delta: Tensor) -> Tensor:
        if self.norm == "l1":
            return l1_project(x0 + delta, x0, self.eps)
        length = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        return l2_project(x0 + delta / length * self.eps, x0, self.eps)

    def start(self) -> Tensor:
        x0 = self.x0
        n, channels, height, width = x0.shape
        side = max(height // _GRID, 1)
        first = (height - side * _GRID) // 2
        delta = torch.zeros_like(x0)
        pattern = square_pattern(side, self.norm, x0.device).to(x0.dtype)
        top = first
        for _ in range(height // side):
            left = first
            for _ in range(width // side):
                tile = pattern.t() if bool(torch.rand(()) > 0.5) else pattern
                signs = torch.randint(0, 2, (n, channels, 1, 1), device=x0.device).to(x0.dtype) * 2 - 1
                delta[:, :, top:top + side, left:left + side] += tile * signs
                left += side
            top += side
        return self._into_ball(x0, delta)

    def rows(self, active: Tensor) -> tuple[Tensor, ...]:
        return (self.x0[active],)

    def propose(self, rows: tuple[Tensor, ...], current: Tensor, p: float) -> Tensor:
        (x0,) = rows
        n, channels, height, width = current.shape
        side = max(round(math.sqrt(p * height * width)), _SMALLEST_SIDE)
        side = min(side + (side % 2 == 0), height, width)
        delta = current - x0
        first = random_windows(n, height, width, side, current.device)
        second = random_windows(n, height, width, side, current.device)
        in_first = _norm(delta * first, self.norm, (2, 3))
        image_norm = _norm(delta, self.norm, (1, 2, 3))
        pair = _norm(delta * (first | second), self.norm, (2, 3))
        transposed = torch.rand(n, device=current.device) > 0.5
        signs = torch.randint(0, 2, (n, channels, 1, 1), device=current.device).to(current.dtype) * 2 - 1
        pattern = square_pattern(side, self.norm, current.device).to(current.dtype)
        moved = place(pattern, first, transposed) * signs + delta * first / in_first.clamp_min(1e-12)
        if self.norm == "l2":
            budget = ((self.eps ** 2 - image_norm ** 2).clamp_min(0.0) / channels + pair ** 2).sqrt()
        else:
            budget = ((self.eps - image_norm).clamp_min(0.0) / channels + pair) * channels
        moved = moved / _norm(moved, self.norm, (2, 3)).clamp_min(1e-12) * budget
        delta = torch.where(first, moved, torch.where(second, 0.0, delta))
        return self._into_ball(x0, delta)
