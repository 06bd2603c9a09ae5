"""The spellings of pyadvman 0.1 keep working for one release with a DeprecationWarning that names the new one, and
give what the new spelling gives; removed ones fail with an error that names their replacement (CHANGELOG.md)."""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, replace

import pytest
import torch

from pyadvman.analysis import RobustLoss
from pyadvman.analysis.flatness import FLATNESS_PAPER_ROBUST_LOSS
from pyadvman.attacks import (
    APGD,
    APGD_PROTOCOL,
    PGD,
    RELEASED_EVALUATION,
    AttackProtocol,
    AutoAttack,
    Square,
    TransformationAttack,
    trades_attack,
)
from pyadvman.execution import Execution
from pyadvman.experiments import claims_config, flatness_config
from pyadvman.training import TrainConfig


def test_attack_keywords_of_0_1_go_into_the_protocol_and_the_execution() -> None:
    with pytest.warns(DeprecationWarning, match=r"PGD\(steps=\.\.\., alpha=\.\.\., restarts=\.\.\., keep=\.\.\., "
                                                r"check_model=\.\.\., compile=\.\.\.\) is deprecated.*protocol="):
        old = PGD(eps=0.1, steps=7, alpha=0.02, restarts=3, keep="first_success", check_model=False, compile="off")
    new = PGD(eps=0.1, protocol=AttackProtocol(steps=7, step_size=0.02, restarts=3, keep="first_success"),
              execution=Execution(check_model=False, compile="off"))
    assert old == new
    with pytest.warns(DeprecationWarning):
        assert PGD(objective="kl").loss == "kl"
    with pytest.warns(DeprecationWarning):
        lmc = PGD(noise="laplace", noise_scale=0.01, steps=3)
    assert (lmc.protocol.update, lmc.protocol.noise_scale, lmc.protocol.steps) == ("lmc_laplacian", 0.01, 3)
    with pytest.warns(DeprecationWarning):  # an explicit protocol is the base of the old keywords
        assert PGD(protocol=RELEASED_EVALUATION, restarts=1).protocol == replace(RELEASED_EVALUATION, restarts=1)
    with pytest.warns(DeprecationWarning):
        assert APGD(steps=7).protocol == replace(APGD_PROTOCOL, steps=7)
    with pytest.warns(DeprecationWarning):
        square = Square(restarts=2, check_model=False)
    assert square.restarts == 2 and not square.execution.check_model  # Square's own restarts stay its own
    with pytest.warns(DeprecationWarning):
        assert AutoAttack(compile="off").execution.compile == "off"
    with pytest.warns(DeprecationWarning):
        assert TransformationAttack(eta=0.2, steps=5).protocol.steps == 5
    with pytest.warns(DeprecationWarning):
        robust = RobustLoss(eps=0.1, steps=3, alpha=None, restarts=2, compile="off")
    assert robust.protocol == replace(FLATNESS_PAPER_ROBUST_LOSS, steps=3, step_size=None, restarts=2)
    with pytest.warns(DeprecationWarning, match=r"trades_attack\(alpha=\.\.\.\).*step_size"):
        assert trades_attack(0.1, 5, alpha=0.03).protocol.step_size == 0.03
    with pytest.raises(TypeError, match="init_std=...\\) was removed.*GAUSSIAN_START_STD"):
        PGD(init_std=0.01)


def test_the_old_keywords_compute_what_the_new_ones_do() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 4)).eval()
    x, y = torch.rand(8, 1, 4, 4), torch.arange(8) % 4
    with pytest.warns(DeprecationWarning):
        attack = PGD(eps=0.2, steps=5, restarts=2, check_model=False)
    torch.manual_seed(1)
    old = attack.run(model, x, y)
    torch.manual_seed(1)
    new = PGD(eps=0.2, protocol=AttackProtocol(steps=5, restarts=2), execution=Execution(check_model=False)).run(
        model, x, y)
    assert torch.equal(old.x_adv_restarts, new.x_adv_restarts) and torch.equal(old.success, new.success)


def test_config_fields_of_0_1_are_read_as_the_fields_they_became() -> None:
    with pytest.warns(DeprecationWarning, match=r"TrainConfig\( amp, compile, device, validation_attack_steps"):
        old = TrainConfig(compile="off", device="cpu", amp="none", validation_attack_steps=0)
    assert old == TrainConfig(execution=Execution(compile="off", device="cpu"), validation_attack=None)
    with pytest.warns(DeprecationWarning):
        steps = TrainConfig(validation_attack_steps=4, eval_attack=replace(RELEASED_EVALUATION, lr=0.01))
    assert steps.validation_attack == replace(RELEASED_EVALUATION, lr=0.01, steps=4, restarts=1)  # 0.1's rule
    with pytest.warns(DeprecationWarning):
        study = claims_config("quick", apgd_steps=0, compile="off")
    assert study.apgd_attack is None and study.execution.compile == "off"
    with pytest.warns(DeprecationWarning):
        flat = flatness_config("quick", robust_steps=3, robust_restarts=2)
    assert (flat.robust_attack.steps, flat.robust_attack.restarts, flat.robust_attack.update) == (3, 2, "sign")
    with pytest.raises(TypeError, match="bogus"):  # a field that no release had is an error, as before
        TrainConfig(bogus=1)


def test_a_config_json_of_0_1_loads_and_resumes(tmp_path) -> None:
    from pyadvman.configs import config_record
    from pyadvman.data import DatasetSplits, Split
    from pyadvman.training.run_folder import start_run

    old = {k: v for k, v in config_record(TrainConfig()).items() if k not in ("execution", "validation_attack")}
    for field in ("train_attack", "eval_attack"):  # 0.1's protocols had seven fields
        old[field] = {k: v for k, v in old[field].items() if k not in ("noise_scale", "early_stop")}
    old.update(device="cpu", compile="auto", amp="none", validation_attack_steps=10)
    assert TrainConfig.from_record(old) == TrainConfig(execution=Execution(device="cpu"))
    split = Split(torch.rand(6, 1, 4, 4), torch.arange(6) % 2)
    data = DatasetSplits("toy", ("a", "b"), split, split, split)
    (tmp_path / "config.json").write_text(json.dumps(old))
    (tmp_path / "metrics.jsonl").write_text("{}\n")  # the run holds results
    start_run(tmp_path, TrainConfig(execution=Execution(device="cpu")), data, resume=True)  # the same config
    with pytest.raises(ValueError, match=r"fields \['epochs'\] differ"):
        start_run(tmp_path, TrainConfig(execution=Execution(device="cpu"), epochs=3), data, resume=True)


@pytest.mark.parametrize(("old", "new"), [("pyadvman.attacks.objectives", "pyadvman.attacks.losses"),
                                          ("pyadvman.attacks.search", "pyadvman.attacks.pgd"),
                                          ("pyadvman.training.distributed", "pyadvman.distributed"),
                                          ("pyadvman.manifolds.affine", "pyadvman.data.affine_transforms"),
                                          ("pyadvman.experiments.study", "pyadvman.experiments.study_config")])
def test_a_moved_module_names_where_it_went(old, new) -> None:
    with pytest.raises(ModuleNotFoundError, match=f"{old} moved in pyadvman 0.2: import {new}"):
        importlib.import_module(old)


def test_names_of_0_1_still_import_with_a_warning() -> None:
    import pyadvman.attacks
    import pyadvman.training

    with pytest.warns(DeprecationWarning, match="OBJECTIVE_NAMES"):
        assert pyadvman.training.OBJECTIVE_NAMES == tuple(pyadvman.training.OBJECTIVES)
    with pytest.warns(DeprecationWarning, match="LOSSES"):
        assert pyadvman.attacks.OBJECTIVES is pyadvman.attacks.LOSSES
    assert asdict(AttackProtocol()) == asdict(replace(AttackProtocol(), update="sign"))


@pytest.mark.parametrize("preset", ["paper", "quick", "robey-mnist"])
def test_the_old_validation_steps_read_the_presets_eval_attack(preset) -> None:
    from pyadvman.training import TRAIN_PRESETS, train_config

    with pytest.warns(DeprecationWarning, match="validation_attack_steps"):
        cfg = train_config(preset, validation_attack_steps=3)
    eval_attack = TRAIN_PRESETS[preset].get("eval_attack", RELEASED_EVALUATION)  # 0.1: eval_attack, 3 steps, 1 restart
    assert cfg.validation_attack == replace(eval_attack, steps=3, restarts=1)


def test_names_that_left_a_module_still_import_from_it_with_a_warning() -> None:
    import pyadvman.attacks.robust_evaluation as robust_evaluation
    import pyadvman.training.config as training_config
    import pyadvman.training.loop as loop
    import pyadvman.training.objectives as objectives
    from pyadvman import precision
    from pyadvman.execution import resolve_device
    from pyadvman.training import OBJECTIVES, build_objective

    expected = [(loop, "resolve_device", resolve_device), (objectives, "build_objective", build_objective),
                (robust_evaluation, "Autocast", precision.Autocast),
                (training_config, "OBJECTIVE_NAMES", tuple(OBJECTIVES)),
                (training_config, "LEARNED_MANIFOLD_OBJECTIVES", ("on_learned_manifold", "reconstruction")),
                (training_config, "SELECTIONS", ("validation_accuracy", "validation_robust_accuracy", "last")),
                (training_config, "DALE_ATTACKS", ("gaussian", "laplacian", "kl"))]
    for module, name, value in expected:
        with pytest.warns(DeprecationWarning, match=rf"{module.__name__}\.{name} is deprecated"):
            assert getattr(module, name) == value
    with pytest.raises(AttributeError, match="no attribute 'bogus'"):
        loop.bogus  # noqa: B018


def test_settings_that_0_2_cannot_spell_fail_naming_the_new_spelling() -> None:
    with pytest.raises(TypeError, match=r"protocol must be an AttackProtocol, got 40; .*protocol=AttackProtocol"):
        PGD(0.3, 40)
    with pytest.raises(TypeError, match="LMC noise goes with the signed step"):
        PGD(update="adam", noise="gaussian")


def test_a_studys_attacks_run_in_float32_whatever_the_training_precision() -> None:
    cfg = claims_config("quick", execution=Execution(precision="bf16", compile="off"))
    assert cfg.attack_execution == Execution(precision="float32", compile="off")
    assert cfg.train_config("adversarial").execution.precision == "bf16"  # the training's AMP


def test_a_study_refuses_an_apgd_attack_that_is_not_apgds() -> None:
    from pyadvman.attacks import SIGNED_PGD
    from pyadvman.command_line import switch_nested

    with pytest.raises(ValueError, match="apgd_attack must be None or APGD's protocol"):
        claims_config("quick", apgd_attack=SIGNED_PGD)
    off = replace(claims_config("quick"), apgd_attack=None)
    _, on = switch_nested(["--apgd-attack.steps", "100"], off)  # switched back on from its default, APGD's
    assert on.apgd_attack == claims_config("quick").apgd_attack


def test_a_config_json_of_0_2_is_read_as_what_that_run_did() -> None:
    from pyadvman.experiments.flatness_study import FlatnessConfig

    # 0.2 recorded awp_gamma 0.005 for every objective (no effect without AWP) and no transformation ranges
    # (the EMNIST ones on every dataset); an AWP run keeps the radius it trained with
    old = {"dataset": "fonts", "objective": "stn", "awp_gamma": 0.005}
    read = TrainConfig.from_record(old)
    assert (read.awp_gamma, read.transformation_ranges) == (None, "emnist")
    assert TrainConfig.from_record({"objective": "awp", "awp_gamma": 0.005}).awp_gamma == 0.005
    assert TrainConfig(dataset="fonts", objective="stn").transformation_ranges == "auto"  # new runs: hard on FONTS
    normal = TrainConfig.from_record({"objective": "normal", "awp_gamma": 0.005})  # neither field acts: today's
    assert normal == TrainConfig(objective="normal")
    # a flatness run of 0.2 measured one worst-case search per epoch
    assert FlatnessConfig.from_record({"epochs": 3}).worst_searches == 1
    assert flatness_config().worst_searches == 3
