"""A small synthetic .npz dataset (4 classes of 8×8 images, a bright block per class) and a tiny config."""

from __future__ import annotations

import numpy as np
import pytest

from pyadvman.training import TrainConfig


def write_blocks_npz(path, n: int = 1400, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.integers(0, 90, (n, 8, 8))
    for k in range(4):
        rows = labels == k
        r, c = divmod(k, 2)
        images[rows, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 140
    np.savez(path, images=images.astype(np.uint8), labels=labels)


@pytest.fixture
def blocks(tmp_path):
    path = tmp_path / "blocks.npz"
    write_blocks_npz(path)
    return path


def tiny_config(npz, **overrides) -> TrainConfig:
    base = {"dataset": "npz", "dataset_options": {"path": str(npz), "test_size": 200, "validation_size": 200},
            "model": "standard", "model_options": {"channels": 4}, "epochs": 2, "batch_size": 20, "epsilon": 0.1,
            "train_attack": {"steps": 2}, "validation_examples": 100, "validation_attack": {"steps": 2},
            "eval_examples": 50, "eval_attack": {"steps": 3, "restarts": 1}, "checkpoint_minutes": 60.0}
    return TrainConfig(**{**base, **overrides})
