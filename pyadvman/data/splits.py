"""Train / validation / test splits as float tensors, the form every loader in pyadvman.data returns, and the
two rules that hold out validation and test sets: the last rows (a dataset's official order) or a seeded,
stratified draw (user data, which often arrives sorted by class)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import torch
from torch import Tensor

from pyadvman.errors import DataError

SPLIT_RULES = ("stratified", "ordered")


@dataclass(frozen=True, repr=False)
class Split:
    """One split.

    images: Tensor[N, C, H, W] float32 in [0, 1] (may be memory-mapped: FONTS).
    labels: Tensor[N] int64 class indices.
    codes: FONTS only, Tensor[N, 2] int64 (font, letter): the discrete part of the true-manifold code.
    theta: FONTS only, Tensor[N, 6] float32: the transform of each image (pyadvman.data.affine_transforms).
    """

    images: Tensor
    labels: Tensor
    codes: Tensor | None = None
    theta: Tensor | None = None

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __repr__(self) -> str:
        counts = torch.bincount(self.labels).tolist() if len(self) else []
        return (f"Split({len(self)} examples, images {list(self.images.shape)} {self.images.dtype}, "
                f"examples per class {counts})")

    def first(self, n: int) -> Split:
        """The first n examples (the papers train on "the first N training examples").

        Raises:
            ValueError: n < 0 or n > len(self).
        """
        if not 0 <= n <= len(self):
            raise ValueError(f"n must be in [0, {len(self)}] (the split's size), got {n}")
        return self.rows(slice(0, n))

    def split_last(self, n: int, name: str = "n") -> tuple[Split, Split]:
        """(all but the last n examples, the last n): a dataset's official hold-out.

        Raises:
            ValueError: n < 0 or n >= len(self) (nothing would remain); the message names the argument ``name``.
        """
        _check_size(n, len(self), name)
        cut = len(self) - n
        return self.rows(slice(0, cut)), self.rows(slice(cut, None))

    def split_stratified(self, n: int, name: str = "n", seed: int = 0) -> tuple[Split, Split]:
        """(the rest, n held-out examples), drawn per class in proportion to the class sizes: each class gives
        floor or ceil of n·N_c/N examples (largest remainders first, ties to the lower class). Both parts are in
        a seeded random order, so that ``rest.first(k)`` is a random sample too. Same seed, same split.

        Raises:
            ValueError: n < 0 or n >= len(self); the message names the argument ``name``.
        """
        _check_size(n, len(self), name)
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        labels = self.labels[order]
        quotas = class_quotas(torch.bincount(labels), n)
        rank_in_class = torch.empty_like(labels)
        for label in labels.unique().tolist():
            members = labels == label
            rank_in_class[members] = torch.arange(int(members.sum()))
        held = rank_in_class < quotas[labels]
        return self.rows(order[~held]), self.rows(order[held])

    def theta_range(self) -> tuple[Tensor, Tensor]:
        """Per-dimension (min, max) of θ over the split, two Tensor[6] float32: the box the on-true-manifold
        attack clips θ + δ to (the released code of Stutz et al. clips training attacks to the training set's
        range and test attacks to the test set's).

        Raises:
            ValueError: the split has no θ (not FONTS) or no examples.
        """
        if self.theta is None or len(self) == 0:
            raise ValueError("theta_range needs a FONTS split with examples (codes and θ); this split has "
                             f"{'no θ' if self.theta is None else 'no examples'}")
        return self.theta.amin(dim=0).float(), self.theta.amax(dim=0).float()

    def rows(self, rows: slice | Tensor) -> Split:
        """The examples at ``rows`` (a slice or a Tensor of indices), with their codes and theta."""
        return replace(self, images=self.images[rows], labels=self.labels[rows],
                       codes=None if self.codes is None else self.codes[rows],
                       theta=None if self.theta is None else self.theta[rows])


def _check_size(n: int, size: int, name: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < size:
        raise ValueError(f"{name} must be an integer in [0, {size}) (the number of examples it is taken from), "
                         f"got {n!r}")


def class_quotas(counts: Tensor, n: int) -> Tensor:
    """Per-class counts summing to n in proportion to ``counts`` (Tensor[K] int64): floor(n·c/N) each, plus one
    for the classes with the largest remainders (Hamilton's method), so every class is within one example of
    its exact share. Tensor[K] int64."""
    exact = counts.double() * n / counts.sum()
    quotas = exact.floor().long()
    remainders = exact - quotas
    leftover = n - int(quotas.sum())
    order = sorted(range(len(counts)), key=lambda k: (-float(remainders[k]), k))
    quotas[order[:leftover]] += 1
    return quotas


def split_off(split: Split, n: int, name: str, rule: str, seed: int) -> tuple[Split, Split]:
    """(rest, n held-out examples) by ``rule``: "ordered" takes the last n, "stratified" a seeded draw in
    proportion to the classes (see :meth:`Split.split_stratified`)."""
    if rule == "ordered":
        return split.split_last(n, name)
    return split.split_stratified(n, name, seed)


@dataclass(frozen=True, repr=False)
class DatasetSplits:
    """A dataset: name, class names and its three splits.

    prototypes: FONTS only, Tensor[F, L, H, W], the glyphs from which ``FontsRenderer`` renders the data.
    provenance: how the arrays were read and split (source file, assumed layout, split rule and seed); stored
        in run folders with the data's fingerprint.
    """

    name: str
    classes: tuple[str, ...]
    train: Split
    validation: Split
    test: Split
    prototypes: Tensor | None = None
    provenance: dict = field(default_factory=dict)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        return tuple(self.train.images.shape[1:])

    @functools.cached_property
    def fingerprint(self) -> dict:
        """Counts, shapes, classes and content hashes of the splits (see pyadvman.data.fingerprint); computed
        once per object."""
        from pyadvman.data.fingerprint import data_fingerprint

        return data_fingerprint(self)

    @functools.cached_property
    def training_copies(self) -> dict[str, dict]:
        """Validation and test images that are byte-equal copies of training images, per split (count, first
        indices; see pyadvman.data.overlaps); computed once per object."""
        from pyadvman.data.overlaps import training_copies

        return training_copies(self)

    def __repr__(self) -> str:
        return (f"DatasetSplits({self.name!r}, {len(self.classes)} classes, image shape {self.image_shape}, "
                f"train {len(self.train)} / validation {len(self.validation)} / test {len(self.test)}"
                + (f", {self.provenance}" if self.provenance else "") + ")")


def check_class_coverage(data: DatasetSplits) -> None:
    """Every class has training examples, and every non-empty validation or test split holds every class.

    Raises:
        DataError: labels outside [0, len(classes)), a class without training examples (so also one that only a
            held-out split has), or a held-out split missing a class (the message names the split and classes).
    """
    num_classes = len(data.classes)
    present = {}
    for name in ("train", "validation", "test"):
        labels = getattr(data, name).labels
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise DataError(f"{data.name}: {name} labels must lie in [0, {num_classes}) ({num_classes} classes), "
                            f"got [{int(labels.min())}, {int(labels.max())}]")
        present[name] = set(labels.unique().tolist())
    missing = sorted(set(range(num_classes)) - present["train"])
    if missing:
        raise DataError(f"{data.name}: classes {missing} have no training examples; every class needs some")
    for name in ("validation", "test"):
        if not present[name]:
            continue
        lacking = sorted(present["train"] - present[name])
        if lacking:
            raise DataError(f"{data.name}: the {name} split ({len(getattr(data, name))} examples) lacks classes "
                            f"{lacking}: every split must hold every class; give more examples per class or a larger "
                            f"{name}_size")
