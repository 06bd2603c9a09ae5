"""The Ray executor on a local Ray with 2 CPUs and a tiny claims grid (6 cells; also on a learned manifold, and
the per-variant studies): its records equal the local executor's bitwise at the same thread count, a worker
killed mid-cell is retried and resumes from the cell's checkpoint, a cell failing on bad input fails the run with
its error, a run interrupted under one executor resumes under the other reusing every finished cell, and the
command line runs from the checkout root."""

from __future__ import annotations

import _thread
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from pyadvman._atomic import to_json
from pyadvman.configs import config_record
from pyadvman.errors import UnreadableFileError
from pyadvman.experiments import claims_config, flatness_config, ray_executor, spectra_config
from pyadvman.experiments import flatness_study as flatness
from pyadvman.experiments import spectra_study as spectra
from pyadvman.experiments.cells import attempts
from pyadvman.experiments.claims import run
from pyadvman.experiments.executors import Executor

from .conftest import npz_options
from .test_claims import TINY

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

LOCAL = Executor("local", cpus_per_model=1)  # one thread per cell, as each Ray worker below
RAY = Executor("ray", cpus_per_model=1)


@pytest.fixture(scope="module", autouse=True)
def local_ray(tmp_path_factory):
    # from an empty directory: Ray puts the caller's directory on the workers' sys.path, and the checkout root
    # would give them the uncompiled source tree (the workers refuse it; test_a_worker_without_...)
    back = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("ray_init"))
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    finally:
        os.chdir(back)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def cfg(tiny_fonts):
    return claims_config("quick", dataset_options=tiny_fonts, **{**TINY, "epochs": 3})


@pytest.fixture(scope="module")
def local_run(cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "run"
    return run(cfg, out, progress=False, executor=LOCAL), out


@contextmanager
def deadline(seconds: float):
    """Interrupts the test (KeyboardInterrupt) if the block runs longer than ``seconds``: a hang fails it."""
    timer = threading.Timer(seconds, _thread.interrupt_main)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _science(metrics: dict) -> dict:
    """What a run measured: the model records without their timings, the distances and the claims."""
    models = [{k: v for k, v in r.items() if k != "attack_seconds"} for r in metrics["models"]]
    return json.loads(to_json({"models": models, "distances": metrics["distances"], "claims": metrics["claims"]}))


def _finished_files(out) -> dict:
    return {p.relative_to(out): p.stat().st_mtime_ns for p in sorted((out / "models").glob("*/evaluation.json"))}


def test_ray_records_equal_local_records(cfg, local_run, tmp_path, monkeypatch) -> None:
    local, _ = local_run
    monkeypatch.chdir(tmp_path)  # a relative run folder: the workers resolve it in the driver's directory
    with deadline(120):
        metrics = run(cfg, "ray", progress=False, executor=RAY)
    assert _science(metrics) == _science(local)
    pids = set()
    for record in metrics["models"]:
        [attempt] = attempts(tmp_path / "ray" / "cells" / f"{record['name']}.json")
        assert attempt["executor"] == "ray" and attempt["threads"] == 1 and attempt["seconds"] > 0
        assert attempt["pid"] != os.getpid()
        pids.add(attempt["pid"])
    assert 1 <= len(pids) <= 2  # two workers of one CPU each


def _kill_mid_training(out, name: str, deadline: float) -> int | None:
    """SIGKILLs the worker training cell ``name`` once its first checkpoint exists and before it finished; the
    killed pid, or None when the cell finished first."""
    last, final = out / "models" / name / "checkpoints" / "last.pt", out / "models" / name / "final.json"
    while time.monotonic() < deadline:
        if final.exists():
            return None
        history = attempts(out / "cells" / f"{name}.json")
        if last.is_file() and history:
            pid = history[-1]["pid"]
            os.kill(pid, signal.SIGKILL)
            return pid if not final.exists() else None
        time.sleep(0.002)
    return None


def test_a_worker_killed_mid_cell_is_retried_and_resumes(cfg, local_run, tmp_path) -> None:
    out, name = tmp_path / "killed", "madry-n600-seed0"
    killed = {}
    killer = threading.Thread(target=lambda: killed.setdefault("pid", _kill_mid_training(
        out, name, time.monotonic() + 120)))
    killer.start()
    with deadline(180):
        metrics = run(cfg, out, progress=False, executor=RAY)
    killer.join()
    assert killed["pid"] is not None, "the cell finished before it could be killed"
    first, second = attempts(out / "cells" / f"{name}.json")
    assert first["pid"] == killed["pid"] and "seconds" not in first  # died mid-cell
    assert second["pid"] != first["pid"] and second["seconds"] > 0 and second["run"] == first["run"]
    assert _science(metrics) == _science(local_run[0])  # resumed from the checkpoint: as if never killed
    history = [json.loads(line) for line in (out / "models" / name / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history if "epoch" in h] == [1, 2, 3]  # each epoch once: resumed, not restarted


def test_a_cell_failing_on_bad_input_fails_the_run_with_its_error(cfg, tmp_path) -> None:
    out, name = tmp_path / "bad", "normal-n300-seed0"
    damaged = out / "models" / name / "checkpoints" / "last.pt"
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not a checkpoint")
    # the study's and the cell's own config.json: folders they started (a folder without one is not resumed)
    (out / "config.json").write_text(to_json(config_record(cfg)))
    (damaged.parents[1] / "config.json").write_text(to_json(config_record(cfg.model_train_config("normal", 300, 0))))
    with deadline(120), pytest.raises(UnreadableFileError, match=rf"{name}/checkpoints/last.pt cannot be read"):
        run(cfg, out, resume=True, progress=False, executor=RAY)
    assert not (out / "metrics.json").exists()
    [attempt] = attempts(out / "cells" / f"{name}.json")
    assert attempt["error"].startswith("UnreadableFileError: ") and "seconds" not in attempt
    files = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    time.sleep(1.5)  # the other cells were cancelled: nothing runs, starts or writes after the run failed
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == files


def test_resume_across_executors_reuses_every_finished_cell(cfg, local_run, tmp_path, monkeypatch) -> None:
    local, local_out = local_run
    # Ray interrupted (as by Ctrl-C, in the driver's wait loop) once a cell has finished, then resumed locally
    out = tmp_path / "interrupted"
    state = ray_executor._state

    def interrupted_once_a_cell_finished(records, names, run_id):
        if list((out / "models").glob("*/evaluation.json")):
            raise KeyboardInterrupt
        return state(records, names, run_id)

    monkeypatch.setattr(ray_executor, "_state", interrupted_once_a_cell_finished)  # read after every wait
    with deadline(180), pytest.raises(KeyboardInterrupt):
        run(cfg, out, progress=True, executor=RAY)
    monkeypatch.undo()
    finished = _finished_files(out)
    assert 1 <= len(finished) < len(local["models"]) and not (out / "metrics.json").exists()
    resumed = run(cfg, out, resume=True, progress=False, executor=LOCAL)
    assert _science(resumed) == _science(local)
    assert all(_finished_files(out)[path] == stamp for path, stamp in finished.items())  # reused, not redone
    for path in finished:
        assert [a["executor"] for a in attempts(out / "cells" / f"{path.parent.name}.json")] == ["ray", "local"]

    # a local run with one cell left to evaluate, resumed under Ray
    out = tmp_path / "local_then_ray"
    shutil.copytree(local_out, out)
    (out / "models" / "on_manifold-n600-seed0" / "evaluation.json").unlink()
    (out / "report.md").unlink()
    stamps = {path: stamp for path, stamp in _finished_files(out).items()}
    weights = (out / "models" / "on_manifold-n600-seed0" / "model.pt").stat().st_mtime_ns
    with deadline(120):
        resumed = run(cfg, out, resume=True, progress=False, executor=RAY)
    assert _science(resumed) == _science(local)
    assert {p: s for p, s in _finished_files(out).items() if p in stamps} == stamps
    assert (out / "models" / "on_manifold-n600-seed0" / "model.pt").stat().st_mtime_ns == weights


def _options(fields: dict) -> list[str]:
    """Config fields as `pyadvman run` options (nested attack fields as --<field>-<key>)."""
    args = []
    for key, value in fields.items():
        for name, item in (value.items() if isinstance(value, dict) else [(None, value)]):
            option = "--" + key.replace("_", "-") + (f"-{name.replace('_', '-')}" if name else "")
            args += [option, ",".join(map(str, item)) if isinstance(item, tuple) else str(item)]
    return args


def test_the_command_line_from_the_checkout_root_runs_the_cells_on_ray(tiny_fonts, local_run, tmp_path) -> None:
    # the checkout root holds the uncompiled source tree; the workers must still run the installed package
    root, out = Path(__file__).resolve().parents[2], tmp_path / "cli"
    command = [str(Path(sys.executable).parent / "pyadvman"), "run", "claims", "--executor", "ray",
               "--cpus-per-model", "1", "--out", str(out), "--no-progress", "--dataset-options",
               json.dumps(tiny_fonts), *_options({**TINY, "epochs": 3, "train_sizes": (300,)})]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "claims finished" in done.stdout
    # a cell does not depend on the rest of the grid: the N = 300 models of the 6-model local run
    models = _science(json.loads((out / "metrics.json").read_text()))["models"]
    assert models == [r for r in _science(local_run[0])["models"] if r["train_size"] == 300]
    assert len(models) == 3  # normal, Madry AT, on-manifold AT
    assert {a["executor"] for p in (out / "cells").glob("*.json") for a in attempts(p)} == {"ray"}


def test_ray_records_equal_local_records_on_a_learned_manifold(patterns_npz, tmp_path) -> None:
    # the class VAE-GANs go to the workers on the CPU and to each cell's device there
    cfg = claims_config("quick", dataset="npz", dataset_options=npz_options(patterns_npz),
                        vae_gan_options={"epochs": 1, "channels": 4, "latent": 4, "max_examples": 120},
                        **{**TINY, "variants": ("normal", "on_manifold"), "train_sizes": (200, 400)})
    local = run(cfg, tmp_path / "local", progress=False, executor=LOCAL)
    with deadline(120):
        metrics = run(cfg, tmp_path / "ray", progress=False, executor=RAY)
    assert metrics["manifold"] == "learned" and "learned_manifold_distance" in metrics["distances"][
        "normal-n200-seed0"]["regular"]
    assert _science(metrics) == _science(local)


def test_the_per_variant_studies_run_their_cells_on_ray(patterns_npz, tmp_path) -> None:
    """flatness and spectra: one cell per variant, the same records under both executors."""
    options = {"dataset": "npz", "dataset_options": npz_options(patterns_npz), "train_size": 400,
               "variants": ("normal", "adversarial"), "train_attack": {"steps": 2}}
    for study, cfg, key in (
            (flatness, flatness_config(**options, epochs=2, examples=40, robust_attack={"steps": 2}, average_samples=2,
                                       worst_passes=1), "records"),
            (spectra, spectra_config(**options, epochs=2, jacobian_examples=3, confidence_examples=100), "results")):
        local = study.run(cfg, tmp_path / f"{key}-local", progress=False, executor=LOCAL)
        with deadline(120):
            remote = study.run(cfg, tmp_path / f"{key}-ray", progress=False, executor=RAY)
        assert json.loads(to_json(remote[key])) == json.loads(to_json(local[key]))
        assert json.loads(to_json(remote["verdicts"])) == json.loads(to_json(local["verdicts"]))
        assert [a["executor"] for p in sorted((tmp_path / f"{key}-ray" / "cells").glob("*.json"))
                for a in attempts(p)] == ["ray", "ray"]
