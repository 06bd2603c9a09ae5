"""The networks of the VAE-GAN (docs/papers.md §1, after the paper's released code): an encoder of strided 4×4
convolutions to (μ, log σ²), a decoder of a linear layer and 6×6 stride-2 transposed convolutions ending in a
sigmoid, and a discriminator of the encoder's form with one logit. Batch normalisation and leaky ReLU
throughout; channels double per stage until the spatial size falls below 4 (28×28: 14 -> 7 -> 3)."""

from __future__ import annotations

from torch import Tensor, nn


def stage_sizes(size: int) -> list[int]:
    """Spatial sizes after each stride-2 stage: 28 -> [14, 7, 3]; stops once the next halving is < 2."""
    sizes = [size // 2]
    while sizes[-1] // 2 >= 2:
        sizes.append(sizes[-1] // 2)
    return sizes


def _conv_trunk(in_channels: int, size: int, channels: int) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    width = in_channels
    for stage in range(len(stage_sizes(size))):
        out = channels * 2 ** stage
        layers += [nn.Conv2d(width, out, 4, stride=2, padding=1), nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
        width = out
    final = stage_sizes(size)[-1]
    return nn.Sequential(*layers, nn.Flatten()), width * final * final


class Encoder(nn.Module):
    """x Tensor[B, C, S, S] in [0, 1] -> (μ Tensor[B, latent], log σ² Tensor[B, latent])."""

    channels_last_ready = True  # runs on channels-last activations (pyadvman.memory_format)

    def __init__(self, in_channels: int, size: int, latent: int, channels: int) -> None:
        super().__init__()
        self.trunk, features = _conv_trunk(in_channels, size, channels)
        self.mean = nn.Linear(features, latent)
        self.log_var = nn.Linear(features, latent)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.trunk(x)
        return self.mean(h), self.log_var(h)


class Decoder(nn.Module):
    """z Tensor[B, latent] -> images Tensor[B, C, S, S] in (0, 1)."""

    channels_last_ready = True  # runs on channels-last activations (pyadvman.memory_format)

    def __init__(self, out_channels: int, size: int, latent: int, channels: int) -> None:
        super().__init__()
        sizes = [size] + stage_sizes(size)
        widths = [out_channels] + [channels * 2 ** s for s in range(len(sizes) - 1)]
        self.shape = (widths[-1], sizes[-1], sizes[-1])
        self.code = nn.Linear(latent, widths[-1] * sizes[-1] ** 2)
        layers: list[nn.Module] = []
        for stage in range(len(sizes) - 1, 0, -1):
            # kernel 6, stride 2, padding 2 doubles the size; output_padding restores odd sizes (3 -> 7)
            extra = sizes[stage - 1] - 2 * sizes[stage]
            layers.append(nn.ConvTranspose2d(widths[stage], widths[stage - 1], 6, stride=2, padding=2,
                                             output_padding=extra))
            layers += [nn.BatchNorm2d(widths[stage - 1]), nn.LeakyReLU(0.2)] if stage > 1 else [nn.Sigmoid()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(self.code(z).view(-1, *self.shape))


class Discriminator(nn.Module):
    """x Tensor[B, C, S, S] -> real-vs-reconstruction logit Tensor[B]."""

    channels_last_ready = True  # runs on channels-last activations (pyadvman.memory_format)

    def __init__(self, in_channels: int, size: int, channels: int) -> None:
        super().__init__()
        self.trunk, features = _conv_trunk(in_channels, size, channels)
        self.logit = nn.Linear(features, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.logit(self.trunk(x)).squeeze(1)
