"""Attacking a whole split batch by batch, with a progress bar."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from pyadvman.attacks.base import Attack
from pyadvman.attacks.result import AttackResult


def attack_in_batches(attack: Attack, model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1000,
                      device: str | torch.device | None = None, progress: bool = True, keep_images: bool = True,
                      desc: str = "attack", **codes: Tensor) -> AttackResult:
    """Runs ``attack.run`` on consecutive batches of (x, y) and concatenates the results (on the CPU).

    Args:
        attack: any attack of pyadvman.attacks.
        model: the classifier (on ``device``).
        x (Tensor[N, C, H, W]) in [0, 1], y (Tensor[N]) int64: the examples (e.g. the first 1000 test images).
        batch_size: examples per call (restarts multiply the memory).
        device: where to attack (default: the model's device).
        keep_images: keep x_adv_restarts (set False to save memory; it is then x_adv[None]).
        codes: per-example extras the attack needs (e.g. ``codes=`` and ``theta=`` for TrueManifoldAttack).

    The model checks (``attack.execution.check_model``) run on the first batch only, so each finding is warned
    once per evaluation.

    Raises:
        ValueError: batch_size < 1, or extras whose first dimension is not N.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for name, value in codes.items():
        if value.shape[0] != x.shape[0]:
            raise ValueError(f"{name} must have {x.shape[0]} rows like x, got {list(value.shape)}")
    if device is None:
        device = next(model.parameters()).device
    results = []
    for start in tqdm(range(0, x.shape[0], batch_size), desc=desc, unit="batch", disable=not progress):
        rows = slice(start, start + batch_size)
        batch_codes = {name: value[rows].to(device) for name, value in codes.items()}
        result = attack.run(model, x[rows].to(device, torch.float32), y[rows].to(device), **batch_codes).to("cpu")
        if start == 0 and attack.execution.check_model:
            attack = attack.with_execution(check_model=False)
        if not keep_images:
            result.x_adv_restarts = result.x_adv[None]
        results.append(result)
    return AttackResult.cat(results)
