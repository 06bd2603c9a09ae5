"""The claims grid (`pyadvman run claims`, quick preset on FONTS) under the local executor (one model after
another, torch's own thread count), under Ray with 2 workers of 1 CPU each (``--executor ray --cpus-per-model
1``) and under the local executor's 2 worker processes of 1 thread each (``--workers 2 --cpus-per-model 1``),
each command in its own process on the same machine, one after the other.

Reported per executor, from the command's wall time and the cells' attempt records (cells/<name>.json):
the wall time; the sum of the cells' own seconds; the makespan (first cell start to last cell end); the time
before the first cell starts (data, and under Ray or workers their start-up and the first dispatch) and after
the last one ends (figures, report); and with several workers the per-cell overhead: the mean gap between one cell's end and the next
cell's start on the same worker (dispatch, fetching the shared study, returning the record), and the idle
worker time per cell (makespan × workers − cell seconds, over cells; the gaps plus the wait for the last cells).
The executors' numbers agree bitwise only at the same thread count: the local executor is also run with one
thread per model (``--cpus-per-model 1``), and its model records (all but their timings) are compared with
Ray's bit for bit.

With ``--medium`` the grid is the quick preset's at full size for seed 0 and N = 500 and 2,500 (8 cells of real
size, where --quick's cells last about a second and the executors' start-up dominates); ``--executors`` picks
the executors to run (comma-separated names of EXECUTORS; the records are compared with Ray's when it ran).

    python bench/bench_executors.py [--quick | --medium] [--executors "local,local 2 workers"]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import _harness as h

EXECUTORS = {"local": [], "ray": ["--executor", "ray", "--cpus-per-model", "1"],
             "local 1 thread": ["--cpus-per-model", "1"],
             "local 2 workers": ["--workers", "2", "--cpus-per-model", "1"]}
QUICK = ["--train-sizes", "300", "--epochs", "1", "--regular-examples", "40", "--on-manifold-examples", "40",
         "--distance-examples", "20", "--apgd-attack.steps", "2", "--eval-attack.steps", "2",
         "--strong-attack.steps", "2"]


@dataclass
class ExecutorRow:
    executor: str
    cells: int
    workers: int
    wall_s: float
    cell_seconds_s: float
    makespan_s: float
    before_first_cell_s: float
    after_last_cell_s: float
    mean_gap_between_cells_s: float | None  # same worker, end to next start
    idle_worker_s_per_cell: float
    verdicts: dict
    records_equal_to_ray: bool | None  # all but the timings, bit for bit


def _records(out: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "attack_seconds"}
            for r in json.loads((out / "metrics.json").read_text())["models"]]


def _attempts(out: Path) -> list[dict]:
    found = []
    for path in sorted((out / "cells").glob("*.json")):
        last = json.loads(path.read_text())["attempts"][-1]
        start = datetime.fromisoformat(last["started"]).timestamp()
        found.append({"pid": last["pid"], "start": start, "end": start + last["seconds"], "seconds": last["seconds"]})
    return found


def measure(executor: str, extra: list[str], folder: Path) -> ExecutorRow:
    out = folder / h.slug(executor)
    command = [str(Path(sys.executable).parent / "pyadvman"), "run", "claims", "--out", str(out), "--no-progress",
               *EXECUTORS[executor], *extra]
    began = time.time()
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{executor}: {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    ended = began + wall
    cells = _attempts(out)
    first, last = min(c["start"] for c in cells), max(c["end"] for c in cells)
    workers = sorted({c["pid"] for c in cells})
    gaps = []
    for pid in workers:
        mine = sorted((c for c in cells if c["pid"] == pid), key=lambda c: c["start"])
        gaps += [b["start"] - a["end"] for a, b in zip(mine, mine[1:])]
    seconds = sum(c["seconds"] for c in cells)
    verdicts = {k: v["verdict"] for k, v in json.loads((out / "metrics.json").read_text())["claims"].items()}
    return ExecutorRow(executor, len(cells), len(workers), round(wall, 1), round(seconds, 1), round(last - first, 1),
                       round(first - began, 1), round(ended - last, 1),
                       round(sum(gaps) / len(gaps), 3) if gaps else None,
                       round(((last - first) * len(workers) - seconds) / len(cells), 2), verdicts, None)


MEDIUM = ["--seeds", "0", "--train-sizes", "500", "2500"]


def main() -> None:
    parser = h.argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--medium", action="store_true", help="seed 0, N = 500 and 2,500 at the quick preset's size")
    parser.add_argument("--executors", default=",".join(EXECUTORS), help="comma-separated names of EXECUTORS")
    args = h.finish_args(parser.parse_args())
    extra = QUICK if args.quick else MEDIUM if args.medium else []
    chosen = [name.strip() for name in args.executors.split(",")]
    unknown = [name for name in chosen if name not in EXECUTORS]
    if unknown:
        raise SystemExit(f"--executors: unknown {unknown}; choose from {list(EXECUTORS)}")
    folder = Path(tempfile.mkdtemp(prefix="bench-executors-"))
    try:
        # the FONTS data are generated (and cached) once before either executor is timed
        subprocess.run([str(Path(sys.executable).parent / "pyadvman"), "data", "fonts", "--preset", "quick"],
                       check=True, capture_output=True)
        rows = [measure(name, extra, folder) for name in chosen]
        if "ray" in chosen:
            ray_records = _records(folder / "ray")
            for row in rows:
                row.records_equal_to_ray = _records(folder / h.slug(row.executor)) == ray_records
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    grid = "--quick" if args.quick else "--medium" if args.medium else "quick preset"
    print(f"\nclaims grid ({grid}) on {h.device_name('cpu')}")
    print(f"{'executor':>15} {'cells':>5} {'workers':>7} {'wall s':>7} {'cell s':>7} {'makespan':>8} {'before':>7} "
          f"{'after':>6} {'gap s':>6} {'idle s/cell':>11} {'= ray':>5}  verdicts")
    for r in rows:
        gap = "-" if r.mean_gap_between_cells_s is None else f"{r.mean_gap_between_cells_s:.3f}"
        print(f"{r.executor:>15} {r.cells:>5} {r.workers:>7} {r.wall_s:>7.1f} {r.cell_seconds_s:>7.1f} "
              f"{r.makespan_s:>8.1f} {r.before_first_cell_s:>7.1f} {r.after_last_cell_s:>6.1f} {gap:>6} "
              f"{r.idle_worker_s_per_cell:>11.2f} {str(r.records_equal_to_ray):>5}  {r.verdicts}")
    first = rows[0]
    for row in rows[1:]:
        print(f"{first.executor} / {row.executor} wall: {first.wall_s / row.wall_s:.2f}x; verdicts "
              f"{'equal' if first.verdicts == row.verdicts else 'differ'}")
    path = h.write_results("executors", "cpu", "float32", rows, {"quick": args.quick, "medium": args.medium},
                           args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
