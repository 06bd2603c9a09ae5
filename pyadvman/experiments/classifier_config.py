"""The fields every experiment config shares after the dataset: how its classifiers are trained. The rest of
each TrainConfig is the paper's (Stutz et al.: Adam, betas (0.5, 0.9), lr 0.01 decayed by 0.95, weight decay
1e-4, batches of 100)."""

from __future__ import annotations

from dataclasses import dataclass

from pyadvman._presets import coerce_nested
from pyadvman.attacks.protocol import AttackProtocol
from pyadvman.compilation import COMPILE_MODES
from pyadvman.errors import check_fields
from pyadvman.experiments.data_config import DataConfig
from pyadvman.models import MODELS
from pyadvman.training import TrainConfig, train_config
from pyadvman.training.config import LR_SCHEDULES

# The released training attack scaled to 10 iterations: Adam on δ at lr 0.02, so that lr × iterations (about how
# far a coordinate travels beyond its start) stays the released 40 × 0.005 = 0.2; the claims quick preset.
QUICK_TRAINING = AttackProtocol(steps=10, lr=0.02, keep="last_then_loss")


@dataclass(frozen=True)
class ClassifierConfig(DataConfig):
    """The dataset (DataConfig) and the classifiers' training (defaults: the claims quick preset)."""

    model: str = "standard"  # classifier architecture: standard | resnet | mlp | vgg
    epochs: int = 15  # training epochs (paper: 20)
    lr_schedule: str = "batch"  # batch: lr·0.95^(epoch + 1 + b/B), the released code | epoch: lr·0.95^epoch
    epsilon: float = 0.3  # L∞ radius of regular attacks and regular AT (images in [0, 1])
    train_attack: AttackProtocol = QUICK_TRAINING  # the attack of adversarial training (paper: released code's)
    autoattack_examples: int = 0  # first test images under AutoAttack standard at epsilon (0: none; paper: 1000)
    device: str = "auto"  # auto | cpu | cuda
    compile: str = "auto"  # torch.compile in training and attacks: auto | off | default | reduce-overhead

    def __post_init__(self) -> None:
        coerce_nested(self)
        check_fields([
            (self.model in MODELS, "model", f"one of {sorted(MODELS)}", self.model),
            (self.epochs >= 1, "epochs", ">= 1", self.epochs),
            (self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"one of {LR_SCHEDULES}", self.lr_schedule),
            (self.epsilon >= 0, "epsilon", ">= 0", self.epsilon),
            (self.autoattack_examples >= 0, "autoattack_examples", ">= 0", self.autoattack_examples),
            (self.compile in COMPILE_MODES, "compile", f"one of {COMPILE_MODES}", self.compile),
        ])

    def train_config(self, objective: str, **fields: object) -> TrainConfig:
        """The TrainConfig of one classifier: the paper preset with this config's dataset, model, epochs,
        schedule, ε, training attack, device and compile mode, objective ``objective`` and ``fields`` (train_size,
        seed, ..., which may also replace the shared ones, e.g. epsilon = η for on-manifold training)."""
        shared = {"dataset": self.dataset, "dataset_options": self.loader_options(), "model": self.model,
                  "epochs": self.epochs, "lr_schedule": self.lr_schedule, "epsilon": self.epsilon,
                  "train_attack": self.train_attack, "device": self.device, "compile": self.compile}
        return train_config("paper", objective=objective, **{**shared, **fields})
