"""Attacks run the model in eval mode and restore every module's mode afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Puts ``modules`` in eval mode for the block; each submodule gets its own previous mode back after."""
    saved = [(m, m.training) for module in modules for m in module.modules()]
    for module in modules:
        module.eval()
    try:
        yield
    finally:
        for m, training in saved:
            m.training = training


@contextmanager
def frozen_parameters(*modules: nn.Module) -> Iterator[None]:
    """Turns off requires_grad of the modules' parameters for the block (restored after), so that attacks build
    no graph towards the weights: forward passes save less and backward computes input gradients only."""
    saved = [(p, p.requires_grad) for module in modules for p in module.parameters()]
    for p, _ in saved:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)
