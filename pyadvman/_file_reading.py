"""Reading the files pyadvman writes (JSON records, torch checkpoints), with errors that name the damaged file
and what to do instead of a raw unpickling or decoding traceback."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from pyadvman.errors import UnreadableFileError


def nan_for_null(value: object) -> object:
    """value with every None replaced by NaN: measurements written as null (see ``pyadvman._atomic.json_safe``)
    come back as the NaN they were, so a resumed run computes with what an uninterrupted one had."""
    if value is None:
        return float("nan")
    if isinstance(value, dict):
        return {key: nan_for_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [nan_for_null(item) for item in value]
    return value


def require_file(path: Path, what: str) -> None:
    """Checks that ``path`` is a regular file before it is read (a device such as /dev/zero would never end).

    Raises:
        FileNotFoundError: nothing at path. IsADirectoryError: a folder. UnreadableFileError: a device, pipe or
        socket. Each message starts with ``what`` and the path.
    """
    if path.is_file():
        return
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"{what} {str(path)!r} is a folder, not a file")
    raise UnreadableFileError(path, "not a regular file but a device, pipe or socket", f"give the {what} itself")


def read_json(path: str | Path, advice: str, *, measurements: bool = False) -> object:
    """The JSON value stored in ``path``; with ``measurements`` (records of numbers only, no optional fields)
    nulls come back as NaN (:func:`nan_for_null`).

    Raises:
        FileNotFoundError: no such file. UnreadableFileError: invalid JSON (the message gives ``advice``).
    """
    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UnreadableFileError(path, f"invalid JSON: {error}", advice) from None
    return nan_for_null(value) if measurements else value


def read_json_lines(path: str | Path, advice: str) -> list[dict]:
    """The measurement records of a JSON-lines file (one object per line; blank lines skipped; null as NaN).

    Raises:
        FileNotFoundError: no such file. UnreadableFileError: a line that is not JSON (its number is named).
    """
    path = Path(path)
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                records.append(nan_for_null(json.loads(line)))
            except json.JSONDecodeError as error:
                raise UnreadableFileError(path, f"line {number} is not JSON: {error}", advice) from None
    return records


def load_checkpoint(path: str | Path, advice: str) -> dict:
    """``torch.load(path, map_location="cpu", weights_only=True)``: on the CPU, so that a failure can only come
    from the file (never from a full GPU); ``load_state_dict`` moves the values where they belong.

    Raises:
        FileNotFoundError / IsADirectoryError: no such file. UnreadableFileError: a truncated or corrupt file
            (the message gives ``advice``), or a device.
    """
    path = Path(path)
    require_file(path, "checkpoint")
    with open(path, "rb"):  # a file that cannot be opened (permissions) says so, with no advice to delete it
        pass
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 (loading on the CPU, whatever fails comes from the file's bytes)
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "Weights only load failed" in reason:  # torch's advice to unpickle anyway is not ours to give
            reason = "not a torch checkpoint, or one holding objects that pyadvman does not unpickle"
        raise UnreadableFileError(path, f"{type(error).__name__}: {reason}", advice) from None


def load_weights(module: torch.nn.Module, saved: object, key: str, path: str | Path, advice: str) -> None:
    """``module.load_state_dict(saved[key])`` for the checkpoint ``saved`` read from ``path``.

    Raises:
        UnreadableFileError: the checkpoint holds no ``key`` (another kind of file), or weights of another
            architecture or size (the first mismatch is named; the message gives ``advice``).
    """
    if not isinstance(saved, dict) or key not in saved:
        found = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
        raise UnreadableFileError(path, f"it holds no {key!r} (found {found}): not a checkpoint of this kind",
                                  advice)
    try:
        module.load_state_dict(saved[key])
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        first = lines[1] if len(lines) > 1 else lines[0] if lines else type(error).__name__
        raise UnreadableFileError(path, f"its weights do not fit {type(module).__name__} ({first})", advice) from None
