"""Pure-PyTorch twin of the fused L∞ kernels: the test oracle and the fallback without the compiled library.

It states the exact semantics in torch operations, independently of csrc/linf_rounding.h (which reaches
the same numbers with other means: neighbours by integer steps on the bit pattern instead of torch.nextafter).
"""

from __future__ import annotations

import torch
from torch import Tensor

_COMPUTE_DTYPE = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype steps are computed in before rounding to ``dtype`` (torch's opmath type)."""
    return _COMPUTE_DTYPE.get(dtype, dtype)


def nextafter(t: Tensor, direction: float) -> Tensor:
    """torch.nextafter towards +inf or -inf; half/bfloat16 off the CPU go through the CPU kernel, which
    every torch version has."""
    if t.device.type != "cpu" and t.dtype in _COMPUTE_DTYPE:
        return nextafter(t.cpu(), direction).to(t.device)
    return torch.nextafter(t, torch.full_like(t, direction))


def round_down(value: float | Tensor, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The largest ``dtype`` value <= value (elementwise), as a tensor on ``device``."""
    exact = torch.as_tensor(value, dtype=torch.float64, device=device)
    rounded = exact.to(dtype)
    return torch.where(rounded.double() > exact, nextafter(rounded, -float("inf")), rounded)


def round_up(value: float | Tensor, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The smallest ``dtype`` value >= value (elementwise)."""
    return -round_down(-torch.as_tensor(value, dtype=torch.float64), dtype, device)


def linf_ball_reference(
    x: Tensor,
    x0: Tensor,
    eps: float | Tensor,
    lo: float,
    hi: float,
    grad: Tensor | None = None,
    alpha: float | Tensor = 0.0,
    active: Tensor | None = None,
) -> Tensor:
    """clamp(clamp(x + alpha·sign(grad), lower, upper), lo, hi) with the checker-safe ball [lower, upper].

    eps/alpha are floats or tensors [B]; active is None, [B] or [R, B]. See pyadvman.ops.pgd_step.
    """
    dtype, device = x.dtype, x.device
    feature_dims = x0.dim() - 1

    def rows(t: Tensor) -> Tensor:  # [B] or [R, B] -> broadcastable against x [B, ...] / [R, B, ...]
        return t.reshape(t.shape + (1,) * feature_dims)

    e = round_down(eps, dtype, device)
    if e.dim() == 1:
        e = rows(e)
    # the bounds' distance to x0: for float16 / bfloat16 as a float64 checker computes it (rounded to the dtype,
    # the difference can hide an excess for centres below eps), else in the dtype (csrc/linf_rounding.h)
    wide = (lambda t: t.double()) if dtype in _COMPUTE_DTYPE else (lambda t: t)
    lower = x0 - e
    lower = torch.where(wide(x0) - wide(lower) > wide(e), nextafter(lower, float("inf")), lower)
    upper = x0 + e
    upper = torch.where(wide(upper) - wide(x0) > wide(e), nextafter(upper, -float("inf")), upper)

    v = x
    if grad is not None:
        opmath = compute_dtype(dtype)
        a = torch.as_tensor(alpha, dtype=torch.float64, device=device).to(opmath)
        if a.dim() == 1:
            a = rows(a)
        sign = torch.sign(grad).nan_to_num(0.0).to(opmath)
        v = (x.to(opmath) + sign * a).to(dtype)
    out = torch.clamp(torch.clamp(v, lower, upper), round_up(lo, dtype, device), round_down(hi, dtype, device))
    if active is not None:
        out = torch.where(rows(active), out, x)
    return out
