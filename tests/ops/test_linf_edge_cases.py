"""Edge cases of the L∞ operators found by reading the kernels: overlapping in-place arguments, per-example
radii validated on every path (raw op, torch.compile, CUDA), dtypes without kernels, more restarts than a CUDA
grid dimension holds."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from pyadvman.ops import knn, linf_project, pgd_step, pgd_step_, pgd_step_reference


def test_partially_overlapping_in_place_step_is_refused(device) -> None:
    buf = torch.rand(6, 10, device=device)
    grad = torch.randn(5, 10, device=device)
    with pytest.raises(ValueError, match=r"pgd_step_: x_adv overlaps x0 in memory .* pass x0\.clone\(\)"):
        pgd_step_(buf[1:], buf[:-1], grad, 0.1, 0.05)
    restarts = torch.rand(3, 4, 10, device=device)
    with pytest.raises(ValueError, match="x_adv overlaps x0 in memory"):
        pgd_step_(restarts, restarts[0], torch.randn(3, 4, 10, device=device), 0.1, 0.05)
    with pytest.raises(ValueError, match="x_adv overlaps grad in memory"):
        pgd_step_(buf[:5], torch.rand(5, 10, device=device), buf[1:], 0.1, 0.05)
    # the last line of defence, torch's own overlap check in the compiled op
    with pytest.raises(RuntimeError, match="refer to a single memory location"):
        torch.ops.pyadvman.pgd_step_(buf[1:], buf[:-1], grad, 0.1, 0.05, 0.0, 1.0, None, None, None)


def test_disjoint_views_and_grad_as_x_adv_itself_are_fine(device) -> None:
    buf = torch.rand(8, 10, device=device)
    x_adv, x0 = buf[:4], buf[4:]  # one storage, no shared element
    expected = pgd_step_reference(x_adv.clone(), x0.clone(), x_adv.clone(), 0.1, 0.05)
    pgd_step_(x_adv, x0, x_adv, 0.1, 0.05)  # grad is x_adv itself: elementwise, safe
    assert torch.equal(buf[:4], expected)
    pair = torch.rand(4, 2, 10, device=device)  # interleaved views: their spans intersect, their elements do not
    x_adv, x0, grad = pair[:, 1], pair[:, 0], torch.randn(4, 10, device=device)
    expected = pgd_step_reference(x_adv.clone(), x0.clone(), grad, 0.1, 0.05)
    pgd_step_(x_adv, x0, grad, 0.1, 0.05)
    assert torch.equal(pair[:, 1], expected)


@pytest.mark.parametrize("dtype", [torch.float8_e4m3fn, torch.float8_e5m2, torch.complex64])
def test_dtypes_without_kernels_get_a_type_error(dtype) -> None:
    x = torch.rand(4, 5).to(dtype)
    message = rf"must be a float32, float64, float16 or bfloat16 tensor, got {dtype}"
    with pytest.raises(TypeError, match=message):
        linf_project(x, x, 0.1)
    with pytest.raises(TypeError, match=message):
        pgd_step(x, x, x, 0.1, 0.01)
    with pytest.raises(TypeError, match=message):
        knn(x, x, 1)
    with pytest.raises(TypeError, match=r"x must be a float32, float64, float16 or bfloat16 tensor, got "):
        torch.ops.pyadvman.linf_project(x, x, 0.1, 0.0, 1.0, None)


@pytest.mark.parametrize("name, value, message", [
    ("eps", float("nan"), r"eps must be >= 0 for every example, got nan at example 2"),
    ("eps", -0.5, r"eps must be >= 0 for every example, got -0.5 at example 2"),
    ("alpha", float("inf"), r"alpha must be finite and >= 0 for every example, got inf at example 2"),
])
def test_raw_op_validates_per_example_radii(name, value, message) -> None:
    x0 = torch.rand(4, 6)
    radii = {"eps": torch.full((4,), 0.1), "alpha": torch.full((4,), 0.01)}
    radii[name][2] = value
    with pytest.raises(ValueError, match=message):
        torch.ops.pyadvman.pgd_step(x0.clone(), x0, torch.randn(4, 6), 0.0, 0.0, 0.0, 1.0, radii["eps"],
                                    radii["alpha"], None)
    with pytest.raises(ValueError, match=message):  # the Python wrapper, same words
        pgd_step(x0.clone(), x0, torch.randn(4, 6), radii["eps"], radii["alpha"])


def test_per_example_radii_are_validated_under_torch_compile() -> None:
    torch._dynamo.reset()
    step = torch.compile(lambda x, x0, g, eps, alpha: pgd_step(x, x0, g, eps, alpha), fullgraph=True)
    x0 = torch.rand(4, 6)
    good = step(x0.clone(), x0, torch.randn(4, 6), torch.full((4,), 0.1), torch.full((4,), 0.01))
    assert good.shape == (4, 6)
    eps = torch.full((4,), 0.1)
    eps[1] = float("nan")
    with pytest.raises(Exception, match=r"eps must be >= 0 for every example, got nan at example 1"):
        step(x0.clone(), x0, torch.randn(4, 6), eps, torch.full((4,), 0.01))


@pytest.mark.cuda
def test_more_restarts_than_a_cuda_grid_holds() -> None:
    restarts = 70_000  # above gridDim.y's 65,535
    x0 = torch.rand(2, 8, device="cuda")
    x = x0 + (torch.rand(restarts, 2, 8, device="cuda") - 0.5)
    grad = torch.randn(restarts, 2, 8, device="cuda")
    out = pgd_step(x, x0, grad, 0.1, 0.03)
    assert torch.equal(out, pgd_step_reference(x, x0, grad, 0.1, 0.03))
    assert torch.equal(linf_project(x, x0, 0.1), pgd_step_reference(x, x0, grad, 0.1, 0.0))


@pytest.mark.cuda
def test_float8_cuda_tensors_get_the_wrappers_type_error() -> None:
    x = torch.rand(4, 5, device="cuda").to(torch.float8_e4m3fn)
    with pytest.raises(TypeError, match="must be a float32, float64, float16 or bfloat16 tensor"):
        pgd_step(x, x, x, 0.1, 0.01)
    with pytest.raises(TypeError, match="must be a float32, float64, float16 or bfloat16 tensor"):
        torch.ops.pyadvman.linf_project(x, x, 0.1, 0.0, 1.0, None)


@pytest.mark.cuda
def test_raw_cuda_op_asserts_on_a_nan_radius() -> None:
    # A device-side assert leaves the CUDA context unusable, so it runs in a process of its own.
    code = textwrap.dedent("""
        import torch, pyadvman
        x0 = torch.rand(4, 6, device="cuda")
        eps = torch.full((4,), 0.1, device="cuda")
        eps[3] = float("nan")
        torch.ops.pyadvman.linf_project(x0.clone(), x0, 0.0, 0.0, 1.0, eps)
        torch.cuda.synchronize()
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=False)
    assert done.returncode != 0
    assert "eps must be >= 0 for every example" in done.stderr or "device-side assert" in done.stderr
