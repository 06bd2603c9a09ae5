"""A classifier trained on normalised inputs, wrapped so that it takes images in [0, 1]: attacks then work in
image space with ε in pixel units, as AutoAttack and RobustBench assume (their models normalise inside)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

# per-channel (mean, std) of the training images, as the papers' code normalises them
NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def parse_normalization(spec: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of ``spec``: a name of NORMALIZATIONS, or "MEAN,STD" with per-channel values separated by
    "/" (e.g. "0.5/0.5/0.5,0.25/0.25/0.25", or "0.5,0.25" for one value for every channel).

    Raises:
        ValueError: an unknown name, a malformed spec, or a std that is not > 0 (the message gives the forms).
    """
    if spec in NORMALIZATIONS:
        return NORMALIZATIONS[spec]
    forms = f"one of {sorted(NORMALIZATIONS)} or MEAN,STD with channels separated by '/' (e.g. 0.5/0.5/0.5,0.2/0.2/0.2)"
    parts = spec.split(",")
    try:
        mean, std = (tuple(float(value) for value in part.split("/")) for part in parts) if len(parts) == 2 \
            else (None, None)
    except ValueError:
        mean = std = None
    if mean is None or len(mean) != len(std) and 1 not in (len(mean), len(std)):
        raise ValueError(f"normalize must be {forms}, got {spec!r}")
    if min(std) <= 0:
        raise ValueError(f"normalize: every std must be > 0, got {spec!r}")
    return mean, std


class Normalized(nn.Module):
    """``model((x - mean) / std)``: a model trained on normalised inputs, taking images in [0, 1].

    Args:
        model: the classifier on normalised inputs.
        mean, std: per-channel values (sequences of C floats, or one float for every channel); std > 0.

    Input Tensor[B, C, H, W] float in [0, 1]; output what ``model`` returns (logits Tensor[B, K]). ``mean`` and
    ``std`` are buffers [1, C, 1, 1], so they are saved in the state dict and move with the model.

    Raises:
        ValueError: a std that is not > 0, or mean and std of different lengths (neither of length 1).
    """

    def __init__(self, model: nn.Module, mean: Sequence[float] | float, std: Sequence[float] | float) -> None:
        super().__init__()
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        if mean_t.shape[1] != std_t.shape[1] and 1 not in (mean_t.shape[1], std_t.shape[1]):
            raise ValueError(f"mean and std must have one value per channel (or one value), got {mean_t.shape[1]} "
                             f"and {std_t.shape[1]}")
        if not bool((std_t > 0).all()):
            raise ValueError(f"std must be > 0, got {std_t.flatten().tolist()}")
        self.model = model
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def forward(self, x: Tensor) -> Tensor:
        return self.model((x - self.mean) / self.std)

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"
