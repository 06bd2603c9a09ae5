"""Layer spectra and confidence (Wen, Li, Jia, ICML 2020; docs/papers.md §2): singular values of each layer's weight
operator and of the input-to-layer Jacobian on data, and softmax confidence and logit margins. Adversarial
training is reported to shrink and even out these spectra and to lower confidence."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyadvman.attacks import eval_mode
from pyadvman.attacks.model_checks import predicted_classes

LINEAR_LAYERS = (nn.Conv2d, nn.Linear)


def linear_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's convolutions and fully connected layers, in definition order, with their qualified names."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, LINEAR_LAYERS)]


@contextmanager
def _recording(layers: list[tuple[str, nn.Module]], record: Callable[[str, Tensor, Tensor], None]) -> Iterator[None]:
    """Calls ``record(name, layer input, layer output)`` on every forward pass of the layers inside the block."""
    hooks = [m.register_forward_hook(lambda m, args, out, n=name: record(n, args[0], out)) for name, m in layers]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def layer_input_shapes(model: nn.Module, image_shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Per linear layer, the shape of one input example (without batch), found by one forward pass of zeros."""
    shapes: dict[str, tuple[int, ...]] = {}
    device = next(model.parameters()).device
    with _recording(linear_layers(model), lambda name, x, out: shapes.__setitem__(name, tuple(x.shape[1:]))), \
            eval_mode(model), torch.no_grad():
        model(torch.zeros(1, *image_shape, device=device))
    return shapes


def weight_operator_singular_values(layer: nn.Module, input_shape: tuple[int, ...]) -> Tensor:
    """All singular values (descending, float64 Tensor[min(m, n)]) of the layer's linear map without bias: the
    weight matrix of a Linear layer, or the [out_numel × in_numel] matrix of a Conv2d on inputs of
    ``input_shape`` (C, H, W), with its stride and zero padding (built by convolving the identity basis).

    Raises:
        TypeError: a layer that is neither nn.Linear nor nn.Conv2d.
    """
    if not isinstance(layer, LINEAR_LAYERS):
        raise TypeError(f"layer must be nn.Linear or nn.Conv2d, got {type(layer).__name__}")
    weight = layer.weight.detach().double()
    if isinstance(layer, nn.Linear):
        return torch.linalg.svdvals(weight)
    size = math.prod(input_shape)
    basis = torch.eye(size, dtype=torch.float64, device=weight.device).view(size, *input_shape)
    columns = F.conv2d(basis, weight, None, layer.stride, layer.padding, layer.dilation, layer.groups)
    return torch.linalg.svdvals(columns.flatten(1))


def jacobian_singular_values(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """Per linear layer, the singular values of the Jacobian of the layer's output with respect to the input image
    at each example (model in eval mode), by forward-mode differentiation.

    Args:
        model: the classifier. x (Tensor[B, C, H, W]) in [0, 1]: the examples (a few dozen suffice).

    Returns:
        {layer name: Tensor[B, min(out_numel, in_numel)] float64, descending per row}.
    """
    layers = linear_layers(model)
    device = next(model.parameters()).device
    spectra: dict[str, list[Tensor]] = {name: [] for name, _ in layers}
    outputs: dict[str, Tensor] = {}

    def layer_outputs(image: Tensor) -> tuple[Tensor, ...]:
        outputs.clear()
        model(image.unsqueeze(0))
        return tuple(outputs[name].flatten() for name, _ in layers)

    with _recording(layers, lambda name, x, out: outputs.__setitem__(name, out)), eval_mode(model):
        for example in x.to(device, torch.float32):
            # a copy: forward-mode duals are sized by the input's storage, which for a view of a dataset is the
            # whole dataset
            jacobians = torch.autograd.functional.jacobian(layer_outputs, example.clone(), vectorize=True,
                                                           strategy="forward-mode")
            for (name, _), jacobian in zip(layers, jacobians):
                spectra[name].append(torch.linalg.svdvals(jacobian.detach().flatten(1).double()).cpu())
    return {name: torch.stack(values) for name, values in spectra.items()}


@dataclass(frozen=True)
class SpectrumSummary:
    """Largest singular value, standard deviation of all values, and condition number σ_max / σ_min (inf when
    σ_min = 0) of a spectrum (docs/papers.md §2)."""

    largest: float
    std: float
    condition: float

    @staticmethod
    def of(values: Tensor) -> SpectrumSummary:
        values = values.double().flatten()
        smallest = float(values.min())
        largest = float(values.max())
        return SpectrumSummary(largest=largest, std=float(values.std()) if values.numel() > 1 else 0.0,
                               condition=largest / smallest if smallest > 0 else math.inf)


@torch.no_grad()
def confidence(model: nn.Module, images: Tensor, labels: Tensor, *, batch_size: int = 1000) -> dict[str, Tensor]:
    """Softmax confidence and logit margins of each example (docs/papers.md §2), model in eval mode.

    Args:
        images (Tensor[N, C, H, W]) in [0, 1]; labels (Tensor[N]) int64.

    Returns:
        {"max_probability": Tensor[N] in [0, 1], "logit_margin": Tensor[N] (top-1 minus top-2 logit, >= 0),
        "true_class_margin": Tensor[N] (logit of the label minus the largest other logit; < 0 when wrong),
        "correct": Tensor[N] bool}.
    """
    device = next(model.parameters()).device
    pieces: dict[str, list[Tensor]] = {"max_probability": [], "logit_margin": [], "true_class_margin": [],
                                       "correct": []}
    with eval_mode(model):
        for start in range(0, images.shape[0], batch_size):
            logits = model(images[start:start + batch_size].to(device, torch.float32)).double().cpu()
            y = labels[start:start + batch_size]
            top2 = logits.topk(2, dim=1).values
            true_logit = logits.gather(1, y[:, None]).squeeze(1)
            other = logits.scatter(1, y[:, None], -math.inf).amax(dim=1)
            pieces["max_probability"].append(logits.softmax(dim=1).amax(dim=1))
            pieces["logit_margin"].append(top2[:, 0] - top2[:, 1])
            pieces["true_class_margin"].append(true_logit - other)
            pieces["correct"].append(predicted_classes(logits) == y)
    return {key: torch.cat(value) for key, value in pieces.items()}
