"""Attacks on and off the manifold (docs/papers.md §1 and §3), all with one calling convention:

``attack(model, x, y) -> x_adv`` and ``attack.run(model, x, y) -> AttackResult`` (per-restart iterates, success,
loss, clean correctness; ``success_rate()`` and ``robust_accuracy()``). Inputs in [0, 1], logits out, the model in
eval mode while attacking (restored after), gradients w.r.t. the input (or code) only.

>>> from pyadvman.attacks import PGD, AttackProtocol
>>> result = PGD(eps=0.3, protocol=AttackProtocol(steps=40, restarts=5)).run(model, x, y)   # doctest: +SKIP
>>> result.success_rate(), result.robust_accuracy()                                       # doctest: +SKIP
"""

from pyadvman._compat import moved_names
from pyadvman.attacks.apgd import APGD, APGDTargeted
from pyadvman.attacks.autoattack import AutoAttack, AutoAttackResult
from pyadvman.attacks.base import Attack
from pyadvman.attacks.evaluate import attack_in_batches
from pyadvman.attacks.fab import FABTargeted
from pyadvman.attacks.losses import LOSSES
from pyadvman.attacks.model_mode import eval_mode
from pyadvman.attacks.on_manifold import LearnedManifoldAttack, TrueManifoldAttack
from pyadvman.attacks.pgd import (
    PGD,
    fgsm,
    lmc_gaussian,
    lmc_laplacian,
    projected_gradient_search,
    trades_attack,
)
from pyadvman.attacks.protocol import (
    APGD_PROTOCOL,
    RELEASED_EVALUATION,
    RELEASED_TRAINING,
    SIGNED_PGD,
    AttackProtocol,
)
from pyadvman.attacks.result import AttackResult
from pyadvman.attacks.square import Square
from pyadvman.attacks.threat_models import L1Ball, L2Ball, LinfBall
from pyadvman.attacks.transformations import TRANSFORMATION_RANGES, TransformationAttack
from pyadvman.execution import Execution

__all__ = [
    "APGD", "APGDTargeted", "APGD_PROTOCOL", "LOSSES", "PGD", "RELEASED_EVALUATION", "RELEASED_TRAINING",
    "SIGNED_PGD", "TRANSFORMATION_RANGES", "Attack", "AttackProtocol", "AttackResult", "AutoAttack",
    "AutoAttackResult", "Execution", "FABTargeted", "L1Ball", "L2Ball", "LearnedManifoldAttack", "LinfBall", "Square",
    "TransformationAttack", "TrueManifoldAttack", "attack_in_batches", "eval_mode", "fgsm", "lmc_gaussian",
    "lmc_laplacian", "projected_gradient_search", "trades_attack",
]


__getattr__ = moved_names(__name__, {  # pyadvman 0.1: the attacks' losses
    "OBJECTIVES": ("pyadvman.attacks.LOSSES", lambda: LOSSES),
})
