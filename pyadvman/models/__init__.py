"""Classifiers of the papers (docs/papers.md §1 "Models"): standard CNN, ResNet, MLP and VGG for any input size.

>>> from pyadvman.models import build_model
>>> model = build_model("standard", (1, 28, 28), 10)
>>> model(torch.rand(2, 1, 28, 28)).shape                # doctest: +SKIP
torch.Size([2, 10])
"""

from pyadvman.models.mlp import MLP
from pyadvman.models.model_registry import MODELS, build_model
from pyadvman.models.resnet import ResNet
from pyadvman.models.standard import StandardClassifier
from pyadvman.models.vgg import VGG

__all__ = ["MLP", "MODELS", "VGG", "ResNet", "StandardClassifier", "build_model"]
