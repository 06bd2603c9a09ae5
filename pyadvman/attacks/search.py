"""The loop every gradient attack shares: ascend an objective over a perturbed variable p inside a threat model,
with R restarts batched as [R, B], per-example best iterate and per-example early stop.

For image-space attacks p is the image; for on-manifold and transformation attacks p is a code (θ, a latent z)
that a differentiable ``render`` turns into images. Gradients are taken w.r.t. p only (``torch.autograd.grad``),
so no parameter gradients are computed or accumulated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pyadvman.attacks._checks import check_labels
from pyadvman.compilation import compiled_forward
from pyadvman.attacks.model_checks import clean_pass, gradient_findings, predicted_classes, warn_findings
from pyadvman.attacks.model_mode import eval_mode, frozen_parameters
from pyadvman.attacks.objectives import get_objective
from pyadvman.attacks.result import AttackResult
from pyadvman.attacks.threat_models import Bound, L2Ball, LinfBall

Render = Callable[[Tensor], Tensor]  # p [R, B, ...] -> images [R, B, C, H, W]

_ADAM_BETAS, _ADAM_EPS = (0.9, 0.999), 1e-8


@dataclass(frozen=True)
class SearchSettings:
    """How the search runs (validated by the attacks that build it)."""

    steps: int  # gradient steps; steps + 1 iterates are evaluated
    alpha: Bound  # signed step size (L∞) or step length (L2), in p's units; float or Tensor[B]
    restarts: int = 1  # R, batched in one forward pass
    start: str = "uniform"  # "uniform" or "radial" in the ball, "gaussian" (centre + init_std·N(0, I)), "none"
    init_std: float = 0.001  # standard deviation of the "gaussian" start (TRADES, Robey et al.)
    update: str = "sign"  # "sign": PGD steps; "adam": Adam on δ with learning rate lr (Stutz et al.'s code)
    lr: float = 0.005  # Adam learning rate
    objective: str = "ce"  # key of pyadvman.attacks.objectives.OBJECTIVES
    targeted: bool = False  # minimise the objective towards a target class instead
    keep: str = "loss"  # the iterate returned and judged (pyadvman.attacks._checks.KEEP): "loss" highest objective;
    #                     "first_success" first fooling iterate, else highest (success counts when any iterate
    #                     fools); "last" the final one (torchattacks); "last_then_loss" newest until one fools, then
    #                     highest (the released training attack of Stutz et al.)
    early_stop: bool = False  # freeze an example (all its restarts separately) once its best iterate fools the model
    noise: str | None = None  # LMC: "gaussian" adds c·N(0, I) after the step, "laplace" adds c·Laplace(0, 1) to ∇
    noise_scale: float = 0.0  # c
    chunk_rows: int | None = None  # rows (restarts × examples) per forward pass; None: all on CUDA, ~2048 on CPU
    check_model: bool = True  # warn about probability outputs, randomness, zero gradients (model_checks)
    compile: str = "auto"  # the model's passes under torch.compile (pyadvman.compilation.COMPILE_MODES)


def default_step_size(radius: Bound, steps: int) -> Bound:
    """2.5·radius/steps (Madry et al., ICLR 2018): the default step of PGD and of the code attacks."""
    return 2.5 * radius / max(steps, 1)


def improves(keep: str, success: Tensor, value: Tensor, best_success: Tensor, best_loss: Tensor,
             fooled_before: Tensor) -> Tensor:
    """Where an iterate with (success, objective value) replaces the kept one under the rule ``keep``:
    "loss" keeps the highest value, "first_success" the first fooling iterate (else the highest value),
    "last" always the newest, "last_then_loss" the newest until an iterate has fooled the model
    (``fooled_before``: an earlier one did), then the highest value. All tensors [R, B] or [B]."""
    higher = value > best_loss
    if keep == "first_success":
        return (success & ~best_success) | (~best_success & ~success & higher)
    if keep == "last":
        return torch.ones_like(success)
    if keep == "last_then_loss":
        return ~fooled_before | higher
    return higher


def pick_restart(success: Tensor, loss: Tensor) -> Tensor:
    """Per example, the restart to return (Tensor[B] of indices into R): among the successful restarts the one
    with the highest loss, else the highest loss overall. success, loss: Tensor[R, B]."""
    score = loss.nan_to_num(neginf=torch.finfo(torch.float32).min)
    successful = torch.where(success, score, float("-inf"))
    return torch.where(success.any(dim=0), successful.argmax(dim=0), score.argmax(dim=0))


def identity_render(p: Tensor) -> Tensor:
    return p


def _noise_like(kind: str, like: Tensor) -> Tensor:
    if kind == "gaussian":
        return torch.randn_like(like)
    uniform = torch.rand_like(like) - 0.5  # Laplace(0, 1) by inversion
    return -uniform.sign() * torch.log1p(-2 * uniform.abs())


def search(model: nn.Module, p0: Tensor, labels: Tensor, ball: LinfBall | L2Ball, settings: SearchSettings,
           render: Render = identity_render, target: Tensor | None = None) -> AttackResult:
    """Runs the attack loop (see module docstring) and returns the per-restart and per-example best iterates.

    Args:
        model: classifier, images [N, C, H, W] in [0, 1] -> logits [N, K]; put in eval mode while attacking.
        p0 (Tensor[B, ...]): unperturbed variable (the clean image, or code).
        labels (Tensor[B]): int64 true classes.
        ball: threat model around p0.
        settings: the loop's settings.
        render: p [R, B, ...] -> images [R, B, C, H, W], differentiable in p.
        target (Tensor[B], optional): int64 target classes, needed when settings.targeted.

    Raises:
        ValueError: labels (or target) outside [0, K) for a model with K outputs.
    """
    objective = get_objective(settings.objective)
    restarts, batch = settings.restarts, p0.shape[0]
    goal = target if settings.targeted else labels
    with eval_mode(model), frozen_parameters(model), torch.enable_grad():
        p0 = p0.detach()
        with torch.no_grad():
            clean = render(p0[None])[0]
        clean_logits, clean_correct, findings = clean_pass(model, clean, labels, settings.check_model)
        if settings.targeted:
            check_labels("target", target, clean_logits.shape[1])
        goal_rows, clean_rows = goal.repeat(restarts), clean_logits.repeat(restarts, 1)

        with torch.no_grad():
            p = start_point(ball, p0, restarts, settings).contiguous()
        best_p = p.clone()
        best_loss = torch.full((restarts, batch), float("-inf"), device=p0.device)
        best_success = torch.zeros(restarts, batch, dtype=torch.bool, device=p0.device)
        fooled = torch.zeros_like(best_success)  # whether any iterate so far fooled the model
        moments = (torch.zeros_like(best_p), torch.zeros_like(best_p)) if settings.update == "adam" else None

        per_chunk = _restarts_per_chunk(settings, batch, p0.device)
        forward = compiled_forward(model, settings.compile, p0.device)
        for step in range(settings.steps + 1):
            leaves, losses, logits = [], [], []
            for first in range(0, restarts, per_chunk):
                leaf = p[first:first + per_chunk].detach().requires_grad_(True)
                rows = slice(first * batch, (first + leaf.shape[0]) * batch)
                chunk_logits = forward(render(leaf).flatten(0, 1))
                chunk_loss = objective(chunk_logits, goal_rows[rows], clean_rows[rows])
                leaves.append(leaf)
                losses.append(-chunk_loss if settings.targeted else chunk_loss)
                logits.append(chunk_logits.detach())
            with torch.no_grad():
                predicted = predicted_classes(torch.cat(logits))
                success = (predicted == goal_rows if settings.targeted else predicted != goal_rows).view(restarts, batch)
                value = torch.cat(losses).detach().float().view(restarts, batch).nan_to_num(nan=float("-inf"))
                better = improves(settings.keep, success, value, best_success, best_loss, fooled)
                best_p = torch.where(better.view(restarts, batch, *([1] * (p.dim() - 2))), p, best_p)
                best_loss = torch.where(better, value, best_loss)
                best_success = torch.where(better, success, best_success)
                fooled |= success
            if step == settings.steps:
                break
            active = ~best_success if settings.early_stop else None
            if active is not None and not bool(active.any()):
                break
            grad = torch.cat([torch.autograd.grad(loss.sum(), leaf)[0] for leaf, loss in zip(leaves, losses)])
            if step == 0 and settings.check_model:
                findings += gradient_findings(grad[0], value[0].abs(), clean_correct)
            with torch.no_grad():
                _step(p, p0, grad, ball, settings, active, moments, step + 1)

        with torch.no_grad():
            best_images = render(best_p)
            chosen = pick_restart(best_success, best_loss)
            rows = torch.arange(batch, device=p0.device)
    warn_findings("attack", findings)
    return AttackResult(x_adv=best_images[chosen, rows], x_adv_restarts=best_images, params=best_p,
                        clean=clean, success=best_success, loss=best_loss, clean_correct=clean_correct)


def start_point(ball: LinfBall | L2Ball, p0: Tensor, restarts: int, settings: SearchSettings) -> Tensor:
    """The first iterate of every restart, Tensor[R, B, ...], by ``settings.start`` (see SearchSettings)."""
    if settings.start == "gaussian":
        noise = torch.randn(restarts, *p0.shape, dtype=p0.dtype, device=p0.device)
        return ball.project(p0 + settings.init_std * noise, p0)
    if settings.start == "none":
        return p0.expand(restarts, *p0.shape).clone()
    return ball.random_init(p0, restarts, settings.start)


def _restarts_per_chunk(settings: SearchSettings, batch: int, device: torch.device) -> int:
    """Restarts per forward pass. On CUDA all R at once; on CPU about ``settings.chunk_rows`` rows, because
    activations of a few thousand images stay in cache and backward passes slow down past that (measured in
    bench/bench_attack.py)."""
    rows = settings.chunk_rows if settings.chunk_rows is not None else (0 if device.type == "cuda" else 2048)
    return settings.restarts if rows <= 0 else max(1, rows // max(batch, 1))


def _step(p: Tensor, p0: Tensor, grad: Tensor, ball: LinfBall | L2Ball, settings: SearchSettings,
          active: Tensor | None, moments: tuple[Tensor, Tensor] | None, count: int) -> None:
    if settings.noise == "laplace":
        grad = grad + settings.noise_scale * _noise_like("laplace", grad)
    if moments is not None:
        first, second = moments
        beta1, beta2 = _ADAM_BETAS
        first.mul_(beta1).add_(grad, alpha=1 - beta1)
        second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        update = settings.lr * (first / (1 - beta1 ** count)) / ((second / (1 - beta2 ** count)).sqrt() + _ADAM_EPS)
        ball.move(p, p0, update, active)
    else:
        ball.step(p, p0, grad, settings.alpha, active)
    if settings.noise == "gaussian":
        ball.move(p, p0, settings.noise_scale * _noise_like("gaussian", p), active)
