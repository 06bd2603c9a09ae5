"""Where a study's cells run: on this machine (``local``, the default), one after another in this process or in
``workers`` worker processes at once (process_executor.py), or as Ray tasks on the workers of a local Ray or a Ray
cluster (``ray``, ray_executor.py), each cell with its share of CPUs and GPUs.

Either way a cell trains, checkpoints and evaluates its model in the run folder, and the driver gathers the
cells' results in the grid's order, so metrics.json, the figures and report.md do not depend on the executor.
On a CPU the numbers depend on the torch thread count (the order of floating-point sums), so two runs agree
bitwise when their cells run with the same number of threads: ``cpus_per_model`` sets it under both executors.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from pyadvman.errors import ConfigError, check_fields
from pyadvman.experiments.cells import CellJob, run_cell

EXECUTORS = ("local", "ray")
DEFAULT_MAX_RETRIES = 3


def usable_cpus() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class Executor:
    """How the cells of a study run. Not part of the study's config: a run may resume under another executor.

    Attributes:
        kind: "local" (this machine) or "ray" (one Ray task per cell).
        workers: local only; how many cells run at once, each in a worker process (1: in this process, one after
            another), or "auto": one per CPU core this process may use, 1 where CUDA is available (the cells
            share its GPU).
        address: Ray only; the Ray this process already joined is used as it is; else None joins RAY_ADDRESS
            when it is set and otherwise starts a local Ray, "auto" joins the cluster started on this machine
            with ``ray start``, "host:port" that cluster's head, "ray://host:port" a remote cluster through the
            Ray Client.
        gpus_per_model: Ray only; the GPUs each cell reserves, >= 0 and fractional below 1 (0.25: four cells
            share one GPU); a cell that reserves none sees no GPU (it runs on the CPU).
        cpus_per_model: the CPUs each cell reserves (Ray; default 1) and its torch thread count, the integer
            part and at least 1 (both executors; None under local: torch's default in one process, the cores
            shared out among several workers).
        max_retries: Ray only; how often a cell whose worker died (a killed process, a lost node) is started
            again; each retry resumes from the cell's last checkpoint.

    Raises:
        ConfigError: an unknown kind, a negative or non-finite share, Ray options with the local executor, the
            Ray executor under torchrun.
        MissingDependencyError: kind "ray" without Ray installed (the message gives the install command).
    """

    kind: str = "local"
    workers: int | str = 1
    address: str | None = None
    gpus_per_model: float = 0.0
    cpus_per_model: float | None = None
    max_retries: int = DEFAULT_MAX_RETRIES

    def __post_init__(self) -> None:
        check_fields([
            (self.kind in EXECUTORS, "executor", f"one of {EXECUTORS}", self.kind),
            (math.isfinite(self.gpus_per_model) and self.gpus_per_model >= 0, "gpus_per_model",
             "a number >= 0 (fractional: several cells share a GPU)", self.gpus_per_model),
            (self.cpus_per_model is None or (math.isfinite(self.cpus_per_model) and self.cpus_per_model > 0),
             "cpus_per_model", "a number > 0", self.cpus_per_model),
            (self.max_retries >= 0, "max_retries", ">= 0", self.max_retries),
            (self.workers == "auto" or (isinstance(self.workers, int) and not isinstance(self.workers, bool)
                                        and self.workers >= 1), "workers", "an integer >= 1 or 'auto'",
             self.workers),
        ])
        if self.kind == "local":
            if self.workers != 1 and int(os.environ.get("WORLD_SIZE", "1")) > 1:
                raise ConfigError("workers", "1 under torchrun (its processes train each cell together)",
                                  self.workers)
            ray_only = (("address", self.address, None), ("gpus_per_model", self.gpus_per_model, 0.0))
            for name, value, default in ray_only:
                if value != default:
                    raise ConfigError(name, "given only with --executor ray (the local executor runs the cells in "
                                      "this process, on its device)", value)
        if self.kind == "ray":
            from pyadvman.experiments.ray_executor import import_ray

            if self.workers != 1:
                raise ConfigError("workers", "1 with --executor ray (Ray runs as many cells at once as its CPUs and "
                                  "GPUs hold)", self.workers)
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                raise ConfigError("executor", "'local' under torchrun (the Ray executor places each cell in its "
                                  "own worker)", self.kind)
            import_ray()  # MissingDependencyError with the install command, before any work starts
        if self.gpus_per_model > 1 and self.gpus_per_model != int(self.gpus_per_model):
            raise ConfigError("gpus_per_model", "a fraction below 1 or a whole number of GPUs (Ray's rule)",
                              self.gpus_per_model)

    @property
    def worker_count(self) -> int:
        """How many cells run at once on this machine (local): ``workers``, with "auto" resolved."""
        if self.workers != "auto":
            return int(self.workers)
        return 1 if torch.cuda.is_available() else usable_cpus()

    def workers_for(self, cells: int) -> int:
        """How many worker processes run ``cells`` cells (local): never more than there are cells; 1 means the
        cells run in this process."""
        return max(1, min(self.worker_count, cells))

    def cpus_for(self, cells: int) -> float | None:
        """The CPUs each of ``cells`` cells reserves: cpus_per_model, under Ray 1 when not given; local: None
        (torch's setting) in this process, else the usable cores divided among the workers that run."""
        if self.cpus_per_model is not None:
            return self.cpus_per_model
        if self.kind == "ray":
            return 1.0
        workers = self.workers_for(cells)
        return None if workers == 1 else float(max(1, usable_cpus() // workers))

    def threads_for(self, cells: int) -> int | None:
        """The torch thread count of each of ``cells`` cells: the integer part of :meth:`cpus_for`, at least 1
        (None where that is None)."""
        cpus = self.cpus_for(cells)
        return None if cpus is None else max(1, int(cpus))

    @property
    def cpus(self) -> float | None:
        """:meth:`cpus_for` a grid of more cells than workers."""
        return self.cpus_for(self.worker_count)

    @property
    def threads(self) -> int | None:
        """:meth:`threads_for` a grid of more cells than workers."""
        return self.threads_for(self.worker_count)

    def run_cells(self, job: CellJob, shared: object, cells: Mapping[str, object], records: Path, *,
                  progress: bool = True, priority: Mapping[str, float] | None = None) -> list[object]:
        """``job(shared, cell, progress)`` for every cell, each attempt recorded in records/<name>.json
        (pyadvman.experiments.cells); the results in the order of ``cells`` (name -> cell). Where several cells
        run at once (worker processes, Ray) they start in decreasing ``priority`` (name -> number; the cells'
        expected cost, so that the longest start first and no worker is left alone with one at the end), ties
        and a single process in the order of ``cells``.

        ``job`` must be a module-level function, and it and ``shared`` picklable (Ray sends them to the workers;
        ``shared`` is put into Ray's object store once). Each cell must write what it computes into the run folder
        and reload it when run again: that is what makes a retry or ``--resume`` continue instead of restarting.

        Raises:
            whatever a cell raises (under Ray the original exception, its remote traceback chained; the other
            cells are cancelled, and finished ones stay in the run folder). MissingDependencyError: Ray is not
            installed. ConfigError: no node of this machine's Ray can hold one cell's share. CellLostError: a
            cell's worker died more than max_retries times.
        """
        if self.kind == "ray":
            from pyadvman.experiments.ray_executor import run_on_ray

            return run_on_ray(self, job, shared, cells, records, progress=progress, priority=priority)
        workers, threads = self.workers_for(len(cells)), self.threads_for(len(cells))
        if workers > 1:
            from pyadvman.experiments.process_executor import run_in_processes

            return run_in_processes(workers, threads, job, shared, cells, records, progress=progress,
                                    priority=priority)
        run_id = uuid.uuid4().hex
        results = []
        bar = tqdm(cells.items(), desc="models", unit="model", disable=not progress)
        for name, cell in bar:
            bar.set_postfix_str(name)
            results.append(run_cell(job, shared, cell, records / f"{name}.json", executor="local", run_id=run_id,
                                    threads=threads, progress=progress))
        return results
