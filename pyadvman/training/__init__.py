"""Training: one loop (:func:`train`) with pluggable objectives (docs/papers.md §1 and §3): normal, adversarial
(50/50 or 100%), on-true-manifold, on-learned-manifold, STN augmentation, adversarial transformations, TRADES,
MART, ALP, CLP and DALE; DDP under torchrun; atomic, resumable checkpoints.

>>> from pyadvman.training import train, train_config
>>> cfg = train_config("quick", dataset="fashion-mnist", objective="adversarial", epsilon=0.1)
>>> result = train(cfg, "runs/fashion-at")                        # doctest: +SKIP
>>> result.final["test_accuracy"], result.final["robust_accuracy"]  # doctest: +SKIP
"""

from pyadvman._compat import moved_names
from pyadvman.training.config import TRAIN_PRESETS, TrainConfig, train_config
from pyadvman.training.evaluation import clean_accuracy, pgd_robustness
from pyadvman.training.loop import TrainResult, load_trained, train
from pyadvman.training.objective_registry import OBJECTIVES, build_objective
from pyadvman.training.objectives import Batch, Objective

__all__ = [
    "OBJECTIVES", "TRAIN_PRESETS", "Batch", "Objective", "TrainConfig", "TrainResult", "build_objective",
    "clean_accuracy", "load_trained", "pgd_robustness", "train", "train_config",
]


__getattr__ = moved_names(__name__, {  # pyadvman 0.1
    "OBJECTIVE_NAMES": ("tuple(pyadvman.training.OBJECTIVES)", lambda: tuple(OBJECTIVES)),
})
