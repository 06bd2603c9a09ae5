"""Pure-PyTorch twins of the L2 and L1 kernels (csrc/lp_rows.h): the fallback without the compiled library and
an oracle for the tests. Every row's reductions are in float64, as in the kernels; results equal the kernels'
within rounding (they reduce in another order, and the L1 twin finds its multiplier by bisection where the CPU
kernel searches the kinks)."""

from __future__ import annotations

import torch
from torch import Tensor

from pyadvman.ops._linf_reference import round_down, round_up

RADIUS_TRIES = 8  # kRadiusTries in csrc/lp_rows.h
_BISECTION_STEPS = 64


def _rows(x: Tensor, x0: Tensor) -> tuple[Tensor, Tensor]:
    """x [R, B, ...] or [B, ...] and x0 [B, ...] as float64 [R, B, F] and [1, B, F]."""
    batch = x0.shape[0]
    features = x0[0].numel() if batch else 0
    return x.double().reshape(-1, batch, features), x0.double().reshape(1, batch, features)


def _radius(value: float | Tensor, batch: int, device: torch.device) -> Tensor:
    """eps or alpha as float64 [1, B]."""
    return torch.as_tensor(value, dtype=torch.float64, device=device).expand(batch).reshape(1, batch).clone()


def _box(x: Tensor, lo: float, hi: float) -> tuple[float, float]:
    return (round_up(lo, x.dtype, torch.device("cpu")).double().item(),
            round_down(hi, x.dtype, torch.device("cpu")).double().item())


def _checked_norm(out: Tensor, x0: Tensor, x0_rows: Tensor, p: int) -> Tensor:
    """A checker's norm of out − x0 per row: the larger of the float64 one and the one of the difference rounded
    to out's dtype. out [R, B, F] in its dtype; x0 [B, ...]; -> float64 [R, B]."""
    rounded = (out - x0.reshape(1, *x0_rows.shape[1:])).double()
    wide = out.double() - x0_rows
    return torch.maximum(wide.norm(p=p, dim=-1), rounded.norm(p=p, dim=-1))


def _guarded(place, restarts: int, x0: Tensor, x0_rows: Tensor, eps: Tensor, p: int, safe: Tensor | None = None
             ) -> Tensor:
    """Rows placed by ``place(target [R, B], last [R, B] bool) -> out [R, B, F]`` (in x's dtype), redone with a
    shrunk target where a checker would find them outside the ball (csrc/lp_rows.h: beyond_radius,
    shrink_target); the last try falls back to x0 in the box. Rows with a ``safe`` target (> 0, [R, B]) aim at it
    once and are not checked."""
    target = eps.expand(restarts, -1).clone()
    pending = torch.ones_like(target, dtype=torch.bool)
    if safe is not None:
        target = torch.where(safe > 0, safe, target)
        pending = safe <= 0
    out = None
    for attempt in range(RADIUS_TRIES + 1):
        last = torch.full_like(pending, attempt == RADIUS_TRIES)
        placed = place(target, last)
        out = placed if out is None else torch.where(pending.unsqueeze(-1), placed, out)
        if not bool(pending.any()):
            break
        norm = _checked_norm(out, x0, x0_rows, p)
        beyond = (norm > eps * (1.0 - 2.0 ** -45)) & torch.isfinite(eps) & ~torch.isnan(norm)
        pending = pending & beyond
        if not bool(pending.any()):
            break
        least = eps * (torch.finfo(out.dtype).eps / 2) * 4.0 ** attempt
        shrunk = (target - torch.maximum((norm - eps) * 1.5, least)).clamp_min(0.0)
        target = torch.where(pending, shrunk, target)
    return out


def l2_safe_target(eps: Tensor, features: int, lo: float, hi: float, unit: float) -> Tensor:
    """The L2 radius a row aims at without the guard's second look where the rounding bound
    √D·unit·max(|lo|, |hi|) is at most 1e-4·eps (csrc/lp_rows.h: l2_safe_target); 0 elsewhere. eps float64."""
    bound = max(abs(lo), abs(hi)) * (unit + 2.0 ** -52) * features ** 0.5
    safe = (eps * (1.0 - 2.0 ** -45) / (1.0 + unit) - bound) / (1.0 + features * 2.0 ** -52) * (1.0 - 2.0 ** -40)
    return torch.where((bound <= 1e-4 * eps) & torch.isfinite(eps), safe, 0.0)


def _with_active(out: Tensor, x: Tensor, x0: Tensor, active: Tensor | None) -> Tensor:
    """out where ``active`` ([B] or [R, B]) is True, else x."""
    if active is None:
        return out
    return torch.where(active.reshape(*active.shape, *([1] * (x0.dim() - 1))), out, x)


def _nan_rows(out: Tensor, poisoned: Tensor) -> Tensor:
    """out [R, B, F] with every row whose ``poisoned`` [R, B] is True set to NaN (a NaN in a row's x or x0 leaves
    its norm, hence the whole projected row, undefined)."""
    return out.masked_fill(poisoned.unsqueeze(-1), float("nan"))


def l2_ball_reference(x: Tensor, x0: Tensor, eps: float | Tensor, lo: float, hi: float, grad: Tensor | None = None,
                      alpha: float | Tensor = 0.0, active: Tensor | None = None) -> Tensor:
    """The L2 step and projection of csrc/lp_rows.h in torch operations; see pyadvman.ops.l2_step."""
    if x.numel() == 0:
        return x.clone()
    x_rows, x0_rows = _rows(x, x0)
    batch = x0.shape[0]
    eps_rows = _radius(eps, batch, x.device)
    lo_value, hi_value = _box(x, lo, hi)
    delta = x_rows - x0_rows
    if grad is not None:
        largest = torch.finfo(x.dtype).max
        g = grad.double().reshape(x_rows.shape).nan_to_num(nan=0.0, posinf=largest, neginf=-largest)
        # alpha·u/‖u‖₂ with u = g/peak: no square or 1/peak overflows, for subnormal and infinite entries alike
        peak = g.abs().amax(dim=-1, keepdim=True)
        unit = torch.where(peak > 0, g / peak, 0.0)
        length = unit.norm(dim=-1, keepdim=True)
        along = torch.where(length > 0, _radius(alpha, batch, x.device).unsqueeze(-1) / length, 0.0)
        delta = delta + along * unit
    length = delta.norm(dim=-1)

    def place(target: Tensor, last: Tensor) -> Tensor:
        scale = torch.where(length > target, target / length, 1.0)
        scale = torch.where(last, 0.0, scale).unsqueeze(-1)
        return (x0_rows + delta * scale).clamp(lo_value, hi_value).to(x.dtype)

    # rows whose centre is in the box aim below eps by the rounding bound (csrc/lp_rows.h: l2_safe_target)
    safe = l2_safe_target(eps_rows, x0_rows.shape[-1], lo_value, hi_value, torch.finfo(x.dtype).eps / 2)
    in_box = ((x0_rows >= lo_value) & (x0_rows <= hi_value)).all(dim=-1)
    safe = torch.where(in_box, safe, 0.0).expand_as(length)
    out = _guarded(place, x_rows.shape[0], x0, x0_rows, eps_rows, p=2, safe=safe)
    out = _nan_rows(out, torch.isnan(length))
    return _with_active(out.reshape(x.shape), x, x0, active)


def _l1_coordinates(y: Tensor, low: Tensor, high: Tensor, lam: Tensor) -> Tensor:
    """clip(soft(y, λ), low, high); λ [N, 1] broadcast over the features."""
    magnitude = y.abs() - lam
    return torch.where(magnitude > 0, y.sign() * magnitude, 0.0).clamp(low, high)


def l1_multiplier_reference(y: Tensor, low: Tensor, high: Tensor, target: Tensor) -> Tensor:
    """The smallest λ >= 0 with ‖clip(soft(y, λ), low, high)‖₁ <= target per row (inf when none), by bisection to
    adjacent doubles and the linear piece solved exactly. y, low, high float64 [N, F]; target [N]; -> [N, 1]."""
    def length(lam: Tensor) -> Tensor:
        return _l1_coordinates(y, low, high, lam).abs().sum(dim=-1)

    target = target.reshape(-1)
    zero = torch.zeros(y.shape[0], 1, dtype=torch.float64, device=y.device)
    beyond_kinks = (y.abs() + torch.maximum(low.abs(), high.abs())).amax(dim=-1, keepdim=True)
    left, right = zero.clone(), beyond_kinks
    for _ in range(_BISECTION_STEPS):
        middle = (left + right) / 2
        inside = length(middle) <= target
        right = torch.where(inside.unsqueeze(-1), middle, right)
        left = torch.where(inside.unsqueeze(-1), left, middle)
    at_left, at_right = length(left), length(right)
    solved = left + ((at_left - target) * (right - left).squeeze(-1) / (at_left - at_right)).unsqueeze(-1)
    # rounding may leave the length a few ulps above target: the radius guard (_guarded) takes it back
    lam = torch.where((at_left > at_right).unsqueeze(-1), solved, right)
    lam = torch.where((length(beyond_kinks) > target).unsqueeze(-1), float("inf"), lam)
    return torch.where((length(zero) <= target).unsqueeze(-1), zero, lam)


def l1_ball_reference(x: Tensor, x0: Tensor, eps: float | Tensor, lo: float, hi: float) -> Tensor:
    """The exact L1 projection of csrc/lp_rows.h in torch operations; see pyadvman.ops.l1_project."""
    if x.numel() == 0:
        return x.clone()
    x_rows, x0_rows = _rows(x, x0)
    eps_rows = _radius(eps, x0.shape[0], x.device)
    lo_value, hi_value = _box(x, lo, hi)
    y = x_rows - x0_rows
    low, high = (lo_value - x0_rows).expand_as(y), (hi_value - x0_rows).expand_as(y)
    flat = (y.reshape(-1, y.shape[-1]), low.reshape(-1, y.shape[-1]), high.reshape(-1, y.shape[-1]))

    def place(target: Tensor, last: Tensor) -> Tensor:
        lam = l1_multiplier_reference(*flat, target.reshape(-1))
        lam = torch.where(last.reshape(-1, 1), float("inf"), lam)
        delta = _l1_coordinates(*flat, lam).reshape(y.shape)
        return (x0_rows + delta).clamp(lo_value, hi_value).to(x.dtype)

    out = _guarded(place, x_rows.shape[0], x0, x0_rows, eps_rows, p=1)
    return _nan_rows(out, torch.isnan(y).any(dim=-1)).reshape(x.shape)
