"""The config of the sample-complexity grid (Stutz et al., CVPR 2019, Sec. 4; docs/papers.md §1), shared by the
claims and sample-complexity studies: training variants × training-set sizes N × seeds, and how every model is
attacked: the paper's attack off and on the manifold (the released code's protocol, docs/protocol.md) and the
strong evaluation beside it (signed PGD with restarts, APGD-CE, AutoAttack) at the same ε."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import ClassVar, Literal

from pyadvman.attacks.protocol import (
    APGD_PROTOCOL,
    APGD_REQUIREMENT,
    RELEASED_EVALUATION,
    RELEASED_TRAINING,
    SIGNED_PGD,
    AttackProtocol,
    is_apgd_protocol,
)
from pyadvman.configs import accepts_old_fields
from pyadvman.errors import check_fields
from pyadvman.experiments.classifier_config import ClassifierConfig, check_variants
from pyadvman.training import OBJECTIVES
from pyadvman.training.config import StnSteps

# "on_manifold" is on-true-manifold adversarial training where the dataset has a true manifold (FONTS), else
# on-learned-manifold; the others are TrainConfig objectives (pyadvman.training.OBJECTIVES; "reconstruction": the
# control of on-learned-manifold training, the same images without the attack).
ON_MANIFOLD = "on_manifold"
Manifold = Literal["auto", "true", "learned"]


def variant_label(variant: str) -> str:
    """The name reports give a training variant (its objective's label, pyadvman.training.OBJECTIVES)."""
    return OBJECTIVES.label(variant)


# The released evaluation attack scaled to 20 iterations (Adam on δ at lr 0.01: lr × iterations stays the
# released 0.2), with the released 5 restarts; the quick preset (docs/protocol.md).
QUICK_EVALUATION = replace(RELEASED_EVALUATION, steps=20, lr=0.01)
# The strong evaluation beside the paper's attack: signed PGD from uniform starts, an example fooled when any
# iterate of any restart fools the model; in image space (ε) and in code space (η, the strong on-manifold attack:
# signed steps of 2.5·η/steps cross the whole η-ball, where Adam's steps of about its lr saturate short of it).
STRONG_PGD = replace(SIGNED_PGD, keep="first_success", restarts=5)
# the robust variants of claim 4: released-protocol AT (50/50, Adam on δ) and Madry AT (100%, signed PGD)
ROBUST_VARIANTS = ("adversarial", "madry")


@accepts_old_fields
@dataclass(frozen=True)
class StudyConfig(ClassifierConfig):
    """The models of a study and how they are attacked (defaults: the standard preset on FONTS; the quick preset
    is STUDY_QUICK_PRESET)."""

    train_sizes: tuple[int, ...] = (500, 2500, 10000)  # N: each model sees the first N training examples
    seeds: tuple[int, ...] = (0, 1, 2)  # one model per (variant, N, seed): seeds are the unit; paper: 5 per N
    # training objectives, or on_manifold
    variants: tuple[str, ...] = ("normal", "adversarial", "madry", "on_manifold")
    manifold: Manifold = "auto"  # on-manifold attacks and training: true (FONTS renderer), learned (VAE-GANs) or auto
    vae_gan_preset: str = "quick"  # learned manifold: quick or paper (pyadvman.manifolds.vae_gan)
    vae_gan_options: dict = field(default_factory=dict)  # overrides of the VAE-GAN config, e.g. {"epochs": 2}
    eta: float = 0.3  # L∞ radius of on-manifold attacks and training in code space (θ or z)
    eval_attack: AttackProtocol = QUICK_EVALUATION  # the paper's test attack, off and on the manifold
    regular_examples: int = 500  # first test images attacked off the manifold (paper: 1000)
    on_manifold_examples: int = 1250  # first test images attacked on the manifold (paper: 2500)
    strong_attack: AttackProtocol = replace(STRONG_PGD, steps=20)  # strong evaluation: signed PGD, restarts
    apgd_attack: AttackProtocol | None = replace(APGD_PROTOCOL, steps=50)  # its APGD-CE (paper: 100 steps; none)
    # strong on-manifold attack on the first strong_on_manifold_examples test images (None: none)
    strong_on_manifold_attack: AttackProtocol | None = replace(STRONG_PGD, steps=40)
    stn_steps: StnSteps = "joint"  # the stn variant: one 50/50 loss, or a clean step then a perturbed one (released)

    CHOICES: ClassVar[dict] = {**ClassifierConfig.CHOICES, "variants": (ON_MANIFOLD, *OBJECTIVES)}  # for --help

    def __post_init__(self) -> None:
        super().__post_init__()
        check_variants(self.variants, (ON_MANIFOLD, *OBJECTIVES))
        checks = [
            (len(self.train_sizes) >= 1 and all(n >= 1 for n in self.train_sizes)
             and len(set(self.train_sizes)) == len(self.train_sizes), "train_sizes",
             "a non-empty tuple of distinct sizes >= 1", self.train_sizes),
            (len(self.seeds) >= 1 and all(s >= 0 for s in self.seeds) and len(set(self.seeds)) == len(self.seeds),
             "seeds", "a non-empty tuple of distinct integers >= 0", self.seeds),
            (math.isfinite(self.eta) and self.eta >= 0, "eta", "a finite number >= 0", self.eta),
            (self.regular_examples >= 1, "regular_examples", ">= 1", self.regular_examples),
            (self.on_manifold_examples >= 1, "on_manifold_examples", ">= 1", self.on_manifold_examples),
            (self.apgd_attack is None or is_apgd_protocol(self.apgd_attack), "apgd_attack",
             f"None or {APGD_REQUIREMENT}", self.apgd_attack),
        ]
        check_fields(checks)

    @property
    def strong_on_manifold_examples(self) -> int:
        """The first test images of the strong on-manifold attack: those of both the strong image-space attacks
        and the paper's on-manifold attack."""
        return min(self.regular_examples, self.on_manifold_examples)

    @classmethod
    def upgrade_record(cls, record: dict) -> dict:
        """pyadvman 0.1's ``apgd_steps`` k as ``apgd_attack`` (k iterations; 0: none), and ClassifierConfig's."""
        record = super().upgrade_record(record)
        if "apgd_steps" in record:
            steps = record.pop("apgd_steps")
            record["apgd_attack"] = {"steps": steps} if steps else None
        return record

    def model_train_config(self, objective: str, train_size: int, seed: int, manifold: str | None = None,
                           **fields: object):
        """The TrainConfig of one model of the grid: ClassifierConfig's training with radius eta for on-manifold
        objectives, the model after the last epoch evaluated (as the paper does: selecting on robust validation
        accuracy would prefer a collapsed constant classifier, robust on 1/K of the data, at small N), no robust
        validation and no test attack (the study attacks the model itself, ``evaluate_model``)."""
        return self.train_config(
            objective, train_size=train_size, seed=seed, manifold=manifold,
            epsilon=self.eta if objective.startswith("on_") else self.epsilon, eval_epsilon=self.epsilon,
            selection="last", validation_attack=None, eval_examples=0, stn_steps=self.stn_steps, **fields)


# The quick preset: the standard grid (StudyConfig's defaults) cut to fit three seeds of the claims study on FONTS
# into the main job's 15 minutes on 2 cores, chosen by cost before any run of it: the largest N a quarter
# (2,500 instead of 10,000; the training time of a model grows with N), N = 1,000 between, and 250 test images
# under every attack instead of 500 (and 1,250 on the manifold), so the per-model rates' binomial intervals are
# about 1.4x (and on the manifold 2.2x) wider. Where its verdicts and the standard preset's differ, the standard
# preset's are the evidence (docs/studies.md).
STUDY_QUICK_PRESET: dict[str, object] = {"train_sizes": (500, 1000, 2500), "regular_examples": 250,
                                         "on_manifold_examples": 250}
# The quick preset where the manifold is learned (every dataset but FONTS), cut further by cost before any run of
# it, so that Fashion-MNIST's three seeds fit 15 minutes on 2 cores: every on-manifold pass goes through a class
# VAE-GAN's decoder, several times the classifier's cost, so the grid takes the paper's three smallest N
# (250 / 500 / 1,000: the training time of on-manifold AT grows with N) and both on-manifold attacks 100 test
# images (per-model on-manifold rates' intervals about 1.6x as wide as with 250 images). docs/protocol.md.
STUDY_QUICK_LEARNED_PRESET: dict[str, object] = {**STUDY_QUICK_PRESET, "train_sizes": (250, 500, 1000),
                                                 "on_manifold_examples": 100}


def learns_its_manifold(dataset: object = "fonts", manifold: object = "auto") -> bool:
    """Whether a study on ``dataset`` with ``manifold`` ("auto", "true", "learned") attacks on a learned manifold:
    "learned", or "auto" on any dataset but FONTS (the only one with a renderer). Picks a preset's learned-manifold
    form (a FONTS study with an on-learned-manifold variant fits VAE-GANs too, and keeps the FONTS form)."""
    return manifold == "learned" or (manifold == "auto" and dataset != "fonts")


def study_presets(presets: dict[str, dict], learned: dict[str, dict], overrides: dict[str, object]) -> dict:
    """``presets`` with the entries of ``learned`` (preset name -> its values on a learned manifold) in place of
    theirs where ``overrides`` (the config's dataset and manifold) make the study learn its manifold."""
    if not learns_its_manifold(overrides.get("dataset", "fonts"), overrides.get("manifold", "auto")):
        return presets
    return {**presets, **learned}

PAPER_TRAIN_SIZES = (250, 500, 1000, 1500, 2000, 2500, 5000, 7500, 10000, 15000, 20000, 30000, 40000)

# The paper's scale and the released code's protocol (docs/protocol.md), for a GPU; the quick preset is
# StudyConfig's defaults.
STUDY_PAPER_PRESET: dict[str, object] = {
    "fonts_preset": "paper", "train_sizes": PAPER_TRAIN_SIZES, "seeds": (0, 1, 2, 3, 4),
    "model_options": {"init": "released"},
    "variants": ("normal", "adversarial", "madry", "on_manifold", "on_learned_manifold", "stn",
                 "adversarial_transformation"),
    "vae_gan_preset": "paper", "epochs": 20, "lr_schedule": "batch", "train_attack": RELEASED_TRAINING,
    "eval_attack": RELEASED_EVALUATION, "regular_examples": 1000, "on_manifold_examples": 2500,
    "strong_attack": replace(STRONG_PGD, steps=100), "apgd_attack": APGD_PROTOCOL, "autoattack_examples": 1000,
    "strong_on_manifold_attack": replace(STRONG_PGD, steps=100), "stn_steps": "separate",
}
