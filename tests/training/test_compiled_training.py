"""Training with ``compile="default"``: the compiled training step and its attacks follow the eager run, and a
run started eagerly may resume compiled (compile changes speed, not what is computed)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from pyadvman.data import load_dataset
from pyadvman.training import train
from pyadvman.training.run_folder import start_run

from .conftest import tiny_config


def epoch_records(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][:-1]


def test_compiled_adversarial_training_follows_the_eager_run(blocks, tmp_path):
    runs = {}
    for mode in ("off", "default"):
        cfg = tiny_config(blocks, objective="adversarial", epochs=1, train_size=100, execution={"compile": mode})
        train(cfg, tmp_path / mode, progress=False)
        runs[mode] = epoch_records(tmp_path / mode)[0]
        assert runs[mode]["compile"] == mode  # each epoch records the mode it ran under
    for key in ("train_loss", "train_clean_accuracy", "train_adversarial_accuracy", "validation_accuracy"):
        assert runs["default"][key] == pytest.approx(runs["off"][key], abs=0.02), key


def test_a_run_may_resume_with_another_compile_mode_but_not_another_setting(blocks, tmp_path):
    run = tmp_path / "run"  # tmp_path holds the data
    cfg = tiny_config(blocks, execution={"compile": "off"})
    data = load_dataset(cfg.dataset, **cfg.dataset_options)
    start_run(run, cfg, data, resume=False)
    (run / "metrics.jsonl").write_text("{}\n")  # the run holds results now
    start_run(run, replace(cfg, execution=replace(cfg.execution, compile="default")), data, resume=True)
    assert json.loads((run / "config.json").read_text())["execution"]["compile"] == "default"
    with pytest.raises(ValueError, match=r"fields \['epochs'\] differ"):
        start_run(run, replace(cfg, execution=replace(cfg.execution, compile="default"), epochs=3), data,
                  resume=True)
