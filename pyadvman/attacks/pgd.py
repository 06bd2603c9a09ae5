"""Projected gradient descent (L∞ / L2) and its loop, which every gradient attack on images or codes runs
(:func:`projected_gradient_search`); FGSM, the TRADES (KL) attack and the LMC attacks are PGD with other
protocols and losses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from pyadvman._compat import renamed_keywords
from pyadvman.attacks._checks import check_images_labels, check_labels, check_number, check_target
from pyadvman.attacks.base import Attack
from pyadvman.attacks.iterates import KeptIterates, non_finite_finding, pick_restart
from pyadvman.attacks.losses import CLEAN_LOGIT_LOSSES, Loss, get_loss
from pyadvman.attacks.model_checks import (
    check_logits,
    clean_pass,
    gradient_findings,
    predicted_classes,
    warn_findings,
)
from pyadvman.attacks.model_mode import eval_mode, frozen_parameters
from pyadvman.attacks.old_keywords import accepts_old_spellings
from pyadvman.attacks.protocol import AttackProtocol, Bound
from pyadvman.attacks.result import AttackResult
from pyadvman.attacks.steps import update_rule
from pyadvman.attacks.threat_models import NORMS, ThreatModel, ball_for, canonical_norm, check_radius
from pyadvman.execution import Execution

Render = Callable[[Tensor], Tensor]  # p [R, B, ...] -> images [R, B, C, H, W]


@accepts_old_spellings
@dataclass(frozen=True)
class PGD(Attack):
    """Projected gradient ascent on a per-example loss within an L∞, L2 or L1 ball around x, intersected with
    [0, 1] (Madry et al., ICLR 2018, Eq. (2); docs/papers.md §1 "Attacks").

    The ``protocol`` says how it searches (:class:`AttackProtocol`: the update rule, its step size or learning
    rate, steps T, R restarts, the start and which iterate counts); the default is textbook signed PGD-40 with
    steps of 2.5·eps/40 from a uniform start. R restarts run batched as [R, B]; every iterate x_0 … x_T is
    evaluated and each (example, restart) keeps one by the protocol's ``keep`` rule; its success is that
    iterate's. The loop is :func:`projected_gradient_search`.

    Args:
        eps: radius (input units, images in [0, 1]), float >= 0 or Tensor[B] per example. Default 0.3.
        protocol: the search (default ``AttackProtocol()``, signed PGD-40; ``RELEASED_EVALUATION`` is the released
            code of Stutz et al.: Adam on δ, 5 restarts, any fooling iterate counted).
        norm: "linf" (the fused ``pgd_step`` op), "l2" (normalised-gradient steps, ``l2_step``) or "l1" (sparse
            steps as APGD-L1 takes them, on the top 20% of |∇| coordinates, then ``l1_project``:
            :class:`pyadvman.attacks.L1Ball`).
        loss: "ce", "kl" (TRADES), "lmc" (log(1 − p_y)), "margin" or "dlr" (:mod:`pyadvman.attacks.losses`).
        targeted: minimise the loss towards ``target`` (given to :meth:`run`) instead of maximising it.
        execution: compile mode, model checks, chunking and precision (:class:`pyadvman.execution.Execution`).

    Logits with NaN or inf predict no class: such an example is never correct and always counts as fooled.

    Shape: x Tensor[B, C, H, W] float in [0, 1]; y Tensor[B] int64; returns x_adv like x (in [0, 1], within
    eps of x).

    Raises:
        ValueError: bad x / y / target (non-finite x, labels outside the model's classes), eps or the step size
            not a finite number >= 0 or a Tensor[B], an unknown norm or loss, update "apgd" (APGD's).

    Example:
        >>> attack = PGD(eps=0.3, protocol=AttackProtocol(steps=40, restarts=5))
        >>> x_adv = attack(model, x, y)                              # doctest: +SKIP
        >>> attack.run(model, x, y).success_rate()                   # doctest: +SKIP
    """

    eps: Bound = 0.3
    protocol: AttackProtocol = AttackProtocol()
    norm: str = "linf"
    loss: str = "ce"
    targeted: bool = False
    execution: Execution = Execution()

    NOT_OPTIONS: ClassVar[tuple[str, ...]] = ("targeted",)  # the command line gives no target classes

    def __post_init__(self) -> None:
        check_number("eps", self.eps, allow_tensor=True)
        object.__setattr__(self, "norm", canonical_norm(self.norm))  # "Linf", "L2" as AutoAttack
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.protocol.update == "apgd":
            raise ValueError("protocol.update 'apgd' is APGD's step-size schedule: use pyadvman.attacks.APGD")
        get_loss(self.loss)

    def run(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None = None) -> AttackResult:
        """Attacks (x, y); see the class docstring. ``target`` (Tensor[B] int64) is required when targeted."""
        check_images_labels(x, y)
        check_target(target, self.targeted, y)
        return projected_gradient_search(model, x, y, self._ball(x), self.protocol, self.execution, loss=self.loss,
                                         targeted=self.targeted, target=target)

    def _ball(self, x: Tensor) -> ThreatModel:
        check_radius("eps", self.eps, x.shape[0])
        check_radius("step_size", self.protocol.step_size_for(self.eps), x.shape[0])
        return ball_for(self.norm, self.eps)

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        """``x_adv`` of :meth:`run`, untargeted, with only the model passes it needs (:func:`adversarial_iterates`):
        the training path (a subclass that overrides ``run`` gets ``run(...).x_adv``). Raises as :meth:`run`;
        ValueError for a targeted attack (it needs run's target)."""
        if self.targeted:
            raise ValueError("perturb runs untargeted attacks only: call run(model, x, y, target)")
        if type(self).run is not PGD.run:
            return self(model, x, y)
        check_images_labels(x, y)
        return adversarial_iterates(model, x, y, self._ball(x), self.protocol, self.execution, loss=self.loss)


def identity_render(p: Tensor) -> Tensor:
    return p


def projected_gradient_search(model: nn.Module, p0: Tensor, labels: Tensor, ball: ThreatModel,
                              protocol: AttackProtocol, execution: Execution = Execution(), *, loss: str = "ce",
                              targeted: bool = False, target: Tensor | None = None,
                              render: Render = identity_render) -> AttackResult:
    """The loop of every gradient attack: ascend a per-example loss over a variable p (the image, or a code that
    a differentiable ``render`` turns into images) inside ``ball``, R restarts batched as [R, B], gradients w.r.t.
    p only, the model in eval mode with frozen weights.

    Args:
        model: classifier, images [N, C, H, W] in [0, 1] -> logits [N, K].
        p0 (Tensor[B, ...]): the unperturbed variable. labels (Tensor[B]): int64 true classes.
        ball: the threat model around p0. protocol: how to search. execution: how to run it.
        loss: a name of :mod:`pyadvman.attacks.losses`. targeted, target (Tensor[B] int64): descend towards target.
        render: p [R, B, ...] -> images [R, B, C, H, W], differentiable in p.

    Raises:
        ValueError: labels (or target) outside [0, K) for a model with K outputs.
    """
    restarts, batch = protocol.restarts, p0.shape[0]
    model = execution.model(model)
    with eval_mode(model), frozen_parameters(model), execution.prepared(model, p0.device), torch.enable_grad():
        p0 = p0.detach()
        with torch.no_grad():
            clean = render(p0[None])[0]
        clean_logits, clean_correct, findings = clean_pass(model, clean, labels, execution.check_model)
        if targeted:
            check_labels("target", target, clean_logits.shape[1])
        passes = _Passes(model, render, get_loss(loss), target if targeted else labels, clean_logits, targeted,
                         restarts, execution, p0.device)

        def check_gradient(grad: Tensor, value: Tensor) -> None:
            findings.extend(gradient_findings(grad[0], value[0].abs(), clean_correct))

        kept, evaluated, discarded = _ascend(passes, ball, protocol, p0, judge_last=True,
                                             first_gradient=check_gradient if execution.check_model else None)
        with torch.no_grad():
            images = render(kept.p)
            chosen = pick_restart(kept.success, kept.loss)
    warn_findings("attack", findings + non_finite_finding(discarded, evaluated * batch))
    return AttackResult(x_adv=images[chosen, torch.arange(batch, device=p0.device)], x_adv_restarts=images,
                        params=kept.p, clean=clean, success=kept.success, loss=kept.loss, clean_correct=clean_correct)


def adversarial_iterates(model: nn.Module, p0: Tensor, labels: Tensor, ball: ThreatModel, protocol: AttackProtocol,
                         execution: Execution = Execution(), *, loss: str = "ce",
                         render: Render = identity_render) -> Tensor:
    """The images :func:`projected_gradient_search` returns as ``x_adv`` (Tensor[B, C, H, W]), untargeted, with
    only the model passes they need: what a training objective asks of its attack (``Attack.perturb``).

    It skips the clean pass unless the loss reads the clean logits (the KL loss), and with one restart under
    keep "last" without early stopping it judges no iterate, not even the last: T forward and backward passes
    for a PGD-T (T >= 1), as a plain training loop makes. The kept iterate is the last finite one, as in the full
    search, and non-finite iterates are counted in one warning; there are no model checks (a model that changes
    its input in place fails in autograd, not with clean_pass's message). The images equal the full search's for
    a model without randomness in eval mode (the full search's clean pass would draw from it first).

    Args and Raises: as :func:`projected_gradient_search`.
    """
    batch = p0.shape[0]
    model = execution.model(model)
    with eval_mode(model), frozen_parameters(model), execution.prepared(model, p0.device), torch.enable_grad():
        p0 = p0.detach()
        clean_logits = None
        if loss in CLEAN_LOGIT_LOSSES:
            with torch.no_grad():
                clean_logits, _, _ = clean_pass(model, render(p0[None])[0], labels, check_model=False)
        passes = _Passes(model, render, get_loss(loss), labels, clean_logits, False, protocol.restarts, execution,
                         p0.device)
        judge_last = not (protocol.keep == "last" and protocol.restarts == 1 and not protocol.early_stop
                          and protocol.steps >= 1)
        kept, evaluated, discarded = _ascend(passes, ball, protocol, p0, judge_last=judge_last)
        with torch.no_grad():
            images = render(kept.p)
            chosen = pick_restart(kept.success, kept.loss) if judge_last else torch.zeros_like(labels)
    warn_findings("attack", non_finite_finding(discarded, evaluated * batch))
    return images[chosen, torch.arange(batch, device=p0.device)]


def _ascend(passes: _Passes, ball: ThreatModel, protocol: AttackProtocol, p0: Tensor, *, judge_last: bool,
            first_gradient: Callable[[Tensor, Tensor], None] | None = None) -> tuple[KeptIterates, int, int]:
    """Runs the protocol's steps from its start. Returns the kept iterates, the number of iterates evaluated (or,
    unjudged, produced) per example and how many (example, restart) iterates were discarded as non-finite;
    ``first_gradient`` is called with the first gradient (Tensor[R, B, ...]) and loss values (Tensor[R, B])
    before they are stepped on.

    Without ``judge_last`` (keep "last", one restart, no early stop: nothing reads a success or a loss value)
    no iterate is judged: the passes give gradients only, and each new iterate is kept where it is finite."""
    rule = update_rule(protocol, ball, p0)
    with torch.no_grad():
        p = rule.random_start(protocol.restarts).contiguous()
    kept = KeptIterates(p, protocol.keep)
    discarded = torch.zeros((), dtype=torch.int64, device=p.device)
    if not judge_last:
        for _ in range(protocol.steps):
            passes.forward(p)
            grad = passes.gradient()
            with torch.no_grad():
                rule.step(p, grad, None)
                discarded += (~kept.take_finite(p)).sum()
        return kept, protocol.steps * protocol.restarts, int(discarded)
    evaluated = 0
    for step in range(protocol.steps + 1):
        value, success = passes.evaluate(p)
        evaluated += protocol.restarts
        finite = kept.update(p, success, value)
        discarded += (~finite).sum()  # no host sync per step
        active = ~kept.success if protocol.early_stop else None
        if step == protocol.steps or (active is not None and not bool(active.any())):
            break
        grad = passes.gradient()
        if step == 0 and first_gradient is not None:
            first_gradient(grad, value)
        with torch.no_grad():
            rule.step(p, grad, active)
    return kept, evaluated, int(discarded)


class _Passes:
    """The forward and backward passes of one iterate of all restarts: in chunks of restarts on CPU (activations
    of a few thousand images stay in cache, and backward passes slow down past that: bench/bench_attack.py), all
    at once on CUDA, or ``execution.chunk_rows`` rows."""

    def __init__(self, model: nn.Module, render: Render, loss: Loss, goal: Tensor, clean_logits: Tensor | None,
                 targeted: bool, restarts: int, execution: Execution, device: torch.device) -> None:
        self.render, self.loss, self.targeted, self.restarts = render, loss, targeted, restarts
        self.goal = goal.repeat(restarts)
        self.clean = None if clean_logits is None else clean_logits.repeat(restarts, 1)
        self.batch = goal.shape[0]
        self.checked = clean_logits is not None  # the clean pass checked the output and the labels
        self.forward_pass = execution.forward(model, device)
        rows = execution.chunk_rows if execution.chunk_rows is not None else (0 if device.type == "cuda" else 2048)
        self.per_chunk = restarts if rows <= 0 else max(1, rows // max(self.batch, 1))

    def forward(self, p: Tensor) -> None:
        """The forward passes of iterates p, keeping the graph for :meth:`gradient` and the logits (detached,
        per chunk) for :meth:`evaluate`."""
        self.leaves, self.losses, self.logits = [], [], []
        for first in range(0, self.restarts, self.per_chunk):
            leaf = p[first:first + self.per_chunk].detach().requires_grad_(True)
            rows = slice(first * self.batch, (first + leaf.shape[0]) * self.batch)
            chunk_logits = self.forward_pass(self.render(leaf).flatten(0, 1))
            if not self.checked:
                check_logits(chunk_logits, rows.stop - rows.start)
                check_labels("y", self.goal, chunk_logits.shape[1])
                self.checked = True
            chunk_loss = self.loss(chunk_logits, self.goal[rows], None if self.clean is None else self.clean[rows])
            self.leaves.append(leaf)
            self.losses.append(-chunk_loss if self.targeted else chunk_loss)
            self.logits.append(chunk_logits.detach())

    def evaluate(self, p: Tensor) -> tuple[Tensor, Tensor]:
        """The loss (Tensor[R, B] float, NaN as −inf) and success (Tensor[R, B] bool) of iterates p."""
        self.forward(p)
        with torch.no_grad():
            predicted = predicted_classes(torch.cat(self.logits))
            success = predicted == self.goal if self.targeted else predicted != self.goal
            value = torch.cat(self.losses).detach().float().view(self.restarts, self.batch)
        return value.nan_to_num(nan=float("-inf")), success.view(self.restarts, self.batch)

    def gradient(self) -> Tensor:
        """d loss / d p at the iterates of the last :meth:`evaluate`, Tensor[R, B, ...]."""
        return torch.cat([torch.autograd.grad(loss.sum(), leaf)[0] for leaf, loss in zip(self.leaves, self.losses)])


def fgsm(eps: Bound = 0.3) -> PGD:
    """FGSM (Goodfellow et al., ICLR 2015): one signed step of size eps from x: x + eps·sign ∇CE, in [0, 1]."""
    return PGD(eps=eps, protocol=AttackProtocol(steps=1, step_size=eps, start="none"))


@renamed_keywords(alpha="step_size")
def trades_attack(eps: Bound = 0.3, steps: int = 10, step_size: Bound | None = None, restarts: int = 1,
                  norm: str = "linf") -> PGD:
    """The TRADES inner maximisation (Zhang et al., ICML 2019, Alg. 1; docs/papers.md §3): ascent on
    KL(softmax f(x) ‖ softmax f(x')) from x + 0.001·N(0, I), signed under L∞ (``norm``: the steps of PGD's
    norm otherwise)."""
    return PGD(eps=eps, norm=norm, protocol=AttackProtocol(steps=steps, step_size=step_size, restarts=restarts,
                                                           start="gaussian"), loss="kl")


@renamed_keywords(alpha="step_size")
def lmc_gaussian(eps: Bound = 0.3, steps: int = 7, step_size: Bound = 0.1, noise_scale: float = 0.001) -> PGD:
    """LMC Gaussian attack (Robey et al., NeurIPS 2021, Alg. 1; docs/papers.md §3): from x + 0.001·N(0, I),
    x' ← Π(x' + α·sign ∇ log(1 − p_y(x')) + c·N(0, I))."""
    return PGD(eps=eps, protocol=AttackProtocol(update="lmc_gaussian", steps=steps, step_size=step_size,
                                                noise_scale=noise_scale, start="gaussian"), loss="lmc")


@renamed_keywords(alpha="step_size")
def lmc_laplacian(eps: Bound = 0.3, steps: int = 7, step_size: Bound = 0.1, noise_scale: float = 0.001) -> PGD:
    """LMC Laplacian attack (Robey et al., NeurIPS 2021; docs/papers.md §3): from x + 0.001·N(0, I),
    x' ← Π(x' + α·sign(∇ log(1 − p_y(x')) + c·Laplace(0, 1)))."""
    return PGD(eps=eps, protocol=AttackProtocol(update="lmc_laplacian", steps=steps, step_size=step_size,
                                                noise_scale=noise_scale, start="gaussian"), loss="lmc")
