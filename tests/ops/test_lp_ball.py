"""l2_project, l2_step and l1_project: the kernels against their pure-PyTorch twins over the case matrix, the
radius guarantee as a float64 checker sees it, the exact L1 projection against an independent float64
reference, NaN rows, error messages, opcheck and torch.compile."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pyadvman.ops import (
    l1_project,
    l1_project_reference,
    l2_project,
    l2_project_reference,
    l2_step,
    l2_step_reference,
)


def _lp_radius(inp, p: int):
    """The L∞ case's radius scaled to an Lp ball that some rows' points lie inside and others outside."""
    features = max(inp.x0[0].numel(), 1) if inp.x0.shape[0] else 1
    scale = 0.8 * features ** (1.0 / p)
    return inp.eps * scale


def _checked_norm(out: torch.Tensor, x0: torch.Tensor, p: int) -> torch.Tensor:
    """What a checker finds, per row: the larger of the float64 norm and the rounded difference's."""
    rows = out.reshape(-1, *x0.shape)
    wide = (rows.double() - x0.double()).reshape(*rows.shape[:2], -1).norm(p=p, dim=2)
    rounded = (rows - x0).double().reshape(*rows.shape[:2], -1).norm(p=p, dim=2)
    return torch.maximum(wide, rounded)


def _assert_close_to_twin(out: torch.Tensor, ref: torch.Tensor) -> None:
    """Equal within rounding: the kernels reduce in another order (and the L1 CPU kernel sorts its kinks where
    the twin bisects), so an element may differ by a few ulps of the dtype, never more."""
    assert out.shape == ref.shape and out.dtype == ref.dtype and out.is_contiguous()
    tolerance = 8 * torch.finfo(out.dtype).eps
    torch.testing.assert_close(out, ref, atol=tolerance, rtol=tolerance, equal_nan=True)


def _assert_inside(out, inp, eps, p: int) -> None:
    if inp.x0.numel() == 0:
        return
    finite_rows = ~_checked_norm(out, inp.x0, p).isnan()
    limit = eps if isinstance(eps, float) else eps.double().unsqueeze(0).expand_as(finite_rows)
    norms = _checked_norm(out, inp.x0, p)
    assert bool((norms[finite_rows] <= (limit[finite_rows] if not isinstance(eps, float) else eps)).all())
    assert bool((out[~out.isnan()] >= 0).all() and (out[~out.isnan()] <= 1).all())


def test_l2_project_matches_twin_and_stays_inside(linf_case, linf_inputs) -> None:
    inp = linf_inputs
    eps = _lp_radius(inp, 2)
    out = l2_project(inp.x, inp.x0, eps)
    _assert_close_to_twin(out, l2_project_reference(inp.x, inp.x0, eps))
    _assert_inside(out, inp, eps, 2)


def test_l2_step_matches_twin_and_stays_inside(linf_case, linf_inputs) -> None:
    inp = linf_inputs
    eps, alpha = _lp_radius(inp, 2), _lp_radius(inp, 2) / 4
    out = l2_step(inp.x, inp.x0, inp.grad, eps, alpha, active=inp.active)
    _assert_close_to_twin(out, l2_step_reference(inp.x, inp.x0, inp.grad, eps, alpha, active=inp.active))
    if inp.active is None:
        _assert_inside(out, inp, eps, 2)
    else:  # inactive rows keep x_adv exactly
        keep = (~inp.active).reshape(inp.active.shape + (1,) * (inp.x0.dim() - 1)).expand(out.shape)
        assert torch.equal(out[keep].nan_to_num(-7.0), inp.x[keep].nan_to_num(-7.0))


def test_l1_project_matches_twin_and_stays_inside(linf_case, linf_inputs) -> None:
    inp = linf_inputs
    eps = _lp_radius(inp, 1)
    out = l1_project(inp.x, inp.x0, eps)
    _assert_close_to_twin(out, l1_project_reference(inp.x, inp.x0, eps))
    _assert_inside(out, inp, eps, 1)


# --- the exact L1 projection against an independent float64 reference -------------------------------------------

def l1_projection_float64(x: np.ndarray, x0: np.ndarray, eps: float, lo: float = 0.0, hi: float = 1.0
                          ) -> np.ndarray:
    """argmin ‖z − x‖₂ over ‖z − x0‖₁ <= eps, lo <= z <= hi, for one row with x0 in [lo, hi], in numpy float64:
    the multiplier's length function is evaluated at every kink (no sorting, no search) and its linear piece
    through eps solved; written apart from the operators' code."""
    y = x - x0
    cap = np.where(y > 0, hi - x0, x0 - lo)  # how far |δ_i| may grow on y_i's side of x0
    a = np.abs(y)

    def length(lam: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(a[None, :] - lam[:, None], 0.0), cap[None, :]).sum(axis=1)

    if length(np.zeros(1))[0] <= eps:
        lam = 0.0
    else:
        kinks = np.unique(np.concatenate([[0.0], a, a - cap]))
        kinks = kinks[kinks >= 0]
        values = length(kinks)
        j = int(np.argmax(values <= eps))  # the first kink inside; kinks[0] = 0 is outside
        left, right = kinks[j - 1], kinks[j]
        lam = left + (values[j - 1] - eps) * (right - left) / (values[j - 1] - values[j])
    delta = np.sign(y) * np.minimum(np.maximum(a - lam, 0.0), cap)
    return x0 + delta


def _l1_cases(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, features = 12, 300
    if kind == "binary-centre":
        x0 = rng.integers(0, 2, size=(rows, features)).astype(np.float64)
    else:
        x0 = rng.random((rows, features))
    if kind == "random":
        x = x0 + rng.normal(size=(rows, features))
    elif kind == "sparse":
        x = x0.copy()
        hit = rng.random((rows, features)) < 0.03
        x[hit] += rng.normal(scale=3.0, size=int(hit.sum()))
    elif kind == "feasible":
        x = np.clip(x0 + rng.normal(scale=0.01, size=(rows, features)), 0.0, 1.0)
    else:  # binary-centre
        x = x0 + rng.normal(scale=0.5, size=(rows, features))
    eps = rng.random(rows) * 15.0
    eps[0], eps[1] = 0.0, 1e9  # a point ball, and a ball that holds the whole box
    if kind == "feasible":
        eps = np.full(rows, 50.0)
    return x, x0, eps


@pytest.mark.parametrize("kind", ["random", "sparse", "feasible", "binary-centre"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_l1_project_equals_a_float64_reference(kind, dtype) -> None:
    x, x0, eps = _l1_cases(kind, np.random.default_rng(["random", "sparse", "feasible", "binary-centre"].index(kind)))
    if dtype == torch.float32:  # the reference gets the very float32 values the operator sees
        x, x0 = x.astype(np.float32).astype(np.float64), x0.astype(np.float32).astype(np.float64)
    out = l1_project(torch.tensor(x, dtype=dtype), torch.tensor(x0, dtype=dtype), torch.tensor(eps))
    expected = np.stack([l1_projection_float64(x[i], x0[i], eps[i]) for i in range(len(x))])
    # float64: within rounding of the multiplier; float32: one rounding of each output, and the radius guard's
    # shrink of at most a few ulps of the row's norm
    atol = 1e-11 if dtype == torch.float64 else 4e-6
    np.testing.assert_allclose(out.double().numpy(), expected, rtol=0, atol=atol)
    if kind == "feasible":
        np.testing.assert_array_equal(out.double().numpy(), x)
    norms = _checked_norm(out, torch.tensor(x0, dtype=dtype), 1)[0]
    assert bool((norms <= torch.tensor(eps)).all())


def test_l1_projection_is_not_ball_then_box() -> None:
    """Clamping the L1 ball's projection to the box leaves budget unused; the exact projection spends it."""
    x0 = torch.tensor([[0.9, 0.5, 0.5]], dtype=torch.float64)
    x = torch.tensor([[3.0, 0.8, 0.5]], dtype=torch.float64)
    out = l1_project(x, x0, 0.5)
    np.testing.assert_allclose(out.numpy(), [[1.0, 0.8, 0.5]], atol=1e-12)  # 0.1 + 0.3 + 0: inside, nearest
    np.testing.assert_allclose(l1_projection_float64(x[0].numpy(), x0[0].numpy(), 0.5), [1.0, 0.8, 0.5])


def test_l2_step_follows_the_normalised_gradient() -> None:
    """Inside the ball the step moves by exactly alpha along grad/‖grad‖₂; NaN gradient entries count as 0."""
    x0 = torch.full((1, 4), 0.5, dtype=torch.float64)
    grad = torch.tensor([[3.0, 4.0, 0.0, float("nan")]], dtype=torch.float64)
    out = l2_step(x0.clone(), x0, grad, eps=1.0, alpha=0.1)
    np.testing.assert_allclose(out.numpy(), [[0.56, 0.58, 0.5, 0.5]], atol=1e-15)
    assert bool(torch.equal(l2_step(x0.clone(), x0, torch.zeros_like(x0), 1.0, 0.1), x0))


def test_a_nan_makes_its_whole_row_nan_and_other_rows_are_projected(device) -> None:
    """A row's norm is undefined with a NaN in it, so no element of that row may pass for projected."""
    x0 = torch.full((3, 3), 0.5, device=device)
    x0[2, 1] = float("nan")
    x = torch.tensor([[float("nan"), 0.9, 0.1], [0.9, 0.9, 0.5], [0.9, 0.9, 0.5]], device=device)
    for op, eps in ((l2_project, 0.2), (l1_project, 0.2)):
        out = op(x, x0, eps)
        assert bool(out[0].isnan().all()) and bool(out[2].isnan().all())
        assert not bool(out[1].isnan().any())
        assert float(_checked_norm(out[1:2], x0[1:2], 2 if op is l2_project else 1).max()) <= eps


def test_restarts_broadcast_x0_like_explicit_copies(device) -> None:
    g = torch.Generator().manual_seed(3)
    x0 = torch.rand(4, 2, 5, 5, generator=g).to(device)
    x = (x0 + torch.randn(3, 4, 2, 5, 5, generator=g).to(device)).contiguous()
    eps = torch.tensor([0.0, 0.5, 2.0, 8.0], dtype=torch.float64, device=device)
    for op in (l2_project, l1_project):
        together = op(x, x0, eps)
        for r in range(3):
            assert torch.equal(together[r], op(x[r], x0, eps))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cpu_half_precision_runs_on_the_twin_and_keeps_the_bound(dtype) -> None:
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(3, 64, generator=g).to(dtype)
    x = (x0.float() + torch.randn(3, 64, generator=g)).to(dtype)
    for op, p, eps in ((l2_project, 2, 0.5), (l1_project, 1, 3.0)):
        out = op(x, x0, eps)
        assert out.dtype == dtype
        assert float(_checked_norm(out, x0, p).max()) <= eps


ERRORS = [
    (l2_project, dict(eps=-0.3), ValueError, r"l2_project: eps must be >= 0, got -0.3"),
    (l1_project, dict(x0=torch.rand(2, 3).double()), TypeError,
     r"l1_project: x0 must have dtype torch.float32 like x, got torch.float64"),
    (l1_project, dict(eps=torch.tensor([0.1, float("nan")])), ValueError,
     r"l1_project: eps must be >= 0 for every example, got nan at example 1"),
    (l2_step, dict(alpha=float("inf")), ValueError, r"l2_step: alpha must be finite, got inf"),
    (l2_step, dict(grad=torch.rand(3, 2)), ValueError, r"l2_step: grad must have shape \[2, 3\] like x_adv"),
]


@pytest.mark.parametrize(("op", "change", "error", "pattern"), ERRORS, ids=[p for *_, p in ERRORS])
def test_bad_input_raises_a_clear_error(op, change, error, pattern) -> None:
    args = dict(x=torch.rand(2, 3), x0=torch.rand(2, 3), eps=0.1, lo=0.0, hi=1.0)
    if op is l2_step:
        args = dict(x_adv=args.pop("x"), grad=torch.rand(2, 3), alpha=0.1, **args)
    args.update(change)
    with pytest.raises(error, match=pattern):
        op(**args)


def test_raw_op_checks_are_the_last_line_of_defence() -> None:
    with pytest.raises(ValueError, match=r"l1_project: eps must be a number >= 0, got -1"):
        torch.ops.pyadvman.l1_project(torch.rand(2, 3), torch.rand(2, 3), -1.0, 0.0, 1.0, None)


def test_opcheck(device, dtype, make_linf_inputs) -> None:
    for restarts, per_example in [(None, False), (3, True)]:
        inp = make_linf_inputs(device, dtype, (4, 2, 3, 3), restarts=restarts, per_example=per_example)
        eps, pe = (0.0, inp.eps) if per_example else (inp.eps, None)
        alpha, alpha_pe = (0.0, inp.alpha) if per_example else (inp.alpha, None)
        torch.library.opcheck(torch.ops.pyadvman.l2_project.default, (inp.x, inp.x0, eps, 0.0, 1.0, pe))
        torch.library.opcheck(torch.ops.pyadvman.l1_project.default, (inp.x, inp.x0, eps, 0.0, 1.0, pe))
        torch.library.opcheck(torch.ops.pyadvman.l2_step.default,
                              (inp.x, inp.x0, inp.grad, eps, alpha, 0.0, 1.0, pe, alpha_pe, None))


def test_torch_compile_fullgraph(device, make_linf_inputs) -> None:
    torch._dynamo.reset()
    inp = make_linf_inputs(device, torch.float32, (3, 1, 5, 5), restarts=2, per_example=True)

    def chain(x, x0, grad, eps):
        return l1_project(l2_step(x, x0, grad, eps, eps / 4), x0, eps) * 2

    compiled = torch.compile(chain, fullgraph=True)
    assert torch.equal(compiled(inp.x, inp.x0, inp.grad, inp.eps), chain(inp.x, inp.x0, inp.grad, inp.eps))


@pytest.mark.parametrize("op", [l2_step, l2_step_reference])
def test_float64_steps_along_subnormal_and_infinite_gradients(op) -> None:
    """A float64 gradient of subnormal entries (a logit margin past ~710 gives them) still points the step, and
    infinite entries point it along themselves: no NaN, no square or reciprocal overflow."""
    x0 = torch.full((2, 4), 0.5, dtype=torch.float64)
    grad = torch.tensor([[1e-310, 0.0, -1e-310, 0.0], [float("inf"), float("inf"), 1.0, 0.0]], dtype=torch.float64)
    out = op(x0.clone(), x0, grad, eps=1.0, alpha=0.2)
    step = 0.2 / 2 ** 0.5
    expected = torch.tensor([[0.5 + step, 0.5, 0.5 - step, 0.5], [0.5 + step, 0.5 + step, 0.5, 0.5]],
                            dtype=torch.float64)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
