"""Spectra and confidence against dense matrices and hand-computed softmax."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyadvman.analysis import (
    SpectrumSummary,
    confidence,
    jacobian_singular_values,
    layer_input_shapes,
    linear_layers,
    weight_operator_singular_values,
)


def test_conv_operator_spectrum_matches_its_dense_jacobian() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 4, stride=2, padding=1).double()
    shape = (2, 6, 6)
    dense = torch.autograd.functional.jacobian(lambda v: F.conv2d(v, conv.weight, None, 2, 1).flatten(),
                                               torch.zeros(1, *shape, dtype=torch.float64)).reshape(-1, 72)
    torch.testing.assert_close(weight_operator_singular_values(conv, shape), torch.linalg.svdvals(dense))
    linear = nn.Linear(5, 3)
    torch.testing.assert_close(weight_operator_singular_values(linear, (5,)),
                               torch.linalg.svdvals(linear.weight.double()))
    scale = nn.Conv2d(1, 1, 1, bias=False)
    nn.init.constant_(scale.weight, -0.5)
    torch.testing.assert_close(weight_operator_singular_values(scale, (1, 3, 3)), torch.full((9,), 0.5,
                                                                                               dtype=torch.float64))
    with pytest.raises(TypeError, match="nn.Linear or nn.Conv2d"):
        weight_operator_singular_values(nn.ReLU(), (3,))


def test_jacobian_spectra_of_a_two_layer_network() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(9, 5), nn.ReLU(), nn.Linear(5, 3)).eval()
    dataset = torch.rand(100_000, 1, 3, 3)
    x = dataset[:3]  # a view of a large storage, as a dataset split's first images are
    spectra = jacobian_singular_values(model, x)
    assert list(spectra) == ["1", "3"]
    first, second = model[1].weight.double(), model[3].weight.double()
    for i, example in enumerate(x):
        torch.testing.assert_close(spectra["1"][i], torch.linalg.svdvals(first))
        active = (model[1](example.flatten()) > 0).double()
        torch.testing.assert_close(spectra["3"][i], torch.linalg.svdvals(second @ torch.diag(active) @ first))


def test_layer_shapes_and_names_of_the_standard_model() -> None:
    from pyadvman.models import build_model

    model = build_model("standard", (1, 28, 28), 10)
    shapes = layer_input_shapes(model, (1, 28, 28))
    assert [name for name, _ in linear_layers(model)] == list(shapes)
    assert shapes["features.0"] == (1, 28, 28) and shapes["logits"] == (100,)


def test_confidence_matches_softmax_and_margins() -> None:
    model = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]))
    x = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0])
    out = confidence(model, x, labels)
    logits = x @ model.weight.T
    torch.testing.assert_close(out["max_probability"], logits.softmax(1).amax(1).double())
    torch.testing.assert_close(out["logit_margin"], torch.tensor([1.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(out["true_class_margin"], torch.tensor([1.0, -1.0], dtype=torch.float64))
    assert out["correct"].tolist() == [True, False]


def test_spectrum_summary() -> None:
    summary = SpectrumSummary.of(torch.tensor([3.0, 2.0, 1.0]))
    assert (summary.largest, summary.condition) == (3.0, 3.0)
    assert summary.std == pytest.approx(1.0)
    assert math.isinf(SpectrumSummary.of(torch.tensor([1.0, 0.0])).condition)
