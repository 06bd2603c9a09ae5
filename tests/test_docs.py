"""The examples of the README and of every docs/ page, and the operators' docstring examples, run and hold; the
front page stays a front page and links to pages that exist."""

from __future__ import annotations

import doctest
import importlib
import re
import shlex
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


class _Parsed(BaseException):
    """Raised instead of running a command once its options parsed."""


def _command_lines() -> list[tuple[str, list[str]]]:
    """Every ``pyadvman ...`` command of the README's and the docs' bash blocks (also under torchrun), as argv."""
    found = []
    for page in [README, *PAGES]:
        for block in re.findall(r"```(?:bash|sh)\n(.*?)```", page.read_text(), flags=re.DOTALL):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                if "pyadvman.cli" in words:  # torchrun ... -m pyadvman.cli -- COMMAND ...
                    words = ["pyadvman", *words[words.index("pyadvman.cli") + 2:]]
                if words[:1] == ["pyadvman"] and len(words) > 1:
                    found.append((f"{page.name}: {line.strip()}", words[1:]))
    return found


@pytest.mark.parametrize(("where", "argv"), _command_lines(), ids=lambda v: v if isinstance(v, str) else "")
def test_command_lines_of_the_docs_parse(where, argv, monkeypatch, tmp_path, capsys) -> None:
    from pyadvman import cli

    parse = cli.parse

    def parse_then_stop(*args, **kwargs):
        parse(*args, **kwargs)
        raise _Parsed

    monkeypatch.setattr(cli, "parse", parse_then_stop)
    monkeypatch.chdir(tmp_path)
    try:
        code = cli.main(argv)
    except (_Parsed, SystemExit) as stop:
        code = getattr(stop, "code", 0)
    error = capsys.readouterr().err
    # a run folder or file the example names need not exist here; every option must parse, in today's spelling
    assert code == 0 or "not found" in error or "No such file" in error, f"{where}\n{error}"
    assert "deprecated" not in error, f"{where}\n{error}"
