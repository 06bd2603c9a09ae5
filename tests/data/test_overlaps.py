"""Held-out images that copy training images are found (count, first indices) and reported, not refused."""

from __future__ import annotations

import json
import logging

import numpy as np
import torch

from pyadvman.cli import main
from pyadvman.data.overlaps import describe, training_copies
from pyadvman.data.splits import DatasetSplits, Split


def _brute_force(held_out: torch.Tensor, train: torch.Tensor) -> list[tuple[int, int]]:
    pairs = []
    for i, image in enumerate(held_out):
        matches = [j for j, other in enumerate(train) if torch.equal(image, other)]
        if matches:
            pairs.append((i, matches[0]))
    return pairs


def test_copies_match_a_brute_force_search() -> None:
    generator = torch.Generator().manual_seed(0)
    train = torch.randint(0, 3, (40, 1, 2, 2), generator=generator, dtype=torch.uint8)  # some repeat by chance
    test = torch.cat([train[[7, 3, 7]], torch.randint(0, 3, (20, 1, 2, 2), generator=generator, dtype=torch.uint8)])
    labels = torch.zeros(len(train), dtype=torch.long)
    data = DatasetSplits("toy", ("a",), Split(train, labels), Split(train[:0], labels[:0]),
                         Split(test, torch.zeros(len(test), dtype=torch.long)))
    expected = _brute_force(test, train)
    found = training_copies(data)
    assert list(found) == ["test"] and found["test"]["count"] == len(expected) >= 3
    assert found["test"]["first_indices"] == [i for i, _ in expected[:5]]
    assert found["test"]["training_indices"] == [j for _, j in expected[:5]]
    assert describe(found).startswith(f"{len(expected)} of the 23 test images are copies of training images (test "
                                      f"rows {found['test']['first_indices']} = training rows "
                                      f"{found['test']['training_indices']}, …)")
    distinct = DatasetSplits("toy", ("a",), Split(train[:1], labels[:1]), Split(train[:0], labels[:0]),
                             Split(train[1:2] + 1, labels[:1]))
    assert training_copies(distinct) == {} and describe({}) == ""


def test_a_test_split_made_of_training_images_is_reported_by_data_and_train(tmp_path, capsys, caplog) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (120, 6, 6), dtype=np.uint8)
    labels = np.arange(120) % 2
    np.savez(tmp_path / "leaky.npz", images=images, labels=labels, test_images=images[:30], test_labels=labels[:30])
    options = json.dumps({"path": str(tmp_path / "leaky.npz"), "validation_size": 0})  # all 120 train
    assert main(["data", "npz", "--dataset-options", options]) == 0
    copies = json.loads(capsys.readouterr().out)["findings"]["training_copies"]
    assert copies["test"]["count"] == 30 and copies["test"]["of"] == 30
    assert "30 of the 30 test images are copies of training images" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pyadvman"):
        assert main(["train", "--preset", "quick", "--out", str(tmp_path / "run"), "--dataset", "npz",
                     "--dataset-options", options, "--epochs", "1", "--eval-examples", "0", "--batch-size", "20",
                     "--model-options", '{"channels": 2}', "--selection", "last", "--no-progress"]) == 0
    assert "30 of the 30 test images are copies of training images" in caplog.text
