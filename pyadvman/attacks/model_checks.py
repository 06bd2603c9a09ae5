"""Checks of the attacked model in the manner of AutoAttack's (Croce & Hein, ICML 2020, ``checks.py``): a model
that returns probabilities instead of logits, one whose output is random, and inputs whose gradient is exactly
zero make gradient attacks report robustness that is not there. Each finding is one warning per attack run
(``ModelCheckWarning``) that says what was found and what to do; the attack itself is unchanged."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from pyadvman.attacks._checks import check_labels

_PROBABILITY_TOLERANCE = 1e-4  # |row sum − 1| of outputs that count as probabilities
_RANDOMNESS_TOLERANCE = 1e-4  # AutoAttack's: largest change of the L2-normalised output rows between two passes
# A loss below this is saturated: its gradient can underflow to exactly zero in float32 (cross-entropy 1e-4 is
# a probability of 0.9999 for the true class), so an all-zero gradient there is no sign of gradient masking.
_SATURATED_LOSS = 1e-4
RANDOM_OUTPUT = "the model's output changes between two identical forward passes"  # how that finding starts


class ModelCheckWarning(UserWarning):
    """An attacked model shows a sign that gradient attacks may overestimate its robustness."""


def valid_rows(logits: Tensor) -> Tensor:
    """Rows of logits (Tensor[N, K]) that predict a class: no NaN and a finite largest entry (−inf entries, a
    common way to mask classes, are fine). Tensor[N] bool."""
    return ~torch.isnan(logits).any(dim=1) & torch.isfinite(logits.amax(dim=1))


def predicted_classes(logits: Tensor) -> Tensor:
    """argmax of each row of logits (Tensor[N, K]), and -1 for rows that predict no class (NaN, or an infinite
    largest logit, see :func:`valid_rows`): such a row is never correct and always a successful untargeted
    attack. Tensor[N] int64."""
    return torch.where(valid_rows(logits), logits.argmax(dim=1), -1)


def check_logits(logits: object, batch: int) -> None:
    """Raises ValueError unless the model's output is floating-point logits Tensor[batch, K] (K >= 2)."""
    if not isinstance(logits, Tensor):
        raise ValueError(f"the model must return logits, a Tensor[{batch}, K]; it returned a "
                         f"{type(logits).__name__} (a model that returns (logits, features) needs a wrapper: "
                         "lambda x: model(x)[0])")
    if logits.dim() != 2 or logits.shape[0] != batch or logits.shape[1] < 2 or not logits.is_floating_point():
        raise ValueError(f"the model must return floating-point logits Tensor[{batch}, K] with K >= 2 classes "
                         f"(one row per input), got {logits.dtype} {list(logits.shape)}")


def clean_pass(model: nn.Module, clean: Tensor, labels: Tensor, check_model: bool
               ) -> tuple[Tensor, Tensor, list[str]]:
    """The first thing every attack does: the model's logits on the clean inputs (Tensor[B, K], no graph),
    which examples it classifies correctly (Tensor[B] bool, :func:`predicted_classes`), and with
    ``check_model`` the findings of :func:`output_findings`.

    Raises:
        ValueError: the model's output is not logits Tensor[B, K] (:func:`check_logits`); labels (Tensor[B]
            int64) outside [0, K); a model that modifies its input in place (the caller's images are restored
            first).
    """
    with torch.no_grad():
        before = clean.clone()
        logits = model(clean)
        if not torch.equal(clean, before):
            clean.copy_(before)
            raise ValueError("the model modified its input in place (e.g. x.sub_(mean) or x /= std in forward): "
                             "an attack would overwrite the caller's images and its own iterates; compute on a "
                             "copy (x = (x - mean) / std) or wrap the model: lambda x: model(x.clone())")
        check_logits(logits, clean.shape[0])
        check_labels("y", labels, logits.shape[1])
        findings = output_findings(logits, lambda: model(clean)) if check_model else []
    return logits, predicted_classes(logits) == labels, findings


def output_findings(logits: Tensor, forward_again: Callable[[], Tensor]) -> list[str]:
    """Findings about the clean outputs (Tensor[B, K]) and a second forward pass on the same inputs."""
    findings = []
    valid = valid_rows(logits)
    if not bool(valid.all()):
        findings.append(f"{int((~valid).sum())} of {logits.shape[0]} examples have NaN logits or an infinite "
                        "largest logit; they count as misclassified (clean) and as successfully attacked. Check "
                        "the model and the data")
    finite = torch.isfinite(logits).all(dim=1)
    rows = logits[finite].double()
    if rows.numel() and bool(((rows >= 0) & (rows <= 1)).all()) and \
            bool(((rows.sum(dim=1) - 1).abs() <= _PROBABILITY_TOLERANCE).all()):
        findings.append("the model's outputs are probabilities (every row is non-negative and sums to 1), but "
                        "attacks and their cross-entropy expect logits: return the logits, without the softmax")
    again = forward_again()
    normalise = lambda t: t.double() / (t.double().norm(dim=1, keepdim=True) + 1e-10)
    both = finite & torch.isfinite(again).all(dim=1)
    change = (normalise(again[both]) - normalise(logits[both])).abs()
    if change.numel() and float(change.max()) > _RANDOMNESS_TOLERANCE:
        findings.append(f"{RANDOM_OUTPUT} in eval mode (largest change {float(change.max()):.3g} of the "
                        "normalised logits): it is randomised, and a single gradient per step misjudges it; "
                        "average gradients over several passes "
                        "(expectation over transformation, AutoAttack's version='rand') or remove the randomness")
    return findings


def gradient_findings(grad: Tensor, loss: Tensor, correct: Tensor) -> list[str]:
    """Findings about the first gradients of an attack: grad Tensor[B, ...] w.r.t. the attacked variable, loss
    Tensor[B] at the same points, correct Tensor[B] bool (clean input classified correctly)."""
    zero = grad.flatten(1).abs().amax(dim=1) == 0
    masked = int((zero & correct & (loss >= _SATURATED_LOSS)).sum())
    saturated = int((zero & correct & (loss < _SATURATED_LOSS)).sum())
    total, findings = int(correct.sum()), []
    if masked:
        findings.append(f"{masked} of {total} correctly classified examples have an all-zero input gradient at "
                        f"the attack's first iterate while their loss is not small (>= {_SATURATED_LOSS:g}): the "
                        "model is flat there (e.g. every ReLU inactive) or masks gradients (rounding, argmax, "
                        "quantisation), so a gradient attack cannot move from those points and may report "
                        "robustness that is not there; use more restarts, a gradient-free attack, or a smooth "
                        "approximation of the masking operation (BPDA)")
    if saturated:
        findings.append(f"{saturated} of {total} correctly classified examples have an all-zero gradient at the "
                        f"attack's first iterate because their loss is saturated (below {_SATURATED_LOSS:g}, so its "
                        "gradient underflows): the attack cannot start there; use objective='margin', whose "
                        "gradient does not vanish")
    return findings


def warn_findings(attack: str, findings: list[str]) -> None:
    """One ModelCheckWarning per finding, prefixed with the attack's name."""
    for finding in findings:
        warnings.warn(f"{attack}: {finding}", ModelCheckWarning, stacklevel=3)
