"""The attack protocol: how a gradient attack searches, as one small frozen config shared by training attacks,
validation and test attacks, on and off the manifold (docs/protocol.md maps the released code of Stutz et al. to
it field by field).

The radius is not part of the protocol: the same protocol runs with ε in image space and with η in a code space
(θ of FONTS, the latent z of a VAE-GAN).

>>> from pyadvman.attacks import PGD, RELEASED_EVALUATION
>>> attack = PGD(eps=0.3, **RELEASED_EVALUATION.options())   # Adam on δ, lr 0.005, 40 iterations, 5 restarts
"""

from __future__ import annotations

from dataclasses import dataclass

from pyadvman.attacks._checks import KEEP, STARTS, UPDATES, check_number, check_settings
from pyadvman.errors import ConfigError


@dataclass(frozen=True)
class AttackProtocol:
    """The search settings of an attack (defaults: the released code's evaluation attack with one restart).

    ``keep`` is the success counting: "first_success" returns each (example, restart)'s first iterate that fools
    the model, so a pair counts as successful when any iterate fooled it (the released code's evaluation);
    "loss" returns and judges the highest-loss iterate only; "last" the final iterate; "last_then_loss" the newest
    iterate until one fools the model, then the highest-loss one (the released code's training attack).

    Raises:
        ConfigError: a value outside its range or an unknown name, naming the field.
    """

    update: str = "adam"  # sign: signed PGD steps of step_size | adam: Adam on δ at lr (the released code)
    steps: int = 40  # iterations; steps + 1 iterates are evaluated
    lr: float = 0.005  # Adam's learning rate (update adam): its steps are about lr long per coordinate
    step_size: float | None = None  # signed step (update sign); None: 2.5·radius/steps (Madry et al.)
    restarts: int = 1  # random restarts, batched; rates count every (example, restart) pair
    start: str = "radial"  # uniform | radial (direction × uniform radius; released) | gaussian (x + 0.001·N) | none
    keep: str = "first_success"  # iterate returned and judged (first_success: any fooling iterate counts)

    OPTION_CHOICES = {"update": UPDATES, "start": STARTS, "keep": KEEP}

    def __post_init__(self) -> None:
        try:
            check_settings(self.steps, self.restarts, self.update, self.keep, self.start)
            check_number("lr", self.lr)
            if self.step_size is not None:
                check_number("step_size", self.step_size)
        except (TypeError, ValueError) as error:
            field = str(error).split(" ", 1)[0]
            raise ConfigError(field, str(error).split(" must be ", 1)[-1].split(", got")[0],
                              getattr(self, field, None)) from None

    def options(self) -> dict[str, object]:
        """The keyword arguments of :class:`pyadvman.attacks.PGD` and the code attacks (TrueManifoldAttack,
        LearnedManifoldAttack, TransformationAttack) that run this protocol."""
        return {"steps": self.steps, "alpha": self.step_size, "restarts": self.restarts, "update": self.update,
                "lr": self.lr, "start": self.start, "keep": self.keep}

    def describe(self, radius_name: str = "ε", radius: float | None = None) -> str:
        """One line for reports, e.g. "Adam on δ (lr 0.005), 40 iterations, 5 restarts, radial start, success
        when any iterate fools the model"."""
        if self.update == "adam":
            rule = f"Adam on δ (lr {self.lr:g})"
        else:
            size = f"{self.step_size:g}" if self.step_size is not None else f"2.5·{radius_name}/{max(self.steps, 1)}"
            rule = f"signed PGD (step {size})"
        ball = f", {radius_name} = {radius:g}" if radius is not None else ""
        kept = {"first_success": "success when any iterate fools the model",
                "loss": "the highest-loss iterate judged", "last": "the last iterate judged",
                "last_then_loss": "the newest iterate until one fools the model, then the highest-loss one"}
        return (f"{rule}{ball}, {self.steps} iterations, {self.restarts} restart{'s' * (self.restarts != 1)}, "
                f"{self.start} start, {kept[self.keep]}")


# The released code of Stutz et al. (CVPR 2019; docs/protocol.md): Adam on δ at lr 0.005, 40 iterations, the
# radial start; evaluation keeps the first fooling iterate of each of 5 restarts, training the newest iterate
# until one fools the model and then the highest-loss one.
RELEASED_EVALUATION = AttackProtocol(restarts=5)
RELEASED_TRAINING = AttackProtocol(keep="last_then_loss")
# Textbook L∞ PGD (Madry et al., ICLR 2018): signed steps of 2.5·radius/T from a uniform start, the highest-loss
# iterate judged.
SIGNED_PGD = AttackProtocol(update="sign", start="uniform", keep="loss")
