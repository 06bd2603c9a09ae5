"""Training configuration: one frozen dataclass with a comment per field, and named presets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import ClassVar

from pyadvman._presets import coerce_nested, config_from_preset
from pyadvman.attacks.protocol import RELEASED_EVALUATION, RELEASED_TRAINING, SIGNED_PGD, AttackProtocol
from pyadvman.compilation import COMPILE_MODES
from pyadvman.errors import check_fields
from pyadvman.models import MODELS

OBJECTIVE_NAMES = ("normal", "adversarial", "on_true_manifold", "on_learned_manifold", "reconstruction", "stn",
                   "adversarial_transformation", "trades", "mart", "alp", "clp", "dale", "awp", "trades_awp")
DALE_ATTACKS = ("gaussian", "laplacian", "kl")
SELECTIONS = ("validation_accuracy", "validation_robust_accuracy", "last")
AMP_MODES = ("none", "bf16", "fp16")
LR_SCHEDULES = ("batch", "epoch")
LEARNED_MANIFOLD_OBJECTIVES = ("on_learned_manifold", "reconstruction")  # the objectives that need a manifold.pt
# TrainConfig fields of runs written before the attack protocols (read by TrainConfig.from_record)
_LEGACY_ATTACK_FIELDS = ("attack_steps", "attack_alpha", "attack_update", "eval_steps", "eval_restarts")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (written to the run folder; a resumed run must match it)."""

    # data
    dataset: str = "fashion-mnist"  # a name of pyadvman.data.DATASETS
    dataset_options: dict = field(default_factory=dict)  # passed to load_dataset (e.g. {"path": "my.npz"})
    train_size: int | None = None  # the first N training examples (None: all)
    # model
    model: str = "standard"  # standard | resnet | mlp | vgg
    model_options: dict = field(default_factory=dict)  # e.g. {"channels": 32}
    # objective
    objective: str = "normal"  # the training objective
    adversarial_fraction: float = 0.5  # share of each batch that is perturbed: 0.5 (Stutz et al.), 1.0 (Madry et al.)
    epsilon: float = 0.3  # L∞ radius of training attacks (images in [0, 1]); η for on-manifold attacks
    train_attack: AttackProtocol = RELEASED_TRAINING  # training attack (TRADES, DALE: only its steps and step size)
    manifold: str | None = None  # on_learned_manifold, reconstruction: a manifold.pt (pyadvman.manifolds.train)
    trades_beta: float = 6.0  # TRADES / MART weight of the KL term
    pairing_weight: float = 1.0  # ALP / CLP weight of the logit-pairing term
    dale_attack: str = "gaussian"  # DALE sampler: gaussian | laplacian (LMC) | kl (TRADES attack)
    dale_noise: float = 0.001  # LMC noise scale c
    dale_nu: float = 1.0  # initial ν (weight of the clean loss)
    dale_dual_lr: float = 0.001  # η_d of the dual update ν ← max(0, ν + η_d (CE_clean − ρ)); 0 keeps ν fixed
    dale_margin: float = 0.1  # ρ
    awp_gamma: float = 0.005  # awp, trades_awp: relative weight radius γ per layer (Wu et al.: 0.005)
    awp_warmup_epochs: int = 0  # awp, trades_awp: epochs without AWP first (authors: AT 0, TRADES 9 of 200)
    # optimisation (Stutz et al.: Adam, betas (0.5, 0.9), lr 0.01 × 0.95^epoch, weight decay 1e-4, batch 100)
    epochs: int = 20
    batch_size: int = 100  # global batch (split across processes under DDP)
    optimizer: str = "adam"  # adam | sgd
    lr: float = 0.01
    lr_decay: float = 0.95  # the decay of the lr schedule
    lr_schedule: str = "batch"  # batch: lr·decay^(epoch + 1 + b/B), released code | epoch: lr·decay^epoch
    betas: tuple[float, float] = (0.5, 0.9)
    momentum: float = 0.9  # SGD only
    weight_decay: float = 1e-4
    seed: int = 0
    # validation, checkpoint selection and final evaluation
    validation_examples: int = 1000  # first examples of the validation split used each epoch
    validation_attack_steps: int = 10  # iterations of the per-epoch robust validation (eval_attack; 0: none)
    selection: str = "auto"  # checkpoint evaluated (auto: robust val. accuracy if adversarial, else clean)
    eval_examples: int = 1000  # first test images attacked in the final evaluation (0: none)
    eval_epsilon: float | None = None  # default: epsilon
    eval_attack: AttackProtocol = RELEASED_EVALUATION  # the final test attack (L∞, eval_epsilon)
    # machinery
    checkpoint_minutes: float = 5.0  # also checkpoint mid-epoch this often (0: after every step)
    epoch_checkpoints: bool = False  # also keep each epoch's weights in checkpoints/epoch_<k>.pt (flatness study)
    amp: str = "none"  # none | bf16 | fp16 (CUDA only)
    compile: str = "auto"  # torch.compile of the model: auto | off | default | reduce-overhead (pyadvman.compilation)
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    OPTION_CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "objective": OBJECTIVE_NAMES, "selection": (*SELECTIONS, "auto"), "dale_attack": DALE_ATTACKS,
        "amp": AMP_MODES, "compile": COMPILE_MODES, "optimizer": ("adam", "sgd"), "lr_schedule": LR_SCHEDULES,
        "model": tuple(MODELS),
    }  # listed by the command's --help

    def __post_init__(self) -> None:
        coerce_nested(self)
        betas_ok = (isinstance(self.betas, (tuple, list)) and len(self.betas) == 2
                    and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas))
        checks = [
            (self.objective in OBJECTIVE_NAMES, "objective", f"one of {OBJECTIVE_NAMES}", self.objective),
            (self.model in MODELS, "model", f"one of {sorted(MODELS)}", self.model),
            (self.dale_attack in DALE_ATTACKS, "dale_attack", f"one of {DALE_ATTACKS}", self.dale_attack),
            (self.selection in (*SELECTIONS, "auto"), "selection", f"one of {(*SELECTIONS, 'auto')}", self.selection),
            (self.amp in AMP_MODES, "amp", f"one of {AMP_MODES}", self.amp),
            (self.compile in COMPILE_MODES, "compile", f"one of {COMPILE_MODES}", self.compile),
            (self.optimizer in ("adam", "sgd"), "optimizer", "adam or sgd", self.optimizer),
            (self.lr_schedule in LR_SCHEDULES, "lr_schedule", f"one of {LR_SCHEDULES}", self.lr_schedule),
            (0 < self.adversarial_fraction <= 1, "adversarial_fraction", "in (0, 1]", self.adversarial_fraction),
            (self.epochs >= 1, "epochs", ">= 1", self.epochs),
            (self.batch_size >= 2, "batch_size", ">= 2", self.batch_size),
            (self.lr > 0, "lr", "> 0", self.lr),
            (self.epsilon >= 0, "epsilon", ">= 0", self.epsilon),
            (self.train_size is None or self.train_size >= 1, "train_size", ">= 1 or None", self.train_size),
            (self.checkpoint_minutes >= 0, "checkpoint_minutes", ">= 0", self.checkpoint_minutes),
            (self.objective not in LEARNED_MANIFOLD_OBJECTIVES or self.manifold is not None, "manifold",
             f"a manifold.pt path for objective {self.objective}", self.manifold),
            (betas_ok, "betas", "two numbers in [0, 1) (Adam's β1, β2), e.g. 0.5,0.9", self.betas),
            (self.lr_decay > 0, "lr_decay", "> 0", self.lr_decay),
            (self.awp_gamma >= 0, "awp_gamma", ">= 0", self.awp_gamma),
            (self.awp_warmup_epochs >= 0, "awp_warmup_epochs", ">= 0", self.awp_warmup_epochs),
            (self.weight_decay >= 0, "weight_decay", ">= 0", self.weight_decay),
            (self.validation_examples >= 0, "validation_examples", ">= 0", self.validation_examples),
            (self.validation_attack_steps >= 0, "validation_attack_steps", ">= 0", self.validation_attack_steps),
            (self.eval_examples >= 0, "eval_examples", ">= 0", self.eval_examples),
            (self.eval_epsilon is None or self.eval_epsilon >= 0, "eval_epsilon", ">= 0 or None", self.eval_epsilon),
            (isinstance(self.dataset_options, dict), "dataset_options", "a dict (JSON object)", self.dataset_options),
            (isinstance(self.model_options, dict), "model_options", "a dict (JSON object)", self.model_options),
        ]
        check_fields(checks)

    @property
    def adversarial(self) -> bool:
        return self.objective != "normal"

    @property
    def evaluation_epsilon(self) -> float:
        """The radius of validation and test attacks: eval_epsilon, or epsilon when it is None."""
        return self.eval_epsilon if self.eval_epsilon is not None else self.epsilon

    @classmethod
    def from_record(cls, record: dict) -> TrainConfig:
        """The config stored in a run folder (config.json, model.pt), also one written before the attack
        protocols (pyadvman 0.1 runs: ``attack_steps``, ``attack_alpha``, ``attack_update``, ``eval_steps``,
        ``eval_restarts``, and the lr decayed per epoch), mapped to what those runs did: signed PGD from a
        uniform start judged by its highest-loss iterate unless Adam was named.

        Raises:
            ConfigError / ValueError: a field that is not valid now.
        """
        record = dict(record)
        if any(key in record for key in _LEGACY_ATTACK_FIELDS):
            train = {"update": record.pop("attack_update", "sign"), "steps": record.pop("attack_steps", 40),
                     "step_size": record.pop("attack_alpha", None)}
            record["train_attack"] = {**asdict(SIGNED_PGD), **train}
            record["eval_attack"] = {**asdict(SIGNED_PGD), "steps": record.pop("eval_steps", 40),
                                     "restarts": record.pop("eval_restarts", 1)}
            record.setdefault("lr_schedule", "epoch")
        if "betas" in record:
            record["betas"] = tuple(record["betas"])
        return cls(**record)

    def lr_at(self, epoch: int, batch: int, batches: int) -> float:
        """The learning rate of batch ``batch`` (0-based) of ``batches`` in epoch ``epoch`` (0-based): per batch,
        lr·decay^(epoch + 1 + batch/batches) as the released code of Stutz et al. updates it (its first batch
        already runs at lr·decay), clamped below at 1e-7 as there; per epoch, lr·decay^epoch."""
        if self.lr_schedule == "epoch":
            return self.lr * self.lr_decay ** epoch
        return max(self.lr * self.lr_decay ** (epoch + 1 + batch / batches), 1e-7)

    @property
    def selection_metric(self) -> str:
        if self.selection != "auto":
            return self.selection
        robust = self.adversarial and self.validation_attack_steps > 0
        return "validation_robust_accuracy" if robust else "validation_accuracy"


TRAIN_PRESETS: dict[str, dict[str, object]] = {
    # Stutz et al., CVPR 2019, as their released code trains (docs/protocol.md): 20 epochs, per-batch lr decay,
    # Adam-on-δ training attacks (40 iterations), Adam-on-δ test attacks with 5 restarts, the last epoch evaluated
    "paper": {"selection": "last"},
    # finishes on a 2-core CPU in minutes (Fashion-MNIST: normal ~1 min, 50/50 PGD-10 training ~5 min): signed
    # PGD-10 training, PGD-40 test attacks, per-epoch lr decay
    "quick": {"epochs": 8, "lr_schedule": "epoch", "train_attack": replace(SIGNED_PGD, steps=10),
              "validation_examples": 2000, "validation_attack_steps": 5, "eval_attack": SIGNED_PGD},
    # Robey et al., NeurIPS 2021, MNIST set-up (docs/papers.md §3): PGD-7 (step 0.1) from x + 0.001·N(0, I)
    "robey-mnist": {"epochs": 50, "optimizer": "sgd", "lr": 0.01, "lr_decay": 1.0, "lr_schedule": "epoch",
                    "momentum": 0.9, "weight_decay": 3.5e-3, "batch_size": 128,
                    "train_attack": replace(SIGNED_PGD, steps=7, step_size=0.1, start="gaussian", keep="last"),
                    "dale_nu": 0.1, "eval_attack": replace(SIGNED_PGD, steps=10)},
}


def train_config(preset: str = "paper", **overrides: object) -> TrainConfig:
    """The config of ``preset`` (keys of TRAIN_PRESETS) with ``overrides`` applied.

    Raises:
        ValueError: an unknown preset or field name, or an invalid value.
    """
    return config_from_preset(TrainConfig, TRAIN_PRESETS, preset, **overrides)
