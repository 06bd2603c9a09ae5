"""The benchmark scripts run end to end and report what they measured (no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


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
    assert row["restarts"] == 1 and set(row["images_per_second"]) == {"ours", "torchattacks"}
    assert all(rate > 0 for rate in row["images_per_second"].values())
    assert f"{row['images_per_second']['ours']:18.0f}" in run.stdout
