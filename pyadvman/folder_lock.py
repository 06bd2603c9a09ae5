"""One writer per folder: a run folder (training, a study) or an AutoAttack state folder is written by one process
at a time. The owner holds an advisory lock (``fcntl.flock``) on ``FOLDER/.lock``, which also names it (pid,
host, command, start time). The kernel drops the lock when its process dies, however it dies, so a lock left by
a dead process is taken over (with a warning that names it); a live owner makes a second writer, or a
``--resume`` of the live run, fail at once with FolderInUseError. ``waiting_lock`` is the other kind: processes
that would all create the same cache entry wait for the first one instead of failing."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pyadvman.errors import FolderInUseError

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None

logger = logging.getLogger(__name__)

LOCK_FILE = ".lock"
_held: dict[Path, int] = {}  # folders this process holds, with their nesting depth (re-entrant)


def _owner(fd: int) -> dict | None:
    """The owner recorded in an open lock file, None when it is empty or unreadable."""
    text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    try:
        owner = json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
    return owner if isinstance(owner, dict) else None


def _describe(owner: dict | None) -> str:
    if not owner:
        return "another process"
    return (f"pid {owner.get('pid')} on {owner.get('host')} (`{owner.get('command')}`, since "
            f"{owner.get('started')})")


def _is_main_process() -> bool:
    """Under torchrun only rank 0 writes the run folder, so only it holds the lock."""
    return os.environ.get("RANK", "0") in ("", "0")


@contextmanager
def folder_lock(folder: str | Path, what: str) -> Iterator[None]:
    """Holds ``folder``'s lock while the block runs; re-entrant within one process. A folder it creates is
    removed again when nothing but the lock was written to it.

    Args:
        folder: the folder written. what: what writes it, for the messages ("training run", "claims study").

    Raises:
        FolderInUseError: a live process holds the lock (named in the message).
    """
    folder = Path(folder)
    key = folder.resolve()
    if fcntl is None or not _is_main_process():
        yield
        return
    if key in _held:  # this process holds it already: a nested call shares the hold
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    created = not folder.exists()
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file: the {what} needs a folder there")
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderInUseError(f"{folder} is being written by {_describe(_owner(fd))}: a {what} has one "
                                   "writer at a time; wait for it to finish (then --resume continues it), or "
                                   "choose another folder") from None
        left = _owner(fd)
        if left:
            logger.warning("%s: taking over the lock of %s, which ended without releasing it", folder,
                           _describe(left))
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)[:300],
              "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock
        if created:
            _remove_if_only_the_lock(folder)


def _remove_if_only_the_lock(folder: Path) -> None:
    """A folder this lock created and nothing else wrote (a start that failed at once) is removed again."""
    try:
        if os.listdir(folder) == [LOCK_FILE]:
            (folder / LOCK_FILE).unlink()
            folder.rmdir()
    except OSError:
        pass


@contextmanager
def waiting_lock(path: str | Path) -> Iterator[None]:
    """Holds an advisory lock on the file ``path`` (created, never removed) while the block runs, waiting as long
    as another process holds it: for work that processes starting at once should do only once (a cache entry),
    where :func:`folder_lock` refuses a second writer instead. Not re-entrant; without ``fcntl`` it does not lock.

    Raises:
        OSError: ``path`` cannot be created or opened.
    """
    if fcntl is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("%s: waiting for another process to finish the same work", path)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock
