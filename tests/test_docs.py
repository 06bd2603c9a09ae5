"""The examples of the README and of every docs/ page, and the operators' docstring examples, run and hold; the
front page stays a front page and links to pages that exist."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest
import torch

from pyadvman.data.real_datasets import FASHION_MNIST_DIR

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
MANUAL = ("getting-started", "attacks", "training", "studies", "data", "operators", "benchmarks", "cluster",
          "protocol", "papers", "coming-from-torchattacks")


# An example that runs a whole study says so on its first line; the tests do not run it.
NOT_RUN = "# a whole study"


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_python_examples_run(page: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the examples write run folders
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
    for block in blocks:
        if "fashion-mnist" in block and not FASHION_MNIST_DIR.is_dir():
            continue  # needs Debian's dataset-fashion-mnist, which CI installs
        if block.startswith(NOT_RUN):
            continue
        exec(compile(block, str(page), "exec"), {})


def test_the_readme_is_a_front_page_with_an_example() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    assert re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL), "the README should show a Python example"
    assert "bash .ci/main" in text and "bash .ci/test" in text  # the two commands
    for name in MANUAL:
        assert (ROOT / "docs" / f"{name}.md").is_file(), name
    assert (ROOT / "LICENSE").is_file() and (ROOT / "CITATION.cff").is_file() and (ROOT / "CHANGELOG.md").is_file()


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_links_point_at_files_that_exist(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
        assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


@pytest.mark.parametrize("name", ["pyadvman.ops.linf_project", "pyadvman.ops.pgd_step", "pyadvman.ops.knn", "pyadvman.ops.nn_project"])
def test_docstring_examples(name) -> None:
    module = importlib.import_module(name)  # the module, not the function of the same name
    result = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
