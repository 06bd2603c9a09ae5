"""Adversarial transformations (Stutz et al., CVPR 2019, Sec. 4; docs/papers.md §1 "Attacks"): optimise the affine
parameters θ of a spatial transformer applied to the image."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from pyadvman.attacks.code_attack import CodeAttack, CodeSpace
from pyadvman.attacks.old_keywords import accepts_old_spellings
from pyadvman.attacks.threat_models import LinfBall
from pyadvman.data.affine_transforms import IDENTITY_THETA, AffineRanges, warp

# docs/papers.md §1: EMNIST / Fashion-MNIST ranges of the adversarial transformations.
TRANSFORMATION_RANGES = AffineRanges(translation=(-0.15, 0.15), shear=(-0.2, 0.2), scale=(0.85, 1.15),
                                     rotation=(-math.pi / 10, math.pi / 10))


@accepts_old_spellings
@dataclass(frozen=True)
class TransformationAttack(CodeAttack):
    """θ starts at the identity [0, 0, 0, 0, 1, 0]; the image is warped by θ + δ (affine_grid + bilinear
    grid_sample, as FONTS is rendered), ‖δ‖∞ ≤ eta, θ + δ clipped to ``ranges``.

    Args:
        ranges: per-parameter ranges of θ (default: translation ±0.15, shear ±0.2, scale [0.85, 1.15],
            rotation ±π/10, the paper's for EMNIST and Fashion-MNIST).
        eta, protocol, execution: see :class:`CodeAttack` (default eta 0.3).

    ``result.params`` holds the adversarial θ [R, B, 6].
    """

    ranges: AffineRanges = TRANSFORMATION_RANGES

    @contextmanager
    def code_space(self, x: Tensor, y: Tensor) -> Iterator[CodeSpace]:
        low, high = (bound.to(x) for bound in self.ranges.bounds())
        identity = torch.tensor(IDENTITY_THETA, dtype=x.dtype, device=x.device).expand(x.shape[0], 6)

        def render(p: Tensor) -> Tensor:
            restarts = p.shape[0]
            images = warp(x.repeat(restarts, 1, 1, 1), p.flatten(0, 1))
            return images.view(restarts, *x.shape)

        yield CodeSpace(identity, LinfBall(self.eta, low, high), render)
