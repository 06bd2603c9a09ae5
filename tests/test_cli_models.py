"""Bring your own model and data on the command line: an image folder trained with `pyadvman train`, a user's
factory trained and evaluated, a checkpoint evaluated, --eps 8/255, and one clear line for each mistake."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pyadvman.cli import main
from pyadvman.training import load_trained, train, train_config

_USER_MODULE = '''
from torch import nn

def tiny(num_classes, width=4):
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(4 * width, num_classes))

class Tiny(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.body = tiny(num_classes)

    def forward(self, x):
        return self.body(x)

def broken(num_classes):
    raise RuntimeError("the factory failed")
'''


def _image_folder(root: Path) -> Path:
    """Three colour classes (red-ish, green-ish, blue-ish noise) of 12 images each, 8×8 PNG."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(("blue", "green", "red")):
        (root / name).mkdir(parents=True)
        for index in range(12):
            pixels = rng.integers(0, 120, (8, 8, 3), dtype=np.uint8)
            pixels[..., 2 - label] += 120
            Image.fromarray(pixels).save(root / name / f"{index}.png")
    return root


@pytest.fixture
def setting(tmp_path, monkeypatch) -> dict:
    (tmp_path / "user_models.py").write_text(_USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    options = json.dumps({"root": str(_image_folder(tmp_path / "images")), "validation_size": 6})
    return {"root": tmp_path, "data": ["--dataset", "imagefolder", "--dataset-options", options]}


def _fast(*extra: str) -> list[str]:
    return ["--epochs", "1", "--batch-size", "10", "--eval-examples", "6", "--validation-examples", "6",
            "--no-progress", *extra]


def test_a_user_factory_trains_and_every_form_of_the_model_evaluates(setting, capsys) -> None:
    run = setting["root"] / "run"
    assert main(["train", "--out", str(run), *setting["data"], "--model", "user_models:tiny", "--model-options",
                 '{"width": 6}', *_fast()]) == 0
    final = json.loads(capsys.readouterr().out)
    assert final["attack"]["epsilon"] == pytest.approx(8 / 255)  # the colour dataset's default radius
    model, cfg = load_trained(run)
    assert cfg.model == "user_models:tiny" and model[0].out_channels == 6
    results = {}
    for form in (["--run", str(run), "--eps", "8/255"], ["--model", str(run / "model.pt")],
                 ["--model", str(run / "checkpoints" / "best.pt")]):  # without --eps: the run's radius
        assert main(["evaluate", *form, "--examples", "6", "--protocol.steps", "3"]) == 0
        captured = capsys.readouterr()
        results[form[1]] = json.loads(captured.out)
        assert results[form[1]]["attack"]["epsilon"] == pytest.approx(8 / 255)
        assert "threat model     Linf, eps = 8/255 (0.03137)" in captured.err
        assert f"clean accuracy   {100 * results[form[1]]['test_accuracy']:.2f}%" in captured.err
    accuracies = {(r["test_accuracy"], r["robust_accuracy"]) for r in results.values()}
    assert len(accuracies) == 1  # the run, its model.pt and its best checkpoint are one model
    assert main(["evaluate", "--run", str(run), "--normalize", "cifar10"]) == 2
    assert "--normalize must be left out for a run or checkpoint (it records its model)" in capsys.readouterr().err
    torch.save(model.state_dict(), setting["root"] / "weights.pt")
    assert main(["evaluate", "--model", "user_models:tiny", "--model-options", '{"width": 6}', "--weights",
                 str(setting["root"] / "weights.pt"), *setting["data"], "--examples", "6",
                 "--protocol.steps", "3"]) == 0
    factory = json.loads(capsys.readouterr().out)
    assert factory["attack"]["epsilon"] == pytest.approx(8 / 255)
    assert factory["test_accuracy"] == results[str(run)]["test_accuracy"]


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "user_models:broken"], "model must be a factory that builds the model (calling "
                                        "user_models:broken(**{'num_classes': 3}) raised RuntimeError: the factory "
                                        "failed)"),
    (["--model", "user_models:tiny", "--weights", "WEIGHTS"], "its weights do not fit Sequential"),
    (["--model", "user_models:tiny", "--model-options", '{"width": 5}'], None),
])
def test_evaluation_mistakes_end_in_one_line(setting, capsys, args, message) -> None:
    torch.save({"model": torch.nn.Linear(3, 3).state_dict()}, setting["root"] / "other.pt")
    args = [arg.replace("WEIGHTS", str(setting["root"] / "other.pt")) for arg in args]
    code = main(["evaluate", *args, *setting["data"], "--examples", "3", "--protocol.steps", "1"])
    err = capsys.readouterr().err
    if message is None:  # an untrained factory model is evaluated like any other
        assert code == 0
        return
    assert code == 2 and message in err
    assert len([line for line in err.splitlines() if line.startswith("pyadvman evaluate: error")]) == 1


def test_run_and_model_are_one_or_the_other(setting, capsys) -> None:
    assert main(["evaluate", *setting["data"]]) == 2
    assert "--model must be given (a run folder, a checkpoint or package.module:factory)" in capsys.readouterr().err
    assert main(["evaluate", "--model", "user_models:tiny"]) == 2
    assert "--dataset must be given for a model without a run" in capsys.readouterr().err


def test_a_module_given_to_train_is_checked_and_its_record_tested(setting, caplog) -> None:
    data_options = json.loads(setting["data"][3])
    cfg = train_config("quick", dataset="imagefolder", dataset_options=data_options, epochs=1, batch_size=10,
                       eval_examples=0, validation_examples=6)
    with pytest.raises(ValueError, match=r"returns logits \[B, 3\] \(3 classes in the data\); for 2 images it "
                                         r"returned \[2, 5\]"):
        train(cfg, setting["root"] / "wrong", model=torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 5)))
    sequential = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 3))
    train(cfg, setting["root"] / "sequential", model=sequential, progress=False)
    assert "the run records the model as torch.nn.modules.container:Sequential, which does not rebuild the module " \
           "given" in caplog.text
    model, _ = load_trained(setting["root"] / "sequential", model=torch.nn.Sequential(torch.nn.Flatten(),
                                                                                       torch.nn.Linear(192, 3)))
    assert torch.equal(model[1].weight, sequential[1].weight)


def test_python_training_of_a_module_and_preact_resnet18(setting) -> None:
    from user_models import Tiny

    data_options = json.loads(setting["data"][3])
    cfg = train_config("quick", dataset="imagefolder", dataset_options=data_options, epochs=1, batch_size=10,
                       eval_examples=6, validation_examples=6, normalize="cifar10")
    result = train(cfg, setting["root"] / "module", model=Tiny(), progress=False)
    assert result.history[0]["epoch"] == 1 and type(result.model).__name__ == "Normalized"
    model, recorded = load_trained(setting["root"] / "module")
    assert recorded.model == "user_models:Tiny" and recorded.normalize == "cifar10"
    assert type(model).__name__ == "Normalized" and type(model.model).__name__ == "Tiny"
    preact = train(train_config("cifar10", dataset="imagefolder", dataset_options=data_options, epochs=1,
                                batch_size=10, eval_examples=3, validation_examples=3,
                                train_attack=replace(train_config("cifar10").train_attack, steps=1)),
                   setting["root"] / "preact", progress=False)
    assert preact.history[0]["epoch"] == 1 and 0 <= preact.final["test_accuracy"] <= 1
