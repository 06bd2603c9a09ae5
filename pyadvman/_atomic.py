"""Atomic writes: a reader (or a run killed mid-write) sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch


def save_atomic(state: dict, path: str | Path) -> None:
    """torch.save to a temporary file beside ``path``, flushed to disk, then renamed over it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_text_atomic(text: str, path: str | Path) -> None:
    """Text written to a temporary file beside ``path``, then renamed over it."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json_atomic(payload: object, path: str | Path) -> None:
    """JSON (indented) written the same way."""
    write_text_atomic(json.dumps(payload, indent=2) + "\n", path)
