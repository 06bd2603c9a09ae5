"""The installed package is the built one, and reports how it was built."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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


def _filter_archs(arch_list: str, nvcc: str) -> subprocess.CompletedProcess:
    module = Path(__file__).resolve().parents[1] / "cmake" / "cuda_architectures.cmake"
    cmake = shutil.which("cmake", path=str(Path(sys.executable).parent)) or shutil.which("cmake")
    return subprocess.run([cmake, f"-DARCH_LIST={arch_list}", f"-DNVCC={nvcc}", "-P", str(module)],
                          capture_output=True, text=True, check=False)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs nvcc (the CUDA compile checks need it too)")
@pytest.mark.parametrize("arch_list", ["6.0 6.1 7.0 7.5 8.0 8.6+PTX", "6.0;7.0+PTX;8.0", "Ampere Hopper+PTX",
                                       "9.0a", "5.0 6.0"])
def test_the_arch_list_keeps_what_nvcc_builds(arch_list) -> None:
    nvcc = shutil.which("nvcc")
    listed = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True, text=True, check=True).stdout
    buildable = {line.removeprefix("compute_") for line in listed.split()}
    named = {"Ampere": ["8.0", "8.6"], "Hopper+PTX": ["9.0+PTX"]}
    entries = [e for part in arch_list.replace(";", " ").split() for e in named.get(part, [part])]
    kept = [e for e in entries if e.split("+")[0].replace(".", "").rstrip("af") in buildable]
    done = _filter_archs(arch_list, nvcc)
    if not kept:
        assert done.returncode != 0 and "no architecture of TORCH_CUDA_ARCH_LIST" in done.stderr
        return
    assert done.returncode == 0, done.stderr
    got = [line.removeprefix("pyadvman-arch ") for line in done.stderr.splitlines()
           if line.startswith("pyadvman-arch ")]
    dropped = [e for e in entries if e not in kept]
    ptx_moved = any(e.endswith("+PTX") for e in dropped)
    expected = [e.split("+")[0].replace(".", "") + ("" if e.endswith("+PTX") else "-real") for e in kept]
    if ptx_moved:
        expected[0] = expected[0].removesuffix("-real")
    assert got == expected
    warning = " ".join(done.stderr.split())
    assert (f"dropping CUDA architectures {' '.join(dropped)} from TORCH_CUDA_ARCH_LIST" in warning) == bool(dropped)
