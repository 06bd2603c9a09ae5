"""The classifier architectures by name: build any of the papers' classifiers for any input size."""

from __future__ import annotations

import inspect
import typing

from torch import nn

from pyadvman.configs import check_option_types
from pyadvman.models.mlp import MLP
from pyadvman.models.resnet import ResNet
from pyadvman.models.standard import StandardClassifier
from pyadvman.models.vgg import VGG
from pyadvman.registry import Registry

# name -> class(image_shape, num_classes, **options)
MODELS: Registry = Registry("model")
MODELS.register("standard", StandardClassifier, label="standard CNN",
                description="[Conv 4×4 stride 2 → BatchNorm → ReLU] × k, then two linear layers (Stutz et al.)")
MODELS.register("resnet", ResNet, label="ResNet", description="64 channels, [2, 2, 2] basic blocks")
MODELS.register("mlp", MLP, label="MLP", description="4 × 128 units, ReLU + BatchNorm")
MODELS.register("vgg", VGG, label="VGG", description="VGG-style convolution blocks")


def build_model(name: str, image_shape: tuple[int, int, int], num_classes: int, **options: object) -> nn.Module:
    """A freshly initialised classifier ``name`` ("standard", "resnet", "mlp" or "vgg").

    Args:
        name: architecture (keys of ``MODELS``).
        image_shape: (C, H, W) of the inputs.
        num_classes: number of classes K; the model returns logits Tensor[B, K].
        options: architecture options (e.g. ``channels=32`` for "standard"); see each class.

    Raises:
        ValueError: an unknown name or option (the message lists the valid ones).
    """
    MODELS.check(name, "model")
    cls = MODELS[name]
    valid = list(inspect.signature(cls).parameters)[2:]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for model {name!r}; valid: {valid}")
    check_option_types(f"model {name!r}", options, typing.get_type_hints(cls.__init__))
    return cls(tuple(image_shape), num_classes, **options)
