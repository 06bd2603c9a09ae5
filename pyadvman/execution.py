"""How attacks, training and studies execute, as one setting: ``Execution`` (where, in what precision, compiled or
not, in which memory layout, with BatchNorm folded or not, with the model checks or not, in chunks of how many
rows). It changes how fast a computation runs and what it warns about, never what it computes, but for the
rounding of other kernels (compiled, chunked, channels-last, folded, half precision).

>>> from pyadvman.attacks import PGD
>>> from pyadvman.execution import Execution
>>> attack = PGD(eps=0.3, execution=Execution(compile="default", check_model=False))   # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from pyadvman._compat import deprecated
from pyadvman.batch_norm_folding import batch_norm_folded
from pyadvman.compilation import CompileMode, compiled_forward, resolve_compile
from pyadvman.configs import check_literal_fields
from pyadvman.distributed import Processes
from pyadvman.errors import ConfigError, check_fields
from pyadvman.memory_format import MemoryFormat, in_memory_format
from pyadvman.precision import Precision, in_precision


@dataclass(frozen=True)
class Execution:
    """Execution settings, shared by attacks, the trainer and the studies (each takes one ``execution``).

    Raises:
        ConfigError: an unknown compile mode, precision, memory format or device kind, or chunk_rows < 0.
    """

    device: str = "auto"  # runs: auto (CUDA if present) | cpu | cuda | cuda:N (attacks: their inputs')
    # model passes: float32 | bf16 | fp16 (autocast); a trainer's or a study's own attacks stay float32
    precision: Precision = "float32"
    compile: CompileMode = "auto"  # model passes under torch.compile: auto | off | default | reduce-overhead
    # convolution weights' layout: auto (channels-last for pyadvman's models on CPU) | channels_last | contiguous
    memory_format: MemoryFormat = "auto"
    fold_batch_norm: bool = True  # attacks fold eval-mode BatchNorm into the convolution before it (eager passes)
    check_model: bool = True  # attacks check the model (probabilities, randomness, zero gradient)
    chunk_rows: int | None = None  # attack rows (restarts × examples) per pass; None: CUDA all, CPU 2048

    def __post_init__(self) -> None:
        check_literal_fields(self)
        check_fields([
            (isinstance(self.device, str) and self.device.split(":")[0] in ("auto", "cpu", "cuda"), "device",
             "auto, cpu, cuda or cuda:N", self.device),
            (self.chunk_rows is None or self.chunk_rows >= 0, "chunk_rows", ">= 0 or None", self.chunk_rows),
        ])

    def in_float32(self) -> Execution:
        """These settings with float32 model passes: the execution of the attacks that training and the studies
        run, whose numbers must not depend on the training's mixed precision (``precision`` is its AMP)."""
        return replace(self, precision="float32")

    def model(self, model: nn.Module) -> nn.Module:
        """``model`` in this precision (:func:`pyadvman.precision.in_precision`): what an attack runs."""
        return in_precision(model, self.precision)

    @contextmanager
    def prepared(self, model: nn.Module, device: torch.device | str) -> Iterator[None]:
        """A context manager for an attack's frozen eval-mode passes of ``model`` on ``device``: BatchNorm folded
        into the convolutions (``fold_batch_norm``, where the model runs eagerly: a compiled forward would compile
        again for the swapped modules; :func:`pyadvman.batch_norm_folding.batch_norm_folded`) and the convolution
        weights in this memory format (:func:`pyadvman.memory_format.in_memory_format`); the model as it was
        after the block. Enter it after putting the model in eval mode."""
        fold = self.fold_batch_norm and resolve_compile(self.compile, device) == "off"
        with batch_norm_folded(model) if fold else nullcontext(), in_memory_format(model, self.memory_format, device):
            yield

    def forward(self, model: nn.Module, device: torch.device | str, *, varying_batch: bool = False
                ) -> Callable[[Tensor], Tensor]:
        """``model``'s forward pass under this compile mode on ``device`` (:func:`compiled_forward`)."""
        return compiled_forward(model, self.compile, device, varying_batch=varying_batch)

    def torch_device(self, processes: Processes = Processes()) -> torch.device:
        """The torch.device of ``device``; under torchrun "cuda" is this process's local GPU.

        Raises:
            ConfigError: a CUDA device this machine does not have, named ``execution.device``.
        """
        try:
            return resolve_device(self.device, processes)
        except ConfigError as error:
            raise ConfigError(f"execution.{error.field}", error.expected, error.got) from None


def resolve_device(name: str, processes: Processes = Processes()) -> torch.device:
    """The torch.device of a device setting ("auto", "cpu", "cuda" or "cuda:N"); under torchrun "cuda" means this
    process's local GPU.

    Raises:
        ConfigError: an unknown device, or a CUDA device this machine does not have.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError("device", "auto, cpu, cuda or cuda:N", name) from None
    if device.type not in ("cpu", "cuda"):
        raise ConfigError("device", "auto, cpu, cuda or cuda:N", name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device", f"auto or cpu on this machine (torch {torch.__version__} sees no CUDA "
                              "device)", name)
        if device.index is None:
            device = torch.device("cuda", processes.local_rank)
        if device.index >= torch.cuda.device_count():
            raise ConfigError("device", f"one of the {torch.cuda.device_count()} CUDA devices (cuda:0 …)", name)
    return device


# pyadvman 0.1's keywords for what Execution now holds
OLD_EXECUTION_KEYWORDS = ("compile", "check_model", "chunk_rows")


def execution_keywords(function: Callable) -> Callable:
    """A decorator: the function, which takes ``execution``, also takes pyadvman 0.1's ``compile``,
    ``check_model`` and ``chunk_rows`` keywords, folded into it with a DeprecationWarning."""
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {k: kwargs.pop(k) for k in OLD_EXECUTION_KEYWORDS if k in kwargs}
        if given:
            deprecated(f"{function.__name__}({', '.join(f'{k}=...' for k in given)})",
                       f"{function.__name__}(execution=Execution({', '.join(f'{k}=...' for k in given)}))")
            kwargs["execution"] = replace(kwargs.get("execution", Execution()), **given)
        return function(*args, **kwargs)
    return wrapper
