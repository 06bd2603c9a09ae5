"""knn: neighbour lists equal to a float64 brute force (ties aside) over random, duplicate and quantised data,
tiles small enough to exercise screening and capacity growth, exclusion, the twin, errors, opcheck and
torch.compile."""

from __future__ import annotations

import re

import pytest
import torch

from pyadvman.ops import knn, knn_reference

from .neighbours_reference import assert_same_neighbours, brute_force_knn


def _data(kind: str, batch: int, n: int, d: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    if kind == "random":
        reference = torch.rand(n, d, generator=g, dtype=torch.float64)
        queries = torch.rand(batch, d, generator=g, dtype=torch.float64)
    elif kind == "duplicates":  # repeated rows, queries that are reference rows (distance 0, exact ties)
        base = torch.rand(max(n // 4, 1), d, generator=g, dtype=torch.float64)
        reference = base[torch.randint(0, base.shape[0], (n,), generator=g)]
        queries = reference[torch.randint(0, n, (batch,), generator=g)].clone()
    elif kind == "quantised":  # values in {0, 1/2, 1}: many equal distances
        reference = torch.randint(0, 3, (n, d), generator=g).double() / 2
        queries = torch.randint(0, 3, (batch, d), generator=g).double() / 2
    elif kind == "offset":  # far from the origin: ‖r‖² − 2q·r cancels, its rounding exceeds the gaps
        reference = 100 + 1e-3 * torch.rand(n, d, generator=g, dtype=torch.float64)
        queries = 100 + 1e-3 * torch.rand(batch, d, generator=g, dtype=torch.float64)
    else:  # "images": 28×28 in [0, 1], the size knn runs at in the analyses
        reference = torch.rand(n, 1, 28, 28, generator=g, dtype=torch.float64).square()
        queries = (reference[:batch] + 0.05 * torch.randn(batch, 1, 28, 28, generator=g)).clamp(0, 1)
    return queries, reference


CASES = [  # kind, B, N, D, k, tile
    ("random", 7, 300, 16, 5, None),
    ("random", 7, 300, 16, 5, 6),
    ("random", 33, 500, 3, 12, 40),
    ("random", 1, 50, 1, 50, None),
    ("random", 5, 64, 200, 1, 17),
    ("duplicates", 20, 400, 8, 10, 11),
    ("duplicates", 9, 400, 8, 1, 2),
    ("quantised", 16, 300, 5, 20, 25),
    ("offset", 10, 300, 16, 5, 20),
    ("offset", 10, 300, 16, 5, None),  # every row within the margin: the seeding top-k must grow
    ("images", 12, 600, 784, 10, 64),
]


@pytest.mark.parametrize(("kind", "batch", "n", "d", "k", "tile"), CASES, ids=lambda v: str(v))
def test_matches_brute_force(device, dtype, kind, batch, n, d, k, tile) -> None:
    queries, reference = _data(kind, batch, n, d)
    queries, reference = queries.to(device, dtype), reference.to(device, dtype)
    dist2, index = knn(queries, reference, k, tile=tile)
    assert dist2.shape == (batch, k) and dist2.dtype == dtype and dist2.device == queries.device
    assert index.shape == (batch, k) and index.dtype == torch.int64
    ref_dist2, ref_index, full = brute_force_knn(queries, reference, k)
    assert_same_neighbours(index, ref_index, full)
    # Distances are the float64 sums rounded once to the dtype (the float64 summation order aside).
    rtol = 1e-13 if dtype == torch.float64 else 2 * torch.finfo(dtype).eps
    torch.testing.assert_close(dist2.cpu().double(), ref_dist2.to(dtype).double(), rtol=rtol, atol=0)
    assert bool((dist2[:, 1:] >= dist2[:, :-1]).all())


def test_ties_break_by_lower_index(device) -> None:
    reference = torch.zeros(10, 4, device=device)
    reference[3:] = 1.0  # rows 0-2 at distance 0, rows 3-9 all at distance 4
    dist2, index = knn(torch.zeros(2, 4, device=device), reference, k=6, tile=4)
    assert index.tolist() == [[0, 1, 2, 3, 4, 5]] * 2
    assert dist2.tolist() == [[0, 0, 0, 4, 4, 4]] * 2


@pytest.mark.parametrize("tile", [201, None], ids=["screened-tiles", "one-seeding-tile"])
def test_many_ties_grow_the_candidate_lists(device, tile) -> None:
    """500 equal rows at the k-th distance: every one must survive screening (tiles after the first) or
    seeding (the first tile's top-k, whose capacity doubles) until the final tie-break."""
    g = torch.Generator().manual_seed(1)
    far = torch.rand(300, 6, generator=g) + 5
    reference = torch.cat([far, torch.ones(500, 6), far]).to(device)
    queries = torch.zeros(3, 6, device=device)
    dist2, index = knn(queries, reference, k=10, tile=tile)  # 500 ties > the 148 initial slots
    assert index.tolist() == [list(range(300, 310))] * 3
    assert bool((dist2 == 6).all())


def test_exclude(device) -> None:
    queries, reference = _data("duplicates", 30, 200, 5, seed=2)
    queries, reference = reference[:30].float().to(device), reference.float().to(device)
    exclude = torch.arange(30, device=device)
    exclude[::3] = -1  # no exclusion for every third query
    _, index = knn(queries, reference, 8, exclude=exclude, tile=16)
    _, ref_index, full = brute_force_knn(queries, reference, 8, exclude=exclude)
    assert_same_neighbours(index, ref_index, full)
    has = exclude >= 0
    assert not bool((index[has] == exclude[has].unsqueeze(1)).any())
    assert bool((index[~has][:, 0] <= torch.arange(30, device=device)[~has]).all())  # self or an earlier copy


def test_any_layout_and_image_shapes(device) -> None:
    queries, reference = _data("images", 6, 120, 0)
    queries, reference = queries.float().to(device), reference.float().to(device)
    strided = reference.transpose(2, 3)  # non-contiguous, same shape
    _, index = knn(queries.transpose(2, 3), strided, 4)
    _, ref_index, full = brute_force_knn(queries.transpose(2, 3), strided, 4)
    assert_same_neighbours(index, ref_index, full)


def test_empty_batch(device) -> None:
    dist2, index = knn(torch.empty(0, 9, device=device), torch.rand(20, 9, device=device), 3)
    assert dist2.shape == (0, 3) and index.shape == (0, 3) and index.dtype == torch.int64


@pytest.mark.parametrize("precision", ["high", "medium"])
def test_reduced_matmul_precision_stays_exact_and_is_left_as_it_was(device, precision) -> None:
    """Exact under TF32 / bfloat16 matmul settings (on CUDA the screening GEMM runs without TF32); the caller's
    settings are as before after the call."""
    queries, reference = _data("images", 12, 600, 784, seed=3)
    queries, reference = queries.float().to(device), reference.float().to(device)
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision(precision)
        settings = (torch.backends.cuda.matmul.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision)
        _, index = knn(queries, reference, 10, tile=128)
        after = (torch.backends.cuda.matmul.fp32_precision, torch.backends.mkldnn.matmul.fp32_precision)
        assert after == settings and torch.get_float32_matmul_precision() == precision
    finally:
        torch.set_float32_matmul_precision(before)
    _, ref_index, full = brute_force_knn(queries.cpu(), reference.cpu(), 10)
    assert_same_neighbours(index.cpu(), ref_index, full)


@pytest.mark.parametrize("kind", ["random", "duplicates", "quantised"])
def test_reference_twin_matches_brute_force(kind) -> None:
    queries, reference = _data(kind, 25, 300, 6, seed=4)
    exclude = torch.randint(-1, 300, (25,), generator=torch.Generator().manual_seed(0))
    dist2, index = knn_reference(queries.float(), reference.float(), 9, exclude=exclude)
    ref_dist2, ref_index, full = brute_force_knn(queries.float(), reference.float(), 9, exclude=exclude)
    assert_same_neighbours(index, ref_index, full)
    torch.testing.assert_close(dist2.double(), ref_dist2.float().double(), rtol=2**-23, atol=0)


def test_errors() -> None:
    q, r = torch.rand(4, 5), torch.rand(10, 5)
    excluding = torch.zeros(4, dtype=torch.long)
    cases = [
        (lambda: knn(q, r, 0), ValueError, "knn: k must be >= 1, got 0"),
        (lambda: knn(q, r, 11), ValueError, "k must be <= 10, the number of reference rows N = 10, got 11"),
        (lambda: knn(q, r, 10, exclude=excluding), ValueError, "k must be <= 9"),
        (lambda: knn(q, r, 2.0), TypeError, "knn: k must be an int, got float"),
        (lambda: knn(q, torch.rand(10, 6), 2), ValueError,
         "reference must have shape [N, 5] (rows like queries), got [10, 6]"),
        (lambda: knn(q.long(), r, 2), TypeError, "queries must be a float32, float64, float16 or bfloat16 tensor, got torch.int64"),
        (lambda: knn(q, r.double(), 2), TypeError, "reference must have dtype torch.float32 like queries"),
        (lambda: knn(q, r.to("meta"), 2), ValueError, "reference must be on cpu like queries, got meta"),
        (lambda: knn(q[0], r, 2), ValueError, "queries must have shape [B, D] or [B, ...], got [5]"),
        (lambda: knn(q.masked_fill(q > 0.5, float("nan")), r, 2), ValueError, "queries must be finite"),
        (lambda: knn(q, r, 2, exclude=torch.tensor([0, 1, 10, 2])), ValueError, "must be in [-1, 10)"),
        (lambda: knn(q, r, 2, exclude=excluding[:3]), ValueError, "exclude must have shape [4]"),
        (lambda: knn(q, r, 2, exclude=torch.zeros(4)), TypeError, "exclude must be an int64 tensor"),
        (lambda: knn(q, r, 2, tile=-1), ValueError, "knn: tile must be >= 0, got -1"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            call()


def test_raw_op_checks() -> None:
    q, r = torch.rand(4, 5), torch.rand(10, 5)
    message = "knn: k must be in [1, 10] (N = 10 reference rows), got 0"
    with pytest.raises(ValueError, match=re.escape(message)):
        torch.ops.pyadvman.knn(q, r, 0, None, 0)
    with pytest.raises(ValueError, match=re.escape("knn: reference must have shape [N, 5] (D like queries)")):
        torch.ops.pyadvman.knn(q, torch.rand(10, 4), 2, None, 0)
    with pytest.raises(TypeError, match="knn: exclude must be an int64 tensor"):
        torch.ops.pyadvman.knn(q, r, 2, torch.zeros(4, dtype=torch.int32), 0)


def test_opcheck(device, dtype) -> None:
    queries, reference = _data("random", 6, 40, 7)
    queries, reference = queries.to(device, dtype), reference.to(device, dtype)
    exclude = torch.tensor([0, -1, 2, 3, -1, 5], device=device)
    for args in [(queries, reference, 3, None, 0), (queries, reference, 4, exclude, 9)]:
        torch.library.opcheck(torch.ops.pyadvman.knn.default, args)


def test_torch_compile_fullgraph(device) -> None:
    torch._dynamo.reset()
    queries, reference = _data("random", 5, 80, 6)
    queries, reference = queries.float().to(device), reference.float().to(device)
    compiled = torch.compile(lambda q, r: knn(q, r, 4)[0].sqrt(), fullgraph=True)
    torch.testing.assert_close(compiled(queries, reference), knn(queries, reference, 4)[0].sqrt())
