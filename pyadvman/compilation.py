"""The ``compile`` setting of the attacks, the trainer and the studies: the model's forward pass, and the backward
pass autograd derives from it (input gradients in attacks, weight gradients in training), run under
``torch.compile`` instead of eagerly.

Modes: "off" (eager), "default" (TorchInductor), "reduce-overhead" (TorchInductor with CUDA graphs on CUDA) and
"auto", the measured best choice per device: "reduce-overhead" on CUDA, "off" on CPU. On CPU a compiled model is
faster per step (PGD-40 on the standard classifier: bench/bench_attack.py) but compiling costs several seconds
per model, mode and grad mode, which the short runs of tests and quick studies never earn back; pass "default"
for long CPU runs.

The batch dimension is marked dynamic, so a batch of another size (the last, smaller batch; fewer restarts in a
chunk) reuses the compiled graph instead of compiling again.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

COMPILE_MODES = ("auto", "off", "default", "reduce-overhead")

_COMPILED = "_pyadvman_compiled"  # a model's compiled forwards, one per mode (kept in its __dict__)


class _CompiledForwards(dict):
    """{mode: compiled model}; a copied or pickled model starts with none (they would call the original)."""

    def __deepcopy__(self, memo: dict) -> _CompiledForwards:
        return _CompiledForwards()

    def __reduce__(self) -> tuple:
        return _CompiledForwards, ()


def check_compile_mode(mode: object) -> None:
    """Raises ValueError unless ``mode`` is one of COMPILE_MODES."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile must be one of {COMPILE_MODES}, got {mode!r}")


def resolve_compile(mode: str, device: torch.device | str) -> str:
    """The mode ``mode`` means on ``device``: "auto" becomes "reduce-overhead" on CUDA and "off" elsewhere.

    Raises:
        ValueError: an unknown mode.
    """
    check_compile_mode(mode)
    if mode != "auto":
        return mode
    return "reduce-overhead" if torch.device(device).type == "cuda" else "off"


def compiled_forward(model: nn.Module, mode: str, device: torch.device | str) -> Callable[[Tensor], Tensor]:
    """``model``'s forward under compile mode ``mode`` on ``device``: the model itself when the mode resolves to
    "off", else a cached ``torch.compile(model, mode=...)`` called with the input's batch dimension marked
    dynamic. The model keeps its own mode and parameters: put it in eval mode or freeze it as usual.

    Args:
        model: images Tensor[N, C, H, W] -> logits Tensor[N, K] (any module with one tensor input).
        mode: one of COMPILE_MODES.
        device: where the model runs (decides "auto").

    Raises:
        ValueError: an unknown mode.
    """
    resolved = resolve_compile(mode, device)
    if resolved == "off":
        return model
    # kept outside _modules, so that state_dict() and modules() do not change
    cache = model.__dict__.setdefault(_COMPILED, _CompiledForwards())
    if resolved not in cache:
        cache[resolved] = torch.compile(model, mode=resolved)
    compiled = cache[resolved]

    def forward(x: Tensor) -> Tensor:
        if x.shape[0] > 1:  # a batch of one is specialised by the compiler anyway
            torch._dynamo.maybe_mark_dynamic(x, 0)
        return compiled(x)

    return forward
