"""The Ray executor: every cell of a study's grid a Ray task with its CPU and GPU share, on a local Ray or a
cluster. The driver only schedules: the workers train, checkpoint and evaluate into the run folder (shared
storage on a cluster), and a task whose worker dies is retried by Ray and resumes from the cell's checkpoints.
Ray is optional (``pip install ".[ray]"``)."""

from __future__ import annotations

import functools
import logging
import os
import socket
import uuid
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

from tqdm.auto import tqdm

from pyadvman.errors import CellLostError, ConfigError, MissingDependencyError
from pyadvman.experiments.cells import CellJob, attempts, run_cell, start_order
from pyadvman.provenance import source_fingerprint

logger = logging.getLogger(__name__)

RAY_INSTALL = 'pip install ".[ray]" in the pyadvman checkout (or pip install "ray>=2.59")'
RAY_OLDEST = (2, 59)  # the first Ray whose local clusters require its token by default
STATE_SECONDS = 1.0  # how often the progress bar reads the cells' state


def import_ray():
    """The ``ray`` module.

    Raises:
        MissingDependencyError: Ray is not installed, or older than 2.59 (the message gives the install command).
    """
    try:
        import ray
    except ImportError as error:
        raise MissingDependencyError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL}") from error
    version = tuple(int(part) for part in ray.__version__.split(".")[:2] if part.isdigit())
    if version < RAY_OLDEST:
        raise MissingDependencyError(f"--executor ray needs Ray >= 2.59 (a local Ray that requires its token), "
                                     f"found {ray.__version__}: {RAY_INSTALL}")
    return ray


@functools.cache
def _package() -> dict:
    """What a worker must share with the driver: pyadvman's version, a fingerprint of its Python sources (the
    version does not change between commits) and whether its compiled library loaded."""
    import pyadvman

    return {"version": pyadvman.__version__, "sources": source_fingerprint(), "library": pyadvman.library_loaded(),
            "file": pyadvman.__file__}


def ray_cell(driver: dict, job: CellJob, shared: list, cell: object, record: Path, **options) -> object:
    """The Ray task of one cell, in the worker: checks that the worker runs the driver's pyadvman (its sources
    and compiled library) and sees the run folder, hides the GPUs when the cell reserved none, moves to the
    driver's working directory where this node has it (relative run folders resolve as in the driver), then
    fetches the shared object (``shared``: [its ObjectRef], so that the checks come first) and runs ``run_cell``.

    Raises:
        MissingDependencyError: another pyadvman (version or sources), or one without the compiled library the
            driver has (e.g. a source checkout on the worker's sys.path: Ray puts the driver's working directory
            there).
        FileNotFoundError: the run folder is not on this node (nor, for a relative one, the working directory).
    """
    host, mine, theirs = socket.gethostname(), _package(), driver["package"]
    if (mine["version"], mine["sources"]) != (theirs["version"], theirs["sources"]) \
            or (theirs["library"] and not mine["library"]):
        raise MissingDependencyError(
            f"the Ray worker on {host} imports pyadvman {mine['version']} (sources {mine['sources']}) from "
            f"{mine['file']} (compiled library loaded: {mine['library']}), the driver pyadvman {theirs['version']} "
            f"(sources {theirs['sources']}) from {theirs['file']} (loaded: {theirs['library']}): install the same "
            "pyadvman on every node, and start Ray from a directory without a pyadvman source tree")
    if not driver["gpus"]:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # Ray leaves a zero-GPU task every GPU; it reserved none
    cwd = Path(driver["cwd"])
    if cwd.is_dir():
        os.chdir(cwd)
    elif not record.is_absolute():
        raise FileNotFoundError(f"the driver's working directory {cwd} does not exist on Ray node {host}, and the run "
                                f"folder {record.parent.parent} is relative to it: give --out as an absolute path on "
                                "storage that every node mounts at the same path")
    if not record.parent.parent.is_dir():
        raise FileNotFoundError(f"the run folder {record.parent.parent} does not exist on Ray node {host}: put it on "
                                "storage that every node mounts at the same path")
    ray = import_ray()
    return run_cell(job, ray.get(shared[0]), cell, record, **options)


def require_ray_token() -> None:
    """Warns when the local Ray this process starts will not require Ray's token. Ray's servers listen on every
    network interface even when only this machine uses them (Ray 2.60 measured: ray.init turns a node IP of
    127.0.0.1 into the machine's address), so the token is what keeps others from running code in the workers.
    Ray >= 2.59 requires it by default (RAY_AUTH_MODE unset: a token in ~/.ray/auth_token); setting the variable
    here instead would leave the Ray already imported in this process reading the old mode."""
    mode = os.environ.get("RAY_AUTH_MODE", "token")
    if mode.lower() != "token":
        logger.warning("RAY_AUTH_MODE=%s: the local Ray's services listen on all network interfaces without "
                       "authentication; anyone who can reach this machine can run code in them (docs/cluster.md, "
                       "Security)", mode)


@contextmanager
def _working_directory(path: Path):
    """ray.init puts the caller's working directory on the workers' sys.path, where a pyadvman source tree
    (the checkout root) would hide the installed, compiled package; a local Ray's processes also keep it as
    theirs. So Ray is started from the run's cells/ folder (JSON files only, there as long as the run)."""
    back = os.getcwd()
    path.mkdir(parents=True, exist_ok=True)
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(back)


def _check_resources(ray, cpus: float, gpus: float, strict: bool) -> None:
    """A cell's share must fit one node, else Ray would queue the cells forever: an error on a Ray without an
    address (this machine's), a warning on a cluster (its autoscaler may add such a node)."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in nodes):
        return
    sizes = [{"CPU": r.get("CPU", 0), "GPU": r.get("GPU", 0)} for r in nodes]
    if strict:
        field = "gpus_per_model" if gpus and not any(r.get("GPU", 0) >= gpus for r in nodes) else "cpus_per_model"
        raise ConfigError(field, f"a share that one Ray node can hold (nodes: {sizes})",
                          gpus if field == "gpus_per_model" else cpus)
    logger.warning("no Ray node has %s CPUs and %s GPUs for one cell (nodes: %s); the cells wait for the cluster "
                   "to add one", cpus, gpus, sizes)


def _state(records: Path, names: list[str], run_id: str) -> tuple[int, int]:
    """(running, retried) among the unfinished cells, from their attempt records."""
    running = retried = 0
    for name in names:
        mine = [a for a in attempts(records / f"{name}.json") if a.get("run") == run_id]
        running += bool(mine) and "seconds" not in mine[-1]
        retried += len(mine) > 1
    return running, retried


def _lost(ray) -> tuple[type, ...]:
    """Ray's errors for a task whose worker, node or result was lost (after its retries)."""
    names = ("WorkerCrashedError", "NodeDiedError", "OutOfMemoryError", "ObjectLostError", "LocalRayletDiedError")
    return tuple(getattr(ray.exceptions, n) for n in names if hasattr(ray.exceptions, n))


def _cancel(ray, refs) -> None:
    """Cancels the cells still pending, killing the workers of running ones, and waits (up to a minute) until
    they have stopped, so that nothing writes into the run folder after the driver returns."""
    for ref in refs:
        ray.cancel(ref, force=True)
    if refs:
        ray.wait(list(refs), num_returns=len(refs), timeout=60)


def run_on_ray(executor, job: CellJob, shared: object, cells: Mapping[str, object], records: Path, *,
               progress: bool, priority: Mapping[str, float] | None = None) -> list[object]:
    """The Ray side of :meth:`pyadvman.experiments.executors.Executor.run_cells` (its contract and errors); the
    cells are submitted in decreasing ``priority``.
    Uses the Ray this process has joined; else joins ``executor.address``, or RAY_ADDRESS, or starts a local
    Ray; shuts down only a Ray it joined or started itself."""
    ray = import_ray()
    joined_here = not ray.is_initialized()
    address = executor.address or os.environ.get("RAY_ADDRESS") or "local"
    if joined_here:
        if address == "local":
            require_ray_token()
        with _working_directory(records):
            ray.init(address=address, include_dashboard=False, log_to_driver=True)
    try:
        cpus, gpus = executor.cpus, executor.gpus_per_model
        _check_resources(ray, cpus, gpus, strict=address == "local")
        # a GPU cell gets a fresh worker: a reused one keeps its CUDA context on the GPU of its first cell
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_calls=1 if gpus else 0,
                          max_retries=executor.max_retries, retry_exceptions=False)(ray_cell)
        run_id, shared_ref, names = uuid.uuid4().hex, ray.put(shared), list(cells)
        driver = {"package": _package(), "cwd": os.getcwd(), "gpus": gpus}
        refs = {task.remote(driver, job, [shared_ref], cells[names[i]], records / f"{names[i]}.json", executor="ray",
                            run_id=run_id, threads=executor.threads, progress=False): i
                for i in start_order(names, priority)}
        return _gather(ray, refs, names, records, run_id, executor.max_retries, progress)
    finally:
        if joined_here:
            ray.shutdown()


def _gather(ray, refs: dict, names: list[str], records: Path, run_id: str, max_retries: int,
            progress: bool) -> list[object]:
    """The cells' results in the grid's order, as they finish; on any error or an interrupt the cells still
    pending are cancelled first."""
    results: list[object] = [None] * len(names)
    pending = list(refs)
    bar = tqdm(total=len(names), desc="models", unit="model", disable=not progress)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=STATE_SECONDS)  # at once when one ends
            for ref in done:
                results[refs[ref]] = _result(ray, ref, names[refs[ref]], max_retries)
            bar.update(len(done))
            if progress:
                running, retried = _state(records, [names[refs[r]] for r in pending], run_id)
                bar.set_postfix_str(f"{running} running · {len(pending) - running} waiting"
                                    + (f" · {retried} retried" if retried else ""))
    except BaseException:
        _cancel(ray, pending)
        raise
    finally:
        bar.close()
    return results


def _result(ray, ref, name: str, max_retries: int) -> object:
    """A finished cell's result; a cell's own error is raised as itself (the remote traceback chained)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        logger.error("cell %s failed; the other cells are cancelled (finished ones stay in the run folder for "
                     "--resume)", name)
        cause = getattr(error, "cause", None)
        raise (cause if isinstance(cause, Exception) else error) from error
    except _lost(ray) as error:
        raise CellLostError(f"cell {name} was lost after {max_retries} retries ({type(error).__name__}: "
                            f"{' '.join(str(error).split())[:300]}); what it finished is in the run folder: rerun "
                            "with --resume to continue") from error
