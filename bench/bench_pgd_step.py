"""Benchmark of pyadvman.ops.pgd_step (one fused L∞ PGD step) against the eager chain torchattacks runs,
the same chain under torch.compile, and the memory floor (x_adv, grad, x0 read + out written once at the
measured copy bandwidth).

    python bench/bench_pgd_step.py [--device cpu|cuda] [--dtype float32] [--quick] [--no-compile]
"""

from __future__ import annotations

import itertools

import _harness as h
import torch

from pyadvman.ops import pgd_step, pgd_step_, pgd_step_reference

SHAPES = [(1000, 1, 28, 28), (512, 3, 32, 32), (128, 3, 224, 224)]
RESTARTS = [1, 5]
EPS, ALPHA = 8 / 255, 2 / 255


def torchattacks_step(x_adv, x0, grad, eps: float, alpha: float):
    """The update of torchattacks' PGD (attacks/pgd.py): five eager kernels."""
    x_adv = x_adv + alpha * grad.sign()
    delta = torch.clamp(x_adv - x0, min=-eps, max=eps)
    return torch.clamp(x0 + delta, min=0, max=1)


def make_inputs(shape, restarts, device, dtype):
    g = torch.Generator(device=device).manual_seed(0)
    x0 = torch.rand(shape, generator=g, device=device, dtype=dtype)
    lead = (restarts,) if restarts > 1 else ()
    noise = torch.rand(lead + shape, generator=g, device=device, dtype=dtype) * (2 * EPS) - EPS
    x_adv = (x0 + noise).clamp_(0, 1)
    grad = torch.randn(lead + shape, generator=g, device=device, dtype=dtype)
    return x_adv, x0, grad


def main() -> None:
    args = h.parse_args(__doc__.splitlines()[0])
    dtype = getattr(torch, args.dtype)
    compiled = None if args.no_compile else torch.compile(torchattacks_step, dynamic=False)
    rows = []
    cells = [(SHAPES[0], 1)] if args.quick else itertools.product(SHAPES, RESTARTS)
    for shape, restarts in cells:
        x_adv, x0, grad = make_inputs(shape, restarts, args.device, dtype)
        ours = pgd_step(x_adv, x0, grad, EPS, ALPHA)
        assert torch.equal(ours, pgd_step_reference(x_adv, x0, grad, EPS, ALPHA)), "ours != reference"
        eager_out = torchattacks_step(x_adv, x0, grad, EPS, ALPHA)
        assert (ours.float() - eager_out.float()).abs().max() <= 4 * torch.finfo(dtype).eps, "ours != chain"
        methods = {
            "ours": lambda: pgd_step(x_adv, x0, grad, EPS, ALPHA),
            "ours_inplace": lambda: pgd_step_(x_adv, x0, grad, EPS, ALPHA),
            "eager": lambda: torchattacks_step(x_adv, x0, grad, EPS, ALPHA),
        }
        if compiled is not None:
            methods["compile"] = lambda: compiled(x_adv, x0, grad, EPS, ALPHA)
        seconds = {name: h.median_seconds(fn, args.min_run_time) for name, fn in methods.items()}
        nbytes = (3 * x_adv.numel() + x0.numel()) * x0.element_size()
        bandwidth = h.copy_bandwidth(x_adv.numel() * x0.element_size(), args.device, args.min_run_time)
        rows.append(h.Row(shape, restarts, nbytes, nbytes / bandwidth, seconds))
        print(f"  done {shape} R={restarts}", flush=True)
        del x_adv, x0, grad, ours, eager_out
    names = ["ours", "ours_inplace", "eager"] + ([] if compiled is None else ["compile"])
    h.print_table(f"pgd_step on {h.device_name(args.device)}, {args.dtype}", rows, names)
    path = h.write_results("pgd_step", args.device, args.dtype, rows,
                           {"eps": EPS, "alpha": ALPHA, "methods": names}, args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
