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
