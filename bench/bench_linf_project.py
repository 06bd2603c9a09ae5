"""Benchmark of pyadvman.ops.linf_project against the eager projection torchattacks runs, the same chain
under torch.compile, and the memory floor (x, x0 read + out written once at the measured copy bandwidth).

    python bench/bench_linf_project.py [--device cpu|cuda] [--dtype float32] [--quick] [--no-compile]
"""

from __future__ import annotations

import itertools

import _harness as h
import torch

from pyadvman.ops import linf_project, linf_project_reference

SHAPES = [(1000, 1, 28, 28), (512, 3, 32, 32), (128, 3, 224, 224)]
RESTARTS = [1, 5]
EPS = 8 / 255


def torchattacks_project(x, x0, eps: float):
    """The projection of torchattacks' PGD (attacks/pgd.py): three eager kernels."""
    delta = torch.clamp(x - x0, min=-eps, max=eps)
    return torch.clamp(x0 + delta, min=0, max=1)


def make_inputs(shape, restarts, device, dtype):
    g = torch.Generator(device=device).manual_seed(0)
    x0 = torch.rand(shape, generator=g, device=device, dtype=dtype)
    lead = (restarts,) if restarts > 1 else ()
    x = x0 + torch.randn(lead + shape, generator=g, device=device, dtype=dtype) * EPS
    return x, x0


def main() -> None:
    args = h.parse_args(__doc__.splitlines()[0])
    dtype = getattr(torch, args.dtype)
    compiled = None if args.no_compile else torch.compile(torchattacks_project, dynamic=False)
    rows = []
    cells = [(SHAPES[0], 1)] if args.quick else itertools.product(SHAPES, RESTARTS)
    for shape, restarts in cells:
        x, x0 = make_inputs(shape, restarts, args.device, dtype)
        ours = linf_project(x, x0, EPS)
        assert torch.equal(ours, linf_project_reference(x, x0, EPS)), "ours != reference"
        chain = torchattacks_project(x, x0, EPS)
        assert (ours.float() - chain.float()).abs().max() <= 4 * torch.finfo(dtype).eps, "ours != chain"
        methods = {
            "ours": lambda: linf_project(x, x0, EPS),
            "eager": lambda: torchattacks_project(x, x0, EPS),
        }
        if compiled is not None:
            methods["compile"] = lambda: compiled(x, x0, EPS)
        seconds = {name: h.median_seconds(fn, args.min_run_time) for name, fn in methods.items()}
        nbytes = (2 * x.numel() + x0.numel()) * x0.element_size()
        bandwidth = h.copy_bandwidth(x.numel() * x0.element_size(), args.device, args.min_run_time)
        rows.append(h.Row(shape, restarts, nbytes, nbytes / bandwidth, seconds))
        print(f"  done {shape} R={restarts}", flush=True)
        del x, x0, ours, chain
    names = ["ours", "eager"] + ([] if compiled is None else ["compile"])
    h.print_table(f"linf_project on {h.device_name(args.device)}, {args.dtype}", rows, names)
    path = h.write_results("linf_project", args.device, args.dtype, rows, {"eps": EPS, "methods": names},
                           args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
