"""The attack protocol of the released code of Stutz et al.: Adam on δ, the radial start, success counted when any
iterate fools the model, and the training attack's keep rule; and AttackProtocol as a config."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyadvman.attacks import PGD, RELEASED_EVALUATION, SIGNED_PGD, AttackProtocol, LinfBall
from pyadvman.attacks.iterates import improves
from pyadvman.errors import ConfigError
from pyadvman.execution import Execution


def test_the_radial_start_is_a_random_direction_times_a_uniform_radius() -> None:
    torch.manual_seed(0)
    x0 = torch.full((400, 1, 8, 8), 0.5)  # mid-grey: the box never clips a start
    start = LinfBall(0.3).random_init(x0, 3, "radial")
    delta = (start - x0).flatten(2)
    peak = delta.abs().amax(dim=2) / 0.3  # ‖δ‖∞ / ε: the uniform radius u of each (restart, example)
    assert start.shape == (3, 400, 1, 8, 8) and float(peak.max()) <= 1 + 1e-6
    assert abs(float(peak.mean()) - 0.5) < 0.03 and abs(float((peak < 0.25).float().mean()) - 0.25) < 0.04
    # a Gaussian direction: the typical coordinate is far inside the ball, unlike a uniform start
    typical = (delta.abs().mean(dim=2) / (peak * 0.3).clamp_min(1e-9)).mean()
    uniform = (LinfBall(0.3).random_init(x0, 3, "uniform") - x0).abs().mean() / 0.3
    assert float(typical) < 0.35 and abs(float(uniform) - 0.5) < 0.01


def _keeps(keep: str, success: list[bool], values: list[float]) -> int:
    """The index of the iterate the rule keeps along one trajectory."""
    kept, best_loss, best_success, fooled = 0, torch.tensor(-float("inf")), torch.tensor(False), torch.tensor(False)
    for t, (s, v) in enumerate(zip(success, values)):
        s, v = torch.tensor(s), torch.tensor(v)
        if bool(improves(keep, s, v, best_success, best_loss, fooled)):
            kept, best_loss, best_success = t, v, s
        fooled = fooled | s
    return kept


@pytest.mark.parametrize(("values", "expected"), [
    ([3.0, 0.5, 2.0, 1.5, 2.5], {"loss": 0, "first_success": 2, "last": 4, "last_then_loss": 4}),
    ([3.0, 0.5, 2.0, 2.5, 1.0], {"loss": 0, "first_success": 2, "last": 4, "last_then_loss": 3}),
])
def test_each_keep_rule_keeps_its_iterate(values, expected) -> None:
    success = [False, False, True, False, False]  # the third iterate fools the model
    assert {keep: _keeps(keep, success, values) for keep in expected} == expected


class _FoolsOnce(nn.Module):
    """10 classes, true class 0. Its loss rises with every forward pass, but only pass ``fooled_pass`` (the clean
    pass is pass 1) predicts another class: an attack whose trajectory fools the model once, mid-way, and ends at
    a higher loss that does not fool it."""

    def __init__(self, fooled_pass: int) -> None:
        super().__init__()
        self.fooled_pass, self.calls = fooled_pass, 0

    def forward(self, x):
        self.calls += 1
        rows = x.shape[0]
        others = torch.full((rows, 9), -3.0 + 0.29 * (self.calls - 2))
        if self.calls == self.fooled_pass:
            others[:, 0] = 0.01
        return torch.cat([torch.zeros(rows, 1), others], dim=1) + 0.0 * x.flatten(1).sum(1, keepdim=True)


@pytest.mark.parametrize("update", ["adam", "sign"])
def test_an_iterate_that_fools_mid_trajectory_counts_as_a_success(update) -> None:
    x, y = torch.full((4, 1, 6, 6), 0.5), torch.zeros(4, dtype=torch.long)
    protocol = AttackProtocol(update=update, steps=10, keep="first_success", start="none")
    counted = PGD(eps=0.3, protocol=protocol, execution=Execution(check_model=False)).run(_FoolsOnce(fooled_pass=5), x, y)
    assert counted.success.all() and counted.success_rate() == 1.0 and counted.robust_accuracy() == 0.0
    judged_at_end = PGD(eps=0.3, protocol=replace(protocol, keep="loss"), execution=Execution(check_model=False)).run(
        _FoolsOnce(fooled_pass=5), x, y)
    assert not judged_at_end.success.any() and judged_at_end.success_rate() == 0.0  # the highest loss is last


def test_adam_on_delta_is_torch_adam_minimising_the_negative_loss() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    x, y = torch.rand(6, 1, 6, 6, dtype=torch.float64), torch.randint(0, 3, (6,))
    eps, lr, steps = 0.2, 0.03, 7
    delta = torch.zeros_like(x, requires_grad=True)
    optimiser = torch.optim.Adam([delta], lr=lr)
    for _ in range(steps):  # the released code: Adam on δ, −CE summed, then δ clipped to the box and the ball
        optimiser.zero_grad()
        (-F.cross_entropy(model(x + delta), y, reduction="sum")).backward()
        optimiser.step()
        with torch.no_grad():
            delta.copy_(torch.maximum(torch.minimum(delta, 1 - x), -x).clamp(-eps, eps))
    got = PGD(eps=eps, protocol=AttackProtocol(steps=steps, update="adam", lr=lr, start="none", keep="last"), execution=Execution(check_model=False)).run(model, x, y)
    torch.testing.assert_close(got.x_adv, x + delta.detach(), rtol=0, atol=1e-10)


def test_protocol_fields_are_checked_and_named() -> None:
    with pytest.raises(ConfigError, match=r"keep must be one of \('loss', 'first_success', 'last', 'last_then_loss'\)"):
        AttackProtocol(keep="best")
    with pytest.raises(ConfigError, match="restarts must be an integer >= 1, got 0"):
        AttackProtocol(restarts=0)
    with pytest.raises(ConfigError, match="lr must be a finite number >= 0"):
        AttackProtocol(lr=-1.0)
    assert PGD(eps=0.3, protocol=RELEASED_EVALUATION).protocol.restarts == 5
    assert RELEASED_EVALUATION.describe("ε", 0.3) == ("Adam on δ (lr 0.005), ε = 0.3, 40 iterations, 5 restarts, "
                                                      "radial start, success when any iterate fools the model")
    assert SIGNED_PGD.describe("ε").startswith("signed PGD (step 2.5·ε/40)")
