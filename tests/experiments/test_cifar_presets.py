"""The CIFAR presets hold the settings docs/studies.md and docs/training.md state, and the flatness study runs on
colour images from an image folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pyadvman.experiments import flatness_study as flatness
from pyadvman.experiments.flatness_study import flatness_config
from pyadvman.training import train_config


def test_the_cifar10_paper_flatness_preset_is_the_iccv_measurement() -> None:
    cfg = flatness_config("cifar10-paper")
    assert (cfg.dataset, cfg.model, cfg.epochs, cfg.epsilon, cfg.train_size) == ("cifar10", "resnet18", 200, 8 / 255,
                                                                                  None)
    robust = cfg.robust_attack
    assert (robust.steps, robust.restarts, robust.step_size, robust.start) == (20, 10, 0.007, "uniform")
    assert (cfg.average_xi, cfg.average_samples, cfg.worst_xi, cfg.worst_passes, cfg.worst_restarts) == (
        0.5, 10, 0.00075, 20, 10)
    assert (cfg.worst_input_step, cfg.examples, cfg.autoattack_examples, cfg.evaluate_every) == (0.007, 1000, 1000, 10)
    model = cfg.train_config("awp", train_size=cfg.train_size, seed=0)
    assert (model.optimizer, model.lr, model.momentum, model.weight_decay, model.batch_size) == ("sgd", 0.1, 0.9,
                                                                                                 5e-4, 128)
    assert (model.lr_schedule, model.lr_decay, model.augmentation, model.adversarial_fraction) == (
        "piecewise", 0.1, "crop-flip", 1.0)
    assert (model.train_attack.steps, model.train_attack.step_size) == (10, 2 / 255)


def test_the_cifar10_quick_flatness_preset_is_its_cpu_scale() -> None:
    cfg = flatness_config("cifar10-quick")
    assert (cfg.model, cfg.model_options, cfg.epochs, cfg.train_size, cfg.examples) == (
        "resnet", {"channels": 16}, 10, 2500, 250)
    assert cfg.variants == ("normal", "adversarial", "trades", "mart", "awp")
    assert cfg.measured_epochs() == (2, 4, 6, 8, 10)
    assert cfg.train_config("normal", seed=0).augmentation == "crop-flip"


def test_the_cifar_training_presets() -> None:
    cifar = train_config("cifar10")
    assert (cifar.model, cifar.epochs, cifar.epsilon, cifar.eval_attack.steps) == ("preact_resnet18", 200, 8 / 255, 20)
    robey = train_config("robey-cifar10", objective="dale")
    assert (robey.model, robey.train_attack.step_size, robey.train_attack.start, robey.train_attack.keep) == (
        "resnet18", 0.007, "gaussian", "last")
    assert train_config("paper", dataset="imagefolder").epsilon == pytest.approx(8 / 255)  # the dataset's default
    assert train_config("paper", dataset="fashion-mnist").epsilon == 0.3
    assert train_config("paper", dataset="imagefolder", epsilon=0.1).epsilon == 0.1


def _colour_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for label, name in enumerate(("a", "b", "c")):
        (root / name).mkdir(parents=True)
        for index in range(60):  # 149 training images: more than the recipe's batch of 128
            pixels = rng.integers(0, 100, (12, 12, 3), dtype=np.uint8)
            pixels[..., label] += 150
            Image.fromarray(pixels).save(root / name / f"{index}.png")
    return root


def test_the_quick_preset_runs_on_an_image_folder(tmp_path) -> None:
    options = {"root": str(_colour_folder(tmp_path / "images")), "validation_size": 6}
    with pytest.raises(ValueError, match=r"train_size must be <= 149 \(the training split of 'images'\), or None"):
        flatness.run(flatness_config("cifar10-quick", dataset="imagefolder", dataset_options=options),
                     tmp_path / "refused", progress=False)
    cfg = flatness_config("cifar10-quick", dataset="imagefolder", dataset_options=options, train_size=None, epochs=2,
                          variants=("adversarial",), examples=8, train_attack={"steps": 1},
                          robust_attack={"steps": 2}, average_samples=1, worst_passes=1, worst_searches=2)
    metrics = flatness.run(cfg, tmp_path / "fl", progress=False)
    assert [(r["variant"], r["epoch"]) for r in metrics["records"]] == [("adversarial", 2)]
    assert metrics["data"]["image_shape"] == [3, 12, 12]
