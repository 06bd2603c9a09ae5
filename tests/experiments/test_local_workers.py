"""The local executor's worker processes: the options are checked by name, the cells run in other processes with
their thread share and in the grid's order, a failing cell fails the run with its own error, and a tiny claims
grid run in two single-threaded workers records what one process records at one thread, bit for bit."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pyadvman._atomic import to_json
from pyadvman.errors import CellLostError, ConfigError, WorkerLoadError
from pyadvman.experiments import claims_config, executors
from pyadvman.experiments.cells import attempts
from pyadvman.experiments.claims import run
from pyadvman.experiments.executors import Executor

from .test_claims import TINY


@pytest.mark.parametrize("workers", [0, -1, "many", True, 1.5])
def test_a_bad_worker_count_is_named(workers) -> None:
    with pytest.raises(ConfigError, match=r"workers must be an integer >= 1 or 'auto'"):
        Executor("local", workers=workers)


def test_auto_workers_share_out_the_cores(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(executors, "usable_cpus", lambda: 4)
    auto = Executor("local", workers="auto")
    assert auto.worker_count == 4 and auto.threads == 1
    assert Executor("local", workers=2).threads == 2 and Executor("local").threads is None
    assert Executor("local", workers="auto").threads_for(1) is None  # one cell: in this process, torch's count
    assert Executor("local", workers="auto").threads_for(2) == 2  # two cells: two workers of the four share it
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert Executor("local", workers="auto").worker_count == 1  # the cells share the GPU one after another
    assert Executor("local", workers=2, cpus_per_model=3).threads == 3


JOBS = """
import os, signal, time, torch

def cell(shared, cell, progress):
    if cell == "bad":
        raise ValueError("cell 'bad' was given bad input")
    if cell == "dies":
        os.kill(os.getpid(), signal.SIGKILL)
    if cell == "long":
        with open(shared, "w") as file:
            file.write(str(os.getpid()))
        time.sleep(120)
    if isinstance(cell, float):
        time.sleep(cell)
    return shared, cell, torch.get_num_threads(), os.getpid()
"""


@pytest.fixture
def job(tmp_path, monkeypatch):
    """A job in a module the spawned workers can import (pytest imports test modules under names they cannot)."""
    (tmp_path / "worker_jobs.py").write_text(JOBS)
    monkeypatch.syspath_prepend(tmp_path)
    return importlib.import_module("worker_jobs").cell


def _unimportable_cell(shared, cell, progress):
    return cell


def test_cells_start_in_decreasing_priority_and_their_results_keep_the_grid_order(job, tmp_path) -> None:
    cells = {"short": 0.3, "middle": 0.6, "long": 0.9, "longest": 1.2}
    priority = {"short": 1, "middle": 2, "long": 3, "longest": 4}
    results = Executor("local", workers=2).run_cells(job, None, cells, tmp_path / "cells", progress=False,
                                                     priority=priority)
    assert [r[1] for r in results] == list(cells.values())
    started = {name: attempts(tmp_path / "cells" / f"{name}.json")[0]["started"] for name in cells}
    # two workers: the two longest start first, the shortest last
    assert max(started["longest"], started["long"]) < min(started["middle"], started["short"])
    assert started["short"] == max(started.values())


def test_worker_processes_run_the_cells_in_order_with_their_threads(job, tmp_path) -> None:
    results = Executor("local", workers=2, cpus_per_model=1).run_cells(job, "shared", {"b": 2, "a": 1, "c": 3},
                                                                       tmp_path / "cells", progress=False)
    assert [r[:3] for r in results] == [("shared", 2, 1), ("shared", 1, 1), ("shared", 3, 1)]
    assert os.getpid() not in {r[3] for r in results}
    for name in "abc":
        [attempt] = attempts(tmp_path / "cells" / f"{name}.json")
        assert attempt["executor"] == "local" and attempt["threads"] == 1 and attempt["pid"] != os.getpid()


def test_a_failing_cell_in_a_worker_fails_the_run_with_its_error(job, tmp_path) -> None:
    with pytest.raises(ValueError, match="cell 'bad' was given bad input"):
        Executor("local", workers=2).run_cells(job, None, {"a": 1, "bad": "bad"}, tmp_path / "cells",
                                               progress=False)
    [attempt] = attempts(tmp_path / "cells" / "bad.json")
    assert attempt["error"] == "ValueError: cell 'bad' was given bad input"


def test_a_failing_cell_stops_the_cells_still_running(job, tmp_path) -> None:
    pid_file = tmp_path / "long.pid"
    started = time.monotonic()
    with pytest.raises(ValueError, match="cell 'bad' was given bad input"):
        Executor("local", workers=2).run_cells(job, str(pid_file), {"long": "long", "bad": "bad"},
                                               tmp_path / "cells", progress=False)
    assert time.monotonic() - started < 60  # not the 120 s the long cell would sleep
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # its worker was stopped, not left running


def _running(pid: int) -> bool:
    """Whether process pid exists and has not ended (a zombie left to an init that does not reap has)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def test_the_workers_end_when_their_driver_is_killed(tmp_path) -> None:
    (tmp_path / "worker_jobs.py").write_text(JOBS)
    pid_file = tmp_path / "long.pid"
    driver = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from worker_jobs import cell; "
         "from pyadvman.experiments.executors import Executor; Executor('local', workers=2).run_cells(cell, "
         "sys.argv[1], {'long': 'long', 'short': 1.0}, Path(sys.argv[2]), progress=False)", str(pid_file),
         str(tmp_path / "cells")], env={**os.environ, "PYTHONPATH": str(tmp_path)}, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not pid_file.is_file() or not pid_file.read_text():
        assert driver.poll() is None and time.monotonic() < deadline, driver.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    worker = int(pid_file.read_text())
    driver.kill()  # SIGKILL: no clean-up runs in the driver
    driver.wait()
    while time.monotonic() < deadline and _running(worker):
        time.sleep(0.1)
    if _running(worker):
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker of the long cell outlived its driver")


def test_a_dead_worker_or_a_job_the_workers_cannot_load_ends_in_an_error_not_a_hang(job, tmp_path) -> None:
    with pytest.raises(CellLostError, match="a worker process died while cell dies ran .* --resume"):
        Executor("local", workers=2).run_cells(job, None, {"a": 1, "dies": "dies"}, tmp_path / "cells",
                                               progress=False)
    with pytest.raises(WorkerLoadError, match="cannot load the cell's job .* workers=1"):
        Executor("local", workers=2).run_cells(_unimportable_cell, None, {"a": 1, "b": 2}, tmp_path / "cells",
                                               progress=False)


def _science(metrics: dict) -> dict:
    models = [{k: v for k, v in r.items() if k != "attack_seconds"} for r in metrics["models"]]
    return json.loads(to_json({"models": models, "distances": metrics["distances"], "claims": metrics["claims"]}))


def test_two_workers_record_what_one_process_records(tiny_fonts, tmp_path) -> None:
    cfg = claims_config("quick", dataset_options=tiny_fonts, **{**TINY, "train_sizes": (300,),
                                                                 "variants": ("normal", "madry")})
    alone = run(cfg, tmp_path / "alone", progress=False, executor=Executor("local", cpus_per_model=1))
    workers = run(cfg, tmp_path / "workers", progress=False, executor=Executor("local", workers=2, cpus_per_model=1))
    assert _science(workers) == _science(alone)
    pids = {attempts(tmp_path / "workers" / "cells" / f"{r['name']}.json")[0]["pid"] for r in workers["models"]}
    assert os.getpid() not in pids  # (a worker that starts first may take both tiny cells)
