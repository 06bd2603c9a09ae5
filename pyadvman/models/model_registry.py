"""The classifier architectures by name: build any of the papers' classifiers for any input size, a user's own
(``package.module:factory``), either one behind a normalisation (:class:`Normalized`)."""

from __future__ import annotations

import inspect
import typing

from torch import nn

from pyadvman.configs import check_option_types
from pyadvman.models.mlp import MLP
from pyadvman.models.normalized import Normalized, parse_normalization
from pyadvman.models.preact_resnet import PreActResNet
from pyadvman.models.resnet import ResNet
from pyadvman.models.standard import StandardClassifier
from pyadvman.models.user_models import build_user_model, is_factory_path
from pyadvman.models.vgg import VGG
from pyadvman.models.wide_resnet import WideResNet
from pyadvman.registry import Registry

# name -> class(image_shape, num_classes, **options); extras: defaults (options the name fixes unless given)
MODELS: Registry = Registry("model")
MODELS.register("standard", StandardClassifier, label="standard CNN",
                description="[Conv 4×4 stride 2 → BatchNorm → ReLU] × k, then two linear layers (Stutz et al.)")
MODELS.register("resnet", ResNet, label="ResNet", description="64 channels, [2, 2, 2] basic blocks")
MODELS.register("mlp", MLP, label="MLP", description="4 × 128 units, ReLU + BatchNorm")
MODELS.register("vgg", VGG, label="VGG", description="VGG-style convolution blocks")
MODELS.register("resnet18", ResNet, label="ResNet-18", defaults={"channels": 64, "blocks": (2, 2, 2, 2)},
                description="ResNet-18 with the CIFAR stem (conv 3×3 stride 1, no max-pooling; Robey et al.)")
MODELS.register("preact_resnet18", PreActResNet, label="PreAct-ResNet-18",
                description="pre-activation ResNet-18 (He et al. 2016; Rice et al., Wong et al.)")
MODELS.register("wrn-28-10", WideResNet, label="WRN-28-10", defaults={"depth": 28, "width": 10},
                description="wide ResNet, depth 28, width 10 (Zagoruyko & Komodakis)")
MODELS.register("wrn-34-10", WideResNet, label="WRN-34-10", defaults={"depth": 34, "width": 10},
                description="wide ResNet, depth 34, width 10 (TRADES, AWP)")


def build_model(name: str, image_shape: tuple[int, int, int], num_classes: int, *, normalize: str | None = None,
                **options: object) -> nn.Module:
    """A freshly initialised classifier.

    Args:
        name: a registered architecture (keys of ``MODELS``: "standard", "resnet", "mlp", "vgg", "resnet18",
            "preact_resnet18", "wrn-28-10", "wrn-34-10") or a user factory "package.module:factory"
            (:func:`pyadvman.models.user_models.build_user_model`).
        image_shape: (C, H, W) of the inputs.
        num_classes: number of classes K; the model returns logits Tensor[B, K].
        normalize: None, or a normalisation the model applies to its [0, 1] inputs first ("cifar10", "cifar100",
            "imagenet" or "MEAN,STD"; :func:`pyadvman.models.normalized.parse_normalization`): the result is then
            ``Normalized(model, mean, std)``.
        options: architecture options (e.g. ``channels=32`` for "standard"); see each class, or the factory's
            keyword arguments.

    Raises:
        ValueError / ConfigError: an unknown name or option (the message lists the valid ones), a normalisation
            with another number of channels than the images, a user factory that fails (see build_user_model).
    """
    if is_factory_path(name):
        model = build_user_model(name, tuple(image_shape), num_classes, **options)
    else:
        MODELS.check(name, "model")
        cls = MODELS[name]
        valid = list(inspect.signature(cls).parameters)[2:]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(f"unknown option(s) {unknown} for model {name!r}; valid: {valid}")
        check_option_types(f"model {name!r}", options, typing.get_type_hints(cls.__init__))
        options = {**MODELS.entry(name).extras.get("defaults", {}), **options}
        model = cls(tuple(image_shape), num_classes, **options)
    return with_normalization(model, normalize, image_shape[0])


def with_normalization(model: nn.Module, normalize: str | None, channels: int) -> nn.Module:
    """``Normalized(model, mean, std)`` of the normalisation ``normalize`` names (see :func:`build_model`), or
    ``model`` itself for None.

    Raises:
        ValueError: a malformed normalisation, or one with another number of channels than ``channels``.
    """
    if normalize is None:
        return model
    mean, std = parse_normalization(normalize)
    if max(len(mean), len(std)) not in (1, channels):
        raise ValueError(f"normalize {normalize!r} has {max(len(mean), len(std))} channels, the images {channels}")
    return Normalized(model, mean, std)
