"""``l1_project``: the exact Euclidean projection onto the intersection of an L1 ball and a box."""

from __future__ import annotations

import torch
from torch import Tensor

from pyadvman._library import library_loaded
from pyadvman.ops._dispatch import use_compiled
from pyadvman.ops._lp_reference import l1_ball_reference
from pyadvman.ops._validation import Radius, check_ball_args


def l1_project(x: Tensor, x0: Tensor, eps: Radius, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """The point of {z : ‖z − x0‖₁ <= eps} ∩ [lo, hi]^D nearest to ``x`` in L2, per row: the projection of
    APGD-L1 (Croce & Hein, "Mind the box: l1-APGD for sparse adversarial attacks on image classifiers", ICML
    2021, Sec. 3.1). Not the ball's projection followed by clamping, which leaves the ball's nearest point.

    With y = x − x0, the answer is x0 + δ(λ), δ_i(λ) = clip(sign(y_i)·max(|y_i| − λ, 0), lo − x0_i, hi − x0_i),
    λ >= 0 the smallest multiplier with ‖δ(λ)‖₁ <= eps. ‖δ(λ)‖₁ is piecewise linear in λ; the CPU kernel
    binary-searches its kinks (each probe a median found by ``nth_element``) for the piece that crosses eps and
    solves that piece exactly (the paper's Alg. 2); CUDA and the pure-PyTorch twin bisect in float64 to adjacent doubles, then solve the piece. When x0
    lies so far outside [lo, hi] that no point of the box is in the ball, the box wins: out = clamp(x0, lo, hi).

    Args:
        x (Tensor[B, ...] or Tensor[R, B, ...]): points to project; R optional restarts.
        x0 (Tensor[B, ...]): ball centres, same dtype and device; broadcast over R, never copied.
        eps (float, or Tensor[B]): L1 radius >= 0 (inf: the box alone), per example when a tensor.
        lo, hi (float): box, lo <= hi (default [0, 1], image range).

    Returns:
        Tensor shaped like ``x``, same dtype, contiguous. Guarantee: ``lo <= out <= hi`` and ``‖out − x0‖₁ <=
        eps`` per example, as a float64 checker computes the norm of ``out.double() - x0.double()`` or of
        ``(out - x0).double()`` (a row that rounding would push past eps is redone with a radius shrunk by the
        excess). A NaN in a row of x or x0 makes that whole row NaN (its norm is undefined). Not
        differentiable.

    Dtypes: float32 and float64 on CPU (float16/bfloat16 on CPU run on the pure-PyTorch twin); float32, float16,
    bfloat16 and float64 on CUDA; the multiplier is found in float64.

    Raises:
        TypeError: non-tensor or non-floating ``x``/``x0``, mismatched dtypes.
        ValueError: shapes that do not match ([B, ...] / [R, B, ...]), different devices, eps < 0 or NaN,
            lo > hi.

    Example:
        >>> x0 = torch.rand(8, 1, 28, 28)
        >>> out = l1_project(x0 + torch.randn_like(x0), x0, eps=10.0)
        >>> bool(((out - x0).flatten(1).norm(p=1, dim=1) <= 10.0).all() and out.min() >= 0 and out.max() <= 1)
        True
    """
    args = check_ball_args("l1_project", x, x0, eps, lo, hi)
    with torch.no_grad():
        if use_compiled("l1_project", x):
            return torch.ops.pyadvman.l1_project(x, x0, args.eps, float(lo), float(hi), args.eps_per_example)
        return l1_ball_reference(x, x0, args.radii()[0], lo, hi)


def l1_project_reference(x: Tensor, x0: Tensor, eps: Radius, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """Pure-PyTorch twin of :func:`l1_project` (same arguments; equal within rounding)."""
    return l1_ball_reference(x, x0, eps, lo, hi)


if library_loaded():

    @torch.library.register_fake("pyadvman::l1_project")
    def _(x, x0, eps, lo, hi, eps_per_example):
        return x.new_empty(x.shape)
