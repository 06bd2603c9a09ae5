"""The benchmark scripts run end to end and report what they measured (no timing is asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _skip_without_fashion_mnist() -> None:
    from pyadvman.data import load_fashion_mnist

    try:
        load_fashion_mnist()
    except FileNotFoundError as error:
        pytest.skip(str(error))


def _run_bench(script: str, results: Path, *options: str) -> tuple[subprocess.CompletedProcess, dict]:
    """Runs ``bench/<script> --quick`` on the CPU with ``options``: (the finished process, its results JSON)."""
    run = subprocess.run([sys.executable, str(BENCH / script), "--quick", "--device", "cpu", "--results-dir",
                          str(results), *options], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-4000:]  # what failed, not only that it did
    (path,) = results.glob("*.json")
    return run, json.loads(path.read_text())


@pytest.mark.parametrize("script", ["bench_pgd_step.py", "bench_linf_project.py"])
def test_bench_script_writes_its_table_and_results(script, tmp_path) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--no-compile", "--min-run-time", "0.01",
         "--device", "cpu", "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=True,
    )
    (path,) = tmp_path.glob("*.json")
    data = json.loads(path.read_text())
    name = script.removeprefix("bench_").removesuffix(".py")
    assert data["device"] and data["date"] and data["build"]["compiled"]
    (row,) = data[name]["rows"]
    assert row["shape"] == [1000, 1, 28, 28] and row["restarts"] == 1
    assert set(row["seconds"]) >= {"ours", "eager"} and all(s > 0 for s in row["seconds"].values())
    assert row["floor_s"] > 0
    assert f"{row['seconds']['ours'] * 1e3:10.3f}" in run.stdout  # the table shows the measured numbers


@pytest.mark.parametrize("script", ["bench_knn.py", "bench_nn_project.py"])
def test_knn_bench_scripts_write_their_table_and_results(script, tmp_path) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--min-run-time", "0.01", "--device", "cpu",
         "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]  # what failed, not only that it did
    (path,) = tmp_path.glob("*.json")
    data = json.loads(path.read_text())
    name = script.removeprefix("bench_").removesuffix(".py")
    (row,) = data[name]["rows"]
    assert (row["batch"], row["k"]) == (100, 10) and data[name]["N"] == 60_000 and data[name]["D"] == 784
    assert "ours" in row["seconds"] and all(s > 0 for s in row["seconds"].values())
    assert row["floor_s"] > 0 and data[name]["matmul_flops_per_s"] > 0
    assert f"{row['seconds']['ours'] * 1e3:10.1f}" in run.stdout  # the table shows the measured numbers
    if name == "knn" and "faiss" in row["seconds"]:
        assert row["faiss_recall"] > 0.99  # faiss agrees with the exact search on this data


def test_attack_bench_writes_images_per_second(tmp_path) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH / "bench_attack.py"), "--quick", "--no-compile", "--min-run-time", "0.01",
         "--device", "cpu", "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=True,
    )
    (path,) = tmp_path.glob("*.json")
    (row,) = json.loads(path.read_text())["attack"]["rows"]
    assert row["restarts"] == 1 and set(row["images_per_second"]) == {"ours", "ours eager", "torchattacks"}
    assert all(rate > 0 for rate in row["images_per_second"].values())
    assert set(row["peak_bytes"]) == set(row["seconds"])
    assert f"{row['images_per_second']['ours']:18.0f}" in run.stdout


def test_decoder_bench_compares_stacked_class_models_with_the_loop(tmp_path) -> None:
    run, data = _run_bench("bench_decoders.py", tmp_path, "--min-run-time", "0.01")
    rows = data["decoders"]["rows"]
    assert [row["setting"] for row in rows] == ["test attack", "training attack"]
    for row in rows:
        assert set(row["seconds"]) == {"ours", "loop"} == set(row["peak_bytes"]) and row["examples"] == 20
        assert 0 <= row["max_difference"] < float("inf")  # reported; equality is tested in tests/manifolds
        assert f"{row['images_per_second']['loop']:14.1f}" in run.stdout


def test_training_bench_times_an_epoch_beside_the_plain_loop(tmp_path) -> None:
    _skip_without_fashion_mnist()
    run, data = _run_bench("bench_training.py", tmp_path, "--no-compile")
    rows = data["training"]["rows"]
    assert [row["objective"] for row in rows] == ["normal", "adversarial (50/50, PGD-10)"]
    for row in rows:
        assert set(row["seconds"]) == {"plain eager", "plain channels-last", "ours"} == set(row["peak_bytes"])
        # the trainer's epoch time is its metrics' (rounded to 0.01 s): a 3-batch epoch may read 0.0
        assert row["seconds"]["plain eager"] > 0 and min(row["seconds"].values()) >= 0 and row["images"] == 300
        assert f"{row['seconds']['plain eager']:14.2f}" in run.stdout


def test_autoattack_bench_compares_with_the_reference(tmp_path) -> None:
    pytest.importorskip("torchattacks")
    from pyadvman.data import load_fashion_mnist
    from pyadvman.training import train, train_config

    try:
        load_fashion_mnist()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    cfg = train_config("quick", dataset="fashion-mnist", epochs=1, train_size=300, validation_examples=50,
                       eval_examples=0)
    train(cfg, tmp_path / "run", progress=False)
    run = subprocess.run(
        [sys.executable, str(BENCH / "bench_autoattack.py"), "--run", str(tmp_path / "run"), "--examples", "12",
         "--no-single", "--device", "cpu", "--results-dir", str(tmp_path / "results")],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    (path,) = (tmp_path / "results").glob("*.json")
    rows = json.loads(path.read_text())["autoattack"]["rows"]
    assert [(r["attack"], r["implementation"]) for r in rows] == [
        ("AutoAttack", "pyadvman"), ("AutoAttack", "torchattacks 3.5.1"), ("PGD-40", "pyadvman"),
        ("APGD-CE", "pyadvman"), ("APGD-CE", "torchattacks 3.5.1")]
    for row in rows:
        assert row["seconds"] > 0 and 0 <= row["robust_accuracy"] <= 1
        if row["implementation"] == "pyadvman":
            assert row["outside_ball"] == 0 and row["max_linf"] <= 0.1
        assert (f"{row['attack']:<11} {row['implementation']:<18} {row['seconds']:8.1f} "
                f"{row['robust_accuracy']:11.4f}") in run.stdout
    assert list(rows[0]["robust_accuracy_after"]) == ["APGD-CE", "APGD-T", "FAB-T", "Square"]


def test_roofline_bench_reports_flops_and_rates_per_phase(tmp_path) -> None:
    _skip_without_fashion_mnist()
    run, results = _run_bench("bench_roofline.py", tmp_path, "--min-run-time", "0.01")
    data = results["roofline"]
    phases = [row["phase"] for row in data["rows"]]
    assert len(phases) == 6 and phases[0] == "normal training epoch" and phases[-1] == "APGD-CE 50"
    for row in data["rows"]:
        assert row["gflop"] > 0 and row["seconds"] > 0 and row["attainable_own_batch_gflops"] > 0
        assert abs(row["achieved_gflops"] - row["gflop"] / row["seconds"]) <= 0.01 * row["achieved_gflops"] + 0.01
        assert f"{row['gflop']:>8.2f}" in run.stdout  # the table shows the measured numbers
    # a Madry AT batch is 10 attack passes over the whole batch and one training pass: it does more work than the
    # 50/50 epoch (attacks over half the batch) and far more than normal training
    gflop = {row["phase"].split(" ")[0]: row["gflop"] for row in data["rows"]}
    assert gflop["Madry"] > gflop["regular"] > 3 * gflop["normal"]


def test_memory_format_bench_compares_the_layouts_per_phase(tmp_path) -> None:
    run, data = _run_bench("bench_memory_format.py", tmp_path, "--min-run-time", "0.01")
    rows = data["memory_format"]["rows"]
    assert [row["phase"] for row in rows][-2:] == ["paper's test attack (Adam, 2 x 5)",   # --quick: 2 steps
                                                  "on-learned-manifold test attack (2 x 5)"]
    for row in rows:
        assert row["seconds"]["NCHW"] > 0 and row["ratios"]["NCHW"] == 1.0
        for name, seconds in row["seconds"].items():
            assert row["ratios"][name] == pytest.approx(row["seconds"]["NCHW"] / seconds)
            assert f"{seconds * 1e3:12.1f} ms" in run.stdout   # the table shows the measured times


def test_stacked_bench_times_stacked_against_sequential_models(tmp_path) -> None:
    run, data = _run_bench("bench_stacked.py", tmp_path, "--min-run-time", "0.01")
    rows = data["stacked"]["rows"]
    assert [(row["phase"], row["models"]) for row in rows] == [
        ("normal training epoch", 1), ("Madry AT epoch (PGD-10)", 1), ("PGD-20 on 50 images", 1)]
    for row in rows:
        assert row["speedup"] == pytest.approx(row["seconds"]["sequential"] / row["seconds"]["stacked"])
        assert set(row["peak_bytes"]) == {"sequential", "stacked"}
        assert f"{row['speedup']:7.2f}x" in run.stdout
    assert 0 <= rows[0]["prediction_agreement"] <= 1 and "the same model trained alone at 1 thread" in run.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here: the check would run")
def test_the_device_check_stops_at_once_without_cuda(tmp_path) -> None:
    """Without a CUDA device the GPU check cannot pass: it says so in one line and exits non-zero before building."""
    run = subprocess.run(["bash", str(BENCH / "device_check"), str(tmp_path / "out")], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHON": sys.executable})
    assert run.returncode == 2, run.stdout + run.stderr
    assert "device_check: CUDA is missing:" in run.stderr and "torch.cuda.is_available() is False" in run.stderr
    assert run.stdout.startswith("preflight: python ")
    preflight = json.loads((tmp_path / "out" / "preflight.json").read_text())
    assert preflight["versions"].startswith("python ") and "nvcc" in preflight
    assert not (tmp_path / "out" / "summary.json").exists()  # no phase ran


def test_the_sanitizer_program_calls_every_operator_path() -> None:
    """bench/sanitizer_ops.py, the program device_check runs under compute-sanitizer, holds on the CPU kernels."""
    run = subprocess.run([sys.executable, str(BENCH / "sanitizer_ops.py"), "--device", "cpu"], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    # 164 L∞ and neighbour calls, and 78 of the L2 and L1 operators (13 dtype × shape cases × 2 radii × 3 operators)
    assert run.stdout.startswith("sanitizer_ops: 242 operator calls on cpu, each equal to its twin")
