"""Argument checks shared by the attacks: errors name the argument, the expected and the received value."""

from __future__ import annotations

import numbers
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

# the update rules: signed PGD steps; Adam on δ (the released code of Stutz et al.); signed steps with Langevin
# noise (Robey et al.); APGD's step-size schedule (Croce & Hein)
Update = Literal["sign", "adam", "lmc_gaussian", "lmc_laplacian", "apgd"]
# which iterate each (example, restart) returns and is judged by: the highest objective; the first that fools the
# model (so success counts when any iterate fools it); the final one; the newest until one fools the model, then
# the highest objective (the released training attack of Stutz et al.)
Keep = Literal["loss", "first_success", "last", "last_then_loss"]
# where the search starts: uniform in the ball; a random direction scaled to the sphere times a uniform radius
# (the released code of Stutz et al.); x + 0.001·N(0, I) (TRADES, Robey et al.); the clean input
Start = Literal["uniform", "radial", "gaussian", "none"]
UPDATES, KEEP, STARTS = get_args(Update), get_args(Keep), get_args(Start)


def check_images_labels(x: Tensor, y: Tensor) -> None:
    """x must be a floating Tensor[B, C, H, W] in [0, 1] and y an int64 Tensor[B] on x's device."""
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() != 4:
        raise ValueError(f"x must be a floating-point Tensor[B, C, H, W], got "
                         f"{type(x).__name__ if not isinstance(x, Tensor) else f'{x.dtype} {list(x.shape)}'}")
    if not isinstance(y, Tensor) or y.dtype != torch.int64 or y.shape != x.shape[:1]:
        raise ValueError(f"y must be an int64 Tensor[{x.shape[0]}] of labels, got "
                         f"{type(y).__name__ if not isinstance(y, Tensor) else f'{y.dtype} {list(y.shape)}'}")
    if y.device != x.device:
        raise ValueError(f"y must be on x's device {x.device}, got {y.device}")
    if x.numel() == 0:
        return
    finite = torch.isfinite(x).flatten(1).all(dim=1)
    if not bool(finite.all()):
        bad = (~finite).nonzero().flatten()
        raise ValueError(f"x must be finite: {bad.numel()} of {x.shape[0]} examples hold NaN or inf (first: "
                         f"example {int(bad[0])})")
    if float(x.detach().min()) < 0 or float(x.detach().max()) > 1:
        raise ValueError(f"x must have values in [0, 1] (normalise inside the model), got "
                         f"[{float(x.detach().min())}, {float(x.detach().max())}]")


def check_labels(name: str, labels: Tensor, num_classes: int) -> None:
    """labels (Tensor[B] int64) must be class indices of a model with ``num_classes`` outputs: cross-entropy would
    silently ignore -100 and fail on device for others."""
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"{name} must hold class indices in [0, {num_classes}) for a model with {num_classes} "
                         f"outputs, got values in [{int(labels.min())}, {int(labels.max())}]")


def check_count(name: str, value: object, minimum: int) -> None:
    """An integer setting (steps, restarts) >= minimum: TypeError for bools and floats such as 2.5, ValueError
    below the minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_number(name: str, value: object, *, finite: bool = True, allow_tensor: bool = False) -> None:
    """A radius or step size: a real number >= 0 (finite unless told), or with ``allow_tensor`` a Tensor[B]
    checked later against the batch. TypeError for strings such as "0.3", ValueError for negative, NaN or
    (when ``finite``) infinite values."""
    if allow_tensor and isinstance(value, Tensor):
        return
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        kind = "a number or a Tensor[B]" if allow_tensor else "a number"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__} {value!r}")
    if not value >= 0 or (finite and value == float("inf")):
        hint = " (an L∞ radius of 1 already spans images in [0, 1])" if value == float("inf") else ""
        raise ValueError(f"{name} must be a {'finite ' if finite else ''}number >= 0, got {value}{hint}")


def check_target(target: Tensor | None, targeted: bool, y: Tensor) -> None:
    if targeted and (target is None or target.shape != y.shape or target.dtype != torch.int64):
        got = None if target is None else f"{target.dtype} {list(target.shape)}"
        raise ValueError(f"a targeted attack needs target, an int64 Tensor[{y.shape[0]}], got {got}")
