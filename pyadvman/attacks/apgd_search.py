"""One APGD restart under each norm: the L∞/L2 search with momentum and the halving step size (Croce & Hein,
ICML 2020, Alg. 1) and the L1 search with sparse steps and the adaptive sparsity (Croce & Hein, "Mind the box",
ICML 2021, Sec. 3.2), and the bookkeeping they share."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from pyadvman.attacks.iterates import finite_iterates, improves
from pyadvman.attacks.model_checks import gradient_findings
from pyadvman.attacks.threat_models import L1Ball, ThreatModel, sparse_direction

# x Tensor[B, ...] -> (loss Tensor[B], grad like x, misclassified Tensor[B] bool)
LossGrad = Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]
# (findings, clean_correct) collecting the zero-gradient findings at the start, or None
Checked = tuple[list[str], Tensor] | None

# AutoAttack's start of APGD under each norm (its autopgd_base.py): uniform in the L∞ ball, on the L2 sphere,
# a projected standard normal for L1
START = {"linf": "uniform", "l2": "surface", "l1": "normal"}
# The first step size as a multiple of eps: 2·eps for L∞ and L2, eps for L1 (Croce & Hein, 2021, Sec. 3.2)
FIRST_STEP = {"linf": 2.0, "l2": 2.0, "l1": 1.0}
# APGD-L1's sparsity schedule: the first fraction of coordinates a step moves, the check interval (a share of
# the iterations), the ratio below which the sparsity counts as reduced, the step's divisor and its floor
_L1_FIRST_FRACTION, _L1_INTERVAL, _L1_REDUCED, _L1_STEP_DIVISOR, _L1_STEP_FLOOR = 0.2, 0.04, 0.95, 1.5, 10.0
# AutoAttack's schedule for L1 with large radii: 3ε, 2ε, then ε, for 30%, 30% and the rest of the iterations
LARGE_EPS_FACTORS, LARGE_EPS_SHARES = (3.0, 2.0, 1.0), (0.3, 0.3)


class Track:
    """One restart's best (highest-loss) iterate, which the search returns to, and the iterate it reports: the
    first that fools the model, else the highest-loss one. A non-finite iterate is discarded: never a success,
    never kept, and the search goes on from the best iterate; ``iterates`` = [discarded, evaluated] counts them."""

    def __init__(self, x: Tensor, loss: Tensor, grad: Tensor, fooled: Tensor, iterates: list[int]) -> None:
        loss = loss.nan_to_num(nan=float("-inf"))
        self.view = (x.shape[0], *([1] * (x.dim() - 1)))
        self.best_x, self.best_loss, self.best_grad = x.clone(), loss.clone(), grad.clone()
        self.out_x, self.out_loss, self.out_success = x.clone(), loss.clone(), fooled.clone()
        self.iterates = iterates

    def observe(self, x: Tensor, loss: Tensor, grad: Tensor, fooled: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Records a new iterate; returns (x, loss, grad) with non-finite rows replaced by the best ones."""
        finite = finite_iterates(x, 1)
        self.iterates[0] += int((~finite).sum())
        self.iterates[1] += x.shape[0]
        if not bool(finite.all()):
            x = torch.where(finite.view(self.view), x, self.best_x)
            grad = torch.where(finite.view(self.view), grad, self.best_grad)
            fooled = fooled & finite
        loss = torch.where(finite, loss.nan_to_num(nan=float("-inf")), float("-inf"))
        improved = loss > self.best_loss
        self.best_x = torch.where(improved.view(self.view), x, self.best_x)
        self.best_grad = torch.where(improved.view(self.view), grad, self.best_grad)
        self.best_loss = torch.where(improved, loss, self.best_loss)
        take = improves("first_success", fooled, loss, self.out_success, self.out_loss, self.out_success)
        self.out_x = torch.where(take.view(self.view), x, self.out_x)
        self.out_loss = torch.where(take, loss, self.out_loss)
        self.out_success = self.out_success | fooled
        return x, loss, grad

    def back_to_best(self, rows: Tensor, *tensors: Tensor) -> list[Tensor]:
        """Each of ``tensors`` (an iterate, and its gradient when two are given) with ``rows`` [B] set to the best
        iterate's (the best gradient's)."""
        best = (self.best_x, self.best_grad)
        return [torch.where(rows.view(self.view), b, t) for t, b in zip(tensors, best)]

    def result(self) -> tuple[Tensor, Tensor, Tensor]:
        return self.out_x, self.out_success, self.out_loss


def _start(loss_grad: LossGrad, x: Tensor, checked: Checked, iterates: list[int]) -> tuple[Track, Tensor, Tensor]:
    loss, grad, fooled = loss_grad(x)
    if checked is not None:
        checked[0].extend(gradient_findings(grad, loss, checked[1]))
    return Track(x, loss, grad, fooled, iterates), loss.nan_to_num(nan=float("-inf")), grad


def momentum_restart(ball: ThreatModel, x0: Tensor, eps: Tensor, steps: int, rho: float, marks: list[int],
                     loss_grad: LossGrad, checked: Checked, iterates: list[int], norm: str
                     ) -> tuple[Tensor, Tensor, Tensor]:
    """APGD under L∞ or L2 (Croce & Hein, 2020, Alg. 1): z = Π(x_k + η·step direction) (``ball.stepped``: the
    sign for L∞, the normalised gradient for L2), x_{k+1} = Π(x_k + 0.75·(z − x_k) + 0.25·(x_k − x_{k−1})); at
    each mark the step size η (first 2·eps) halves and the search returns to the best iterate where at most rho
    of the steps since the last mark raised the loss, or where η was not halved at the last mark and the best
    loss has not improved since. Returns (x_adv, success, loss), each over the B examples."""
    batch = x0.shape[0]
    x = ball.random_init(x0, 1, kind=START[norm])[0]
    track, loss, grad = _start(loss_grad, x, checked, iterates)
    step_size = FIRST_STEP[norm] * eps
    previous, increases = x.clone(), torch.zeros(batch, device=x0.device)
    last_mark, halved_at_last = 0, torch.zeros(batch, dtype=torch.bool, device=x0.device)
    best_at_last_mark = track.best_loss.clone()
    for k in range(steps):
        with torch.no_grad():
            z = ball.stepped(x, x0, grad, step_size)
            new_x = z if k == 0 else ball.project(x + 0.75 * (z - x) + 0.25 * (x - previous), x0)
            previous = x
        new_loss, grad, fooled = loss_grad(new_x)
        x, new_loss, grad = track.observe(new_x, new_loss, grad, fooled)
        increases += (new_loss > loss).float()
        loss = new_loss
        if k + 1 in marks:
            # AutoAttack's code halves when at most rho of the steps increased the loss (the paper: fewer)
            oscillating = increases <= rho * (k + 1 - last_mark)
            stalled = ~halved_at_last & (track.best_loss <= best_at_last_mark)
            halve = oscillating | stalled
            step_size = torch.where(halve, step_size / 2, step_size)
            x, grad = track.back_to_best(halve, x, grad)
            (previous,) = track.back_to_best(halve, previous)
            halved_at_last, best_at_last_mark = halve, track.best_loss.clone()
            increases.zero_()
            last_mark = k + 1
    return track.result()


def _changed_coordinates(delta: Tensor) -> Tensor:
    """‖δ‖₀ per example: the count of changed coordinates, float64 [B]."""
    return (delta.flatten(1) != 0).sum(dim=1).double()


def sparse_restart(x0: Tensor, eps: Tensor, steps: int, loss_grad: LossGrad, checked: Checked,
                   iterates: list[int], start: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """APGD-L1 (Croce & Hein, 2021, Sec. 3.2): x_{k+1} = Π(x_k + η·sparse_direction(∇, q)) with the exact
    projection Π onto the L1 ball ∩ [0, 1]^d, no momentum. Every max(⌊0.04·steps⌋, 1) iterations the sparsity
    k = ‖x_best − x0‖₀ is measured: q becomes k/(1.5·d); where k fell below 0.95 of its last value, η goes back
    to eps and the search to the best iterate, elsewhere η shrinks by 1.5, never below eps/10. ``start``: an
    iterate to start from (then q starts at its sparsity / 1.5), else x0 + N(0, 1) projected with q = 0.2.
    Returns (x_adv, success, loss, the highest-loss iterate)."""
    ball = L1Ball(eps)
    features = x0[0].numel()
    view = (x0.shape[0], *([1] * (x0.dim() - 1)))
    if start is None:
        x = ball.random_init(x0, 1, kind=START["l1"])[0]
        fraction = torch.full((x0.shape[0],), _L1_FIRST_FRACTION, dtype=torch.float64, device=x0.device)
        sparsity_before = torch.full_like(fraction, float(features))
    else:
        x = start
        sparsity_before = _changed_coordinates(x - x0)
        fraction = sparsity_before / features / _L1_STEP_DIVISOR
    track, _, grad = _start(loss_grad, x, checked, iterates)
    first_step = FIRST_STEP["l1"] * eps
    step_size = first_step.clone()
    interval = max(int(_L1_INTERVAL * steps), 1)
    for k in range(steps):
        with torch.no_grad():
            moved = x + step_size.to(x.dtype).view(view) * sparse_direction(grad, fraction.clamp_min(0.0))
            new_x = ball.project(moved, x0)
        new_loss, grad, fooled = loss_grad(new_x)
        x, _, grad = track.observe(new_x, new_loss, grad, fooled)
        if (k + 1) % interval == 0:
            sparsity = _changed_coordinates(track.best_x - x0)
            reduced = sparsity / sparsity_before < _L1_REDUCED
            fraction = sparsity / features / _L1_STEP_DIVISOR
            step_size = torch.where(reduced, first_step, step_size / _L1_STEP_DIVISOR)
            step_size = torch.minimum(torch.maximum(step_size, first_step / _L1_STEP_FLOOR), first_step)
            sparsity_before = sparsity
            x, grad = track.back_to_best(reduced, x, grad)
    return (*track.result(), track.best_x)


def large_eps_restart(x0: Tensor, eps: Tensor, steps: int, loss_grad: LossGrad, checked: Checked,
                      iterates: list[int]) -> tuple[Tensor, Tensor, Tensor]:
    """APGD-L1 as AutoAttack runs it on its standard version (``use_largereps``): from x0 + N(0, 1), three
    searches at 3·eps, 2·eps and eps for 30%, 30% and the rest of the iterations, each from the previous one's
    highest-loss iterate projected onto the smaller ball; only the last, at eps, finds the result."""
    counts = [math.ceil(share * steps) for share in LARGE_EPS_SHARES]
    counts.append(steps - sum(counts))
    x = x0 + torch.randn_like(x0)
    result = None
    for stage, (factor, count) in enumerate(zip(LARGE_EPS_FACTORS, counts)):
        radius = eps * factor
        x = L1Ball(radius).project(x, x0)
        result = sparse_restart(x0, radius, max(count, 0), loss_grad, checked if stage == 0 else None, iterates,
                                start=x)
        x = result[3]
    return result[:3]
