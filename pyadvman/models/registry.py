"""Classifier registry: build any of the papers' classifiers by name for any input size."""

from __future__ import annotations

import inspect
import typing

from torch import nn

from pyadvman._config_options import check_option_types
from pyadvman.models.mlp import MLP
from pyadvman.models.resnet import ResNet
from pyadvman.models.standard import StandardClassifier
from pyadvman.models.vgg import VGG

MODELS: dict[str, type[nn.Module]] = {"standard": StandardClassifier, "resnet": ResNet, "mlp": MLP, "vgg": VGG}


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
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    cls = MODELS[name]
    valid = list(inspect.signature(cls).parameters)[2:]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for model {name!r}; valid: {valid}")
    check_option_types(f"model {name!r}", options, typing.get_type_hints(cls.__init__))
    return cls(tuple(image_shape), num_classes, **options)
