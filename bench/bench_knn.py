"""Benchmark of pyadvman.ops.knn against chunked torch.cdist + topk, faiss IndexFlatL2 (CPU) and the FLOP
floor 2·B·N·D at the measured GEMM rate, over N = 60,000, D = 784, B ∈ {100, 1000, 10000}, k ∈ {1, 10, 50}.

    python bench/bench_knn.py [--device cpu|cuda] [--quick] [--min-run-time S]
"""

from __future__ import annotations

import _neighbours as nb
import torch

from pyadvman.ops import knn


def make_methods(queries, reference, k, index):
    ours = knn(queries, reference, k)
    _, cdist_index = nb.cdist_topk(queries, reference, k)
    assert (cdist_index[:, 0] == ours[1][:, 0]).float().mean() > 0.99, "cdist + topk disagrees with ours"
    methods = {
        "ours": lambda: knn(queries, reference, k),
        "cdist_topk": lambda: nb.cdist_topk(queries, reference, k),
    }
    faiss_index = None
    if index is not None:
        q = queries.numpy()
        methods["faiss"] = lambda: index.search(q, k)
        faiss_index = torch.from_numpy(index.search(q, k)[1])
    return methods, ours[1], faiss_index


if __name__ == "__main__":
    nb.run("knn", make_methods, __doc__.splitlines()[0])
