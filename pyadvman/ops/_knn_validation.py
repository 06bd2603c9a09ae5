"""Argument checks shared by knn and nn_project: clear ValueError/TypeError before any kernel runs."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import torch
from torch import Tensor

from pyadvman.ops._validation import _check_like, _check_tensor, _check_typed_tensor, _shape


@dataclass(frozen=True)
class KnnArgs:
    """Validated arguments: queries [B, D] and reference [N, D] as 2-D views, k, exclude [B] or None, tile."""

    queries: Tensor
    reference: Tensor
    k: int
    exclude: Tensor | None
    tile: int


def _check_int(op: str, name: str, v: object, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {type(v).__name__}")
    if v < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {v}")
    return int(v)


def check_knn_args(
    op: str, queries: object, reference: object, k: object, exclude: object, tile: object, *,
    queries_name: str = "queries",
) -> KnnArgs:
    """Validates the arguments of knn / nn_project (see their docstrings) and flattens [B, ...] to [B, D].

    Raises:
        TypeError: a non-tensor, a non-floating tensor, mismatched dtypes, a non-int k/tile, a non-int64
            exclude.
        ValueError: shapes that do not match, different devices, k outside [1, N], an exclude row outside
            [-1, N), tile < 0. (NaN/inf in the data is caught by the operator, from norms it computes anyway.)
    """
    queries = _check_tensor(op, queries_name, queries)
    reference = _check_like(op, "reference", reference, queries, queries_name)
    if queries.dim() < 2:
        raise ValueError(f"{op}: {queries_name} must have shape [B, D] or [B, ...], got {_shape(queries)}")
    if reference.dim() < 2 or reference.shape[1:] != queries.shape[1:]:
        row = ", ".join(map(str, queries.shape[1:]))
        raise ValueError(
            f"{op}: reference must have shape [N, {row}] (rows like {queries_name}), got {_shape(reference)}"
        )
    n = reference.shape[0]
    k_max = n - 1 if exclude is not None else n
    k = _check_int(op, "k", k, 1)
    if k > k_max:
        why = " (one reference row excluded per query)" if exclude is not None else ""
        raise ValueError(f"{op}: k must be <= {k_max}, the number of reference rows N = {n}{why}, got {k}")
    tile = _check_int(op, "tile", 0 if tile is None else tile, 0)
    if exclude is not None:
        exclude = _check_typed_tensor(
            op, "exclude", exclude, torch.int64, "an int64 tensor", queries, queries_name
        )
        if exclude.shape != (queries.shape[0],):
            raise ValueError(f"{op}: exclude must have shape [{queries.shape[0]}], got {_shape(exclude)}")
        if not torch.compiler.is_compiling() and exclude.numel() > 0:
            bad = (exclude < -1) | (exclude >= n)
            if bool(bad.any()):
                first_bad = exclude[bad][0].item()
                raise ValueError(f"{op}: exclude must be in [-1, {n}) (-1: none), got {first_bad}")
    return KnnArgs(queries.flatten(1), reference.flatten(1), k, exclude, tile)
