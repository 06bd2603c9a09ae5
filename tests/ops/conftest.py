"""The case matrix shared by the L∞ operator tests: device × dtype × shape (incl. empty) × contiguity ×
restarts × scalar/per-example radii × mask, plus NaN in x0, exposed as the ``linf_case`` and ``linf_inputs``
fixtures."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
import torch

# Dtypes with compiled kernels, per device.
KERNEL_DTYPES = {
    "cpu": [torch.float32, torch.float64],
    "cuda": [torch.float32, torch.float16, torch.bfloat16, torch.float64],
}
SHAPES = [(0, 1, 28, 28), (6,), (5, 7), (4, 3, 5, 5), (3, 1, 28, 28)]


@dataclass(frozen=True)
class LinfCase:
    device: str
    dtype: torch.dtype
    shape: tuple[int, ...]  # x0's shape [B, ...]
    restarts: int | None
    contiguous: bool
    per_example: bool  # eps and alpha as tensors [B]
    mask: str  # "none", "batch" ([B]) or "restart" ([R, B])
    nan_x0: bool = False  # some clean inputs hold NaN (the output is NaN there, as in the twin)

    def __str__(self) -> str:
        return (f"{self.device}-{str(self.dtype)[6:]}-{'x'.join(map(str, self.shape))}-R{self.restarts}-"
                f"{'c' if self.contiguous else 'nc'}-{'pe' if self.per_example else 'sc'}-{self.mask}"
                + ("-nanx0" if self.nan_x0 else ""))


def _non_contiguous(t: torch.Tensor) -> torch.Tensor:
    """Same values, non-contiguous layout (a strided view into a larger buffer)."""
    if t.dim() == 0 or t.numel() == 0:
        return t
    wide = torch.empty(t.shape + (2,), dtype=t.dtype, device=t.device)
    wide[..., 0] = t
    view = wide[..., 0]
    assert not view.is_contiguous()
    return view


@dataclass
class LinfInputs:
    x: torch.Tensor  # [R, B, ...] or [B, ...]
    x0: torch.Tensor  # [B, ...]
    grad: torch.Tensor
    eps: float | torch.Tensor
    alpha: float | torch.Tensor
    active: torch.Tensor | None


def make_inputs(case: LinfCase, seed: int = 0) -> LinfInputs:
    g = torch.Generator().manual_seed(seed)
    batch = case.shape[0]
    lead = (case.restarts,) if case.restarts else ()
    x0 = torch.rand(case.shape, generator=g, dtype=torch.float64)
    eps_value, alpha_value = 0.1, 0.02
    if case.per_example:
        eps = torch.rand(batch, generator=g, dtype=torch.float64) * 0.3
        alpha = torch.rand(batch, generator=g, dtype=torch.float64) * 0.05
        radius = eps.reshape((batch,) + (1,) * (len(case.shape) - 1))
    else:
        eps, alpha, radius = eps_value, alpha_value, eps_value
    # Iterates inside, on and just outside the ball, some outside the box.
    x = x0 + (torch.rand(lead + case.shape, generator=g, dtype=torch.float64) * 2.4 - 1.2) * radius
    grad = torch.randn(lead + case.shape, generator=g, dtype=torch.float64)
    grad[torch.rand(grad.shape, generator=g) < 0.1] = 0.0
    grad[torch.rand(grad.shape, generator=g) < 0.05] = float("nan")
    if case.nan_x0:
        x0[torch.rand(x0.shape, generator=g) < 0.1] = float("nan")
    active = None
    if case.mask == "batch":
        active = torch.rand(batch, generator=g) < 0.6
    elif case.mask == "restart":
        active = torch.rand(lead + (batch,), generator=g) < 0.6
    to = dict(device=case.device, dtype=case.dtype)
    x, x0, grad = x.to(**to), x0.to(**to), grad.to(**to)
    if not case.contiguous:
        x, x0, grad = _non_contiguous(x), _non_contiguous(x0), _non_contiguous(grad)
    if case.per_example:
        eps, alpha = eps.to(case.device), alpha.to(case.device)
    if active is not None:
        active = active.to(case.device)
    return LinfInputs(x, x0, grad, eps, alpha, active)


def all_cases() -> list:
    params = []
    for device, dtypes in KERNEL_DTYPES.items():
        for dtype, shape, restarts, contiguous, per_example in itertools.product(
            dtypes, SHAPES, (None, 3), (True, False), (False, True)
        ):
            masks = ("none", "batch") + (("restart",) if restarts else ())
            nan_cases = [("batch" if per_example else "none", True)]  # with per-example radii and a mask too
            for mask, nan_x0 in [(m, False) for m in masks] + nan_cases:
                case = LinfCase(device, dtype, shape, restarts, contiguous, per_example, mask, nan_x0)
                marks = [pytest.mark.cuda] if device == "cuda" else []
                params.append(pytest.param(case, id=str(case), marks=marks))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``linf_case`` gets the full matrix; ``device`` + ``dtype`` every pair with compiled kernels;
    ``device`` alone cpu and cuda."""
    if "linf_case" in metafunc.fixturenames:
        metafunc.parametrize("linf_case", all_cases())
    elif {"device", "dtype"} <= set(metafunc.fixturenames):
        metafunc.parametrize(("device", "dtype"), device_dtype_params())
    elif "device" in metafunc.fixturenames:
        metafunc.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])


@pytest.fixture
def linf_inputs(linf_case: LinfCase) -> LinfInputs:
    return make_inputs(linf_case)


@pytest.fixture
def make_linf_inputs():
    """A factory: make_linf_inputs(device, dtype, shape, restarts=None, contiguous=True, per_example=False,
    mask="none", seed=0) -> LinfInputs."""

    def make(device, dtype, shape, restarts=None, contiguous=True, per_example=False, mask="none", seed=0):
        return make_inputs(LinfCase(device, dtype, tuple(shape), restarts, contiguous, per_example, mask), seed)

    return make


def device_dtype_params() -> list:
    """pytest params (device, dtype) for every pair with compiled kernels, CUDA ones marked."""
    out = []
    for device, dtypes in KERNEL_DTYPES.items():
        marks = [pytest.mark.cuda] if device == "cuda" else []
        out += [pytest.param(device, dt, marks=marks, id=f"{device}-{str(dt)[6:]}") for dt in dtypes]
    return out
