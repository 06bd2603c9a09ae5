"""Executors without Ray: the options are checked by name, a missing Ray gives the install command, the local
executor runs the cells in order with their thread count and records each attempt, the Ray worker's checks
(the driver's pyadvman, the run folder on its node) and errors that cross the process boundary intact."""

from __future__ import annotations

import os
import pickle
import re
import sys
import types
from pathlib import Path

import pytest
import torch

import pyadvman
from pyadvman import cli
from pyadvman.errors import ConfigError, MissingDependencyError, UnreadableFileError
from pyadvman.experiments.cells import attempts
from pyadvman.experiments.executors import Executor
from pyadvman.experiments.ray_executor import ray_cell
from pyadvman.training.run_folder import holds_results


@pytest.mark.parametrize(("options", "field"), [
    ({"kind": "dask"}, "executor"),
    ({"kind": "local", "address": "auto"}, "address"),
    ({"kind": "local", "gpus_per_model": 0.5}, "gpus_per_model"),
    ({"cpus_per_model": 0}, "cpus_per_model"),
    ({"cpus_per_model": float("nan")}, "cpus_per_model"),
    ({"max_retries": -1}, "max_retries"),
])
def test_executor_options_are_checked_by_name(options, field) -> None:
    with pytest.raises(ConfigError) as raised:
        Executor(**options)
    assert raised.value.field == field


def test_fractional_gpus_above_one_are_refused(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(__version__="2.60.0"))  # its API is not needed
    with pytest.raises(ConfigError, match="a fraction below 1 or a whole number"):
        Executor("ray", gpus_per_model=1.5)
    assert Executor("ray", gpus_per_model=0.25).threads == 1 and Executor("ray", cpus_per_model=2.7).threads == 2


def test_a_missing_ray_gives_the_install_command(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(MissingDependencyError, match=r'pip install "\.\[ray\]"'):
        Executor("ray")
    assert cli.main(["run", "claims", "--executor", "ray", "--out", "unused"]) == 2
    line = capsys.readouterr().err.strip()
    assert line == ('pyadvman run: error: --executor ray needs Ray, which is not installed: pip install ".[ray]" in '
                    'the pyadvman checkout (or pip install "ray>=2.59")')
    assert cli.main(["run", "claims", "--address", "auto", "--out", "unused"]) == 2
    assert "--address must be given only with --executor ray" in capsys.readouterr().err


def test_a_ray_without_token_authentication_by_default_is_refused(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(__version__="2.58.1"))
    with pytest.raises(MissingDependencyError, match=r"needs Ray >= 2\.59 \(a local Ray that requires its token\), "
                                                     r"found 2\.58\.1"):
        Executor("ray")


def test_a_local_ray_without_its_token_is_warned_about(monkeypatch, caplog) -> None:
    from pyadvman.experiments.ray_executor import require_ray_token

    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    require_ray_token()
    assert "RAY_AUTH_MODE" not in os.environ and not caplog.text  # Ray's default (token) is left to Ray
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    require_ray_token()
    assert "RAY_AUTH_MODE=disabled: the local Ray's services listen on all network interfaces" in caplog.text


def _threads_and_cell(shared, cell, progress):
    return shared, cell, torch.get_num_threads(), progress


def test_the_local_executor_runs_cells_in_order_with_their_threads(tmp_path) -> None:
    before = torch.get_num_threads()
    results = Executor("local", cpus_per_model=1).run_cells(_threads_and_cell, "shared", {"b": 2, "a": 1},
                                                             tmp_path / "cells", progress=False)
    assert results == [("shared", 2, 1, False), ("shared", 1, 1, False)]
    assert torch.get_num_threads() == before  # restored after each cell
    for name in ("a", "b"):
        [attempt] = attempts(tmp_path / "cells" / f"{name}.json")
        assert attempt["executor"] == "local" and attempt["threads"] == 1 and attempt["seconds"] >= 0
    again = Executor().run_cells(_threads_and_cell, None, {"a": 1}, tmp_path / "cells", progress=False)
    assert again == [(None, 1, before, False)]  # torch's own count when cpus_per_model is not given
    assert len(attempts(tmp_path / "cells" / "a.json")) == 2


def _driver(cwd, **package) -> dict:
    from pyadvman.experiments.ray_executor import _package

    return {"package": {**_package(), "file": "/driver/pyadvman/__init__.py", **package}, "cwd": str(cwd), "gpus": 0}


def test_a_ray_worker_refuses_another_pyadvman_or_a_run_folder_it_cannot_see(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(__version__="2.60.0", get=lambda ref: ref))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.chdir(tmp_path)
    record = tmp_path / "run" / "cells" / "a.json"
    record.parent.mkdir(parents=True)
    options = {"executor": "ray", "run_id": "r", "threads": 1, "progress": False}
    version = re.escape(pyadvman.__version__)
    with pytest.raises(MissingDependencyError, match=rf"pyadvman {version} \(sources \w+\) from .* the driver "
                                                     r"pyadvman 9\.9 .* from /driver/pyadvman/__init__\.py .*install"):
        ray_cell(_driver(tmp_path, version="9.9"), _threads_and_cell, [None], 1, record, **options)
    with pytest.raises(MissingDependencyError, match=r"\(sources \w+\).*the driver .*\(sources 000000000000\)"):
        ray_cell(_driver(tmp_path, sources="000000000000"), _threads_and_cell, [None], 1, record, **options)
    if pyadvman.library_loaded():  # a worker whose pyadvman has no compiled library (a source tree on its path)
        from pyadvman.experiments import ray_executor

        driver, worker = _driver(tmp_path), {**_driver(tmp_path)["package"], "library": False}
        with monkeypatch.context() as patch:
            patch.setattr(ray_executor, "_package", lambda: worker)
            with pytest.raises(MissingDependencyError, match=r"compiled library loaded: False.*\(loaded: True\)"):
                ray_cell(driver, _threads_and_cell, [None], 1, record, **options)
    with pytest.raises(FileNotFoundError, match=r"working directory /nowhere/at/all does not exist on Ray node .*"
                                                r"relative to it"):
        ray_cell(_driver("/nowhere/at/all"), _threads_and_cell, [None], 1, Path("run/cells/a.json"), **options)
    with pytest.raises(FileNotFoundError, match=r"run folder \S*elsewhere does not exist on Ray node .* storage"):
        ray_cell(_driver(tmp_path), _threads_and_cell, [None], 1, tmp_path / "elsewhere" / "cells" / "a.json",
                 **options)
    # an absolute run folder needs no working directory; a cell that reserved no GPU sees none
    assert ray_cell(_driver("/nowhere/at/all"), _threads_and_cell, ["s"], 1, record, **options) == ("s", 1, 1, False)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "" and Path.cwd() == tmp_path
    (tmp_path / "work").mkdir()
    assert ray_cell(_driver(tmp_path / "work"), _threads_and_cell, ["t"], 2, record, **options) == ("t", 2, 1, False)
    assert Path.cwd() == tmp_path / "work" and [a["executor"] for a in attempts(record)] == ["ray", "ray"]


def _failing(shared, cell, progress):
    raise ConfigError("epochs", ">= 1", 0)


def test_a_failed_attempt_records_its_error_and_does_not_make_the_folder_a_run(tmp_path) -> None:
    with pytest.raises(ConfigError):
        Executor().run_cells(_failing, None, {"a": 1}, tmp_path / "cells", progress=False)
    [attempt] = attempts(tmp_path / "cells" / "a.json")
    assert attempt["error"] == "ConfigError: epochs must be >= 1, got 0" and "seconds" not in attempt
    assert not holds_results(tmp_path)  # so the run may start again afresh, with another config


def test_user_errors_survive_pickling_with_their_fields() -> None:
    """A worker's error reaches the driver pickled; a one-line error must come back as itself."""
    config = pickle.loads(pickle.dumps(ConfigError("epochs", ">= 1", 0)))
    assert type(config) is ConfigError and config.as_option() == "--epochs must be >= 1, got 0"
    unreadable = pickle.loads(pickle.dumps(UnreadableFileError("/run/last.pt", "truncated", "delete it")))
    assert type(unreadable) is UnreadableFileError and str(unreadable) == ("/run/last.pt cannot be read "
                                                                          "(truncated); delete it")
    assert unreadable.path.name == "last.pt"
