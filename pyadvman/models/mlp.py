"""Multi-layer perceptron classifier (docs/papers.md §1 "Models": 4 × 128 units, ReLU + BatchNorm)."""

from __future__ import annotations

import math

from torch import Tensor, nn

from pyadvman.models._image_shape import check_image_shape


class MLP(nn.Module):
    """Flatten → [Linear → ReLU → BatchNorm1d] per hidden layer → Linear(K).

    Args:
        image_shape: (C, H, W) of the inputs (values in [0, 1]).
        num_classes: K >= 2.
        units: hidden layer widths (default four layers of 128).
        batch_norm: BatchNorm1d after each hidden layer (default True).

    Input Tensor[B, C, H, W] float; output logits Tensor[B, K].

    Raises:
        ValueError: a bad image shape, num_classes < 2, or an empty / non-positive ``units``.
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int,
                 units: tuple[int, ...] = (128, 128, 128, 128), batch_norm: bool = True) -> None:
        super().__init__()
        shape = check_image_shape(image_shape, num_classes)
        if not units or min(units) < 1:
            raise ValueError(f"units must be a non-empty sequence of positive widths, got {tuple(units)}")
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(shape)
        for hidden in units:
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
