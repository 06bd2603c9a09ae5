"""Clean and robust accuracy of a classifier on a split."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pyadvman.attacks import PGD, AttackProtocol, AttackResult, attack_in_batches, eval_mode
from pyadvman.attacks.model_checks import predicted_classes
from pyadvman.execution import Execution, execution_keywords


@torch.no_grad()
def clean_accuracy(model: nn.Module, images: Tensor, labels: Tensor, *, batch_size: int = 1000,
                   device: str | torch.device | None = None) -> float:
    """Fraction of images (Tensor[N, C, H, W] in [0, 1]) whose argmax logit equals labels (Tensor[N]), in eval
    mode; a row of logits with NaN or inf counts as wrong. NaN for N = 0."""
    if images.shape[0] == 0:
        return float("nan")
    device = device or next(model.parameters()).device
    correct = 0
    with eval_mode(model):
        for start in range(0, images.shape[0], batch_size):
            x = images[start:start + batch_size].to(device, torch.float32)
            correct += int((predicted_classes(model(x)).cpu() == labels[start:start + batch_size]).sum())
    return correct / images.shape[0]


@execution_keywords
def pgd_robustness(model: nn.Module, images: Tensor, labels: Tensor, *, eps: float, protocol: AttackProtocol,
                   execution: Execution = Execution(), batch_size: int = 500, progress: bool = False,
                   desc: str = "PGD", norm: str = "linf") -> AttackResult:
    """The attack of ``protocol`` (PGD or Adam on δ, its restarts, start and success counting) at radius ``eps``
    in ``norm`` ("linf", "l2", "l1") on images (Tensor[N, C, H, W] in [0, 1]) with labels (Tensor[N] int64), run as ``execution``
    says (model checks, compile mode); returns the AttackResult (``robust_accuracy()``, ``success_rate()``)."""
    attack = PGD(eps=eps, norm=norm, protocol=protocol, execution=execution)
    return attack_in_batches(attack, model, images, labels, batch_size=batch_size, progress=progress,
                             keep_images=False, desc=desc)
