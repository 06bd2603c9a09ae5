"""Attacks on ``Normalized(model, mean, std)`` are the same attacks as on a model that normalises inside its own
forward: the same adversarial images, within float tolerance; norms spelled as AutoAttack spells them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyadvman.attacks import PGD, AutoAttack
from pyadvman.attacks.protocol import AttackProtocol
from pyadvman.models import NORMALIZATIONS, Normalized

MEAN, STD = NORMALIZATIONS["cifar10"]


def _body(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 7 * 7, 10))


class NormalisesInside(nn.Module):
    """The form of RobustBench's models: the normalisation written into forward."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(MEAN, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(STD, device=x.device).view(1, 3, 1, 1)
        return self.body((x - mean) / std)


def _pair() -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    body = _body(0).eval()
    inside = NormalisesInside(_body(0)).eval()
    inside.body.load_state_dict(body.state_dict())
    x = torch.rand(24, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = NormalisesInside(body)(x).argmax(1)  # clean-correct examples, so that the attacks have work
    y[::3] = (y[::3] + 1) % 10
    return Normalized(body, MEAN, STD).eval(), inside, x, y


def _run_twice(attack, wrapped, inside, x, y):
    torch.manual_seed(5)
    first = attack.run(wrapped, x, y)
    torch.manual_seed(5)
    second = attack.run(inside, x, y)
    return first, second


def test_pgd_on_normalized_equals_pgd_on_a_model_normalising_inside() -> None:
    wrapped, inside, x, y = _pair()
    attack = PGD(eps=8 / 255, protocol=AttackProtocol(steps=10, restarts=2))
    first, second = _run_twice(attack, wrapped, inside, x, y)
    torch.testing.assert_close(first.x_adv, second.x_adv, atol=1e-5, rtol=0)
    assert torch.equal(first.success, second.success)
    assert float((first.x_adv - x).abs().max()) <= 8 / 255 + 1e-6


def test_autoattack_on_normalized_equals_autoattack_on_a_model_normalising_inside() -> None:
    wrapped, inside, x, y = _pair()
    attack = AutoAttack(eps=8 / 255, norm="Linf")
    first, second = _run_twice(attack, wrapped, inside, x, y)
    assert torch.equal(first.fooled_by, second.fooled_by)
    torch.testing.assert_close(first.x_adv, second.x_adv, atol=1e-5, rtol=0)
    assert first.robust_accuracy() == second.robust_accuracy() < first.clean_accuracy()


@pytest.mark.parametrize(("spelling", "norm"), [("Linf", "linf"), ("LINF", "linf"), ("L2", "l2"), ("inf", "linf")])
def test_norms_are_read_as_autoattack_spells_them(spelling, norm) -> None:
    assert PGD(eps=0.5, norm=spelling).norm == norm
    with pytest.raises(ValueError, match="norm must be one of"):
        PGD(eps=0.5, norm="L3")
