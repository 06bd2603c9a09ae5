"""Training configuration: one frozen dataclass with a comment per field, and named presets."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from typing import ClassVar, Literal, get_args

from pyadvman._compat import moved_names
from pyadvman.attacks.protocol import RELEASED_EVALUATION, RELEASED_TRAINING, SIGNED_PGD, AttackProtocol
from pyadvman.attacks.threat_models import canonical_norm
from pyadvman.configs import (
    accepts_old_fields,
    check_literal_fields,
    coerce_nested,
    config_from_preset,
    config_from_record,
    move_fields,
)
from pyadvman.data import DATASETS
from pyadvman.data.dataset_registry import dataset_defaults
from pyadvman.errors import check_fields
from pyadvman.execution import Execution
from pyadvman.models import MODELS, NORMALIZATIONS
from pyadvman.models.normalized import parse_normalization
from pyadvman.models.user_models import is_factory_path
from pyadvman.training.augmentation import Augmentation
from pyadvman.training.objective_registry import OBJECTIVES

DaleAttack = Literal["gaussian", "laplacian", "kl"]
Selection = Literal["auto", "validation_accuracy", "validation_robust_accuracy", "last"]
LrSchedule = Literal["batch", "epoch", "piecewise", "cosine"]
Optimizer = Literal["adam", "sgd"]
TransformationRanges = Literal["auto", "emnist", "easy", "moderate", "hard"]
StnSteps = Literal["joint", "separate"]
Norm = Literal["linf", "l2", "l1"]
LR_SCHEDULES = get_args(LrSchedule)
# The released evaluation attack with 10 iterations and one restart: the per-epoch robust validation of the paper
# preset (pyadvman 0.1: eval_attack with validation_attack_steps = 10 iterations).
RELEASED_VALIDATION = replace(RELEASED_EVALUATION, steps=10, restarts=1)
# TrainConfig fields of runs written by earlier releases, as the fields they became (read by from_record)
_LEGACY_ATTACK_FIELDS = ("attack_steps", "attack_alpha", "attack_update", "eval_steps", "eval_restarts")
_MOVED_TO_EXECUTION = {"device": ("execution", "device", str), "compile": ("execution", "compile", str),
                       "amp": ("execution", "precision", lambda amp: {"none": "float32"}.get(amp, amp))}


def _as_trained(record: dict) -> dict:
    """A recorded config with the fields that pyadvman 0.2 and earlier did not record set to what those runs did:
    the STN and adversarial-transformation ranges were the paper's EMNIST ones on every dataset (other objectives
    take no ranges), and an AWP radius recorded for an objective without AWP (0.005 was every run's default) had
    no effect."""
    record = dict(record)
    if record.get("objective") in ("stn", "adversarial_transformation"):
        record.setdefault("transformation_ranges", "emnist")
    if record.get("objective") not in ("awp", "trades_awp") and record.get("awp_gamma") == 0.005:
        record["awp_gamma"] = None
    return record


def _parses(normalize: str) -> bool:
    try:
        parse_normalization(normalize)
    except ValueError:
        return False
    return True


def _finite_at_least(value: float, low: float) -> bool:
    return math.isfinite(value) and value >= low


@accepts_old_fields
@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (written to the run folder; a resumed run must match it)."""

    # data
    dataset: str = "fashion-mnist"  # the dataset (pyadvman.data.DATASETS)
    dataset_options: dict = field(default_factory=dict)  # passed to load_dataset (e.g. {"path": "my.npz"})
    train_size: int | None = None  # the first N training examples (None: all)
    # model
    model: str = "standard"  # the classifier (pyadvman.models.MODELS), or a factory: package.module:function
    model_options: dict = field(default_factory=dict)  # e.g. {"channels": 32}; a factory's keyword arguments
    normalize: str | None = None  # the model normalises its [0, 1] inputs: cifar10 | cifar100 | imagenet | MEAN,STD
    # objective
    objective: str = "normal"  # the training objective (pyadvman.training.OBJECTIVES)
    adversarial_fraction: float = 0.5  # share of each batch that is perturbed: 0.5 (Stutz et al.), 1.0 (Madry et al.)
    epsilon: float = 0.3  # radius of training attacks in `norm` (images in [0, 1]); η for on-manifold attacks
    # threat model of the image-space attacks: training (PGD objectives), validation and test; linf | l2 | l1 (also
    # "Linf", "L2", "L1"). Code-space training attacks (on-manifold, transformations) keep their own ball; dale: linf
    norm: Norm = "linf"
    train_attack: AttackProtocol = RELEASED_TRAINING  # training attack (TRADES, DALE: only its steps and step size)
    manifold: str | None = None  # on_learned_manifold, reconstruction: a manifold.pt (pyadvman.manifolds.train)
    trades_beta: float = 6.0  # TRADES / MART weight of the KL term
    pairing_weight: float = 1.0  # ALP / CLP weight of the logit-pairing term
    dale_attack: DaleAttack = "gaussian"  # DALE sampler: gaussian | laplacian (LMC) | kl (TRADES attack)
    dale_noise: float = 0.001  # LMC noise scale c
    dale_nu: float = 1.0  # initial ν (weight of the clean loss)
    dale_dual_lr: float = 0.001  # η_d of the dual update ν ← max(0, ν + η_d (CE_clean − ρ)); 0 keeps ν fixed
    dale_margin: float = 0.1  # ρ
    # stn, adversarial_transformation: θ ranges; auto: FONTS' hard (the released code), elsewhere the paper's emnist
    transformation_ranges: TransformationRanges = "auto"
    stn_steps: StnSteps = "joint"  # stn: joint (one 50/50 loss) | separate (a clean step, then a perturbed one: released)
    # awp, trades_awp: relative weight radius γ per layer; None: the authors' (AT-AWP 0.01, TRADES-AWP 0.005)
    awp_gamma: float | None = None
    awp_warmup_epochs: int = 0  # awp, trades_awp: epochs without AWP first (authors: AT 0, TRADES 9 of 200)
    # optimisation (Stutz et al.: Adam, betas (0.5, 0.9), lr 0.01 × 0.95^epoch, weight decay 1e-4, batch 100)
    epochs: int = 20  # training epochs
    batch_size: int = 100  # global batch (split across processes under DDP)
    optimizer: Optimizer = "adam"  # adam | sgd
    lr: float = 0.01  # learning rate (of the first batch, before decay)
    lr_decay: float = 0.95  # the decay of the lr schedule (piecewise: the factor at each milestone, e.g. 0.1)
    # batch: lr·decay^(epoch + 1 + b/B), released code | epoch: lr·decay^epoch | piecewise: ×decay at 50% and 75% of
    # the epochs (Madry et al., Rice et al.: 100 and 150 of 200) | cosine: lr·(1 + cos(π·t/epochs))/2 per batch
    lr_schedule: LrSchedule = "batch"
    betas: tuple[float, float] = (0.5, 0.9)  # Adam's β1, β2
    momentum: float = 0.9  # SGD only
    weight_decay: float = 1e-4
    augmentation: Augmentation = "none"  # crop-flip: random 4-pixel-padded crops and horizontal flips (CIFAR)
    seed: int = 0  # seeds the initialisation, the data order, the augmentation and the attacks
    # validation, checkpoint selection and final evaluation
    validation_examples: int = 1000  # first examples of the validation split used each epoch
    validation_attack: AttackProtocol | None = RELEASED_VALIDATION  # per-epoch robust validation (none: no attack)
    selection: Selection = "auto"  # checkpoint evaluated (auto: robust val. accuracy if adversarial, else clean)
    eval_examples: int = 1000  # first test images attacked in the final evaluation (0: none)
    eval_epsilon: float | None = None  # default: epsilon
    eval_attack: AttackProtocol = RELEASED_EVALUATION  # the final test attack (in `norm`, eval_epsilon)
    # machinery
    checkpoint_minutes: float = 5.0  # also checkpoint mid-epoch this often (0: after every step)
    data_workers: int = 0  # processes that read the training batches ahead (a DataLoader's workers; 0: this one)
    epoch_checkpoints: bool = False  # also keep each epoch's weights in checkpoints/epoch_<k>.pt (flatness study)
    execution: Execution = Execution()  # device, precision (AMP of the training passes), compile mode, ...

    CHOICES: ClassVar[dict] = {"dataset": DATASETS, "model": MODELS, "objective": OBJECTIVES}  # listed by --help

    def __post_init__(self) -> None:
        coerce_nested(self)
        object.__setattr__(self, "norm", canonical_norm(self.norm))
        betas_ok = (isinstance(self.betas, (tuple, list)) and len(self.betas) == 2
                    and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas))
        OBJECTIVES.check(self.objective, "objective")
        check_literal_fields(self)
        checks = [
            (self.model in MODELS or is_factory_path(self.model), "model",
             f"one of {list(MODELS)} or package.module:factory", self.model),
            (self.normalize is None or _parses(self.normalize), "normalize",
             f"None, one of {sorted(NORMALIZATIONS)} or MEAN,STD (channels separated by '/')", self.normalize),
            (0 < self.adversarial_fraction <= 1, "adversarial_fraction", "in (0, 1]", self.adversarial_fraction),
            (self.epochs >= 1, "epochs", ">= 1", self.epochs),
            (self.batch_size >= 2, "batch_size", ">= 2", self.batch_size),
            (self.lr > 0 and math.isfinite(self.lr), "lr", "a finite number > 0", self.lr),
            (_finite_at_least(self.epsilon, 0), "epsilon", "a finite number >= 0", self.epsilon),
            (self.seed >= 0, "seed", "an integer >= 0", self.seed),
            (_finite_at_least(self.trades_beta, 0), "trades_beta", "a finite number >= 0", self.trades_beta),
            (_finite_at_least(self.pairing_weight, 0), "pairing_weight", "a finite number >= 0", self.pairing_weight),
            (_finite_at_least(self.dale_noise, 0), "dale_noise", "a finite number >= 0", self.dale_noise),
            (_finite_at_least(self.dale_nu, 0), "dale_nu", "a finite number >= 0", self.dale_nu),
            (_finite_at_least(self.dale_dual_lr, 0), "dale_dual_lr", "a finite number >= 0", self.dale_dual_lr),
            (_finite_at_least(self.dale_margin, 0), "dale_margin", "a finite number >= 0", self.dale_margin),
            (0 <= self.momentum < 1, "momentum", "in [0, 1)", self.momentum),
            (self.selection != "validation_robust_accuracy" or self._measures_robust_validation(), "selection",
             "a metric that is measured (validation_robust_accuracy needs an adversarial objective, a "
             "validation_attack and validation_examples >= 1)", self.selection),
            (self.train_size is None or self.train_size >= 1, "train_size", ">= 1 or None", self.train_size),
            (self.augmentation == "none" or not OBJECTIVES.entry(self.objective).extras.get("needs_codes"),
             "augmentation", f"'none' for {self.objective} (its attack renders from each image's FONTS code, which "
             "a crop or flip would no longer match)", self.augmentation),
            (self.norm == "linf" or not OBJECTIVES.entry(self.objective).extras.get("linf_only", False), "norm",
             f"'linf' for objective {self.objective} (its sampler is a signed L∞ attack; every other objective "
             "takes l2 and l1)", self.norm),
            (self.checkpoint_minutes >= 0, "checkpoint_minutes", ">= 0", self.checkpoint_minutes),
            (self.data_workers >= 0, "data_workers", ">= 0", self.data_workers),
            (not OBJECTIVES.entry(self.objective).extras.get("needs_manifold") or self.manifold is not None, "manifold",
             f"a manifold.pt path for objective {self.objective}", self.manifold),
            (betas_ok, "betas", "two numbers in [0, 1) (Adam's β1, β2), e.g. 0.5,0.9", self.betas),
            (0 < self.lr_decay <= 1, "lr_decay", "in (0, 1] (a decay; above 1 the learning rate grows each epoch)",
             self.lr_decay),
            (self.awp_gamma is None or _finite_at_least(self.awp_gamma, 0), "awp_gamma", "None or a finite number >= 0",
             self.awp_gamma),
            (self.awp_warmup_epochs >= 0, "awp_warmup_epochs", ">= 0", self.awp_warmup_epochs),
            (self.weight_decay >= 0, "weight_decay", ">= 0", self.weight_decay),
            (self.validation_examples >= 0, "validation_examples", ">= 0", self.validation_examples),
            (self.eval_examples >= 0, "eval_examples", ">= 0", self.eval_examples),
            (self.eval_epsilon is None or _finite_at_least(self.eval_epsilon, 0), "eval_epsilon",
             "a finite number >= 0 or None", self.eval_epsilon),
            (isinstance(self.dataset_options, dict), "dataset_options", "a dict (JSON object)", self.dataset_options),
            (isinstance(self.model_options, dict), "model_options", "a dict (JSON object)", self.model_options),
        ]
        check_fields(checks)
        self._warn_short_steps()

    def _warn_short_steps(self) -> None:
        """Under L2 or L1, a protocol's absolute step size (an L∞ preset's 2/255) can leave its attack unable to
        reach the ball's surface: warns where steps × step_size < ε for a signed-step attack."""
        if self.norm == "linf":
            return
        attacks = (("train_attack", self.train_attack, self.epsilon),
                   ("validation_attack", self.validation_attack, self.evaluation_epsilon),
                   ("eval_attack", self.eval_attack, self.evaluation_epsilon))
        for name, protocol, radius in attacks:
            if protocol is None or protocol.step_size is None or protocol.update == "adam":
                continue
            travel = protocol.steps * protocol.step_size
            if travel < radius:
                warnings.warn(f"{name}: {protocol.steps} steps of {protocol.step_size:g} travel at most {travel:g} in "
                              f"{self.norm}, short of epsilon {radius:g}: set --{name.replace('_', '-')}.step-size "
                              "(none: 2.5·ε/steps)", stacklevel=3)

    @property
    def adversarial(self) -> bool:
        return self.objective != "normal"

    def _measures_robust_validation(self) -> bool:
        return self.adversarial and self.validation_attack is not None and self.validation_examples >= 1

    @property
    def evaluation_epsilon(self) -> float:
        """The radius of validation and test attacks: eval_epsilon, or epsilon when it is None."""
        return self.eval_epsilon if self.eval_epsilon is not None else self.epsilon

    @classmethod
    def from_record(cls, record: dict) -> TrainConfig:
        """The config stored in a run folder (config.json, model.pt), also one of an earlier release, mapped to
        what that run did: the device, compile and amp fields of pyadvman 0.1 are ``execution``'s (amp "none" is
        precision "float32"); ``validation_attack_steps`` k is the eval_attack with k iterations and one restart
        (0: none); runs from before the attack protocols (``attack_steps``, ``attack_alpha``, ``attack_update``,
        ``eval_steps``, ``eval_restarts``, and the lr decayed per epoch) ran signed PGD from a uniform start judged
        by its highest-loss iterate unless Adam was named.

        Raises:
            ConfigError / ValueError: a field that is not valid now.
        """
        return config_from_record(cls, _as_trained(cls.upgrade_record(record)))

    @classmethod
    def upgrade_record(cls, record: dict) -> dict:
        """``record`` (a config.json, or keyword fields) with the fields of earlier releases written as the fields
        they became (see :meth:`from_record`)."""
        record = move_fields(record, _MOVED_TO_EXECUTION)
        if any(key in record for key in _LEGACY_ATTACK_FIELDS):
            train = {"update": record.pop("attack_update", "sign"), "steps": record.pop("attack_steps", 40),
                     "step_size": record.pop("attack_alpha", None)}
            record["train_attack"] = {**asdict(SIGNED_PGD), **train}
            record["eval_attack"] = {**asdict(SIGNED_PGD), "steps": record.pop("eval_steps", 40),
                                     "restarts": record.pop("eval_restarts", 1)}
            record.setdefault("lr_schedule", "epoch")
        if "validation_attack_steps" in record:
            steps = record.pop("validation_attack_steps")
            evaluation = record.get("eval_attack") or RELEASED_EVALUATION
            evaluation = asdict(evaluation) if is_dataclass(evaluation) else evaluation
            record["validation_attack"] = {**evaluation, "steps": steps, "restarts": 1} if steps else None
        return record

    def lr_at(self, epoch: int, batch: int, batches: int) -> float:
        """The learning rate of batch ``batch`` (0-based) of ``batches`` in epoch ``epoch`` (0-based): per batch,
        lr·decay^(epoch + 1 + batch/batches) as the released code of Stutz et al. updates it (its first batch
        already runs at lr·decay), clamped below at 1e-7 as there; per epoch, lr·decay^epoch; piecewise, lr times
        decay from epoch ⌈epochs/2⌉ on and decay² from ⌈3·epochs/4⌉ on (0-based: 100 and 150 of 200 epochs, the
        schedule of Madry et al. and Rice et al. with decay 0.1); cosine, lr·(1 + cos(π·t/epochs))/2 with
        t = epoch + batch/batches (Loshchilov & Hutter 2017, without restarts)."""
        if self.lr_schedule == "epoch":
            return self.lr * self.lr_decay ** epoch
        if self.lr_schedule == "piecewise":
            milestones = (math.ceil(self.epochs / 2), math.ceil(3 * self.epochs / 4))
            return self.lr * self.lr_decay ** sum(epoch >= milestone for milestone in milestones)
        if self.lr_schedule == "cosine":
            return self.lr * (1 + math.cos(math.pi * (epoch + batch / batches) / self.epochs)) / 2
        return max(self.lr * self.lr_decay ** (epoch + 1 + batch / batches), 1e-7)

    @property
    def selection_metric(self) -> str:
        if self.selection != "auto":
            return self.selection
        return "validation_robust_accuracy" if self._measures_robust_validation() else "validation_accuracy"


CIFAR10_TRAINING: dict[str, object] = {
    "dataset": "cifar10", "objective": "madry", "model": "preact_resnet18", "epochs": 200, "optimizer": "sgd", "lr": 0.1, "momentum": 0.9,
    "weight_decay": 5e-4, "batch_size": 128, "lr_schedule": "piecewise", "lr_decay": 0.1,
    "augmentation": "crop-flip", "epsilon": 8 / 255, "adversarial_fraction": 1.0,
    "train_attack": replace(SIGNED_PGD, steps=10, step_size=2 / 255),
    "validation_attack": replace(SIGNED_PGD, steps=10, step_size=2 / 255), "validation_examples": 1000,
    "eval_attack": replace(SIGNED_PGD, steps=20, step_size=2 / 255)}

TRAIN_PRESETS: dict[str, dict[str, object]] = {
    # Stutz et al., CVPR 2019, as their released code trains (docs/protocol.md): 20 epochs, per-batch lr decay,
    # Adam-on-δ training attacks (40 iterations), Adam-on-δ test attacks with 5 restarts, the last epoch evaluated
    "paper": {"selection": "last"},
    # finishes on a 2-core CPU in minutes (Fashion-MNIST: normal ~1 min, 50/50 PGD-10 training ~5 min): signed
    # PGD-10 training, PGD-40 test attacks, per-epoch lr decay
    "quick": {"epochs": 8, "lr_schedule": "epoch", "train_attack": replace(SIGNED_PGD, steps=10),
              "validation_examples": 2000, "validation_attack": replace(SIGNED_PGD, steps=5),
              "eval_attack": SIGNED_PGD},
    # CIFAR-10 adversarial training as Madry et al. (ICLR 2018) and Rice et al. (ICML 2020) run it: PreAct-ResNet-18,
    # SGD (lr 0.1, momentum 0.9, weight decay 5e-4, batch 128), 200 epochs with the lr ×0.1 at 100 and 150, random
    # crops and flips, ε = 8/255, PGD-10 (step 2/255) on every example of a batch (objective madry), PGD-20 test
    # attacks; also AWP's (Wu et al. 2020: --objective awp) and TRADES' (--objective trades, β = 6) recipe
    "cifar10": CIFAR10_TRAINING,
    # the cifar10 recipe at a 2-core CPU's scale: the small ResNet, 10 epochs, PGD-5 training attacks
    "cifar10-quick": {**CIFAR10_TRAINING, "model": "resnet", "model_options": {"channels": 16}, "epochs": 10,
                      "lr": 0.05, "train_attack": replace(SIGNED_PGD, steps=5, step_size=2 / 255),
                      "validation_attack": replace(SIGNED_PGD, steps=5, step_size=2 / 255)},
    # Robey et al., NeurIPS 2021, CIFAR-10 (docs/papers.md §3): ResNet-18, ε 8/255, PGD-10 with step 0.007 from
    # x + 0.001·N(0, I), 200 epochs, PGD-20 test attacks; the paper does not state its CIFAR optimiser, so the
    # cifar10 recipe's is kept
    "robey-cifar10": {**CIFAR10_TRAINING, "model": "resnet18",
                      "train_attack": replace(SIGNED_PGD, steps=10, step_size=0.007, start="gaussian", keep="last"),
                      "eval_attack": replace(SIGNED_PGD, steps=20, step_size=0.007)},
    # Robey et al., NeurIPS 2021, MNIST set-up (docs/papers.md §3): PGD-7 (step 0.1) from x + 0.001·N(0, I)
    "robey-mnist": {"epochs": 50, "optimizer": "sgd", "lr": 0.01, "lr_decay": 1.0, "lr_schedule": "epoch",
                    "momentum": 0.9, "weight_decay": 3.5e-3, "batch_size": 128,
                    "train_attack": replace(SIGNED_PGD, steps=7, step_size=0.1, start="gaussian", keep="last"),
                    "dale_nu": 0.1, "validation_attack": replace(SIGNED_PGD, steps=10),
                    "eval_attack": replace(SIGNED_PGD, steps=10)},
}


def train_config(preset: str = "paper", **overrides: object) -> TrainConfig:
    """The config of ``preset`` (keys of TRAIN_PRESETS) with ``overrides`` applied; fields that neither sets take
    the dataset's defaults where it has some (colour images: epsilon 8/255; ``dataset_defaults``).

    Raises:
        ValueError: an unknown preset or field name, or an invalid value.
    """
    fixed = TRAIN_PRESETS.get(preset, {})
    dataset = overrides.get("dataset", fixed.get("dataset", TrainConfig.dataset))
    defaults = {k: v for k, v in dataset_defaults(dataset).items() if k not in fixed}
    return config_from_preset(TrainConfig, TRAIN_PRESETS, preset, **{**defaults, **overrides})


def _objective_names(**extras: object) -> tuple[str, ...]:
    from pyadvman.training.objective_registry import OBJECTIVES

    return OBJECTIVES.with_extra(*extras.popitem()) if extras else tuple(OBJECTIVES)


__getattr__ = moved_names(__name__, {  # pyadvman 0.1's name lists
    "OBJECTIVE_NAMES": ("tuple(pyadvman.training.OBJECTIVES)", _objective_names),
    "LEARNED_MANIFOLD_OBJECTIVES": ('pyadvman.training.OBJECTIVES.with_extra("needs_manifold")',
                                    lambda: _objective_names(needs_manifold=True)),
    "SELECTIONS": ("typing.get_args(pyadvman.training.config.Selection)",
                   lambda: tuple(s for s in get_args(Selection) if s != "auto")),
    "AMP_MODES": ("pyadvman.precision.PRECISIONS (TrainConfig.execution.precision; amp none is float32)",
                  lambda: ("none", "bf16", "fp16")),
    "DALE_ATTACKS": ("typing.get_args(pyadvman.training.config.DaleAttack)", lambda: get_args(DaleAttack)),
})
