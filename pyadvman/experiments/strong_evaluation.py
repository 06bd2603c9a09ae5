"""The studies' AutoAttack evaluation: AutoAttack standard on the first test images of a trained model, as the
record its report reads."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from torch import nn

from pyadvman.attacks import AutoAttack
from pyadvman.attacks.robust_evaluation import evaluate_robustness
from pyadvman.attacks.threat_models import NORM_LABELS
from pyadvman.data.splits import Split
from pyadvman.execution import Execution
from pyadvman.experiments.records import ModelRecord
from pyadvman.experiments.report import table


def autoattack_record(model: nn.Module, test: Split, eps: float, examples: int, seed: int, state_dir: str | Path,
                      progress: bool = True, execution: Execution = Execution(), norm: str = "linf") -> dict:
    """AutoAttack standard (radius ``eps`` in ``norm``) on the first ``examples`` images of ``test``: the counts of
    AttackResult.counts with "robust_accuracy_after" (per attack, in order) and "findings" (its checks). The
    state is kept in ``state_dir`` (resumed if present); ``seed`` seeds every batch and attack; ``execution``:
    how its attacks run (checks, compile mode, precision)."""
    attacked = test.first(min(examples, len(test)))
    device = next(model.parameters()).device
    result = evaluate_robustness(AutoAttack(eps=eps, norm=norm, execution=execution), model, attacked.images,
                                 attacked.labels,
                                 seed=seed, state_dir=state_dir, device=device, progress=progress)
    return {**result.counts(), "robust_accuracy_after": result.robust_accuracy_after(),
            "findings": result.findings}


def autoattack_section(records: dict[str, dict], eps: float, norm: str = "linf") -> list[str]:
    """Report lines: each model's AutoAttack robust accuracy after each of its attacks, and its findings;
    ``records`` maps a model's name to its :func:`autoattack_record`. Nothing when no model was evaluated."""
    if not records:
        return []
    names = list(next(iter(records.values()))["robust_accuracy_after"])
    rows = [[model, record["examples"], record["clean_accuracy"], *record["robust_accuracy_after"].values(),
             "; ".join(record["findings"]) or "none"] for model, record in records.items()]
    return ["## AutoAttack", "",
            (f"AutoAttack standard (Croce & Hein, ICML 2020: APGD-CE, APGD-T, FAB-T, Square, each on the images the "
             f"earlier ones left robust), {NORM_LABELS[norm]} ε = {eps:g}, on the first test images: robust "
             "accuracy after each "
             "attack (the last column of them is AutoAttack's robust accuracy), and what its checks found."), "",
            table(["model", "images", "clean acc.", *(f"after {n}" for n in names), "findings"], rows), ""]


def grid_autoattack_section(models: list[ModelRecord], eps: float, norm: str = "linf") -> list[str]:
    """:func:`autoattack_section` for a study grid's model records (those AutoAttack evaluated)."""
    return autoattack_section({r.name: asdict(r.autoattack) for r in models if r.autoattack is not None}, eps,
                              norm)
