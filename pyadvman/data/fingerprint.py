"""A dataset's fingerprint (counts, shapes, classes, content hashes), stored in run folders so that a resumed
run refuses data that changed since it started."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from pyadvman.data.splits import DatasetSplits

_CHUNK_ROWS = 8192  # rows hashed at a time: memory-mapped data is read in pieces, never copied whole


def tensor_sha256(tensor: Tensor) -> str:
    """SHA-256 of a tensor's values (C order, its dtype's bytes) and shape, hex; tensor Tensor[N, ...]."""
    digest = hashlib.sha256(f"{tensor.dtype} {list(tensor.shape)}".encode())
    for start in range(0, tensor.shape[0], _CHUNK_ROWS):
        piece = tensor[start:start + _CHUNK_ROWS].detach().cpu().numpy()
        digest.update(np.ascontiguousarray(piece))  # the buffer itself, not a bytes copy
    return digest.hexdigest()


def data_fingerprint(data: DatasetSplits) -> dict:
    """{"name", "classes", "image_shape", "provenance", "splits": {split: {"count", "examples_per_class",
    "sha256"}}}: JSON-ready. The hash covers images and labels (and FONTS codes and θ) of each split."""
    splits = {}
    for name in ("train", "validation", "test"):
        split = getattr(data, name)
        digest = hashlib.sha256()
        for part in (split.images, split.labels, split.codes, split.theta):
            if part is not None:
                digest.update(tensor_sha256(part).encode())
        splits[name] = {"count": len(split),
                        "examples_per_class": torch.bincount(split.labels, minlength=len(data.classes)).tolist(),
                        "sha256": digest.hexdigest()}
    return {"name": data.name, "classes": list(data.classes), "image_shape": list(data.image_shape),
            "provenance": data.provenance, "splits": splits}


def fingerprint_differences(stored: dict, current: dict) -> list[str]:
    """What differs between two fingerprints, in words (empty when they match)."""
    differences = []
    for key in ("name", "classes", "image_shape"):
        if stored.get(key) != current.get(key):
            differences.append(f"{key} {stored.get(key)} vs {current.get(key)}")
    for split, now in current["splits"].items():
        then = stored.get("splits", {}).get(split, {})
        for key in ("count", "examples_per_class"):
            if then.get(key) != now[key]:
                differences.append(f"{split} {key} {then.get(key)} vs {now[key]}")
        if then.get("sha256") != now["sha256"] and then.get("count") == now["count"]:
            differences.append(f"{split} content (sha256 {str(then.get('sha256'))[:12]}… vs {now['sha256'][:12]}…)")
    return differences
