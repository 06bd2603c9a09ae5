"""What an attack returns, and the success rate and robust accuracy computed from it (docs/papers.md §1)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass
class AttackResult:
    """The outcome of one attack on B examples with R restarts.

    x_adv: Tensor[B, C, H, W], per example the best restart (a successful one if any, else highest loss).
    x_adv_restarts: Tensor[R, B, C, H, W], every restart's returned iterate.
    params: Tensor[R, B, ...], the optimised variable of each restart (the images themselves for image-space
        attacks; θ for transformation and true-manifold attacks; latent codes for learned-manifold attacks).
    clean: Tensor[B, C, H, W], the clean reference images (x; or the renderer / decoder output at the
        unperturbed code for on-manifold attacks).
    success: Tensor[R, B] bool, whether each restart's returned iterate fools the model (with the rule
        keep="first_success", whether any of its iterates did).
    loss: Tensor[R, B], the objective at the returned iterates.
    clean_correct: Tensor[B] bool, whether the model classifies ``clean`` correctly.
    """

    x_adv: Tensor
    x_adv_restarts: Tensor
    params: Tensor
    clean: Tensor
    success: Tensor
    loss: Tensor
    clean_correct: Tensor

    def success_rate(self) -> float:
        """Successful (example, restart) pairs over the pairs whose clean input is correctly classified
        (docs/papers.md §1, "Attacks"); NaN when no clean input is correct."""
        pairs = self.clean_correct.expand_as(self.success)
        total = int(pairs.sum())
        return float((self.success & pairs).sum()) / total if total else float("nan")

    def robust_accuracy(self) -> float:
        """Fraction of examples classified correctly clean and under every restart."""
        robust = self.clean_correct & ~self.success.any(dim=0)
        return int(robust.sum()) / robust.numel() if robust.numel() else float("nan")

    def clean_accuracy(self) -> float:
        """Fraction of examples whose clean input is classified correctly."""
        correct = self.clean_correct
        return int(correct.sum()) / correct.numel() if correct.numel() else float("nan")

    def counts(self) -> dict[str, float]:
        """The counts behind the rates, and the rates, JSON-ready: examples B, restarts R, clean_correct,
        successful_pairs (successful (example, restart) pairs of correctly classified examples), robust
        (examples correct clean and under every restart), clean_accuracy, success_rate, robust_accuracy."""
        pairs = self.clean_correct.expand_as(self.success)
        return {"examples": int(self.clean_correct.numel()), "restarts": int(self.success.shape[0]),
                "clean_correct": int(self.clean_correct.sum()), "successful_pairs": int((self.success & pairs).sum()),
                "robust": int((self.clean_correct & ~self.success.any(dim=0)).sum()),
                "clean_accuracy": self.clean_accuracy(), "success_rate": self.success_rate(),
                "robust_accuracy": self.robust_accuracy()}

    def to(self, device: str | torch.device) -> AttackResult:
        """A copy (of the same class) with every Tensor field on ``device``."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return type(self)(**{k: v.to(device) if isinstance(v, Tensor) else v for k, v in values.items()})

    @staticmethod
    def cat(results: list[AttackResult]) -> AttackResult:
        """Concatenates results of consecutive batches along the example axis."""
        if not results:
            raise ValueError("results must hold at least one AttackResult, got an empty list")
        out = {}
        for f in fields(AttackResult):
            dim = 1 if f.name in ("x_adv_restarts", "params", "success", "loss") else 0
            out[f.name] = torch.cat([getattr(r, f.name) for r in results], dim=dim)
        return AttackResult(**out)
