"""Runs that lose nothing and print nothing confident from garbage: a diverging loss stops with the last good
checkpoint, damaged checkpoints fall back or say what to do, changed data is refused on resume, failed starts
leave the folder reusable, metrics stay strict JSON."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from pyadvman.errors import ConfigError, DataError, TrainingDivergedError, UnreadableFileError
from pyadvman.execution import resolve_device
from pyadvman.training import load_trained, loop, train

sys.path.insert(0, str(Path(__file__).parent))
from conftest import tiny_config, write_blocks_npz


def _strict_records(path: Path) -> list[dict]:
    def refuse(constant):
        raise AssertionError(f"{path} holds a bare {constant}, which is not JSON")
    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines() if line.strip()]


class _Wrapped:
    """A training objective with ``before(call_number, model)`` run before each of its calls."""

    def __init__(self, inner, before) -> None:
        self.inner, self.before, self.calls = inner, before, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, model, net, batch):
        self.calls += 1
        scale = self.before(self.calls, model)
        loss, logs = self.inner(model, net, batch)
        return loss * scale, logs


def _wrap_objective(monkeypatch, before) -> None:
    real = loop.build_objective
    monkeypatch.setattr(loop, "build_objective", lambda cfg, data: _Wrapped(real(cfg, data), before))


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(blocks, tmp_path, monkeypatch) -> None:
    _wrap_objective(monkeypatch, lambda call, model: float("nan") if call == 50 + 7 else 1.0)  # epoch 2, step 7
    cfg = tiny_config(blocks, epochs=3)
    with pytest.raises(TrainingDivergedError, match=r"the training loss is nan at epoch 2, step 7 of 50; the run "
                                                    r"stopped and keeps its last good checkpoint, .*last\.pt"):
        train(cfg, tmp_path / "run", progress=False)
    saved = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert saved["epoch"] == 1 and saved["step"] == 0
    assert all(bool(torch.isfinite(v).all()) for v in saved["model"].values() if v.is_floating_point())
    assert not (tmp_path / "run" / "final.json").exists()
    assert [r["epoch"] for r in _strict_records(tmp_path / "run" / "metrics.jsonl")] == [1]


def test_nan_weights_are_never_checkpointed(blocks, tmp_path, monkeypatch) -> None:
    def break_weights(call, model):
        if call == 50:  # the last step of epoch 1: a finite loss, NaN gradients, so NaN weights
            next(model.parameters()).register_hook(lambda grad: grad * float("nan"))
        return 1.0

    _wrap_objective(monkeypatch, break_weights)
    with pytest.raises(TrainingDivergedError, match=r"the weights hold NaN or inf at the end of epoch 1; .*keeps its "
                                                    r"last good checkpoint, none"):
        train(tiny_config(blocks, epochs=2), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()


def test_resume_refuses_data_that_changed(tmp_path) -> None:
    npz = tmp_path / "blocks.npz"
    write_blocks_npz(npz)
    cfg = tiny_config(npz, epochs=2)
    with pytest.raises(KeyboardInterrupt):
        _train_until(cfg, tmp_path / "run", stop_after_epoch=1)
    stored = json.loads((tmp_path / "run" / "data.json").read_text())
    assert stored["splits"]["train"]["count"] == 1000 and stored["provenance"]["split"] == "stratified"
    write_blocks_npz(npz, seed=1)  # same shape and size, other images
    with pytest.raises(DataError, match=r"was started on other data than given now \(.*train content \(sha256 "
                                        r"[0-9a-f]{12}… vs [0-9a-f]{12}…\).*\); resume it with the data it started on"):
        train(cfg, tmp_path / "run", resume=True, progress=False)
    write_blocks_npz(npz, n=1300)
    with pytest.raises(DataError, match=r"train count 1000 vs 900"):
        train(cfg, tmp_path / "run", resume=True, progress=False)
    write_blocks_npz(npz)
    assert train(cfg, tmp_path / "run", resume=True, progress=False).history[-1]["epoch"] == 2


def _train_until(cfg, out, stop_after_epoch):
    """train() interrupted (KeyboardInterrupt) right after epoch ``stop_after_epoch`` was checkpointed."""
    original = loop.RunFolder.append_metrics

    def append_then_stop(self, record):
        original(self, record)
        if record.get("epoch") == stop_after_epoch:
            raise KeyboardInterrupt
    loop.RunFolder.append_metrics = append_then_stop
    try:
        return train(cfg, out, progress=False)
    finally:
        loop.RunFolder.append_metrics = original


def test_a_damaged_last_checkpoint_falls_back_to_the_previous_one(blocks, tmp_path, caplog) -> None:
    cfg = tiny_config(blocks, epochs=3)
    straight = train(cfg, tmp_path / "straight", progress=False)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _train_until(cfg, run, stop_after_epoch=2)
    assert torch.load(run / "checkpoints" / "previous.pt", weights_only=True)["epoch"] == 1
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated by a full disk
    resumed = train(cfg, run, resume=True, progress=False)
    assert "previous.pt, takes over; resuming from" in caplog.text
    assert "no readable checkpoint" not in caplog.text  # the message of the case without previous.pt
    assert [r["epoch"] for r in _strict_records(run / "metrics.jsonl") if "epoch" in r] == [1, 2, 3]
    assert resumed.final == straight.final  # epoch 2 is trained again, to the same weights


def test_a_damaged_last_checkpoint_without_a_previous_one_says_how_to_restart(blocks, tmp_path) -> None:
    cfg = tiny_config(blocks, epochs=2)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _train_until(cfg, run, stop_after_epoch=1)
    (run / "checkpoints" / "last.pt").write_bytes(b"garbage")
    with pytest.raises(UnreadableFileError, match=r"last\.pt cannot be read \(.*\); no readable checkpoint is kept: "
                                                  r"delete .*checkpoints and metrics\.jsonl to train from the start"):
        train(cfg, run, resume=True, progress=False)


def test_resume_without_a_checkpoint_starts_over_without_duplicate_epochs(blocks, tmp_path) -> None:
    cfg = tiny_config(blocks, epochs=2)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _train_until(cfg, run, stop_after_epoch=1)
    (run / "checkpoints" / "last.pt").unlink()
    train(cfg, run, resume=True, progress=False)
    assert [r["epoch"] for r in _strict_records(run / "metrics.jsonl") if "epoch" in r] == [1, 2]


def test_damaged_finished_files_name_the_file_and_the_remedy(blocks, tmp_path) -> None:
    cfg = tiny_config(blocks, epochs=1)
    run = tmp_path / "run"
    result = train(cfg, run, progress=False)
    (run / "model.pt").write_bytes(b"\x00" * 100)
    with pytest.raises(UnreadableFileError, match=r"model\.pt cannot be read .*; delete model\.pt and final\.json and "
                                                  r"run again with resume"):
        load_trained(run)
    (run / "model.pt").unlink()
    (run / "final.json").unlink()
    assert train(cfg, run, resume=True, progress=False).final == result.final  # re-evaluated from best.pt
    (run / "checkpoints" / "best.pt").write_bytes(b"PK\x03\x04 broken")
    (run / "model.pt").unlink()
    (run / "final.json").unlink()
    with pytest.raises(UnreadableFileError, match=r"best\.pt cannot be read .*; the selected checkpoint is damaged: "
                                                  r"delete .* and train again"):
        train(cfg, run, resume=True, progress=False)
    (run / "config.json").write_text("{not json")
    with pytest.raises(UnreadableFileError, match=r"config\.json cannot be read \(invalid JSON"):
        train(cfg, run, resume=True, progress=False)


def test_a_failed_start_leaves_the_folder_reusable(blocks, tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"train_size must be <= 1000 \(the training split of 'blocks'\), got 5000"):
        train(tiny_config(blocks, train_size=5000), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # checked before anything is written
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps({"objective": "something else"}))
    train(tiny_config(blocks, epochs=1), tmp_path / "run", progress=False)  # a folder with no results is reused
    assert (tmp_path / "run" / "final.json").is_file()


def test_an_empty_validation_split_needs_last_checkpoint_selection_and_writes_null(tmp_path) -> None:
    npz = tmp_path / "blocks.npz"
    write_blocks_npz(npz, n=300)
    options = {"path": str(npz), "test_size": 40, "validation_size": 0}
    with pytest.raises(ConfigError, match=r"selection must be 'last' when no validation examples are used"):
        train(tiny_config(npz, dataset_options=options), tmp_path / "run", progress=False)
    train(tiny_config(npz, dataset_options=options, selection="last", epochs=1), tmp_path / "run", progress=False)
    records = _strict_records(tmp_path / "run" / "metrics.jsonl")
    assert records[0]["validation_accuracy"] is None  # not measured: null, never a bare NaN


def test_a_nan_pixel_never_reaches_training(tmp_path) -> None:
    images = np.random.default_rng(0).random((200, 8, 8)).astype(np.float32)
    images[3, 1, 1] = np.nan
    np.savez(tmp_path / "nan.npz", images=images, labels=np.arange(200) % 4)
    with pytest.raises(DataError, match="NaN or infinite"):
        train(tiny_config(tmp_path / "nan.npz", dataset_options={"path": str(tmp_path / "nan.npz")}),
              tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_device_errors_name_the_option() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match=r"device must be auto or cpu on this machine \(torch .* sees no CUDA "
                                          r"device\), got 'cuda'"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match=r"device must be auto, cpu, cuda or cuda:N, got 'gpu'"):
        resolve_device("gpu")


def test_a_run_that_fails_in_its_first_epoch_leaves_the_folder_reusable(blocks, tmp_path, monkeypatch) -> None:
    with monkeypatch.context() as patch:
        _wrap_objective(patch, lambda call, model: float("nan") if call == 3 else 1.0)
        with pytest.raises(TrainingDivergedError, match="at epoch 1, step 3 of 50"):
            train(tiny_config(blocks, epochs=1), tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "config.json").is_file()  # started, but produced nothing
    result = train(tiny_config(blocks, epochs=1, lr=0.005), tmp_path / "run", progress=False)  # corrected
    assert result.final["test_accuracy"] > 0.5


def test_a_damaged_last_checkpoint_is_set_aside_so_the_good_one_survives(blocks, tmp_path) -> None:
    cfg = tiny_config(blocks, epochs=3)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _train_until(cfg, run, stop_after_epoch=2)
    last = run / "checkpoints" / "last.pt"
    last.write_bytes(b"truncated")
    original = loop.RunFolder.append_metrics

    def stop_at_epoch_2(self, record):
        original(self, record)
        if record.get("epoch") == 2:
            raise KeyboardInterrupt
    loop.RunFolder.append_metrics = stop_at_epoch_2
    try:
        with pytest.raises(KeyboardInterrupt):
            train(cfg, run, resume=True, progress=False)  # resumes from previous.pt (epoch 1), trains epoch 2
    finally:
        loop.RunFolder.append_metrics = original
    assert (run / "checkpoints" / "last.pt.damaged").read_bytes() == b"truncated"
    assert torch.load(run / "checkpoints" / "previous.pt", weights_only=True)["epoch"] == 1
    assert torch.load(last, weights_only=True)["epoch"] == 2


def test_resume_may_change_where_and_how_fast_a_run_computes_but_not_what(blocks, tmp_path, caplog) -> None:
    cfg = tiny_config(blocks, epochs=2)
    straight = train(cfg, tmp_path / "straight", progress=False)
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        _train_until(cfg, run, stop_after_epoch=1)
    with pytest.raises(ValueError, match=r"holds a run with another config \(fields \['lr'\] differ\)"):
        train(replace(cfg, lr=0.02, checkpoint_minutes=1.0), run, resume=True, progress=False)
    moved = replace(cfg, checkpoint_minutes=1.0, execution=replace(cfg.execution, device="cpu"))
    resumed = train(moved, run, resume=True, progress=False)
    assert "resuming with other checkpoint_minutes, execution.device (checkpoint_minutes: 60.0 -> 1.0; " \
           "execution.device: 'auto' -> 'cpu')" in caplog.text
    assert resumed.final == straight.final
    assert json.loads((run / "config.json").read_text())["checkpoint_minutes"] == 1.0  # what the run now uses
