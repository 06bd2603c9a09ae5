"""Random crops and flips against a per-image reference, their seeding, and the CIFAR learning-rate schedules."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pyadvman.training import train_config
from pyadvman.training.augmentation import augment, crop_flip


def _reference(image: torch.Tensor, row: int, column: int, flip: bool) -> torch.Tensor:
    """One image as torchvision's RandomCrop(size, padding=4) + RandomHorizontalFlip compute it."""
    padded = F.pad(image, (4, 4, 4, 4))
    crop = padded[:, row:row + image.shape[1], column:column + image.shape[2]]
    return crop.flip(-1) if flip else crop


def test_crop_flip_equals_the_per_image_reference() -> None:
    images = torch.rand(9, 3, 7, 5)
    rows = torch.tensor([0, 8, 4, 1, 7, 3, 4, 0, 8])
    columns = torch.tensor([8, 0, 4, 2, 6, 5, 4, 0, 8])
    flips = torch.tensor([True, False, False, True, True, False, True, True, False])
    out = crop_flip(images, rows, columns, flips)
    for b in range(9):
        torch.testing.assert_close(out[b], _reference(images[b], int(rows[b]), int(columns[b]), bool(flips[b])))
    assert torch.equal(out[2], images[2])  # offset (4, 4), no flip: the image itself


def test_augment_is_seeded_and_none_is_the_identity() -> None:
    images = torch.rand(64, 3, 8, 8)
    assert augment(images, "none", 0) is images
    first, again, other = (augment(images, "crop-flip", seed) for seed in (3, 3, 4))
    assert torch.equal(first, again) and not torch.equal(first, other)
    with pytest.raises(ValueError, match="augmentation must be one of"):
        augment(images, "mixup", 0)


def test_each_augmented_image_is_one_crop_and_flip_and_both_flips_occur() -> None:
    images = torch.rand(64, 1, 6, 6) + 0.1  # no zero pixels: the padding is told apart
    augmented = augment(images, "crop-flip", 11)
    flips, offsets = [], set()
    for b in range(64):
        found = [(r, c, f) for r in range(9) for c in range(9) for f in (False, True)
                 if torch.equal(augmented[b], _reference(images[b], r, c, f))]
        assert len(found) == 1
        flips.append(found[0][2])
        offsets.add(found[0][:2])
    assert 16 <= sum(flips) <= 48 and len(offsets) > 20


def test_piecewise_and_cosine_schedules() -> None:
    piecewise = train_config("cifar10")
    assert [piecewise.lr_at(e, 0, 391) for e in (0, 99, 100, 149, 150, 199)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    cosine = train_config("cifar10", lr_schedule="cosine", epochs=10)
    assert cosine.lr_at(0, 0, 4) == pytest.approx(0.1)
    assert cosine.lr_at(5, 0, 4) == pytest.approx(0.05)
    assert cosine.lr_at(7, 2, 4) == pytest.approx(0.1 * (1 + math.cos(math.pi * 7.5 / 10)) / 2)


def test_augmentation_is_refused_where_it_breaks_the_fonts_codes() -> None:
    with pytest.raises(ValueError, match="augmentation must be 'none' for on_true_manifold"):
        train_config("quick", objective="on_true_manifold", augmentation="crop-flip")


def test_the_shards_of_a_batch_draw_what_the_whole_batch_draws() -> None:
    """Under DDP each process augments rows rank::world of the global batch: together they draw what one process
    draws for the whole batch, so the crops do not depend on the number of processes."""
    images = torch.rand(10, 3, 8, 8)
    whole = augment(images, "crop-flip", 7)
    for world in (2, 3):
        for rank in range(world):
            shard = augment(images[rank::world], "crop-flip", 7, batch=10, rank=rank, world=world)
            assert torch.equal(shard, whole[rank::world])
