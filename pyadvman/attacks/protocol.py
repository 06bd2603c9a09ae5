"""The attack protocol: how a gradient attack searches (update rule, step size or learning rate, steps, restarts,
start and success counting), one small frozen config that every gradient attack takes and that the training and
experiment configs nest (docs/protocol.md maps the released code of Stutz et al. to it field by field).

The radius is not part of the protocol: the same protocol runs with ε in image space and with η in a code space
(θ of FONTS, the latent z of a VAE-GAN).

>>> from pyadvman.attacks import PGD, RELEASED_EVALUATION, AttackProtocol
>>> attack = PGD(eps=0.3, protocol=RELEASED_EVALUATION)   # Adam on δ, lr 0.005, 40 iterations, 5 restarts
>>> attack = PGD(eps=0.3, protocol=AttackProtocol(steps=40, restarts=5))   # textbook signed PGD-40, 5 restarts
"""

from __future__ import annotations

from dataclasses import dataclass

from pyadvman.attacks._checks import KEEP, STARTS, UPDATES, Keep, Start, Update, check_count, check_number
from pyadvman.attacks.threat_models import Bound
from pyadvman.errors import ConfigError

_KEPT = {"first_success": "success when any iterate fools the model", "loss": "the highest-loss iterate judged",
         "last": "the last iterate judged",
         "last_then_loss": "the newest iterate until one fools the model, then the highest-loss one"}


@dataclass(frozen=True)
class AttackProtocol:
    """How a gradient attack searches. The defaults are textbook L∞ PGD (Madry et al., ICLR 2018): signed steps
    of 2.5·radius/steps from a uniform start, the highest-loss iterate judged.

    ``update`` is the rule that moves the iterate (:mod:`pyadvman.attacks.steps`): "sign" (signed steps of
    ``step_size``; for L2 normalised-gradient steps), "adam" (Adam on δ at ``lr``: the released code of Stutz et
    al.), "lmc_gaussian" / "lmc_laplacian" (signed steps with Langevin noise of scale ``noise_scale``: Robey et al.,
    NeurIPS 2021) or "apgd" (APGD's step-size schedule: only :class:`pyadvman.attacks.APGD` runs it).

    ``keep`` is the success counting: "first_success" returns each (example, restart)'s first iterate that fools
    the model, so a pair counts as successful when any iterate fooled it (the released code's evaluation);
    "loss" returns and judges the highest-loss iterate only; "last" the final iterate; "last_then_loss" the newest
    iterate until one fools the model, then the highest-loss one (the released code's training attack).

    Raises:
        ConfigError: a value outside its range or an unknown name, naming the field. TypeError: a value of the
            wrong kind (steps 2.5, lr "0.1").
    """

    update: Update = "sign"  # sign | adam (Adam on δ, the released code) | lmc_gaussian | lmc_laplacian | apgd
    steps: int = 40  # iterations; steps + 1 iterates are evaluated
    lr: float = 0.005  # Adam's learning rate (update adam): its steps are about lr long per coordinate
    step_size: float | None = None  # signed step (sign, lmc_*); None: 2.5·radius/steps (Madry et al.)
    restarts: int = 1  # random restarts, batched; rates count every (example, restart) pair
    start: Start = "uniform"  # uniform | radial (direction × uniform radius; released) | gaussian (x + 0.001·N) | none
    # iterate returned and judged: loss (highest) | first_success (any fooling one) | last | last_then_loss
    keep: Keep = "loss"
    noise_scale: float = 0.0  # c of the LMC updates: c·N(0, I) after the step, or c·Laplace(0, 1) in the sign
    early_stop: bool = False  # stop moving an (example, restart) once its kept iterate fools the model

    def __post_init__(self) -> None:
        try:
            check_count("steps", self.steps, 0)
            check_count("restarts", self.restarts, 1)
            for name, allowed in (("update", UPDATES), ("start", STARTS), ("keep", KEEP)):
                if getattr(self, name) not in allowed:
                    raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
            check_number("lr", self.lr)
            check_number("noise_scale", self.noise_scale)
            if self.step_size is not None:
                check_number("step_size", self.step_size, allow_tensor=True)
        except ValueError as error:
            field = str(error).split(" ", 1)[0]
            raise ConfigError(field, str(error).split(" must be ", 1)[-1].split(", got")[0],
                              getattr(self, field, None)) from None

    def step_size_for(self, radius: Bound) -> Bound:
        """The signed step size at ``radius``: ``step_size``, or 2.5·radius/steps (Madry et al., ICLR 2018)."""
        return self.step_size if self.step_size is not None else 2.5 * radius / max(self.steps, 1)

    def describe(self, radius_name: str = "ε", radius: float | None = None) -> str:
        """One line for reports, e.g. "Adam on δ (lr 0.005), 40 iterations, 5 restarts, radial start, success
        when any iterate fools the model"."""
        if self.update == "adam":
            rule = f"Adam on δ (lr {self.lr:g})"
        elif self.update == "apgd":
            rule = "APGD (step-size schedule)"
        else:
            size = f"{self.step_size:g}" if self.step_size is not None else f"2.5·{radius_name}/{max(self.steps, 1)}"
            noise = {"lmc_gaussian": ", Gaussian", "lmc_laplacian": ", Laplacian"}.get(self.update)
            rule = f"signed PGD (step {size}" + (f"{noise} noise {self.noise_scale:g})" if noise else ")")
        ball = f", {radius_name} = {radius:g}" if radius is not None else ""
        return (f"{rule}{ball}, {self.steps} iterations, {self.restarts} restart{'s' * (self.restarts != 1)}, "
                f"{self.start} start, {_KEPT[self.keep]}")


# Textbook L∞ PGD (Madry et al., ICLR 2018): signed steps of 2.5·radius/T from a uniform start, the highest-loss
# iterate judged: the defaults.
SIGNED_PGD = AttackProtocol()
# The released code of Stutz et al. (CVPR 2019; docs/protocol.md): Adam on δ at lr 0.005, 40 iterations, the
# radial start; evaluation keeps the first fooling iterate of each of 5 restarts, training the newest iterate
# until one fools the model and then the highest-loss one.
RELEASED_EVALUATION = AttackProtocol(update="adam", restarts=5, start="radial", keep="first_success")
RELEASED_TRAINING = AttackProtocol(update="adam", start="radial", keep="last_then_loss")
# APGD as AutoAttack runs it (Croce & Hein, ICML 2020): 100 iterations from a uniform start, an example fooled
# when any iterate fools the model.
APGD_PROTOCOL = AttackProtocol(update="apgd", steps=100, keep="first_success")

# what APGD requires of a protocol beyond its steps and restarts
APGD_REQUIREMENT = ("APGD's protocol (update 'apgd', start 'uniform', keep 'first_success', no early_stop; e.g. "
                    "replace(APGD_PROTOCOL, steps=50))")


def is_apgd_protocol(protocol: AttackProtocol) -> bool:
    """Whether ``protocol`` is one APGD runs (Croce & Hein, ICML 2020, Alg. 1): APGD_PROTOCOL but its steps and
    restarts."""
    return (protocol.update, protocol.start, protocol.keep, protocol.early_stop) == ("apgd", "uniform",
                                                                                    "first_success", False)
