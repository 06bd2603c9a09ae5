"""The command line on a user's mistakes: one line naming the option or file, the expected and the received
value, exit code 2; internal errors keep their traceback; a failed start does not block the corrected command."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pyadvman import cli
from pyadvman.cli import main


def _npz(path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 3
    images = rng.integers(0, 80, (n, 8, 8))
    for k in range(3):
        images[labels == k, 2 * k:2 * k + 2, :] += 150
    np.savez(path, images=images.astype(np.uint8), labels=labels)
    return path


def _train_args(tmp_path, npz, *extra) -> list[str]:
    return ["train", "--preset", "quick", "--out", str(tmp_path / "run"), "--dataset", "npz", "--dataset-options",
            json.dumps({"path": str(npz)}), "--epochs", "1", "--eval-examples", "20", "--eval-attack.steps", "1",
            "--model-options", '{"channels": 4}', "--no-progress", *extra]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    return errors[0]


@pytest.mark.parametrize("extra, expected", [
    (["--betas", "0.5"], "pyadvman train: error: Missing value for argument '--betas'. Expected 2 values."),
    (["--betas", "0.5", "1.5"], ("pyadvman train: error: --betas must be two numbers in [0, 1) (Adam's β1, β2), "
                                 "e.g. 0.5,0.9, got (0.5, 1.5)")),
    (["--validation-examples", "-5"], "pyadvman train: error: --validation-examples must be >= 0, got -5"),
    (["--objective", "magic"], "pyadvman train: error: --objective must be one of ['adversarial', "),
    (["--train-size", "5000"], ("pyadvman train: error: --train-size must be <= 233 (the training split of 'd'), "
                                "got 5000")),
    (["--dataset-options", "{path: x}"], ("pyadvman train: error: --dataset-options must be a dict, as a JSON "
                                          "object such as")),
    (["--train-attack.keep", "best"], ("pyadvman train: error: invalid choice 'best' for argument "
                                       "'--train-attack.keep'. Expected one of ('loss', 'first_success', 'last', "
                                       "'last_then_loss').")),
    (["--eval-attack.restarts", "0"], "pyadvman train: error: --eval-attack.restarts must be an integer >= 1, got 0"),
    (["--train-attack.steps", "2.5"], "pyadvman train: error: --train-attack.steps must be an integer, got '2.5'"),
    (["--batch-size", "1e12"], "pyadvman train: error: --batch-size must be an integer, got '1e12'"),
    (["--batch-size", "1000000000000"], ("pyadvman train: error: --batch-size must be <= the 233 training examples "
                                         "of 'd', got 1000000000000")),
    (["--trades-beta", "-5"], "pyadvman train: error: --trades-beta must be a finite number >= 0, got -5.0"),
    (["--dale-noise", "nan"], "pyadvman train: error: --dale-noise must be a finite number >= 0, got nan"),
    (["--epsilon", "inf"], "pyadvman train: error: --epsilon must be a finite number >= 0, got inf"),
    (["--seed", "-1"], "pyadvman train: error: --seed must be an integer >= 0, got -1"),
    (["--momentum", "1"], "pyadvman train: error: --momentum must be in [0, 1), got 1.0"),
    (["--selection", "validation_robust_accuracy"], ("pyadvman train: error: --selection must be a metric that is "
                                                     "measured (validation_robust_accuracy needs an adversarial")),
    (["--out", ""], "pyadvman train: error: --out must be a path, got an empty string (an unset shell variable?)"),
    (["--model-options", "[" * 5000 + "]" * 5000], ("pyadvman train: error: --model-options must be a JSON object "
                                                    "nested at most a few hundred levels deep")),
    (["--lr-schedule", "linear"], "pyadvman train: error: invalid choice 'linear' for argument '--lr-schedule'"),
    (["--execution.compile", "fast"], ("pyadvman train: error: invalid choice 'fast' for argument "
                                       "'--execution.compile'. Expected one of ('auto', 'off', 'default', "
                                       "'reduce-overhead').")),
    (["--compile", "fast"], "pyadvman train: error: invalid choice 'fast' for argument '--execution.compile'"),
    (["--epsilon", "8/O"], "pyadvman train: error: --epsilon: not a number or a fraction such as 8/255: '8/O'"),
    (["--epoch", "3"], ("pyadvman train: error: Unrecognized options: --epoch, 3; perhaps you meant: "
                        "--awp-warmup-epochs, --epoch-checkpoints, --no-epoch-checkpoints, --epochs")),
])
def test_bad_options_end_with_one_line_naming_them(tmp_path, capsys, extra, expected) -> None:
    npz = _npz(tmp_path / "d.npz")
    assert main(_train_args(tmp_path, npz, *extra)) == 2
    assert _one_line_error(capsys).startswith(expected)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_cuda_device_without_a_gpu_is_named(tmp_path, capsys) -> None:
    npz = _npz(tmp_path / "d.npz")
    assert main(_train_args(tmp_path, npz, "--execution.device", "cuda")) == 2
    assert "--execution.device must be auto or cpu on this machine" in _one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_bad_files_are_named(tmp_path, capsys) -> None:
    np.savez(tmp_path / "nolabels.npz", images=np.zeros((30, 4, 4), np.uint8))
    assert main(_train_args(tmp_path, tmp_path / "nolabels.npz")) == 2
    line = _one_line_error(capsys)
    assert "nolabels.npz: the .npz must hold 'labels'; it holds ['images']" in line
    (tmp_path / "junk.npz").write_bytes(b"\x93NUMPY" + bytes(200))
    assert main(["data", "npz", "--dataset-options", json.dumps({"path": str(tmp_path / "junk.npz")})]) == 2
    assert "junk.npz cannot be read (not a zip archive" in _one_line_error(capsys)
    assert main(["data", "npz", "--dataset-options", "[1]"]) == 2
    assert "--dataset-options must be a dict" in _one_line_error(capsys)
    assert main(["evaluate", "--run", str(tmp_path / "nothing")]) == 2
    assert "run folder " + str(tmp_path / "nothing") + " does not exist" in _one_line_error(capsys)
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "config.json").write_text("{}")
    assert main(["evaluate", "--run", str(tmp_path / "unfinished")]) == 2
    assert "model.pt not found: the run in" in _one_line_error(capsys)


def test_files_that_are_not_what_they_should_be_are_called_what_they_are(tmp_path, capsys) -> None:
    np.savez(tmp_path / "objects.npz", images=np.array([object()] * 4, dtype=object), labels=np.zeros(4, int))
    assert main(["data", "npz", "--dataset-options", json.dumps({"path": str(tmp_path / "objects.npz")})]) == 2
    line = _one_line_error(capsys)
    assert "objects.npz cannot be read (it holds an object (pickled) array" in line and "corrupt" not in line
    (tmp_path / "folder.npz").mkdir()
    assert main(["data", "npz", "--dataset-options", json.dumps({"path": str(tmp_path / "folder.npz")})]) == 2
    assert f"npz dataset '{tmp_path / 'folder.npz'}' is a folder, not a file" in _one_line_error(capsys)
    assert main(["data", "npz", "--dataset-options", '{"path": "/dev/zero"}']) == 2
    assert "/dev/zero cannot be read (not a regular file but a device" in _one_line_error(capsys)
    assert main(["evaluate", "--run", str(tmp_path / "objects.npz")]) == 2
    assert "objects.npz is a file, not a run folder" in _one_line_error(capsys)
    assert main(["evaluate", "--run", str(tmp_path / "folder.npz")]) == 2
    assert "folder.npz is not a run folder (no config.json, no model.pt)" in _one_line_error(capsys)


@pytest.mark.parametrize("command, expected", [
    (["data", "npz"], "pyadvman data: error: dataset 'npz' needs the options ['path'] (on the command line: "
                      "--dataset-options '{\"path\": ...}')"),
    (["train", "--dataset", "npz", "--out", "unused"], "pyadvman train: error: dataset 'npz' needs the options "
                                                       "['path']"),
    (["manifold", "--dataset", "idx", "--out", "unused"], "pyadvman manifold: error: --path must be the .npz file "
                                                          "(npz) or IDX folder (idx) for --dataset idx, got None"),
])
def test_a_dataset_without_its_file_is_one_line(command, expected, capsys) -> None:
    assert main(command) == 2
    assert _one_line_error(capsys).startswith(expected)
    assert not Path("unused").exists()


def test_data_takes_the_dataset_options_spelling_of_the_other_commands(tmp_path, capsys, caplog) -> None:
    npz = json.dumps({"path": str(_npz(tmp_path / "d.npz"))})
    assert main(["data", "npz", "--dataset-options", npz]) == 0
    assert json.loads(capsys.readouterr().out)["train"] == 233
    assert main(["data", "npz", "--options", npz]) == 0
    assert json.loads(capsys.readouterr().out)["train"] == 233
    assert "write --dataset-options" in caplog.text


def test_a_manifold_given_to_an_attack_that_does_not_use_it_is_refused(capsys) -> None:
    assert main(["attack", "--run", "x", "--attack", "pgd", "--manifold", "m.pt"]) == 2
    assert ("pyadvman attack: error: --manifold must be given only with --attack on-learned-manifold (--attack pgd "
            "does not use it), got 'm.pt'") in _one_line_error(capsys)


def test_counts_of_attack_commands_are_checked_before_any_work(capsys) -> None:
    assert main(["attack", "--run", "x", "--examples", "-5"]) == 2
    assert "pyadvman attack: error: --examples must be >= 1, got -5" in _one_line_error(capsys)


def test_an_unknown_attack_is_named(capsys) -> None:
    assert main(["attack", "--run", "x", "--attack", "pdg"]) == 2
    assert "pyadvman attack: error: --attack must be one of ['apgd', 'apgd-dlr', " in _one_line_error(capsys)


def test_an_unknown_compile_mode_is_refused_by_the_parser(capsys) -> None:
    assert main(["attack", "--run", "x", "--execution.compile", "fast"]) == 2
    assert "invalid choice 'fast' for argument '--execution.compile'" in _one_line_error(capsys)


def test_a_failed_start_does_not_block_the_corrected_command(tmp_path, capsys) -> None:
    npz = _npz(tmp_path / "d.npz")
    assert main(_train_args(tmp_path, npz, "--objective", "adversarial", "--validation-attack.steps", "1",
                            "--train-size", "5000")) == 2
    assert "--train-size must be <= 233" in _one_line_error(capsys)
    assert main(_train_args(tmp_path, npz)) == 0
    assert (tmp_path / "run" / "final.json").is_file()


def test_damaged_run_files_are_named(tmp_path, capsys) -> None:
    npz = _npz(tmp_path / "d.npz")
    assert main(_train_args(tmp_path, npz)) == 0
    capsys.readouterr()
    (tmp_path / "run" / "config.json").write_text("{")
    assert main([*_train_args(tmp_path, npz), "--resume"]) == 2
    assert "config.json cannot be read (invalid JSON" in _one_line_error(capsys)


def test_internal_errors_keep_their_traceback(monkeypatch, capsys) -> None:
    def broken(args):
        raise IndexError("a bug")
    monkeypatch.setitem(cli.COMMANDS, "data", (broken, "broken"))
    with pytest.raises(IndexError, match="a bug"):
        main(["data", "fonts"])


def test_traceback_on_request(tmp_path) -> None:
    script = Path(sys.executable).with_name("pyadvman")
    done = subprocess.run([str(script), "data", "npz", "--dataset-options", '{"path": "/no/such.npz"}'],
                          capture_output=True, text=True, env={"PYADVMAN_TRACEBACK": "1", "PATH": "/usr/bin"},
                          check=False)
    assert done.returncode == 1 and "Traceback" in done.stderr and "FileNotFoundError" in done.stderr


@pytest.mark.parametrize("value", ["0", "false", ""])
def test_traceback_off_values_keep_the_one_line(value, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PYADVMAN_TRACEBACK", value)
    assert main(["data", "npz", "--dataset-options", '{"path": "/no/such.npz"}']) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "/no/such.npz" in err and len(err.strip().splitlines()) == 1


def test_train_help_lists_the_values_not_constant_names(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "OBJECTIVES" not in text.replace("pyadvman.training.OBJECTIVES", "") and "SELECTIONS" not in text
    assert "one of: normal, adversarial, madry, on_true_manifold" in text
    assert "--selection {auto,validation_accuracy,validation_robust_accuracy,last}" in text


def test_ctrl_c_ends_in_one_line_that_says_how_to_continue(tmp_path) -> None:
    import signal
    import time

    npz = _npz(tmp_path / "d.npz")
    args = _train_args(tmp_path, npz, "--epochs", "200", "--checkpoint-minutes", "0")  # the last --epochs counts
    script = Path(sys.executable).with_name("pyadvman")
    # SIGINT's default handler even when the suite runs in the background (which leaves SIGINT ignored)
    process = subprocess.Popen([str(script), *args], stderr=subprocess.PIPE, text=True,
                               env={"PATH": "/usr/bin", "OMP_NUM_THREADS": "1"},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=60)[1]
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert ("pyadvman train: interrupted; the run folder keeps its last checkpoint: the same command with --resume "
            "continues it") in stderr.splitlines()[-1]


def _left_over_temporaries(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_a_full_disk_ends_in_one_line_naming_the_folder_and_leaves_no_temporary_file(tmp_path, capsys,
                                                                                       monkeypatch) -> None:
    npz = _npz(tmp_path / "d.npz")

    def full_disk(descriptor):  # a checkpoint's bytes that do not fit on the disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    assert main(_train_args(tmp_path, npz)) == 2
    line = _one_line_error(capsys)
    assert f"cannot write config.json in {tmp_path / 'run'} (No space left on device); the file is unchanged" in line
    assert _left_over_temporaries(tmp_path / "run") == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_really_full_tmpfs_ends_the_same_way(tmp_path, capsys) -> None:
    npz = _npz(tmp_path / "d.npz")
    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=False,
                      capture_output=True).returncode != 0:
        pytest.skip("this container cannot mount a tmpfs")
    try:
        args = _train_args(tmp_path, npz, "--out", str(disk / "run"), "--model-options", '{"channels": 64}')
        assert main(args) == 2
        line = _one_line_error(capsys)
        assert "cannot write " in line and str(disk / "run") in line and "No space left on device" in line
        assert _left_over_temporaries(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_model_file_of_another_architecture_or_kind_is_named(tmp_path, capsys) -> None:
    npz = _npz(tmp_path / "d.npz")
    assert main(_train_args(tmp_path, npz)) == 0
    capsys.readouterr()
    model = tmp_path / "run" / "model.pt"
    saved = torch.load(model, weights_only=True)
    saved["config"]["model_options"] = {"channels": 8}  # the weights are of 4 channels
    torch.save(saved, model)
    assert main(["evaluate", "--run", str(tmp_path / "run"), "--examples", "5"]) == 2
    line = _one_line_error(capsys)
    assert f"{model} cannot be read (its weights do not fit StandardClassifier (size mismatch for " in line
    torch.save({"config": {}, "state": {}}, model)  # e.g. a manifold.pt copied over model.pt
    assert main(["evaluate", "--run", str(tmp_path / "run"), "--examples", "5"]) == 2
    assert "model.pt cannot be read (not the model.pt of a pyadvman run (it lacks config" in _one_line_error(capsys)


def test_a_folder_of_other_files_is_never_written_over(tmp_path, capsys) -> None:
    npz = _npz(tmp_path / "d.npz")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.pt").write_bytes(b"the user's own model")
    assert main(_train_args(tmp_path, npz)) == 2
    assert "holds files that are not a pyadvman run's (['model.pt']), which a new run would overwrite" in \
        _one_line_error(capsys)
    assert (tmp_path / "run" / "model.pt").read_bytes() == b"the user's own model"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".lock", "model.pt"]  # .lock: the released lock


def test_damaged_or_missing_records_of_a_finished_run_are_named(tmp_path, capsys, caplog) -> None:
    npz = _npz(tmp_path / "d.npz")
    assert main(_train_args(tmp_path, npz)) == 0
    capsys.readouterr()
    run = tmp_path / "run"
    final = (run / "final.json").read_text()
    (run / "final.json").write_text("{}")
    assert main([*_train_args(tmp_path, npz), "--resume"]) == 2
    assert "final.json cannot be read (it lacks a numeric test_accuracy: not the final record of a run)" in \
        _one_line_error(capsys)
    (run / "final.json").write_text(final)
    (run / "data.json").unlink()
    assert main(["evaluate", "--run", str(run), "--examples", "5"]) == 2
    assert "records no data.json (a run of pyadvman 0.1, or the file was deleted), so that npz" in \
        _one_line_error(capsys)
    assert main(["evaluate", "--run", str(run), "--examples", "5", "--data-changed-ok"]) == 0
    assert json.loads(capsys.readouterr().out)["data_changed"] == ["unchecked: the run records no data.json"]
    (run / "config.json").unlink()
    assert main([*_train_args(tmp_path, npz), "--resume"]) == 2
    assert "has no config.json, so resuming it with its own config cannot be checked" in _one_line_error(capsys)


def test_a_config_file_that_is_not_an_object_is_one_line(tmp_path, capsys) -> None:
    (tmp_path / "list.json").write_text("[1, 2]")
    assert main(["train", "--config", str(tmp_path / "list.json"), "--out", str(tmp_path / "run")]) == 2
    assert "--config must be the config.json of a run (a JSON object), got " in _one_line_error(capsys)


def test_printed_and_written_results_are_strict_json(tmp_path, capsys) -> None:
    cli._check_out(tmp_path / "out" / "result.json")  # as attack and evaluate do before the work
    cli._write({"test_accuracy": float("nan"), "robust_accuracy": 0.5}, tmp_path / "out" / "result.json")
    assert json.loads(capsys.readouterr().out) == {"test_accuracy": None, "robust_accuracy": 0.5}  # NaN is not JSON
    assert json.loads((tmp_path / "out" / "result.json").read_text())["test_accuracy"] is None


def test_settings_that_would_not_run_as_recorded_are_refused(tmp_path, capsys, monkeypatch) -> None:
    npz = _npz(tmp_path / "d.npz")
    assert main(_train_args(tmp_path, npz, "--execution.precision", "bf16")) == 2  # CPU training is float32
    assert "--execution.precision must be float32 for training on the CPU" in _one_line_error(capsys)
    assert main(_train_args(tmp_path, npz)) == 0
    capsys.readouterr()
    run = str(tmp_path / "run")
    assert main(["attack", "--run", run, "--attack", "fab-t", "--targets", "5", "--examples", "4"]) == 2
    assert "--targets must be at most classes - 1 = 2 (the model has 3 classes), got 5" in _one_line_error(capsys)
    assert main(["attack", "--run", run, "--attack", "fab-t", "--examples", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["targets"] == 2  # the default 9, lowered, as it ran
    assert main(["evaluate", "--run", run, "--attack", "fab-t", "--targets", "1", "--examples", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["attack"]["settings"]["targets"] == 1  # not replaced by 2


def test_outputs_and_folders_that_cannot_be_written_are_named_before_any_work(tmp_path, capsys, monkeypatch) -> None:
    (tmp_path / "afile").write_text("x")
    assert main(["train", "--preset", "quick", "--out", str(tmp_path / "afile")]) == 2
    assert f"{tmp_path / 'afile'} is a file: the training run needs a folder there" in _one_line_error(capsys)
    assert main(["attack", "--run", "x", "--out", str(tmp_path / "afile" / "r.json")]) == 2  # before loading x
    assert f"{tmp_path / 'afile'}" in _one_line_error(capsys)
    monkeypatch.setenv("PYADVMAN_CACHE", str(tmp_path / "afile"))
    assert main(["data", "fonts"]) == 2
    assert f"{tmp_path / 'afile'} (PYADVMAN_CACHE) is a file: the data cache needs a folder there" in \
        _one_line_error(capsys)
    (tmp_path / "garbage.pt").write_text('{"not": "a checkpoint"}')
    assert main(["attack", "--run", "x", "--attack", "on-learned-manifold", "--manifold",
                 str(tmp_path / "garbage.pt")]) == 2
    line = _one_line_error(capsys)
    assert "x does not exist" in line or "not a torch checkpoint" in line
