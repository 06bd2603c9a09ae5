"""Argument checks shared by the ball operators (L∞, L2, L1): clear ValueError/TypeError before any kernel runs."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
from torch import Tensor

Radius = float | Tensor  # a Python number, a 0-d tensor or a tensor [B]


@dataclass(frozen=True)
class BallArgs:
    """Validated arguments: scalar eps/alpha, or per-example tensors [B] (then the scalar is 0)."""

    eps: float
    alpha: float
    eps_per_example: Tensor | None
    alpha_per_example: Tensor | None

    def radii(self) -> tuple[Radius, Radius]:
        """(eps, alpha) as the reference twin takes them: the tensor [B] when per example, else the float."""
        eps = self.eps if self.eps_per_example is None else self.eps_per_example
        alpha = self.alpha if self.alpha_per_example is None else self.alpha_per_example
        return eps, alpha


def _shape(t: Tensor) -> str:
    return str(list(t.shape))


KERNEL_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _check_tensor(op: str, name: str, t: object) -> Tensor:
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in KERNEL_DTYPES:
        raise TypeError(f"{op}: {name} must be a float32, float64, float16 or bfloat16 tensor, got {t.dtype}")
    return t


def check_no_partial_overlap(op: str, written: Tensor, written_name: str, read: Tensor, read_name: str) -> None:
    """An in-place op must not write memory that another input reads in part (it would read values it has
    already written); the same tensor in full is fine for elementwise ops, as in torch's own in-place ops.
    Only contiguous pairs can clash: the kernels copy a non-contiguous input before reading it and step a
    non-contiguous x_adv out of place, so interleaved views that share no element are never refused.

    Raises:
        ValueError: two contiguous tensors whose element spans intersect and that are not the same view.
    """
    if written.numel() == 0 or read.numel() == 0 or written.device != read.device:
        return
    if not (written.is_contiguous() and read.is_contiguous()):
        return
    if written.untyped_storage().data_ptr() != read.untyped_storage().data_ptr():
        return
    same_view = written.data_ptr() == read.data_ptr() and written.shape == read.shape
    (a_low, b_low) = written.data_ptr(), read.data_ptr()
    a_high, b_high = a_low + written.nbytes, b_low + read.nbytes
    if not same_view and a_low < b_high and b_low < a_high:
        raise ValueError(f"{op}: {written_name} overlaps {read_name} in memory (both are views of one storage); "
                         f"the in-place step would read values it has already written: pass "
                         f"{read_name}.clone(), or use the out-of-place op")


def _check_like(op: str, name: str, t: object, ref: Tensor, ref_name: str) -> Tensor:
    t = _check_tensor(op, name, t)
    if t.dtype != ref.dtype:
        raise TypeError(f"{op}: {name} must have dtype {ref.dtype} like {ref_name}, got {t.dtype}")
    if t.device != ref.device:
        raise ValueError(f"{op}: {name} must be on {ref.device} like {ref_name}, got {t.device}")
    return t


def _check_typed_tensor(op: str, name: str, t: object, dtype: torch.dtype, what: str, ref: Tensor,
                        ref_name: str) -> Tensor:
    """An optional tensor argument of one dtype on ref's device; ``what`` ("a bool tensor") names it."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be {what} or None, got {type(t).__name__}")
    if t.dtype != dtype:
        raise TypeError(f"{op}: {name} must be {what}, got {t.dtype}")
    if t.device != ref.device:
        raise ValueError(f"{op}: {name} must be on {ref.device} like {ref_name}, got {t.device}")
    return t


def _check_number(op: str, name: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{op}: {name} must be a real number, got {type(v).__name__}")
    return float(v)


def _radius(op: str, name: str, v: object, x: Tensor, batch: int, *, finite: bool = False
            ) -> tuple[float, Tensor | None]:
    """eps or alpha: (scalar, None) or (0.0, tensor [B]); values >= 0, and finite when asked."""
    requirement = "finite and >= 0" if finite else ">= 0"
    if isinstance(v, Tensor):
        if not v.is_floating_point():
            raise TypeError(f"{op}: {name} must be a float or a floating-point tensor [B], got {v.dtype}")
        if v.device != x.device:
            raise ValueError(f"{op}: {name} must be on {x.device} like x, got {v.device}")
        if v.dim() == 0:
            v = v.expand(batch)
        if v.shape != (batch,):
            raise ValueError(f"{op}: {name} must be a float or have shape [{batch}], got {_shape(v)}")
        if v.dtype not in (torch.float32, torch.float64):
            v = v.to(torch.float32)
        if not torch.compiler.is_compiling() and v.numel() > 0:  # compiled: the op checks (see ball_problem.cpp)
            bad = torch.isnan(v) | (v < 0) | (torch.isinf(v) if finite else False)
            if bool(bad.any()):
                first = int(bad.nonzero()[0])
                raise ValueError(f"{op}: {name} must be {requirement} "
                                 f"for every example, got {v[first].item()} at example {first}")
        return 0.0, v
    value = _check_number(op, name, v)
    if math.isnan(value) or value < 0:
        raise ValueError(f"{op}: {name} must be >= 0, got {value}")
    if finite and math.isinf(value):
        raise ValueError(f"{op}: {name} must be finite, got {value}")
    return value, None


def check_ball_args(
    op: str,
    x: object,
    x0: object,
    eps: object,
    lo: object,
    hi: object,
    *,
    grad: object = None,
    alpha: object = 0.0,
    active: object = None,
    x_name: str = "x",
) -> BallArgs:
    """Validates the arguments of the ball operators: linf_project, pgd_step(_), l2_project, l2_step, l1_project
    (see their docstrings).

    Raises:
        TypeError: a non-tensor, a non-floating tensor, mismatched dtypes, a non-bool mask.
        ValueError: mismatched shapes or devices, negative or NaN eps/alpha, lo > hi.
    """
    x = _check_tensor(op, x_name, x)
    x0 = _check_like(op, "x0", x0, x, x_name)
    if x0.dim() == 0:
        raise ValueError(f"{op}: x0 must have shape [B, ...], got a 0-d tensor")
    if x.shape == x0.shape:
        restarts = None
    elif x.dim() == x0.dim() + 1 and x.shape[1:] == x0.shape:
        restarts = x.shape[0]
    else:
        raise ValueError(
            f"{op}: {x_name} must have shape {_shape(x0)} (like x0) or [R, {_shape(x0)[1:]} (R restarts), "
            f"got {_shape(x)}"
        )
    if grad is not None:
        grad = _check_like(op, "grad", grad, x, x_name)
        if grad.shape != x.shape:
            raise ValueError(f"{op}: grad must have shape {_shape(x)} like {x_name}, got {_shape(grad)}")
    batch = x0.shape[0]
    eps_value, eps_tensor = _radius(op, "eps", eps, x, batch)
    # alpha must be finite: 0·inf would put NaN where the gradient is 0. eps = inf means no ball.
    alpha_value, alpha_tensor = _radius(op, "alpha", alpha, x, batch, finite=True)
    lo_value, hi_value = _check_number(op, "lo", lo), _check_number(op, "hi", hi)
    if not lo_value <= hi_value:
        raise ValueError(f"{op}: lo must be <= hi, got lo={lo_value}, hi={hi_value}")
    if active is not None:
        active = _check_typed_tensor(op, "active", active, torch.bool, "a bool tensor", x, x_name)
        allowed = [(batch,)] + ([(restarts, batch)] if restarts is not None else [])
        if tuple(active.shape) not in allowed:
            wanted = " or ".join(str(list(s)) for s in allowed)
            raise ValueError(f"{op}: active must have shape {wanted}, got {_shape(active)}")
    return BallArgs(eps_value, alpha_value, eps_tensor, alpha_tensor)
