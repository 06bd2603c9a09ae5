"""Reading the files pyadvman writes (JSON records, torch checkpoints), with errors that name the damaged file
and what to do instead of a raw unpickling or decoding traceback."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import torch

from pyadvman.errors import UnreadableFileError


def read_json(path: str | Path, advice: str) -> object:
    """The JSON value stored in ``path``.

    Raises:
        FileNotFoundError: no such file. UnreadableFileError: invalid JSON (the message gives ``advice``).
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UnreadableFileError(path, f"invalid JSON: {error}", advice) from None


def read_json_lines(path: str | Path, advice: str) -> list[dict]:
    """The records of a JSON-lines file (one object per line; blank lines skipped).

    Raises:
        FileNotFoundError: no such file. UnreadableFileError: a line that is not JSON (its number is named).
    """
    path = Path(path)
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise UnreadableFileError(path, f"line {number} is not JSON: {error}", advice) from None
    return records


def load_checkpoint(path: str | Path, advice: str, map_location: str | torch.device = "cpu") -> dict:
    """``torch.load(path, weights_only=True)``.

    Raises:
        FileNotFoundError: no such file. UnreadableFileError: a truncated or corrupt file (the message gives
            ``advice``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, pickle.UnpicklingError,
            zipfile.BadZipFile) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UnreadableFileError(path, f"{type(error).__name__}: {reason}", advice) from None
