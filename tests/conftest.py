"""Shared test set-up: the tests run against the installed, compiled package; CUDA cases skip cleanly."""

from __future__ import annotations

import os

import pytest
import torch

import pyadvman

HAS_CUDA = torch.cuda.is_available() and bool(pyadvman.build_info().get("cuda"))

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one torch thread per test worker: the workers share the cores, and two processes of torch's default
    # thread count each would oversubscribe them (OpenMP threads spinning on each other's cores)
    torch.set_num_threads(1)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not pyadvman.library_loaded():
        raise pytest.UsageError(
            "pyadvman's compiled library is not loaded, so the tests would only exercise the fallback: "
            f"{pyadvman.build_info().get('error')}. Install the package first (see README)."
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="needs a CUDA device and a CUDA build of pyadvman")
    for item in items:
        if "cuda" in item.keywords and not HAS_CUDA:
            item.add_marker(skip)
