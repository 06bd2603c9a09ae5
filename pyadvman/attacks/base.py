"""The common calling convention, ``attack(model, x, y) -> x_adv`` and ``attack.run(...) -> AttackResult``."""

from __future__ import annotations

from dataclasses import replace

from torch import Tensor, nn

from pyadvman.attacks.result import AttackResult


class Attack:
    """Base class: subclasses implement :meth:`run`; calling the attack returns ``run(...).x_adv``.

    An attack is a frozen dataclass: its radius, its ``protocol`` (how it searches, for the gradient attacks) and
    its ``execution`` (how it runs); ``dataclasses.replace`` gives a variant."""

    def run(self, model: nn.Module, x: Tensor, y: Tensor, **kwargs: Tensor) -> AttackResult:
        raise NotImplementedError

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, **kwargs: Tensor) -> Tensor:
        return self.run(model, x, y, **kwargs).x_adv

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, **kwargs: Tensor) -> Tensor:
        """The adversarial examples alone (Tensor like x), as training objectives use them: ``run(...).x_adv``, or
        the same images with fewer model passes where an attack knows how (the gradient attacks skip the passes
        that only judge success; :func:`pyadvman.attacks.pgd.adversarial_iterates`)."""
        return self(model, x, y, **kwargs)

    def with_execution(self, **changes: object) -> Attack:
        """This attack with ``changes`` to its execution settings (e.g. ``check_model=False``)."""
        return replace(self, execution=replace(self.execution, **changes))
