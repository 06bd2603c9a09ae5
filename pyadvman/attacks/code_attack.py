"""The attacks that perturb a code (θ of an affine transformation, a latent z) rather than the image."""

from __future__ import annotations

from dataclasses import dataclass

from pyadvman.attacks._checks import check_number
from pyadvman.attacks.base import Attack
from pyadvman.attacks.protocol import AttackProtocol
from pyadvman.execution import Execution


@dataclass(frozen=True)
class CodeAttack(Attack):
    """An L∞ ball of radius ``eta`` around the clean code, clipped per dimension to the code's range, searched
    by ``protocol`` (:class:`AttackProtocol`; default signed PGD-40, steps of 2.5·eta/40) on the cross-entropy
    of the rendered images, run as ``execution`` says (:class:`pyadvman.execution.Execution`).

    Raises:
        ValueError: eta not a finite number >= 0; update "apgd" (APGD's schedule runs on images only).
    """

    eta: float = 0.3
    protocol: AttackProtocol = AttackProtocol()
    execution: Execution = Execution()

    def __post_init__(self) -> None:
        check_number("eta", self.eta)
        if self.protocol.update == "apgd":
            raise ValueError("protocol.update 'apgd' is APGD's step-size schedule, which runs on images only")
