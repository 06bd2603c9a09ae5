"""Tiny datasets for the experiments: FONTS from matplotlib's DejaVu faces at 16×16 (a true manifold) and a
user .npz of 16×16 patterns (learned manifold)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from pyadvman.data.font_files import package_font_files
from pyadvman.experiments.report import fmt


@pytest.fixture(scope="session")
def tiny_fonts(tmp_path_factory) -> dict:
    """dataset_options of a FONTS set of the DejaVu faces: 16×16, 30 transforms (24 train, 2 val, 4 test)."""
    folder = tmp_path_factory.mktemp("fonts")
    for path in package_font_files():
        if "matplotlib" in str(path) and path.name.startswith("DejaVu") and path.suffix == ".ttf":
            shutil.copy(path, folder / path.name)
    return {"preset": "default", "font_dirs": [str(folder)], "system_fonts": False, "transforms": 30,
            "test_transforms": 4, "validation_transforms": 2, "size": 16, "progress": False,
            "cache_dir": str(tmp_path_factory.mktemp("cache"))}


@pytest.fixture(scope="session")
def patterns_npz(tmp_path_factory):
    """A user .npz: 1,000 uint8 16×16 images of 3 classes (a bright bar whose position gives the class)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 1000)
    images = rng.integers(0, 80, (1000, 16, 16))
    for k in range(3):
        rows = labels == k
        images[rows, 2 + 5 * k:5 + 5 * k, 2:14] += 150
    path = tmp_path_factory.mktemp("npz") / "patterns.npz"
    np.savez(path, images=images.astype(np.uint8), labels=labels)
    return path


def npz_options(path) -> dict:
    return {"path": str(path), "test_size": 150, "validation_size": 100}


def section(report: str, heading: str) -> str:
    """The text of the report from ``heading`` to the next heading of the same level."""
    start = report.index(heading)
    following = re.search(r"\n## ", report[start + len(heading):])
    return report[start:start + len(heading) + following.start()] if following else report[start:]


def assert_row(text: str, *cells) -> None:
    """A table row that starts with these cells (floats formatted as the report formats them)."""
    row = "| " + " | ".join(fmt(c) if isinstance(c, float) or c is None else str(c) for c in cells)
    assert row in text, f"row {row!r} not in:\n{text}"


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, path
