"""The installed package is the built one, and reports how it was built."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

import pyadvman


def test_compiled_library_is_the_installed_extension() -> None:
    spec = importlib.util.find_spec("pyadvman._C")
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin).is_file() and Path(spec.origin).suffix == ".so"
    assert str(Path(spec.origin)) in {str(Path(p)) for p in torch.ops.loaded_libraries}
    for name in ("linf_project", "pgd_step", "pgd_step_"):
        assert hasattr(torch.ops.pyadvman, name)


def test_build_info_describes_the_build() -> None:
    info = pyadvman.build_info()
    assert info["compiled"] is True
    assert info["torch_version"].split("+")[0] == torch.__version__.split("+")[0]
    assert isinstance(info["cuda"], bool) and isinstance(info["openmp"], bool)
    assert info["cpu_isa"] in info["cpu_isas_built"].split()
    if info["cuda"]:
        assert info["cuda_version"] and info["cuda_architectures"]
    else:
        assert info["cuda_version"] == ""
