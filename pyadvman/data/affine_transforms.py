"""The 6-parameter affine transform of FONTS (docs/papers.md §1): θ = [tx, ty, shear_x, shear_y, scale, rotation].

One definition serves the FONTS renderer (the true manifold), dataset generation and, later, the spatial
transformer of adversarial-transformation attacks, so all of them warp images identically.

Convention: ``affine_grid`` + bilinear ``grid_sample`` with ``align_corners=True`` (the behaviour of the
PyTorch 0.4 used by the paper's code), zero padding, output clamped to [0, 1]. Translation is in the
normalised grid units of ``affine_grid``: ±1 are the centres of the border pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

THETA_NAMES = ("tx", "ty", "shear_x", "shear_y", "scale", "rotation")
IDENTITY_THETA = (0.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass(frozen=True)
class AffineRanges:
    """Uniform sampling ranges of θ; every bound is (low, high).

    translation: normalised grid units; shear: λ (dimensionless); scale: relative size; rotation: radians.
    """

    translation: tuple[float, float]
    shear: tuple[float, float]
    scale: tuple[float, float]
    rotation: tuple[float, float]

    def bounds(self) -> tuple[Tensor, Tensor]:
        """(low, high), each Tensor[6] float32 in θ order ``THETA_NAMES``."""
        pairs = (self.translation, self.translation, self.shear, self.shear, self.scale, self.rotation)
        low = torch.tensor([p[0] for p in pairs], dtype=torch.float32)
        high = torch.tensor([p[1] for p in pairs], dtype=torch.float32)
        return low, high

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n transforms drawn independently and uniformly: Tensor[n, 6] float32."""
        low, high = self.bounds()
        return low + (high - low) * torch.rand(n, 6, generator=generator, dtype=torch.float32)


# docs/papers.md §1, table of θ presets.
THETA_PRESETS: dict[str, AffineRanges] = {
    "easy": AffineRanges((-0.1, 0.1), (-0.2, 0.2), (0.9, 1.1), (-math.pi / 6, math.pi / 6)),
    "moderate": AffineRanges((-0.2, 0.2), (-0.4, 0.4), (0.85, 1.15), (-2 * math.pi / 6, 2 * math.pi / 6)),
    "hard": AffineRanges((-0.2, 0.2), (-0.5, 0.5), (0.75, 1.15), (-math.pi / 2, math.pi / 2)),
}


def theta_preset(name: str) -> AffineRanges:
    """The ranges of preset ``name`` ("easy", "moderate" or "hard", case-insensitive).

    Raises:
        ValueError: an unknown name.
    """
    key = name.lower()
    if key not in THETA_PRESETS:
        raise ValueError(f"theta preset must be one of {sorted(THETA_PRESETS)}, got {name!r}")
    return THETA_PRESETS[key]


def affine_matrix(theta: Tensor) -> Tensor:
    """The 2×3 matrices of θ (docs/papers.md §1), differentiable.

    Args:
        theta (Tensor[..., 6]): [tx, ty, shear_x, shear_y, scale, rotation], floating point.

    Returns:
        Tensor[..., 2, 3]: ``[[c·s − n·s·λx, −n·s + c·s·λx, tx], [c·s·λy + n·s, −n·s·λy + c·s, ty]]`` with
        c = cos r, n = sin r.

    Raises:
        ValueError: theta's last dimension is not 6.
    """
    if theta.shape[-1:] != (6,):
        raise ValueError(f"theta must have shape [..., 6], got {list(theta.shape)}")
    tx, ty, shear_x, shear_y, scale, rotation = theta.unbind(-1)
    cs, ns = torch.cos(rotation) * scale, torch.sin(rotation) * scale
    row0 = torch.stack([cs - ns * shear_x, -ns + cs * shear_x, tx], -1)
    row1 = torch.stack([cs * shear_y + ns, -ns * shear_y + cs, ty], -1)
    return torch.stack([row0, row1], -2)


def warp(images: Tensor, theta: Tensor) -> Tensor:
    """Applies θ to images: affine_grid + bilinear grid_sample (align_corners=True), clamped to [0, 1].

    Differentiable in images and θ.

    Args:
        images (Tensor[B, C, H, W]): floating point, values in [0, 1].
        theta (Tensor[B, 6]): transforms, same dtype and device.

    Returns:
        Tensor[B, C, H, W]: the transformed images in [0, 1].

    Raises:
        ValueError: shapes that do not match.
    """
    if images.dim() != 4:
        raise ValueError(f"images must have shape [B, C, H, W], got {list(images.shape)}")
    if theta.shape != (images.shape[0], 6):
        raise ValueError(f"theta must have shape [{images.shape[0]}, 6] matching images, got {list(theta.shape)}")
    grid = F.affine_grid(affine_matrix(theta), list(images.shape), align_corners=True)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.clamp(0.0, 1.0)
