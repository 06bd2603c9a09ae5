"""One writer per folder (pyadvman.folder_lock): a live owner refuses a second writer, a dead one is taken over."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys

import pytest
import torch

from pyadvman.attacks import AutoAttack
from pyadvman.attacks.robust_evaluation import evaluate_robustness
from pyadvman.errors import FolderInUseError
from pyadvman.experiments import claims
from pyadvman.folder_lock import LOCK_FILE, folder_lock
from pyadvman.training import TrainConfig, train
from pyadvman.training.run_folder import holds_results

HOLD = """
import sys, time
from pyadvman.folder_lock import folder_lock
with folder_lock(sys.argv[1], "test"):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def held_by_another_process(tmp_path):
    """A folder whose lock a live child process holds; yields (folder, process)."""
    folder = tmp_path / "run"
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        yield folder, child
    finally:
        child.kill()
        child.wait()


def test_a_second_writer_is_refused_naming_the_owner(held_by_another_process) -> None:
    folder, child = held_by_another_process
    with pytest.raises(FolderInUseError, match=rf"{folder} is being written by pid {child.pid} on .*"
                                               r"wait for it to finish \(then --resume continues it\)"):
        with folder_lock(folder, "training run"):
            pass


def test_train_a_study_and_autoattack_refuse_a_folder_in_use(held_by_another_process) -> None:
    folder, child = held_by_another_process
    with pytest.raises(FolderInUseError, match=f"pid {child.pid}"):
        train(TrainConfig(), folder, resume=True)
    with pytest.raises(FolderInUseError, match=f"pid {child.pid}"):
        claims.run(claims.claims_config("quick"), folder, resume=True)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with pytest.raises(FolderInUseError, match=f"pid {child.pid}"):
        evaluate_robustness(AutoAttack(eps=0.1), model, torch.rand(2, 1, 2, 2), torch.tensor([0, 1]),
                            state_dir=folder, progress=False)
    assert sorted(p.name for p in folder.iterdir()) == [LOCK_FILE]  # nothing written


def test_the_lock_of_a_killed_process_is_taken_over_with_a_warning(held_by_another_process, caplog) -> None:
    folder, child = held_by_another_process
    child.send_signal(signal.SIGKILL)
    child.wait()
    with caplog.at_level(logging.WARNING, logger="pyadvman.folder_lock"):
        with folder_lock(folder, "training run"):
            owner = json.loads((folder / LOCK_FILE).read_text())
    assert f"taking over the lock of pid {child.pid}" in caplog.text
    assert owner["pid"] != child.pid
    assert (folder / LOCK_FILE).read_text() == ""  # released cleanly: the next owner is not warned


def test_the_lock_is_reentrant_in_one_process_and_not_a_result(tmp_path) -> None:
    with folder_lock(tmp_path / "run", "claims study"):
        with folder_lock(tmp_path / "run", "training run"):
            assert (tmp_path / "run" / LOCK_FILE).stat().st_size > 0
        assert not holds_results(tmp_path / "run")
    assert not holds_results(tmp_path / "run")
