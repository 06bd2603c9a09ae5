"""FAB-T: the targeted fast adaptive boundary attack (Croce & Hein, "Minimally distorted adversarial examples with
a fast adaptive boundary attack", ICML 2020, Alg. 1; its targeted form is AutoAttack's third attack, Croce &
Hein, ICML 2020, Sec. 4), in L∞ and L2."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pyadvman.attacks._checks import check_count, check_images_labels, check_number
from pyadvman.attacks.base import Attack
from pyadvman.attacks.boundary_projection import NORMS, project_onto_hyperplane
from pyadvman.attacks.losses import top_classes
from pyadvman.attacks.model_checks import clean_pass, predicted_classes, warn_findings
from pyadvman.attacks.model_mode import eval_mode, frozen_parameters
from pyadvman.attacks.old_keywords import accepts_old_spellings
from pyadvman.attacks.result import AttackResult
from pyadvman.attacks.runs import result_of_runs, runs_on_unfooled
from pyadvman.attacks.threat_models import canonical_norm, checked_distance, perturbation_norm
from pyadvman.execution import Execution


@accepts_old_spellings
@dataclass(frozen=True)
class FABTargeted(Attack):
    """FAB-T: for each target class t (the clean point's 2nd, 3rd, … highest logit), iterate projections onto
    the linearised boundary between y and t.

    Each step linearises g(x) = f_t(x) − f_y(x) at the iterate x_k and projects both x_k and the clean point x_0
    onto {g(x_k) + ∇g·(z − x_k) = 0} ∩ [0, 1]^d with the minimum ``norm`` (:func:`project_onto_hyperplane`),
    giving δ_k and δ_0; then x_{k+1} = clip((1 − α)(x_k + η δ_k) + α (x_0 + η δ_0)) with α = min(‖δ_k‖ /
    (‖δ_k‖ + ‖δ_0‖), α_max). Once x_{k+1} is misclassified it is kept if it is the closest so far, and the
    search backs up towards x_0: x_{k+1} ← x_0 + β (x_{k+1} − x_0). FAB minimises the norm; a run succeeds when
    its closest misclassified point is within ``eps`` (``checked_distance`` ≤ eps, in float64 and in
    float32). The first start of each target is x_0 itself; further ``restarts`` start at a random point at
    distance eps/2 (AutoAttack: 1 start).

    With ``stop_on_success`` (AutoAttack's way) a target runs only on the examples that no earlier run fooled.

    Args:
        eps: radius (float >= 0).
        norm: "linf" (default), "l2" or "l1".
        steps: iterations per run (100). targets: 9.
        restarts: starts per target (1). alpha_max 0.1, eta 1.05 (overshoot), beta 0.9 (backward step): the
            paper's. execution: model checks (probability outputs, randomness), compile mode, precision
            (:class:`pyadvman.execution.Execution`).

    Returns (``run``): an AttackResult whose runs are target-major (Tensor[targets · restarts, B]); each run's
    image is its closest misclassified point within eps, else x; ``loss`` is −‖x_adv − x‖ of that point (−inf
    where none was found or the run was skipped). Examples misclassified clean count as successful at x.

    Raises:
        ValueError: bad x / y, eps not a finite number >= 0, an unknown norm, steps / targets / restarts not
            integers >= 1, targets above classes − 1 at run time.

    Shape: x Tensor[B, C, H, W] in [0, 1], y Tensor[B] int64.
    """

    eps: float = 0.3
    norm: str = "linf"
    steps: int = 100
    targets: int = 9
    restarts: int = 1
    alpha_max: float = 0.1
    eta: float = 1.05
    beta: float = 0.9
    stop_on_success: bool = True
    execution: Execution = Execution()

    def __post_init__(self) -> None:
        check_number("eps", self.eps)
        object.__setattr__(self, "norm", canonical_norm(self.norm))  # "Linf", "L2", "L1" as AutoAttack
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        for name in ("steps", "targets", "restarts"):
            check_count(name, getattr(self, name), 1)

    def run(self, model: nn.Module, x: Tensor, y: Tensor) -> AttackResult:
        check_images_labels(x, y)
        model = self.execution.model(model)
        with eval_mode(model), frozen_parameters(model), self.execution.prepared(model, x.device), \
                torch.enable_grad():
            logits, clean_correct, findings = clean_pass(model, x, y, self.execution.check_model)
            targets = top_classes(logits, self.targets)
            forward = self.execution.forward(model, x.device, varying_batch=self.stop_on_success)

            def run(r: int, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
                found, distance = self._one_run(forward, x[rows], y[rows], targets[r // self.restarts][rows],
                                                random_start=r % self.restarts > 0)
                exact = checked_distance(found, x[rows], self.norm)
                within = torch.isfinite(distance) & (exact <= self.eps)
                image = torch.where(within.view(-1, *([1] * (x.dim() - 1))), found, x[rows])
                return image, within, torch.where(within, -exact.float(), float("-inf"))

            images, success, loss = runs_on_unfooled(x, ~clean_correct, len(targets) * self.restarts, run,
                                                     self.stop_on_success)
            loss[:, ~clean_correct] = 0.0  # misclassified clean: fooled at distance 0
        warn_findings("FAB-T", findings)
        return result_of_runs(x, images, success, loss, clean_correct)

    def _boundary(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """g = f_t − f_y at x (Tensor[B]) and its input gradient (Tensor[B, D])."""
        x = x.detach().requires_grad_(True)
        logits = model(x)
        rows = torch.arange(x.shape[0], device=x.device)
        gap = logits[rows, target] - logits[rows, y]
        (grad,) = torch.autograd.grad(gap.sum(), x)
        return gap.detach(), grad.flatten(1)

    def _one_run(self, model: nn.Module, x0: Tensor, y: Tensor, target: Tensor, random_start: bool
                 ) -> tuple[Tensor, Tensor]:
        """The closest misclassified point found (Tensor[B, ...]; x0 where none) and its distance (inf where none)."""
        batch, shape = x0.shape[0], x0.shape
        flat0 = x0.flatten(1)
        best, best_norm = x0.clone(), torch.full((batch,), float("inf"), device=x0.device)
        x = x0.clone()
        if random_start:
            x = self._random_start(x0, best_norm)
        for _ in range(self.steps):
            gap, grad = self._boundary(model, x, y, target)
            flat = x.flatten(1)
            offset = (grad * flat).sum(dim=1) - gap
            with torch.no_grad():
                deltas = project_onto_hyperplane(torch.cat([flat, flat0]), torch.cat([grad, grad]),
                                                 torch.cat([offset, offset]), self.norm)
                to_iterate, to_origin = deltas[:batch], deltas[batch:]
                a_iterate = perturbation_norm(to_iterate, self.norm).clamp_min(1e-8)
                a_origin = perturbation_norm(to_origin, self.norm).clamp_min(1e-8)
                alpha = (a_iterate / (a_iterate + a_origin)).clamp(0, self.alpha_max)[:, None]
                moved = ((flat + self.eta * to_iterate) * (1 - alpha) + (flat0 + self.eta * to_origin) * alpha)
                x = moved.clamp(0, 1).view(shape)
                misclassified = predicted_classes(model(x)) != y
                distance = perturbation_norm(x - x0, self.norm)
                closer = misclassified & (distance < best_norm)
                best = torch.where(closer.view(-1, *([1] * (x.dim() - 1))), x, best)
                best_norm = torch.where(closer, distance, best_norm)
                backed = x0 + self.beta * (x - x0)
                x = torch.where(misclassified.view(-1, *([1] * (x.dim() - 1))), backed, x)
        return best, best_norm

    def _random_start(self, x0: Tensor, best_norm: Tensor) -> Tensor:
        """A random point at half min(eps, best norm) from x0 in the attack's norm (eps/2 in a fresh run, as
        AutoAttack's), clipped to the box."""
        radius = (0.5 * torch.clamp(best_norm, max=self.eps)).view(-1, *([1] * (x0.dim() - 1)))
        if self.norm == "linf":
            noise = torch.rand_like(x0) * 2 - 1
        else:
            noise = torch.randn_like(x0)
        scale = perturbation_norm(noise, self.norm).clamp_min(1e-12).view_as(radius)
        return (x0 + radius * noise / scale).clamp(0, 1)
