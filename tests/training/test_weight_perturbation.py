"""AWP (Wu et al., NeurIPS 2020) against a hand computation: per-layer relative radius γ‖wₗ‖, the gradient taken
at the perturbed weights and applied to restored ones, biases and BatchNorm untouched, and the warm-up."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyadvman.training import train
from pyadvman.training.objectives import AdversarialWeightPerturbation, Batch, Mixed, Objective
from pyadvman.training.weight_perturbation import perturbed_weights, weight_perturbation
from tests.training.conftest import tiny_config


def _linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).double()


def _data():
    torch.manual_seed(1)
    return torch.rand(5, 1, 2, 2, dtype=torch.float64), torch.tensor([0, 1, 2, 1, 0])


def test_the_offset_of_a_linear_layer_is_gamma_times_its_norm_along_the_analytic_gradient() -> None:
    model, (x, y) = _linear_model(), _data()
    gamma = 0.005
    offsets = weight_perturbation(model, lambda m: F.cross_entropy(m(x), y), gamma)
    # d CE / d W = (softmax(Wx + b) − onehot(y))ᵀ x / B, written out by hand
    weight, bias = model[1].weight.detach(), model[1].bias.detach()
    flat = x.flatten(1)
    residual = torch.softmax(flat @ weight.T + bias, dim=1) - F.one_hot(y, 3).double()
    gradient = residual.T @ flat / len(y)
    expected = gamma * weight.norm() * gradient / gradient.norm()
    assert set(offsets) == {"1.weight"}  # the bias is not perturbed
    torch.testing.assert_close(offsets["1.weight"], expected)
    torch.testing.assert_close(offsets["1.weight"].norm(), gamma * weight.norm())


class _ConvBatchNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.conv = nn.Conv2d(1, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)
        self.head = nn.Linear(3 * 4 * 4, 4)

    def forward(self, x):
        return self.head(torch.relu(self.norm(self.conv(x))).flatten(1))


def _conv_batch():
    torch.manual_seed(3)
    return Batch(torch.rand(8, 1, 4, 4), torch.arange(8) % 4)


def test_batchnorm_parameters_and_running_statistics_are_untouched() -> None:
    model, batch = _ConvBatchNorm().eval(), _conv_batch()
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    weights = {k: v.detach().clone() for k, v in model.named_parameters()}
    offsets = weight_perturbation(model, lambda m: F.cross_entropy(m(batch.images), batch.labels), 0.01)
    assert set(offsets) == {"conv.weight", "head.weight"}
    assert [name for name, _ in perturbed_weights(model)] == ["conv.weight", "head.weight"]
    assert not model.training  # the mode it was in
    assert all(torch.equal(v, buffers[k]) for k, v in model.named_buffers())  # running stats, batch counter
    assert all(torch.equal(v, weights[k]) for k, v in model.named_parameters())  # only offsets returned
    for name, offset in offsets.items():
        torch.testing.assert_close(offset.norm(), 0.01 * weights[name].norm())


def _shift(model, batch):
    return (batch.images + 0.1).clamp(0, 1)


class _Spy(Objective):
    """Mixed 50/50 training on fixed perturbed inputs, recording how often perturb runs."""

    def __init__(self) -> None:
        self.mixed, self.perturb_calls = Mixed(_shift, 0.5), 0

    def perturb(self, model, batch):
        self.perturb_calls += 1
        return self.mixed.perturb(model, batch)

    def loss(self, net, batch, perturbed):
        return self.mixed.loss(net, batch, perturbed)


def test_a_step_takes_the_gradient_at_the_perturbed_weights_and_restores_them_exactly() -> None:
    model, batch = _ConvBatchNorm().train(), _conv_batch()
    reference = copy.deepcopy(model)
    inner = _Spy()
    awp = AdversarialWeightPerturbation(inner, gamma=0.01, warmup_epochs=0)
    awp.begin_epoch(0)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    loss, _ = awp(model, model, batch)
    assert inner.perturb_calls == 1  # the adversarial inputs are computed once for both passes
    # during the step the weights are w + v, v from the loss on the same perturbed inputs (train mode, BN reset)
    perturbed_inputs = _shift(None, batch.rows(slice(4, None)))
    offsets = weight_perturbation(reference, lambda m: inner.loss(m, batch, perturbed_inputs)[0], 0.01)
    for name, p in model.named_parameters():
        expected = before[name] + offsets[name] if name in offsets else before[name]
        torch.testing.assert_close(p.detach(), expected)
    loss.backward()
    awp.before_step()
    assert all(torch.equal(p.detach(), before[k]) for k, p in model.named_parameters())  # bitwise restored
    # the gradient left for the optimiser is the loss's gradient at w + v
    with torch.no_grad():
        for name, p in reference.named_parameters():
            if name in offsets:
                p.add_(offsets[name])
    ref_loss = inner.loss(reference, batch, perturbed_inputs)[0]
    ref_grads = torch.autograd.grad(ref_loss, list(reference.parameters()))
    for (name, p), g in zip(model.named_parameters(), ref_grads):
        torch.testing.assert_close(p.grad, g, msg=name)


def test_no_perturbation_before_the_warm_up_ends() -> None:
    model, batch = _ConvBatchNorm().train(), _conv_batch()
    awp = AdversarialWeightPerturbation(_Spy(), gamma=0.01, warmup_epochs=2)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    awp.begin_epoch(1)
    awp(model, model, batch)
    assert all(torch.equal(p.detach(), before[k]) for k, p in model.named_parameters())
    awp.begin_epoch(2)
    awp(model, model, batch)
    assert not torch.equal(model.conv.weight.detach(), before["conv.weight"])
    awp.before_step()
    assert torch.equal(model.conv.weight.detach(), before["conv.weight"])


def test_negative_gamma_is_refused_with_its_name() -> None:
    model, (x, y) = _linear_model(), _data()
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        weight_perturbation(model, lambda m: F.cross_entropy(m(x), y), -0.1)
    with pytest.raises(ValueError, match="awp_gamma"):
        tiny_config("unused.npz", objective="awp", awp_gamma=-1.0)


@pytest.mark.parametrize("objective", ["awp", "trades_awp"])
def test_awp_training_runs_and_differs_from_its_inner_objective(blocks, tmp_path, objective) -> None:
    inner = {"awp": "adversarial", "trades_awp": "trades"}[objective]
    runs = {name: train(tiny_config(blocks, objective=name, epochs=1), tmp_path / name, progress=False)
            for name in (objective, inner)}
    a, b = (runs[name].model.state_dict() for name in (objective, inner))
    assert all(torch.isfinite(v).all() for v in a.values() if v.is_floating_point())
    # same seed, same batches and attacks: only the weight perturbation separates the two runs
    perturbed = [name for name, _ in perturbed_weights(runs[objective].model)]
    assert perturbed and all(not torch.equal(a[name], b[name]) for name in perturbed)
    assert runs[objective].final["robust_accuracy"] is not None


def test_gamma_zero_trains_exactly_like_the_inner_objective(blocks, tmp_path) -> None:
    runs = [train(tiny_config(blocks, **fields, epochs=1), tmp_path / str(i), progress=False)
            for i, fields in enumerate([{"objective": "awp", "awp_gamma": 0.0}, {"objective": "adversarial"}])]
    a, b = (run.model.state_dict() for run in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_submodule_modes_frozen_weights_and_non_finite_gradients() -> None:
    model, batch = _ConvBatchNorm().train(), _conv_batch()
    model.norm.eval()  # a submodule the caller keeps in eval mode
    model.conv.weight.requires_grad_(False)  # a frozen layer is not perturbed (and does not stop the others)
    offsets = weight_perturbation(model, lambda m: F.cross_entropy(m(batch.images), batch.labels), 0.01)
    assert set(offsets) == {"head.weight"}
    assert model.training and not model.norm.training
    # a non-finite gradient (an fp16 overflow, say) perturbs nothing rather than poisoning the weights
    offsets = weight_perturbation(model, lambda m: m(batch.images).sum() * float("inf"), 0.01)
    assert offsets == {}


def test_the_default_gamma_is_the_authors_for_each_objective() -> None:
    from pyadvman.training.objective_registry import awp_gamma

    # Wu et al.'s released code: AT-AWP runs γ = 0.01, TRADES-AWP 0.005; an explicit γ wins
    assert (awp_gamma("awp", None), awp_gamma("trades_awp", None)) == (0.01, 0.005)
    assert awp_gamma("awp", 0.002) == 0.002
    assert tiny_config("unused.npz", objective="awp").awp_gamma is None
