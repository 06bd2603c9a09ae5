"""The errors pyadvman raises for a user's mistakes, so that the command line can print them as one line while
internal errors keep their traceback.

Every message names what is wrong (an option, a file, an array), what was expected and what was received.
All of them derive from ValueError or FloatingPointError, so ``except ValueError`` keeps working, except three that
are not a mistake in the input: a missing optional dependency (ImportError), a study's cell whose worker kept
dying (RuntimeError) and a folder that another process is writing (OSError).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class ConfigError(ValueError):
    """A config field with an invalid value.

    Attributes:
        field: the field's name (``validation_examples``); the command line shows it as ``--validation-examples``.
        expected: what the field must be, in words. got: the value received.
    """

    def __init__(self, field: str, expected: str, got: object) -> None:
        self.field, self.expected, self.got = field, expected, got
        super().__init__(f"{field} must be {expected}, got {got!r}")

    def __reduce__(self):  # pickled with its fields (a Ray worker's error reaches the driver so)
        return type(self), (self.field, self.expected, self.got)

    def as_option(self) -> str:
        """The message with the field written as its command-line option."""
        return f"--{self.field.replace('_', '-')} must be {self.expected}, got {self.got!r}"


def check_fields(checks: Iterable[tuple[bool, str, str, object]]) -> None:
    """Raises ConfigError for the first (ok, field, expected, got) whose ok is False."""
    for ok, name, expected, got in checks:
        if not ok:
            raise ConfigError(name, expected, got)


class DataError(ValueError):
    """Data that cannot be used as given: arrays with NaN, an ambiguous layout, splits without a class, data
    that differ from a run's. The message names the file or argument."""


class UnreadableFileError(DataError):
    """A file that exists but cannot be read (truncated, corrupt, not the expected format).

    Attributes:
        path: the file. reason: what reading it reported. advice: what to do about it.
    """

    def __init__(self, path: str | Path, reason: str, advice: str) -> None:
        self.path, self.reason, self.advice = Path(path), reason, advice
        super().__init__(f"{path} cannot be read ({reason}); {advice}")

    def __reduce__(self):
        return type(self), (self.path, self.reason, self.advice)


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or weights; the run stops with its last good checkpoint kept."""


class MissingDependencyError(ImportError):
    """An optional dependency that a requested feature needs is not installed; the message gives the command
    that installs it."""


class CellLostError(RuntimeError):
    """A cell of a study's grid could not finish because its worker died more often than the executor retries;
    what it finished is in the run folder, and ``--resume`` continues it."""


class WorkerLoadError(RuntimeError):
    """A worker process of the local executor could not load a cell's job or the study's shared object (e.g. a
    job defined in ``__main__`` or in a module that only the driver can import)."""


class FolderInUseError(OSError):
    """A run folder (or AutoAttack state folder) that another live process is writing: its lock file names the
    process (pid, host, command, start time); nothing was written."""
