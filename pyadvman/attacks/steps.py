"""Update rules of the gradient attacks, each a small class in the manner of MadryLab/robustness's attack steps:
``random_start`` (the first iterate of every restart), ``step`` (one ascent step, in place) and ``project`` (back
into the threat model). A rule holds the threat model around the clean point and its own state (Adam's moments);
the protocol's ``update`` field (:class:`pyadvman.attacks.AttackProtocol`) names it.

Iterates carry a leading restart axis: p Tensor[R, B, ...] around p0 Tensor[B, ...].
"""

from __future__ import annotations

import torch
from torch import Tensor

from pyadvman.attacks.protocol import AttackProtocol
from pyadvman.attacks.threat_models import ThreatModel

GAUSSIAN_START_STD = 0.001  # the "gaussian" start x + 0.001·N(0, I) (TRADES, Zhang et al.; Robey et al.)
_ADAM_BETAS, _ADAM_EPS = (0.9, 0.999), 1e-8


class Step:
    """Base rule: starts and projections by the threat model; subclasses implement :meth:`step`."""

    def __init__(self, ball: ThreatModel, p0: Tensor, protocol: AttackProtocol) -> None:
        self.ball, self.p0, self.protocol = ball, p0, protocol

    def random_start(self, restarts: int) -> Tensor:
        """The first iterate of every restart, Tensor[R, B, ...], by the protocol's ``start``: "uniform" or
        "radial" in the ball (``ThreatModel.random_init``), "gaussian" (p0 + 0.001·N(0, I), projected) or "none"
        (p0 itself)."""
        p0, start = self.p0, self.protocol.start
        if start == "gaussian":
            noise = torch.randn(restarts, *p0.shape, dtype=p0.dtype, device=p0.device)
            return self.project(p0 + GAUSSIAN_START_STD * noise)
        if start == "none":
            return p0.expand(restarts, *p0.shape).clone()
        return self.ball.random_init(p0, restarts, start)

    def project(self, p: Tensor) -> Tensor:
        """Π(p): p Tensor[R, B, ...] onto the threat model around p0."""
        return self.ball.project(p, self.p0)

    def step(self, p: Tensor, grad: Tensor, active: Tensor | None) -> None:
        """One ascent step along grad (Tensor[R, B, ...]), written into p where ``active`` (Tensor[R, B] bool,
        None: everywhere) is True."""
        raise NotImplementedError


class SignedStep(Step):
    """p ← Π(p + α·sign ∇) for L∞ (the fused ``pgd_step_`` op), Π(p + α·∇/‖∇‖₂) for L2 (Madry et al., ICLR 2018,
    Eq. (2)); α is the protocol's step size (2.5·radius/steps by default)."""

    def __init__(self, ball: ThreatModel, p0: Tensor, protocol: AttackProtocol) -> None:
        super().__init__(ball, p0, protocol)
        self.alpha = protocol.step_size_for(ball.eps)

    def step(self, p: Tensor, grad: Tensor, active: Tensor | None) -> None:
        self.ball.step(p, self.p0, grad, self.alpha, active)


class LangevinStep(SignedStep):
    """The LMC samplers of Robey et al. (NeurIPS 2021, Alg. 1; docs/papers.md §3): "lmc_gaussian"
    p ← Π(p + α·sign ∇ + c·N(0, I)), "lmc_laplacian" p ← Π(p + α·sign(∇ + c·Laplace(0, 1))), c the protocol's
    noise scale."""

    def step(self, p: Tensor, grad: Tensor, active: Tensor | None) -> None:
        scale = self.protocol.noise_scale
        if self.protocol.update == "lmc_laplacian":
            uniform = torch.rand_like(grad) - 0.5  # Laplace(0, 1) by inversion
            grad = grad + scale * (-uniform.sign() * torch.log1p(-2 * uniform.abs()))
        super().step(p, grad, active)
        if self.protocol.update == "lmc_gaussian":
            self.ball.move(p, self.p0, scale * torch.randn_like(p), active)


class AdamStep(Step):
    """Adam on δ = p − p0 ascending the loss at learning rate ``lr`` (betas 0.9, 0.999; torch.optim.Adam's
    update), then Π: the released code of Stutz et al. (CVPR 2019; docs/protocol.md)."""

    def __init__(self, ball: ThreatModel, p0: Tensor, protocol: AttackProtocol) -> None:
        super().__init__(ball, p0, protocol)
        self.moments: tuple[Tensor, Tensor] | None = None
        self.count = 0

    def step(self, p: Tensor, grad: Tensor, active: Tensor | None) -> None:
        if self.moments is None:
            self.moments = (torch.zeros_like(p), torch.zeros_like(p))
        self.count += 1
        first, second = self.moments
        beta1, beta2 = _ADAM_BETAS
        first.mul_(beta1).add_(grad, alpha=1 - beta1)
        second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        update = self.protocol.lr * (first / (1 - beta1 ** self.count)) / (
            (second / (1 - beta2 ** self.count)).sqrt() + _ADAM_EPS)
        self.ball.move(p, self.p0, update, active)


UPDATE_RULES: dict[str, type[Step]] = {"sign": SignedStep, "adam": AdamStep, "lmc_gaussian": LangevinStep,
                                       "lmc_laplacian": LangevinStep}


def update_rule(protocol: AttackProtocol, ball: ThreatModel, p0: Tensor) -> Step:
    """The rule of ``protocol.update`` for a search in ``ball`` around p0.

    Raises:
        ValueError: update "apgd", whose schedule only :class:`pyadvman.attacks.APGD` runs.
    """
    if protocol.update not in UPDATE_RULES:
        raise ValueError(f"update {protocol.update!r} is APGD's step-size schedule: run it with "
                         "pyadvman.attacks.APGD, or choose one of " + ", ".join(UPDATE_RULES))
    return UPDATE_RULES[protocol.update](ball, p0, protocol)
