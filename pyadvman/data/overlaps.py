"""Held-out images that are also training images: byte-equal copies that make test (or validation) accuracy
measure memory rather than generalisation. Real datasets contain a few; a user's .npz split by hand may hold
many."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:
    from pyadvman.data.splits import DatasetSplits

SHOWN = 5  # indices listed per overlap


_CHUNK_ROWS = 4096  # rows read at a time: memory-mapped data is never read whole


def _rows(images: Tensor) -> list[bytes]:
    """One SHA-256 digest per image (of its dtype's bytes): equal digests are equal images."""
    digests = []
    for start in range(0, images.shape[0], _CHUNK_ROWS):
        chunk = images[start:start + _CHUNK_ROWS].reshape(-1, images[0].numel() if len(images) else 0)
        digests += [hashlib.sha256(row.tobytes()).digest() for row in chunk.contiguous().cpu().numpy()]
    return digests


def training_copies(data: DatasetSplits) -> dict[str, dict]:
    """For the validation and test splits, the images byte-equal to a training image (same dtype and values).

    Returns:
        {split: {"count": int, "of": split size, "first_indices": [its first SHOWN such rows],
        "training_indices": [the training rows they copy]}} for each split with at least one copy; {} when none.
    """
    first_row: dict[bytes, int] = {}
    for index, key in enumerate(_rows(data.train.images)):
        first_row.setdefault(key, index)
    found = {}
    for name in ("validation", "test"):
        split = getattr(data, name)
        if not len(split):
            continue
        copies = [(i, first_row[key]) for i, key in enumerate(_rows(split.images)) if key in first_row]
        if copies:
            found[name] = {"count": len(copies), "of": len(split), "first_indices": [i for i, _ in copies[:SHOWN]],
                           "training_indices": [j for _, j in copies[:SHOWN]]}
    return found


def describe(copies: dict[str, dict]) -> str:
    """The finding of :func:`training_copies` in one sentence (empty when there are none)."""
    parts = [f"{c['count']} of the {c['of']} {name} images are copies of training images ({name} rows "
             f"{c['first_indices']} = training rows {c['training_indices']}{', …' if c['count'] > SHOWN else ''})"
             for name, c in copies.items()]
    if not parts:
        return ""
    return "; ".join(parts) + ": accuracy on them measures memory, not generalisation"
