"""FAB-T and Square: the boundary projection against a linear program and a QP solver, FAB-T's distances
against the closed form of a linear classifier, Square's schedule, and both attacks' ε-ball and success."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.optimize import linprog, minimize
from torch import nn

from pyadvman.attacks import APGD, APGD_PROTOCOL, FABTargeted, Square
from pyadvman.attacks.boundary_projection import project_onto_hyperplane
from pyadvman.attacks.square import square_fraction
from pyadvman.execution import Execution


def _linf_reference(p, w, c):
    """min t s.t. |δ_i| <= t, w·δ = c, 0 <= p + δ <= 1 (variables δ, t); None when infeasible."""
    d = p.size
    a_ub = np.vstack([np.hstack([np.eye(d), -np.ones((d, 1))]), np.hstack([-np.eye(d), -np.ones((d, 1))])])
    cost = np.zeros(d + 1)
    cost[-1] = 1
    solved = linprog(cost, A_ub=a_ub, b_ub=np.zeros(2 * d), A_eq=np.append(w, 0)[None], b_eq=[c],
                     bounds=[(-pi, 1 - pi) for pi in p] + [(0, None)])
    return solved.fun if solved.status == 0 else None


def _l2_reference(p, w, c):
    solved = minimize(lambda v: v @ v, np.zeros(p.size), jac=lambda v: 2 * v, method="SLSQP",
                      constraints=[{"type": "eq", "fun": lambda v: w @ v - c, "jac": lambda v: w}],
                      bounds=[(-pi, 1 - pi) for pi in p], options={"ftol": 1e-14, "maxiter": 500})
    return solved.fun


def test_projection_is_the_minimum_norm_point_of_the_hyperplane_in_the_box() -> None:
    rng = np.random.default_rng(0)
    compared = 0
    for _ in range(80):
        p, w = rng.uniform(0, 1, 6), rng.normal(size=6)
        w[rng.uniform(size=6) < 0.2] = 0
        c = rng.normal() * rng.choice([0.1, 1.0, 3.0])
        args = (torch.tensor(p)[None], torch.tensor(w)[None], torch.tensor([w @ p + c]))
        linf, l2 = (project_onto_hyperplane(*args, norm)[0].numpy() for norm in ("linf", "l2"))
        assert abs(w @ linf - c) < 1e-9 and abs(w @ l2 - c) < 1e-9  # on the hyperplane either way
        best = _linf_reference(p, w, c)
        if best is None:  # unreachable inside the box: the box-free projection, sign(w)·c/‖w‖₁
            np.testing.assert_allclose(linf, np.sign(w) * c / np.abs(w).sum(), atol=1e-12)
            continue
        compared += 1
        assert np.all(p + linf >= -1e-12) and np.all(p + linf <= 1 + 1e-12)
        assert abs(np.abs(linf).max() - best) < 1e-7
        assert abs(l2 @ l2 - _l2_reference(p, w, c)) < 1e-6 and np.all(p + l2 >= -1e-12)
    assert compared > 20
    with pytest.raises(ValueError, match="norm must be one of .*'linf', 'l2'.*, got 'l0'"):
        project_onto_hyperplane(*args, "l0")


def _linear_model(seed: int = 0, classes: int = 10, side: int = 6):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(side * side, classes)).double()
    with torch.no_grad():
        model[1].weight.mul_(0.5)
    x = (0.4 + 0.2 * torch.rand(20, 1, side, side)).double()  # far from the box: the box does not bind
    with torch.no_grad():
        y = model(x).argmax(dim=1)
    return model.eval(), x, y


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fab_t_finds_the_closest_boundary_of_a_linear_classifier(norm) -> None:
    model, x, y = _linear_model()
    weight = model[1].weight.detach()
    with torch.no_grad():
        logits = model(x)
    # distance to each hyperplane f_j = f_y; the closest one is the distance to leave y's region
    w = weight[None] - weight[y][:, None]  # [B, K, D]
    gap = logits - logits.gather(1, y[:, None])  # f_j − f_y <= 0
    dual = w.abs().sum(dim=2) if norm == "linf" else w.norm(dim=2)
    distance = torch.where(torch.arange(10)[None] == y[:, None], float("inf"), -gap / dual).amin(dim=1)
    # every target on every example (AutoAttack's way stops at the first success within eps)
    result = FABTargeted(eps=1.0, norm=norm, steps=40, targets=9, stop_on_success=False).run(model, x, y)
    found = (result.x_adv - x).flatten(1)
    found = found.abs().amax(dim=1) if norm == "linf" else found.norm(dim=1)
    assert bool(result.success.any(dim=0).all())
    assert bool((found >= distance * (1 - 1e-6)).all())  # never closer than the boundary
    torch.testing.assert_close(found, distance, rtol=0.01, atol=0)  # within 1% of it
    with torch.no_grad():
        assert bool((model(result.x_adv).argmax(dim=1) != y).all())
    # the radius decides success: just above / below the smallest distance
    above = FABTargeted(eps=float(distance.min()) * 1.02, norm=norm, steps=40, targets=9).run(model, x, y)
    below = FABTargeted(eps=float(distance.min()) * 0.98, norm=norm, steps=40, targets=9).run(model, x, y)
    assert bool(above.success.any(dim=0)[distance.argmin()]) and not bool(below.success.any())
    assert bool((below.x_adv == x).all())  # failures return the clean image


def test_fab_t_stays_in_the_ball_and_only_attacks_points_left_robust(fashion) -> None:
    model, x, y = fashion
    x, y, eps = x[:60], y[:60], 0.1
    result = FABTargeted(eps=eps, steps=20, targets=3).run(model, x, y)
    assert result.success.shape == (3, 60)
    assert float((result.x_adv_restarts.double() - x.double()).abs().amax()) <= eps
    with torch.no_grad():
        fooled = model(result.x_adv).argmax(1) != y
    assert bool((fooled == result.success.any(dim=0)).all()) and result.robust_accuracy() < result.clean_accuracy()
    later = result.success[1:] & result.success[:1]  # an example fooled by the first target is not attacked again
    assert not bool(later[:, result.clean_correct].any())
    every = FABTargeted(eps=eps, steps=20, targets=3, stop_on_success=False).run(model, x, y)
    assert every.robust_accuracy() == result.robust_accuracy()


def test_square_schedule_halves_p_as_the_paper() -> None:
    halvings = {0: 0, 10: 0, 11: 1, 50: 1, 51: 2, 201: 3, 501: 4, 1001: 5, 2001: 6, 4001: 7, 6001: 8, 8001: 9}
    for iteration, halved in halvings.items():
        assert square_fraction(iteration, 0.8, 10000, False) == pytest.approx(0.8 / 2 ** halved)
    assert square_fraction(25, 0.8, 5000, True) == pytest.approx(0.4)  # 25 of 5,000 is 50 of 10,000
    assert square_fraction(26, 0.8, 5000, True) == pytest.approx(0.2)  # 52 of 10,000
    with pytest.raises(ValueError, match=r"p_init must be in \(0, 1\], got 1.5"):
        Square(p_init=1.5)


def test_square_stays_exactly_in_the_ball_and_needs_no_gradients(fashion) -> None:
    model, x, y = fashion
    x, y, eps = x[:60], y[:60], 0.1
    torch.manual_seed(0)
    result = Square(eps=eps, queries=200).run(model, x, y)
    delta = (result.x_adv.double() - x.double()).abs()
    assert float(delta.amax()) <= eps and result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    with torch.no_grad():
        logits = model(result.x_adv)
    fooled = logits.argmax(1) != y
    assert bool((fooled == result.success[0]).all())
    assert result.robust_accuracy() < result.clean_accuracy()
    others = logits.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    ran = result.clean_correct  # examples misclassified clean are not attacked: loss −inf
    torch.testing.assert_close(result.loss[0][ran], (others - logits.gather(1, y[:, None]).squeeze(1))[ran])
    assert bool(torch.isinf(result.loss[0][~ran]).all())
    # no gradient is ever taken: a model that refuses backward passes is attacked all the same
    class NoBackward(nn.Module):
        def forward(self, inputs):
            return model(inputs).detach()
    torch.manual_seed(0)
    again = Square(eps=eps, queries=200).run(NoBackward(), x, y)
    assert torch.equal(again.x_adv, result.x_adv)


def test_apgd_eot_averages_the_gradient_over_passes() -> None:
    model, x, y = _linear_model()
    calls = []
    counted = nn.Sequential(model.float())
    counted.register_forward_hook(lambda module, inputs, output: calls.append(1))
    APGD(eps=0.1, eot=4, protocol=replace(APGD_PROTOCOL, steps=5), execution=Execution(check_model=False)).run(counted, x.float(), y)
    assert len(calls) == 1 + 4 * (1 + 5)  # the clean pass, then eot passes per iterate
    with pytest.raises(ValueError, match="eot must be an integer >= 1, got 0"):
        APGD(eot=0)
