"""Small trained classifiers to attack: one on Fashion-MNIST (skipped if the data are not installed), one on a
tiny FONTS set rendered from matplotlib's fonts."""

from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyadvman.data import FontsConfig, load_fashion_mnist, load_fonts
from pyadvman.data.font_files import package_font_files
from pyadvman.models import build_model


def fit(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, epochs: int = 1,
        seed: int = 0) -> torch.nn.Module:
    """A few epochs of Adam (the paper's settings) on (images, labels); returns the model in eval mode."""
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.5, 0.9))
    model.train()
    for _ in range(epochs):
        order = torch.randperm(images.shape[0])
        for start in range(0, images.shape[0], 100):
            rows = order[start:start + 100]
            loss = F.cross_entropy(model(images[rows]), labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


class Wrapped(nn.Module):
    """A model that returns ``fn(logits of inner, x)``: softmax outputs, noise, NaN, rounding, ... around a plain
    classifier."""

    def __init__(self, inner: nn.Module, fn) -> None:
        super().__init__()
        self.inner, self.fn = inner, fn

    def forward(self, x):
        return self.fn(self.inner(x), x)


@pytest.fixture(scope="session")
def fashion():
    """(model trained on 5,000 Fashion-MNIST images for 2 epochs, first 200 test images, their labels)."""
    try:
        data = load_fashion_mnist()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    train = data.train.first(5000)
    torch.manual_seed(0)
    model = fit(build_model("standard", data.image_shape, 10), train.images, train.labels, epochs=2)
    test = data.test.first(200)
    return model, test.images.clone(), test.labels.clone()


@pytest.fixture(scope="session")
def fonts(tmp_path_factory):
    """(tiny FONTS dataset from matplotlib's DejaVu faces at 16×16, a standard classifier trained on it)."""
    folder = tmp_path_factory.mktemp("fonts")
    for path in package_font_files():
        if "matplotlib" in str(path) and path.name.startswith("DejaVu") and path.suffix == ".ttf":
            shutil.copy(path, folder / path.name)
    cfg = FontsConfig(font_dirs=(str(folder),), system_fonts=False, num_fonts=None, transforms=40,
                      test_transforms=4, validation_transforms=2, size=16, cache_dir=str(tmp_path_factory.mktemp("c")))
    data = load_fonts(cfg, progress=False)
    torch.manual_seed(0)
    model = fit(build_model("standard", data.image_shape, 10), data.train.images.clone(), data.train.labels,
                epochs=3)
    return data, model
