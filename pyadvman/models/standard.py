"""The paper's "standard" classifier (Stutz et al., CVPR 2019, docs/papers.md §1 "Models")."""

from __future__ import annotations

from torch import Tensor, nn

from pyadvman.models._image_shape import check_image_shape
from pyadvman.models.initialisation import Init, initialise_weight


def standard_stages(size: int) -> int:
    """Number of stride-2 conv stages for a side length: stages are added until the next halving would leave
    a side below 2 (28 -> 14 -> 7 -> 3: three stages)."""
    stages, side = 0, size
    while True:
        side //= 2
        stages += 1
        if side // 2 < 2:
            return stages


class StandardClassifier(nn.Module):
    """Repeated [Conv 4×4 stride 2 pad 1 → BatchNorm → ReLU] with ``channels`` filters doubling per stage,
    then Linear(10·K) → Linear(K) (no nonlinearity between them, as in the paper's code).

    For 28×28 inputs: 16 → 32 → 64 channels at 14 → 7 → 3 pixels, a 576-d representation, 100 hidden units.

    Args:
        image_shape: (C, H, W) of the inputs (values in [0, 1]); H, W >= 4.
        num_classes: K >= 2.
        channels: filters of the first stage (default 16).
        batch_norm: BatchNorm after each convolution (default True).
        init: weight initialisation of the convolutions and linear layers, biases 0
            (:func:`pyadvman.models.initialisation.initialise_weight`): "kaiming" (σ = √(2/fan_in), default) or
            "released" (the released code's σ = √(2/(3·fan_in)); the `paper` presets of the claims studies).

    Input Tensor[B, C, H, W] float; output logits Tensor[B, K].

    Raises:
        ValueError: a bad image shape, num_classes < 2, channels < 1 or an unknown init.
    """

    channels_last_ready = True  # runs on channels-last activations (pyadvman.memory_format)

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, channels: int = 16,
                 batch_norm: bool = True, init: Init = "kaiming") -> None:
        super().__init__()
        in_channels, height, width = check_image_shape(image_shape, num_classes, min_side=4)
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        layers: list[nn.Module] = []
        stages = min(standard_stages(height), standard_stages(width))
        for stage in range(stages):
            out_channels = channels * 2 ** stage
            layers.append(nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
            in_channels, height, width = out_channels, height // 2, width // 2
        self.features = nn.Sequential(*layers)
        self.representation = nn.Linear(in_channels * height * width, 10 * num_classes)
        self.logits = nn.Linear(10 * num_classes, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                initialise_weight(module.weight, init)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.logits(self.representation(self.features(x).flatten(1)))
