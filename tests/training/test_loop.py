"""The training loop: run folder contents, checkpoint selection on validation data, final evaluation, resume
after SIGKILL with identical weights, config errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from pyadvman.training import load_trained, train, train_config
from pyadvman.training.evaluation import clean_accuracy

sys.path.insert(0, str(Path(__file__).parent))
from conftest import tiny_config, write_blocks_npz

from pyadvman.configs import config_record


def test_run_folder_holds_config_metrics_checkpoints_and_final(blocks, tmp_path) -> None:
    cfg = tiny_config(blocks, objective="adversarial", epochs=3)
    result = train(cfg, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records[:-1]] == [1, 2, 3] and "final" in records[-1]
    assert records[-1]["final"] == json.loads((run / "final.json").read_text()) == result.final
    best_epoch = max(records[:-1], key=lambda r: (r["validation_robust_accuracy"], r["epoch"]))["epoch"]
    assert result.final["checkpoint"] == {"file": "checkpoints/best.pt", "epoch": best_epoch,
                                          "metric": "validation_robust_accuracy",
                                          "value": records[best_epoch - 1]["validation_robust_accuracy"]}
    assert json.loads((run / "config.json").read_text())["objective"] == "adversarial"
    model, loaded_cfg = load_trained(run)
    assert loaded_cfg == cfg
    from pyadvman.data import load_dataset

    data = load_dataset("npz", **cfg.dataset_options)
    assert clean_accuracy(model, data.test.images, data.test.labels) == pytest.approx(result.final["test_accuracy"])
    assert result.final["test_accuracy"] > 0.9  # the blocks are easy
    assert 0 <= result.final["robust_accuracy"] <= result.final["test_accuracy"] + 0.1


@pytest.mark.parametrize("schedule", ["batch", "epoch"])
def test_the_learning_rate_follows_its_schedule_at_every_batch(blocks, tmp_path, monkeypatch, schedule) -> None:
    import pyadvman.training.loop as loop

    seen = []
    make = loop.make_optimizer

    def recording(cfg, model):
        optimizer = make(cfg, model)
        step = optimizer.step
        optimizer.step = lambda *a, **k: (seen.append(optimizer.param_groups[0]["lr"]), step(*a, **k))[1]
        return optimizer

    monkeypatch.setattr(loop, "make_optimizer", recording)
    cfg = tiny_config(blocks, epochs=2, lr_schedule=schedule, train_size=100)  # 5 batches of 20 per epoch
    train(cfg, tmp_path / "run", progress=False)
    if schedule == "batch":  # the released code: 0.01·0.95^(epoch + 1 + b/B) before every batch
        expected = [0.01 * 0.95 ** (e + 1 + b / 5) for e in range(2) for b in range(5)]
    else:
        expected = [0.01 * 0.95 ** e for e in range(2) for _ in range(5)]
    assert seen == pytest.approx(expected, rel=1e-12)


def test_reusing_a_folder_needs_resume_and_the_same_config(blocks, tmp_path) -> None:
    cfg = tiny_config(blocks, epochs=1)
    train(cfg, tmp_path / "run", progress=False)
    with pytest.raises(FileExistsError, match="pass resume=True"):
        train(cfg, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match=r"fields \['lr'\] differ"):
        train(tiny_config(blocks, epochs=1, lr=0.5), tmp_path / "run", resume=True, progress=False)
    again = train(cfg, tmp_path / "run", resume=True, progress=False)  # finished: loads, does not retrain
    assert again.final == json.loads((tmp_path / "run" / "final.json").read_text())


def test_data_workers_read_the_same_batches(blocks, tmp_path) -> None:
    """Batches read ahead by DataLoader workers (with crops and flips) train the same weights as read in place."""
    cfg = tiny_config(blocks, epochs=1, train_size=200, augmentation="crop-flip", eval_examples=0)
    here = train(cfg, tmp_path / "here", progress=False).model.state_dict()
    ahead = train(replace(cfg, data_workers=2), tmp_path / "ahead", progress=False).model.state_dict()
    assert here.keys() == ahead.keys() and all(torch.equal(here[k], ahead[k]) for k in here)


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="objective must be one of"):
        train_config("quick", objective="magic")
    with pytest.raises(ValueError, match="manifold must be a manifold.pt path"):
        train_config("quick", objective="on_learned_manifold")
    with pytest.raises(ValueError, match=r"unknown TrainConfig field\(s\) \['epoch'\]"):
        train_config("quick", epoch=3)
    with pytest.raises(ValueError, match="adversarial_fraction must be in"):
        train_config("quick", adversarial_fraction=0)


_SCRIPT = """
import sys, json
from pyadvman.training import TrainConfig, train
cfg = TrainConfig.from_record(json.loads(sys.argv[1]))
train(cfg, sys.argv[2], resume=len(sys.argv) > 3, progress=False)
"""


def _run(cfg_json: str, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", _SCRIPT, cfg_json, str(out), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=str(out.parent))


# the crops and flips too are drawn again as the uninterrupted run drew them
@pytest.mark.parametrize("objective", [{"objective": "adversarial", "augmentation": "crop-flip"},
                                       {"objective": "awp", "awp_warmup_epochs": 1}])  # killed after AWP starts
def test_sigkill_mid_epoch_then_resume_gives_identical_weights(tmp_path, objective) -> None:
    npz = tmp_path / "blocks.npz"
    write_blocks_npz(npz)
    cfg = tiny_config(npz, **objective, epochs=3, checkpoint_minutes=0.0)
    cfg_json = json.dumps(config_record(cfg))
    straight = _run(cfg_json, tmp_path / "straight")
    assert straight.wait(timeout=300) == 0, straight.stdout.read().decode()

    killed = _run(cfg_json, tmp_path / "killed")
    last = tmp_path / "killed" / "checkpoints" / "last.pt"
    killed_at = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and killed.poll() is None:
        if last.is_file():
            try:
                state = torch.load(last, weights_only=True)
            except (RuntimeError, EOFError, OSError):  # replaced while being read: read the new one
                continue
            if state["epoch"] == 1 and state["step"] >= 5:  # inside the second epoch
                killed.send_signal(signal.SIGKILL)
                killed_at = (state["epoch"], state["step"])
                break
        time.sleep(0.005)
    killed.wait(timeout=60)
    assert killed_at is not None and killed.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (tmp_path / "killed" / "final.json").exists()

    resumed = _run(cfg_json, tmp_path / "killed", "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stdout.read().decode()
    a = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "killed" / "model.pt", weights_only=True)["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    def records(run):
        lines = (tmp_path / run / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]

    assert records("straight") == records("killed")
