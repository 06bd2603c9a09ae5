"""Atomic writes: a reader (or a run killed mid-write) sees the old file or the new one, never half of one."""

from __future__ import annotations

import io
import json
import math
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO

import torch


class WriteError(OSError):
    """A file of pyadvman's that could not be written (missing or read-only folder, full disk); the message names
    the file and its folder, and says that the file kept its old content."""


def _temporary_beside(path: Path) -> tuple[int, Path]:
    """A new file beside ``path`` under a random name, opened for writing: created exclusively and never through a
    symlink (O_CREAT | O_EXCL | O_NOFOLLOW), so nothing planted beside ``path`` is followed or overwritten; mode
    0o666 less the umask, as an ordinary file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], object]) -> None:
    """``write`` into a new temporary file beside ``path``, flushed to disk, then renamed over ``path``; on any
    failure the temporary file is removed and ``path`` keeps its old content.

    Raises:
        WriteError: the folder cannot be written (missing, read-only, full), in one line naming the file.
    """
    path = Path(path)
    tmp = None
    try:
        handle, tmp = _temporary_beside(path)
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if not isinstance(error, OSError):
            raise
        reason = error.strerror or " ".join(str(error).split())[:200]
        raise WriteError(f"cannot write {path.name} in {path.parent} ({reason}); the file is unchanged") \
            from error


def save_atomic(state: dict, path: str | Path) -> None:
    """torch.save to memory, then written to a temporary file beside ``path``, flushed to disk and renamed over
    it. Serialising first keeps torch's writer off the disk: a full disk is the operating system's "No space left
    on device", not an internal position mismatch of torch's zip writer.

    Raises:
        WriteError (an OSError): the file cannot be written (e.g. the disk is full); ``path`` keeps its old content.
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, lambda stream: stream.write(buffer.getbuffer()))


def write_text_atomic(text: str, path: str | Path) -> None:
    """Text (UTF-8) written to a temporary file beside ``path``, then renamed over it.

    Raises:
        WriteError (an OSError): the file cannot be written (e.g. the disk is full); ``path`` keeps its old content.
    """
    data = text.encode()
    write_atomic(path, lambda stream: stream.write(data))


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
