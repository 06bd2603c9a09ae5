"""pgd_step / pgd_step_: reference equality over the case matrix, the ball guarantee, NaN gradients,
masks, in-place semantics, error messages, opcheck and torch.compile."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyadvman.ops import pgd_step, pgd_step_, pgd_step_reference


def _call_args(inp):
    return inp.x, inp.x0, inp.grad, inp.eps, inp.alpha


def assert_bitwise_equal(out: torch.Tensor, ref: torch.Tensor) -> None:
    assert out.shape == ref.shape and out.dtype == ref.dtype
    same = (out == ref) | (out.isnan() & ref.isnan())
    if not bool(same.all()):
        where = (~same).nonzero()[0].tolist()
        raise AssertionError(f"{int((~same).sum())} elements differ, first at {where}: "
                             f"{out[tuple(where)].item()!r} vs reference {ref[tuple(where)].item()!r}")


def test_matches_reference(linf_case, linf_inputs) -> None:
    out = pgd_step(*_call_args(linf_inputs), active=linf_inputs.active)
    ref = pgd_step_reference(*_call_args(linf_inputs), active=linf_inputs.active)
    assert out.is_contiguous()
    assert_bitwise_equal(out, ref)


def test_inplace_matches_reference_and_skips_inactive_rows(linf_case, linf_inputs) -> None:
    x = linf_inputs.x
    before = x.clone()
    ref = pgd_step_reference(*_call_args(linf_inputs), active=linf_inputs.active)
    returned = pgd_step_(*_call_args(linf_inputs), active=linf_inputs.active)
    assert returned is x
    assert_bitwise_equal(x, ref)
    if linf_inputs.active is not None and x.numel() > 0:
        feature_dims = linf_inputs.x0.dim() - 1
        keep = (~linf_inputs.active).reshape(linf_inputs.active.shape + (1,) * feature_dims).expand(x.shape)
        assert torch.equal(x[keep], before[keep])


def test_output_stays_in_ball_and_box(linf_case, linf_inputs) -> None:
    inp = linf_inputs
    out = pgd_step(*_call_args(inp), active=inp.active)
    if linf_case.nan_x0:  # NaN exactly where x0 is NaN in the rows that step, as in the twin and torch.clamp
        expected = inp.x0.isnan().expand_as(out)
        if inp.active is not None:
            expected = expected & inp.active.reshape(inp.active.shape + (1,) * (inp.x0.dim() - 1))
        assert torch.equal(out.isnan(), expected)
        return
    assert not out.isnan().any(), "a NaN gradient must not produce NaN"
    if inp.active is not None:
        return  # inactive rows keep x, which may lie outside the ball by construction
    eps = inp.eps if isinstance(inp.eps, float) else inp.eps.to(out.dtype).reshape((-1,) + (1,) * (inp.x0.dim() - 1))
    assert bool(((out - inp.x0).abs() <= eps).all())
    assert bool((out >= 0).all() and (out <= 1).all())


def test_nan_gradient_moves_nothing(device) -> None:
    x0 = torch.full((2, 4), 0.5, device=device)
    x_adv = x0.clone()
    grad = torch.tensor([[float("nan"), 1.0, -1.0, 0.0], [float("inf"), -float("inf"), float("nan"), 2.0]],
                        device=device)
    out = pgd_step(x_adv, x0, grad, eps=0.25, alpha=0.125)
    expected = torch.tensor([[0.5, 0.625, 0.375, 0.5], [0.625, 0.375, 0.5, 0.625]], device=device)
    assert torch.equal(out, expected)


def test_restarts_broadcast_x0_like_explicit_copies(device) -> None:
    g = torch.Generator().manual_seed(3)
    x0 = torch.rand(4, 2, 6, 6, generator=g).to(device)
    x_adv = (x0 + 0.05 * torch.randn(5, 4, 2, 6, 6, generator=g).to(device)).clamp(0, 1)
    grad = torch.randn(5, 4, 2, 6, 6, generator=g).to(device)
    batched = pgd_step(x_adv, x0, grad, eps=0.1, alpha=0.03)
    for r in range(5):
        assert torch.equal(batched[r], pgd_step(x_adv[r], x0, grad[r], eps=0.1, alpha=0.03))


def test_input_that_requires_grad_gives_output_without_grad(device) -> None:
    x0 = torch.rand(3, 8, device=device)
    x_adv = x0.clone().requires_grad_()
    grad = torch.randn(3, 8, device=device)
    assert not pgd_step(x_adv, x0, grad, 0.1, 0.01).requires_grad
    pgd_step_(x_adv, x0, grad, 0.1, 0.01)  # like an optimiser step on a leaf
    assert x_adv.requires_grad and bool(((x_adv.detach() - x0).abs() <= 0.1).all())


@settings(max_examples=60, deadline=None)
@given(
    eps=st.sampled_from([0.1, 0.3, 8 / 255, 2 / 255, 0.05, 1 / 3]) | st.floats(0, 1),
    centre=st.lists(st.floats(0, 1, width=32), min_size=1, max_size=64),
    ulps=st.integers(-3, 3),
    double=st.booleans(),
    step_up=st.booleans(),
)
def test_checker_bound_holds_near_the_boundary(eps, centre, ulps, double, step_up) -> None:
    """Iterates one alpha-step across the ball's boundary, a few ulps either side."""
    dtype = torch.float64 if double else torch.float32
    x0 = torch.tensor(centre, dtype=dtype)
    boundary = x0 + eps if step_up else x0 - eps
    x_adv = boundary + ulps * torch.finfo(dtype).eps * boundary.abs()
    grad = torch.full_like(x0, 1.0 if step_up else -1.0)
    out = pgd_step(x_adv, x0, grad, eps=eps, alpha=1e-3)
    assert bool(((out - x0).abs() <= eps).all())  # the checker users write, in the output dtype
    assert bool(((out - x0).abs().double() <= eps).all())  # the same checker in float64
    assert bool((out >= 0).all() and (out <= 1).all())
    assert torch.equal(out, pgd_step_reference(x_adv, x0, grad, eps, 1e-3))


ERRORS = [
    # (kwargs to change, exception, message pattern naming argument, expected and received value)
    (dict(x_adv=[1.0]), TypeError, r"x_adv must be a torch.Tensor, got list"),
    (dict(x_adv="int"), TypeError, r"x_adv must be a float32, float64, float16 or bfloat16 tensor, got torch.int64"),
    (dict(x0="half"), TypeError, r"x0 must have dtype torch.float32 like x_adv, got torch.float16"),
    (dict(grad="double"), TypeError, r"grad must have dtype torch.float32 like x_adv, got torch.float64"),
    (dict(x0="wrong_shape"), ValueError, r"x_adv must have shape \[4, 3\] \(like x0\) or \[R, 4, 3\].*got \[4, 5\]"),
    (dict(grad="wrong_shape"), ValueError, r"grad must have shape \[4, 5\] like x_adv, got \[4, 3\]"),
    (dict(eps=-0.1), ValueError, r"eps must be >= 0, got -0.1"),
    (dict(eps=float("nan")), ValueError, r"eps must be >= 0, got nan"),
    (dict(alpha=-1), ValueError, r"alpha must be >= 0, got -1"),
    (dict(alpha=float("inf")), ValueError, r"alpha must be finite, got inf"),
    (dict(eps="tensor_neg"), ValueError, r"eps must be >= 0 for every example, got -0.5 at example 1"),
    (dict(eps="tensor_shape"), ValueError, r"eps must be a float or have shape \[4\], got \[3\]"),
    (dict(alpha="tensor_int"), TypeError, r"alpha must be a float or a floating-point tensor \[B\], got torch.int64"),
    (dict(lo=1.0, hi=0.0), ValueError, r"lo must be <= hi, got lo=1.0, hi=0.0"),
    (dict(active="int"), TypeError, r"active must be a bool tensor, got torch.int64"),
    (dict(active="wrong_shape"), ValueError, r"active must have shape \[4\], got \[5\]"),
    (dict(eps=True), TypeError, r"eps must be a real number, got bool"),
]


def _bad_inputs(change: dict) -> dict:
    args = dict(x_adv=torch.rand(4, 5), x0=torch.rand(4, 5), grad=torch.randn(4, 5), eps=0.1, alpha=0.01,
                lo=0.0, hi=1.0, active=None)
    for key, value in change.items():
        if value == "int":
            value = torch.ones(4, 5, dtype=torch.int64) if key != "active" else torch.ones(4, dtype=torch.int64)
        elif value == "half":
            value = args[key].half()
        elif value == "double":
            value = args[key].double()
        elif value == "wrong_shape":
            value = {"x0": torch.rand(4, 3), "grad": torch.rand(4, 3), "active": torch.ones(5, dtype=torch.bool)}[key]
        elif value == "tensor_neg":
            value = torch.tensor([0.1, -0.5, 0.2, 0.3])
        elif value == "tensor_shape":
            value = torch.ones(3)
        elif value == "tensor_int":
            value = torch.ones(4, dtype=torch.int64)
        args[key] = value
    return args


@pytest.mark.parametrize(("change", "error", "pattern"), ERRORS, ids=[p for _, _, p in ERRORS])
@pytest.mark.parametrize("fn", [pgd_step, pgd_step_], ids=["pgd_step", "pgd_step_"])
def test_bad_input_raises_a_clear_error(fn, change, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        fn(**_bad_inputs(change))


def test_device_mismatch_is_reported() -> None:
    x0 = torch.rand(2, 3, device="meta")
    with pytest.raises(ValueError, match=r"x0 must be on cpu like x_adv, got meta"):
        pgd_step(torch.rand(2, 3), x0, torch.rand(2, 3), 0.1, 0.01)


RAW_ERRORS = [
    (dict(x0=torch.rand(4, 3)), ValueError, r"pgd_step: x_adv must have shape \[4, 3\] \(like x0\) or \[R, 4, 3\] \(R restarts\), got \[4, 5\]"),
    (dict(eps=-1.0), ValueError, r"pgd_step: eps must be a number >= 0, got -1"),
    (dict(lo=2.0), ValueError, r"pgd_step: lo must be <= hi, got lo=2, hi=1"),
    (dict(alpha=float("inf")), ValueError, r"pgd_step: alpha must be finite, got inf"),
    (dict(grad=torch.rand(4, 5, dtype=torch.float64)), TypeError, r"grad must have dtype Float like x_adv, got Double"),
    (dict(active=torch.ones(4, 5, dtype=torch.bool)), ValueError, r"active must have shape \[4\], got \[4, 5\]"),
    (dict(eps_pe=torch.tensor([0.1, -1.0, 0.1, 0.1])), ValueError, r"eps must be >= 0 for every example, got -1 at example 1"),
]


@pytest.mark.parametrize(("change", "error", "pattern"), RAW_ERRORS, ids=[p for _, _, p in RAW_ERRORS])
def test_torch_check_is_the_last_line_of_defence(change, error, pattern) -> None:
    args = dict(x_adv=torch.rand(4, 5), x0=torch.rand(4, 5), grad=torch.randn(4, 5), eps=0.1, alpha=0.01,
                lo=0.0, hi=1.0, eps_pe=None, alpha_pe=None, active=None)
    args.update(change)
    with pytest.raises(error, match=pattern):
        torch.ops.pyadvman.pgd_step(*args.values())


def test_opcheck(device, dtype, make_linf_inputs) -> None:
    for restarts, per_example, mask in [(None, False, "none"), (3, True, "restart"), (2, False, "batch")]:
        inp = make_linf_inputs(device, dtype, (4, 2, 3, 3), restarts=restarts, per_example=per_example, mask=mask)
        eps, alpha = (0.0, 0.0) if per_example else (inp.eps, inp.alpha)
        pe = (inp.eps, inp.alpha) if per_example else (None, None)
        args = (inp.x, inp.x0, inp.grad, eps, alpha, 0.0, 1.0, *pe, inp.active)
        torch.library.opcheck(torch.ops.pyadvman.pgd_step.default, args)
        torch.library.opcheck(torch.ops.pyadvman.pgd_step_.default, (inp.x.clone(),) + args[1:])


def test_torch_compile_fullgraph(device, make_linf_inputs) -> None:
    torch._dynamo.reset()
    inp = make_linf_inputs(device, torch.float32, (4, 1, 6, 6), restarts=2, per_example=True, mask="restart")

    def attack_step(x_adv, x0, grad, eps, alpha, active):
        stepped = pgd_step(x_adv, x0, grad, eps, alpha, active=active)
        return pgd_step_(stepped, x0, grad, eps, alpha, active=active)

    compiled = torch.compile(attack_step, fullgraph=True)
    args = (inp.x, inp.x0, inp.grad, inp.eps, inp.alpha, inp.active)
    assert torch.equal(compiled(*args), attack_step(*args))
