"""The step of FAB: the smallest perturbation that moves a point onto a hyperplane while staying in the image box
(Croce & Hein, "Minimally distorted adversarial examples with a fast adaptive boundary attack", ICML 2020,
Sec. 3.1), solved exactly for the L∞, L2 and L1 norms.

Both norms reduce to one monotone, piecewise-linear equation in a scalar: with c = b − w·p the signed distance
to cover and room_i how far coordinate i may move in the direction sign(w_i c) before leaving [lo, hi], the
optimal perturbation is δ_i = sign(w_i c)·min(τ·s_i, room_i), where s_i = 1 for L∞ (every coordinate moves by
the same τ = ‖δ‖∞ until it hits the box) and s_i = |w_i| for L2 (δ ∝ w, clipped by the box; the KKT conditions).
τ solves Σ_i |w_i|·min(τ·s_i, room_i) = |c|, found exactly by sorting the breakpoints room_i / s_i. Under L1 each
unit of |δ_i| covers |w_i| of the distance, so the optimum fills the coordinates in order of decreasing |w_i|, each
up to its room, the last one partly.
"""

from __future__ import annotations

import torch
from torch import Tensor

NORMS = ("linf", "l2", "l1")


def project_onto_hyperplane(points: Tensor, w: Tensor, b: Tensor, norm: str, lo: float = 0.0,
                            hi: float = 1.0) -> Tensor:
    """The minimum-norm δ with w·(p + δ) = b and lo ≤ p + δ ≤ hi, for each row p of ``points``.

    Args:
        points: Tensor[N, D] float, inside [lo, hi]. w: Tensor[N, D], the hyperplanes' normals. b: Tensor[N].
        norm: "linf", "l2" or "l1", the norm of δ that is minimised.

    Returns:
        δ: Tensor[N, D]. Where the box makes the hyperplane unreachable, δ is the projection without the box
        (δ = sign(w)·c/‖w‖₁ for L∞, c·w/‖w‖₂² for L2), which FAB then clips to the box, and for L1 every
        coordinate moved to the box's face (the farthest the box lets the point go, as AutoAttack's FAB-L1 does);
        where w = 0, δ = 0.

    Raises:
        ValueError: an unknown norm.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    distance = b - (w * points).sum(dim=1)
    direction = torch.sign(w) * torch.sign(distance)[:, None]
    distance = distance.abs()
    room = torch.where(direction > 0, hi - points, torch.where(direction < 0, points - lo, 0.0)).clamp_min(0)
    weight = w.abs()
    if norm == "l1":
        return _l1_fill(direction, room, weight, distance)
    speed = torch.ones_like(weight) if norm == "linf" else weight
    breakpoints = torch.where(weight > 0, room / speed.clamp_min(torch.finfo(w.dtype).tiny), float("inf"))
    order = breakpoints.argsort(dim=1)
    sorted_breaks = breakpoints.gather(1, order)
    saturated = (weight * room).gather(1, order).cumsum(dim=1)  # Σ_{j≤k} |w_j| room_j
    rate = (weight * speed).gather(1, order)
    total_rate = rate.sum(dim=1, keepdim=True)
    rate_after = total_rate - rate.cumsum(dim=1)  # Σ_{j>k} |w_j| s_j
    reach = torch.where(torch.isinf(sorted_breaks), saturated, saturated + sorted_breaks * rate_after)
    feasible = reach[:, -1] >= distance
    first = torch.searchsorted(reach.contiguous(), distance[:, None].contiguous()).clamp_max(reach.shape[1] - 1)
    saturated_before = torch.where(first > 0, saturated.gather(1, (first - 1).clamp_min(0)), 0.0)
    rate_from = torch.where(first > 0, rate_after.gather(1, (first - 1).clamp_min(0)), total_rate)
    tau = ((distance[:, None] - saturated_before) / rate_from.clamp_min(torch.finfo(w.dtype).tiny)).clamp_min(0)
    free_tau = distance[:, None] / total_rate.clamp_min(torch.finfo(w.dtype).tiny)
    delta = torch.where(feasible[:, None], direction * torch.minimum(tau * speed, room), direction * free_tau * speed)
    return torch.where(distance[:, None] > 0, delta, torch.zeros_like(delta))


def _l1_fill(direction: Tensor, room: Tensor, weight: Tensor, distance: Tensor) -> Tensor:
    """The minimum-L1 δ covering ``distance`` [N] along w: the coordinates in order of decreasing |w_i| (``weight``),
    each moved by its ``room`` in ``direction``, the last one by what is left; all of them where the room does
    not suffice."""
    order = weight.argsort(dim=1, descending=True)
    cover = (weight * room).gather(1, order).cumsum(dim=1)  # distance covered by filling the first k coordinates
    before = cover - (weight * room).gather(1, order)
    filled = cover <= distance[:, None]
    partial = ~filled & (before < distance[:, None])  # the one coordinate that takes the rest
    rest = (distance[:, None] - before) / weight.gather(1, order).clamp_min(torch.finfo(weight.dtype).tiny)
    amount = torch.where(filled, room.gather(1, order), torch.where(partial, rest, 0.0))
    move = torch.zeros_like(amount).scatter(1, order, amount)
    unreachable = cover[:, -1] < distance
    move = torch.where(unreachable[:, None], room, move)
    return torch.where(distance[:, None] > 0, direction * move, torch.zeros_like(move))
