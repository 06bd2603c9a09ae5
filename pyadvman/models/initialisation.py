"""Weight initialisation of the classifiers: the textbook He initialisation, or the released code's of Stutz et
al. (CVPR 2019), which passes the ReLU gain √2 to ``kaiming_normal_`` where that function expects the negative
slope of a leaky ReLU (models/classifier.py of davidstutz/disentangling-robustness-generalization, commit 220ff8a,
lines 384-386, 401 and 438-443)."""

from __future__ import annotations

import math
from typing import Literal

from torch import Tensor, nn

Init = Literal["kaiming", "released"]
INITS = ("kaiming", "released")


def initialise_weight(weight: Tensor, init: Init, *, mode: str = "fan_in") -> None:
    """Draws ``weight`` in place from N(0, σ²), σ = gain/√fan (fan: fan_in or fan_out of ``mode``):

    - "kaiming": He et al. (ICCV 2015) for ReLU, gain √2, so σ = √(2/fan);
    - "released": the released code's ``kaiming_normal_(w, calculate_gain("relu"))``: the gain √2 taken as the
      leaky-ReLU slope a, so gain √(2/(1 + a²)) = √(2/3) and σ = √(2/(3·fan)).

    Raises:
        ValueError: an init other than those of INITS.
    """
    if init == "kaiming":
        nn.init.kaiming_normal_(weight, mode=mode, nonlinearity="relu")
    elif init == "released":
        nn.init.kaiming_normal_(weight, a=math.sqrt(2.0), mode=mode)
    else:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
