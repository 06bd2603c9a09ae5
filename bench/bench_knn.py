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
    # checked against exact float64 distances, not against cdist + topk: in float32 cdist's expansion
    # ‖a‖² + ‖b‖² − 2ab can swap two near-tied neighbours (seen: 111.6149 vs 111.6481), and which way depends
    # on the process (about one query in 100 here, in some runs)
    reference64 = reference.double().cpu()
    exact = torch.cat([torch.cdist(q, reference64).square().amin(dim=1)  # chunks of [500, N] float64: 240 MB
                       for q in queries.double().cpu().split(500)])
    found = (queries.double().cpu() - reference64[ours[1][:, 0].cpu()]).square().sum(dim=1)
    assert torch.allclose(found, exact, rtol=1e-5), "our nearest neighbours are not the exact nearest"
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
