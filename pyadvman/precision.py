"""Half-precision model passes: a model run under torch.autocast with its logits returned in float32, and the
precisions the attacks and the trainer accept (``Execution.precision``)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

# the precisions of model passes: float32 (no autocast), bfloat16 or float16 under torch.autocast
Precision = Literal["float32", "bf16", "fp16"]
PRECISIONS: dict[str, torch.dtype | None] = {"float32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

_FP16_GRADIENT_SCALE = 1024.0  # fp16 backward passes carry gradients × this (undone at the input): no underflow


class _ScaleGradient(torch.autograd.Function):
    """Identity forward; the backward pass multiplies the gradient by ``scale``."""

    @staticmethod
    def forward(ctx, tensor: Tensor, scale: float) -> Tensor:
        ctx.scale = scale
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.scale, None


class Autocast(nn.Module):
    """``model`` run under torch.autocast in ``dtype`` (bf16 or fp16), its logits returned in float32. In fp16
    the gradient flowing back through the model is scaled by 1024 and unscaled at the input (static loss
    scaling), so that small input gradients do not underflow to zero; bf16 has float32's range and needs none."""

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.model, self.dtype = model, dtype
        self.scale = _FP16_GRADIENT_SCALE if dtype == torch.float16 else 1.0

    def forward(self, x: Tensor) -> Tensor:
        if self.scale != 1.0 and x.requires_grad:
            x = _ScaleGradient.apply(x, 1.0 / self.scale)
        with torch.autocast(x.device.type, dtype=self.dtype):
            logits = self.model(x).float()
        return _ScaleGradient.apply(logits, self.scale) if self.scale != 1.0 and logits.requires_grad else logits


def in_precision(model: nn.Module, precision: str) -> nn.Module:
    """``model`` whose passes run in ``precision`` (a key of PRECISIONS): the model itself for float32, else an
    :class:`Autocast` of it; a model already wrapped for that precision is returned as it is, so attacks that run
    other attacks (AutoAttack) wrap once.

    Raises:
        ValueError: an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    dtype = PRECISIONS[precision]
    if dtype is None or (isinstance(model, Autocast) and model.dtype == dtype):
        return model
    return Autocast(model, dtype)
