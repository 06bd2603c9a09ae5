"""Manifolds: the true manifold of FONTS (a differentiable renderer), learned class-specific VAE-GANs."""

from pyadvman.manifolds.affine import (
    THETA_NAMES,
    THETA_PRESETS,
    AffineRanges,
    affine_matrix,
    theta_preset,
    warp,
)
from pyadvman.manifolds.true_manifold import FontsRenderer

__all__ = ["THETA_NAMES", "THETA_PRESETS", "AffineRanges", "FontsRenderer", "affine_matrix", "theta_preset", "warp"]
