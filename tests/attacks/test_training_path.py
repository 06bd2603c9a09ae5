"""The training path of the gradient attacks (``Attack.perturb``): the same adversarial examples as ``run``, with
no model pass that only judges success."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from pyadvman.attacks import (
    PGD,
    RELEASED_TRAINING,
    AttackProtocol,
    TransformationAttack,
    TrueManifoldAttack,
    lmc_gaussian,
    trades_attack,
)
from pyadvman.attacks.iterates import KeptIterates

PROTOCOLS = {
    "signed, last": AttackProtocol(steps=6, keep="last"),
    "released training (Adam, last then loss)": replace(RELEASED_TRAINING, steps=6),
    "signed, highest loss, 3 restarts": AttackProtocol(steps=6, restarts=3),
    "signed, last, 2 restarts": AttackProtocol(steps=6, restarts=2, keep="last"),
    "first success, early stop": AttackProtocol(steps=6, keep="first_success", early_stop=True),
}


class Counting(nn.Module):
    """Counts the forward passes (calls) and the images they saw."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.calls, self.rows = inner, 0, 0

    def forward(self, x):
        self.calls += 1
        self.rows += x.shape[0]
        return self.inner(x)


def _both(attack, model, x, y, **codes):
    torch.manual_seed(3)
    judged = attack.run(model, x, y, **codes).x_adv
    torch.manual_seed(3)
    return judged, attack.perturb(model, x, y, **codes)


@pytest.mark.parametrize("name", PROTOCOLS)
def test_perturb_returns_the_images_run_returns(fonts, name) -> None:
    data, model = fonts
    x, y = data.test.images[:40], data.test.labels[:40]
    judged, iterates = _both(PGD(eps=0.2, protocol=PROTOCOLS[name]), model, x, y)
    assert torch.equal(judged, iterates)
    assert not torch.equal(iterates, x)


@pytest.mark.parametrize("attack", [trades_attack(0.2, steps=5), lmc_gaussian(0.2, steps=5, noise_scale=0.01)],
                         ids=["TRADES (KL, reads the clean logits)", "LMC Gaussian (noise in the steps)"])
def test_perturb_of_the_training_samplers_equals_run(fonts, attack) -> None:
    data, model = fonts
    judged, iterates = _both(attack, model, data.test.images[:40], data.test.labels[:40])
    assert torch.equal(judged, iterates)


def test_perturb_of_the_code_attacks_equals_run(fonts) -> None:
    data, model = fonts
    test = data.test.first(30)
    protocol = AttackProtocol(steps=5, keep="last")
    true_manifold = TrueManifoldAttack.on_split(data, "test", eta=0.2, protocol=protocol)
    judged, iterates = _both(true_manifold, model, test.images, test.labels, codes=test.codes, theta=test.theta)
    assert torch.equal(judged, iterates)
    judged, iterates = _both(TransformationAttack(eta=0.2, protocol=protocol), model, test.images, test.labels)
    assert torch.equal(judged, iterates)


@pytest.mark.parametrize(("protocol", "run_calls", "perturb_calls"), [
    (AttackProtocol(steps=10, keep="last"), 12, 10),  # the clean pass and the last iterate's pass are skipped
    (replace(RELEASED_TRAINING, steps=10), 12, 11),  # the last iterate is judged: its rule needs its loss
])
def test_perturb_makes_only_the_passes_its_images_need(fonts, protocol, run_calls, perturb_calls) -> None:
    data, model = fonts
    counting = Counting(model)
    attack = PGD(eps=0.2, protocol=protocol).with_execution(check_model=False)
    x, y = data.test.images[:20], data.test.labels[:20]
    attack.run(counting, x, y)
    assert counting.calls == run_calls
    counting.calls = 0
    attack.perturb(counting, x, y)
    assert counting.calls == perturb_calls
    counting.calls = 0
    trades = trades_attack(0.2, steps=10).with_execution(check_model=False)
    trades.perturb(counting, x, y)
    assert counting.calls == 12  # the KL loss reads the clean logits, and keep "loss" judges the last iterate
    counting.calls = 0
    replace(trades, protocol=replace(trades.protocol, keep="last")).perturb(counting, x, y)
    assert counting.calls == 11  # the clean pass stays: the KL loss reads the clean logits


def test_perturb_checks_the_labels_without_a_clean_pass(fonts) -> None:
    data, model = fonts
    x, y = data.test.images[:4], data.test.labels[:4].clone()
    y[1] = 10
    with pytest.raises(ValueError, match=r"y .*\[0, 10\)|y .*10"):
        PGD(eps=0.2, protocol=AttackProtocol(steps=2, keep="last")).perturb(model, x, y)
    with pytest.raises(ValueError, match="untargeted"):
        PGD(eps=0.2, targeted=True).perturb(model, x, data.test.labels[:4])


def test_an_unjudged_last_iterate_is_taken_only_where_finite() -> None:
    p = torch.zeros(1, 3, 2)
    kept = KeptIterates(p, "last")
    kept.update(torch.ones(1, 3, 2), torch.zeros(1, 3, dtype=torch.bool), torch.zeros(1, 3))
    last = torch.full((1, 3, 2), 2.0)
    last[0, 1, 0] = float("nan")
    kept.take_finite(last)
    assert kept.p[0, :, 0].tolist() == [2.0, 1.0, 2.0]
