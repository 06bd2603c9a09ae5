"""The attacks that perturb a code (θ of an affine transformation, a latent z) rather than the image."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from torch import Tensor, nn

from pyadvman.attacks._checks import check_images_labels, check_number
from pyadvman.attacks.base import Attack
from pyadvman.attacks.pgd import Render, adversarial_iterates, projected_gradient_search
from pyadvman.attacks.protocol import AttackProtocol
from pyadvman.attacks.result import AttackResult
from pyadvman.attacks.threat_models import LinfBall
from pyadvman.execution import Execution


@dataclass(frozen=True)
class CodeSpace:
    """What a code attack searches: the clean codes ``start`` (Tensor[B, ...]), the ``ball`` around them (clipped
    to the codes' range) and ``render`` (codes [R, B, ...] -> images [R, B, C, H, W], differentiable)."""

    start: Tensor
    ball: LinfBall
    render: Render


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

    def run(self, model: nn.Module, x: Tensor, y: Tensor, **codes: Tensor) -> AttackResult:
        """Attacks (x, y) in code space (``codes``: the per-example extras a subclass needs); ``result.params``
        holds the adversarial codes [R, B, ...]. Raises ValueError on bad x, y or codes."""
        check_images_labels(x, y)
        with self.code_space(x, y, **codes) as space:
            return projected_gradient_search(model, space.start, y, space.ball, self.protocol, self.execution,
                                             render=space.render)

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, **codes: Tensor) -> Tensor:
        """``run(...).x_adv`` with only the model passes it needs (:func:`adversarial_iterates`): the training
        path (a subclass without :meth:`code_space`, written with its own ``run``, gets ``run(...).x_adv``)."""
        if type(self).code_space is CodeAttack.code_space:
            return self(model, x, y, **codes)
        check_images_labels(x, y)
        with self.code_space(x, y, **codes) as space:
            return adversarial_iterates(model, space.start, y, space.ball, self.protocol, self.execution,
                                        render=space.render)

    @contextmanager
    def code_space(self, x: Tensor, y: Tensor, **codes: Tensor) -> Iterator[CodeSpace]:
        """The :class:`CodeSpace` of (x, y), valid inside the block."""
        raise NotImplementedError
        yield
