"""ResNet classifier (docs/papers.md §1 "Models": 64 channels, [2, 2, 2] basic blocks; He et al., CVPR 2016)."""

from __future__ import annotations

from torch import Tensor, nn

from pyadvman.models._image_shape import check_image_shape
from pyadvman.models.initialisation import Init, initialise_weight


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int) -> list[nn.Module]:
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return [conv, nn.BatchNorm2d(out_channels)]


class BasicBlock(nn.Module):
    """conv3×3 → BN → ReLU → conv3×3 → BN, plus the (projected when the shape changes) input, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(in_channels, out_channels, 3, stride), nn.ReLU(inplace=True),
                                  *_conv_bn(out_channels, out_channels, 3, 1))
        self.shortcut = (nn.Sequential(*_conv_bn(in_channels, out_channels, 1, stride))
                         if stride != 1 or in_channels != out_channels else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        return (self.body(x) + self.shortcut(x)).relu()


class ResNet(nn.Module):
    """conv3×3(channels) → BN → ReLU, then one group of basic blocks per entry of ``blocks`` (channels doubling and
    stride 2 from the second group on), global average pooling and a linear layer.

    Args:
        image_shape: (C, H, W) of the inputs (values in [0, 1]); any size.
        num_classes: K >= 2.
        channels: width of the stem and first group (default 64).
        blocks: basic blocks per group (default (2, 2, 2)).
        init: the linear layer's weights: "kaiming" (default) or "released" (σ = √(2/(3·fan_in)), as the
            released code of Stutz et al. draws them, models/classifier.py lines 122-125 at 220ff8a); the
            convolutions are He-initialised for fan_out in both, as there.

    Input Tensor[B, C, H, W] float; output logits Tensor[B, K].

    Raises:
        ValueError: a bad image shape, num_classes < 2, channels < 1 or an empty / non-positive ``blocks``.
    """

    channels_last_ready = True  # runs on channels-last activations (pyadvman.memory_format)

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, channels: int = 64,
                 blocks: tuple[int, ...] = (2, 2, 2), init: Init = "kaiming") -> None:
        super().__init__()
        in_channels, _, _ = check_image_shape(image_shape, num_classes)
        if channels < 1 or not blocks or min(blocks) < 1:
            raise ValueError(f"channels must be >= 1 and blocks positive counts, got {channels}, {tuple(blocks)}")
        layers: list[nn.Module] = [*_conv_bn(in_channels, channels, 3, 1), nn.ReLU(inplace=True)]
        width = channels
        for group, count in enumerate(blocks):
            out = channels * 2 ** group
            for index in range(count):
                layers.append(BasicBlock(width, out, 2 if group > 0 and index == 0 else 1))
                width = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.logits = nn.Linear(width, num_classes)
        initialise_weight(self.logits.weight, init)
        nn.init.zeros_(self.logits.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.logits(self.features(x))
