"""``l2_project`` and ``l2_step``: the L2 ball ∩ box, and one normalised-gradient ascent step fused with it."""

from __future__ import annotations

import torch
from torch import Tensor

from pyadvman._library import library_loaded
from pyadvman.ops._dispatch import use_compiled
from pyadvman.ops._lp_reference import l2_ball_reference
from pyadvman.ops._validation import Radius, check_ball_args

_GUARANTEE = """
    Guarantee: ``lo <= out <= hi`` and ``‖out − x0‖₂ <= eps`` per example, as a float64 checker computes the
    norm of ``out.double() - x0.double()`` or of ``(out - x0).double()``. A row whose centre is in [lo, hi] aims
    at eps less the rounding bound √D·u·max(|lo|, |hi|) (u: the dtype's unit roundoff; float32 CIFAR-10: 3.3e-6)
    where that bound is at most 1e-4·eps; other rows are checked after rounding and redone with a radius shrunk
    by the excess (a centre outside the box: the box wins). A NaN in a row of ``x`` (``x_adv``) or ``x0`` makes that whole row NaN (its norm is undefined).
    Not differentiable: the output never requires grad.

    Dtypes: float32 and float64 on CPU (float16/bfloat16 on CPU run on the pure-PyTorch twin); float32, float16,
    bfloat16 and float64 on CUDA. Norms and the step are computed in float64 and rounded once.
"""


def l2_project(x: Tensor, x0: Tensor, eps: Radius, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """Projects each row of ``x`` onto the L2 ball of radius ``eps`` around ``x0``, then onto the box [lo, hi]:
    out = clamp(x0 + δ·min(1, eps/‖δ‖₂), lo, hi) with δ = x − x0 and the norm over all but the batch (and
    restart) dimensions, AutoAttack's APGD-L2 projection (Croce & Hein, ICML 2020, Sec. 3; docs/attacks.md).
    Ball first, then box: clamping to the box only shortens δ, so the result is in both (it is the exact
    projection onto the intersection only when the box does not cut).

    Args:
        x (Tensor[B, ...] or Tensor[R, B, ...]): points to project; R optional restarts.
        x0 (Tensor[B, ...]): ball centres, same dtype and device; broadcast over R, never copied.
        eps (float, or Tensor[B]): L2 radius >= 0 (inf: no ball), per example when a tensor (float32/float64).
        lo, hi (float): box, lo <= hi (default [0, 1], image range).

    Returns:
        Tensor shaped like ``x``, same dtype, contiguous.

    Raises:
        TypeError: non-tensor or non-floating ``x``/``x0``, mismatched dtypes.
        ValueError: shapes that do not match ([B, ...] / [R, B, ...]), different devices, eps < 0 or NaN,
            lo > hi.

    Example:
        >>> x0 = torch.rand(8, 3, 32, 32)
        >>> out = l2_project(x0 + torch.randn_like(x0), x0, eps=0.5)
        >>> bool(((out - x0).flatten(1).norm(dim=1) <= 0.5).all() and out.min() >= 0 and out.max() <= 1)
        True
    """
    args = check_ball_args("l2_project", x, x0, eps, lo, hi)
    with torch.no_grad():
        if use_compiled("l2_project", x):
            return torch.ops.pyadvman.l2_project(x, x0, args.eps, float(lo), float(hi), args.eps_per_example)
        return l2_ball_reference(x, x0, args.radii()[0], lo, hi)


def l2_step(
    x_adv: Tensor,
    x0: Tensor,
    grad: Tensor,
    eps: Radius,
    alpha: Radius,
    lo: float = 0.0,
    hi: float = 1.0,
    active: Tensor | None = None,
) -> Tensor:
    """Returns l2_project(x_adv + alpha·grad/‖grad‖₂): one normalised-gradient ascent step of L2 PGD and APGD
    (Madry et al., ICLR 2018, Sec. 2.1 under the L2 norm; Croce & Hein, ICML 2020, Sec. 3), per row, in one
    call instead of the eight kernels of the eager chain. A zero gradient moves nothing; NaN entries of ``grad``
    count as 0 and ±inf as the dtype's largest value (so no NaN reaches the iterate).

    Args:
        x_adv (Tensor[B, ...] or Tensor[R, B, ...]): current iterates; R optional restarts.
        x0 (Tensor[B, ...]): clean inputs (ball centres), same dtype/device; broadcast over R.
        grad (Tensor like x_adv): gradient of the loss w.r.t. x_adv.
        eps (float, or Tensor[B]): L2 radius >= 0. alpha (float, or Tensor[B]): step length >= 0, finite, in
            input units (the L2 length of the move before projecting).
        lo, hi (float): box, lo <= hi.
        active (Tensor[B] or Tensor[R, B] bool, optional): where False the row keeps x_adv.

    Returns:
        Tensor shaped like ``x_adv``, same dtype, contiguous.

    Raises:
        TypeError: as :func:`l2_project`, a non-bool ``active``.
        ValueError: as :func:`l2_project`; alpha < 0, NaN or inf; ``active`` not [B]/[R, B].

    Example:
        >>> x0 = torch.rand(4, 3, 32, 32)
        >>> x_adv = l2_step(x0.clone(), x0, torch.randn_like(x0), eps=0.5, alpha=0.2)
        >>> bool(((x_adv - x0).flatten(1).norm(dim=1) <= 0.5).all())
        True
    """
    args = check_ball_args("l2_step", x_adv, x0, eps, lo, hi, grad=grad, alpha=alpha, active=active,
                           x_name="x_adv")
    with torch.no_grad():
        if use_compiled("l2_step", x_adv):
            return torch.ops.pyadvman.l2_step(x_adv, x0, grad, args.eps, args.alpha, float(lo), float(hi),
                                              args.eps_per_example, args.alpha_per_example, active)
        return l2_step_reference(x_adv, x0, grad, *args.radii(), lo, hi, active)


def l2_project_reference(x: Tensor, x0: Tensor, eps: Radius, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """Pure-PyTorch twin of :func:`l2_project` (same arguments; equal within rounding)."""
    return l2_ball_reference(x, x0, eps, lo, hi)


def l2_step_reference(x_adv: Tensor, x0: Tensor, grad: Tensor, eps: Radius, alpha: Radius, lo: float = 0.0,
                      hi: float = 1.0, active: Tensor | None = None) -> Tensor:
    """Pure-PyTorch twin of :func:`l2_step` (same arguments; equal within rounding)."""
    return l2_ball_reference(x_adv, x0, eps, lo, hi, grad=grad, alpha=alpha, active=active)


l2_project.__doc__ += _GUARANTEE
l2_step.__doc__ += _GUARANTEE

if library_loaded():

    @torch.library.register_fake("pyadvman::l2_project")
    def _(x, x0, eps, lo, hi, eps_per_example):
        return x.new_empty(x.shape)

    @torch.library.register_fake("pyadvman::l2_step")
    def _(x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example, alpha_per_example, active):
        return x_adv.new_empty(x_adv.shape)
