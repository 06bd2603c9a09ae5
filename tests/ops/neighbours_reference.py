"""Independent float64 references for knn and nn_project: brute force over the full distance matrix, and
numpy QR/SVD projections. Small inputs only."""

from __future__ import annotations

import numpy as np
import torch


def brute_force_knn(queries, reference, k, exclude=None):
    """(dist2 [B, k] float64, index [B, k], all distances [B, N] float64), ties by lower index."""
    q = queries.flatten(1).double().cpu()
    r = reference.flatten(1).double().cpu()
    full = (q.unsqueeze(1) - r.unsqueeze(0)).square().sum(-1)
    if exclude is not None:
        rows = exclude.cpu()
        has = rows >= 0
        full[has.nonzero().squeeze(1), rows[has]] = float("inf")
    dist2, index = torch.sort(full, dim=1, stable=True)
    return dist2[:, :k], index[:, :k], full


def assert_same_neighbours(index, ref_index, full, rel=1e-12):
    """Equal index lists, except that rows at (near-)equal reference distance may swap ("ties aside")."""
    index, ref_index = index.cpu(), ref_index.cpu()
    assert index.shape == ref_index.shape
    differ = index != ref_index
    if bool(differ.any()):
        ours = full.gather(1, index)[differ]
        theirs = full.gather(1, ref_index)[differ]
        scale = theirs.abs().clamp_min(1e-300)
        assert bool(((ours - theirs).abs() <= rel * scale).all()), (
            f"{int(differ.sum())} neighbours differ beyond ties; first: ours {index[differ][:5].tolist()} "
            f"vs {ref_index[differ][:5].tolist()}"
        )


def numpy_projection(x_adv, x, reference, index, rank_rtol=1e-8):
    """Float64 numpy reference: P δ onto span{reference[index] − x} per example.

    Full-rank bases use Householder QR (numpy.linalg.qr) as the paper's code does; rank-deficient ones the
    left singular vectors above rank_rtol·σ_max (QR alone would add spurious directions).
    Returns (projection [B, D], residual [B], angle [B] degrees, rank [B]).
    """
    xa = x_adv.flatten(1).double().cpu().numpy()
    x0 = x.flatten(1).double().cpu().numpy()
    ref = reference.flatten(1).double().cpu().numpy()
    idx = index.cpu().numpy()
    projections, residuals, angles, ranks = [], [], [], []
    for b in range(xa.shape[0]):
        basis = (ref[idx[b]] - x0[b]).T  # [D, k]
        delta = xa[b] - x0[b]
        s = np.linalg.svd(basis, compute_uv=False) if basis.size else np.zeros(0)
        rank = int((s > rank_rtol * s.max()).sum()) if s.size and s.max() > 0 else 0
        if rank == basis.shape[1]:
            q, _ = np.linalg.qr(basis)
        else:
            u, _, _ = np.linalg.svd(basis, full_matrices=False)
            q = u[:, :rank]
        p = q @ (q.T @ delta)
        res = np.linalg.norm(delta - p)
        projections.append(p)
        residuals.append(res)
        angles.append(np.degrees(np.arctan2(res, np.linalg.norm(p))))
        ranks.append(rank)
    return np.array(projections), np.array(residuals), np.array(angles), np.array(ranks)
