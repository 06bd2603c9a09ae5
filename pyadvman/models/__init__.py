"""Classifiers of the papers (docs/papers.md §1 "Models"): standard CNN, ResNet, MLP and VGG for any input size;
the CIFAR models ResNet-18, PreAct-ResNet-18 and WRN-28-10 / WRN-34-10; ``Normalized`` for models trained on
normalised inputs; a user's own module by ``package.module:factory``.

>>> from pyadvman.models import build_model
>>> model = build_model("standard", (1, 28, 28), 10)
>>> model(torch.rand(2, 1, 28, 28)).shape                # doctest: +SKIP
torch.Size([2, 10])
"""

from pyadvman.models.mlp import MLP
from pyadvman.models.model_registry import MODELS, build_model
from pyadvman.models.normalized import NORMALIZATIONS, Normalized
from pyadvman.models.preact_resnet import PreActResNet
from pyadvman.models.resnet import ResNet
from pyadvman.models.standard import StandardClassifier
from pyadvman.models.vgg import VGG
from pyadvman.models.wide_resnet import WideResNet

__all__ = ["MLP", "MODELS", "NORMALIZATIONS", "VGG", "Normalized", "PreActResNet", "ResNet", "StandardClassifier",
           "WideResNet", "build_model"]
