"""The fields every experiment config shares after the dataset: how its classifiers are trained. The rest of
each TrainConfig is the paper's (Stutz et al.: Adam, betas (0.5, 0.9), lr 0.01 decayed by 0.95, weight decay
1e-4, batches of 100)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import ClassVar

from pyadvman.attacks.protocol import RELEASED_TRAINING, AttackProtocol
from pyadvman.attacks.threat_models import canonical_norm
from pyadvman.configs import (
    accepts_old_fields,
    check_literal_fields,
    coerce_nested,
    config_from_record,
    move_fields,
)
from pyadvman.data import DATASETS
from pyadvman.errors import ConfigError, check_fields
from pyadvman.execution import Execution
from pyadvman.experiments.data_config import DataConfig
from pyadvman.models import MODELS
from pyadvman.training import TRAIN_PRESETS, TrainConfig, train_config
from pyadvman.training.config import LrSchedule, Norm

# The released training attack scaled to 10 iterations: Adam on δ at lr 0.02, so that lr × iterations (about how
# far a coordinate travels beyond its start) stays the released 40 × 0.005 = 0.2; the claims quick preset.
QUICK_TRAINING = replace(RELEASED_TRAINING, steps=10, lr=0.02)
# experiment config fields of pyadvman 0.1 that moved into ``execution``
MOVED_TO_EXECUTION = {"device": ("execution", "device", str), "compile": ("execution", "compile", str)}


@accepts_old_fields
@dataclass(frozen=True)
class ClassifierConfig(DataConfig):
    """The dataset (DataConfig) and the classifiers' training (defaults: the claims quick preset)."""

    model: str = "standard"  # the classifier (pyadvman.models.MODELS)
    model_options: dict = field(default_factory=dict)  # its options, e.g. {"channels": 32, "init": "released"}
    # the TrainConfig preset every model starts from (paper: Stutz et al.'s Adam; cifar10: SGD, crops and flips),
    # before the fields below replace its values
    training_preset: str = "paper"
    epochs: int = 15  # training epochs (paper: 20)
    lr_schedule: LrSchedule = "batch"  # batch: lr·0.95^(epoch + 1 + b/B), the released code | epoch: lr·0.95^epoch
    epsilon: float = 0.3  # radius of regular attacks and regular AT in `norm` (images in [0, 1])
    # the threat model of every image-space attack of the study (regular, strong PGD, APGD, AutoAttack, the robust
    # loss of flatness, the PGD objectives' training attacks): linf | l2 | l1
    norm: Norm = "linf"
    train_attack: AttackProtocol = QUICK_TRAINING  # the attack of adversarial training (paper: released code's)
    autoattack_examples: int = 0  # first test images under AutoAttack standard at epsilon (0: none; paper: 1000)
    execution: Execution = Execution()  # device, compile mode, ... of training and attacks

    CHOICES: ClassVar[dict] = {"dataset": DATASETS, "model": MODELS}  # listed by --help

    def __post_init__(self) -> None:
        coerce_nested(self)
        object.__setattr__(self, "norm", canonical_norm(self.norm))
        check_literal_fields(self)
        check_fields([
            (self.model in MODELS, "model", f"one of {list(MODELS)}", self.model),
            (self.training_preset in TRAIN_PRESETS, "training_preset", f"one of {list(TRAIN_PRESETS)}",
             self.training_preset),
            (self.epochs >= 1, "epochs", ">= 1", self.epochs),
            (self.epsilon >= 0, "epsilon", ">= 0", self.epsilon),
            (self.autoattack_examples >= 0, "autoattack_examples", ">= 0", self.autoattack_examples),
        ])

    @property
    def attack_execution(self) -> Execution:
        """How the study's attacks run: ``execution`` in float32 (its precision is the training's AMP)."""
        return self.execution.in_float32()

    @classmethod
    def from_record(cls, record: dict):
        """The config stored in a run folder (config.json), also one of pyadvman 0.1 (its device and compile
        fields are ``execution``'s; a study's ``apgd_steps`` k is ``apgd_attack`` with k iterations, 0 none;
        the flatness study's ``robust_steps`` and ``robust_restarts`` are ``robust_attack``'s)."""
        return config_from_record(cls, cls.upgrade_record(record))

    @classmethod
    def upgrade_record(cls, record: dict) -> dict:
        """``record`` (a config.json, or keyword fields) with the fields of pyadvman 0.1 written as the fields they
        became (subclasses add their own)."""
        return move_fields(record, MOVED_TO_EXECUTION)

    def train_config(self, objective: str, **fields: object) -> TrainConfig:
        """The TrainConfig of one classifier: the training_preset with this config's dataset, model, epochs,
        schedule, ε, training attack and execution, objective ``objective`` and ``fields`` (train_size, seed, ...,
        which may also replace the shared ones, e.g. epsilon = η for on-manifold training)."""
        shared = {"dataset": self.dataset, "dataset_options": self.loader_options(), "model": self.model,
                  "model_options": self.model_options,
                  "epochs": self.epochs, "lr_schedule": self.lr_schedule, "epsilon": self.epsilon, "norm": self.norm,
                  "train_attack": self.train_attack, "execution": self.execution}
        return train_config(self.training_preset, objective=objective, **{**shared, **fields})


def check_variants(variants: tuple[str, ...], allowed: Iterable[str]) -> None:
    """Raises ConfigError unless a study's ``variants`` is a non-empty tuple of names in ``allowed``."""
    allowed = list(allowed)
    if not variants or any(v not in allowed for v in variants):
        raise ConfigError("variants", f"a non-empty tuple of {allowed}", variants)
