"""Threat models: the constraint sets attacks search in, each a small class with random_init / step / project
(in the manner of MadryLab/robustness's attack steps).

Shapes: centres ``x0`` are Tensor[B, ...]; iterates carry a leading restart axis, Tensor[R, B, ...].
"""

from __future__ import annotations

import torch
from torch import Tensor

from pyadvman.ops import l1_project, l2_project, l2_step, linf_project, pgd_step, pgd_step_

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


NORMS = ("linf", "l2", "l1")
NORM_LABELS = {"linf": "L∞", "l2": "L2", "l1": "L1"}  # how reports write each norm
_NORM_SPELLINGS = {"linf": "linf", "inf": "linf", "l2": "l2", "2": "l2", "l1": "l1", "1": "l1"}


def canonical_norm(norm: object) -> object:
    """pyadvman's name of a norm ("linf", "l2", "l1") for any case of it, as AutoAttack spells them ("Linf",
    "L2", "L1") or numpy ("inf", "2", "1"); anything else is returned unchanged, for the attack to refuse by
    name."""
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
    """‖δ‖ per example: δ Tensor[B, ...] -> Tensor[B] (``norm`` "linf", "l2" or "l1")."""
    flat = delta.flatten(1)
    if norm == "linf":
        return flat.abs().amax(dim=1)
    return flat.norm(p=2 if norm == "l2" else 1, dim=1)


def checked_distance(x_adv: Tensor, x: Tensor, norm: str = "linf") -> Tensor:
    """‖x_adv − x‖ per example as any checker computes it: the larger of the distance in float64 and the
    float32 difference's, so that ``checked_distance(...) <= eps`` holds however a checker rounds.
    x_adv, x Tensor[B, ...]; norm "linf", "l2" or "l1". Tensor[B] float64."""
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

    def stepped(self, x: Tensor, x0: Tensor, grad: Tensor, alpha: Bound, active: Tensor | None = None) -> Tensor:
        """:meth:`step` into a new tensor; x is left as it was."""
        return self.step(x.clone(), x0, grad, alpha, active)


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

    def stepped(self, x: Tensor, x0: Tensor, grad: Tensor, alpha: Bound, active: Tensor | None = None) -> Tensor:
        if self.fused:
            return pgd_step(x, x0, grad, self.eps, alpha, float(self.lo), float(self.hi), active=active)
        return super().stepped(x, x0, grad, alpha, active)

    def step(self, x: Tensor, x0: Tensor, grad: Tensor, alpha: Bound, active: Tensor | None) -> Tensor:
        """Π(x + alpha·sign(grad)), written into x where ``active`` [R, B] is True; returns x."""
        if self.fused:
            return pgd_step_(x, x0, grad, self.eps, alpha, float(self.lo), float(self.hi), active=active)
        return self.move(x, x0, _per_example(alpha, x) * grad.sign(), active)


class L2Ball(ThreatModel):
    """{x : ‖x − x0‖₂ ≤ eps} ∩ [lo, hi]: the L2 threat model (norm over all but the batch dimensions).

    Steps move by alpha along the normalised gradient; the projection rescales δ onto the ball, then clamps
    to the box (which only shortens δ): the fused ops ``l2_step`` and ``l2_project`` (AutoAttack's APGD-L2
    step and projection, Croce & Hein, ICML 2020, Sec. 3).

    Args:
        eps: radius, float >= 0 or Tensor[B]; lo, hi: floats.
    """

    def __init__(self, eps: Bound, lo: float = 0.0, hi: float = 1.0) -> None:
        self.eps, self.lo, self.hi = eps, lo, hi

    def random_init(self, x0: Tensor, restarts: int, kind: str = "uniform") -> Tensor:
        """A Gaussian direction with a random radius, projected: Tensor[R, B, ...]. ``kind`` "uniform": uniform
        in the ball's volume (radius eps·u^(1/d) for d coordinates per example); "radial": radius eps·u;
        "surface": radius eps (AutoAttack's APGD-L2 start)."""
        direction = torch.randn(restarts, *x0.shape, dtype=x0.dtype, device=x0.device)
        radius = torch.ones(restarts, x0.shape[0], dtype=x0.dtype, device=x0.device)
        if kind != "surface":
            radius = torch.rand_like(radius)
        if kind == "uniform":
            radius = radius.pow(1.0 / max(x0[0].numel(), 1))
        radius = radius.view(*radius.shape, *([1] * (x0.dim() - 1))) * _per_example(self.eps, direction)
        length = direction.flatten(2).norm(dim=2).view(*radius.shape).clamp_min(1e-12)
        return self.project(x0 + direction / length * radius, x0)

    def project(self, x: Tensor, x0: Tensor) -> Tensor:
        return l2_project(x, x0, self.eps, self.lo, self.hi)

    def stepped(self, x: Tensor, x0: Tensor, grad: Tensor, alpha: Bound, active: Tensor | None = None) -> Tensor:
        """Π(x + alpha·grad/‖grad‖₂), a new tensor; rows where ``active`` is False keep x."""
        return l2_step(x, x0, grad, self.eps, alpha, self.lo, self.hi, active=active)

    def step(self, x: Tensor, x0: Tensor, grad: Tensor, alpha: Bound, active: Tensor | None) -> Tensor:
        return x.copy_(self.stepped(x, x0, grad, alpha, active))


def sparse_direction(grad: Tensor, fraction: Tensor | float) -> Tensor:
    """APGD-L1's step direction (Croce & Hein, ICML 2021, Sec. 3.2): sign(grad) on the coordinates whose |grad|
    reaches the row's (1 − fraction)-quantile (at least one), zero elsewhere, divided by their count, so its L1
    norm is 1 (0 for a zero gradient). grad Tensor[N, ...]; fraction float or Tensor[N] in (0, 1] ->
    like grad."""
    flat = grad.flatten(1).nan_to_num(0.0)
    features = flat.shape[1]
    fraction = torch.as_tensor(fraction, dtype=torch.float64, device=grad.device).expand(flat.shape[0])
    rank = ((1.0 - fraction) * features).long().clamp(0, features - 1)
    threshold = flat.abs().sort(dim=1).values.gather(1, rank.view(-1, 1))
    chosen = (flat.abs() >= threshold) & (flat != 0)
    signs = flat.sign() * chosen
    return (signs / chosen.sum(dim=1, keepdim=True).clamp_min(1)).view_as(grad)


class L1Ball(ThreatModel):
    """{x : ‖x − x0‖₁ ≤ eps} ∩ [lo, hi]: the L1 threat model, with the exact projection onto the intersection
    (``l1_project``; Croce & Hein, "Mind the box", ICML 2021, Sec. 3.1).

    A step moves alpha (in L1) along :func:`sparse_direction`: the sign of the gradient on its largest
    ``sparsity`` fraction of coordinates, as APGD-L1 steps (where the fraction adapts; here it is fixed).

    Args:
        eps: radius, float >= 0 or Tensor[B]; lo, hi: floats. sparsity: fraction of coordinates a step moves,
            in (0, 1] (default 0.2, APGD-L1's first value).
    """

    def __init__(self, eps: Bound, lo: float = 0.0, hi: float = 1.0, sparsity: float = 0.2) -> None:
        if not 0 < sparsity <= 1:
            raise ValueError(f"sparsity must be in (0, 1], got {sparsity}")
        self.eps, self.lo, self.hi, self.sparsity = eps, lo, hi, sparsity

    def random_init(self, x0: Tensor, restarts: int, kind: str = "uniform") -> Tensor:
        """A random start, projected: Tensor[R, B, ...]. ``kind`` "uniform": uniform in the L1 ball (exponential
        magnitudes normalised with one spare coordinate, random signs); "radial": a uniform direction on the
        sphere ‖δ‖₁ = 1 times eps·u; "normal": x0 + N(0, 1) projected (AutoAttack's APGD-L1 start)."""
        shape = (restarts, *x0.shape)
        if kind == "normal":
            return self.project(x0 + torch.randn(shape, dtype=x0.dtype, device=x0.device), x0)
        features = x0[0].numel()
        magnitudes = torch.empty(restarts, x0.shape[0], features + 1, dtype=x0.dtype, device=x0.device).exponential_()
        if kind == "radial":
            magnitudes[..., -1] = 0
        point = magnitudes[..., :-1] / magnitudes.sum(dim=2, keepdim=True)
        if kind == "radial":
            point = point * torch.rand(restarts, x0.shape[0], 1, dtype=x0.dtype, device=x0.device)
        signs = torch.randint(0, 2, point.shape, device=x0.device).to(x0.dtype) * 2 - 1
        delta = (point * signs).view(shape) * _per_example(self.eps, point.view(shape))
        return self.project(x0 + delta, x0)

    def project(self, x: Tensor, x0: Tensor) -> Tensor:
        return l1_project(x, x0, self.eps, self.lo, self.hi)

    def step(self, x: Tensor, x0: Tensor, grad: Tensor, alpha: Bound, active: Tensor | None) -> Tensor:
        """Π(x + alpha·sparse_direction(grad)), written into x where ``active`` [R, B] is True; returns x."""
        direction = sparse_direction(grad.reshape(-1, max(x0[0].numel(), 1)), self.sparsity).view_as(grad)
        return self.move(x, x0, _per_example(alpha, x) * direction, active)


def ball_for(norm: str, eps: Bound) -> ThreatModel:
    """The threat model of ``norm`` ("linf", "l2", "l1") with radius eps around images in [0, 1]."""
    return {"linf": LinfBall, "l2": L2Ball, "l1": L1Ball}[norm](eps)
