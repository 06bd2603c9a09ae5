"""Shared set-up of the kNN benchmarks: the data, the baselines users would pick (chunked cdist + topk,
faiss IndexFlatL2), the FLOP floor, peak-memory measurement and the table.

Grid: N = 60,000 reference rows of D = 784 (a Fashion-MNIST-sized training set, uniform random in [0, 1]),
B ∈ {100, 1000, 10000} queries, k ∈ {1, 10, 50}. Times are medians (see _harness.median_seconds); peak memory
is the growth of the process's peak resident set (CPU) or of torch's peak allocation (CUDA) during one call.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import _harness as h
import torch

N, D = 60_000, 784
BATCHES, KS = [100, 1000, 10_000], [1, 10, 50]
CDIST_CHUNK_ELEMENTS = 1 << 26  # queries per cdist chunk such that [chunk, N] float32 stays at 256 MiB

try:
    import faiss
except ImportError:  # the benchmark still runs; the faiss columns are left out
    faiss = None


def make_reference(device: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference [N, D] and the generator state after it, from which make_queries draws."""
    g = torch.Generator().manual_seed(seed)
    reference = torch.rand(N, D, generator=g)
    return reference.to(device), g.get_state()


def make_queries(device: str, batch: int, state: torch.Tensor) -> torch.Tensor:
    g = torch.Generator()
    g.set_state(state)
    return torch.rand(batch, D, generator=g).to(device)


def cdist_topk(queries: torch.Tensor, reference: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What users write without a kNN library: torch.cdist over query chunks, then topk."""
    chunk = max(1, CDIST_CHUNK_ELEMENTS // reference.shape[0])
    dists, indices = [], []
    for q in queries.split(chunk):
        d, i = torch.cdist(q, reference).topk(k, dim=1, largest=False)
        dists.append(d.square())
        indices.append(i)
    return torch.cat(dists), torch.cat(indices)


def faiss_index(reference: torch.Tensor):
    """A faiss IndexFlatL2 over the reference (exhaustive search, BLAS for >= 20 queries), or None."""
    if faiss is None or reference.device.type != "cpu":
        return None
    index = faiss.IndexFlatL2(reference.shape[1])
    index.add(reference.numpy())
    return index


def matmul_rate(device: str, min_run_time: float) -> float:
    """Measured float32 GEMM rate in FLOP/s at the shape knn multiplies ([1000, D] × [D, N])."""
    a = torch.rand(1000, D, device=device)
    b = torch.rand(N, D, device=device)
    seconds = h.median_seconds(lambda: torch.mm(a, b.T), min_run_time)
    return 2 * 1000 * D * N / seconds


@dataclass(frozen=True)
class KnnRow:
    """One cell of the grid: median seconds and peak extra bytes per method, the FLOP floor, faiss' recall."""

    batch: int
    k: int
    floor_s: float
    seconds: dict[str, float]
    peak_bytes: dict[str, int | None]
    faiss_recall: float | None  # fraction of faiss' neighbours that are in the exact list

    def table_line(self, methods: list[str]) -> str:
        cells = [f"{self.batch:>6} {self.k:>3}"]
        cells += [f"{self.seconds[m] * 1e3:10.1f}" for m in methods]
        cells.append(f"{self.floor_s * 1e3:9.1f}")
        ours = self.seconds["ours"]
        cells += [f"{self.seconds[m] / ours:8.2f}x" for m in methods if m != "ours"]
        cells.append(f"{ours / self.floor_s:6.2f}x")
        cells += [f"{self.peak_bytes[m] / 2**20:8.1f}" if self.peak_bytes[m] is not None else f"{'-':>8}"
                  for m in methods]
        return " ".join(cells)


def print_table(title: str, rows: list[KnnRow], methods: list[str]) -> None:
    others = [m for m in methods if m != "ours"]
    header = f"{'B':>6} {'k':>3} " + " ".join(f"{m[:7] + ' ms':>10}" for m in methods) + f" {'floor ms':>9} "
    header += " ".join(f"{m[:8]:>9}" for m in others) + " /floor "
    header += " ".join(f"{m[:5] + ' MiB':>8}" for m in methods)
    legend = "(ratios: method time / ours time, >1 means ours is faster; MiB: peak extra memory)"
    print(f"\n{title}\n{legend}\n{header}")
    for row in rows:
        print(row.table_line(methods))


def run(name: str, make_methods: Callable, description: str) -> None:
    """Runs make_methods(queries, reference, k, index) -> ({method: fn}, our index, faiss index or None)
    over the grid (B = 100, k = 10 with --quick), prints the table and writes the results JSON."""
    args = h.parse_args(description)
    if args.dtype != "float32":
        raise SystemExit(f"{name}: the kNN benchmarks run in float32 (faiss' type), got --dtype {args.dtype}")
    rate = matmul_rate(args.device, args.min_run_time)
    grid = [(100, 10)] if args.quick else list(itertools.product(BATCHES, KS))
    reference, query_state = make_reference(args.device)
    index = faiss_index(reference)
    rows = []
    for batch, k in grid:
        queries = make_queries(args.device, batch, query_state)
        methods, ours_index, faiss_result = make_methods(queries, reference, k, index)
        seconds = {m: h.median_seconds(fn, args.min_run_time) for m, fn in methods.items()}
        peaks = {m: h.peak_memory_bytes(fn, args.device) for m, fn in methods.items()}
        recall = None
        if faiss_result is not None:
            hits = (faiss_result.unsqueeze(2) == ours_index.cpu().unsqueeze(1)).any(2)
            recall = float(hits.float().mean())
        rows.append(KnnRow(batch, k, 2 * batch * N * D / rate, seconds, peaks, recall))
        extra = {"N": N, "D": D, "matmul_flops_per_s": rate, "methods": list(methods),
                 "faiss": getattr(faiss, "__version__", None)}
        # written after every cell, so an interrupted run keeps what it measured
        path = h.write_results(name, args.device, args.dtype, rows, extra, args.results_dir)
        print(f"  done B={batch} k={k}", flush=True)
    print_table(f"{name} on {h.device_name(args.device)}, N={N}, D={D}, float32", rows, list(rows[0].seconds))
    print(f"results: {path}")
