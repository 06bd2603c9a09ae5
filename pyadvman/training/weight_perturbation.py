"""Adversarial weight perturbation (AWP; Wu, Xia & Wang, NeurIPS 2020, Sec. 4 and Alg. 1; docs/papers.md §4): each
training step first moves the weights of every layer uphill on the training loss, by γ times that layer's weight
norm, computes the gradient there, and applies it to the unperturbed weights. AWP flattens the weight-loss
landscape; the flatness study compares it with plain AT, TRADES and MART."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.distributed as dist
from torch import Tensor, nn

_TINY = 1e-20  # keeps a zero gradient from dividing by zero (the perturbation is then zero)


def perturbed_weights(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The tensors AWP perturbs: the weights of convolutional and linear layers (parameters named ``weight``
    with two or more dimensions). Biases and normalisation layers are left as they are, as in the authors'
    code."""
    return [(name, p) for name, p in model.named_parameters()
            if p.dim() > 1 and name.rsplit(".", 1)[-1] == "weight" and p.requires_grad]


def weight_perturbation(model: nn.Module, loss_of: Callable[[nn.Module], Tensor], gamma: float) -> dict[str, Tensor]:
    """One normalised ascent step on the weights (AWP, Eq. (9) with one step): for every tensor wₗ of
    ``perturbed_weights``, vₗ = γ·‖wₗ‖₂·gₗ/‖gₗ‖₂ with gₗ = ∂loss/∂wₗ, so ‖vₗ‖₂ = γ‖wₗ‖₂ (relative, per layer).

    The loss is computed with the model in train mode (as the authors compute it on a proxy copy) and the
    model's buffers (BatchNorm running statistics) and modes are restored afterwards, so only the returned
    offsets depend on this call; the weights are not changed. Under torch.distributed the gradients are
    averaged over the processes first, so every process perturbs by the offsets of the whole batch (the
    authors' DataParallel). When a gradient is not finite (e.g. an fp16 overflow under autocast) no tensor is
    perturbed: the result is empty.

    Args:
        model: the classifier. loss_of: the training loss of the current batch as a function of the model
            (a scalar Tensor). gamma: the relative radius γ >= 0 (paper: 0.005).

    Returns:
        {parameter name: offset Tensor of that parameter's shape and dtype}; a tensor whose gradient is None
        (unused by the loss) is left out.

    Raises:
        ValueError: gamma < 0.
    """
    if gamma < 0:
        raise ValueError(f"gamma must be >= 0 (a relative weight radius), got {gamma}")
    named = perturbed_weights(model)
    saved_buffers = [b.detach().clone() for b in model.buffers()]
    modes = [(module, module.training) for module in model.modules()]
    model.train()
    try:
        grads = torch.autograd.grad(loss_of(model), [p for _, p in named], allow_unused=True)
    finally:
        with torch.no_grad():
            for buffer, saved in zip(model.buffers(), saved_buffers):
                buffer.copy_(saved)
        for module, training in modes:
            module.training = training
    used = [(name, p, g) for (name, p), g in zip(named, grads) if g is not None]
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        for _, _, g in used:
            dist.all_reduce(g)
            g /= dist.get_world_size()
    if not all(bool(torch.isfinite(g).all()) for _, _, g in used):
        return {}
    return {name: (gamma * p.detach().norm() / (g.norm() + _TINY)) * g for name, p, g in used}
