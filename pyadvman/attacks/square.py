"""Square: the score-based attack of Andriushchenko et al. (ECCV 2020, Alg. 1; Sec. 3.1 for L∞, Sec. 3.2 for L2;
AutoAttack's L1 version), AutoAttack's fourth attack, which needs no gradients and so is not fooled by gradient
masking."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from pyadvman.attacks._checks import check_count, check_images_labels, check_number
from pyadvman.attacks.base import Attack
from pyadvman.attacks.losses import margin
from pyadvman.attacks.model_checks import clean_pass, predicted_classes, warn_findings
from pyadvman.attacks.model_mode import eval_mode
from pyadvman.attacks.old_keywords import accepts_old_spellings
from pyadvman.attacks.result import AttackResult
from pyadvman.attacks.runs import result_of_runs, runs_on_unfooled
from pyadvman.attacks.square_lp import LpSquareSearch
from pyadvman.attacks.square_windows import random_signs, random_windows
from pyadvman.attacks.threat_models import NORMS, canonical_norm
from pyadvman.execution import Execution
from pyadvman.ops import linf_project

# The fraction p of the image a square covers halves after these iterations (the paper's schedule for 10,000
# queries, Sec. 3.1 and its code); AutoAttack keeps it unscaled for its 5,000 queries.
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_fraction(iteration: int, p_init: float, queries: int, rescale: bool) -> float:
    """p at ``iteration`` (0-based): p_init halved after each of _HALVINGS iterations, which with ``rescale``
    are scaled from 10,000 to ``queries``."""
    step = int(iteration / queries * 10000) if rescale else iteration
    return p_init / 2 ** sum(step > mark for mark in _HALVINGS)


@accepts_old_spellings
@dataclass(frozen=True)
class Square(Attack):
    """Square attack: random search over the ε-ball, one square window at a time (L∞ below; L2 and L1: see
    :class:`pyadvman.attacks.square_lp.LpSquareSearch`).

    L∞: the search starts from vertical stripes, x_0 + ε·s with one random sign s per (channel, column). Each
    iteration draws, per example, a square of side round(√(p·H·W)) at a uniformly random position and one sign
    per channel, sets the window to x_0 ± ε (``linf_project`` keeps it exactly in the ball and in [0, 1]) and
    keeps the change where the margin loss f_y − max_{j≠y} f_j decreases. An example stops once misclassified.
    A square that would change nothing gets other signs (the authors' code redraws until it changes the image),
    so no query is spent on an unchanged image. Forward passes only; one query per active example per
    iteration.

    Args:
        eps: radius in the ``norm`` (float >= 0).
        norm: "linf" (default), "l2" or "l1".
        queries: iterations after the initial stripes (AutoAttack: 5,000).
        p_init: initial fraction of pixels a square covers (0.8). restarts: independent runs (1), each only on
            the examples no earlier run fooled. rescale_schedule: scale the schedule of p to ``queries``
            (AutoAttack: False). execution: model checks (probability outputs, randomness), compile mode,
            precision (:class:`pyadvman.execution.Execution`).

    Returns (``run``): an AttackResult with R = restarts runs; ``loss`` is the CW margin max_{j≠y} f_j − f_y
    (positive once misclassified) at each run's returned image (−inf where the run was skipped).

    Raises:
        ValueError: bad x / y, eps not a finite number >= 0, an unknown norm, p_init outside (0, 1],
            queries < 0 or restarts < 1.

    Shape: x Tensor[B, C, H, W] in [0, 1], y Tensor[B] int64.
    """

    eps: float = 0.3
    queries: int = 5000
    p_init: float = 0.8
    restarts: int = 1
    rescale_schedule: bool = False
    norm: str = "linf"
    execution: Execution = Execution()

    def __post_init__(self) -> None:
        check_number("eps", self.eps)
        object.__setattr__(self, "norm", canonical_norm(self.norm))  # "Linf", "L2" as AutoAttack
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        check_count("queries", self.queries, 0)
        check_count("restarts", self.restarts, 1)
        if not 0 < self.p_init <= 1:
            raise ValueError(f"p_init must be in (0, 1], got {self.p_init}")

    def run(self, model: nn.Module, x: Tensor, y: Tensor) -> AttackResult:
        check_images_labels(x, y)
        model = self.execution.model(model)
        with eval_mode(model), self.execution.prepared(model, x.device), torch.no_grad():
            _, clean_correct, findings = clean_pass(model, x, y, self.execution.check_model)
            forward = self.execution.forward(model, x.device, varying_batch=True)
            runs = runs_on_unfooled(x, ~clean_correct, self.restarts,
                                    lambda r, rows: self._one_run(forward, x[rows], y[rows]), skip_fooled=True)
        warn_findings("Square", findings)
        return result_of_runs(x, *runs, clean_correct)

    def _one_run(self, model: nn.Module, x0: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One run of the random search on every example of x0: (best image, fooled, margin loss), each [B]."""
        search = LinfSquareSearch(x0, self.eps) if self.norm == "linf" else LpSquareSearch(x0, self.eps, self.norm)
        best = search.start()
        logits = model(best)
        best_loss = margin(logits, y, logits)
        fooled = predicted_classes(logits) != y
        # the examples still searched, kept compact (gathered again only when some are fooled)
        active = (~fooled).nonzero().flatten()
        rows, best_a, loss_a, y_a = search.rows(active), best[active], best_loss[active], y[active]
        for iteration in range(self.queries):
            if active.numel() == 0:
                break
            p = square_fraction(iteration, self.p_init, self.queries, self.rescale_schedule)
            candidate = search.propose(rows, best_a, p)
            logits = model(candidate)
            new_loss = margin(logits, y_a, logits)
            new_fooled = predicted_classes(logits) != y_a
            better = (new_loss > loss_a) | new_fooled
            best_a = torch.where(better.view(-1, 1, 1, 1), candidate, best_a)
            loss_a = torch.where(better, new_loss, loss_a)
            if bool(new_fooled.any()):
                done = active[new_fooled]
                best[done], best_loss[done], fooled[done] = best_a[new_fooled], loss_a[new_fooled], True
                keep = ~new_fooled
                active, best_a, loss_a, y_a = active[keep], best_a[keep], loss_a[keep], y_a[keep]
                rows = tuple(t[keep] for t in rows)
        best[active], best_loss[active] = best_a, loss_a
        return best, fooled, best_loss


class LinfSquareSearch:
    """Square's L∞ search (Andriushchenko et al., 2020, Sec. 3.1): starts from vertical stripes and sets square
    windows to vertices of the ε-ball ∩ [0, 1]. ``rows`` are (low, high), the two vertices per pixel."""

    def __init__(self, x0: Tensor, eps: float) -> None:
        # the two vertices of the ball ∩ [0, 1] per pixel, exactly inside it (the fused projection)
        self.low, self.high = linf_project(x0 - eps, x0, eps), linf_project(x0 + eps, x0, eps)

    def start(self) -> Tensor:
        batch, channels, _, width = self.low.shape
        return torch.where(random_signs((batch, channels, 1, width), self.low), self.high, self.low)

    def rows(self, active: Tensor) -> tuple[Tensor, ...]:
        return self.low[active], self.high[active]

    def propose(self, rows: tuple[Tensor, ...], current: Tensor, p: float) -> Tensor:
        """current with one random window set to a vertex: one random sign per example and channel. Where that
        changes nothing (the window already sits at that vertex), the signs are redrawn among the other
        patterns, uniformly, as the authors' code redraws until the square changes the image."""
        low, high = rows
        n, channels, height, width = current.shape
        side = min(max(round(math.sqrt(p * height * width)), 1), height, width)
        window = random_windows(n, height, width, side, current.device)
        positive = random_signs((n, channels, 1, 1), current)
        candidate = torch.where(window, torch.where(positive, high, low), current)
        unchanged = ~(candidate != current).flatten(1).any(dim=1)  # outside the window they are equal
        if bool(unchanged.any()):
            redo = unchanged.nonzero().flatten()
            flips = torch.randint(1, 2 ** channels, (redo.numel(), 1), device=current.device)  # a non-zero XOR
            bits = (flips >> torch.arange(channels, device=current.device)) & 1 > 0
            redrawn = positive[redo] ^ bits.view(-1, channels, 1, 1)
            candidate[redo] = torch.where(window[redo], torch.where(redrawn, high[redo], low[redo]), current[redo])
        return candidate
