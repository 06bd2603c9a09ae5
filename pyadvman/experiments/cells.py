"""One cell of a study's grid (one model: its training, checkpoints and evaluation) as a job, and the record of its
attempts, cells/<name>.json in the run folder: which executor, host and process ran it, with how many torch
threads, when it started and how long it took. An attempt without "seconds" did not finish: with "error" it
raised (type and message), without it its process died or the run was interrupted; the next attempt resumes from
the cell's checkpoints."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from pyadvman._atomic import write_json_atomic
from pyadvman._file_reading import read_json
from pyadvman.errors import UnreadableFileError

# job(shared, cell, progress) -> the cell's result: a module-level function, so that Ray can send it by name
CellJob = Callable[[Any, Any, bool], Any]


def attempts(path: Path) -> list[dict]:
    """The attempts recorded in a cell file, oldest first; none for a missing or damaged file."""
    try:
        return list(read_json(path, "it is started afresh")["attempts"])
    except (OSError, UnreadableFileError, KeyError, TypeError):  # OSError: also a stale file on shared storage
        return []


def run_cell(job: CellJob, shared: object, cell: object, record: Path, *, executor: str, run_id: str,
             threads: int | None, progress: bool) -> object:
    """``job(shared, cell, progress)`` with ``threads`` torch threads (None: as they are), its attempt appended to
    ``record`` before it starts and its seconds (or the error it raised, which is re-raised) written when it
    ends. The thread count is restored afterwards (a Ray worker runs many cells one after another)."""
    history = attempts(record)
    history.append({"run": run_id, "executor": executor, "host": socket.gethostname(), "pid": os.getpid(),
                    "threads": threads or torch.get_num_threads(),
                    "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                    "started": datetime.now(timezone.utc).isoformat(timespec="milliseconds")})
    record.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic({"attempts": history}, record)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    started = time.monotonic()
    try:
        result = job(shared, cell, progress)
    except Exception as error:
        history[-1]["error"] = f"{type(error).__name__}: {' '.join(str(error).split())[:500]}"
        write_json_atomic({"attempts": history}, record)
        raise
    finally:
        torch.set_num_threads(previous)
    history[-1]["seconds"] = round(time.monotonic() - started, 3)
    write_json_atomic({"attempts": history}, record)
    return result


def start_order(names: list[str], priority: Mapping[str, float] | None) -> list[int]:
    """The indices of ``names`` in the order their cells start: decreasing ``priority``, ties in ``names``'s
    order."""
    priority = priority or {}
    return sorted(range(len(names)), key=lambda i: -priority.get(names[i], 0.0))
