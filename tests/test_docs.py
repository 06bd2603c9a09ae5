"""The README's example and the operators' docstring examples run and hold."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest
import torch

from pyadvman.data.real_datasets import FASHION_MNIST_DIR

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README should show a Python example"
    for block in blocks:
        if "fashion-mnist" in block and not FASHION_MNIST_DIR.is_dir():
            continue  # needs Debian's dataset-fashion-mnist, which CI installs
        exec(compile(block, str(README), "exec"), {})


@pytest.mark.parametrize("name", ["pyadvman.ops.linf_project", "pyadvman.ops.pgd_step", "pyadvman.ops.knn", "pyadvman.ops.nn_project"])
def test_docstring_examples(name) -> None:
    module = importlib.import_module(name)  # the module, not the function of the same name
    result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
