"""The runs of an attack one after the other (restarts, or targets of APGD-T and FAB-T), each on the examples
no earlier run fooled when asked (AutoAttack's way), and the AttackResult that keeps each example's best run."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from pyadvman.attacks.iterates import pick_restart
from pyadvman.attacks.result import AttackResult

# (run index r, the rows it attacks Tensor[b] int64) -> (images Tensor[b, ...], success Tensor[b] bool,
# loss Tensor[b]) of that run on x[rows]
Run = Callable[[int, Tensor], tuple[Tensor, Tensor, Tensor]]


def runs_on_unfooled(x: Tensor, done: Tensor, count: int, run: Run, skip_fooled: bool
                     ) -> tuple[Tensor, Tensor, Tensor]:
    """``count`` runs of ``run``, each on the examples not ``done`` (Tensor[B] bool, e.g. misclassified
    clean) and, with ``skip_fooled``, not fooled by an earlier run. Returns images Tensor[count, B, ...] (x
    where a run did not attack), success Tensor[count, B] (``done`` where it did not) and loss Tensor[count, B]
    (−inf where it did not)."""
    images = x.unsqueeze(0).repeat(count, *([1] * x.dim()))
    success = done.unsqueeze(0).repeat(count, 1)
    loss = torch.full((count, x.shape[0]), float("-inf"), device=x.device)
    fooled = done.clone()
    for r in range(count):
        rows = (~fooled).nonzero().flatten()
        if rows.numel() == 0:
            continue
        run_images, run_success, run_loss = run(r, rows)
        images[r, rows], success[r, rows] = run_images, run_success
        loss[r, rows] = run_loss.float()  # a float16 / bfloat16 model's loss, kept in float32 like PGD's
        if skip_fooled:
            fooled = fooled | success[r]
    return images, success, loss


def result_of_runs(x: Tensor, images: Tensor, success: Tensor, loss: Tensor, clean_correct: Tensor) -> AttackResult:
    """The AttackResult of runs (Tensor[R, B, ...], [R, B], [R, B]) on x: per example a successful run's image
    if any, else the highest-loss one's."""
    x_adv = images[pick_restart(success, loss), torch.arange(x.shape[0], device=x.device)]
    return AttackResult(x_adv=x_adv, x_adv_restarts=images, params=images, clean=x, success=success, loss=loss,
                        clean_correct=clean_correct)
