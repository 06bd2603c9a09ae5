"""The losses attacks maximise, per example (an attack's ``loss``; training objectives are
:mod:`pyadvman.training.objectives`).

Each takes logits (Tensor[N, K]), labels (Tensor[N] int64) and the clean logits (Tensor[N, K], detached;
only the KL loss uses them) and returns Tensor[N].
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

Loss = Callable[[Tensor, Tensor, Tensor], Tensor]
CLEAN_LOGIT_LOSSES = ("kl",)  # the losses that read the clean logits (the others get None where none were computed)


def cross_entropy(logits: Tensor, labels: Tensor, clean_logits: Tensor) -> Tensor:
    """CE(f(x'), y): the PGD / FGSM / APGD-CE loss (Madry et al., ICLR 2018)."""
    return F.cross_entropy(logits, labels, reduction="none")


def kl_divergence(logits: Tensor, labels: Tensor, clean_logits: Tensor) -> Tensor:
    """KL(softmax f(x) ‖ softmax f(x')): the TRADES attack loss (Zhang et al., ICML 2019, Alg. 1;
    docs/papers.md §3)."""
    clean = F.log_softmax(clean_logits, dim=1)
    return (clean.exp() * (clean - F.log_softmax(logits, dim=1))).sum(dim=1)


def log_one_minus_prob(logits: Tensor, labels: Tensor, clean_logits: Tensor) -> Tensor:
    """log(1 − softmax(f(x'))_y), computed stably as logsumexp over the other classes − logsumexp over all:
    the LMC attacks' loss (Robey et al., NeurIPS 2021, Sec. 5; docs/papers.md §3)."""
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return torch.logsumexp(others, dim=1) - torch.logsumexp(logits, dim=1)


def margin(logits: Tensor, labels: Tensor, clean_logits: Tensor) -> Tensor:
    """max_{j≠y} f_j(x') − f_y(x'): the Carlini–Wagner margin (positive once misclassified)."""
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return others.amax(dim=1) - logits.gather(1, labels[:, None]).squeeze(1)


def _classes_at_least(logits: Tensor, count: int, loss: str) -> None:
    if logits.shape[1] < count:
        raise ValueError(f"the {loss} loss needs logits of at least {count} classes, got {logits.shape[1]}")


def dlr(logits: Tensor, labels: Tensor, clean_logits: Tensor) -> Tensor:
    """The difference of logits ratio, −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3), with z_π the logits in descending
    order (Croce & Hein, ICML 2020, Eq. (6)): the margin loss divided by a logit spread, so that it does not
    change when the logits are shifted or rescaled (a > 0). Positive once misclassified; APGD-DLR's loss.

    Raises:
        ValueError: fewer than 3 classes.
    """
    _classes_at_least(logits, 3, "DLR")
    ordered = logits.sort(dim=1, descending=True).values
    return margin(logits, labels, clean_logits) / (ordered[:, 0] - ordered[:, 2] + 1e-12)


def targeted_dlr(logits: Tensor, labels: Tensor, targets: Tensor) -> Tensor:
    """The targeted DLR loss, −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2) for target classes t (Tensor[N] int64;
    Croce & Hein, ICML 2020, Eq. (7)): APGD-T's loss, maximised to move the logits towards class t.

    Raises:
        ValueError: fewer than 4 classes.
    """
    _classes_at_least(logits, 4, "targeted DLR")
    ordered = logits.sort(dim=1, descending=True).values
    difference = logits.gather(1, targets[:, None]) - logits.gather(1, labels[:, None])
    return difference.squeeze(1) / (ordered[:, 0] - (ordered[:, 2] + ordered[:, 3]) / 2 + 1e-12)


def top_classes(clean_logits: Tensor, targets: int) -> Tensor:
    """The clean point's 2nd … (targets + 1)-th highest classes, the targets of APGD-T and FAB-T: Tensor[targets, B]
    int64 from clean logits Tensor[B, K].

    Raises:
        ValueError: targets above K − 1.
    """
    classes = clean_logits.shape[1]
    if targets > classes - 1:
        raise ValueError(f"targets must be at most classes - 1 = {classes - 1} (the model has {classes} classes), "
                         f"got {targets}")
    return clean_logits.argsort(dim=1, descending=True)[:, 1:targets + 1].T


LOSSES: dict[str, Loss] = {"ce": cross_entropy, "kl": kl_divergence, "lmc": log_one_minus_prob, "margin": margin,
                           "dlr": dlr}


def get_loss(name: str) -> Loss:
    """The loss called ``name`` (keys of LOSSES). Raises ValueError for an unknown name."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name]
