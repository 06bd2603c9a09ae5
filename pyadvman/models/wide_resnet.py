"""Wide residual networks (Zagoruyko & Komodakis, BMVC 2016): WRN-28-10 and WRN-34-10, the CIFAR models of TRADES
(Zhang et al. 2019), AWP (Wu et al. 2020) and most of RobustBench (36.5 M and 46.2 M parameters for 10 classes)."""

from __future__ import annotations

from torch import Tensor, nn

from pyadvman.models._image_shape import check_image_shape


class WideBlock(nn.Module):
    """BN → ReLU → conv3×3 (stride) → BN → ReLU → dropout → conv3×3, added to the input, or to a 1×1 convolution
    of the first activation where the width or stride changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
                         if stride != 1 or in_channels != out_channels else None)

    def forward(self, x: Tensor) -> Tensor:
        activated = self.bn1(x).relu()
        skip = x if self.shortcut is None else self.shortcut(activated)
        return self.conv2(self.dropout(self.bn2(self.conv1(activated)).relu())) + skip


class WideResNet(nn.Module):
    """WRN-``depth``-``width``: conv3×3(16), three groups of (depth − 4) / 6 wide blocks with 16·width, 32·width
    and 64·width channels (stride 1, 2, 2), BN → ReLU, global average pooling, a linear layer.

    Args:
        image_shape: (C, H, W) of the inputs (values in [0, 1]); any size (32 × 32: CIFAR).
        num_classes: K >= 2.
        depth: 6n + 4 (28: WRN-28, 34: WRN-34). width: the widening factor k (10).
        dropout: dropout between a block's convolutions (default 0, as the robustness papers train).

    Input Tensor[B, C, H, W] float; output logits Tensor[B, K]. Convolutions He-initialised for fan_out,
    BatchNorm weights 1, biases 0 (the authors' initialisation).

    Raises:
        ValueError: a bad image shape, num_classes < 2, a depth not of the form 6n + 4 (n >= 1), width < 1 or
            dropout outside [0, 1).
    """

    channels_last_ready = True  # runs on channels-last activations (pyadvman.memory_format)

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, depth: int = 28, width: int = 10,
                 dropout: float = 0.0) -> None:
        super().__init__()
        in_channels, _, _ = check_image_shape(image_shape, num_classes)
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"depth must be 6n + 4 with n >= 1 (e.g. 28, 34), got {depth}")
        if width < 1 or not 0 <= dropout < 1:
            raise ValueError(f"width must be >= 1 and dropout in [0, 1), got {width}, {dropout}")
        per_group = (depth - 4) // 6
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)]
        channels = 16
        for group, stride in enumerate((1, 2, 2)):
            out = 16 * width * 2 ** group
            for index in range(per_group):
                layers.append(WideBlock(channels, out, stride if index == 0 else 1, dropout))
                channels = out
        layers += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.logits = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.zeros_(self.logits.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.logits(self.features(x))
