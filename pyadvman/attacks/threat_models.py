"""Threat models: the constraint sets attacks search in, each a small class with random_init / step / project
(in the manner of MadryLab/robustness's attack steps).

Shapes: centres ``x0`` are Tensor[B, ...]; iterates carry a leading restart axis, Tensor[R, B, ...].
"""

from __future__ import annotations

import torch
from torch import Tensor

from pyadvman.ops import linf_project, pgd_step_

Bound = float | Tensor


def _per_example(value: Bound, x: Tensor) -> Bound:
    """A [B] tensor reshaped to broadcast against x [R, B, ...]; floats pass through."""
    if isinstance(value, Tensor) and value.dim() == 1:
        return value.to(x).view(1, -1, *([1] * (x.dim() - 2)))
    return value


def write_active(x: Tensor, moved: Tensor, active: Tensor | None) -> Tensor:
    """x [R, B, ...] takes ``moved`` where ``active`` [R, B] is True (all rows when None); returns x."""
    if active is not None:
        moved = torch.where(active.view(*active.shape, *([1] * (x.dim() - 2))), moved, x)
    return x.copy_(moved)


_NORM_SPELLINGS = {"linf": "linf", "inf": "linf", "l2": "l2", "2": "l2"}


def canonical_norm(norm: object) -> object:
    """pyadvman's name of a norm ("linf", "l2") for any case of it, as AutoAttack spells them ("Linf", "L2") or
    numpy ("inf", "2"); anything else is returned unchanged, for the attack to refuse by name."""
    return _NORM_SPELLINGS.get(norm.lower(), norm) if isinstance(norm, str) else norm


def check_radius(name: str, value: Bound, batch: int) -> None:
    """A per-example radius, known only once the batch is: raises ValueError unless a Tensor ``value`` is a
    Tensor[B] of finite values >= 0. Floats pass: the attacks check them when they are built
    (``pyadvman.attacks._checks.check_number``)."""
    if not isinstance(value, Tensor):
        return
    if value.shape != (batch,):
        raise ValueError(f"{name} must be a float or a Tensor[{batch}] (one per example), "
                         f"got shape {list(value.shape)}")
    bad = ~(torch.isfinite(value) & (value >= 0))
    if bool(bad.any()):
        raise ValueError(f"{name} must be finite and >= 0 for every example, got {value[bad][0].item()} at "
                         f"example {int(bad.nonzero()[0])}")


def perturbation_norm(delta: Tensor, norm: str) -> Tensor:
    """‖δ‖ per example: δ Tensor[B, ...] -> Tensor[B] (``norm`` "linf" or "l2")."""
    flat = delta.flatten(1)
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)


def checked_distance(x_adv: Tensor, x: Tensor, norm: str = "linf") -> Tensor:
    """‖x_adv − x‖ per example as any checker computes it: the larger of the distance in float64 and the
    float32 difference's, so that ``checked_distance(...) <= eps`` holds however a checker rounds.
    x_adv, x Tensor[B, ...]; norm "linf" or "l2". Tensor[B] float64."""
    return torch.maximum(perturbation_norm(x_adv.double() - x.double(), norm),
                         perturbation_norm((x_adv - x).double(), norm))


class ThreatModel:
    """A constraint set around a centre x0: ``random_init`` (random starts), ``project`` (Π onto the set), ``step``
    (one signed or normalised-gradient step, then Π) and ``move`` (an arbitrary update, then Π), all batched over a
    leading restart axis. ``eps`` is the radius (float or Tensor[B])."""

    eps: Bound

    def random_init(self, x0: Tensor, restarts: int, kind: str = "uniform") -> Tensor:
        raise NotImplementedError

    def project(self, x: Tensor, x0: Tensor) -> Tensor:
        raise NotImplementedError

    def step(self, x: Tensor, x0: Tensor, grad: Tensor, alpha: Bound, active: Tensor | None) -> Tensor:
        raise NotImplementedError

    def move(self, x: Tensor, x0: Tensor, update: Tensor, active: Tensor | None) -> Tensor:
        """Π(x + update), written into x where ``active`` [R, B] is True (an arbitrary update, e.g. Adam's)."""
        return write_active(x, self.project(x + update, x0), active)


class LinfBall(ThreatModel):
    """{x : ‖x − x0‖∞ ≤ eps} ∩ {lo ≤ x ≤ hi}: the L∞ threat model (Madry et al., ICLR 2018, Sec. 2.1).

    With float bounds (images in [0, 1]) the step and the projection are the fused ops ``pgd_step_`` and
    ``linf_project``; with tensor bounds (per-dimension ranges of latent codes or transform parameters,
    broadcastable to x0's shape) they are plain torch ops.

    Args:
        eps: radius, float >= 0 or Tensor[B] (per example).
        lo, hi: box bounds, floats or tensors broadcastable to Tensor[B, ...].
    """

    def __init__(self, eps: Bound, lo: Bound = 0.0, hi: Bound = 1.0) -> None:
        self.eps, self.lo, self.hi = eps, lo, hi
        self.fused = not isinstance(lo, Tensor) and not isinstance(hi, Tensor)

    def random_init(self, x0: Tensor, restarts: int, kind: str = "uniform") -> Tensor:
        """A random start in the ball, projected onto the box: Tensor[R, B, ...].

        ``kind`` "uniform": every coordinate uniform in [−eps, eps]. "radial": a Gaussian direction scaled to
        ‖·‖∞ = 1, times eps, times one radius u ~ U[0, 1] per (restart, example), the start of the released code
        of Stutz et al. (docs/protocol.md); most coordinates start well inside the ball.
        """
        if kind == "radial":
            direction = torch.randn(restarts, *x0.shape, dtype=x0.dtype, device=x0.device)
            peak = direction.flatten(2).abs().amax(dim=2).clamp_min(1e-12)
            radius = torch.rand(restarts, x0.shape[0], dtype=x0.dtype, device=x0.device) / peak
            noise = direction * radius.view(*radius.shape, *([1] * (x0.dim() - 1)))
        else:
            noise = torch.rand(restarts, *x0.shape, dtype=x0.dtype, device=x0.device) * 2 - 1
        return self.project(x0 + noise * _per_example(self.eps, noise), x0)

    def project(self, x: Tensor, x0: Tensor) -> Tensor:
        """Π(x): x [R, B, ...] onto the ball around x0 [B, ...] intersected with the box."""
        if self.fused:
            return linf_project(x, x0, self.eps, float(self.lo), float(self.hi))
        eps = _per_example(self.eps, x)
        inside = torch.minimum(torch.maximum(x, x0 - eps), x0 + eps)
        return torch.minimum(torch.maximum(inside, self.lo), self.hi)

    def step(self, x: Tensor, x0: Tensor, grad: Tensor, alpha: Bound, active: Tensor | None) -> Tensor:
        """Π(x + alpha·sign(grad)), written into x where ``active`` [R, B] is True; returns x."""
        if self.fused:
            return pgd_step_(x, x0, grad, self.eps, alpha, float(self.lo), float(self.hi), active=active)
        return self.move(x, x0, _per_example(alpha, x) * grad.sign(), active)


class L2Ball(ThreatModel):
    """{x : ‖x − x0‖₂ ≤ eps} ∩ [lo, hi]: the L2 threat model (norm over all but the batch dimensions).

    Steps move by alpha along the normalised gradient; the projection rescales δ onto the ball, then clamps
    to the box (which only shortens δ).

    Args:
        eps: radius, float >= 0 or Tensor[B]; lo, hi: floats.
    """

    def __init__(self, eps: Bound, lo: float = 0.0, hi: float = 1.0) -> None:
        self.eps, self.lo, self.hi = eps, lo, hi

    @staticmethod
    def _norm(v: Tensor) -> Tensor:
        return v.flatten(2).norm(dim=2).view(*v.shape[:2], *([1] * (v.dim() - 2)))

    def random_init(self, x0: Tensor, restarts: int, kind: str = "uniform") -> Tensor:
        """A random direction with a random radius, projected: Tensor[R, B, ...]. ``kind`` "uniform": uniform
        in the ball's volume (radius eps·u^(1/d) for d coordinates per example); "radial": radius eps·u."""
        direction = torch.randn(restarts, *x0.shape, dtype=x0.dtype, device=x0.device)
        radius = torch.rand(restarts, x0.shape[0], dtype=x0.dtype, device=x0.device)
        if kind != "radial":
            radius = radius.pow(1.0 / max(x0[0].numel(), 1))
        radius = radius.view(*radius.shape, *([1] * (x0.dim() - 1))) * _per_example(self.eps, direction)
        return self.project(x0 + direction / self._norm(direction).clamp_min(1e-12) * radius, x0)

    def project(self, x: Tensor, x0: Tensor) -> Tensor:
        delta = x - x0
        scale = (_per_example(self.eps, x) / self._norm(delta).clamp_min(1e-12)).clamp(max=1.0)
        return (x0 + delta * scale).clamp(self.lo, self.hi)

    def step(self, x: Tensor, x0: Tensor, grad: Tensor, alpha: Bound, active: Tensor | None) -> Tensor:
        update = _per_example(alpha, x) * grad / self._norm(grad).clamp_min(1e-12)
        return self.move(x, x0, update, active)
