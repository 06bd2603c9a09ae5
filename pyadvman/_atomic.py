"""Atomic writes: a reader (or a run killed mid-write) sees the old file or the new one, never half of one."""

from __future__ import annotations

import json
import math
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


def json_safe(payload: object) -> object:
    """payload with every NaN or infinite float replaced by None: JSON has no NaN (``json.dumps`` would write a
    bare ``NaN`` that strict readers reject), and null says "not measured" (e.g. accuracy on an empty split)."""
    if isinstance(payload, float):
        return payload if math.isfinite(payload) else None
    if isinstance(payload, dict):
        return {key: json_safe(value) for key, value in payload.items()}
    if isinstance(payload, (list, tuple)):
        return [json_safe(value) for value in payload]
    return payload


def to_json(payload: object, indent: int | None = None) -> str:
    """Strict JSON of payload (non-finite floats as null, see :func:`json_safe`)."""
    return json.dumps(json_safe(payload), indent=indent, allow_nan=False)


def write_json_atomic(payload: object, path: str | Path) -> None:
    """JSON (indented, non-finite floats as null) written the same way."""
    write_text_atomic(to_json(payload, indent=2) + "\n", path)
