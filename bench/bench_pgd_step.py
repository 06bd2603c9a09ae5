"""Benchmark of pyadvman.ops.pgd_step (one fused L∞ PGD step) against the eager chain torchattacks runs,
the same chain under torch.compile, and the memory floor (x_adv, grad, x0 read + out written once at the
measured copy bandwidth).

    python bench/bench_pgd_step.py [--device cpu|cuda] [--dtype float32] [--quick] [--no-compile]
"""

from __future__ import annotations

import _harness as h
import torch

from pyadvman.ops import pgd_step, pgd_step_, pgd_step_reference

EPS, ALPHA = 8 / 255, 2 / 255


def torchattacks_step(x_adv, x0, grad, eps: float, alpha: float):
    """The update of torchattacks' PGD (attacks/pgd.py): five eager kernels."""
    x_adv = x_adv + alpha * grad.sign()
    delta = torch.clamp(x_adv - x0, min=-eps, max=eps)
    return torch.clamp(x0 + delta, min=0, max=1)


def main() -> None:
    args = h.parse_args(__doc__.splitlines()[0])
    compiled = None if args.no_compile else torch.compile(torchattacks_step, dynamic=False)

    def make_cell(shape, restarts, dtype) -> h.Cell:
        g = torch.Generator(device=args.device).manual_seed(0)
        x0 = torch.rand(shape, generator=g, device=args.device, dtype=dtype)
        lead = (restarts,) if restarts > 1 else ()
        noise = torch.rand(lead + shape, generator=g, device=args.device, dtype=dtype) * (2 * EPS) - EPS
        x_adv = (x0 + noise).clamp_(0, 1)
        grad = torch.randn(lead + shape, generator=g, device=args.device, dtype=dtype)
        ours = pgd_step(x_adv, x0, grad, EPS, ALPHA)
        assert torch.equal(ours, pgd_step_reference(x_adv, x0, grad, EPS, ALPHA)), "ours != reference"
        chain = torchattacks_step(x_adv, x0, grad, EPS, ALPHA)
        assert (ours.float() - chain.float()).abs().max() <= 4 * torch.finfo(dtype).eps, "ours != chain"
        methods = {
            "ours": lambda: pgd_step(x_adv, x0, grad, EPS, ALPHA),
            "ours_inplace": lambda: pgd_step_(x_adv, x0, grad, EPS, ALPHA),
            "eager": lambda: torchattacks_step(x_adv, x0, grad, EPS, ALPHA),
        }
        if compiled is not None:
            methods["compile"] = lambda: compiled(x_adv, x0, grad, EPS, ALPHA)
        nbytes = (3 * x_adv.numel() + x0.numel()) * x0.element_size()
        return h.Cell(methods, nbytes, x_adv.numel() * x0.element_size())

    h.run("pgd_step", args, make_cell, {"eps": EPS, "alpha": ALPHA})


if __name__ == "__main__":
    main()
