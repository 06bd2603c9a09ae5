"""--norm in the studies: every image-space attack and the training of PGD objectives use the study's norm, every
model records it (on-manifold models for their evaluation; their training attack stays in code space), claim 1's sign-noise control has size ε in that norm, and the
robust loss of flatness searches that ball."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyadvman.analysis.flatness import RobustLoss
from pyadvman.attacks import AttackProtocol
from pyadvman.attacks.result import AttackResult
from pyadvman.experiments.claims import _null_control
from pyadvman.experiments.classifier_config import ClassifierConfig


def test_every_model_of_a_study_records_the_studys_norm() -> None:
    cfg = ClassifierConfig(norm="L2", epsilon=1.5)
    assert cfg.norm == "l2"
    assert cfg.train_config("adversarial").norm == "l2" and cfg.train_config("trades").norm == "l2"
    # a code-space training attack keeps its own ball; the norm is its model's validation and test attacks'
    assert cfg.train_config("on_true_manifold").norm == "l2"


@pytest.mark.parametrize(("norm", "p"), [("linf", float("inf")), ("l2", 2), ("l1", 1)])
def test_the_sign_noise_control_has_size_eps_in_the_norm(norm, p) -> None:
    x = torch.rand(5, 1, 4, 4)
    regular = AttackResult(x_adv=x + 0.1, x_adv_restarts=(x + 0.1)[None], params=(x + 0.1)[None], clean=x,
                           success=torch.ones(1, 5, dtype=torch.bool), loss=torch.zeros(1, 5),
                           clean_correct=torch.ones(5, dtype=torch.bool))
    noise = _null_control(regular, 0.3, seed=0, norm=norm)["sign_noise"]
    sizes = (noise.x_adv - x).flatten(1).norm(p=p, dim=1)
    torch.testing.assert_close(sizes, torch.full((5,), 0.3), rtol=1e-5, atol=1e-6)


def test_the_robust_loss_searches_the_norms_ball() -> None:
    """RobustLoss(norm="l2") is the worst-restart cross-entropy of L2 PGD from its seed, not L∞ PGD's."""
    from pyadvman.attacks import PGD

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    x, y = torch.rand(8, 1, 4, 4), torch.arange(8) % 3
    protocol = AttackProtocol(steps=3, restarts=2)
    losses, _ = RobustLoss(eps=0.5, norm="l2", protocol=protocol, seed=4).per_example(model, x, y)
    torch.manual_seed(4)
    expected = PGD(eps=0.5, norm="l2", protocol=protocol).run(model, x, y).loss.amax(dim=0)
    torch.testing.assert_close(losses, expected.float())
    linf, _ = RobustLoss(eps=0.5, protocol=protocol, seed=4).per_example(model, x, y)
    assert not torch.allclose(linf, losses)
