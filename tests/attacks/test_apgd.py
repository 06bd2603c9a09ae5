"""APGD-CE, APGD-DLR and APGD-T: the checkpoint schedule of AutoAttack, the DLR losses against their formulas,
the ε-ball, the targets, and strength against PGD and APGD-CE."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from pyadvman.attacks import APGD, APGD_PROTOCOL, PGD, APGDTargeted, AttackProtocol, attack_in_batches
from pyadvman.attacks.apgd import checkpoints
from pyadvman.attacks.losses import dlr, targeted_dlr


def test_checkpoints_follow_the_papers_recursion() -> None:
    # p = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (Croce & Hein, 2020, Sec. 3.2)
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(10) == [2, 3, 4, 5, 6, 7, 8, 9, 10]  # gaps floor at one iteration


def test_apgd_stays_in_the_ball_and_is_at_least_as_strong_as_pgd(fashion) -> None:
    model, x, y = fashion
    eps = 0.05
    torch.manual_seed(0)
    apgd = APGD(eps=eps, protocol=replace(APGD_PROTOCOL, steps=30)).run(model, x, y)
    torch.manual_seed(0)
    pgd = PGD(eps=eps, protocol=AttackProtocol(steps=30)).run(model, x, y)
    assert float((apgd.x_adv - x).abs().max()) <= eps and apgd.x_adv.min() >= 0 and apgd.x_adv.max() <= 1
    assert apgd.robust_accuracy() <= pgd.robust_accuracy() + 0.02
    with torch.no_grad():
        fooled = model(apgd.x_adv).argmax(1) != y
    assert bool((fooled == apgd.success[0]).all())


def test_attack_in_batches_concatenates_results(fashion) -> None:
    model, x, y = fashion
    torch.manual_seed(1)
    batched = attack_in_batches(PGD(eps=0.1, protocol=AttackProtocol(steps=3, restarts=2)), model, x[:50], y[:50], batch_size=20,
                                progress=False)
    assert batched.x_adv.shape == (50, 1, 28, 28) and batched.success.shape == (2, 50)
    assert batched.clean_correct.shape == (50,)


def test_dlr_against_its_formula_and_invariances() -> None:
    logits = torch.tensor([[3.0, 1.0, 2.0, -1.0], [0.5, 2.5, 1.5, 0.0]])
    labels = torch.tensor([0, 0])
    # sorted: (3, 2, 1, −1) and (2.5, 1.5, 0.5, 0); DLR = −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3)
    torch.testing.assert_close(dlr(logits, labels, logits), torch.tensor([-(3 - 2) / (3 - 1), -(0.5 - 2.5) / (2.5 - 0.5)]))
    assert dlr(logits, labels, logits)[1] > 0 > dlr(logits, labels, logits)[0]  # positive once misclassified
    torch.testing.assert_close(dlr(3.0 * logits + 7.0, labels, logits), dlr(logits, labels, logits))  # shift, scale
    targets = torch.tensor([2, 3])
    # targeted: (z_t − z_y) / (z_π1 − (z_π3 + z_π4)/2)
    expected = torch.tensor([(2 - 3) / (3 - (1 - 1) / 2), (0.0 - 0.5) / (2.5 - (0.5 + 0.0) / 2)])
    torch.testing.assert_close(targeted_dlr(logits, labels, targets), expected)
    torch.testing.assert_close(targeted_dlr(2.0 * logits - 1.0, labels, targets), expected)
    with pytest.raises(ValueError, match="the DLR loss needs logits of at least 3 classes, got 2"):
        dlr(logits[:, :2], labels, logits[:, :2])
    with pytest.raises(ValueError, match="the targeted DLR loss needs logits of at least 4 classes, got 3"):
        targeted_dlr(logits[:, :3], labels, targets.clamp(max=2))


def test_apgd_t_attacks_each_top_class_and_stays_in_the_ball(fashion) -> None:
    model, x, y = fashion
    x, y, eps = x[:100], y[:100], 0.05
    torch.manual_seed(0)
    result = APGDTargeted(eps=eps, targets=3, protocol=replace(APGD_PROTOCOL, steps=20)).run(model, x, y)
    assert result.success.shape == (3, 100) and result.x_adv_restarts.shape == (3, *x.shape)
    assert float((result.x_adv_restarts - x).abs().max()) <= eps
    assert result.x_adv_restarts.min() >= 0 and result.x_adv_restarts.max() <= 1
    with torch.no_grad():
        ranked = model(x).argsort(dim=1, descending=True)
        for k in range(3):  # run k maximised the targeted DLR towards the clean point's (k + 2)-th class
            logits = model(result.x_adv_restarts[k])
            torch.testing.assert_close(result.loss[k], targeted_dlr(logits, y, ranked[:, k + 1]))
            assert bool(((logits.argmax(1) != y) == result.success[k]).all())
    torch.manual_seed(0)
    ce = APGD(eps=eps, protocol=replace(APGD_PROTOCOL, steps=20)).run(model, x, y)
    assert result.robust_accuracy() <= ce.robust_accuracy() + 0.03
    torch.manual_seed(0)
    dlr_result = APGD(eps=eps, loss="dlr", protocol=replace(APGD_PROTOCOL, steps=20)).run(model, x, y)
    assert float((dlr_result.x_adv - x).abs().max()) <= eps and dlr_result.robust_accuracy() < 1.0


def test_apgd_t_refuses_more_targets_than_other_classes(fashion) -> None:
    model, x, y = fashion
    with pytest.raises(ValueError, match=r"targets must be at most classes - 1 = 9 \(the model has 10 classes\), "
                                         r"got 10"):
        APGDTargeted(eps=0.05, targets=10, protocol=replace(APGD_PROTOCOL, steps=2)).run(model, x[:4], y[:4])
    with pytest.raises(ValueError, match="targets"):
        APGDTargeted(targets=0)


def test_targets_are_the_next_classes_in_order_and_fooled_examples_are_not_attacked_again(fashion) -> None:
    from pyadvman.attacks.losses import top_classes

    logits = torch.tensor([[0.1, 3.0, 2.0, -1.0, 0.5], [4.0, 0.0, 1.0, 2.0, 3.0]])
    assert top_classes(logits, 3).tolist() == [[2, 4], [4, 3], [0, 2]]  # target-major: 2nd, 3rd, 4th class
    with pytest.raises(ValueError, match="targets must be at most classes - 1 = 4"):
        top_classes(logits, 5)
    model, x, y = fashion
    x, y = x[:80], y[:80]
    torch.manual_seed(0)
    result = APGDTargeted(eps=0.05, targets=3, stop_on_success=True, protocol=replace(APGD_PROTOCOL, steps=10)).run(model, x, y)
    first = result.success[0] & result.clean_correct
    assert bool(first.any()) and not bool(result.success[1:, first].any())  # skipped, recorded as not run
    assert bool(torch.isinf(result.loss[1:, first]).all())
