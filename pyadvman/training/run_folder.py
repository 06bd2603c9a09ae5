"""The files of a training run: config.json, metrics.jsonl, checkpoints/{last,best}.pt, final.json, model.pt."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from pyadvman._atomic import write_json_atomic, write_text_atomic


def config_record(cfg: object) -> dict:
    """cfg (a config dataclass) as JSON-compatible data (tuples become lists), the form stored in config.json."""
    return json.loads(json.dumps(asdict(cfg)))


def write_config(root: Path, cfg: object, resume: bool) -> None:
    """Creates ``root`` and writes config.json, refusing to reuse a folder by accident.

    Raises:
        FileExistsError: the folder holds a run and resume is False.
        ValueError: resume with a config.json that differs from cfg.
    """
    record = config_record(cfg)
    config = root / "config.json"
    if config.is_file():
        stored = json.loads(config.read_text())
        if not resume:
            raise FileExistsError(f"{root} already holds a run; pass resume=True (--resume) to continue it, or "
                                  "choose another out_dir")
        if stored != record:
            changed = sorted(k for k in set(stored) | set(record) if stored.get(k) != record.get(k))
            raise ValueError(f"{root} holds a run with another config (fields {changed} differ); resume with "
                             "the same config or choose another out_dir")
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record, config)


class RunFolder:
    """Paths of one run, and the check that a folder is not reused for another config by accident."""

    def __init__(self, out_dir: str | Path) -> None:
        self.root = Path(out_dir)
        self.config = self.root / "config.json"
        self.metrics = self.root / "metrics.jsonl"
        self.last = self.root / "checkpoints" / "last.pt"
        self.best = self.root / "checkpoints" / "best.pt"
        self.final = self.root / "final.json"
        self.model = self.root / "model.pt"

    def epoch_checkpoint(self, epoch: int) -> Path:
        """checkpoints/epoch_<epoch>.pt: the weights after ``epoch`` epochs (with TrainConfig.epoch_checkpoints)."""
        return self.root / "checkpoints" / f"epoch_{epoch}.pt"

    def prepare(self, cfg: object, resume: bool) -> None:
        """Creates the folder and writes config.json (see :func:`write_config`)."""
        write_config(self.root, cfg, resume)
        self.last.parent.mkdir(parents=True, exist_ok=True)

    def rewrite_metrics(self, history: list[dict]) -> None:
        """metrics.jsonl holds exactly the records of the checkpoint being resumed (drops any written after it)."""
        write_text_atomic("".join(json.dumps(record) + "\n" for record in history), self.metrics)

    def append_metrics(self, record: dict) -> None:
        with open(self.metrics, "a") as handle:
            handle.write(json.dumps(record) + "\n")
