"""``knn``: exact squared-L2 k nearest neighbours, tiled, ties broken by the lower index."""

from __future__ import annotations

import torch
from torch import Tensor

from pyadvman._library import library_loaded
from pyadvman.ops._dispatch import use_compiled
from pyadvman.ops._knn_validation import check_knn_args

_REFERENCE_CHUNK_ELEMENTS = 1 << 22  # [B, chunk] float64 distances per step of the twin


def knn(
    queries: Tensor, reference: Tensor, k: int, *, exclude: Tensor | None = None, tile: int | None = None
) -> tuple[Tensor, Tensor]:
    """The ``k`` nearest rows of ``reference`` to each query in squared Euclidean distance, exactly.

    This is the neighbour search of the "inclusive nn" manifold distance (Stutz, Hein, Schiele, "Disentangling
    Adversarial Robustness and Generalization", CVPR 2019, Sec. 3.1; docs/papers.md §1), done in pixel space and
    exactly: the result equals a float64 brute-force search. Each tile of reference rows is screened with one
    GEMM (‖r‖² − 2 q·r) against the current k-th value plus a rigorous bound on its rounding error, and the
    surviving candidates are re-ranked with Σ(q − r)² accumulated in float64. Extra memory is one
    [min(B, 4096), T] tile and about [B, 2k + 128] candidates; the [B, N] matrix is never formed.

    Args:
        queries (Tensor[B, D] or Tensor[B, ...]): query points (trailing dimensions are flattened).
        reference (Tensor[N, D] or Tensor[N, ...]): the rows to search, same dtype, device and trailing shape.
        k (int): neighbours per query, 1 <= k <= N (N − 1 with ``exclude``).
        exclude (Tensor[B] int64, optional): one reference row per query that is never returned, e.g. the
            query's own row when the queries are the reference (-1: none).
        tile (int, optional): reference rows per GEMM tile (default: a [min(B, 4096), T] tile of 2²² elements
            on CPU, 2²⁶ on CUDA, and at least k + 1 rows).

    Returns:
        (dist2, index): ``dist2`` Tensor[B, k] in the input dtype, squared L2 distances in input units²,
        ascending, computed in float64 and rounded once; ``index`` Tensor[B, k] int64 rows of ``reference``,
        equal distances ordered by lower index. Not differentiable.

    Dtypes: float32 and float64; float16/bfloat16 are searched in float32. Devices: CPU and CUDA.
    On CUDA the screening GEMMs run without TF32 whatever ``torch.set_float32_matmul_precision`` and
    ``torch.backends.cuda.matmul.allow_tf32`` say (only this call, on this thread): TF32's rounding would make the
    rigorous margin exceed the distances of image data, and every row would be re-ranked. On the CPU a matmul
    precision that lets oneDNN use bfloat16 widens the margin (slower, still exact).

    Raises:
        TypeError: non-tensor or non-floating inputs, mismatched dtypes, non-int ``k``/``tile``, non-int64
            ``exclude``.
        ValueError: trailing shapes that differ, different devices, ``k`` outside [1, N], NaN or inf in the
            data, ``exclude`` rows outside [-1, N), ``tile`` < 0.

    Example:
        >>> reference = torch.rand(1000, 784)
        >>> dist2, index = knn(reference[:3] + 0.01, reference, k=5)
        >>> index[:, 0].tolist()
        [0, 1, 2]
        >>> bool((dist2[:, 1:] >= dist2[:, :-1]).all())
        True
    """
    args = check_knn_args("knn", queries, reference, k, exclude, tile)
    with torch.no_grad():
        if use_compiled("knn", args.queries, every_float_dtype=True):
            return torch.ops.pyadvman.knn(args.queries, args.reference, args.k, args.exclude, args.tile)
        return knn_reference(args.queries, args.reference, args.k, exclude=args.exclude)


def knn_reference(
    queries: Tensor, reference: Tensor, k: int, *, exclude: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Pure-PyTorch twin of :func:`knn` (the fallback without the compiled library), queries [B, D].

    Distances are ranked by the float64 expansion ‖q‖² + ‖r‖² − 2 q·r over chunks of reference rows, then the
    k winners are recomputed as Σ(q − r)² in float64. It can differ from :func:`knn` only where two distances
    differ by less than about 1e-15·(‖q‖² + ‖r‖²).
    """
    q = queries.flatten(1).double()
    r = reference.flatten(1).double()
    batch, n = q.shape[0], r.shape[0]
    q_norm2 = q.square().sum(1, keepdim=True)
    best = q.new_full((batch, 0), float("inf"))
    best_index = torch.empty(batch, 0, dtype=torch.long, device=q.device)
    chunk = max(k, _REFERENCE_CHUNK_ELEMENTS // max(batch, 1))
    for first in range(0, n, chunk):
        rows = r[first : first + chunk]
        d2 = q_norm2 + rows.square().sum(1) - 2 * q @ rows.T
        index = torch.arange(first, first + rows.shape[0], device=q.device).expand(batch, -1)
        if exclude is not None:
            d2 = d2.masked_fill(index == exclude.unsqueeze(1), float("inf"))
        # The running best all precede this chunk's rows, so a stable sort keeps ties in index order.
        best, order = torch.sort(torch.cat([best, d2], 1), dim=1, stable=True)
        best_index = torch.cat([best_index, index], 1).gather(1, order)
        best, best_index = best[:, :k], best_index[:, :k]
    exact = (q.unsqueeze(1) - r[best_index]).square().sum(-1)
    best_index, order = torch.sort(best_index, dim=1)
    exact, order_by_distance = torch.sort(exact.gather(1, order), dim=1, stable=True)
    return exact.to(queries.dtype), best_index.gather(1, order_by_distance)


if library_loaded():

    @torch.library.register_fake("pyadvman::knn")
    def _(queries, reference, k, exclude, tile):
        batch = queries.shape[0]
        return queries.new_empty(batch, k), queries.new_empty(batch, k, dtype=torch.long)
