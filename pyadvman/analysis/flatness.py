"""Flatness of the robust loss in weight space (Stutz, Hein, Schiele, ICCV 2021, Sec. 4; docs/papers.md §4):
how much the robust loss rises when the weights move inside a relative, layer-wise ball B_ξ(w), on average over
random directions and in the worst case."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from pyadvman.attacks import PGD, AttackProtocol, attack_in_batches, eval_mode
from pyadvman.attacks.old_keywords import accepts_old_spellings
from pyadvman.execution import Execution

_NORMALISATION = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


# The robust loss of Stutz et al. (ICCV 2021; docs/papers.md §4): PGD-20 with steps of 0.007 from uniform starts, 10
# restarts, the worst restart per example.
FLATNESS_PAPER_ROBUST_LOSS = AttackProtocol(steps=20, step_size=0.007, restarts=10)


@accepts_old_spellings
@dataclass(frozen=True)
class RobustLoss:
    """The robust loss: cross-entropy at PGD's worst restart per example (docs/papers.md §4). ``eps`` in input
    units (images in [0, 1]), in ``norm``; ``protocol`` the PGD search (its highest-loss iterate per restart); ``execution``
    how it runs (the model checks are off: the loss is measured, not the model judged)."""

    eps: float = 8 / 255
    norm: str = "linf"  # the ball of the input perturbations: linf | l2 | l1
    protocol: AttackProtocol = FLATNESS_PAPER_ROBUST_LOSS
    batch_size: int = 500
    seed: int | None = 0  # random starts drawn from this seed on every call (None: the global generator)
    execution: Execution = Execution()

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[float, float]:
        """(robust loss, robust accuracy) of model on (x Tensor[B, C, H, W] in [0, 1], y Tensor[B]): the mean over
        examples of the highest cross-entropy over restarts, and the fraction never fooled.

        With a seed, every call starts PGD from the same random points, so the difference between a perturbed
        and the unperturbed model (flatness) is not swamped by the randomness of the starts; the global random
        state is left as it was."""
        losses, robust = self.per_example(model, x, y)
        return float(losses.mean()), float(robust.double().mean())

    def per_example(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """The robust loss of each example (Tensor[B] float32 on the CPU, nats: the highest cross-entropy over
        restarts) and whether it was never fooled (Tensor[B] bool); ``__call__`` averages them."""
        attack = PGD(eps=self.eps, norm=self.norm, protocol=self.protocol,
                     execution=replace(self.execution, check_model=False))
        device = next(model.parameters()).device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else [],
                                   enabled=self.seed is not None):
            if self.seed is not None:
                torch.manual_seed(self.seed)
            result = attack_in_batches(attack, model, x, y, batch_size=self.batch_size, progress=False,
                                       keep_images=False)
        return result.loss.amax(dim=0).float().cpu(), (result.clean_correct & ~result.success.any(dim=0)).cpu()


def perturbed_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameter tensors that flatness perturbs: all but those of normalisation layers (docs/papers.md §4)."""
    skipped = {id(p) for m in model.modules() if isinstance(m, _NORMALISATION) for p in m.parameters()}
    return [p for p in model.parameters() if id(p) not in skipped]


def _scale_to(direction: Tensor, radius: Tensor) -> Tensor:
    return direction * (radius / direction.norm().clamp_min(1e-30))


def _unperturbed(robust_loss: RobustLoss, model: nn.Module, x: Tensor, y: Tensor,
                 base: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
    return base if base is not None else robust_loss.per_example(model, x, y)


def average_flatness(model: nn.Module, x: Tensor, y: Tensor, *, xi: float = 0.5, samples: int = 10,
                     robust_loss: RobustLoss = RobustLoss(), seed: int = 0, progress: bool = False,
                     base: tuple[Tensor, Tensor] | None = None) -> dict:
    """Average-case flatness: the mean robust loss over ``samples`` random weight perturbations ν with
    ‖νᵢ‖₂ = ξ·‖wᵢ‖₂ per parameter tensor (on the sphere; normalisation layers untouched), minus the robust loss
    of the unperturbed model (ICCV 2021, Eq. (5); docs/papers.md §4: ξ = 0.5, 10 samples).

    Args:
        model: classifier (not modified). x (Tensor[B, C, H, W]) in [0, 1], y (Tensor[B]) int64: e.g. the first
            1000 test images. xi: relative radius > 0. samples: >= 1. robust_loss: the PGD settings.
        base: ``robust_loss.per_example(model, x, y)`` when already computed (it is otherwise computed here).

    Returns:
        {"flatness", "robust_loss", "robust_accuracy", "perturbed_robust_losses": [samples], "base_losses":
        Tensor[B] per example unperturbed, "perturbed_losses": Tensor[B] per example mean over samples}
        (losses in nats; flatness = perturbed_losses.mean() − base_losses.mean()).

    Raises:
        ValueError: xi <= 0 or samples < 1.
    """
    if not xi > 0 or samples < 1:
        raise ValueError(f"xi must be > 0 and samples >= 1, got xi={xi}, samples={samples}")
    base_losses, base_robust = _unperturbed(robust_loss, model, x, y, base)
    base_loss = float(base_losses.mean())
    generator = torch.Generator().manual_seed(seed)
    losses, per_example = [], torch.zeros_like(base_losses)
    for _ in tqdm(range(samples), desc="average-case flatness", unit="sample", disable=not progress):
        perturbed = copy.deepcopy(model)
        with torch.no_grad():
            for p in perturbed_parameters(perturbed):
                noise = torch.randn(p.shape, generator=generator).to(p)
                p.add_(_scale_to(noise, xi * p.norm()))
        sample = robust_loss.per_example(perturbed, x, y)[0]
        per_example += sample / samples
        losses.append(float(sample.mean()))
    return {"flatness": sum(losses) / len(losses) - base_loss, "robust_loss": base_loss,
            "robust_accuracy": float(base_robust.double().mean()), "perturbed_robust_losses": losses,
            "base_losses": base_losses, "perturbed_losses": per_example}


def worst_case_flatness(model: nn.Module, x: Tensor, y: Tensor, *, xi: float = 0.00075, weight_lr: float = 0.01,
                        input_step: float = 0.007, passes: int = 20, restarts: int = 10, batch_size: int = 100,
                        robust_loss: RobustLoss = RobustLoss(), seed: int = 0, progress: bool = False,
                        base: tuple[Tensor, Tensor] | None = None) -> dict:
    """Worst-case flatness: the robust loss maximised jointly over one weight perturbation ν in B_ξ(w)
    (‖νᵢ‖₂ ≤ ξ·‖wᵢ‖₂ per tensor) and per-example input perturbations in the ball of ``robust_loss.eps`` (its norm),
    minus the unperturbed robust loss (ICCV 2021, Eq. (6); docs/papers.md §4).

    Each of ``passes`` passes over (x, y) takes, per batch, one ascent step on ν (the gradient of each tensor
    rescaled to norm ‖wᵢ‖ and multiplied by ``weight_lr``, then projected onto B_ξ) and one signed step of
    ``input_step`` on the batch's input perturbations (kept across passes, projected onto the ball and [0, 1]).
    The perturbed model's robust loss is then measured with ``robust_loss``; the maximum over ``restarts`` (random
    starts of ν and δ) is kept. Paper: ξ = 0.00075, lr 0.01, step 0.007, 20 passes, 10 restarts. ``base``: as for
    average_flatness.

    Returns:
        {"flatness", "robust_loss", "robust_accuracy", "perturbed_robust_losses": [restarts],
        "max_relative_weight_change": the largest ‖νᵢ‖/‖wᵢ‖ found (<= xi), "base_losses": Tensor[B] per example
        unperturbed, "perturbed_losses": Tensor[B] per example at the kept restart} (losses in nats).

    Raises:
        ValueError: xi <= 0, passes < 1, restarts < 1 or batch_size < 1.
    """
    if not xi > 0 or passes < 1 or restarts < 1 or batch_size < 1:
        raise ValueError(f"need xi > 0, passes >= 1, restarts >= 1, batch_size >= 1; got xi={xi}, passes={passes}, "
                         f"restarts={restarts}, batch_size={batch_size}")
    base_losses, base_robust = _unperturbed(robust_loss, model, x, y, base)
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    eps = robust_loss.eps
    losses, largest_change, kept = [], 0.0, None
    bar = tqdm(total=restarts * passes, desc="worst-case flatness", unit="pass", disable=not progress)
    for _ in range(restarts):
        perturbed = copy.deepcopy(model)
        params = perturbed_parameters(perturbed)
        originals = [p.detach().clone() for p in params]
        radii = [xi * w.norm() for w in originals]
        with torch.no_grad():
            for p, radius in zip(params, radii):
                scale = torch.rand((), generator=generator).to(p)
                p.add_(_scale_to(torch.randn(p.shape, generator=generator).to(p), radius * scale))
        deltas = [(torch.rand(x[s:s + batch_size].shape, generator=generator) * 2 - 1) * eps
                  for s in range(0, x.shape[0], batch_size)]
        with eval_mode(perturbed):
            for _ in range(passes):
                for b, start in enumerate(range(0, x.shape[0], batch_size)):
                    clean = x[start:start + batch_size].to(device, torch.float32)
                    delta = deltas[b].to(device).requires_grad_(True)
                    loss = F.cross_entropy(perturbed((clean + delta).clamp(0, 1)),
                                           y[start:start + batch_size].to(device))
                    grads = torch.autograd.grad(loss, [*params, delta])
                    with torch.no_grad():
                        for p, w, radius, g in zip(params, originals, radii, grads[:-1]):
                            p.add_(_scale_to(g, w.norm()) * weight_lr)
                            nu = p - w
                            p.copy_(w + nu * torch.clamp(radius / nu.norm().clamp_min(1e-30), max=1.0))
                        step = delta + input_step * grads[-1].sign()
                        deltas[b] = (torch.clamp(clean + step.clamp(-eps, eps), 0, 1) - clean).cpu()
                bar.update()
        restart_losses = robust_loss.per_example(perturbed, x, y)[0]
        losses.append(float(restart_losses.mean()))
        if losses[-1] == max(losses):
            kept = restart_losses
        with torch.no_grad():
            change = max(float((p - w).norm() / w.norm().clamp_min(1e-30)) for p, w in zip(params, originals))
        largest_change = max(largest_change, change)
    bar.close()
    base_loss = float(base_losses.mean())
    return {"flatness": max(losses) - base_loss, "robust_loss": base_loss,
            "robust_accuracy": float(base_robust.double().mean()), "perturbed_robust_losses": losses,
            "max_relative_weight_change": largest_change, "base_losses": base_losses, "perturbed_losses": kept}
