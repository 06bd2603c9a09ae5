"""Train / validation / test splits as float tensors, the form every loader in pyadvman.data returns."""

from __future__ import annotations

from dataclasses import dataclass, replace

from torch import Tensor


@dataclass(frozen=True)
class Split:
    """One split.

    images: Tensor[N, C, H, W] float32 in [0, 1] (may be memory-mapped: FONTS).
    labels: Tensor[N] int64 class indices.
    codes: FONTS only, Tensor[N, 2] int64 (font, letter): the discrete part of the true-manifold code.
    theta: FONTS only, Tensor[N, 6] float32: the transform of each image (pyadvman.manifolds.affine).
    """

    images: Tensor
    labels: Tensor
    codes: Tensor | None = None
    theta: Tensor | None = None

    def __len__(self) -> int:
        return self.labels.shape[0]

    def first(self, n: int) -> Split:
        """The first n examples (the papers train on "the first N training examples").

        Raises:
            ValueError: n < 0 or n > len(self).
        """
        if not 0 <= n <= len(self):
            raise ValueError(f"n must be in [0, {len(self)}] (the split's size), got {n}")
        return self._rows(slice(0, n))

    def split_last(self, n: int, name: str = "n") -> tuple[Split, Split]:
        """(all but the last n examples, the last n): how validation and test sets are held out.

        Raises:
            ValueError: n < 0 or n >= len(self) (nothing would remain); the message names the argument ``name``.
        """
        if not 0 <= n < len(self):
            raise ValueError(f"{name} must be in [0, {len(self)}) (the number of examples it is taken from), "
                             f"got {n}")
        cut = len(self) - n
        return self._rows(slice(0, cut)), self._rows(slice(cut, None))

    def _rows(self, rows: slice) -> Split:
        return replace(self, images=self.images[rows], labels=self.labels[rows],
                       codes=None if self.codes is None else self.codes[rows],
                       theta=None if self.theta is None else self.theta[rows])


@dataclass(frozen=True)
class DatasetSplits:
    """A dataset: name, class names and its three splits.

    prototypes: FONTS only, Tensor[F, L, H, W], the glyphs from which ``FontsRenderer`` renders the data.
    """

    name: str
    classes: tuple[str, ...]
    train: Split
    validation: Split
    test: Split
    prototypes: Tensor | None = None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W)."""
        return tuple(self.train.images.shape[1:])
