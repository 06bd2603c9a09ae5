"""FontsRenderer: renders the prototypes it holds, checks its codes, differentiable in θ."""

from __future__ import annotations

import pytest
import torch

from pyadvman.manifolds import THETA_PRESETS, FontsRenderer, warp


def _renderer(fonts: int = 3, letters: int = 4, size: int = 12) -> FontsRenderer:
    return FontsRenderer(torch.rand(fonts, letters, size, size, generator=torch.Generator().manual_seed(0)))


def test_renders_the_indexed_prototype_warped() -> None:
    renderer = _renderer()
    font, letter = torch.tensor([0, 2, 1]), torch.tensor([3, 0, 1])
    theta = THETA_PRESETS["easy"].sample(3, torch.Generator().manual_seed(2))
    out = renderer(font, letter, theta)
    expected = warp(renderer.prototypes[font, letter].unsqueeze(1), theta)
    assert out.shape == (3, 1, 12, 12)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    identity = torch.tensor([[0.0, 0, 0, 0, 1, 0]]).expand(3, 6)
    torch.testing.assert_close(renderer(font, letter, identity)[:, 0], renderer.prototypes[font, letter])


def test_gradient_wrt_theta_matches_finite_differences() -> None:
    renderer = _renderer().double()
    theta = THETA_PRESETS["hard"].sample(2, torch.Generator().manual_seed(3)).double().requires_grad_()
    font, letter = torch.tensor([1, 2]), torch.tensor([0, 3])
    assert torch.autograd.gradcheck(lambda t: renderer(font, letter, t), (theta,), eps=1e-6, atol=1e-5)


def test_bad_codes_are_named() -> None:
    renderer = _renderer()
    theta = torch.zeros(2, 6)
    with pytest.raises(ValueError, match=r"font indices must lie in \[0, 3\), got \[0, 3\]"):
        renderer(torch.tensor([0, 3]), torch.tensor([0, 0]), theta)
    with pytest.raises(ValueError, match=r"letter must be an int64 tensor \[B\] with B = theta.shape\[0\] \(2\)"):
        renderer(torch.tensor([0, 1]), torch.tensor([0]), theta)
    with pytest.raises(ValueError, match=r"prototypes must have values in \[0, 1\]"):
        FontsRenderer(torch.full((1, 1, 4, 4), 2.0))
