"""PGD against a hand-written reference loop, restarts, best iterate, early stop, targeted, per-example ε,
model-mode and gradient hygiene, FGSM / L2 / LMC / TRADES variants and the error messages."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyadvman.attacks import PGD, AttackProtocol, fgsm, lmc_gaussian, lmc_laplacian, trades_attack
from pyadvman.attacks.losses import LOSSES
from pyadvman.execution import Execution
from pyadvman.models import build_model


def _toy(seed: int = 0, dtype=torch.float64):
    torch.manual_seed(seed)
    model = build_model("mlp", (1, 6, 6), 4, units=(16,), batch_norm=False).to(dtype).eval()
    x = torch.rand(5, 1, 6, 6, dtype=dtype)
    y = torch.randint(0, 4, (5,))
    return model, x, y


def _reference_pgd(model, x0, y, start, eps, alpha, steps):
    """The textbook loop (Madry et al.): x ← clamp(min(max(x + α sign ∇CE, x0 − ε), x0 + ε), 0, 1)."""
    x, iterates = start.clone(), [start.clone()]
    for _ in range(steps):
        x.requires_grad_(True)
        loss = F.cross_entropy(model(x), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
        x = torch.minimum(torch.maximum(x.detach() + alpha * grad.sign(), x0 - eps), x0 + eps).clamp(0, 1)
        iterates.append(x.clone())
    return iterates


def _seeded_start(x, eps, restarts, seed):
    torch.manual_seed(seed)
    noise = torch.rand(restarts, *x.shape, dtype=x.dtype) * 2 - 1
    return torch.minimum(torch.maximum(x + noise * eps, x - eps), x + eps).clamp(0, 1)


@pytest.mark.parametrize("steps", [0, 1, 2, 5, 9])
def test_pgd_equals_reference_loop_step_for_step(steps) -> None:
    model, x, y = _toy()
    start = _seeded_start(x, 0.3, 1, seed=7)[0]
    expected = _reference_pgd(model, x, y, start, 0.3, 0.05, steps)[-1]
    torch.manual_seed(7)
    got = PGD(eps=0.3, protocol=AttackProtocol(step_size=0.05, steps=steps, keep="last")).run(model, x, y)
    torch.testing.assert_close(got.x_adv, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(got.params[0], expected, rtol=0, atol=1e-12)


def test_batched_restarts_equal_independent_runs() -> None:
    model, x, y = _toy(1)
    starts = _seeded_start(x, 0.2, 3, seed=3)
    torch.manual_seed(3)
    got = PGD(eps=0.2, protocol=AttackProtocol(step_size=0.03, steps=6, restarts=3, keep="last")).run(model, x, y)
    for r in range(3):
        expected = _reference_pgd(model, x, y, starts[r], 0.2, 0.03, 6)[-1]
        torch.testing.assert_close(got.x_adv_restarts[r], expected, rtol=0, atol=1e-12)


def test_best_iterate_is_the_highest_loss_and_the_first_success() -> None:
    model, x, y = _toy(2)
    start = _seeded_start(x, 0.3, 1, seed=5)[0]
    iterates = torch.stack(_reference_pgd(model, x, y, start, 0.3, 0.1, 8))  # [T+1, B, ...]
    with torch.no_grad():
        logits = model(iterates.flatten(0, 1)).view(9, 5, -1)
    losses = torch.stack([F.cross_entropy(logits[t], y, reduction="none") for t in range(9)])
    fooled = logits.argmax(dim=2) != y
    torch.manual_seed(5)
    best = PGD(eps=0.3, protocol=AttackProtocol(step_size=0.1, steps=8)).run(model, x, y)
    rows = torch.arange(5)
    torch.testing.assert_close(best.x_adv, iterates[losses.argmax(dim=0), rows], rtol=0, atol=1e-12)
    torch.testing.assert_close(best.loss[0], losses.max(dim=0).values.float(), rtol=1e-6, atol=1e-6)
    torch.manual_seed(5)
    first = PGD(eps=0.3, protocol=AttackProtocol(step_size=0.1, steps=8, keep="first_success")).run(model, x, y)
    for b in range(5):
        if fooled[:, b].any():
            t = int(fooled[:, b].nonzero()[0])
            torch.testing.assert_close(first.x_adv[b], iterates[t, b], rtol=0, atol=1e-12)
            assert first.success[0, b]


class _Counting(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.calls, self.modes = inner, 0, []

    def forward(self, x):
        self.calls += 1
        self.modes.append(self.training)
        return self.inner(x)


def test_early_stop_freezes_finished_examples_and_ends_when_all_succeed() -> None:
    model, x, y = _toy(3)
    torch.manual_seed(0)
    plain = PGD(eps=0.5, protocol=AttackProtocol(step_size=0.1, steps=30, keep="first_success")).run(model, x, y)
    assert plain.success.all(), "set-up: every example should be fooled at eps 0.5"
    counting = _Counting(model)
    torch.manual_seed(0)
    stopped = PGD(eps=0.5, protocol=AttackProtocol(step_size=0.1, steps=30, keep="first_success", early_stop=True)).run(counting, x, y)
    torch.testing.assert_close(stopped.x_adv, plain.x_adv, rtol=0, atol=0)
    assert counting.calls < 31  # clean pass + fewer than 30 iterate evaluations


def test_model_mode_is_eval_while_attacking_restored_after_and_no_parameter_grads(fashion) -> None:
    model, x, y = fashion
    counting = _Counting(model)
    counting.train()
    PGD(eps=0.1, protocol=AttackProtocol(steps=3)).run(counting, x[:20], y[:20])
    assert counting.training and model.training and not any(counting.modes)
    assert all(p.grad is None for p in model.parameters())
    model.eval()


def test_pgd40_fools_a_normally_trained_fashion_model(fashion) -> None:
    model, x, y = fashion
    result = PGD(eps=0.3, protocol=AttackProtocol(steps=40)).run(model, x, y)
    assert result.clean_accuracy() > 0.7
    assert result.success_rate() > 0.95
    assert ((result.x_adv - x).abs().amax() <= 0.3) and result.x_adv.min() >= 0 and result.x_adv.max() <= 1


def test_success_rate_counts_pairs_over_correct_clean_inputs() -> None:
    from pyadvman.attacks import AttackResult

    success = torch.tensor([[True, False, True], [False, False, True]])
    correct = torch.tensor([True, True, False])
    empty = torch.zeros(0)
    result = AttackResult(empty, empty, empty, empty, success, torch.zeros(2, 3), correct)
    assert result.success_rate() == 1 / 4  # pairs of examples 0 and 1: one success out of four
    assert result.robust_accuracy() == 1 / 3  # only example 1 survives every restart


def test_targeted_attack_reaches_the_target() -> None:
    model, x, y = _toy(4)
    target = (y + 1) % 4
    result = PGD(eps=1.0, targeted=True, protocol=AttackProtocol(step_size=0.1, steps=50)).run(model, x, y, target=target)
    with torch.no_grad():
        reached = model(result.x_adv).argmax(dim=1) == target
    assert bool((reached == result.success.any(dim=0)).all()) and reached.float().mean() >= 0.8


def test_per_example_eps_bounds_each_row() -> None:
    model, x, y = _toy(5, dtype=torch.float32)
    eps = torch.tensor([0.0, 0.05, 0.1, 0.2, 0.3])
    result = PGD(eps=eps, protocol=AttackProtocol(steps=5, restarts=2)).run(model, x, y)
    delta = (result.x_adv_restarts - x).abs().flatten(2).amax(dim=2)
    assert bool((delta <= eps).all()) and float(delta[:, 0].max()) == 0.0
    assert float(delta[:, 4].max()) > 0.2


def test_fgsm_is_one_signed_step() -> None:
    model, x, y = _toy(6)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
    expected = (x + 0.1 * grad.sign()).clamp(0, 1)
    torch.testing.assert_close(fgsm(0.1).run(model, x, y).x_adv_restarts[0], expected, rtol=0, atol=1e-12)


def test_l2_pgd_stays_in_the_l2_ball_and_box() -> None:
    model, x, y = _toy(7)
    result = PGD(eps=1.5, norm="l2", protocol=AttackProtocol(steps=10, restarts=2)).run(model, x, y)
    norms = (result.x_adv_restarts - x).flatten(2).norm(dim=2)
    assert float(norms.max()) <= 1.5 + 1e-9 and float(norms.max()) > 1.0
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1


@pytest.mark.parametrize("make", [lambda: lmc_gaussian(0.3, 5, 0.1, 0.05), lambda: lmc_laplacian(0.3, 5, 0.1, 0.5),
                                  lambda: trades_attack(0.3, 5), lambda: PGD(eps=0.3, protocol=AttackProtocol(steps=5, update="adam", lr=0.05))])
def test_variants_stay_in_the_ball(make) -> None:
    model, x, y = _toy(8)
    result = make().run(model, x, y)
    assert float((result.x_adv_restarts - x).abs().max()) <= 0.3 + 1e-12
    assert float((result.x_adv_restarts - x).abs().max()) > 0.01


def test_objectives_match_their_formulas() -> None:
    torch.manual_seed(0)
    logits, clean, y = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64), torch.arange(6) % 5
    kl = F.kl_div(F.log_softmax(logits, 1), F.softmax(clean, 1), reduction="none").sum(1)
    torch.testing.assert_close(LOSSES["kl"](logits, y, clean), kl)
    p_y = F.softmax(logits, 1).gather(1, y[:, None]).squeeze(1)
    torch.testing.assert_close(LOSSES["lmc"](logits, y, clean), torch.log(1 - p_y))
    torch.testing.assert_close(LOSSES["ce"](logits, y, clean), -torch.log(p_y))
    others = logits.clone()
    others[torch.arange(6), y] = -1e9
    torch.testing.assert_close(LOSSES["margin"](logits, y, clean),
                               others.max(1).values - logits[torch.arange(6), y])


def test_bad_arguments_are_named() -> None:
    model, x, y = _toy()
    with pytest.raises(ValueError, match=r"x must have values in \[0, 1\]"):
        PGD().run(model, x * 3, y)
    with pytest.raises(ValueError, match="y must be an int64 Tensor"):
        PGD().run(model, x, y.int())
    with pytest.raises(ValueError, match="eps must be a finite number >= 0, got -0.1"):
        PGD(eps=-0.1).run(model, x, y)
    with pytest.raises(ValueError, match=r"eps must be a float or a Tensor\[5\]"):
        PGD(eps=torch.ones(3)).run(model, x, y)
    with pytest.raises(ValueError, match="steps must be an integer >= 0, got -1"):
        PGD(protocol=AttackProtocol(steps=-1))
    with pytest.raises(ValueError, match="loss must be one of"):
        PGD(loss="hinge")
    with pytest.raises(ValueError, match="norm must be one of"):
        PGD(norm="l0")
    with pytest.raises(ValueError, match="targeted attack needs target"):
        PGD(targeted=True).run(model, x, y)


def test_restarts_in_chunks_equal_one_forward_pass() -> None:
    model, x, y = _toy(9)
    torch.manual_seed(4)
    whole = PGD(eps=0.2, protocol=AttackProtocol(steps=5, restarts=4), execution=Execution(chunk_rows=0)).run(model, x, y)
    torch.manual_seed(4)
    chunked = PGD(eps=0.2, protocol=AttackProtocol(steps=5, restarts=4), execution=Execution(chunk_rows=2 * x.shape[0])).run(model, x, y)
    torch.testing.assert_close(chunked.x_adv_restarts, whole.x_adv_restarts, rtol=0, atol=1e-12)
    torch.testing.assert_close(chunked.loss, whole.loss, rtol=0, atol=0)
