"""The files of a training run: config.json, data.json, metrics.jsonl, checkpoints/{last,previous,best}.pt,
final.json, model.pt; and the checks that a folder is not reused for another config or other data by accident."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from pyadvman._atomic import save_atomic, to_json, write_json_atomic, write_text_atomic
from pyadvman._file_reading import load_checkpoint, read_json
from pyadvman.configs import config_from_record, config_record, nested_config_fields
from pyadvman.data.fingerprint import fingerprint_differences
from pyadvman.data.splits import DatasetSplits
from pyadvman.errors import DataError, UnreadableFileError
from pyadvman.folder_lock import LOCK_FILE

logger = logging.getLogger(__name__)

# Files a run writes before it has produced anything (and its writer's lock, pyadvman.folder_lock); a folder
# holding nothing else (but empty files, such as the metrics.jsonl of a run that failed in its first epoch) can be
# reused.
_START_FILES = ("config.json", "data.json", LOCK_FILE)
# an experiment folder's record of who ran each model (pyadvman.experiments.cells): bookkeeping, not a result, so
# a run whose first cell failed at once is started afresh like one that never started
_BOOKKEEPING_DIRS = ("cells",)


# fields that change how fast a run goes or what it warns about, and what it computes only by rounding: a run may
# resume with other values (each epoch's metrics record the compile mode it ran under)
# fields that change where and how fast a run computes, not what: a resumed run may change them (with a warning;
# another device or compile mode can change the last bits of the numbers)
MACHINERY_FIELDS = ("execution.compile", "execution.check_model", "execution.device", "execution.chunk_rows",
                    "checkpoint_minutes", "data_workers")


def _flat(record: dict, nested: Iterable[str]) -> dict:
    """A record with the fields of its nested configs (``nested``: their names) as dotted keys
    ({"execution.compile": ...}); option dicts (dataset_options, ...) stay whole."""
    flat = {}
    for key, value in record.items():
        if key in nested and isinstance(value, dict):
            flat.update({f"{key}.{sub}": sub_value for sub, sub_value in value.items()})
        else:
            flat[key] = value
    return flat


def _as_now(cfg: object, stored: dict) -> dict:
    """A stored config record in the current form (the fields an earlier release wrote under other names, or did
    not have, as they read now); the record itself where it is not a valid config now."""
    try:
        reader = getattr(type(cfg), "from_record", None)
        return config_record(reader(stored) if reader else config_from_record(type(cfg), stored))
    except (TypeError, ValueError):
        return stored


def holds_results(root: Path) -> bool:
    """Whether ``root`` holds a non-empty file besides config.json and data.json (a checkpoint, metrics, a
    figure), anywhere below it except in cells/."""
    return any(True for _ in _results(root))


def _results(root: Path) -> Iterator[Path]:
    """The files of ``root`` that :func:`holds_results` counts."""
    if root.is_dir():
        yield from (p for p in root.rglob("*") if p.is_file() and p.name not in _START_FILES and p.stat().st_size > 0
                    and p.relative_to(root).parts[0] not in _BOOKKEEPING_DIRS)


def data_differences(root: Path, data: DatasetSplits, advice: str) -> list[str]:
    """How ``data`` differ, in words, from the fingerprint the run in ``root`` recorded in data.json (empty when
    they match or the run recorded none).

    Raises:
        UnreadableFileError: a damaged data.json (``advice`` says what to do).
    """
    recorded = root / "data.json"
    return fingerprint_differences(read_json(recorded, advice), data.fingerprint) if recorded.is_file() else []


def start_run(root: Path, cfg: object, data: DatasetSplits, resume: bool) -> None:
    """Creates ``root`` and writes config.json and data.json (the data's fingerprint), refusing to mix runs.

    A folder whose run never produced a result (only config.json / data.json, e.g. a start that failed) is
    reused as if it were empty.

    Raises:
        FileExistsError: the folder holds a run, or other files (without config.json), and resume is False.
        FileNotFoundError: resume of a folder that holds results but no config.json.
        ValueError: resume with a config.json that differs from cfg (the differing fields are named; the
            MACHINERY_FIELDS may differ, with a warning).
        DataError: resume on data whose fingerprint differs from data.json (what differs is named).
        UnreadableFileError: a damaged config.json or data.json.
    """
    record = config_record(cfg)
    config, data_file = root / "config.json", root / "data.json"
    if not config.is_file() and holds_results(root):
        found = sorted(str(p.relative_to(root)) for p in _results(root))[:5]
        if resume:
            raise FileNotFoundError(f"{root} has no config.json, so resuming it with its own config cannot be "
                                    f"checked (it holds {found}); restore config.json or choose another out_dir")
        raise FileExistsError(f"{root} holds files that are not a pyadvman run's ({found}), which a new run would "
                              "overwrite; choose a new or empty out_dir")
    if config.is_file() and holds_results(root):
        advice = "the run folder is damaged: restore the file or choose another out_dir"
        stored = read_json(config, advice)
        if not resume:
            raise FileExistsError(f"{root} already holds a run; pass resume=True (--resume) to continue it, or "
                                  "choose another out_dir")
        nested = nested_config_fields(type(cfg))
        stored, now = _flat(_as_now(cfg, stored), nested), _flat(record, nested)
        changed = sorted(k for k in set(stored) | set(now) if stored.get(k) != now.get(k))
        machinery = [k for k in changed if k in MACHINERY_FIELDS]
        changed = [k for k in changed if k not in MACHINERY_FIELDS]
        if machinery and not changed:
            logger.warning("%s: resuming with other %s (%s)", root, ", ".join(machinery),
                           "; ".join(f"{k}: {stored.get(k)!r} -> {now.get(k)!r}" for k in machinery))
        if changed:
            raise ValueError(f"{root} holds a run with another config (fields {changed} differ); resume with "
                             "the same config or choose another out_dir")
        differences = data_differences(root, data, advice)
        if differences:
            raise DataError(f"{root} was started on other data than given now ({'; '.join(differences)}); "
                            "resume it with the data it started on, or choose another out_dir")
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record, config)
    write_json_atomic(data.fingerprint, data_file)


class RunFolder:
    """Paths of one training run, its checkpoints and its metrics."""

    def __init__(self, out_dir: str | Path) -> None:
        self.root = Path(out_dir)
        self.config = self.root / "config.json"
        self.metrics = self.root / "metrics.jsonl"
        self.last = self.root / "checkpoints" / "last.pt"
        self.previous = self.root / "checkpoints" / "previous.pt"
        self.best = self.root / "checkpoints" / "best.pt"
        self.final = self.root / "final.json"
        self.model = self.root / "model.pt"

    def epoch_checkpoint(self, epoch: int) -> Path:
        """checkpoints/epoch_<epoch>.pt: the weights after ``epoch`` epochs (with TrainConfig.epoch_checkpoints)."""
        return self.root / "checkpoints" / f"epoch_{epoch}.pt"

    def prepare(self, cfg: object, data: DatasetSplits, resume: bool) -> None:
        """Creates the folder and writes config.json and data.json (see :func:`start_run`)."""
        start_run(self.root, cfg, data, resume)
        self.last.parent.mkdir(parents=True, exist_ok=True)

    def save_last(self, state: dict) -> None:
        """Writes checkpoints/last.pt atomically, keeping the one it replaces as previous.pt."""
        if self.last.is_file():
            os.replace(self.last, self.previous)
        save_atomic(state, self.last)

    def load_resumable(self, *, set_aside: bool = True) -> dict | None:
        """The newest readable training checkpoint (on the CPU): last.pt, else previous.pt (with a warning),
        else None when neither exists. With ``set_aside`` (the one process that writes the folder), a damaged
        last.pt is renamed last.pt.damaged when previous.pt takes over, so that the next checkpoint does not
        push the good one out.

        Raises:
            UnreadableFileError: last.pt is damaged and no previous.pt is kept (the message says how to restart).
        """
        restart = (f"no readable checkpoint is kept: delete {self.root / 'checkpoints'} and {self.metrics.name} "
                   "to train from the start, or choose another out_dir")
        fallback = f"the checkpoint before it, {self.previous.name}, takes over"
        damaged = None
        if self.last.is_file():
            try:
                return load_checkpoint(self.last, fallback if self.previous.is_file() else restart)
            except UnreadableFileError as error:
                damaged = error
        if self.previous.is_file():
            saved = load_checkpoint(self.previous, restart)
            if damaged is not None and set_aside:
                os.replace(self.last, self.last.with_name(self.last.name + ".damaged"))
            logger.warning("%s; resuming from %s", damaged or f"{self.last} is missing", self.previous)
            return saved
        if damaged is not None:
            raise damaged
        return None

    def rewrite_metrics(self, history: list[dict]) -> None:
        """metrics.jsonl holds exactly the records of the checkpoint being resumed (drops any written after it)."""
        write_text_atomic("".join(to_json(record) + "\n" for record in history), self.metrics)

    def append_metrics(self, record: dict) -> None:
        with open(self.metrics, "a") as handle:
            handle.write(to_json(record) + "\n")
