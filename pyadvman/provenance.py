"""Where a result came from: the pyadvman that made it (version, a fingerprint of its Python sources and, when
those are a git checkout's, its commit and whether the checkout had uncommitted changes), torch, the thread count,
the CPU and GPU, and the date. Studies write it into metrics.json, so a committed result names the code and the
machine behind every number.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import torch


@functools.cache
def source_fingerprint(root: Path | None = None) -> str:
    """The first 12 hex digits of the SHA-256 of pyadvman's Python sources under ``root`` (default: the imported
    package), path and content of every .py file in order: two copies with the same fingerprint run the same
    Python code (the version does not change between commits)."""
    if root is None:
        import pyadvman

        root = Path(pyadvman.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


# what "dirty" looks at: the package's sources and what builds them (docs and tests do not change a result)
CODE_PATHS = ("pyadvman", "csrc", "cmake", "CMakeLists.txt", "pyproject.toml")


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_checkout() -> dict:
    """The git commit of the sources pyadvman runs from: the checkout that holds the imported package, or else the
    current directory's checkout when its pyadvman/ has the imported package's source fingerprint (pyadvman
    installed from it). {"commit": hex or None, "dirty": whether the code (CODE_PATHS, untracked files included)
    differs from the commit (None when unknown)}."""
    import pyadvman

    package = Path(pyadvman.__file__).resolve().parent
    for folder in (package, Path.cwd()):
        top = _git(folder, "rev-parse", "--show-toplevel")
        if top is None or not (Path(top) / "pyadvman" / "__init__.py").is_file():
            continue
        if Path(top).resolve() / "pyadvman" != package and \
                source_fingerprint(Path(top) / "pyadvman") != source_fingerprint():
            continue
        status = _git(Path(top), "status", "--porcelain", "--", *CODE_PATHS)
        return {"commit": _git(Path(top), "rev-parse", "HEAD"), "dirty": None if status is None else bool(status)}
    return {"commit": None, "dirty": None}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(**extra: object) -> dict:
    """The provenance of a result made now: {"pyadvman", "sources", "commit", "dirty", "torch", "python",
    "threads" (torch's intra-op threads), "cpu", "gpu" (the CUDA device's name, or None), "date" (UTC, ISO 8601)}
    and ``extra`` (e.g. the criteria's version)."""
    import pyadvman

    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"pyadvman": pyadvman.__version__, "sources": source_fingerprint(), **git_checkout(),
            "torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
            "cpu": _cpu(), "gpu": gpu, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra}


def portable_fingerprint(fingerprint: dict) -> dict:
    """A dataset fingerprint as results store it: its provenance's "source" (a path on the machine that ran) cut to
    the file or folder name, so that committed results hold no machine path."""
    source = fingerprint.get("provenance", {}).get("source")
    if source is None:
        return fingerprint
    return {**fingerprint, "provenance": {**fingerprint["provenance"], "source": Path(source).name}}
