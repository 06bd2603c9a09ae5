"""The L2 and L1 threat models and attacks: APGD(-T), PGD, Square and AutoAttack under L2, APGD-L1 and PGD-L1,
against linear models whose strongest perturbation has a closed form, and every image inside its ball."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from pyadvman.attacks import (
    APGD,
    APGD_PROTOCOL,
    PGD,
    APGDTargeted,
    AttackProtocol,
    AutoAttack,
    L1Ball,
    L2Ball,
    Square,
)
from pyadvman.attacks.square_lp import square_pattern
from pyadvman.attacks.threat_models import canonical_norm, checked_distance, sparse_direction


class TwoClassLinear(nn.Module):
    """logits (0, w·(x − 0.5) + b) over flattened inputs: class 1 where w·(x − 0.5) + b > 0."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.w, self.b = nn.Parameter(w.clone()), b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x.flatten(1) - 0.5) @ self.w + self.b
        return torch.stack([torch.zeros_like(score), score], dim=1)


def l1_largest_drop(w: np.ndarray, x: np.ndarray, eps: float) -> float:
    """max over ‖δ‖₁ <= eps, x + δ in [0, 1] of −w·δ: the budget spent greedily on the coordinates with the
    largest |w_i|, each up to its room in the box (the exact optimum of a linear objective)."""
    room = np.where(w > 0, x, 1 - x)  # how far each coordinate may move against w
    drop, budget = 0.0, eps
    for i in np.argsort(-np.abs(w)):
        take = min(room[i], budget)
        drop, budget = drop + abs(w[i]) * take, budget - take
    return drop


def _linear_case(seed: int, features: int = 30, examples: int = 40):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(features, generator=g, dtype=torch.float64)
    x = torch.rand(examples, 1, 5, features // 5, generator=g, dtype=torch.float64) * 0.6 + 0.2
    return w, x


@pytest.mark.parametrize("large_eps", [False, True])
def test_apgd_l1_reaches_the_exact_l1_optimum_of_a_linear_model(large_eps) -> None:
    """Class-1 points whose best L1 perturbation crosses the boundary by a clear margin are fooled, the others
    are not: APGD-L1 finds the greedy optimum (no heuristic can do better, and it must not do worse)."""
    w, x = _linear_case(0)
    eps = 1.0
    drops = np.array([l1_largest_drop(w.numpy(), row, eps) for row in x.flatten(1).numpy()])
    scores = ((x.flatten(1) - 0.5) @ w).numpy()
    b = torch.tensor(float(-np.median(scores - drops)))  # half the points can be pushed across
    model = TwoClassLinear(w, float(b)).double()
    margin = scores + float(b)
    y = torch.ones(len(x), dtype=torch.int64)
    clear = (margin > 0) & (np.abs(margin - drops) > 0.05 * drops)
    torch.manual_seed(0)
    result = APGD(eps=eps, norm="L1", large_eps=large_eps, protocol=replace(APGD_PROTOCOL, steps=50)).run(model, x, y)
    fooled = result.success[0].numpy()
    assert 5 <= int((margin < drops)[clear].sum()) <= int(clear.sum()) - 5  # both outcomes are tested
    np.testing.assert_array_equal(fooled[clear], (margin < drops)[clear])
    assert bool((checked_distance(result.x_adv, x, "l1") <= eps).all())
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1


@pytest.mark.parametrize("attack", [
    APGD(eps=0.3, norm="l2", protocol=replace(APGD_PROTOCOL, steps=20)),
    PGD(eps=0.3, norm="l2", protocol=AttackProtocol(steps=20)),
])
def test_l2_attacks_reach_the_closed_form_l2_optimum(attack) -> None:
    """With x in [0.2, 0.8] and eps 0.3 the box never binds: the best L2 perturbation lowers the score by
    exactly eps·‖w‖₂."""
    w, x = _linear_case(1)
    scores = ((x.flatten(1) - 0.5) @ w).numpy()
    drop = 0.3 * float(w.norm())
    b = float(-np.median(scores - drop))
    model = TwoClassLinear(w, b).double()
    margin = scores + b
    y = torch.ones(len(x), dtype=torch.int64)
    clear = (margin > 0) & (np.abs(margin - drop) > 0.05 * drop)
    torch.manual_seed(0)
    result = attack.run(model, x, y)
    fooled = result.success.any(dim=0).numpy()
    assert 5 <= int((margin < drop)[clear].sum()) <= int(clear.sum()) - 5  # both outcomes are tested
    np.testing.assert_array_equal(fooled[clear], (margin < drop)[clear])
    assert bool((checked_distance(result.x_adv, x, "l2") <= 0.3).all())


def test_pgd_l1_stays_in_the_ball_and_lowers_accuracy() -> None:
    w, x = _linear_case(2)
    model = TwoClassLinear(w, 0.0).double()
    y = model(x).argmax(1)
    torch.manual_seed(0)
    result = PGD(eps=2.0, norm="l1", protocol=AttackProtocol(steps=30)).run(model, x, y)
    assert bool((checked_distance(result.x_adv_restarts[0], x, "l1") <= 2.0).all())
    assert result.robust_accuracy() < 0.5


def test_sparse_direction_moves_the_top_fraction_with_unit_l1_norm() -> None:
    g = torch.Generator().manual_seed(3)
    grad = torch.randn(5, 3, 4, 4, generator=g)
    grad[0] = 0.0
    direction = sparse_direction(grad, torch.tensor([0.2, 0.2, 0.5, 1.0, 0.01]))
    flat = direction.flatten(1)
    assert bool((flat[0] == 0).all())  # no gradient, no move
    np.testing.assert_allclose(flat[1:].abs().sum(1).numpy(), 1.0, rtol=1e-6)
    for row, fraction in zip(range(1, 5), (0.2, 0.5, 1.0, 0.01)):
        chosen = flat[row] != 0
        expected = max(math.ceil(fraction * 48 - 1e-9), 1)  # the coordinates at or above the (1 − q)-quantile
        assert int(chosen.sum()) == expected
        magnitudes = grad[row].flatten().abs()
        if bool((~chosen).any()):
            assert float(magnitudes[chosen].min()) >= float(magnitudes[~chosen].max())
        assert bool((flat[row][chosen].sign() == grad[row].flatten()[chosen].sign()).all())


@pytest.mark.parametrize("kind", ["uniform", "radial", "normal"])
def test_l1_random_starts_lie_in_the_ball_and_uniform_fills_it(kind) -> None:
    torch.manual_seed(4)
    x0 = torch.full((2000, 10), 0.5, dtype=torch.float64)
    start = L1Ball(0.4).random_init(x0, 1, kind=kind)[0]
    norms = (start - x0).abs().sum(1)
    assert bool((norms <= 0.4 + 1e-12).all()) and start.min() >= 0 and start.max() <= 1
    if kind == "uniform":  # uniform in a d-dimensional L1 ball: E‖δ‖₁ = eps·d/(d + 1)
        assert abs(float(norms.mean()) - 0.4 * 10 / 11) < 0.005


def test_l2_surface_start_is_on_the_sphere() -> None:
    torch.manual_seed(5)
    x0 = torch.full((50, 3, 8, 8), 0.5)
    start = L2Ball(0.5).random_init(x0, 2, kind="surface")
    norms = (start - x0).flatten(2).norm(dim=2)
    assert float(norms.max()) <= 0.5 and float(norms.min()) > 0.5 - 1e-5


@pytest.mark.parametrize(("norm", "eps"), [("l2", 1.0), ("l1", 6.0)])
def test_square_lp_patterns_and_images_in_the_ball(norm, eps) -> None:
    pattern = square_pattern(5, norm, torch.device("cpu"))
    size = pattern.norm() if norm == "l2" else pattern.abs().sum()
    assert abs(float(size) - 1.0) < 1e-6
    assert bool((pattern[:2] > 0).all() and (pattern[2:] < 0).all())
    assert float(pattern[1, 2]) == float(pattern[:2].max())  # the upper half peaks at its centre
    # the rings weigh 1/k² (L2) or 1/k⁴ (L1): centre / corner of the upper half = (1 + 1/4 + 1/9) / (1/9) for L2
    ratio = float(pattern[1, 2] / pattern[0, 0])
    assert abs(ratio - ((1 + 1 / 4 + 1 / 9) / (1 / 9) if norm == "l2" else (1 + 1 / 16 + 1 / 81) / (1 / 81))) < 1e-3
    torch.manual_seed(6)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 10 * 10, 4)).eval()
    x = torch.rand(24, 3, 10, 10)
    y = model(x).argmax(1)
    result = Square(eps=eps, norm=norm, queries=60).run(model, x, y)
    assert bool((checked_distance(result.x_adv, x, norm) <= eps).all())
    assert result.robust_accuracy() < 1.0


def test_autoattack_l2_runs_every_attack_in_the_l2_ball() -> None:
    torch.manual_seed(7)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 10)).eval()
    x = torch.rand(30, 3, 6, 6)
    y = model(x).argmax(1)
    attack = AutoAttack(eps=0.5, norm="L2")
    assert attack.norm == "l2" and all(getattr(a, "norm") == "l2" for _, a in attack.components(10))
    result = attack.run(model, x, y)
    assert list(result.robust_accuracy_after()) == ["APGD-CE", "APGD-T", "FAB-T", "Square"]
    assert bool((checked_distance(result.x_adv, x, "l2") <= 0.5).all())
    assert result.robust_accuracy() < 1.0


def test_minimum_l1_step_onto_a_hyperplane_equals_a_linear_program() -> None:
    """FAB-L1's step (the minimum-L1 δ with w·(p + δ) = b inside the box) against scipy's LP solver."""
    from scipy.optimize import linprog

    from pyadvman.attacks.boundary_projection import project_onto_hyperplane

    g = torch.Generator().manual_seed(8)
    points = torch.rand(30, 6, generator=g, dtype=torch.float64)
    w = torch.randn(30, 6, generator=g, dtype=torch.float64)
    w[0, :3] = 0.0  # some coordinates cannot help
    b = (w * points).sum(1) + torch.randn(30, generator=g, dtype=torch.float64) * 0.7
    delta = project_onto_hyperplane(points, w, b, "l1")
    solved = 0
    for p, wi, bi, d in zip(points.numpy(), w.numpy(), b.numpy(), delta.numpy()):
        # δ = u − v with u, v >= 0: minimise Σ(u + v) s.t. w·(u − v) = b − w·p and 0 <= p + u − v <= 1
        n = len(p)
        lp = linprog(np.ones(2 * n), A_eq=np.concatenate([wi, -wi])[None], b_eq=[bi - wi @ p],
                     A_ub=np.block([[np.eye(n), -np.eye(n)], [-np.eye(n), np.eye(n)]]),
                     b_ub=np.concatenate([1 - p, p]), bounds=(0, None))
        if lp.status == 0:  # reachable: the same minimum, on the hyperplane
            solved += 1
            assert abs(np.abs(d).sum() - lp.fun) < 1e-9
            assert abs(wi @ (p + d) - bi) < 1e-9
        else:  # unreachable: every helpful coordinate pushed to the box's face
            assert np.all((p + d >= -1e-12) & (p + d <= 1 + 1e-12))
    assert solved >= 20


def test_fab_l1_finds_the_minimum_l1_distance_of_a_linear_model() -> None:
    """On a linear model the linearised boundary is the boundary: FAB-L1 succeeds where the exact minimum L1
    distance (the greedy fill) is clearly below eps and fails where it is clearly above."""
    from pyadvman.attacks import FABTargeted

    w, x = _linear_case(9)
    eps = 1.0
    scores = ((x.flatten(1) - 0.5) @ w).numpy()
    b = float(-np.median(scores - np.array([l1_largest_drop(w.numpy(), r, eps) for r in x.flatten(1).numpy()])))
    model = TwoClassLinear(w, b).double()
    margin = scores + b
    # the L1 distance to the boundary: the smallest budget whose greedy drop reaches the margin (bisection)
    minimum = []
    for row, m in zip(x.flatten(1).numpy(), margin):
        low, high = 0.0, 30.0
        for _ in range(60):
            mid = (low + high) / 2
            low, high = (mid, high) if l1_largest_drop(w.numpy(), row, mid) < m else (low, mid)
        minimum.append(high)
    minimum = np.array(minimum)
    y = torch.ones(len(x), dtype=torch.int64)
    keep = margin > 0
    clear = keep & (np.abs(minimum - eps) > 0.1 * eps)
    torch.manual_seed(0)
    result = FABTargeted(eps=eps, norm="L1", targets=1, steps=20).run(model, x[keep], y[keep])
    fooled = result.success.any(dim=0).numpy()
    assert 3 <= int((minimum < eps)[clear].sum()) <= int(clear.sum()) - 3
    np.testing.assert_array_equal(fooled[clear[keep]], (minimum < eps)[clear])
    assert bool((checked_distance(result.x_adv, x[keep], "l1") <= eps).all())


def test_autoattack_l1_runs_its_l1_version_in_the_l1_ball() -> None:
    torch.manual_seed(10)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 10)).eval()
    x = torch.rand(20, 3, 6, 6)
    y = model(x).argmax(1)
    attack = AutoAttack(eps=3.0, norm="L1")
    components = dict(attack.components(10))
    assert components["APGD-CE"].large_eps and components["APGD-CE"].restarts == 5
    assert components["APGD-T"].large_eps and components["APGD-T"].targets == 5
    assert all(a.norm == "l1" for a in components.values())
    result = attack.run(model, x, y)
    assert list(result.robust_accuracy_after()) == ["APGD-CE", "APGD-T", "FAB-T", "Square"]
    assert bool((checked_distance(result.x_adv, x, "l1") <= 3.0).all())
    assert result.robust_accuracy() < 1.0


def test_l1_spellings_and_refusals() -> None:
    assert canonical_norm("L1") == "l1" and canonical_norm("1") == "l1"
    assert APGDTargeted(eps=1.0, norm="L1", large_eps=True, targets=5).norm == "l1"
    with pytest.raises(ValueError, match="large_eps is AutoAttack's schedule for L1 only, got norm 'l2'"):
        APGD(norm="l2", large_eps=True)
    with pytest.raises(ValueError, match=r"norm must be one of \('linf', 'l2', 'l1'\), got 'L0'"):
        Square(norm="L0")
    with pytest.raises(ValueError, match="sparsity must be in"):
        L1Ball(1.0, sparsity=0.0)
