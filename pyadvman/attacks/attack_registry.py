"""The attacks by name (``pyadvman attack --attack NAME``, ``pyadvman evaluate --attack NAME``), each registered
once with its class (whose fields are its options), its label and what it needs of the data. Adding an attack is
one registration; the command line's options are generated from the class's fields.

Extras an entry may declare: ``defaults`` (field values that differ from the class's: APGD-DLR is APGD with
loss "dlr"), ``targets`` (the class takes AutoAttack's number of target classes for the data's classes),
``on_data(fields, data) -> (attack, per-example extras)`` (the attack is built from the data: the FONTS
renderer and θ range of the on-true-manifold attack), ``needs_manifold`` (it needs a manifold.pt), ``evaluate``
(``pyadvman evaluate`` runs it, at ``evaluate_defaults`` where given: each attack as AutoAttack runs it),
``skips_fooled`` (it skips the targets of examples already fooled, so its pairs have no success rate).
"""

from __future__ import annotations

from pyadvman.attacks.apgd import APGD, APGDTargeted
from pyadvman.attacks.autoattack import AutoAttack
from pyadvman.attacks.fab import FABTargeted
from pyadvman.attacks.on_manifold import LearnedManifoldAttack, TrueManifoldAttack
from pyadvman.attacks.pgd import PGD, fgsm
from pyadvman.attacks.square import Square
from pyadvman.attacks.transformations import TransformationAttack
from pyadvman.data.splits import DatasetSplits
from pyadvman.registry import Registry

ATTACKS: Registry = Registry("attack")


def _on_true_manifold(fields: dict, data: DatasetSplits):
    """The on-true-manifold attack on the test split (its renderer and θ range), with the split's codes and θ."""
    if data.prototypes is None:
        raise ValueError(f"the on-true-manifold attack needs FONTS; the run's dataset is {data.name!r}")
    return TrueManifoldAttack.on_split(data, "test", **fields), {"codes": data.test.codes, "theta": data.test.theta}


ATTACKS.register("pgd", PGD, label="PGD", description="projected gradient descent, L∞, L2 or L1 (Madry et al.)",
                 evaluate=True)
ATTACKS.register("fgsm", fgsm, label="FGSM", description="one signed step of eps (Goodfellow et al.)")
ATTACKS.register("apgd", APGD, label="APGD-CE", description="auto-PGD on cross-entropy (Croce & Hein)")
ATTACKS.register("apgd-dlr", APGD, label="APGD-DLR", description="auto-PGD on the DLR loss",
                 defaults={"loss": "dlr"})
ATTACKS.register("apgd-t", APGDTargeted, label="APGD-T", description="APGD on the targeted DLR loss", targets=True,
                 evaluate=True, evaluate_defaults={"stop_on_success": True}, skips_fooled=True)
ATTACKS.register("fab-t", FABTargeted, label="FAB-T", description="the targeted minimum-norm boundary attack",
                 targets=True, evaluate=True, skips_fooled=True)
ATTACKS.register("square", Square, label="Square", description="the score-based random search (no gradients)",
                 evaluate=True)
ATTACKS.register("autoattack", AutoAttack, label="AutoAttack",
                 description="APGD-CE, APGD-T, FAB-T and Square, each on what the earlier ones left robust",
                 evaluate=True)
ATTACKS.register("on-true-manifold", TrueManifoldAttack, label="on-true-manifold",
                 description="FONTS θ + δ through the renderer", on_data=_on_true_manifold)
ATTACKS.register("on-learned-manifold", LearnedManifoldAttack, label="on-learned-manifold",
                 description="z + ζ through the class VAE-GANs (--manifold PATH)", needs_manifold=True)
ATTACKS.register("transformation", TransformationAttack, label="adversarial transformation",
                 description="the affine parameters of a spatial transformer")
