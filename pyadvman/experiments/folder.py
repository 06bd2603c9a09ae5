"""The folder of one experiment run: config.json, metrics.json, report.md, figures/, models/ (one training run
folder each), cells/ (who ran each model, pyadvman.experiments.cells) and cached intermediate results, so that an interrupted run resumes where it stopped."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

from pyadvman._atomic import write_json_atomic, write_text_atomic
from pyadvman._file_reading import read_json
from pyadvman.data import DatasetSplits
from pyadvman.errors import UnreadableFileError
from pyadvman.folder_lock import folder_lock
from pyadvman.training.run_folder import start_run

logger = logging.getLogger(__name__)


def default_out_dir(experiment: str, dataset: str) -> Path:
    """runs/<experiment>-<dataset>, the folder a run writes to unless told otherwise."""
    return Path("runs") / f"{experiment}-{dataset}"


def locks_its_folder(experiment: str) -> Callable[[Callable], Callable]:
    """Decorates a study's ``run(cfg, out_dir=None, **options)`` so that its folder (default
    runs/<experiment>-<dataset>) has one writer while it runs: another live process writing it makes the call
    fail at once with FolderInUseError (pyadvman.folder_lock)."""

    def decorate(run: Callable) -> Callable:
        @functools.wraps(run)
        def locked(cfg: object, out_dir: str | Path | None = None, **options: object) -> dict:
            out = Path(out_dir) if out_dir else default_out_dir(experiment, cfg.dataset)
            with folder_lock(out, f"{experiment} study"):
                return run(cfg, out, **options)

        return locked

    return decorate


class ExperimentFolder:
    """Paths of an experiment run, and JSON results computed once and reused on resume."""

    def __init__(self, out_dir: str | Path) -> None:
        self.root = Path(out_dir)
        self.config = self.root / "config.json"
        self.metrics = self.root / "metrics.json"
        self.report = self.root / "report.md"
        self.figures = self.root / "figures"
        self.models = self.root / "models"
        self.cells = self.root / "cells"  # each cell's attempts (pyadvman.experiments.cells)

    def prepare(self, cfg: object, data: DatasetSplits, resume: bool) -> None:
        """Creates the folder and writes config.json and data.json (the data's fingerprint).

        Raises:
            FileExistsError: the folder holds a run and resume is False.
            ValueError: resume with a config.json that differs from cfg.
            DataError: resume on data that differ from the run's (see
                :func:`pyadvman.training.run_folder.start_run`).
        """
        start_run(self.root, cfg, data, resume)
        self.figures.mkdir(parents=True, exist_ok=True)
        self.models.mkdir(parents=True, exist_ok=True)

    def cached(self, path: Path, compute: Callable[[], object]) -> object:
        """The JSON stored at ``path``, or ``compute()`` written there atomically (the unit of resumption).
        A damaged file is computed again (with a warning); nulls (NaN when computed) are read back as NaN."""
        if path.is_file():
            try:
                return read_json(path, "it is computed again", measurements=True)
            except UnreadableFileError as error:
                logger.warning("%s", error)
        value = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(value, path)
        return value

    def write_results(self, metrics: dict, report: str) -> None:
        write_json_atomic(metrics, self.metrics)
        write_text_atomic(report, self.report)
