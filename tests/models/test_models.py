"""Classifiers: the paper's standard architecture, any input size and channel count, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pyadvman.models import MODELS, build_model


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 56, 48), (1, 16, 16)])
def test_every_model_takes_any_input_size(name, shape) -> None:
    model = build_model(name, shape, 7)
    out = model(torch.rand(3, *shape))
    assert out.shape == (3, 7) and out.dtype == torch.float32
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_standard_classifier_matches_the_paper_for_28x28() -> None:
    model = build_model("standard", (1, 28, 28), 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 16, (4, 4), (2, 2), (1, 1)), (16, 32, (4, 4), (2, 2), (1, 1)), (32, 64, (4, 4), (2, 2), (1, 1))]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 3
    assert (model.representation.in_features, model.representation.out_features) == (64 * 3 * 3, 100)
    assert (model.logits.in_features, model.logits.out_features) == (100, 10)
    features = model.features(torch.rand(2, 1, 28, 28))
    assert features.shape == (2, 64, 3, 3)


def test_options_and_errors() -> None:
    assert build_model("standard", (3, 32, 32), 2, channels=8).features[0].out_channels == 8
    assert len([m for m in build_model("mlp", (1, 8, 8), 3, units=(5, 6)).modules() if isinstance(m, nn.Linear)]) == 3
    with pytest.raises(ValueError, match="model must be one of"):
        build_model("lenet", (1, 28, 28), 10)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['width'\] for model 'standard'"):
        build_model("standard", (1, 28, 28), 10, width=3)
    with pytest.raises(ValueError, match=r"image_shape must be \(C, H, W\)"):
        build_model("standard", (28, 28), 10)
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        build_model("mlp", (1, 28, 28), 1)
    with pytest.raises(ValueError, match="too small"):
        build_model("vgg", (1, 1, 1), 10)


def test_model_options_of_the_wrong_type_are_named() -> None:
    with pytest.raises(ValueError, match=r"model 'standard' option 'channels' must be a int, got str 'a'"):
        build_model("standard", (1, 28, 28), 10, channels="a")
    assert build_model("mlp", (1, 6, 6), 3, units=[8, 8]) is not None  # JSON lists stand for tuples


@pytest.mark.parametrize(("init", "gain_squared"), [("kaiming", 2.0), ("released", 2.0 / 3.0)])
def test_initialisation_standard_deviations(init, gain_squared) -> None:
    # the released code passes the ReLU gain √2 as kaiming_normal_'s leaky-ReLU slope: σ² = 2 / (3·fan_in)
    torch.manual_seed(0)
    model = build_model("standard", (1, 28, 28), 10, init=init)
    for layer in (model.features[0], model.features[3], model.representation, model.logits):
        fan_in = layer.weight[0].numel()
        expected = math.sqrt(gain_squared / fan_in)
        assert layer.weight.std().item() == pytest.approx(expected, rel=0.1 if layer.weight.numel() > 1000 else 0.25)
        assert torch.count_nonzero(layer.bias) == 0
    with pytest.raises(ValueError, match="init"):
        build_model("standard", (1, 28, 28), 10, init="xavier")


def test_the_claims_paper_preset_initialises_as_the_released_code() -> None:
    from pyadvman.experiments import claims_config

    assert claims_config("paper").model_train_config("normal", 500, 0).model_options == {"init": "released"}
    assert claims_config("quick").model_train_config("normal", 500, 0).model_options == {}
