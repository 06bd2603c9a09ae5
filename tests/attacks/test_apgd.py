"""APGD-CE: the checkpoint schedule of AutoAttack, the ε-ball, and strength against PGD."""

from __future__ import annotations

import torch

from pyadvman.attacks import APGD, PGD, attack_in_batches
from pyadvman.attacks.apgd import checkpoints


def test_checkpoints_follow_the_papers_recursion() -> None:
    # p = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (Croce & Hein, 2020, Sec. 3.2)
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(10) == [2, 3, 4, 5, 6, 7, 8, 9, 10]  # gaps floor at one iteration


def test_apgd_stays_in_the_ball_and_is_at_least_as_strong_as_pgd(fashion) -> None:
    model, x, y = fashion
    eps = 0.05
    torch.manual_seed(0)
    apgd = APGD(eps=eps, steps=30).run(model, x, y)
    torch.manual_seed(0)
    pgd = PGD(eps=eps, steps=30).run(model, x, y)
    assert float((apgd.x_adv - x).abs().max()) <= eps and apgd.x_adv.min() >= 0 and apgd.x_adv.max() <= 1
    assert apgd.robust_accuracy() <= pgd.robust_accuracy() + 0.02
    with torch.no_grad():
        fooled = model(apgd.x_adv).argmax(1) != y
    assert bool((fooled == apgd.success[0]).all())


def test_attack_in_batches_concatenates_results(fashion) -> None:
    model, x, y = fashion
    torch.manual_seed(1)
    batched = attack_in_batches(PGD(eps=0.1, steps=3, restarts=2), model, x[:50], y[:50], batch_size=20,
                                progress=False)
    assert batched.x_adv.shape == (50, 1, 28, 28) and batched.success.shape == (2, 50)
    assert batched.clean_correct.shape == (50,)
