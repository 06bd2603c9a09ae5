"""Shared benchmark plumbing: timing, the memory-bandwidth floor, tables and the results JSON.

Times are medians from ``torch.utils.benchmark.Timer.blocked_autorange`` (warm-up included, CUDA
synchronised, all CPU threads). Results merge into ``bench/results/<device>-<date>.json`` under one key per
benchmark script, with the device, torch version, pyadvman build and date.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import gc
import itertools
import json
import platform
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.utils.benchmark as benchmark

import pyadvman

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse_args(description: str) -> argparse.Namespace:
    return finish_args(argument_parser(description).parse_args())


def argument_parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes; a script adds its own before parsing (then :func:`finish_args`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16", "float64"])
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds of timed runs per cell")
    parser.add_argument("--quick", action="store_true", help="smallest shape only, short runs (smoke test)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile baseline")
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="where the JSON goes (default: bench/results, or bench/results/quick with --quick)")
    return parser


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    """The defaults that depend on other options (--quick)."""
    if args.quick:
        args.min_run_time = min(args.min_run_time, 0.1)
    if args.results_dir is None:  # a smoke run never overwrites the committed measurements
        args.results_dir = RESULTS_DIR / "quick" if args.quick else RESULTS_DIR
    return args


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    model = platform.processor() or "cpu"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        model = found.group(1).strip() if found else model
    return f"{model} ({torch.get_num_threads()} threads)"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def median_seconds(fn: Callable[[], object], min_run_time: float) -> float:
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def copy_bandwidth(nbytes: int, device: str, min_run_time: float) -> float:
    """Measured copy bandwidth in bytes/s (read + write) for a buffer of ``nbytes``."""
    src = torch.empty(max(nbytes // 4, 1), dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    seconds = median_seconds(lambda: dst.copy_(src), min_run_time)
    return 2 * src.numel() * 4 / seconds


_LIBC = ctypes.CDLL("libc.so.6") if Path("/proc/self/clear_refs").exists() else None


def _resident_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory_bytes(fn: Callable[[], object], device: str) -> int | None:
    """Extra memory at the peak of one call: torch's peak allocation on CUDA (not counting the memory pools that
    CUDA graphs reserved when they were recorded, in the warm-up); on CPU the growth of the
    process's peak resident set (VmHWM, reset through /proc/self/clear_refs), which also sees other libraries'
    allocations (faiss)."""
    gc.collect()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    if _LIBC is None:
        return None
    _LIBC.malloc_trim(0)  # hand freed heap back, so reused pages count again
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current resident set
    except OSError:
        return None
    before = _resident_kib("VmRSS")
    fn()
    return max(0, _resident_kib("VmHWM") - before) * 1024



def comparison_header(methods: list[str], label: str, width: int) -> str:
    """Column headers of a comparison table: each method's value (``label``), its time / ours, its peak MiB."""
    return (" ".join(f"{m + ' ' + label:>{width}}" for m in methods)
            + " " + " ".join(f"{m + ' / ours':>18}" for m in methods if m != "ours")
            + " " + " ".join(f"{m + ' MiB':>14}" for m in methods))


def comparison_cells(methods: list[str], values: dict[str, str], seconds: dict[str, float],
                     peak_bytes: dict[str, int | None]) -> str:
    """One row under :func:`comparison_header`: the formatted values, time ratios to "ours" and peak MiB."""
    ratios = " ".join(f"{seconds[m] / seconds['ours']:17.2f}x" for m in methods if m != "ours")
    memory = " ".join(f"{peak_bytes[m] / 2**20:14.0f}" if peak_bytes[m] is not None else f"{'-':>14}"
                      for m in methods)
    return f"{' '.join(values[m] for m in methods)} {ratios} {memory}"

@dataclass(frozen=True)
class Row:
    """One benchmark cell: median seconds per method, plus the memory floor."""

    shape: tuple[int, ...]
    restarts: int
    bytes_moved: int
    floor_s: float
    seconds: dict[str, float]

    def table_line(self, methods: list[str]) -> str:
        cells = [f"{'x'.join(map(str, self.shape)):>15} {self.restarts:>2}"]
        cells += [f"{self.seconds[m] * 1e3:10.3f}" if m in self.seconds else f"{'-':>10}" for m in methods]
        ours = self.seconds["ours"]
        cells.append(f"{self.floor_s * 1e3:9.3f}")
        cells += [f"{self.seconds[m] / ours:8.2f}x" if m in self.seconds else f"{'-':>9}"
                  for m in methods if m != "ours"]
        cells.append(f"{ours / self.floor_s:7.2f}x")
        return " ".join(cells)


def print_table(title: str, rows: list[Row], methods: list[str]) -> None:
    others = [m for m in methods if m != "ours"]
    header = f"{'shape':>15} {'R':>2} " + " ".join(f"{m + ' ms':>10}" for m in methods) + f" {'floor ms':>9} "
    header += " ".join(f"{m[:9]:>9}" for m in others) + "  ours/floor"
    print(f"\n{title}\n(ratios: method time / ours time, >1 means ours is faster)\n{header}")
    for row in rows:
        print(row.table_line(methods))


def write_results(name: str, device: str, dtype: str, rows: list[Row], extra: dict, results_dir: Path) -> Path:
    """Merges this benchmark's rows into results_dir/<device>-<date>.json and returns the path."""
    today = dt.date.today().isoformat()
    dev = device_name(device)
    path = results_dir / f"{slug(dev)}-{today}.json"
    results_dir.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update({"device": dev, "date": today, "torch": torch.__version__, "pyadvman": pyadvman.__version__,
                 "build": pyadvman.build_info()})
    data[name] = {"dtype": dtype, **extra, "rows": [asdict(r) for r in rows]}
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


SHAPES = [(1000, 1, 28, 28), (512, 3, 32, 32), (128, 3, 224, 224)]
RESTARTS = [1, 5]


@dataclass(frozen=True)
class Cell:
    """What one benchmark script measures at one (shape, restarts): callables and the bytes they must move."""

    methods: dict[str, Callable[[], object]]
    bytes_moved: int  # unique bytes read + written by one call
    buffer_bytes: int  # size of the largest tensor, for the copy-bandwidth measurement


def run(name: str, args: argparse.Namespace, make_cell: Callable[[tuple[int, ...], int, torch.dtype], Cell],
        extra: dict) -> None:
    """Measures make_cell(shape, restarts, dtype) over the shape × restarts grid (one cell with --quick),
    prints the table and writes the results JSON."""
    dtype = getattr(torch, args.dtype)
    rows = []
    grid: Iterable = [(SHAPES[0], 1)] if args.quick else itertools.product(SHAPES, RESTARTS)
    for shape, restarts in grid:
        cell = make_cell(shape, restarts, dtype)
        seconds = {method: median_seconds(fn, args.min_run_time) for method, fn in cell.methods.items()}
        bandwidth = copy_bandwidth(cell.buffer_bytes, args.device, args.min_run_time)
        rows.append(Row(shape, restarts, cell.bytes_moved, cell.bytes_moved / bandwidth, seconds))
        print(f"  done {shape} R={restarts}", flush=True)
        del cell
    methods = list(rows[0].seconds)
    print_table(f"{name} on {device_name(args.device)}, {args.dtype}", rows, methods)
    path = write_results(name, args.device, args.dtype, rows, {**extra, "methods": methods}, args.results_dir)
    print(f"results: {path}")
