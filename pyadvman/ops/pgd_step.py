"""``pgd_step`` / ``pgd_step_``: one L∞ PGD ascent step fused with the projection."""

from __future__ import annotations

import torch
from torch import Tensor

from pyadvman._library import library_loaded
from pyadvman.ops._dispatch import use_compiled
from pyadvman.ops._linf_reference import linf_ball_reference
from pyadvman.ops._validation import Radius, check_ball_args, check_no_partial_overlap

_DOC_ARGS = """
    Args:
        x_adv (Tensor[B, ...] or Tensor[R, B, ...]): current iterates in [lo, hi]; R optional restarts.
        x0 (Tensor[B, ...]): clean inputs (ball centres), same dtype/device; broadcast over R, never copied.
        grad (Tensor like x_adv): gradient of the loss w.r.t. x_adv. sign(0) = 0 and sign(NaN) = 0: a NaN
            gradient moves nothing (so no NaN reaches the iterate), ±inf counts as ±1.
        eps (float, or Tensor[B]): L∞ radius >= 0 (per example when a tensor, float32/float64).
        alpha (float, or Tensor[B]): step size >= 0, in input units (per example when a tensor).
        lo, hi (float): box, lo <= hi (default [0, 1], image range).
        active (Tensor[B] or Tensor[R, B] bool, optional): where False the example keeps x_adv unchanged
            (per-example early stop).

    Guarantee: ``lo <= out <= hi`` and ``(out - x0).abs() <= eps`` hold exactly when a checker subtracts in the
    output dtype or float32, for float16 and bfloat16 also in float64 (see :func:`pyadvman.ops.linf_project`). Not differentiable.

    Dtypes: float32 and float64 on CPU (float16/bfloat16 on CPU run on the pure-PyTorch twin); float32,
    float16, bfloat16 and float64 on CUDA, where the step is computed in float32 and rounded once.

    Raises:
        TypeError: non-tensor inputs or dtypes other than float32/float64/float16/bfloat16 (float8 included),
            mismatched dtypes, a non-bool ``active``.
        ValueError: mismatched shapes or devices, eps or alpha < 0 or NaN (a per-example alpha also inf), lo >
            hi, ``active`` not [B]/[R, B]. Per-example values are also checked by the compiled op itself (raw
            calls, torch.compile): on CUDA with an asynchronous device-side assert.
"""


def _step(op: str, x_adv, x0, grad, eps, alpha, lo, hi, active, *, in_place: bool) -> Tensor:
    args = check_ball_args(op, x_adv, x0, eps, lo, hi, grad=grad, alpha=alpha, active=active, x_name="x_adv")
    if in_place and not torch.compiler.is_compiling():
        check_no_partial_overlap(op, x_adv, "x_adv", x0, "x0")
        check_no_partial_overlap(op, x_adv, "x_adv", grad, "grad")
    with torch.no_grad():
        if use_compiled(op, x_adv):
            compiled = (args.eps, args.alpha, float(lo), float(hi), args.eps_per_example, args.alpha_per_example,
                        active)
            if not in_place:
                return torch.ops.pyadvman.pgd_step(x_adv, x0, grad, *compiled)
            torch.ops.pyadvman.pgd_step_(x_adv, x0, grad, *compiled)
            return x_adv
        out = pgd_step_reference(x_adv, x0, grad, *args.radii(), lo, hi, active)
        return x_adv.copy_(out) if in_place else out


def pgd_step(
    x_adv: Tensor,
    x0: Tensor,
    grad: Tensor,
    eps: Radius,
    alpha: Radius,
    lo: float = 0.0,
    hi: float = 1.0,
    active: Tensor | None = None,
) -> Tensor:
    """Returns Π(x_adv + alpha·sign(grad)): one signed-gradient ascent step of L∞ PGD, projected onto the
    ε-ball around ``x0`` intersected with [lo, hi] (Madry et al., ICLR 2018, Eq. (2) with Sec. 2.1;
    docs/papers.md §1, §3). One pass over memory instead of the five kernels of the usual eager chain.
    """
    return _step("pgd_step", x_adv, x0, grad, eps, alpha, lo, hi, active, in_place=False)


def pgd_step_(
    x_adv: Tensor,
    x0: Tensor,
    grad: Tensor,
    eps: Radius,
    alpha: Radius,
    lo: float = 0.0,
    hi: float = 1.0,
    active: Tensor | None = None,
) -> Tensor:
    """In-place :func:`pgd_step`: writes the step into ``x_adv`` and returns it (inactive rows are not
    written). ``x_adv`` must not overlap ``x0`` or ``grad`` in part (ValueError, as torch's in-place ops refuse
    it; ``grad`` may be ``x_adv`` itself). Works on a leaf that requires grad, like an optimiser step (it runs
    under ``torch.no_grad``).
    """
    return _step("pgd_step_", x_adv, x0, grad, eps, alpha, lo, hi, active, in_place=True)


def pgd_step_reference(
    x_adv: Tensor,
    x0: Tensor,
    grad: Tensor,
    eps: Radius,
    alpha: Radius,
    lo: float = 0.0,
    hi: float = 1.0,
    active: Tensor | None = None,
) -> Tensor:
    """Pure-PyTorch twin of :func:`pgd_step` (same arguments, bit-identical result); the test oracle."""
    return linf_ball_reference(x_adv, x0, eps, lo, hi, grad=grad, alpha=alpha, active=active)


pgd_step.__doc__ += _DOC_ARGS + """
    Returns:
        Tensor shaped like ``x_adv``, same dtype, contiguous; the output never requires grad.

    Example:
        >>> x0 = torch.rand(4, 3, 32, 32)
        >>> x_adv = (x0 + torch.empty_like(x0).uniform_(-8 / 255, 8 / 255)).clamp(0, 1)
        >>> grad = torch.randn_like(x0)
        >>> x_adv = pgd_step(x_adv, x0, grad, eps=8 / 255, alpha=2 / 255)
        >>> bool(((x_adv - x0).abs() <= 8 / 255).all())
        True
"""
pgd_step_.__doc__ += _DOC_ARGS + """
    Returns:
        ``x_adv`` itself.
"""

if library_loaded():

    @torch.library.register_fake("pyadvman::pgd_step")
    def _(x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example, alpha_per_example, active):
        return x_adv.new_empty(x_adv.shape)

    @torch.library.register_fake("pyadvman::pgd_step_")
    def _(x_adv, x0, grad, eps, alpha, lo, hi, eps_per_example, alpha_per_example, active):
        return None
