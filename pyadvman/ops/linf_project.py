"""``linf_project``: projection onto the intersection of an L∞ ball and a box."""

from __future__ import annotations

import torch
from torch import Tensor

from pyadvman._library import library_loaded
from pyadvman.ops._dispatch import use_compiled
from pyadvman.ops._linf_reference import linf_ball_reference
from pyadvman.ops._validation import Radius, check_ball_args


def linf_project(x: Tensor, x0: Tensor, eps: Radius, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """Projects ``x`` onto the L∞ ball of radius ``eps`` around ``x0`` intersected with the box [lo, hi].

    out = clamp(min(max(x, x0 − eps), x0 + eps), lo, hi), the projection Π of PGD (Madry et al., "Towards
    Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018, Sec. 2.1; docs/papers.md §1 and §3).

    Guarantee: ``lo <= out <= hi`` and ``(out - x0).abs() <= eps`` hold exactly when a checker subtracts in the
    output dtype or in float32, and for float16 and bfloat16 also in float64 (``out.double() - x0.double()``),
    wherever the ball meets the box (x0 in [lo − eps, hi + eps]; otherwise the box wins). The usual x0 ± eps rounds outwards for about a third
    of float32 pixels at eps = 0.1; here eps and hi are rounded down and lo up to the dtype, and a bound
    that still fails the checker moves one ulp inwards.

    Args:
        x (Tensor[B, ...] or Tensor[R, B, ...]): points to project; R optional restarts.
        x0 (Tensor[B, ...]): ball centres, same dtype and device; broadcast over R, never copied.
        eps (float, or Tensor[B]): radius >= 0, per example when a tensor (float32/float64, x's device).
        lo, hi (float): box, lo <= hi (default [0, 1], image range).

    Returns:
        Tensor shaped like ``x``, same dtype, contiguous. NaN in ``x`` or ``x0`` stays NaN (as in
        ``torch.clamp``). Not differentiable: the output never requires grad.

    Dtypes: float32 and float64 on CPU (float16/bfloat16 on CPU run on the pure-PyTorch twin); float32,
    float16, bfloat16 and float64 on CUDA.

    Raises:
        TypeError: non-tensor or non-floating ``x``/``x0``, mismatched dtypes.
        ValueError: shapes that do not match ([B, ...] / [R, B, ...]), different devices, eps < 0 or NaN,
            lo > hi.

    Example:
        >>> x0 = torch.rand(8, 1, 28, 28)
        >>> x = x0 + 0.5 * torch.randn_like(x0)
        >>> out = linf_project(x, x0, eps=0.3)
        >>> bool(((out - x0).abs() <= 0.3).all() and out.min() >= 0 and out.max() <= 1)
        True
    """
    args = check_ball_args("linf_project", x, x0, eps, lo, hi)
    with torch.no_grad():
        if use_compiled("linf_project", x):
            return torch.ops.pyadvman.linf_project(x, x0, args.eps, float(lo), float(hi), args.eps_per_example)
        return linf_project_reference(x, x0, args.radii()[0], lo, hi)


def linf_project_reference(x: Tensor, x0: Tensor, eps: Radius, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """Pure-PyTorch twin of :func:`linf_project` (same arguments, bit-identical result); the test oracle."""
    return linf_ball_reference(x, x0, eps, lo, hi)


if library_loaded():

    @torch.library.register_fake("pyadvman::linf_project")
    def _(x, x0, eps, lo, hi, eps_per_example):
        return x.new_empty(x.shape)
