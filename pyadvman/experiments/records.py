"""The records of a study's grid, as typed data: what one trained model measured (:class:`ModelRecord`, one per
variant × N × seed) and how far its adversarial examples lie from the manifold (:class:`ModelDistances`). They are
written to metrics.json (and cached per model as evaluation.json / distances.json) by ``as_dict`` and read back by
``from_dict``; criteria, figures and reports read their fields.

A rate comes with the number of independent trials behind it (:class:`Rate`): test images for a test error,
correctly classified examples for a success rate (restarts of one example are not independent), attacked examples
for an accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields

# the attacks of a model record, in the order they run: the paper's attack off the manifold ("regular", the
# paper's term for image-space adversarial examples) and on it, the strong evaluation off the manifold (signed PGD,
# APGD-CE) and on it (signed PGD with restarts in code space), and AutoAttack where it ran
ATTACKS = ("regular", "on_manifold", "strong_pgd", "apgd", "strong_on_manifold", "autoattack")
ATTACK_LABELS = {"regular": "paper's attack", "on_manifold": "on-manifold", "strong_pgd": "signed PGD",
                 "apgd": "APGD-CE", "strong_on_manifold": "strong on-manifold", "autoattack": "AutoAttack"}


@dataclass(frozen=True)
class Rate:
    """A proportion and the number of trials behind it; NaN and 0 when it was not measured."""

    value: float
    trials: float


NOT_MEASURED_RATE = Rate(math.nan, 0)


@dataclass
class AttackCounts:
    """One attack on one model (``AttackResult.counts``): examples B, restarts R, correctly classified clean
    examples, successful (example, restart) pairs among them, examples robust under every restart, and the rates."""

    examples: int
    restarts: int
    clean_correct: int
    successful_pairs: int
    robust: int
    clean_accuracy: float
    success_rate: float
    robust_accuracy: float

    @property
    def success(self) -> Rate:
        """The success rate over the correctly classified examples."""
        return Rate(self.success_rate, self.clean_correct)

    @property
    def robustness(self) -> Rate:
        """The robust accuracy over the attacked examples."""
        return Rate(self.robust_accuracy, self.examples)

    @property
    def clean(self) -> Rate:
        """The clean accuracy over the attacked examples."""
        return Rate(self.clean_accuracy, self.examples)

    @classmethod
    def from_dict(cls, record: dict) -> AttackCounts:
        return cls(**record)


@dataclass
class AutoAttackCounts(AttackCounts):
    """AutoAttack's counts, with its robust accuracy after each attack and what its checks found."""

    robust_accuracy_after: dict[str, float] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)


@dataclass
class ModelRecord:
    """One trained model of a grid and what it measured: test error on the whole test split and the attacks of
    ATTACKS (None where an attack did not run), with the seconds each took."""

    name: str
    variant: str
    objective: str
    train_size: int
    seed: int
    epochs: int
    test_examples: int
    test_accuracy: float
    test_error: float
    regular: AttackCounts | None = None
    on_manifold: AttackCounts | None = None
    strong_pgd: AttackCounts | None = None
    apgd: AttackCounts | None = None
    strong_on_manifold: AttackCounts | None = None
    autoattack: AutoAttackCounts | None = None
    attack_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def test_error_rate(self) -> Rate:
        return Rate(self.test_error, self.test_examples)

    def attacks(self) -> dict[str, AttackCounts]:
        """The attacks that ran, by name, in the order of ATTACKS."""
        return {name: getattr(self, name) for name in ATTACKS if getattr(self, name) is not None}

    def as_dict(self) -> dict:
        """The record as metrics.json stores it (the attacks that ran under "attacks")."""
        head = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ATTACKS and f.name != "attack_seconds"}
        return {**head, "attacks": {name: asdict(counts) for name, counts in self.attacks().items()},
                "attack_seconds": dict(self.attack_seconds)}

    @classmethod
    def from_dict(cls, record: dict) -> ModelRecord:
        attacks = record.get("attacks", {})
        typed = {name: (AutoAttackCounts if name == "autoattack" else AttackCounts).from_dict(attacks[name])
                 for name in ATTACKS if name in attacks}
        head = {k: v for k, v in record.items() if k not in ("attacks",)}
        return cls(**head, **typed)


# what a criterion, a figure or a table reads of a model record
Measure = Callable[[ModelRecord], Rate]


def test_error(record: ModelRecord) -> Rate:
    """The test error over the whole test split."""
    return record.test_error_rate


def success_rate(attack: str) -> Measure:
    """The success rate of the attack named ``attack`` (a name of ATTACKS)."""
    return _rate_of(attack, "success")


def robust_accuracy(attack: str) -> Measure:
    """The robust accuracy under the attack named ``attack``."""
    return _rate_of(attack, "robustness")


def clean_accuracy(attack: str) -> Measure:
    """The clean accuracy on the examples the attack named ``attack`` attacked (for the on-manifold attack on a
    learned manifold: on the reconstructions)."""
    return _rate_of(attack, "clean")


def _rate_of(attack: str, rate: str) -> Measure:
    """The measure reading the AttackCounts property ``rate`` of the attack ``attack`` (not measured where it did
    not run).

    Raises (when the measure is read):
        ValueError: an attack that is not a name of ATTACKS.
    """
    def measure(record: ModelRecord) -> Rate:
        if attack not in ATTACKS:
            raise ValueError(f"attack must be one of {ATTACKS}, got {attack!r}")
        counts = getattr(record, attack)
        return getattr(counts, rate) if counts is not None else NOT_MEASURED_RATE
    return measure


ON_MANIFOLD_SUCCESS = success_rate("on_manifold")

# the distance measures of an adversarial example to the manifold (docs/papers.md §1): the kNN approximation
# ("inclusive nn": normalised residual ‖δ − Pδ‖/‖δ‖, angle ∠(δ, Pδ), residual ‖δ − Pδ‖), the perturbation's norm,
# and the distance to the true (FONTS) or learned manifold
# with a PCA neighbour search (ClaimsConfig.knn_pca) also the normalised residual of the pixel-space search
DISTANCE_MEASURES = ("normalised_residual", "angle", "residual", "perturbation_norm", "true_manifold_distance",
                     "learned_manifold_distance", "pixel_normalised_residual")


@dataclass
class AttackDistances:
    """The successful adversarial examples of one attack on one model and their distances to the manifold, one
    value per example (None: not measured, e.g. no true manifold); ``example`` the index of each among the
    attacked test images (shared by both attacks and every model: the bootstrap's clusters; None: each value its
    own)."""

    examples: int
    example: list[int] | None = None
    normalised_residual: list[float] | None = None
    angle: list[float] | None = None
    residual: list[float] | None = None
    perturbation_norm: list[float] | None = None
    true_manifold_distance: list[float] | None = None
    learned_manifold_distance: list[float] | None = None
    pixel_normalised_residual: list[float] | None = None

    def values(self, measure: str) -> list[float]:
        """The values of one of DISTANCE_MEASURES (empty when it was not measured)."""
        if measure not in DISTANCE_MEASURES:
            raise ValueError(f"measure must be one of {DISTANCE_MEASURES}, got {measure!r}")
        return getattr(self, measure) or []

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


# the perturbations whose distances a normal model records: its successful adversarial examples off ("regular")
# and on the manifold, and claim 1's null control on the same test images as the regular ones: uniform sign
# noise at ε ("sign_noise") and Gaussian noise at each adversarial perturbation's L2 norm ("gaussian_noise")
PERTURBATION_KINDS = ("regular", "on_manifold", "sign_noise", "gaussian_noise")


@dataclass
class ModelDistances:
    """A normal model's distances: of its successful regular (the study's norm) and on-manifold adversarial examples, and of the
    null control's noise (None in runs of pyadvman 0.2 and earlier, which did not measure it)."""

    regular: AttackDistances
    on_manifold: AttackDistances
    sign_noise: AttackDistances | None = None
    gaussian_noise: AttackDistances | None = None

    def as_dict(self) -> dict:
        return {kind: getattr(self, kind).as_dict() for kind in PERTURBATION_KINDS if getattr(self, kind) is not None}

    @classmethod
    def from_dict(cls, record: dict) -> ModelDistances:
        return cls(**{kind: AttackDistances(**record[kind]) for kind in PERTURBATION_KINDS if kind in record})

    def of(self, kind: str) -> AttackDistances | None:
        """The distances of the perturbation ``kind`` (one of PERTURBATION_KINDS; None: not measured)."""
        if kind not in PERTURBATION_KINDS:
            raise ValueError(f"kind must be one of {PERTURBATION_KINDS}, got {kind!r}")
        return getattr(self, kind)
