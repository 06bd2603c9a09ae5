"""The ``pyadvman`` command: options generated from the configs and attacks, errors that name the option, each
subcommand on tiny data, and pyadvman 0.1's spellings."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pyadvman.cli import main


def _claims_config(*args: str):
    """The ClaimsConfig that ``pyadvman run claims ARGS`` runs."""
    from pyadvman.cli import run_command

    return run_command("claims", list(args))[1]


def test_the_dataset_or_manifold_given_picks_the_learned_manifold_quick_preset() -> None:
    from pyadvman.experiments import claims_config

    fonts, learned = claims_config("quick"), claims_config("quick", dataset="fashion-mnist")
    assert fonts.train_sizes != learned.train_sizes  # the two forms differ, so the test can tell them apart
    for args in (["--dataset", "fashion-mnist"], ["--dataset=fashion-mnist"], ["--manifold", "learned"],
                 ["--dataset=fonts", "--dataset", "fashion-mnist"]):
        cfg = _claims_config(*args)
        assert (cfg.train_sizes, cfg.on_manifold_examples, cfg.distance_examples) == \
            (learned.train_sizes, learned.on_manifold_examples, learned.distance_examples), args
    assert _claims_config("--dataset", "fashion-mnist", "--train-sizes", "300", "600").train_sizes == (300, 600)
    assert _claims_config("--dataset", "fashion-mnist", "--preset", "standard").train_sizes == (500, 2500, 10000)
    assert _claims_config("--dataset", "fashion-mnist", "--dataset", "fonts").train_sizes == fonts.train_sizes
    from pyadvman.cli import run_command
    from pyadvman.command_line import OptionError

    with pytest.raises(OptionError, match="Unrecognized options: --manifold"):  # flatness has no manifold field
        run_command("flatness", ["--manifold", "learned"])


def _npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 700)
    images = rng.integers(0, 80, (700, 16, 16))
    for k in range(3):
        images[labels == k, 2 + 5 * k:5 + 5 * k, 2:14] += 150
    np.savez(path, images=images.astype(np.uint8), labels=labels)
    return path


def test_console_script_is_installed_and_lists_the_experiments() -> None:
    script = Path(sys.executable).with_name("pyadvman")
    assert script.is_file()
    out = subprocess.run([str(script), "run", "--help"], capture_output=True, text=True, check=True).stdout
    for name in ("claims", "sample-complexity", "flatness", "spectra"):
        assert name in out


def _help(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.replace("│", " ").split())


def test_experiment_options_come_from_the_config(capsys) -> None:
    text = _help(capsys, "run", "claims")
    assert "--train-sizes [INT [INT ...]]" in text and "N: each model sees the first N training examples" in text
    assert "--knn-k INT" in text and "neighbours of the" in text and "--resume" in text
    assert "--eval-attack.steps INT" in text and "(default: 20)" in text  # the quick preset's value
    assert "--execution.compile {auto,off,default,reduce-overhead}" in text
    paper = _help(capsys, "run", "claims", "--preset", "paper")
    assert "--eval-attack.steps INT iterations; steps + 1 iterates are evaluated (default: 40)" in paper


def test_attack_options_come_from_the_attack_class(capsys) -> None:
    square = _help(capsys, "attack", "--run", "x", "--attack", "square")
    assert "--queries INT" in square and "--protocol" not in square  # Square's own iterations, not PGD's steps
    pgd = _help(capsys, "attack", "--run", "x", "--attack", "pgd")
    assert "--protocol.steps INT" in pgd and "--protocol.update {sign,adam,lmc_gaussian,lmc_laplacian,apgd}" in pgd
    assert "--eps FLOAT" in pgd and "--norm" in pgd


def test_registry_choices_are_listed_once_however_often_a_command_runs(capsys) -> None:
    for _ in range(2):  # the help of a class is cached: listing the choices must not add to it
        text = _help(capsys, "train")
    assert text.count("one of: paper, quick, cifar10,") == 1 and "robey-mnist; one of" not in text


def test_values_are_parsed_to_the_field_types(tmp_path) -> None:
    from pyadvman.configs import config_record

    parsed = _claims_config

    assert parsed("--train-sizes", "500", "2500").train_sizes == (500, 2500)
    assert parsed("--train-sizes", "500,2500").train_sizes == (500, 2500)  # comma-separated, as in 0.1
    assert parsed("--variants", "normal", "adversarial").variants == ("normal", "adversarial")
    assert parsed("--knn-reference-size", "None").knn_reference_size is None
    assert parsed("--dataset-options", '{"path": "a.npz"}').dataset_options == {"path": "a.npz"}
    assert parsed("--epsilon", "8/255").epsilon == pytest.approx(8 / 255)  # fractions
    assert parsed("--apgd-attack", "none").apgd_attack is None
    assert parsed("--apgd-attack.steps", "7").apgd_attack.steps == 7
    cfg = parsed("--eval-attack.restarts", "2", "--execution.compile", "off")
    assert (cfg.eval_attack.restarts, cfg.eval_attack.steps, cfg.execution.compile) == (2, 20, "off")
    recorded = tmp_path / "config.json"
    recorded.write_text(json.dumps({**config_record(cfg), "epochs": 3}))
    again = parsed("--config", str(recorded), "--seeds", "4")
    assert (again.epochs, again.seeds, again.eval_attack.restarts) == (3, (4,), 2)  # a recorded run, varied


def test_the_spellings_of_pyadvman_0_1_give_the_same_config(caplog) -> None:
    parsed = _claims_config

    old = parsed("--train-attack-steps", "3", "--eval-attack-restarts", "2", "--compile", "off", "--apgd-steps", "0",
                 "--train-sizes", "100,200", "--device", "cpu")
    new = parsed("--train-attack.steps", "3", "--eval-attack.restarts", "2", "--execution.compile", "off",
                 "--apgd-attack", "none", "--train-sizes", "100", "200", "--execution.device", "cpu")
    assert old == new and new.apgd_attack is None and new.train_attack.steps == 3 and new.train_sizes == (100, 200)
    assert "--apgd-steps 0 is the spelling of pyadvman 0.1 (removed in 0.3): write --apgd-attack none" in caplog.text
    assert parsed("--apgd-steps", "7").apgd_attack.steps == 7


def test_train_attack_evaluate_and_run_from_the_command_line(tmp_path, capsys) -> None:
    npz = _npz(tmp_path / "d.npz")
    options = json.dumps({"path": str(npz), "test_size": 100, "validation_size": 100})
    assert main(["data", "npz", "--dataset-options", options, "--figure", str(tmp_path / "d.png")]) == 0
    summary = json.loads(capsys.readouterr().out.split("figure:")[0])
    assert (summary["train"], summary["test"], summary["image_shape"]) == (500, 100, [1, 16, 16])
    assert (tmp_path / "d.png").is_file()

    run_dir = tmp_path / "train"
    assert main(["train", "--preset", "quick", "--out", str(run_dir), "--dataset", "npz", "--dataset-options",
                 options, "--epochs", "1", "--eval-examples", "50", "--eval-attack.steps", "2", "--no-progress"]) == 0
    final = json.loads(capsys.readouterr().out)
    assert final == json.loads((run_dir / "final.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    assert config["eval_attack"] == {"update": "sign", "steps": 2, "lr": 0.005, "step_size": None, "restarts": 1,
                                     "start": "uniform", "keep": "loss", "noise_scale": 0.0,
                                     "early_stop": False}  # the quick preset, one field changed
    assert final["attack"]["steps"] == 2 and final["attack"]["examples"] == 50

    assert main(["attack", "--run", str(run_dir), "--eps", "0.3", "--protocol.steps", "5", "--examples", "60",
                 "--out", str(tmp_path / "attack.json")]) == 0
    attack = json.loads(capsys.readouterr().out)
    assert attack == json.loads((tmp_path / "attack.json").read_text())
    assert attack["examples"] == 60 and 0 <= attack["robust_accuracy"] <= attack["clean_accuracy"]
    assert attack["settings"]["protocol"]["steps"] == 5 and attack["settings"]["eps"] == 0.3
    assert main(["attack", "--run", str(run_dir), "--attack", "apgd-dlr", "--eps", "0.3", "--protocol.steps", "3",
                 "--examples", "20"]) == 0
    apgd_dlr = json.loads(capsys.readouterr().out)
    assert apgd_dlr["settings"]["loss"] == "dlr" and 0 <= apgd_dlr["robust_accuracy"] <= 1
    # APGD-T's targeted DLR loss needs a fourth logit: these data have 3 classes
    assert main(["attack", "--run", str(run_dir), "--attack", "apgd-t", "--protocol.steps", "3",
                 "--examples", "20"]) == 2
    assert "the targeted DLR loss needs logits of at least 4 classes, got 3" in capsys.readouterr().err
    assert main(["attack", "--run", str(run_dir), "--attack", "on-true-manifold"]) == 2
    assert "the on-true-manifold attack needs FONTS" in capsys.readouterr().err

    assert main(["evaluate", "--run", str(run_dir), "--protocol.steps", "2", "--examples", "50"]) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert evaluation["test_accuracy"] == final["test_accuracy"] and 0 < evaluation["mean_max_probability"] <= 1
    auto = ["evaluate", "--run", str(run_dir), "--attack", "autoattack", "--version", "rand", "--examples", "20",
            "--batch-size", "10"]
    assert main(auto) == 0
    evaluation = json.loads(capsys.readouterr().out)
    assert evaluation["attack"]["name"] == "AutoAttack (rand)" and evaluation["attack"]["examples"] == 20
    after = evaluation["attack"]["robust_accuracy_after"]
    assert list(after) == ["APGD-CE", "APGD-DLR"] and after["APGD-DLR"] == evaluation["robust_accuracy"]
    state = Path(evaluation["attack"]["state_dir"])
    assert sorted(p.name for p in state.iterdir()) == [".lock", "batch_00000.pt", "batch_00001.pt"]
    assert main(auto) == 0  # resumed from the finished state: the same numbers
    assert json.loads(capsys.readouterr().out)["attack"]["robust_accuracy_after"] == after
    assert main(["evaluate", "--run", str(run_dir), "--attack", "autoattack", "--examples", "20"]) == 2
    assert "AutoAttack's standard version needs a model with at least 4 classes" in capsys.readouterr().err
    for name in ("fab-t", "square"):
        assert main(["evaluate", "--run", str(run_dir), "--attack", name, "--examples", "20", "--eps", "0.05"]) == 0
        evaluation = json.loads(capsys.readouterr().out)
        assert evaluation["attack"]["name"] == {"fab-t": "FAB-T", "square": "Square"}[name]
        assert 0 <= evaluation["robust_accuracy"] <= 1
        steps = {"fab-t": "--steps", "square": "--queries"}[name]
        assert main(["attack", "--run", str(run_dir), "--attack", name, steps, "3", "--examples", "20"]) == 0
        assert 0 <= json.loads(capsys.readouterr().out)["robust_accuracy"] <= 1

    out = tmp_path / "sc"
    args = ["run", "sample-complexity", "--out", str(out), "--dataset", "npz", "--dataset-options", options,
            "--train-sizes", "200", "--variants", "normal", "--epochs", "1", "--eval-attack.steps", "2",
            "--regular-examples", "30", "--on-manifold-examples", "30", "--strong-attack.steps", "2",
            "--apgd-attack.steps", "2", "--vae-gan-options", '{"epochs": 1, "channels": 4, "max_examples": 60}',
            "--no-progress"]
    assert main(args) == 0
    assert "report" in capsys.readouterr().out and (out / "report.md").is_file()
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0


def test_evaluate_and_attack_refuse_data_that_changed_since_training(tmp_path, capsys) -> None:
    npz = _npz(tmp_path / "d.npz")
    options = json.dumps({"path": str(npz), "test_size": 100, "validation_size": 100})
    run_dir = tmp_path / "train"
    assert main(["train", "--preset", "quick", "--out", str(run_dir), "--dataset", "npz", "--dataset-options",
                 options, "--epochs", "1", "--eval-examples", "0", "--no-progress"]) == 0
    capsys.readouterr()
    with np.load(npz) as arrays:
        images, labels = arrays["images"], arrays["labels"]
    np.savez(npz, images=images, labels=(labels + 1) % 3)  # the same file name, other labels
    for command in (["evaluate", "--protocol.steps", "2"], ["attack", "--protocol.steps", "2"]):
        assert main([*command, "--run", str(run_dir), "--examples", "20"]) == 2
        err = capsys.readouterr().err
        assert f"{run_dir} was trained on other data than npz" in err and "content (sha256" in err
        assert "--data-changed-ok" in err and len(err.strip().splitlines()) == 1
        assert main([*command, "--run", str(run_dir), "--examples", "20", "--data-changed-ok"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert any("content (sha256" in d for d in result["data_changed"])


def _run_command(out: Path, npz: Path) -> list[str]:
    options = json.dumps({"path": str(npz), "test_size": 100, "validation_size": 100})
    return [str(Path(sys.executable).with_name("pyadvman")), "run", "sample-complexity", "--out", str(out),
            "--dataset", "npz", "--dataset-options", options, "--manifold", "learned", "--train-sizes", "300",
            "--variants", "normal", "adversarial", "--epochs", "3", "--train-attack.steps", "2", "--eval-attack.steps",
            "3", "--regular-examples", "40", "--on-manifold-examples", "40", "--strong-attack.steps", "2",
            "--apgd-attack.steps", "2", "--vae-gan-options", '{"epochs": 1, "channels": 4, "max_examples": 60}',
            "--no-progress", "--resume"]


def _without_timings(metrics: dict) -> dict:
    return [{k: v for k, v in r.items() if not k.endswith("seconds")} for r in metrics["models"]]


def test_a_killed_run_resumes_to_the_uninterrupted_result(tmp_path) -> None:
    npz = _npz(tmp_path / "d.npz")
    subprocess.run(_run_command(tmp_path / "straight", npz), check=True, capture_output=True)
    straight = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    killed = tmp_path / "killed"
    process = subprocess.Popen(_run_command(killed, npz), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(killed.glob("models/*/checkpoints/last.pt")) and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()  # SIGKILL: no clean-up, mid-training of the first model at the latest
    process.wait()
    assert not (killed / "metrics.json").is_file()
    subprocess.run(_run_command(killed, npz), check=True, capture_output=True)
    resumed = json.loads((killed / "metrics.json").read_text())
    assert _without_timings(resumed) == _without_timings(straight)
