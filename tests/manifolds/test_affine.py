"""The affine transform of FONTS against a hand-written bilinear sampler, and its gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pyadvman.manifolds import THETA_PRESETS, affine_matrix, theta_preset, warp


def reference_warp(image: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Inverse mapping with align_corners=True semantics, bilinear, zeros outside, then clipped to [0, 1]."""
    tx, ty, lx, ly, s, r = theta
    c, n = math.cos(r) * s, math.sin(r) * s
    a = np.array([[c - n * lx, -n + c * lx, tx], [c * ly + n, -n * ly + c, ty]])
    h, w = image.shape
    out = np.zeros_like(image, dtype=np.float64)
    for i in range(h):
        for j in range(w):
            xn, yn = -1 + 2 * j / (w - 1), -1 + 2 * i / (h - 1)
            sx, sy = a @ np.array([xn, yn, 1.0])
            px, py = (sx + 1) / 2 * (w - 1), (sy + 1) / 2 * (h - 1)
            x0, y0 = math.floor(px), math.floor(py)
            value = 0.0
            for dy in (0, 1):
                for dx in (0, 1):
                    xx, yy = x0 + dx, y0 + dy
                    weight = (1 - abs(px - xx)) * (1 - abs(py - yy))
                    if 0 <= xx < w and 0 <= yy < h:
                        value += weight * image[yy, xx]
            out[i, j] = value
    return np.clip(out, 0, 1)


def test_presets_match_the_paper_table() -> None:
    hard = theta_preset("Hard")
    assert hard.scale == (0.75, 1.15) and hard.rotation == (-math.pi / 2, math.pi / 2)
    assert hard.translation == (-0.2, 0.2) and hard.shear == (-0.5, 0.5)
    assert THETA_PRESETS["easy"].rotation == (-math.pi / 6, math.pi / 6)
    assert THETA_PRESETS["moderate"].scale == (0.85, 1.15)
    with pytest.raises(ValueError, match="theta preset must be one of .* got 'extreme'"):
        theta_preset("extreme")


def test_matrix_of_identity_and_of_a_quarter_turn() -> None:
    identity = affine_matrix(torch.tensor([0.0, 0, 0, 0, 1, 0]))
    torch.testing.assert_close(identity, torch.tensor([[1.0, 0, 0], [0, 1, 0]]))
    turn = affine_matrix(torch.tensor([0.1, -0.2, 0, 0, 2.0, math.pi / 2], dtype=torch.float64))
    torch.testing.assert_close(turn, torch.tensor([[0.0, -2, 0.1], [2, 0, -0.2]], dtype=torch.float64))
    with pytest.raises(ValueError, match=r"theta must have shape \[\.\.\., 6\], got \[2, 5\]"):
        affine_matrix(torch.zeros(2, 5))


def test_warp_matches_hand_written_sampler() -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(4, 1, 12, 12, generator=generator, dtype=torch.float64)
    theta = THETA_PRESETS["hard"].sample(4, generator).to(torch.float64)
    out = warp(images, theta)
    for k in range(4):
        expected = reference_warp(images[k, 0].numpy(), theta[k].numpy())
        np.testing.assert_allclose(out[k, 0].numpy(), expected, atol=1e-12)
    torch.testing.assert_close(warp(images, torch.tensor([[0.0, 0, 0, 0, 1, 0]] * 4, dtype=torch.float64)), images)


def test_warp_checks_shapes() -> None:
    with pytest.raises(ValueError, match=r"theta must have shape \[2, 6\] matching images, got \[3, 6\]"):
        warp(torch.zeros(2, 1, 8, 8), torch.zeros(3, 6))
    with pytest.raises(ValueError, match=r"images must have shape \[B, C, H, W\], got \[8, 8\]"):
        warp(torch.zeros(8, 8), torch.zeros(1, 6))


def test_warp_gradient_matches_finite_differences() -> None:
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(2, 1, 10, 10, generator=generator, dtype=torch.float64) * 0.8  # away from the clamp
    theta = THETA_PRESETS["moderate"].sample(2, generator).to(torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: warp(images, t), (theta,), eps=1e-6, atol=1e-5)
