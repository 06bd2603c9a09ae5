"""A NaN or infinite iterate is not an input of the threat model: never a success, never returned, counted."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from pyadvman.attacks import APGD, PGD, threat_models
from pyadvman.attacks.model_checks import ModelCheckWarning
from pyadvman.attacks.protocol import APGD_PROTOCOL, RELEASED_EVALUATION, AttackProtocol


class SqrtOfInput(nn.Module):
    """Class 0 by a margin no input in [0, 1] can close (logit 10 against the mean of sqrt(x) <= 1); sqrt's
    gradient at a 0 pixel is infinite, so an Adam step there is inf/inf = NaN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        second = x.flatten(1).sqrt().mean(dim=1)
        return torch.stack([torch.full_like(second, 10.0), second], dim=1)


def _images() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    x[:, 0, 0, 0] = 0
    return x, torch.zeros(8, dtype=torch.long)


def test_nan_adam_iterates_of_the_released_protocol_are_not_successes() -> None:
    x, y = _images()
    with pytest.warns(ModelCheckWarning, match=r"attack: \d+ of 1640 iterates were NaN or infinite .* discarded, "
                                               r"never counted as a success"):
        result = PGD(eps=0.002, protocol=RELEASED_EVALUATION).run(SqrtOfInput(), x, y)
    # the model cannot be fooled in the ball: every attack must find it robust (the signed one does)
    assert result.robust_accuracy() == 1.0 and not result.success.any()
    assert result.x_adv.isfinite().all() and result.x_adv_restarts.isfinite().all()
    assert (result.x_adv - x).abs().max() <= 0.002
    signed = PGD(eps=0.002, protocol=AttackProtocol(steps=40, restarts=5)).run(SqrtOfInput(), x, y)
    assert signed.robust_accuracy() == result.robust_accuracy()


@pytest.mark.parametrize("keep", ["last", "last_then_loss", "loss", "first_success"])
def test_no_keep_rule_returns_a_non_finite_iterate(keep) -> None:
    x, y = _images()
    protocol = AttackProtocol(update="adam", steps=5, lr=0.01, start="radial", keep=keep, restarts=2)
    with pytest.warns(ModelCheckWarning, match="NaN or infinite"):
        result = PGD(eps=0.002, protocol=protocol).run(SqrtOfInput(), x, y)
    assert result.x_adv_restarts.isfinite().all() and result.loss.isfinite().all()
    assert not result.success.any()


def test_apgd_goes_on_from_its_best_iterate_after_a_non_finite_one(monkeypatch) -> None:
    x, y = _images()
    real_step = threat_models.pgd_step
    calls = []

    def step_to_nan_at_the_third_call(*args, **kwargs):
        z = real_step(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            z = z.clone()
            z[:3] = float("nan")
        return z

    monkeypatch.setattr(threat_models, "pgd_step", step_to_nan_at_the_third_call)  # APGD's L∞ step
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
    with pytest.warns(ModelCheckWarning, match=r"APGD: 3 of \d+ iterates were NaN or infinite"):
        result = APGD(eps=0.05, protocol=replace(APGD_PROTOCOL, steps=6)).run(model, x, y)
    assert result.x_adv.isfinite().all() and (result.x_adv - x).abs().max() <= 0.05 + 1e-7


def test_the_training_path_keeps_the_same_finite_iterate_and_counts_the_others() -> None:
    x, y = _images()
    protocol = AttackProtocol(update="adam", steps=5, lr=0.01, start="radial", keep="last")  # one restart: unjudged
    attack = PGD(eps=0.002, protocol=protocol).with_execution(check_model=False)
    torch.manual_seed(1)
    with pytest.warns(ModelCheckWarning, match="NaN or infinite"):
        judged = attack.run(SqrtOfInput(), x, y).x_adv
    torch.manual_seed(1)
    with pytest.warns(ModelCheckWarning, match=r"attack: \d+ of 40 iterates were NaN or infinite"):
        iterates = attack.perturb(SqrtOfInput(), x, y)
    assert iterates.isfinite().all() and torch.equal(iterates, judged)
