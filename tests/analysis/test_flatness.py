"""Flatness: which tensors move, the robust loss against cross-entropy, and the flatness measures' limits."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyadvman.analysis import RobustLoss, average_flatness, perturbed_parameters, worst_case_flatness
from pyadvman.analysis.flatness import FLATNESS_PAPER_ROBUST_LOSS


def _trained_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.rand(64, 1, 6, 6)
    y = (x[:, 0, :3].mean(dim=(1, 2)) > x[:, 0, 3:].mean(dim=(1, 2))).long()
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), x, y


def test_normalisation_layers_are_never_perturbed() -> None:
    model, _, _ = _trained_model()
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in perturbed_parameters(model)) == ["0.bias", "0.weight", "4.bias", "4.weight"]


def test_robust_loss_at_zero_radius_is_the_clean_cross_entropy() -> None:
    model, x, y = _trained_model()
    loss, accuracy = RobustLoss(eps=0.0, protocol=replace(FLATNESS_PAPER_ROBUST_LOSS, steps=3, step_size=None, restarts=2))(model, x, y)
    with torch.no_grad():
        logits = model(x)
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert accuracy == pytest.approx((logits.argmax(1) == y).float().mean().item())
    seeded = RobustLoss(eps=0.1, protocol=replace(FLATNESS_PAPER_ROBUST_LOSS, steps=5, step_size=None, restarts=1))
    robust, _ = seeded(model, x, y)
    assert robust > loss
    state = torch.get_rng_state()
    assert seeded(model, x, y)[0] == robust  # the same random starts on every call ...
    assert torch.equal(torch.get_rng_state(), state)  # ... without touching the global generator
    unseeded = RobustLoss(eps=0.1, seed=None, protocol=replace(FLATNESS_PAPER_ROBUST_LOSS, steps=1, step_size=None, restarts=1))
    assert unseeded(model, x, y)[0] != unseeded(model, x, y)[0]


def test_flatness_vanishes_for_tiny_radii_and_grows_with_them() -> None:
    model, x, y = _trained_model()
    before = [p.detach().clone() for p in model.parameters()]
    robust = RobustLoss(eps=0.0, protocol=replace(FLATNESS_PAPER_ROBUST_LOSS, steps=0, step_size=None, restarts=1))
    tiny = average_flatness(model, x, y, xi=1e-7, samples=2, robust_loss=robust)
    large = average_flatness(model, x, y, xi=0.5, samples=2, robust_loss=robust)
    assert abs(tiny["flatness"]) < 1e-4 and large["flatness"] > 10 * abs(tiny["flatness"])
    worst = worst_case_flatness(model, x, y, xi=0.05, passes=3, restarts=1, batch_size=32, robust_loss=robust)
    assert worst["flatness"] > 0 and worst["max_relative_weight_change"] <= 0.05 * (1 + 1e-5)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the model itself is untouched


def test_flatness_rejects_bad_settings() -> None:
    model, x, y = _trained_model()
    with pytest.raises(ValueError, match="xi must be > 0 and samples >= 1"):
        average_flatness(model, x, y, xi=0.0)
    with pytest.raises(ValueError, match="need xi > 0, passes >= 1"):
        worst_case_flatness(model, x, y, passes=0)


def test_per_example_losses_average_to_the_reported_losses() -> None:
    model, x, y = _trained_model()
    robust = RobustLoss(eps=0.05, protocol=replace(FLATNESS_PAPER_ROBUST_LOSS, steps=3, step_size=None, restarts=2))
    losses, never_fooled = robust.per_example(model, x, y)
    assert losses.shape == (64,) and never_fooled.dtype == torch.bool
    assert float(losses.mean()) == pytest.approx(robust(model, x, y)[0])
    assert bool((losses >= F.cross_entropy(model(x), y, reduction="none").detach() - 1e-6).all())
    base = robust.per_example(model, x, y)
    for measure in (average_flatness(model, x, y, xi=0.1, samples=2, robust_loss=robust, base=base),
                    worst_case_flatness(model, x, y, xi=0.01, passes=2, restarts=2, batch_size=32,
                                        robust_loss=robust, base=base)):
        assert torch.equal(measure["base_losses"], base[0])
        assert measure["flatness"] == pytest.approx(float(measure["perturbed_losses"].mean() - base[0].mean()),
                                                    abs=1e-6)
    worst = worst_case_flatness(model, x, y, xi=0.01, passes=2, restarts=2, batch_size=32, robust_loss=robust)
    assert float(worst["perturbed_losses"].mean()) == pytest.approx(max(worst["perturbed_robust_losses"]))
