"""``nn_project``: projection of a perturbation onto the local manifold spanned by nearest neighbours."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pyadvman._library import library_loaded
from pyadvman.ops._dispatch import use_compiled
from pyadvman.ops._knn_validation import check_knn_args
from pyadvman.ops._linf_reference import compute_dtype
from pyadvman.ops._validation import _check_like, _shape
from pyadvman.ops.knn import knn_reference


def _rtol(op: str, rtol: float | None, dtype: torch.dtype) -> float:
    if rtol is None:  # float64 is computed in float64, every other dtype in float32
        return 1e-10 if dtype == torch.float64 else 1e-4
    rtol = float(rtol)
    if not 0 <= rtol < 1:
        raise ValueError(f"{op}: rtol must be in [0, 1), got {rtol}")
    return rtol


def nn_project(
    x_adv: Tensor,
    x: Tensor,
    reference: Tensor,
    k: int = 50,
    *,
    exclude: Tensor | None = None,
    tile: int | None = None,
    rtol: float | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Projects δ = x_adv − x onto the span of {x_i − x} over the k nearest reference rows x_i of x_adv.

    The "inclusive nn" approximation of the data manifold (Stutz, Hein, Schiele, CVPR 2019, Sec. 3.1;
    docs/papers.md §1, "Distance to the manifold"): off-manifold perturbations leave a large residual and an angle
    near 90°, on-manifold ones a small residual. The neighbours are found exactly by :func:`knn` in pixel
    space. The basis is made orthonormal by classical Gram-Schmidt with one re-orthogonalisation, which is
    as stable as Householder QR ("twice is enough", Giraud et al. 2005); a basis vector whose part
    orthogonal to the previous ones is at most ``rtol`` times its norm is dropped, so a rank-deficient basis
    (duplicates, x itself among the neighbours) spans only its true span. The residual is computed directly
    as δ minus its projection, twice, so a small residual keeps its relative accuracy.

    Args:
        x_adv (Tensor[B, D] or Tensor[B, ...]): adversarial examples (trailing dimensions flattened).
        x (Tensor like x_adv): the clean examples.
        reference (Tensor[N, D] or Tensor[N, ...]): the training set, same dtype, device and trailing shape.
        k (int): neighbours, 1 <= k <= N (N − 1 with ``exclude``); the paper uses 50.
        exclude (Tensor[B] int64, optional): a reference row per example never used as a neighbour (-1: none).
        tile (int, optional): reference rows per GEMM tile of the search (see :func:`knn`).
        rtol (float, optional): rank tolerance in [0, 1); default 1e-4 (float32), 1e-10 (float64).

    Returns:
        (projection, residual, angle): ``projection`` Pδ shaped like x_adv; ``residual`` Tensor[B]
        ‖δ − Pδ‖₂ in input units; ``angle`` Tensor[B] ∠(δ, Pδ) in degrees, in [0, 90]. δ = 0 gives residual 0
        and angle 0. All in the input dtype. Not differentiable.

    Dtypes: float32 and float64; float16/bfloat16 are computed in float32. Devices: CPU and CUDA.

    Raises:
        TypeError: non-tensor or non-floating inputs, mismatched dtypes, non-int ``k``/``tile``.
        ValueError: mismatched shapes or devices, ``k`` outside [1, N], NaN/inf in the data, ``rtol`` outside
            [0, 1).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> reference = torch.rand(500, 64)
        >>> x = reference[:4]
        >>> on = x + 0.5 * (reference[4:8] - x)    # towards a training point: inside the local span
        >>> off = x + 0.1 * torch.randn(4, 64)      # random noise: mostly orthogonal to it
        >>> _, res_on, angle_on = nn_project(on, x, reference, k=10)
        >>> _, res_off, angle_off = nn_project(off, x, reference, k=10)
        >>> bool((angle_on < 1).all() and (angle_off > 45).all())  # random noise: 68° to 76° here
        True
    """
    op = "nn_project"
    args = check_knn_args(op, x_adv, reference, k, exclude, tile, queries_name="x_adv")
    x = _check_like(op, "x", x, x_adv, "x_adv")
    if x.shape != x_adv.shape:
        raise ValueError(f"{op}: x must have shape {_shape(x_adv)} like x_adv, got {_shape(x)}")
    rtol = _rtol(op, rtol, x_adv.dtype)
    x_flat = x.flatten(1)
    with torch.no_grad():
        if use_compiled(op, args.queries, every_float_dtype=True):
            projection, residual, angle = torch.ops.pyadvman.nn_project(
                args.queries, x_flat, args.reference, args.k, args.exclude, args.tile, rtol
            )
        else:
            projection, residual, angle = nn_project_reference(
                args.queries, x_flat, args.reference, args.k, exclude=args.exclude, rtol=rtol
            )
    return projection.view(x_adv.shape), residual, angle


def nn_project_reference(
    x_adv: Tensor, x: Tensor, reference: Tensor, k: int = 50, *, exclude: Tensor | None = None,
    rtol: float | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Pure-PyTorch twin of :func:`nn_project` on [B, D] inputs (the fallback without the compiled library).

    The same algorithm batched over examples: neighbours from :func:`knn_reference`, Gram-Schmidt with one
    re-orthogonalisation in float32 (float64 for float64 inputs), dropped vectors kept as zero rows.
    """
    rtol = _rtol("nn_project", rtol, x_adv.dtype)
    dtype = compute_dtype(x_adv.dtype)
    _, index = knn_reference(x_adv, reference, k, exclude=exclude)
    xa, x0, ref = x_adv.to(dtype), x.to(dtype), reference.to(dtype)
    basis = xa.new_zeros(xa.shape[0], k, xa.shape[1])

    def orthogonalise(v: Tensor) -> Tensor:
        for _ in range(2):
            v = v - (basis.transpose(1, 2) @ (basis @ v.unsqueeze(2))).squeeze(2)
        return v

    for j in range(k):
        v = ref[index[:, j]] - x0
        before = v.double().norm(dim=1, keepdim=True)
        v = orthogonalise(v)
        after = v.double().norm(dim=1, keepdim=True)
        keep = (after > 0) & (after > rtol * before)
        basis[:, j] = torch.where(keep, v / after.clamp_min(torch.finfo(torch.float64).tiny).to(dtype), 0)
    delta = xa - x0
    residual_vector = orthogonalise(delta)
    projection = delta - residual_vector
    residual = residual_vector.double().norm(dim=1)
    angle = torch.atan2(residual, projection.double().norm(dim=1)) * (180 / math.pi)
    out = x_adv.dtype
    return projection.to(out), residual.to(out), angle.to(out)


if library_loaded():

    @torch.library.register_fake("pyadvman::nn_project")
    def _(x_adv, x, reference, k, exclude, tile, rtol):
        batch = x_adv.shape[0]
        return x_adv.new_empty(x_adv.shape), x_adv.new_empty(batch), x_adv.new_empty(batch)
