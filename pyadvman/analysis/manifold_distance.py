"""How far adversarial examples lie from the data manifold (Stutz et al., CVPR 2019, Sec. 3.1 and Fig. 2;
docs/papers.md §1 "Distance to the manifold"): the kNN approximation ("inclusive nn"), and projections onto the true
manifold of FONTS (optimise θ) and onto a learned manifold (optimise z)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from pyadvman.attacks.model_mode import eval_mode, frozen_parameters
from pyadvman.data.fonts_renderer import FontsRenderer
from pyadvman.manifolds.learned_manifold import LearnedManifold
from pyadvman.ops import knn, nn_project


@dataclass
class KnnDistances:
    """Per example (Tensor[B] each, float32): ``residual`` ‖δ − Pδ‖₂ (input units), ``normalised_residual``
    ‖δ − Pδ‖₂ / ‖δ‖₂ in [0, 1] (0 where δ = 0), ``angle`` ∠(δ, Pδ) in degrees in [0, 90], ``norm`` ‖δ‖₂."""

    residual: Tensor
    normalised_residual: Tensor
    angle: Tensor
    norm: Tensor


def pca_basis(reference: Tensor, dims: int) -> tuple[Tensor, Tensor]:
    """The mean and the top ``dims`` principal directions of ``reference`` (rows flattened): (mean Tensor[D],
    components Tensor[D, dims]), from the eigenvectors of the covariance computed in float64.

    Raises:
        ValueError: dims outside [1, D].
    """
    flat = reference.reshape(reference.shape[0], -1).double()
    if not 1 <= dims <= flat.shape[1]:
        raise ValueError(f"dims must be in [1, {flat.shape[1]}] (the image's values), got {dims}")
    mean = flat.mean(dim=0)
    centred = flat - mean
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    return mean, vectors[:, -dims:].flip(1)


def _project_onto_neighbours(delta: Tensor, x: Tensor, neighbours: Tensor, rtol: float = 1e-10) -> Tensor:
    """Pδ: δ [B, D] projected onto span{x_i − x} of each row's neighbours [B, k, D], in float64 through the
    SVD of the basis (directions whose singular value is at most ``rtol`` times the largest are dropped)."""
    basis = (neighbours.double() - x.double()[:, None]).transpose(1, 2)  # [B, D, k]
    u, singular, _ = torch.linalg.svd(basis, full_matrices=False)
    keep = singular > rtol * singular[:, :1].clamp_min(torch.finfo(torch.float64).tiny)
    u = u * keep[:, None]
    return (u @ (u.transpose(1, 2) @ delta.double()[..., None]))[..., 0]


def knn_distances(x_adv: Tensor, x: Tensor, reference: Tensor, k: int = 50, *, pca: int | None = None,
                  batch_size: int = 500) -> KnnDistances:
    """The "inclusive nn" distance of x_adv = x + δ from the manifold spanned locally by its k nearest reference
    images: δ is projected onto span{x_i − x} (docs/papers.md §1). Off-manifold perturbations keep a normalised
    residual near 1 and an angle near 90°.

    The neighbours of x_adv are searched exactly in pixel space (the fused ``nn_project`` op), or, with ``pca``,
    in the space of the reference's top ``pca`` principal components, as the released code searches (40
    components, ``training/detect_attack_classifier_nn.py`` lines 296-312 of
    davidstutz/disentangling-robustness-generalization at 220ff8a); the projection is in pixel space either way.

    Args:
        x_adv, x (Tensor[B, C, H, W] or [B, D]): adversarial and clean images, float in [0, 1].
        reference (Tensor[N, ...]): the training images (same trailing shape).
        k: neighbours (paper: 50), 1 <= k <= N.
        pca: None (pixel space) or the number of principal components of the search, in [1, D].

    Raises:
        ValueError: x_adv and x of different shapes, pca outside [1, D], or the errors of
            :func:`pyadvman.ops.nn_project` / :func:`pyadvman.ops.knn`.
    """
    if x_adv.shape != x.shape:
        raise ValueError(f"x_adv and x must have the same shape, got {list(x_adv.shape)} and {list(x.shape)}")
    flat_ref = reference.reshape(reference.shape[0], -1).float()
    if pca is not None:
        mean, components = pca_basis(flat_ref, pca)
        mean, components = mean.float().to(flat_ref.device), components.float().to(flat_ref.device)
        reduced_ref = (flat_ref - mean) @ components
    residuals, angles, norms = [], [], []
    for start in range(0, x.shape[0], batch_size):
        xa = x_adv[start:start + batch_size].reshape(-1, flat_ref.shape[1]).float().to(flat_ref.device)
        x0 = x[start:start + batch_size].reshape(-1, flat_ref.shape[1]).float().to(flat_ref.device)
        if pca is None:
            _, residual, angle = nn_project(xa, x0, flat_ref, k)
        else:
            _, index = knn((xa - mean) @ components, reduced_ref, k)
            delta = (xa - x0).double()
            projection = _project_onto_neighbours(delta, x0, flat_ref[index])
            residual = (delta - projection).norm(dim=1).float()
            angle = torch.rad2deg(torch.atan2(residual.double(), projection.norm(dim=1))).float()
        residuals.append(residual.cpu())
        angles.append(angle.cpu())
        norms.append((xa - x0).norm(dim=1).cpu())
    residual, angle, norm = torch.cat(residuals), torch.cat(angles), torch.cat(norms)
    normalised = torch.where(norm > 0, residual / norm.clamp_min(1e-12), torch.zeros_like(norm))
    return KnnDistances(residual=residual, normalised_residual=normalised, angle=angle, norm=norm)


def _fit_codes(render, target: Tensor, start: Tensor, steps: int, lr: float) -> tuple[Tensor, Tensor]:
    """Adam on the code (one per row) to minimise ‖render(code) − target‖² (summed over pixels)."""
    code = start.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([code], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        error = (render(code) - target).flatten(1).pow(2).sum(dim=1)
        error.sum().backward()
        optimizer.step()
    with torch.no_grad():
        distance = (render(code) - target).flatten(1).norm(dim=1)
    return code.detach(), distance


def true_manifold_distance(renderer: FontsRenderer, x_adv: Tensor, codes: Tensor, theta: Tensor, *,
                           steps: int = 100, lr: float = 0.09, search_fonts: bool = False,
                           batch_size: int = 500) -> tuple[Tensor, Tensor]:
    """Distance of FONTS images x̃ to the true manifold: min over θ of ‖render(font, letter, θ) − x̃‖₂, by Adam
    from the clean θ (docs/papers.md §1: lr 0.09, 100 steps; the released code left this step commented out).

    Args:
        renderer: the FONTS renderer. x_adv (Tensor[B, 1, H, W]) in [0, 1]: the images to project.
        codes (Tensor[B, 2] int64): font and letter of each clean example. theta (Tensor[B, 6]): its clean θ.
        search_fonts: also try every font (same letter) and keep the closest projection; costs F times more.

    Returns:
        (distance Tensor[B] ‖render(θ*) − x̃‖₂ in pixel units, theta Tensor[B, 6] the projection's θ).

    Raises:
        ValueError: codes / theta not shaped [B, 2] / [B, 6].
    """
    if codes.shape != (x_adv.shape[0], 2) or theta.shape != (x_adv.shape[0], 6):
        raise ValueError(f"codes and theta must be [B, 2] and [B, 6] with B = {x_adv.shape[0]}, got "
                         f"{list(codes.shape)} and {list(theta.shape)}")
    distances, thetas = [], []
    fonts = range(renderer.num_fonts) if search_fonts else [None]
    for start in range(0, x_adv.shape[0], batch_size):
        rows = slice(start, start + batch_size)
        target, code, start_theta = x_adv[rows].float(), codes[rows], theta[rows].float()
        best_distance, best_theta = None, None
        for font in fonts:
            font_index = code[:, 0] if font is None else torch.full_like(code[:, 0], font)
            theta_fit, distance = _fit_codes(lambda t, f=font_index, c=code: renderer(f, c[:, 1], t), target,
                                             start_theta, steps, lr)
            if best_distance is None:
                best_distance, best_theta = distance, theta_fit
            else:
                closer = distance < best_distance
                best_distance = torch.where(closer, distance, best_distance)
                best_theta = torch.where(closer[:, None], theta_fit, best_theta)
        distances.append(best_distance.cpu())
        thetas.append(best_theta.cpu())
    return torch.cat(distances), torch.cat(thetas)


def learned_manifold_distance(manifold: LearnedManifold, x_adv: Tensor, labels: Tensor, *, steps: int = 100,
                              lr: float = 0.1, batch_size: int = 500) -> tuple[Tensor, Tensor]:
    """Distance of images x̃ to the learned manifold of their class: min over z of ‖dec_y(z) − x̃‖₂, by Adam from
    the encoder mean of x̃ (docs/papers.md §1: lr 0.1, 100 steps).

    Args:
        manifold: the class-specific VAE-GANs. x_adv (Tensor[B, C, H, W]) in [0, 1]. labels (Tensor[B]) int64:
            the class whose decoder is used.

    Returns:
        (distance Tensor[B] in pixel units, z Tensor[B, latent]).

    Raises:
        ValueError: labels not [B].
    """
    if labels.shape != (x_adv.shape[0],):
        raise ValueError(f"labels must be [B] with B = {x_adv.shape[0]}, got {list(labels.shape)}")
    distances, codes = [], []
    with eval_mode(manifold), frozen_parameters(manifold):
        for start in range(0, x_adv.shape[0], batch_size):
            target, y = x_adv[start:start + batch_size].float(), labels[start:start + batch_size]
            with torch.no_grad():
                z0 = manifold.encode(target, y)
            z, distance = _fit_codes(lambda z, y=y: manifold.decode(z, y), target, z0, steps, lr)
            distances.append(distance.cpu())
            codes.append(z.cpu())
    return torch.cat(distances), torch.cat(codes)


def nearest_neighbour_distance(images: Tensor, reference: Tensor) -> Tensor:
    """The L2 distance of each image to its nearest reference image, exact (the ``knn`` op): Tensor[B] float32.
    The yardstick of how far generated images lie from the data: compare a decoder's outputs with test images,
    whose nearest training images are as far as the data's own spacing.

    Args:
        images (Tensor[B, ...]), reference (Tensor[N, ...]) with the same trailing shape, floats.
    """
    flat_ref = reference.reshape(reference.shape[0], -1).float()
    dist2, _ = knn(images.reshape(images.shape[0], -1).float().to(flat_ref.device), flat_ref, 1)
    return dist2[:, 0].clamp_min(0).sqrt().cpu()
