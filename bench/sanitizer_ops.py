"""Direct calls of every compiled operator path, each checked against its pure-PyTorch twin: the program that
``bench/device_check`` runs under compute-sanitizer (memcheck, racecheck, synccheck, initcheck, with
``PYTORCH_NO_CUDA_MEMORY_CACHING=1`` so that memcheck sees every allocation's bounds).

Covered: linf_project and pgd_step / pgd_step_ (float32, float64, float16, bfloat16; one radius and per-example
radii; restarts [R, B, ...]; an active mask; in place with grad aliasing x_adv; an empty batch), l2_project,
l2_step and l1_project (the same dtypes and shapes, rows inside and outside the ball, rows that take the radius
guard: centres outside the box, half precision; a row with NaN; a row of 150,528 features, more than a block's
threads by far), knn (several tiles, k = 1 and k = 50, exclude, float32 and float64, a tile that is not a
multiple of the block) and nn_project.

    python bench/sanitizer_ops.py --device cuda        (exit 0: every call equals its twin)
"""

from __future__ import annotations

import argparse
import sys

import torch

import pyadvman
from pyadvman.ops import (
    knn,
    knn_reference,
    l1_project,
    l1_project_reference,
    l2_project,
    l2_project_reference,
    l2_step,
    l2_step_reference,
    linf_project,
    linf_project_reference,
    nn_project,
    nn_project_reference,
    pgd_step,
    pgd_step_,
    pgd_step_reference,
)
from pyadvman.ops._dispatch import CUDA_BUILT

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _linf_paths(device: str, generator: torch.Generator) -> int:
    calls = 0
    for dtype in DTYPES:
        for shape in ((5, 3, 8, 8), (2, 5, 3, 8, 8), (0, 3, 8, 8)):  # one centre each, restarts, empty
            batch = shape[-4]
            x0 = torch.rand(shape[-4:], generator=generator).to(device, dtype)
            x = (torch.rand(shape, generator=generator) * 1.4 - 0.2).to(device, dtype)
            grad = torch.randn(shape, generator=generator).to(device, dtype)
            per_example = torch.rand(batch, generator=generator, dtype=torch.float64).to(device) * 0.1
            active = (torch.rand(shape[:-3], generator=generator) < 0.5).to(device)
            for eps in (0.03, per_example):
                torch.testing.assert_close(linf_project(x, x0, eps), linf_project_reference(x, x0, eps),
                                           rtol=0, atol=0)
                for mask in (None, active):
                    expected = pgd_step_reference(x, x0, grad, eps, 0.01, active=mask)
                    torch.testing.assert_close(pgd_step(x, x0, grad, eps, 0.01, active=mask), expected, rtol=0,
                                               atol=0)
                    in_place = x.clone()
                    torch.testing.assert_close(pgd_step_(in_place, x0, grad, eps, 0.01, active=mask), expected,
                                               rtol=0, atol=0)
                    calls += 3
            aliased = x.clone()  # grad is x_adv itself
            torch.testing.assert_close(pgd_step_(aliased, x0, aliased, 0.03, 0.01),
                                       pgd_step_reference(x, x0, x, 0.03, 0.01), rtol=0, atol=0)
            calls += 1
    return calls


def _lp_paths(device: str, generator: torch.Generator) -> int:
    """The L2 and L1 kernels against their twins, equal within rounding (they reduce in another order)."""
    calls = 0
    for dtype in DTYPES:
        tolerance = 8 * torch.finfo(dtype).eps
        shapes = ((5, 3, 8, 8), (2, 5, 3, 8, 8), (0, 3, 8, 8)) + (((1, 3, 224, 224),) if dtype == torch.float32 else ())
        for shape in shapes:
            batch = shape[-4]
            x0 = (torch.rand(shape[-4:], generator=generator) * 1.2 - 0.1).to(device, dtype)  # some centres off the box
            x = (x0.float() + torch.randn(shape, generator=generator).to(device)).to(dtype)
            grad = torch.randn(shape, generator=generator).to(device, dtype)
            if x.numel():
                x.view(-1)[0] = float("nan")  # a NaN row
            active = (torch.rand(shape[:-3], generator=generator) < 0.5).to(device)
            per_example = torch.rand(batch, generator=generator, dtype=torch.float64).to(device) * 4
            for eps in (1.5, per_example):
                checks = ((l2_project(x, x0, eps), l2_project_reference(x, x0, eps)),
                          (l1_project(x, x0, 4 * eps), l1_project_reference(x, x0, 4 * eps)),
                          (l2_step(x, x0, grad, eps, 0.5, active=active),
                           l2_step_reference(x, x0, grad, eps, 0.5, active=active)))
                for got, expected in checks:
                    torch.testing.assert_close(got, expected, rtol=tolerance, atol=tolerance, equal_nan=True)
                    calls += 1
    return calls


def _neighbour_paths(device: str, generator: torch.Generator) -> int:
    calls = 0
    for dtype in (torch.float32, torch.float64):
        reference = torch.rand(1000, 64, generator=generator, dtype=torch.float64).to(device, dtype)
        queries = torch.cat([reference[:5] + 1e-3, torch.rand(32, 64, generator=generator).to(device, dtype)])
        exclude = torch.full((37,), -1, dtype=torch.int64, device=device)
        exclude[:5] = torch.arange(5, device=device)
        for k, tile, excluded in ((1, None, None), (50, 96, exclude), (7, 333, None)):
            dist2, index = knn(queries, reference, k, exclude=excluded, tile=tile)
            expected_dist2, expected_index = knn_reference(queries, reference, k, exclude=excluded)
            torch.testing.assert_close(index, expected_index, rtol=0, atol=0)
            torch.testing.assert_close(dist2, expected_dist2)
            calls += 1
        x = queries[:10]
        x_adv = x + 0.05 * torch.randn(x.shape, generator=generator).to(device, dtype)
        outputs = nn_project(x_adv, x, reference, k=20)
        for got, expected in zip(outputs, nn_project_reference(x_adv, x, reference, k=20), strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
        calls += 1
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not CUDA_BUILT:  # the twins would stand in and match themselves
        sys.exit(f"sanitizer_ops: pyadvman's CUDA kernels are not loaded in {sys.executable} (build_info: "
                 f"{pyadvman.build_info()})")
    generator = torch.Generator().manual_seed(0)
    calls = (_linf_paths(args.device, generator) + _lp_paths(args.device, generator)
             + _neighbour_paths(args.device, generator))
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    print(f"sanitizer_ops: {calls} operator calls on {args.device}, each equal to its twin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
