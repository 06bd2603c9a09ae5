"""Which iterate an attack keeps: the protocol's ``keep`` rule (success counting) applied step by step, and the
restart returned per example."""

from __future__ import annotations

import torch
from torch import Tensor


def improves(keep: str, success: Tensor, value: Tensor, best_success: Tensor, best_loss: Tensor,
             fooled_before: Tensor) -> Tensor:
    """Where an iterate with (success, objective value) replaces the kept one under the rule ``keep``:
    "loss" keeps the highest value, "first_success" the first fooling iterate (else the highest value),
    "last" always the newest, "last_then_loss" the newest until an iterate has fooled the model
    (``fooled_before``: an earlier one did), then the highest value. All tensors [R, B] or [B]."""
    higher = value > best_loss
    if keep == "first_success":
        return (success & ~best_success) | (~best_success & ~success & higher)
    if keep == "last":
        return torch.ones_like(success)
    if keep == "last_then_loss":
        return ~fooled_before | higher
    return higher


def finite_iterates(p: Tensor, batch_dims: int) -> Tensor:
    """Whether each iterate is finite: Tensor[*p.shape[:batch_dims]] bool, False where any value is NaN or inf.
    A non-finite iterate (e.g. an Adam step on an infinite input gradient) is not an input of the threat model:
    it is never a success and never kept (:class:`KeptIterates`, APGD)."""
    return p.flatten(batch_dims).isfinite().all(dim=-1)


def non_finite_finding(discarded: int, iterates: int) -> list[str]:
    """The finding that ``discarded`` of ``iterates`` evaluated iterates were NaN or inf (none: no finding)."""
    if not discarded:
        return []
    return [f"{discarded} of {iterates} iterates were NaN or infinite (e.g. a step on an infinite input gradient: "
            "a model with sqrt or log of its input at 0) and were discarded, never counted as a success; the "
            "affected restarts searched less than asked, so prefer a signed-gradient protocol for this model"]


def pick_restart(success: Tensor, loss: Tensor) -> Tensor:
    """Per example, the restart to return (Tensor[B] of indices into R): among the successful restarts the one
    with the highest loss, else the highest loss overall. success, loss: Tensor[R, B]."""
    score = loss.nan_to_num(neginf=torch.finfo(torch.float32).min)
    successful = torch.where(success, score, float("-inf"))
    return torch.where(success.any(dim=0), successful.argmax(dim=0), score.argmax(dim=0))


class KeptIterates:
    """The iterate each (example, restart) keeps under a ``keep`` rule, updated after every forward pass.

    Attributes:
        p: Tensor[R, B, ...], the kept iterates. loss: Tensor[R, B], their objective values (−inf before the
        first). success: Tensor[R, B] bool, whether they fool the model. fooled: Tensor[R, B] bool, whether any
        iterate so far did.
    """

    def __init__(self, p: Tensor, keep: str) -> None:
        restarts, batch = p.shape[:2]
        self.keep, self.p = keep, p.clone()
        self.loss = torch.full((restarts, batch), float("-inf"), device=p.device)
        self.success = torch.zeros(restarts, batch, dtype=torch.bool, device=p.device)
        self.fooled = torch.zeros_like(self.success)

    def update(self, p: Tensor, success: Tensor, value: Tensor) -> Tensor:
        """Takes the iterates p (Tensor[R, B, ...]) with their success and values (Tensor[R, B]) where the rule
        prefers them; a non-finite iterate is never taken nor counted as a success. Returns where p was finite
        (Tensor[R, B] bool)."""
        finite = finite_iterates(p, 2)
        success = success & finite
        better = improves(self.keep, success, value, self.success, self.loss, self.fooled) & finite
        self.p = torch.where(better.view(*better.shape, *([1] * (p.dim() - 2))), p, self.p)
        self.loss = torch.where(better, value, self.loss)
        self.success = torch.where(better, success, self.success)
        self.fooled |= success
        return finite

    def take_finite(self, p: Tensor) -> Tensor:
        """Takes the iterates p (Tensor[R, B, ...]) where they are finite, without judging them (keep "last" when
        nothing reads an iterate's success or value): ``success`` and ``loss`` stay the previous ones. Returns
        where p was finite (Tensor[R, B] bool)."""
        finite = finite_iterates(p, 2)
        self.p = torch.where(finite.view(*finite.shape, *([1] * (p.dim() - 2))), p, self.p)
        return finite
