"""Choice between the compiled kernels and the pure-PyTorch twin.

The library's state is read once at import, so that torch.compile sees constants and never traces the
loader.
"""

from __future__ import annotations

import functools
import logging

import torch
from torch import Tensor

from pyadvman._library import build_info, library_error, library_loaded

logger = logging.getLogger(__name__)

LOADED: bool = library_loaded()
CUDA_BUILT: bool = LOADED and bool(build_info()["cuda"])
_CPU_KERNEL_DTYPES = (torch.float32, torch.float64)


@functools.cache
def _warn_fallback(what: str) -> None:
    logger.warning("pyadvman: %s; using the pure-PyTorch reference (slower)", what)


def use_compiled(op: str, x: Tensor, *, every_float_dtype: bool = False) -> bool:
    """True when torch.ops.pyadvman.<op> has a kernel for x's device and dtype; warns once otherwise.

    every_float_dtype: the op's CPU kernel takes every floating dtype (it computes half/bfloat16 in float32).
    """
    kind = x.device.type
    if not LOADED or (kind == "cuda" and not CUDA_BUILT) or kind not in ("cpu", "cuda"):
        if not torch.compiler.is_compiling():
            _warn_fallback(library_error() if not LOADED else f"the compiled library has no {kind} kernels")
        return False
    # CPU half/bfloat16: the reference (documented), unless the op computes them in float32
    return kind == "cuda" or every_float_dtype or x.dtype in _CPU_KERNEL_DTYPES
