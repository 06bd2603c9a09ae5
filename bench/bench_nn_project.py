"""Benchmark of pyadvman.ops.nn_project (exact kNN + projection) against faiss IndexFlatL2's search alone
(the target: within 2× of it) and against the pipeline users assemble from faiss + torch.linalg.qr, over
N = 60,000, D = 784, B ∈ {100, 1000, 10000}, k ∈ {1, 10, 50}.

    python bench/bench_nn_project.py [--device cpu|cuda] [--quick] [--min-run-time S]
"""

from __future__ import annotations

import _neighbours as nb
import torch

from pyadvman.ops import nn_project


def faiss_qr_projection(index, x_adv, x, reference, k):
    """faiss search, then the paper code's projection: Q from QR of {x_i − x}, Pδ = Q Qᵀ δ, residual, angle."""
    _, neighbours = index.search(x_adv.numpy(), k)
    basis = (reference[torch.from_numpy(neighbours)] - x.unsqueeze(1)).transpose(1, 2)  # [B, D, k]
    q, _ = torch.linalg.qr(basis)
    delta = (x_adv - x).unsqueeze(2)
    projection = q @ (q.transpose(1, 2) @ delta)
    residual = (delta - projection).norm(dim=(1, 2))
    angle = torch.rad2deg(torch.atan2(residual, projection.norm(dim=(1, 2))))
    return projection.squeeze(2), residual, angle


def make_methods(x_adv, reference, k, index):
    x = (x_adv + 0.05 * torch.randn_like(x_adv)).clamp(0, 1)  # clean points near the "adversarial" queries
    ours = nn_project(x_adv, x, reference, k)
    methods = {"ours": lambda: nn_project(x_adv, x, reference, k)}
    if index is not None:
        q = x_adv.numpy()
        methods["faiss_search"] = lambda: index.search(q, k)
        methods["faiss_qr"] = lambda: faiss_qr_projection(index, x_adv, x, reference, k)
        _, residual, _ = faiss_qr_projection(index, x_adv, x, reference, k)
        # faiss' float32 search may swap a near-tied neighbour, which changes that example's basis
        agree = torch.isclose(residual, ours[1], rtol=1e-3).float().mean()
        assert agree > 0.99, f"faiss + QR residuals disagree with ours on {1 - agree:.1%} of examples"
    return methods, None, None


if __name__ == "__main__":
    nb.run("nn_project", make_methods, __doc__.splitlines()[0])
