"""Settings shared by the attacks that perturb a code (θ or a latent z) rather than the image."""

from __future__ import annotations

from dataclasses import dataclass

from pyadvman.attacks._checks import check_number, check_settings
from pyadvman.attacks.base import Attack
from pyadvman.attacks.search import SearchSettings, default_step_size
from pyadvman.compilation import check_compile_mode


@dataclass(frozen=True)
class CodeAttack(Attack):
    """An L∞ ball of radius ``eta`` around the clean code, clipped per dimension to the code's range.

    Fields as in :class:`pyadvman.attacks.PGD` (steps, alpha = 2.5·eta/steps by default, restarts, start,
    update "sign"/"adam", lr, keep, early_stop, check_model, compile; an AttackProtocol's ``options()``); the
    objective is cross-entropy.
    """

    eta: float = 0.3
    steps: int = 40
    alpha: float | None = None
    restarts: int = 1
    start: str = "uniform"
    update: str = "sign"
    lr: float = 0.005
    keep: str = "loss"
    early_stop: bool = False
    check_model: bool = True
    compile: str = "auto"

    def __post_init__(self) -> None:
        check_number("eta", self.eta)
        if self.alpha is not None:
            check_number("alpha", self.alpha)
        check_number("lr", self.lr)
        check_settings(self.steps, self.restarts, self.update, self.keep, self.start)
        check_compile_mode(self.compile)

    def settings(self) -> SearchSettings:
        alpha = self.alpha if self.alpha is not None else default_step_size(self.eta, self.steps)
        return SearchSettings(steps=self.steps, alpha=alpha, restarts=self.restarts, start=self.start,
                              update=self.update, lr=self.lr, keep=self.keep, early_stop=self.early_stop,
                              check_model=self.check_model, compile=self.compile)
