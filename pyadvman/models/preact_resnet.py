"""Pre-activation ResNet-18 (He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016), the CIFAR
architecture of the adversarial-training literature (Wong et al. 2020, Rice et al. 2020: 11.17 M parameters for
10 classes)."""

from __future__ import annotations

from torch import Tensor, nn

from pyadvman.models._image_shape import check_image_shape


def _conv3x3(in_channels: int, out_channels: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class PreActBlock(nn.Module):
    """BN → ReLU → conv3×3 → BN → ReLU → conv3×3, added to the input (or to a 1×1 convolution of the first
    activation where the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(in_channels), _conv3x3(in_channels, out_channels, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(out_channels), _conv3x3(out_channels, out_channels, 1)
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
                         if stride != 1 or in_channels != out_channels else None)

    def forward(self, x: Tensor) -> Tensor:
        activated = self.bn1(x).relu()
        skip = x if self.shortcut is None else self.shortcut(activated)
        return self.conv2(self.bn2(self.conv1(activated)).relu()) + skip


class PreActResNet(nn.Module):
    """conv3×3(64), four groups of pre-activation blocks (64, 128, 256, 512 channels; stride 2 from the second),
    BN → ReLU, global average pooling, a linear layer. ``blocks=(2, 2, 2, 2)`` is PreAct-ResNet-18.

    Args:
        image_shape: (C, H, W) of the inputs (values in [0, 1]); any size (32 × 32: CIFAR).
        num_classes: K >= 2.
        blocks: pre-activation blocks per group (default (2, 2, 2, 2)).

    Input Tensor[B, C, H, W] float; output logits Tensor[B, K].

    Raises:
        ValueError: a bad image shape, num_classes < 2, or an empty / non-positive ``blocks``.
    """

    channels_last_ready = True  # runs on channels-last activations (pyadvman.memory_format)

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int,
                 blocks: tuple[int, ...] = (2, 2, 2, 2)) -> None:
        super().__init__()
        in_channels, _, _ = check_image_shape(image_shape, num_classes)
        if not blocks or min(blocks) < 1:
            raise ValueError(f"blocks must be positive counts, got {tuple(blocks)}")
        layers: list[nn.Module] = [_conv3x3(in_channels, 64, 1)]
        width = 64
        for group, count in enumerate(blocks):
            out = 64 * 2 ** group
            for index in range(count):
                layers.append(PreActBlock(width, out, 2 if group > 0 and index == 0 else 1))
                width = out
        layers += [nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.logits = nn.Linear(width, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.logits(self.features(x))
