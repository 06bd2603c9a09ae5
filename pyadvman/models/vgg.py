"""VGG-style classifier (Simonyan & Zisserman, ICLR 2015), in the form of the paper's code (docs/papers.md §1)."""

from __future__ import annotations

from torch import Tensor, nn

from pyadvman.models._image_shape import check_image_shape


class VGG(nn.Module):
    """conv3×3 → BN → ReLU per entry of ``channels``, with 2×2 max pooling wherever the width changes, then
    Linear(4·last) → ReLU → Linear(4·last) → ReLU → Linear(K).

    Args:
        image_shape: (C, H, W) of the inputs (values in [0, 1]); H and W must survive the poolings (>= 1 pixel).
        num_classes: K >= 2.
        channels: widths of the conv layers (default (64, 128, 256, 256): two poolings).
        batch_norm: BatchNorm after each convolution (default True).

    Input Tensor[B, C, H, W] float; output logits Tensor[B, K].

    Raises:
        ValueError: a bad image shape, num_classes < 2, or too many poolings for the input size.
    """

    channels_last_ready = True  # runs on channels-last activations (pyadvman.memory_format)

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int,
                 channels: tuple[int, ...] = (64, 128, 256, 256), batch_norm: bool = True) -> None:
        super().__init__()
        in_channels, height, width = check_image_shape(image_shape, num_classes)
        if not channels or min(channels) < 1:
            raise ValueError(f"channels must be a non-empty sequence of positive widths, got {tuple(channels)}")
        layers: list[nn.Module] = []
        for index, out in enumerate(channels):
            if index > 0 and out != channels[index - 1]:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            layers.append(nn.Conv2d(in_channels, out, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            in_channels = out
        if min(height, width) < 1:
            raise ValueError(f"image_shape {tuple(image_shape)} is too small for the {len(layers)} layers of "
                             f"channels={tuple(channels)}: the poolings leave {height}×{width} pixels")
        units = 4 * in_channels
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.classifier = nn.Sequential(nn.Linear(in_channels * height * width, units), nn.ReLU(inplace=True),
                                        nn.Linear(units, units), nn.ReLU(inplace=True), nn.Linear(units, num_classes))
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out" if module.weight.dim() == 4 else "fan_in",
                                        nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
