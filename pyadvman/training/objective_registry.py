"""The training objectives by name (``TrainConfig.objective``), each registered once with the builder that makes
it from a TrainConfig and the dataset, and the label reports give it. Adding an objective is one registration:

>>> @OBJECTIVES.register("my_at", label="my AT")                            # doctest: +SKIP
... def _my_at(cfg, data):
...     return Mixed(attack_perturbation(training_pgd(cfg)), cfg.adversarial_fraction)

Training attacks run the config's ``train_attack`` protocol at radius ``epsilon`` in the config's ``norm`` (η for the on-manifold
objectives), without the model checks (they run every batch on a model that is still changing) and in float32
(inside the trainer's autocast when it trains in half precision).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from pyadvman.attacks import (
    PGD,
    TRANSFORMATION_RANGES,
    AttackProtocol,
    LearnedManifoldAttack,
    TransformationAttack,
    TrueManifoldAttack,
    lmc_gaussian,
    lmc_laplacian,
    trades_attack,
)
from pyadvman.data.affine_transforms import AffineRanges, theta_preset
from pyadvman.data.splits import DatasetSplits
from pyadvman.execution import Execution
from pyadvman.manifolds.learned_manifold import LearnedManifold
from pyadvman.registry import Registry
from pyadvman.training.objectives import (
    AdversarialWeightPerturbation,
    Dale,
    LogitPairing,
    Mart,
    Mixed,
    Normal,
    Objective,
    SeparateSteps,
    Trades,
    attack_perturbation,
    random_transformation,
    reconstruction,
)

if TYPE_CHECKING:
    from pyadvman.training.config import TrainConfig

# name -> builder(cfg: TrainConfig, data: DatasetSplits) -> Objective; extras: needs_manifold (a manifold.pt)
OBJECTIVES: Registry = Registry("objective")


def attack_execution(cfg: TrainConfig) -> Execution:
    """The execution of training attacks: cfg's, without model checks, in float32."""
    return replace(cfg.execution.in_float32(), check_model=False)


def training_pgd(cfg: TrainConfig) -> PGD:
    """PGD with the training protocol at radius epsilon."""
    return PGD(eps=cfg.epsilon, norm=cfg.norm, protocol=cfg.train_attack, execution=attack_execution(cfg))


def _code_attack(cfg: TrainConfig) -> dict[str, object]:
    return {"eta": cfg.epsilon, "protocol": cfg.train_attack, "execution": attack_execution(cfg)}


# Wu et al.'s γ (NeurIPS 2020, released code): AT-AWP 0.01 (its README and logs), TRADES-AWP 0.005
AWP_GAMMA = {"awp": 0.01, "trades_awp": 0.005}


def awp_gamma(objective: str, gamma: float | None) -> float:
    """The AWP radius of ``objective``: ``gamma``, or where it is None the authors' (AWP_GAMMA)."""
    return AWP_GAMMA[objective] if gamma is None else gamma


def _with_awp(cfg: TrainConfig, objective: Objective) -> Objective:
    return AdversarialWeightPerturbation(objective, awp_gamma(cfg.objective, cfg.awp_gamma), cfg.awp_warmup_epochs)


def _trades_pgd(cfg: TrainConfig) -> PGD:
    """The TRADES attack (KL from a Gaussian start) with the protocol's steps and step size."""
    protocol = cfg.train_attack
    return replace(trades_attack(cfg.epsilon, protocol.steps, protocol.step_size, norm=cfg.norm),
                   execution=attack_execution(cfg))


@OBJECTIVES.register("normal", label="normal")
def _normal(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    return Normal()


@OBJECTIVES.register("adversarial", label="regular AT")
def _adversarial(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    return Mixed(attack_perturbation(training_pgd(cfg)), cfg.adversarial_fraction)


def madry_protocol(steps: int) -> AttackProtocol:
    """Madry et al.'s training attack (ICLR 2018, Sec. 5): signed PGD of ``steps`` steps of 2.5·ε/steps from a
    uniform start in the L∞ ball, the last iterate kept."""
    return AttackProtocol(steps=steps, start="uniform", keep="last")


@OBJECTIVES.register("madry", label="Madry AT")
def _madry(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    """Madry et al.'s AT: every training example replaced by its adversarial example (the whole batch, whatever
    adversarial_fraction says), found by :func:`madry_protocol` with the training attack's number of steps."""
    attack = PGD(eps=cfg.epsilon, norm=cfg.norm, protocol=madry_protocol(cfg.train_attack.steps),
                 execution=attack_execution(cfg))
    return Mixed(attack_perturbation(attack), 1.0)


@OBJECTIVES.register("on_true_manifold", label="on-true-manifold AT", needs_codes=True)
def _on_true_manifold(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    """Raises ValueError without FONTS codes (the dataset must come with prototypes and θ)."""
    attack = TrueManifoldAttack.on_split(data, "train", **_code_attack(cfg))
    return Mixed(attack_perturbation(attack), cfg.adversarial_fraction)


@OBJECTIVES.register("on_learned_manifold", label="on-learned-manifold AT", needs_manifold=True)
def _on_learned_manifold(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    attack = LearnedManifoldAttack(manifold=LearnedManifold.load(cfg.manifold, data=data), **_code_attack(cfg))
    return Mixed(attack_perturbation(attack), cfg.adversarial_fraction)


@OBJECTIVES.register("reconstruction", label="reconstruction training (control, η = 0)", needs_manifold=True)
def _reconstruction(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    return Mixed(reconstruction(LearnedManifold.load(cfg.manifold, data=data)), cfg.adversarial_fraction)


def transformation_ranges(cfg: TrainConfig) -> AffineRanges:
    """The θ ranges of STN augmentation and adversarial transformations: on FONTS ("auto") the dataset's hard
    ranges, as the released code trains there (experiments/fonts/verify_hypotheses.py lines 116-121 at 220ff8a);
    elsewhere the paper's EMNIST / Fashion-MNIST ranges; or a FONTS θ preset by name."""
    name = cfg.transformation_ranges
    if name == "auto":
        name = "hard" if cfg.dataset == "fonts" else "emnist"
    return TRANSFORMATION_RANGES if name == "emnist" else theta_preset(name)


@OBJECTIVES.register("stn", label="STN augmentation")
def _stn(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    steps = SeparateSteps if cfg.stn_steps == "separate" else Mixed
    return steps(random_transformation(transformation_ranges(cfg)), cfg.adversarial_fraction)


@OBJECTIVES.register("adversarial_transformation", label="adversarial-transformation AT")
def _adversarial_transformation(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    attack = TransformationAttack(ranges=transformation_ranges(cfg), **_code_attack(cfg))
    return Mixed(attack_perturbation(attack), cfg.adversarial_fraction)


@OBJECTIVES.register("trades", label="TRADES")
def _trades(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    return Trades(_trades_pgd(cfg), cfg.trades_beta)


@OBJECTIVES.register("mart", label="MART")
def _mart(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    return Mart(training_pgd(cfg), cfg.trades_beta)


@OBJECTIVES.register("alp", label="ALP")
def _alp(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    return LogitPairing(training_pgd(cfg), cfg.pairing_weight, clean=False)


@OBJECTIVES.register("clp", label="CLP")
def _clp(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    return LogitPairing(training_pgd(cfg), cfg.pairing_weight, clean=True)


@OBJECTIVES.register("dale", label="DALE", linf_only=True)
def _dale(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    """DALE's sampler is its paper's signed attack with the protocol's steps and step size."""
    protocol = cfg.train_attack
    steps, step_size = protocol.steps, protocol.step_size_for(cfg.epsilon)
    samplers = {"gaussian": lambda: lmc_gaussian(cfg.epsilon, steps, step_size, cfg.dale_noise),
                "laplacian": lambda: lmc_laplacian(cfg.epsilon, steps, step_size, cfg.dale_noise),
                "kl": lambda: trades_attack(cfg.epsilon, steps, step_size)}
    sampler = replace(samplers[cfg.dale_attack](), execution=attack_execution(cfg))
    return Dale(sampler, cfg.dale_attack, cfg.dale_nu, cfg.dale_dual_lr, cfg.dale_margin)


@OBJECTIVES.register("awp", label="AT-AWP")
def _awp(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    return _with_awp(cfg, _adversarial(cfg, data))


@OBJECTIVES.register("trades_awp", label="TRADES-AWP")
def _trades_awp(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    return _with_awp(cfg, _trades(cfg, data))


def build_objective(cfg: TrainConfig, data: DatasetSplits) -> Objective:
    """The objective named by ``cfg.objective`` (a name of OBJECTIVES), with its attack built from cfg.

    Raises:
        ValueError: on_true_manifold without FONTS codes (the dataset must come with prototypes and θ).
    """
    return OBJECTIVES[cfg.objective](cfg, data)
