"""Benchmark of pyadvman.ops.linf_project against the eager projection torchattacks runs, the same chain
under torch.compile, and the memory floor (x, x0 read + out written once at the measured copy bandwidth).

    python bench/bench_linf_project.py [--device cpu|cuda] [--dtype float32] [--quick] [--no-compile]
"""

from __future__ import annotations

import _harness as h
import torch

from pyadvman.ops import linf_project, linf_project_reference

EPS = 8 / 255


def torchattacks_project(x, x0, eps: float):
    """The projection of torchattacks' PGD (attacks/pgd.py): three eager kernels."""
    delta = torch.clamp(x - x0, min=-eps, max=eps)
    return torch.clamp(x0 + delta, min=0, max=1)


def main() -> None:
    args = h.parse_args(__doc__.splitlines()[0])
    compiled = None if args.no_compile else torch.compile(torchattacks_project, dynamic=False)

    def make_cell(shape, restarts, dtype) -> h.Cell:
        g = torch.Generator(device=args.device).manual_seed(0)
        x0 = torch.rand(shape, generator=g, device=args.device, dtype=dtype)
        lead = (restarts,) if restarts > 1 else ()
        x = x0 + torch.randn(lead + shape, generator=g, device=args.device, dtype=dtype) * EPS
        ours = linf_project(x, x0, EPS)
        assert torch.equal(ours, linf_project_reference(x, x0, EPS)), "ours != reference"
        chain = torchattacks_project(x, x0, EPS)
        assert (ours.float() - chain.float()).abs().max() <= 4 * torch.finfo(dtype).eps, "ours != chain"
        methods = {"ours": lambda: linf_project(x, x0, EPS), "eager": lambda: torchattacks_project(x, x0, EPS)}
        if compiled is not None:
            methods["compile"] = lambda: compiled(x, x0, EPS)
        nbytes = (2 * x.numel() + x0.numel()) * x0.element_size()
        return h.Cell(methods, nbytes, x.numel() * x0.element_size())

    h.run("linf_project", args, make_cell, {"eps": EPS})


if __name__ == "__main__":
    main()
