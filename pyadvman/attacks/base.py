"""The common calling convention: ``attack(model, x, y) -> x_adv`` and ``attack.run(...) -> AttackResult``."""

from __future__ import annotations

from torch import Tensor, nn

from pyadvman.attacks.result import AttackResult


class Attack:
    """Base class: subclasses implement :meth:`run`; calling the attack returns ``run(...).x_adv``."""

    def run(self, model: nn.Module, x: Tensor, y: Tensor, **kwargs: Tensor) -> AttackResult:
        raise NotImplementedError

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, **kwargs: Tensor) -> Tensor:
        return self.run(model, x, y, **kwargs).x_adv
