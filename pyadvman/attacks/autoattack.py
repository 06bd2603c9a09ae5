"""AutoAttack (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020, Sec. 4): a fixed ensemble of attacks, each run only on the points that the
earlier ones did not fool, with the checks that flag a model whose robustness gradient attacks cannot measure.

>>> from pyadvman.attacks import AutoAttack
>>> result = AutoAttack(eps=0.1).run(model, x, y)                         # doctest: +SKIP
>>> result.robust_accuracy(), result.robust_accuracy_after()              # doctest: +SKIP
(0.61, {'APGD-CE': 0.643, 'APGD-T': 0.615, 'FAB-T': 0.615, 'Square': 0.61})
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import torch
from torch import Tensor, nn

from pyadvman.attacks._checks import check_images_labels, check_number
from pyadvman.attacks.apgd import APGD, APGDTargeted
from pyadvman.attacks.base import Attack
from pyadvman.attacks.fab import FABTargeted
from pyadvman.attacks.losses import cross_entropy, margin
from pyadvman.attacks.model_checks import (
    RANDOM_OUTPUT,
    clean_pass,
    gradient_findings,
    predicted_classes,
    warn_findings,
)
from pyadvman.attacks.model_mode import eval_mode, frozen_parameters
from pyadvman.attacks.old_keywords import accepts_old_spellings
from pyadvman.attacks.protocol import APGD_PROTOCOL
from pyadvman.attacks.result import AttackResult
from pyadvman.attacks.square import Square
from pyadvman.attacks.threat_models import NORMS, canonical_norm, checked_distance
from pyadvman.execution import Execution

VERSIONS = ("standard", "rand")
_TARGETS = 9  # APGD-T's and FAB-T's target classes (fewer when the model has fewer than 10 classes)


def autoattack_targets(classes: int) -> int:
    """The target classes of APGD-T and FAB-T in AutoAttack for a model with ``classes`` outputs: 9, or
    classes − 1 when there are fewer."""
    return min(_TARGETS, classes - 1)
_RAND_EOT = 20  # version="rand": gradients averaged over 20 forward/backward passes
_L1_RESTARTS, _L1_APGD_TARGETS = 5, 5  # the standard version under L1: APGD-CE's restarts, APGD-T's targets
_SQUARE_TOLERANCE = 0.002  # AutoAttack's: Square lowering robust accuracy by more than this is reported


@dataclass
class AutoAttackResult(AttackResult):
    """An AttackResult (one run, R = 1) with what AutoAttack adds.

    attacks: the names of the attacks in the order they ran (e.g. ("APGD-CE", "APGD-T", "FAB-T", "Square")).
    fooled_by: Tensor[B] int64, the index in ``attacks`` of the attack that first fooled each example; −1 for
        the robust ones and those misclassified clean.
    findings: what the checks found (empty when the evaluation shows no sign of being unreliable).
    disagreements: Tensor[B] bool, with half-precision attacks the examples whose result differs in float32
        (:func:`pyadvman.attacks.robust_evaluation.evaluate_robustness`); None otherwise.
    """

    attacks: tuple[str, ...] = ()
    fooled_by: Tensor | None = None
    findings: list[str] = field(default_factory=list)
    disagreements: Tensor | None = None

    def robust_accuracy_after(self) -> dict[str, float]:
        """Robust accuracy after each attack, cumulative in the order they ran (the last one is
        ``robust_accuracy()``)."""
        total = self.clean_correct.numel()
        after = {}
        for k, name in enumerate(self.attacks):
            fooled = (self.fooled_by >= 0) & (self.fooled_by <= k)
            after[name] = int((self.clean_correct & ~fooled).sum()) / total if total else float("nan")
        return after

    @staticmethod
    def cat(results: list[AutoAttackResult]) -> AutoAttackResult:
        """Concatenates results of consecutive batches along the example axis; findings are merged."""
        if not results:
            raise ValueError("results must hold at least one AutoAttackResult, got an empty list")
        base = AttackResult.cat(results)
        findings = list(dict.fromkeys(f for r in results for f in r.findings))
        disagreements = None if results[0].disagreements is None else \
            torch.cat([r.disagreements for r in results])
        return AutoAttackResult(**{f.name: getattr(base, f.name) for f in fields(AttackResult)},
                                attacks=results[0].attacks, fooled_by=torch.cat([r.fooled_by for r in results]),
                                findings=findings, disagreements=disagreements)


def model_findings(model: nn.Module, x: Tensor, y: Tensor) -> list[str]:
    """AutoAttack's checks before an evaluation (its ``checks.py``), with the messages of every attack's model
    checks: probability outputs, a random output in eval mode, and all-zero input gradients of the
    cross-entropy at the clean points. x Tensor[B, C, H, W] in [0, 1], y Tensor[B] int64; the model is put in
    eval mode for the checks."""
    with eval_mode(model), frozen_parameters(model), torch.enable_grad():
        _, correct, findings = clean_pass(model, x, y, True)
        inputs = x.detach().requires_grad_(True)
        loss = cross_entropy(model(inputs), y, None)
        (grad,) = torch.autograd.grad(loss.sum(), inputs)
    return findings + gradient_findings(grad, loss.detach(), correct)


def square_finding(after: dict[str, float]) -> list[str]:
    """AutoAttack's sign of gradient masking: the black-box Square lowered the robust accuracy left by the
    white-box attacks by more than 0.2 points."""
    if "Square" not in after or len(after) < 2:
        return []
    white_box = min(value for name, value in after.items() if name != "Square")
    drop = white_box - after["Square"]
    if drop <= _SQUARE_TOLERANCE + 1e-12:  # accuracies are counts over n: one image of 500 is exactly the tolerance
        return []
    return [f"the black-box Square attack lowered the robust accuracy left by the gradient attacks by "
            f"{100 * drop:.2f} points (from {100 * white_box:.2f}% to {100 * after['Square']:.2f}%): the gradients "
            "mislead the white-box attacks (gradient masking), so this robust accuracy is likely too high; run "
            "Square with more queries and restarts, or an adaptive attack"]


@accepts_old_spellings
@dataclass(frozen=True)
class AutoAttack(Attack):
    """AutoAttack under L∞, L2 or L1: ``version="standard"`` runs APGD-CE (100 iterations), APGD-T (the 9 top
    classes, 100 iterations each), FAB-T (9 targets, 100 iterations) and Square (5,000 queries), each in the
    ``norm``'s ball and on the examples the earlier ones left robust; under L1, as AutoAttack's L1 version
    (Croce & Hein, ICML 2021), APGD-CE runs 5 restarts and APGD-T 5 targets, both with the 3ε-2ε-ε schedule
    (``APGD(large_eps=True)``). ``version="rand"`` (for randomised models) runs APGD-CE and APGD-DLR with the
    gradient averaged over 20 passes (expectation over transformation).

    An attack's image counts only when a forward pass of the model misclassifies it and it lies in the ε-ball
    (‖x_adv − x‖ ≤ eps in the norm, in float64 and in float32). With ``execution.check_model`` the checks run first
    (probability outputs, randomness, zero gradients: :func:`model_findings`) and, after Square, the
    gradient-masking check (:func:`square_finding`); findings are warned (ModelCheckWarning) and kept in the
    result.

    Args:
        eps: radius, a float >= 0.
        norm: "linf" (default), "l2" or "l1" (also as AutoAttack spells them: "Linf", "L2", "L1").
        version: "standard" or "rand". execution: the checks (default on), compile mode and precision of every
            attack (:class:`pyadvman.execution.Execution`).

    Returns (``run``): an :class:`AutoAttackResult`; ``robust_accuracy()`` is AutoAttack's robust accuracy
    and ``robust_accuracy_after()`` the per-attack one. Seed torch for reproducible runs;
    :func:`pyadvman.attacks.robust_evaluation.evaluate_robustness` seeds every batch and attack itself, resumes
    and shards.

    Raises:
        ValueError: eps not a finite number >= 0; an unknown norm or version; bad x / y;
            version "standard" on a model with fewer than 4 classes (the targeted DLR loss of APGD-T needs 4).

    Shape: x Tensor[B, C, H, W] in [0, 1], y Tensor[B] int64.
    """

    eps: float = 0.3
    norm: str = "linf"
    version: str = "standard"
    execution: Execution = Execution()

    def __post_init__(self) -> None:
        check_number("eps", self.eps)
        object.__setattr__(self, "norm", canonical_norm(self.norm))  # "Linf", "L2", "L1" as AutoAttack
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}, got {self.version!r}")


    def components(self, classes: int) -> list[tuple[str, Attack]]:
        """(name, attack) in the order they run, for a model with ``classes`` outputs."""
        shared = {"eps": self.eps, "norm": self.norm, "execution": replace(self.execution, check_model=False)}
        if self.version == "rand":
            return [("APGD-CE", APGD(**shared, eot=_RAND_EOT, stop_on_success=True)),
                    ("APGD-DLR", APGD(**shared, loss="dlr", eot=_RAND_EOT, stop_on_success=True))]
        if classes < 4:
            raise ValueError(f"AutoAttack's standard version needs a model with at least 4 classes (APGD-T's "
                             f"targeted DLR loss), got {classes}")
        targets = autoattack_targets(classes)
        if self.norm == "l1":  # AutoAttack's L1 version: the 3ε-2ε-ε schedule, 5 restarts, 5 APGD-T targets
            return [("APGD-CE", APGD(**shared, large_eps=True, stop_on_success=True,
                                     protocol=replace(APGD_PROTOCOL, restarts=_L1_RESTARTS))),
                    ("APGD-T", APGDTargeted(**shared, large_eps=True, targets=min(_L1_APGD_TARGETS, targets),
                                            stop_on_success=True)),
                    ("FAB-T", FABTargeted(**shared, targets=targets)),
                    ("Square", Square(**shared))]
        return [("APGD-CE", APGD(**shared, stop_on_success=True)),
                ("APGD-T", APGDTargeted(**shared, targets=targets, stop_on_success=True)),
                ("FAB-T", FABTargeted(**shared, targets=targets)),
                ("Square", Square(**shared))]

    def names(self) -> tuple[str, ...]:
        """The names of the attacks in the order they run."""
        return tuple(name for name, _ in self.components(_TARGETS + 1))

    def run(self, model: nn.Module, x: Tensor, y: Tensor) -> AutoAttackResult:
        model = self.execution.model(model)
        findings = self.check(model, x, y) if self.execution.check_model else []
        state = self.start(model, x, y)
        for k, (_, attack) in enumerate(self.components(classes_of(model, x))):
            self.run_component(model, x, y, state, k, attack)
        state = self.finish(model, y, state)
        state.findings = findings + (self.masking_findings(state) if self.execution.check_model else [])
        return state

    def check(self, model: nn.Module, x: Tensor, y: Tensor) -> list[str]:
        """The checks before the evaluation (:func:`model_findings`), warned; a random output is expected by
        version "rand" and not reported there."""
        check_images_labels(x, y)
        findings = [f for f in model_findings(model, x, y)
                    if not (self.version == "rand" and f.startswith(RANDOM_OUTPUT))]
        warn_findings("AutoAttack", findings)
        return findings

    def start(self, model: nn.Module, x: Tensor, y: Tensor) -> AutoAttackResult:
        """The state before the first attack: the clean pass, nobody fooled yet."""
        check_images_labels(x, y)
        with eval_mode(model), torch.no_grad():
            logits, clean_correct, _ = clean_pass(model, x, y, False)
        self.components(logits.shape[1])  # refuses too few classes before any work
        return AutoAttackResult(x_adv=x.clone(), x_adv_restarts=x[None].clone(), params=x[None].clone(), clean=x,
                                success=(~clean_correct)[None], loss=margin(logits, y, logits)[None],
                                clean_correct=clean_correct, attacks=self.names(),
                                fooled_by=torch.full_like(y, -1))

    def run_component(self, model: nn.Module, x: Tensor, y: Tensor, state: AutoAttackResult, k: int,
                      attack: Attack) -> None:
        """Runs ``attack``, the k-th of :meth:`components`, on the examples still robust in ``state`` and
        records what it fooled."""
        robust = state.clean_correct & (state.fooled_by < 0)
        rows = robust.nonzero().flatten()
        if rows.numel() == 0:
            return
        result = attack.run(model, x[rows], y[rows])
        fooled = self.confirm(model, x[rows], y[rows], result.x_adv)
        taken = rows[fooled]
        state.x_adv[taken] = result.x_adv[fooled]
        state.fooled_by[taken] = k
        state.success[0, taken] = True

    def confirm(self, model: nn.Module, x: Tensor, y: Tensor, x_adv: Tensor) -> Tensor:
        """Which of an attack's images count: misclassified by a fresh forward pass and inside the ε-ball of the
        norm (``checked_distance``: in float64 and in float32). Tensor[B] bool."""
        inside = checked_distance(x_adv, x, self.norm) <= self.eps
        with eval_mode(model), torch.no_grad():
            return (predicted_classes(model(x_adv)) != y) & inside

    def finish(self, model: nn.Module, y: Tensor, state: AutoAttackResult) -> AutoAttackResult:
        """The final images' margin loss (max_{j≠y} f_j − f_y) once every attack has run."""
        with eval_mode(model), torch.no_grad():
            logits = model(state.x_adv)
        state.loss = margin(logits, y, logits)[None]
        state.x_adv_restarts = state.params = state.x_adv[None]
        return state

    @staticmethod
    def masking_findings(result: AutoAttackResult, warn: bool = True) -> list[str]:
        """The gradient-masking check on a finished evaluation (:func:`square_finding`), warned."""
        findings = square_finding(result.robust_accuracy_after())
        if warn:
            warn_findings("AutoAttack", findings)
        return findings


def classes_of(model: nn.Module, x: Tensor) -> int:
    """The number of the model's outputs (one forward pass on x's first example)."""
    with eval_mode(model), torch.no_grad():
        return model(x[:1]).shape[1]
