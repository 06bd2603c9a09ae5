"""Start-up time of the command line: the wall time of ``pyadvman COMMAND --help`` (importing torch, pyadvman
and tyro, building the options from the configs), each run in a fresh process, the median of ``--repeats``
runs after one untimed run (which writes the bytecode caches).
Nothing else should run on the machine meanwhile.

    python bench/bench_startup.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import _harness as h

COMMANDS = [["--help"], ["train", "--help"], ["attack", "--help"], ["evaluate", "--help"],
            ["run", "claims", "--help"]]


@dataclass
class StartupRow:
    command: str
    median_s: float
    runs_s: list[float]


def measure(arguments: list[str], repeats: int) -> StartupRow:
    command = [str(Path(sys.executable).parent / "pyadvman"), *arguments]
    subprocess.run(command, capture_output=True, check=True)  # untimed: bytecode caches
    runs = []
    for _ in range(repeats):
        started = time.monotonic()
        subprocess.run(command, capture_output=True, check=True)
        runs.append(round(time.monotonic() - started, 3))
    return StartupRow(" ".join(["pyadvman", *arguments]), round(statistics.median(runs), 3), runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command (default 5)")
    parser.add_argument("--results-dir", type=Path, default=h.RESULTS_DIR, help="where the JSON goes")
    args = parser.parse_args()
    rows = [measure(arguments, args.repeats) for arguments in COMMANDS]
    print(f"command-line start-up on {h.device_name('cpu')} (median of {args.repeats} runs, s)")
    for row in rows:
        print(f"{row.command:>30} {row.median_s:6.2f}   runs {row.runs_s}")
    path = h.write_results("startup", "cpu", "float32", rows, {"repeats": args.repeats}, args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
