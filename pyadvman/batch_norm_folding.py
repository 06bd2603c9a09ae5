"""BatchNorm folded into the convolution before it, for the frozen eval-mode passes of an attack
(``Execution.fold_batch_norm``).

In eval mode BatchNorm is an affine map per channel, y = γ·(x − μ)/σ + β with its running statistics, so
BatchNorm(conv(x)) is one convolution with weights W·γ/σ and bias (b − μ)·γ/σ + β. Folded, an attack step skips
the BatchNorm forward and backward passes: on the standard classifier at 2,500 images, channels-last, a forward
and input-gradient pass takes 158.7 instead of 182.3 ms, and the paper's test attack on 500 images 2.79 instead
of 3.67 s (bench/bench_memory_format.py, 2-core AMD EPYC, bench/results/amd-epyc-2-threads-2026-12-06.json).
The values agree with the unfolded model's up to rounding (about 1e-6 relative in the logits).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def _foldable(conv: nn.Module, norm: nn.Module) -> bool:
    hooked = any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in (conv, norm))
    return (isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and type(norm) is nn.BatchNorm2d and not hooked
            and not conv.training and not norm.training and norm.running_mean is not None
            and norm.running_var is not None and conv.padding_mode == "zeros")


@contextmanager
def batch_norm_folded(model: nn.Module) -> Iterator[None]:
    """For the block, every eval-mode BatchNorm2d that directly follows a Conv2d or ConvTranspose2d in an
    nn.Sequential of ``model`` is folded into a copy of that convolution (Ioffe & Szegedy, 2015, eq. of the
    inference-time transform), which takes the convolution's place while an Identity takes the BatchNorm's; the
    original modules are put back after the block. Modules with hooks, in training mode, or BatchNorm layers
    without running statistics are left alone. The folded weights require grad as the convolution's did: attacks
    freeze the model first.
    """
    swaps = []
    for sequence in model.modules():
        if not isinstance(sequence, nn.Sequential):
            continue
        names = list(sequence._modules)
        for first, second in zip(names, names[1:]):
            conv, norm = sequence._modules[first], sequence._modules[second]
            if conv is not None and norm is not None and _foldable(conv, norm):
                swaps.append((sequence, first, conv, second, norm))
    folded = [(fuse_conv_bn_eval(conv, norm, transpose=isinstance(conv, nn.ConvTranspose2d)), nn.Identity())
              for _, _, conv, _, norm in swaps]
    for (sequence, first, _, second, _), (conv, identity) in zip(swaps, folded):
        sequence._modules[first], sequence._modules[second] = conv, identity
    try:
        yield
    finally:
        for sequence, first, conv, second, norm in reversed(swaps):
            sequence._modules[first], sequence._modules[second] = conv, norm
