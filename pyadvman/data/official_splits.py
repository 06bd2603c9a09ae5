"""Datasets published with a training and a test set (CIFAR, SVHN, an image folder with train/ and test/): the
test set is kept as published and the validation split is drawn from the training set."""

from __future__ import annotations

from pyadvman.data.splits import SPLIT_RULES, DatasetSplits, Split, check_class_coverage, split_off
from pyadvman.errors import DataError


def check_split_rule(split: str, split_seed: int) -> None:
    """Raises DataError unless ``split`` is one of SPLIT_RULES and ``split_seed`` an integer >= 0."""
    if split not in SPLIT_RULES:
        raise DataError(f"split must be one of {SPLIT_RULES}, got {split!r}")
    if isinstance(split_seed, bool) or not isinstance(split_seed, int) or split_seed < 0:
        raise DataError(f"split_seed must be an integer >= 0, got {split_seed!r}")


def with_validation(name: str, classes: tuple[str, ...], train: Split, test: Split, *, validation_size: int,
                    split: str, split_seed: int, provenance: dict, draw: int = 0) -> DatasetSplits:
    """DatasetSplits(name) with ``validation_size`` examples of ``train`` held out by ``split`` ("ordered": the
    last ones, "stratified": a draw per class seeded with split_seed + ``draw``, so that a test set drawn before
    with split_seed is another draw) and ``test`` as given; the classes are checked.

    Raises:
        ValueError: validation_size outside [0, len(train)). DataError: a split that lacks a class.
    """
    check_split_rule(split, split_seed)
    train, validation = split_off(train, validation_size, "validation_size", split, split_seed + draw)
    provenance = {**provenance, "split": split, **({"split_seed": split_seed} if split == "stratified" else {})}
    data = DatasetSplits(name, classes, train, validation, test, provenance=provenance)
    check_class_coverage(data)
    return data
