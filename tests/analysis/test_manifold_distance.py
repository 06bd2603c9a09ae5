"""Distances to the manifold against independent computations (numpy QR, the renderer, the decoder)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from pyadvman.analysis import knn_distances, learned_manifold_distance, true_manifold_distance
from pyadvman.manifolds import FontsRenderer
from pyadvman.manifolds.learned_manifold import LearnedManifold
from pyadvman.manifolds.vae_gan import VAEGANConfig


def _numpy_inclusive_nn(x_adv: np.ndarray, x: np.ndarray, reference: np.ndarray, k: int):
    residuals, angles = [], []
    for xa, x0 in zip(x_adv, x):
        nearest = np.argsort(((reference - xa) ** 2).sum(axis=1), kind="stable")[:k]
        q, _ = np.linalg.qr((reference[nearest] - x0).T)
        delta = xa - x0
        projection = q @ (q.T @ delta)
        residuals.append(np.linalg.norm(delta - projection))
        cos = projection @ delta / (np.linalg.norm(projection) * np.linalg.norm(delta))
        angles.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    return np.array(residuals), np.array(angles)


def test_knn_distances_match_a_numpy_qr_projection() -> None:
    rng = np.random.default_rng(0)
    reference = rng.random((300, 36))
    x = rng.random((20, 36))
    x_adv = np.clip(x + rng.uniform(-0.2, 0.2, x.shape), 0, 1)
    out = knn_distances(torch.tensor(x_adv).view(20, 1, 6, 6), torch.tensor(x).view(20, 1, 6, 6),
                        torch.tensor(reference).view(300, 1, 6, 6), k=10)
    residual, angle = _numpy_inclusive_nn(x_adv, x, reference, 10)
    norm = np.linalg.norm(x_adv - x, axis=1)
    np.testing.assert_allclose(out.residual.numpy(), residual, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.angle.numpy(), angle, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(out.norm.numpy(), norm, rtol=1e-5)
    np.testing.assert_allclose(out.normalised_residual.numpy(), residual / norm, rtol=1e-4, atol=1e-5)


def test_perturbation_inside_the_neighbour_span_has_no_residual() -> None:
    reference = torch.rand(40, 16, dtype=torch.float64)
    x = reference[:1].clone()
    x_adv = x + 0.3 * (reference[1:2] - x)  # along a neighbour direction
    out = knn_distances(x_adv, x, reference, k=5)
    assert out.normalised_residual.item() < 1e-6 and out.angle.item() < 1e-2


def test_knn_distances_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="x_adv and x must have the same shape"):
        knn_distances(torch.rand(3, 4), torch.rand(2, 4), torch.rand(10, 4), k=2)


def _renderer() -> FontsRenderer:
    prototypes = torch.zeros(2, 3, 16, 16)
    prototypes[:, :, 4:12, 6:10] = 1.0
    prototypes[1, :, 4:6, 4:12] = 1.0
    return FontsRenderer(prototypes)


def test_true_manifold_distance_is_zero_on_the_manifold_and_shrinks_off_it() -> None:
    renderer = _renderer()
    codes = torch.tensor([[0, 1], [1, 2]])
    theta = torch.tensor([[0.05, 0.0, 0.1, 0.0, 1.0, 0.2], [0.0, -0.05, 0.0, 0.1, 0.9, -0.1]])
    on = renderer(codes[:, 0], codes[:, 1], theta)
    distance, fitted = true_manifold_distance(renderer, on, codes, theta, steps=10)
    assert distance.max().item() < 1e-3  # Adam from the exact θ stays at (or next to) it
    target = renderer(codes[:, 0], codes[:, 1], theta + torch.tensor([0.1, 0.05, 0.0, 0.0, 0.05, 0.1]))
    start = (renderer(codes[:, 0], codes[:, 1], theta) - target).flatten(1).norm(dim=1)
    distance, fitted = true_manifold_distance(renderer, target, codes, theta, steps=100)
    assert (distance < 0.5 * start).all()
    rendered = renderer(codes[:, 0], codes[:, 1], fitted)
    torch.testing.assert_close(distance, (rendered - target).flatten(1).norm(dim=1))


def test_true_manifold_distance_can_search_fonts() -> None:
    renderer = _renderer()
    theta = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0, 0.0]])
    target = renderer(torch.tensor([1]), torch.tensor([0]), theta)
    wrong_font = torch.tensor([[0, 0]])
    fixed, _ = true_manifold_distance(renderer, target, wrong_font, theta, steps=5)
    searched, _ = true_manifold_distance(renderer, target, wrong_font, theta, steps=5, search_fonts=True)
    assert fixed.item() > 1.0 and searched.item() < 1e-4


def test_true_manifold_distance_checks_shapes() -> None:
    with pytest.raises(ValueError, match=r"codes and theta must be \[B, 2\] and \[B, 6\]"):
        true_manifold_distance(_renderer(), torch.rand(2, 1, 16, 16), torch.zeros(2, 3, dtype=torch.long),
                               torch.zeros(2, 6))


def test_learned_manifold_distance_improves_on_the_encoder_and_leaves_no_gradients() -> None:
    torch.manual_seed(0)
    cfg = replace(VAEGANConfig(), channels=4, latent=3)
    manifold = LearnedManifold((1, 16, 16), 2, cfg).eval()
    x = torch.rand(6, 1, 16, 16)
    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    with torch.no_grad():
        encoder_error = (manifold.reconstruct(x, labels) - x).flatten(1).norm(dim=1)
    distance, z = learned_manifold_distance(manifold, x, labels, steps=30)
    assert (distance <= encoder_error + 1e-6).all() and (distance < encoder_error).any()
    with torch.no_grad():
        torch.testing.assert_close(distance, (manifold.decode(z, labels) - x).flatten(1).norm(dim=1))
    assert all(p.grad is None for p in manifold.parameters())
    with pytest.raises(ValueError, match="labels must be"):
        learned_manifold_distance(manifold, x, labels[:3])


def test_nearest_neighbour_distance_is_the_brute_force_minimum() -> None:
    from pyadvman.analysis import nearest_neighbour_distance

    torch.manual_seed(3)
    images, reference = torch.rand(7, 1, 5, 5), torch.rand(40, 1, 5, 5)
    expected = torch.cdist(images.flatten(1).double(), reference.flatten(1).double()).min(dim=1).values
    torch.testing.assert_close(nearest_neighbour_distance(images, reference).double(), expected, rtol=1e-5,
                               atol=1e-5)
    assert float(nearest_neighbour_distance(reference[:3], reference).abs().max()) < 1e-3  # itself


def test_knn_distances_with_a_pca_search() -> None:
    from pyadvman.analysis.manifold_distance import pca_basis

    torch.manual_seed(0)
    reference = torch.rand(300, 1, 6, 6)
    x = torch.rand(20, 1, 6, 6)
    x_adv = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
    pixel = knn_distances(x_adv, x, reference, k=8)
    # all 36 components: a rotation of pixel space, so the same neighbours; the SVD projection of this path
    # must give the fused op's residuals
    full = knn_distances(x_adv, x, reference, k=8, pca=36)
    torch.testing.assert_close(full.residual, pixel.residual, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(full.angle, pixel.angle, rtol=1e-3, atol=1e-3)
    reduced = knn_distances(x_adv, x, reference, k=8, pca=3)
    assert (reduced.residual <= reduced.norm + 1e-6).all() and (reduced.angle <= 90).all()
    mean, components = pca_basis(reference, 3)  # orthonormal directions of decreasing variance
    torch.testing.assert_close(components.T @ components, torch.eye(3, dtype=torch.float64), atol=1e-10, rtol=0)
    flat = reference.reshape(300, -1).double() - mean
    variances = (flat @ components).var(dim=0)
    assert (variances[:-1] >= variances[1:]).all()
    with pytest.raises(ValueError, match=r"dims must be in \[1, 36\]"):
        knn_distances(x_adv, x, reference, k=8, pca=37)
