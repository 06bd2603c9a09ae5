"""The ``compile`` setting of the attacks, the trainer and the studies: the model's forward pass, and the backward
pass autograd derives from it (input gradients in attacks, weight gradients in training), run under
``torch.compile`` instead of eagerly.

Modes: "off" (eager), "default" (TorchInductor), "reduce-overhead" (TorchInductor with CUDA graphs on CUDA) and
"auto". On CPU "auto" is "off", as measured: a compiled model is faster per step (PGD-40 on the standard
classifier, bench/bench_attack.py: 1.25x our eager loop at B = 1000) but compiling costs several seconds per
model, mode and grad mode, which the short runs of tests and quick studies never earn back; pass "default" for
long CPU runs. On CUDA "auto" is "reduce-overhead" where every call has the same batch size, and "default" for
the attacks whose batches shrink as examples are fooled (Square, and APGD and FAB-T on the examples still
robust), since CUDA graphs are recorded once per batch size. The CUDA choice is what the launch overheads lead
one to expect; bench/device_check measures it.

The batch dimension is marked dynamic, so TorchInductor compiles one graph for every batch size (the last,
smaller batch; fewer restarts in a chunk); CUDA graphs still record one graph per size.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Literal, get_args

import torch
from torch import Tensor, nn

CompileMode = Literal["auto", "off", "default", "reduce-overhead"]
COMPILE_MODES = get_args(CompileMode)

_COMPILED = "_pyadvman_compiled"  # a model's compiled forwards, one per mode (kept in its __dict__)


class _CompiledForwards(dict):
    """{mode: compiled model} of one model (``owner``); a copied or pickled model starts with none, as the compiled
    ones would call the original."""

    def __init__(self, owner: nn.Module) -> None:
        super().__init__()
        self.owner = weakref.ref(owner)

    def __deepcopy__(self, memo: dict) -> None:
        return None

    def __reduce__(self) -> tuple:
        return type(None), ()


def check_compile_mode(mode: object) -> None:
    """Raises ValueError unless ``mode`` is one of COMPILE_MODES."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile must be one of {COMPILE_MODES}, got {mode!r}")


def resolve_compile(mode: str, device: torch.device | str, *, varying_batch: bool = False) -> str:
    """The mode ``mode`` means on ``device``: "auto" becomes "off" on CPU, and on CUDA "reduce-overhead", or
    "default" when the calls' batch sizes vary (``varying_batch``). Other modes are returned as they are.

    Raises:
        ValueError: an unknown mode.
    """
    check_compile_mode(mode)
    if mode != "auto":
        return mode
    if torch.device(device).type != "cuda":
        return "off"
    return "default" if varying_batch else "reduce-overhead"


def compiled_forward(model: nn.Module, mode: str, device: torch.device | str, *, varying_batch: bool = False
                     ) -> Callable[[Tensor], Tensor]:
    """``model``'s forward under compile mode ``mode`` on ``device``: the model itself when the mode resolves to
    "off", else a cached ``torch.compile(model, mode=...)`` called with the input's batch dimension marked
    dynamic. The model keeps its own mode and parameters: put it in eval mode or freeze it as usual.

    Args:
        model: images Tensor[N, C, H, W] -> logits Tensor[N, K] (any module with one tensor input).
        mode: one of COMPILE_MODES.
        device: where the model runs (decides "auto").
        varying_batch: the calls' batch sizes change from call to call (decides "auto" on CUDA).

    Raises:
        ValueError: an unknown mode.
    """
    resolved = resolve_compile(mode, device, varying_batch=varying_batch)
    if resolved == "off":
        return model
    cache = model.__dict__.get(_COMPILED)
    if cache is None or cache.owner() is not model:  # none yet, or a shallow copy's, which calls the original
        cache = _CompiledForwards(model)
        model.__dict__[_COMPILED] = cache  # kept outside _modules: state_dict() and modules() do not change
    if resolved not in cache:
        cache[resolved] = torch.compile(model, mode=resolved)
    compiled = cache[resolved]

    def forward(x: Tensor) -> Tensor:
        if x.shape[0] > 1:  # a batch of one is specialised by the compiler anyway
            torch._dynamo.maybe_mark_dynamic(x, 0)
        return compiled(x)

    return forward
