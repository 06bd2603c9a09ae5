"""Loading of the compiled operator library ``pyadvman._C`` and its build information."""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)


@functools.cache
def _load() -> tuple[bool, str]:
    """Loads ``pyadvman._C`` once; returns (loaded, reason when not loaded)."""
    spec = importlib.util.find_spec("pyadvman._C")
    if spec is None or spec.origin is None:
        package = Path(__file__).resolve().parent
        return False, (f"pyadvman._C is not built in {package} (a source checkout on sys.path, e.g. the current "
                       "directory, hides the installed package); install with `pip install .` or "
                       "`pip install -e .`, or run from outside the checkout")
    try:
        torch.ops.load_library(spec.origin)
    except OSError as err:  # typically: built against another torch, undefined symbols
        return False, f"pyadvman._C at {spec.origin} failed to load: {err}"
    from pyadvman import _C

    built = _C.build_info()["torch_version"]
    if built.split("+")[0] != torch.__version__.split("+")[0]:
        logger.warning("pyadvman._C was built against torch %s but torch %s is running; reinstall pyadvman",
                       built, torch.__version__)
    return True, ""


def library_loaded() -> bool:
    """True when the compiled operators are registered under ``torch.ops.pyadvman``."""
    return _load()[0]


def library_error() -> str:
    """Why the compiled library is not loaded ("" when it is)."""
    return _load()[1]


def build_info() -> dict[str, Any]:
    """How the compiled library was built.

    Returns:
        dict with ``compiled`` (bool: the library is loaded), ``torch_version`` (the torch it was built
        against), ``cuda`` (bool: CUDA kernels built), ``cuda_version`` (toolkit, "" without CUDA),
        ``cuda_architectures`` (e.g. "80-real 90"), ``openmp`` (bool: CPU kernels parallel through OpenMP),
        ``cpu_isas_built`` (e.g. "DEFAULT AVX2 AVX512"), ``cpu_isa`` (the one chosen on this machine,
        capped by ``ATEN_CPU_CAPABILITY``), ``compiler``; without the library only ``compiled=False`` and
        ``error``.
    """
    loaded, error = _load()
    if not loaded:
        return {"compiled": False, "error": error}
    from pyadvman import _C

    return {"compiled": True, **_C.build_info()}
