"""nn_project: residuals, angles and projections against a float64 numpy QR/SVD reference on random,
on-manifold, rank-deficient, ill-conditioned and k > D bases; δ = 0; the twin; errors; opcheck;
torch.compile."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from pyadvman.ops import nn_project, nn_project_reference

from .neighbours_reference import brute_force_knn, numpy_projection


def _problem(kind: str, batch: int = 12, n: int = 400, d: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    reference = torch.rand(n, d, generator=g, dtype=torch.float64)
    x = torch.rand(batch, d, generator=g, dtype=torch.float64)
    if kind == "random":  # off-manifold noise
        x_adv = x + 0.3 * torch.randn(batch, d, generator=g, dtype=torch.float64)
    elif kind == "on_manifold":  # δ inside the span of {x_i − x} for x_adv's neighbours (small residual)
        noise = 1e-3 * torch.randn(batch, d, generator=g, dtype=torch.float64)
        x_adv = x + 0.6 * (reference[:batch] - x) + noise
    elif kind == "rank_deficient":  # x is a reference row (zero basis vector) and rows repeat
        reference = torch.cat([reference[: n // 2], reference[: n // 2]])
        x = reference[:batch].clone()
        x_adv = x + 0.05 * torch.randn(batch, d, generator=g, dtype=torch.float64)
    elif kind == "ill_conditioned":  # neighbours nearly on one line through x: one-pass Gram-Schmidt fails
        direction = torch.randn(d, generator=g, dtype=torch.float64)
        steps = torch.linspace(0.5, 1.5, n, dtype=torch.float64).unsqueeze(1)
        x = x[:1].expand(batch, d).clone()
        reference = x[:1] + steps * direction + 1e-3 * torch.randn(n, d, generator=g, dtype=torch.float64)
        x_adv = x + 0.3 * torch.randn(batch, d, generator=g, dtype=torch.float64)
    else:  # "zero_delta"
        x_adv = x.clone()
    return x_adv, x, reference


@pytest.mark.parametrize(
    ("kind", "k", "d"),
    [("random", 1, 64), ("random", 10, 64), ("random", 50, 64), ("on_manifold", 10, 64),
     ("rank_deficient", 20, 64), ("ill_conditioned", 30, 64), ("random", 80, 32), ("random", 10, 784)],
    ids=lambda v: str(v),
)
def test_matches_numpy_reference(device, dtype, kind, k, d) -> None:
    x_adv, x, reference = _problem(kind, d=d)
    x_adv, x, reference = (t.to(device, dtype) for t in (x_adv, x, reference))
    projection, residual, angle = nn_project(x_adv, x, reference, k, tile=37)
    assert projection.shape == x_adv.shape and residual.shape == angle.shape == (x_adv.shape[0],)
    assert projection.dtype == residual.dtype == angle.dtype == dtype
    _, index, _ = brute_force_knn(x_adv, reference, k)
    p_ref, res_ref, angle_ref, rank = numpy_projection(x_adv, x, reference, index)
    if kind == "rank_deficient":
        assert (rank < k).all(), "the data must exercise a rank-deficient basis"
    if k > d:
        assert (rank == d).all()
    delta_norm = np.linalg.norm((x_adv - x).double().cpu().numpy(), axis=1)
    # 1e-4 relative to ‖δ‖ (the scale of both outputs); angles to 1e-4 of 90°; looser in half precision,
    # whose inputs carry 3 significant digits.
    rel = {torch.float16: 2e-2, torch.bfloat16: 2e-2}.get(dtype, 1e-4)
    atol = rel * delta_norm.max()
    np.testing.assert_allclose(residual.double().cpu().numpy(), res_ref, rtol=rel, atol=atol)
    np.testing.assert_allclose(angle.double().cpu().numpy(), angle_ref, rtol=rel, atol=90 * rel)
    np.testing.assert_allclose(projection.double().cpu().numpy(), p_ref, atol=atol)
    if kind == "on_manifold":
        assert (res_ref < 0.05 * delta_norm).all() and (angle.cpu() < 5).all()
    if kind == "random" and k <= 10:
        assert (angle.cpu() > 60).all()


def test_small_residuals_keep_relative_accuracy() -> None:
    """δ almost inside the span: the residual is computed directly, not as ‖δ‖² − ‖Pδ‖²."""
    x_adv, x, reference = _problem("on_manifold", seed=3)
    x_adv, x, reference = x_adv.float(), x.float(), reference.float()
    _, residual, _ = nn_project(x_adv, x, reference, 10)
    _, index, _ = brute_force_knn(x_adv, reference, 10)
    _, res_ref, _, _ = numpy_projection(x_adv, x, reference, index)
    np.testing.assert_allclose(residual.double().numpy(), res_ref, rtol=1e-3)


def test_zero_perturbation_gives_zero_residual_and_angle(device) -> None:
    x_adv, x, reference = (t.float().to(device) for t in _problem("zero_delta"))
    projection, residual, angle = nn_project(x_adv, x, reference, 5)
    assert bool((projection == 0).all() and (residual == 0).all() and (angle == 0).all())


def test_image_shapes_and_empty_batch(device) -> None:
    g = torch.Generator().manual_seed(5)
    reference = torch.rand(100, 1, 8, 8, generator=g).to(device)
    x = reference[:3].clone()
    projection, residual, angle = nn_project(x + 0.1, x, reference, 6)
    assert projection.shape == (3, 1, 8, 8) and residual.shape == (3,)
    empty = torch.empty(0, 1, 8, 8, device=device)
    projection, residual, angle = nn_project(empty, empty, reference, 6)
    assert projection.shape == (0, 1, 8, 8) and residual.shape == angle.shape == (0,)


@pytest.mark.parametrize("kind", ["random", "rank_deficient", "on_manifold"])
def test_reference_twin(kind) -> None:
    x_adv, x, reference = (t.float() for t in _problem(kind, seed=6))
    projection, residual, angle = nn_project_reference(x_adv, x, reference, 15)
    _, index, _ = brute_force_knn(x_adv, reference, 15)
    p_ref, res_ref, angle_ref, _ = numpy_projection(x_adv, x, reference, index)
    scale = float(np.linalg.norm((x_adv - x).numpy(), axis=1).max())
    np.testing.assert_allclose(residual.double().numpy(), res_ref, rtol=1e-4, atol=1e-4 * scale)
    np.testing.assert_allclose(angle.double().numpy(), angle_ref, rtol=1e-4, atol=9e-3)
    np.testing.assert_allclose(projection.double().numpy(), p_ref, atol=1e-4 * scale)


def test_errors() -> None:
    x, r = torch.rand(4, 5), torch.rand(10, 5)
    cases = [
        (lambda: nn_project(x, x[:3], r, 2), ValueError, "x must have shape [4, 5] like x_adv, got [3, 5]"),
        (lambda: nn_project(x, x.double(), r, 2), TypeError, "x must have dtype torch.float32 like x_adv"),
        (lambda: nn_project(x, x, r, 11), ValueError, "nn_project: k must be <= 10"),
        (lambda: nn_project(x, x, r, 2, rtol=1.0), ValueError, "nn_project: rtol must be in [0, 1), got 1.0"),
        (lambda: nn_project(x, x, torch.rand(10, 4), 2), ValueError,
         "reference must have shape [N, 5] (rows like x_adv)"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            call()
    message = "nn_project: x must have shape [4, 5] like x_adv, got [4, 6]"
    with pytest.raises(ValueError, match=re.escape(message)):
        torch.ops.pyadvman.nn_project(x, torch.rand(4, 6), r, 2, None, 0, 1e-4)
    with pytest.raises(ValueError, match=re.escape("nn_project: rtol must be in [0, 1), got -1")):
        torch.ops.pyadvman.nn_project(x, x, r, 2, None, 0, -1.0)


def test_opcheck(device, dtype) -> None:
    x_adv, x, reference = (t.to(device, dtype) for t in _problem("random", batch=4, n=30, d=6))
    torch.library.opcheck(torch.ops.pyadvman.nn_project.default, (x_adv, x, reference, 5, None, 0, 1e-4))


def test_torch_compile_fullgraph(device) -> None:
    torch._dynamo.reset()
    x_adv, x, reference = (t.float().to(device) for t in _problem("random", batch=4, n=60, d=8))
    compiled = torch.compile(lambda a, b, r: nn_project(a, b, r, 5)[1] * 2, fullgraph=True)
    torch.testing.assert_close(compiled(x_adv, x, reference), nn_project(x_adv, x, reference, 5)[1] * 2)
