"""Projected gradient descent in image space (L∞ / L2), and the attacks that are PGD with other settings:
FGSM, the TRADES (KL) attack and the LMC Gaussian / Laplacian attacks."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from pyadvman.attacks._checks import check_images_labels, check_number, check_settings, check_target
from pyadvman.attacks.base import Attack
from pyadvman.attacks.objectives import get_objective
from pyadvman.attacks.result import AttackResult
from pyadvman.attacks.search import SearchSettings, default_step_size, search
from pyadvman.attacks.threat_models import Bound, L2Ball, LinfBall, check_radius
from pyadvman.compilation import check_compile_mode

NORMS = ("linf", "l2")


@dataclass(frozen=True)
class PGD(Attack):
    """Projected gradient ascent on a per-example objective within an L∞ or L2 ball around x, intersected with
    [0, 1] (Madry et al., ICLR 2018, Eq. (2); docs/papers.md §1 "Attacks").

    x_{t+1} = Π(x_t + α·sign ∇ℓ) for L∞ (the fused ``pgd_step`` op), Π(x_t + α·∇ℓ/‖∇ℓ‖₂) for L2, or Adam on
    δ = x − x0 with learning rate ``lr`` (``update="adam"``, as in the released code of Stutz et al.). R random
    restarts run batched as [R, B] in one forward pass. Every iterate x_0 … x_T is evaluated and each
    (example, restart) keeps one by the rule ``keep``; its success is that iterate's. The settings of the papers'
    protocols come from :class:`pyadvman.attacks.AttackProtocol` (``PGD(eps=0.3, **protocol.options())``).

    Args:
        eps: radius (input units, images in [0, 1]), float >= 0 or Tensor[B] per example. Default 0.3.
        steps: gradient steps T (default 40).
        alpha: step size; default 2.5·eps/steps (Madry et al.). Float or Tensor[B].
        restarts: R (default 1).
        norm: "linf" or "l2".
        start: "uniform" in the ball (default), "radial" (a random direction on the ball's sphere times a uniform
            radius: the released code of Stutz et al.), "gaussian" (x + init_std·N(0, I), TRADES) or "none" (x).
        init_std: standard deviation of the "gaussian" start (default 0.001).
        update: "sign" (PGD) or "adam".
        lr: Adam's learning rate (default 0.005, the paper's).
        objective: "ce", "kl" (TRADES), "lmc" (log(1 − p_y)) or "margin".
        targeted: minimise CE towards ``target`` (given to :meth:`run`) instead of maximising it.
        keep: the iterate each (example, restart) returns and is judged by: "loss" (highest objective, the
            default), "first_success" (the first fooling iterate, else the highest objective: an example counts
            as fooled when any iterate fools it, as in the released code's evaluation), "last" (the final
            iterate) or "last_then_loss" (the newest until one fools, then the highest objective: the released
            code's training attack).
        early_stop: stop moving an (example, restart) once its kept iterate fools the model (active mask).
        noise, noise_scale: LMC sampling noise ("gaussian" after the step, "laplace" inside the sign).
        chunk_rows: rows (restarts × examples) per forward pass; default all R·B on CUDA and about 2,048 on CPU,
            where larger batches run slower per image (0: all at once).
        check_model: run the checks of :mod:`pyadvman.attacks.model_checks` (probability outputs, randomness,
            zero gradients, NaN logits) and warn once per run with a ModelCheckWarning (default True; training
            attacks turn them off).
        compile: the model's forward and input-gradient passes under torch.compile: "auto" (default: CUDA graphs
            on CUDA, eager on CPU), "off", "default" or "reduce-overhead" (:mod:`pyadvman.compilation`).

    Logits with NaN or inf predict no class: such an example is never correct and always counts as fooled.

    Shape: x Tensor[B, C, H, W] float in [0, 1]; y Tensor[B] int64; returns x_adv like x (in [0, 1], within
    eps of x).

    Raises:
        ValueError: bad x / y / target (non-finite x, labels outside the model's classes), eps or alpha not a
            finite number >= 0 or a Tensor[B], steps not an integer >= 0, restarts not an integer >= 1, unknown
            names.

    Example:
        >>> attack = PGD(eps=0.3, steps=40, restarts=5)
        >>> x_adv = attack(model, x, y)                              # doctest: +SKIP
        >>> attack.run(model, x, y).success_rate()                   # doctest: +SKIP
    """

    eps: Bound = 0.3
    steps: int = 40
    alpha: Bound | None = None
    restarts: int = 1
    norm: str = "linf"
    start: str = "uniform"
    init_std: float = 0.001
    update: str = "sign"
    lr: float = 0.005
    objective: str = "ce"
    targeted: bool = False
    keep: str = "loss"
    early_stop: bool = False
    noise: str | None = None
    noise_scale: float = 0.0
    chunk_rows: int | None = None
    check_model: bool = True
    compile: str = "auto"

    def __post_init__(self) -> None:
        check_number("eps", self.eps, allow_tensor=True)
        if self.alpha is not None:
            check_number("alpha", self.alpha, allow_tensor=True)
        check_number("lr", self.lr)
        check_number("init_std", self.init_std)
        check_settings(self.steps, self.restarts, self.update, self.keep, self.start, self.noise)
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        get_objective(self.objective)
        check_compile_mode(self.compile)

    def step_size(self) -> Bound:
        return self.alpha if self.alpha is not None else default_step_size(self.eps, self.steps)

    def settings(self) -> SearchSettings:
        return SearchSettings(steps=self.steps, alpha=self.step_size(), restarts=self.restarts,
                              start=self.start, init_std=self.init_std, update=self.update,
                              lr=self.lr, objective=self.objective, targeted=self.targeted, keep=self.keep,
                              early_stop=self.early_stop, noise=self.noise, noise_scale=self.noise_scale,
                              chunk_rows=self.chunk_rows, check_model=self.check_model, compile=self.compile)

    def run(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None = None) -> AttackResult:
        """Attacks (x, y); see the class docstring. ``target`` (Tensor[B] int64) is required when targeted."""
        check_images_labels(x, y)
        check_target(target, self.targeted, y)
        check_radius("eps", self.eps, x.shape[0])
        check_radius("alpha", self.step_size(), x.shape[0])
        ball = LinfBall(self.eps) if self.norm == "linf" else L2Ball(self.eps)
        return search(model, x, y, ball, self.settings(), target=target)


def fgsm(eps: Bound = 0.3) -> PGD:
    """FGSM (Goodfellow et al., ICLR 2015): one signed step of size eps from x: x + eps·sign ∇CE, in [0, 1]."""
    return PGD(eps=eps, steps=1, alpha=eps, start="none")


def trades_attack(eps: Bound = 0.3, steps: int = 10, alpha: Bound | None = None, restarts: int = 1) -> PGD:
    """The TRADES inner maximisation (Zhang et al., ICML 2019, Alg. 1; docs/papers.md §3): signed ascent on
    KL(softmax f(x) ‖ softmax f(x')) from x + 0.001·N(0, I)."""
    return PGD(eps=eps, steps=steps, alpha=alpha, restarts=restarts, start="gaussian", objective="kl")


def lmc_gaussian(eps: Bound = 0.3, steps: int = 7, alpha: Bound = 0.1, noise_scale: float = 0.001) -> PGD:
    """LMC Gaussian attack (Robey et al., NeurIPS 2021, Alg. 1; docs/papers.md §3): from x + 0.001·N(0, I),
    x' ← Π(x' + α·sign ∇ log(1 − p_y(x')) + c·N(0, I))."""
    return PGD(eps=eps, steps=steps, alpha=alpha, start="gaussian", objective="lmc", noise="gaussian",
               noise_scale=noise_scale)


def lmc_laplacian(eps: Bound = 0.3, steps: int = 7, alpha: Bound = 0.1, noise_scale: float = 0.001) -> PGD:
    """LMC Laplacian attack (Robey et al., NeurIPS 2021; docs/papers.md §3): from x + 0.001·N(0, I),
    x' ← Π(x' + α·sign(∇ log(1 − p_y(x')) + c·Laplace(0, 1)))."""
    return PGD(eps=eps, steps=steps, alpha=alpha, start="gaussian", objective="lmc", noise="laplace",
               noise_scale=noise_scale)
