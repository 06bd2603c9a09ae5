"""Manifolds: the true manifold of FONTS (a differentiable renderer), learned class-specific VAE-GANs."""

from pyadvman.data.affine_transforms import (
    THETA_NAMES,
    THETA_PRESETS,
    AffineRanges,
    affine_matrix,
    theta_preset,
    warp,
)
from pyadvman.data.fonts_renderer import FontsRenderer

__all__ = ["THETA_NAMES", "THETA_PRESETS", "AffineRanges", "FontsRenderer", "affine_matrix", "theta_preset", "warp"]
