"""The local executor's worker processes: the cells of a study's grid run in ``workers`` spawned processes on this
machine, each cell with its thread share, as Ray tasks would (the same ``run_cell`` and records); the driver only
schedules. Processes rather than threads: on the small convolutions of the 28×28 studies torch's CPU kernels do
more work as several single-threaded processes than as one process of several threads (bench/bench_executors.py).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from tqdm.auto import tqdm

from pyadvman.errors import CellLostError, WorkerLoadError
from pyadvman.experiments.cells import CellJob, run_cell, start_order

logger = logging.getLogger(__name__)

_DRIVER_CHECK_SECONDS = 1.0  # how often a worker checks that its driver is alive
_SHARED: dict[str, object] = {}  # per worker: the study's shared object (pickled until its first cell loads it)


def _start_worker(shared: bytes, driver: int) -> None:
    _SHARED["pickled"] = shared  # sent once per worker; unpickled in a cell, where an error reaches the driver
    # the driver's pid comes from the driver: one that died while this worker started would already be replaced
    # as the parent (os.getppid) by an init that never dies
    threading.Thread(target=_exit_with_the_driver, args=(driver,), daemon=True).start()


def _exit_with_the_driver(driver: int) -> None:
    """Ends this worker once the driver is gone (killed, or ended by a signal that runs no clean-up): a cell left
    running would go on writing into a run folder whose lock died with the driver, beside a --resume."""
    while os.getppid() == driver:
        time.sleep(_DRIVER_CHECK_SECONDS)
    os._exit(1)


def _worker_cell(run_id: str, payload: bytes, record: Path, threads: int | None) -> object:
    try:
        if "object" not in _SHARED:
            _SHARED["object"] = pickle.loads(_SHARED["pickled"])
            del _SHARED["pickled"]
        job, cell = pickle.loads(payload)
    except Exception as error:  # raised here, it reaches the driver as this cell's error instead of killing us
        raise WorkerLoadError(f"a worker process cannot load the cell's job or the study's shared object "
                              f"({type(error).__name__}: {error}): define the job in a module the workers can "
                              "import, or run with workers=1") from None
    return run_cell(job, _SHARED["object"], cell, record, executor="local", run_id=run_id, threads=threads,
                    progress=False)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancels the cells not yet started and kills the workers of running ones (a cell stopped mid-write keeps
    its last atomic checkpoint), then waits for them. The processes are taken before the shutdown, which
    forgets them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=30)
    pool.shutdown(wait=True, cancel_futures=True)


def run_in_processes(workers: int, threads: int | None, job: CellJob, shared: object, cells: Mapping[str, object],
                     records: Path, *, progress: bool, priority: Mapping[str, float] | None = None) -> list[object]:
    """The multi-process side of :meth:`pyadvman.experiments.executors.Executor.run_cells` (its contract and
    errors): ``workers`` spawned processes, each cell run with ``threads`` torch threads, started in decreasing
    ``priority``; the results in the order of ``cells``. On a cell's error or an interrupt the other workers are
    stopped (finished cells stay in the run folder for --resume) and the error is raised as itself.

    Raises:
        WorkerLoadError: a worker cannot unpickle the job or ``shared``. CellLostError: a worker process died
            (killed, out of memory).
    """
    names, run_id = list(cells), uuid.uuid4().hex
    results: list[object] = [None] * len(names)
    context = multiprocessing.get_context("spawn")  # fork would copy the driver's torch threads and locks
    pool = ProcessPoolExecutor(min(workers, len(names)), mp_context=context, initializer=_start_worker,
                               initargs=(pickle.dumps(shared), os.getpid()))
    bar = tqdm(total=len(names), desc="models", unit="model", disable=not progress)
    try:
        pending = {pool.submit(_worker_cell, run_id, pickle.dumps((job, cells[names[i]])),
                               records / f"{names[i]}.json", threads): i for i in start_order(names, priority)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                results[index] = _result(future, names[index])
            bar.update(len(done))
        pool.shutdown(wait=True)
    except BaseException:
        _stop(pool)
        raise
    finally:
        bar.close()
    return results


def _result(future, name: str) -> object:
    try:
        return future.result()
    except BrokenProcessPool as error:
        raise CellLostError(f"a worker process died while cell {name} ran (killed, or out of memory?); what the "
                            "cells finished is in the run folder: rerun with --resume to continue, with fewer "
                            "workers if memory ran out") from error
    except Exception:
        logger.error("cell %s failed; the other cells are stopped (finished ones stay in the run folder for "
                     "--resume)", name)
        raise
