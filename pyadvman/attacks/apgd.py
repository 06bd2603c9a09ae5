"""APGD (APGD-CE, APGD-DLR) and APGD-T: auto-PGD with the step-size schedule of AutoAttack (Croce & Hein, ICML
2020, Alg. 1) under L∞ and L2, and APGD-L1 with its sparse steps (Croce & Hein, ICML 2021), untargeted or towards
each of the clean point's top classes in turn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pyadvman.attacks._checks import check_count, check_images_labels, check_number
from pyadvman.attacks.apgd_search import large_eps_restart, momentum_restart, sparse_restart
from pyadvman.attacks.base import Attack
from pyadvman.attacks.iterates import non_finite_finding
from pyadvman.attacks.losses import get_loss, targeted_dlr, top_classes
from pyadvman.attacks.model_checks import clean_pass, predicted_classes, warn_findings
from pyadvman.attacks.model_mode import eval_mode, frozen_parameters
from pyadvman.attacks.old_keywords import accepts_old_spellings
from pyadvman.attacks.protocol import APGD_PROTOCOL, APGD_REQUIREMENT, AttackProtocol, is_apgd_protocol
from pyadvman.attacks.result import AttackResult
from pyadvman.attacks.runs import result_of_runs, runs_on_unfooled
from pyadvman.attacks.threat_models import NORMS, ball_for, canonical_norm, check_radius
from pyadvman.execution import Execution

# (logits Tensor[b, K] of the attacked examples, their rows Tensor[b] in the batch) -> the per-example loss a run
# maximises, Tensor[b]
LossOf = Callable[[Tensor, Tensor], Tensor]


def checkpoints(steps: int) -> list[int]:
    """Iterations w_j at which the step size may halve (Croce & Hein, 2020, Sec. 3.2): the first after
    0.22·steps, then gaps shrinking by 0.03·steps down to at least 0.06·steps, in whole iterations as in
    AutoAttack's code (for 100 steps: 22, 41, 57, 70, 80, 87, 93, 99)."""
    gap, smallest, shrink = max(int(0.22 * steps), 1), max(int(0.06 * steps), 1), max(int(0.03 * steps), 1)
    marks = [gap]
    while True:
        gap = max(gap - shrink, smallest)
        if marks[-1] + gap > steps:
            return marks
        marks.append(marks[-1] + gap)


@accepts_old_spellings
@dataclass(frozen=True)
class APGD(Attack):
    """APGD (Croce & Hein, ICML 2020, Alg. 1) for stronger evaluation than fixed-step PGD, under L∞, L2 or L1.

    L∞ and L2: the step size starts at 2·eps per example; each step z = P(x_k + η·d) with d = sign ∇ (the
    ``pgd_step`` op) or ∇/‖∇‖₂ (``l2_step``), then x_{k+1} = P(x_k + 0.75·(z − x_k) + 0.25·(x_k − x_{k−1})). At
    each checkpoint w_j the step size halves and the search restarts from the best point when at most rho of the
    steps since w_{j−1} increased the loss, or when the step size was not halved at w_{j−1} and the best loss has
    not improved since. L1 (APGD-L1, Croce & Hein, "Mind the box", ICML 2021, Sec. 3.2): sparse steps on the
    coordinates with the largest |∇|, the exact projection onto the L1 ball ∩ [0, 1]^d (``l1_project``), no
    momentum, and a sparsity and step size that adapt every 4% of the iterations
    (:func:`pyadvman.attacks.apgd_search.sparse_restart`). Restarts run one after the other (each from
    AutoAttack's random start for the norm); the result keeps, per example and restart, the first
    iterate that fools the model, else the highest-loss one. With ``stop_on_success`` (AutoAttack's way) a
    restart runs only on the examples that no earlier restart fooled; skipped runs are recorded as unsuccessful at
    x with loss −inf, so read ``robust_accuracy()``, not ``success_rate()``.

    Args:
        eps: radius (float or Tensor[B]) in the ``norm``, default 0.3.
        norm: "linf" (default), "l2" or "l1" ("Linf", "L2", "L1" as AutoAttack spells them).
        large_eps: L1 only: AutoAttack's schedule for its standard version (``use_largereps``): each restart
            searches at 3·eps, 2·eps, then eps, for 30%, 30% and 40% of the iterations.
        protocol: its steps (iterations) and restarts R; the rest is APGD's (update "apgd", a uniform start, the
            first fooling iterate kept). Default ``APGD_PROTOCOL``: 100 iterations, 1 restart (AutoAttack's).
        rho: 0.75. loss: "ce" (APGD-CE), "dlr" (APGD-DLR) or "margin" (APGD with the CW margin).
        eot: forward/backward passes per step whose loss and gradient are averaged, expectation over
            transformation for randomised models (Athalye et al., ICML 2018; AutoAttack's version="rand": 20);
            whether the iterate fools the model is judged by the last pass.
        execution: model checks, compile mode, precision (:class:`pyadvman.execution.Execution`).

    Raises:
        ValueError: bad x / y (non-finite x, labels outside the model's classes), eps not a finite number >= 0
            or a Tensor[B], an unknown norm, large_eps with a norm other than L1, a protocol that is not APGD's or
            with fewer than 1 step, eot not an integer >= 1, rho outside (0, 1].

    Shape: x Tensor[B, C, H, W] in [0, 1], y Tensor[B] int64.
    """

    eps: float | Tensor = 0.3
    protocol: AttackProtocol = APGD_PROTOCOL
    rho: float = 0.75
    loss: str = "ce"
    eot: int = 1
    stop_on_success: bool = False
    norm: str = "linf"
    large_eps: bool = False
    execution: Execution = Execution()
    _name = "APGD"  # the attack's name in the model checks' warnings (a class constant, not a field)

    def __post_init__(self) -> None:
        check_number("eps", self.eps, allow_tensor=True)
        object.__setattr__(self, "norm", canonical_norm(self.norm))  # "Linf", "L2", "L1" as AutoAttack
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.large_eps and self.norm != "l1":
            raise ValueError(f"large_eps is AutoAttack's schedule for L1 only, got norm {self.norm!r}")
        if not is_apgd_protocol(self.protocol):
            raise ValueError(f"protocol must be {APGD_REQUIREMENT}, got {self.protocol}")
        check_count("steps", self.protocol.steps, 1)
        check_count("eot", self.eot, 1)
        if not 0 < self.rho <= 1:
            raise ValueError(f"rho must be in (0, 1], got {self.rho}")
        get_loss(self.loss)

    @property
    def steps(self) -> int:
        return self.protocol.steps

    @property
    def restarts(self) -> int:
        return self.protocol.restarts

    def run(self, model: nn.Module, x: Tensor, y: Tensor) -> AttackResult:
        check_images_labels(x, y)
        check_radius("eps", self.eps, x.shape[0])
        model = self.execution.model(model)
        with eval_mode(model), frozen_parameters(model), self.execution.prepared(model, x.device), \
                torch.enable_grad():
            logits, clean_correct, findings = clean_pass(model, x, y, self.execution.check_model)
            losses = self._run_losses(logits, y)
            eps = self.eps if isinstance(self.eps, Tensor) else torch.full((x.shape[0],), float(self.eps),
                                                                        dtype=torch.float64, device=x.device)
            forward = self.execution.forward(model, x.device, varying_batch=self.stop_on_success)

            iterates = [0, 0]  # discarded (non-finite), evaluated

            def run(r: int, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
                checked = (findings, clean_correct[rows]) if self.execution.check_model and r == 0 else None
                return self._one_restart(forward, x[rows], y[rows], eps[rows],
                                         lambda logits: losses[r](logits, rows), checked, iterates)

            done = ~clean_correct if self.stop_on_success else torch.zeros_like(clean_correct)
            runs = runs_on_unfooled(x, done, len(losses), run, self.stop_on_success)
        warn_findings(self._name, findings + non_finite_finding(*iterates))
        return result_of_runs(x, *runs, clean_correct)

    def _run_losses(self, clean_logits: Tensor, y: Tensor) -> list[LossOf]:
        """The loss each run maximises, one per restart: the attack's loss."""
        loss = get_loss(self.loss)
        return [lambda logits, rows: loss(logits, y[rows], logits.detach())] * self.restarts

    def _loss_grad(self, model: nn.Module, x: Tensor, y: Tensor, loss_of: Callable[[Tensor], Tensor]
                   ) -> tuple[Tensor, Tensor, Tensor]:
        """The loss and its input gradient, each averaged over ``eot`` passes, and whether the last pass
        misclassifies."""
        total_loss = total_grad = 0
        for _ in range(self.eot):
            x = x.detach().requires_grad_(True)
            logits = model(x)
            loss = loss_of(logits)
            (grad,) = torch.autograd.grad(loss.sum(), x)
            total_loss, total_grad = total_loss + loss.detach(), total_grad + grad
        return total_loss / self.eot, total_grad / self.eot, predicted_classes(logits.detach()) != y

    def _one_restart(self, model: nn.Module, x0: Tensor, y: Tensor, eps: Tensor, loss_of: Callable[[Tensor], Tensor],
                     checked: tuple[list[str], Tensor] | None, iterates: list[int]) -> tuple[Tensor, Tensor, Tensor]:
        """One restart maximising ``loss_of(logits)`` (Tensor[B]) in the ball of radius eps (Tensor[B]),
        successful where the model misclassifies (:mod:`pyadvman.attacks.apgd_search`); ``checked`` =
        (findings, clean_correct) collects the zero-gradient findings; ``iterates`` = [discarded, evaluated]
        counts the non-finite iterates."""
        def loss_grad(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            return self._loss_grad(model, x, y, loss_of)

        if self.norm == "l1":
            if self.large_eps:
                return large_eps_restart(x0, eps, self.steps, loss_grad, checked, iterates)
            return sparse_restart(x0, eps, self.steps, loss_grad, checked, iterates)[:3]
        return momentum_restart(ball_for(self.norm, eps), x0, eps, self.steps, self.rho, checkpoints(self.steps),
                                loss_grad, checked, iterates, self.norm)


@accepts_old_spellings
@dataclass(frozen=True)
class APGDTargeted(APGD):
    """APGD-T (Croce & Hein, ICML 2020, Sec. 4; AutoAttack's second attack): APGD on the targeted DLR loss,
    one run per target class, the clean point's 2nd, 3rd, … (targets + 1)-th highest logits (AutoAttack:
    9 targets, 100 iterations, one start each). A run succeeds where the model misclassifies, towards its target
    or not; the result's restarts are target-major (Tensor[targets · restarts, B]: the first target's restarts,
    then the next's), and the returned image per example is a successful run's if any.

    Args:
        eps, rho, execution: as APGD. protocol: its steps, and its restarts: random starts per target
            (AutoAttack: 1). targets: number of target classes, 1 … classes − 1 (default 9). ``loss`` is not used.

    Raises:
        ValueError: as APGD; targets not an integer >= 1 or, at run time, above classes − 1; fewer than 4
            classes (the targeted DLR loss needs z_π4).

    Shape: x Tensor[B, C, H, W] in [0, 1], y Tensor[B] int64.
    """

    targets: int = 9
    _name = "APGD-T"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_count("targets", self.targets, 1)

    def _run_losses(self, clean_logits: Tensor, y: Tensor) -> list[LossOf]:
        """The targeted DLR loss towards the clean point's (k + 1)-th class, k = 1 … targets, ``restarts``
        times each (target-major)."""
        return [lambda logits, rows, t=target: targeted_dlr(logits, y[rows], t[rows])
                for target in top_classes(clean_logits, self.targets) for _ in range(self.restarts)]
