"""Where generated data is cached: ``$PYADVMAN_CACHE``, else ``~/.cache/pyadvman``."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def cache_root(override: str | Path | None = None) -> Path:
    """The cache folder (created): ``override``, else ``$PYADVMAN_CACHE``, else ``~/.cache/pyadvman``."""
    root = Path(override or os.environ.get("PYADVMAN_CACHE") or Path.home() / ".cache" / "pyadvman")
    root = root.expanduser()
    if root.exists() and not root.is_dir():
        source = "the cache_dir option" if override else "PYADVMAN_CACHE" if os.environ.get("PYADVMAN_CACHE") else \
            "the default cache"
        raise NotADirectoryError(f"{root} ({source}) is a file: the data cache needs a folder there")
    root.mkdir(parents=True, exist_ok=True)
    return root


def content_key(payload: object) -> str:
    """A short stable hash of a JSON-serialisable description (what a cached result depends on)."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
