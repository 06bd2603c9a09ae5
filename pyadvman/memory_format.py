"""The ``memory_format`` setting of the attacks, the trainer and the studies: the layout of the convolution
weights, which decides the layout oneDNN (CPU) and cuDNN (CUDA) run the convolutions and their backward passes in.

Modes: "contiguous" (NCHW, PyTorch's default), "channels_last" (NHWC) and "auto". On CPU "auto" is "channels_last"
for pyadvman's own classifiers and decoders, as measured (bench/bench_memory_format.py on the 2-core AMD EPYC,
bench/results/amd-epyc-2-threads-2026-12-06.json): the standard classifier's forward and input-gradient pass
takes 30.3 instead of 54.5 ms at B = 500 and 182.3 instead of 250.0 ms at B = 2,500, and a training step at
B = 100 9.3 instead of 11.2 ms. For other models "auto" is
"contiguous": a module that calls ``.view`` on a convolution's output fails on a channels-last tensor, so a user
model gets channels-last only when asked. On CUDA "auto" is "contiguous" until bench/device_check measures the
other layout there (cuDNN's NHWC kernels pay mainly in half precision, where tensor cores run).

Only the weights of 2-D convolutions change layout (activations follow them); the values stay the same, the sums
inside the convolutions are taken in another order, so results differ from the other layout's by rounding (about
1e-5 relative in the logits), never more.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, get_args

import torch
from torch import Tensor, nn

MemoryFormat = Literal["auto", "channels_last", "contiguous"]
MEMORY_FORMATS = get_args(MemoryFormat)

CHANNELS_LAST_READY = "channels_last_ready"  # a class attribute: the module runs on channels-last activations


def resolve_memory_format(mode: str, model: nn.Module, device: torch.device | str) -> str:
    """The layout ``mode`` means for ``model`` on ``device``: "auto" is "channels_last" on CPU when the model
    holds a module whose class sets ``channels_last_ready = True`` (pyadvman's classifiers and VAE-GAN decoders)
    and a 2-D convolution, else "contiguous". Other modes are returned as they are.

    Raises:
        ValueError: an unknown mode.
    """
    if mode not in MEMORY_FORMATS:
        raise ValueError(f"memory_format must be one of {MEMORY_FORMATS}, got {mode!r}")
    if mode != "auto":
        return mode
    modules = list(model.modules())
    ready = any(getattr(type(m), CHANNELS_LAST_READY, False) for m in modules)
    has_convolution = any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in modules)
    return "channels_last" if torch.device(device).type == "cpu" and ready and has_convolution else "contiguous"


def _convolution_weights(model: nn.Module) -> list[nn.Parameter]:
    return [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def to_memory_format(model: nn.Module, mode: str, device: torch.device | str) -> list[tuple[nn.Parameter, Tensor]]:
    """Puts the 2-D convolution weights of ``model`` in the layout ``mode`` resolves to (in place, values
    unchanged, gradients with them); returns the weights it changed, each with its tensor before the change.
    A weight whose strides fit both layouts (one input channel, 1×1 kernels) is given the layout's own strides
    too: oneDNN picks a convolution's layout by them.

    Raises:
        ValueError: an unknown mode.
    """
    layout = torch.channels_last if resolve_memory_format(mode, model, device) == "channels_last" \
        else torch.contiguous_format
    changed = []
    with torch.no_grad():
        for weight in _convolution_weights(model):
            target = torch.empty_like(weight, memory_format=layout)
            if weight.stride() != target.stride():
                changed.append((weight, weight.data))
                weight.data = target.copy_(weight.data)
                if weight.grad is not None:
                    weight.grad = torch.empty_like(weight.grad, memory_format=layout).copy_(weight.grad)
    return changed


@contextmanager
def in_memory_format(model: nn.Module, mode: str, device: torch.device | str) -> Iterator[None]:
    """Runs the block with ``model``'s convolution weights in the layout ``mode`` resolves to
    (:func:`to_memory_format`), and gives the weights it changed their own tensors back after it (with the
    block's values, should it change them).

    Raises:
        ValueError: an unknown mode.
    """
    changed = to_memory_format(model, mode, device)
    try:
        yield
    finally:
        with torch.no_grad():
            for weight, original in changed:
                weight.data = original.copy_(weight.data)
