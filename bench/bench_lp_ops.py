"""Benchmark of the L2 and L1 operators (pyadvman.ops.l2_project, l2_step, l1_project) against their eager
PyTorch formulations (AutoAttack's L2 projection and step; a sort-based L1 projection written here from Croce &
Hein, ICML 2021, Sec. 3.1), the same formulations under torch.compile, and the memory floor (the inputs read and
the output written once at the measured copy bandwidth).

    python bench/bench_lp_ops.py --op l2_project|l2_step|l1_project [--device cpu|cuda] [--dtype float32]
        [--quick] [--no-compile]
"""

from __future__ import annotations

import _harness as h
import torch

from pyadvman.ops import l1_project, l1_project_reference, l2_project, l2_step

L2_EPS, L2_ALPHA, L1_EPS = 0.5, 0.1, 12.0  # RobustBench's L2 radius for CIFAR-10, Croce & Hein's L1 one


def _l2_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(t.dim() - 3 if t.dim() >= 4 else 1).norm(dim=-1).view(*t.shape[:-3], 1, 1, 1) \
        if t.dim() >= 4 else t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def eager_l2_project(x, x0, eps: float):
    """AutoAttack's APGD-L2 projection: δ rescaled to min(eps, ‖δ‖₂), then clamped to [0, 1]."""
    delta = x - x0
    norm = _l2_norm(delta)
    return torch.clamp(x0 + delta / (norm + 1e-12) * torch.clamp(norm, max=eps), 0.0, 1.0)


def eager_l2_step(x_adv, x0, grad, eps: float, alpha: float):
    """AutoAttack's APGD-L2 step: x + alpha·g/‖g‖₂, then the projection above."""
    return eager_l2_project(x_adv + alpha * grad / (_l2_norm(grad) + 1e-12), x0, eps)


def eager_l1_project(x, x0, eps: float):
    """The projection onto {‖z − x0‖₁ <= eps} ∩ [0, 1]^D by sorting the kinks of λ ↦ ‖δ(λ)‖₁ per row and solving
    its crossing piece (x0 in [0, 1]); rows [N, D] in x's dtype."""
    shape = x.shape
    y = (x - x0).reshape(-1, x0[0].numel())
    centre = x0.expand(shape).reshape(y.shape)
    cap = torch.where(y > 0, 1 - centre, centre)
    a = y.abs()
    # each coordinate shrinks (slope −1) for λ between its two kinks max(a − cap, 0) and a
    kinks = torch.cat([(a - cap).clamp_min(0), a], dim=1)
    change = torch.cat([torch.ones_like(a), -torch.ones_like(a)], dim=1)
    kinks, order = kinks.sort(dim=1)
    shrinking = change.gather(1, order).cumsum(dim=1)
    length_at_zero = torch.minimum(a, cap).sum(dim=1, keepdim=True)
    gaps = torch.diff(kinks, dim=1, prepend=torch.zeros_like(kinks[:, :1]))
    previous = torch.cat([torch.zeros_like(shrinking[:, :1]), shrinking[:, :-1]], dim=1)
    lengths = length_at_zero - (previous * gaps).cumsum(dim=1)
    inside = lengths <= eps
    j = inside.float().argmax(dim=1, keepdim=True)  # the first kink inside the ball
    left = torch.where(j > 0, kinks.gather(1, (j - 1).clamp_min(0)), torch.zeros_like(j, dtype=kinks.dtype))
    at_left = torch.where(j > 0, lengths.gather(1, (j - 1).clamp_min(0)), length_at_zero)
    lam = left + (at_left - eps) / shrinking.gather(1, (j - 1).clamp_min(0)).clamp_min(1)
    lam = torch.where(length_at_zero <= eps, torch.zeros_like(lam), lam)
    delta = torch.sign(y) * torch.minimum((a - lam).clamp_min(0), cap)
    return (centre + delta).reshape(shape)


def main() -> None:
    parser = h.argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--op", required=True, choices=["l2_project", "l2_step", "l1_project"])
    args = h.finish_args(parser.parse_args())
    eager = {"l2_project": eager_l2_project, "l2_step": eager_l2_step, "l1_project": eager_l1_project}[args.op]
    compiled = None if args.no_compile else torch.compile(eager, dynamic=False)

    def make_cell(shape, restarts, dtype) -> h.Cell:
        g = torch.Generator(device=args.device).manual_seed(0)
        x0 = torch.rand(shape, generator=g, device=args.device, dtype=dtype)
        lead = (restarts,) if restarts > 1 else ()
        x = (x0 + torch.randn(lead + shape, generator=g, device=args.device, dtype=dtype) * 0.1).clamp(0, 1)
        grad = torch.randn(lead + shape, generator=g, device=args.device, dtype=dtype)
        tolerance = 64 * torch.finfo(dtype).eps
        if args.op == "l2_project":
            calls = (lambda: l2_project(x, x0, L2_EPS), lambda: eager(x, x0, L2_EPS),
                     (lambda: compiled(x, x0, L2_EPS)) if compiled else None)
            nbytes = (2 * x.numel() + x0.numel()) * x0.element_size()
        elif args.op == "l2_step":
            calls = (lambda: l2_step(x, x0, grad, L2_EPS, L2_ALPHA), lambda: eager(x, x0, grad, L2_EPS, L2_ALPHA),
                     (lambda: compiled(x, x0, grad, L2_EPS, L2_ALPHA)) if compiled else None)
            nbytes = (3 * x.numel() + x0.numel()) * x0.element_size()
        else:
            x = (x0 + torch.randn(lead + shape, generator=g, device=args.device, dtype=dtype)).clamp(0, 1)
            calls = (lambda: l1_project(x, x0, L1_EPS), lambda: eager(x, x0, L1_EPS),
                     (lambda: compiled(x, x0, L1_EPS)) if compiled else None)
            nbytes = (2 * x.numel() + x0.numel()) * x0.element_size()
            if x0.numel() <= 2 ** 20:  # the float64 twin as a third check where it is quick
                assert (calls[0]() - l1_project_reference(x, x0, L1_EPS)).abs().max() <= tolerance
        ours = calls[0]()
        # the eager formulation in float64 (its float32 sums over D coordinates drift by about D ulps)
        wide = {"l2_project": lambda: eager(x.double(), x0.double(), L2_EPS),
                "l2_step": lambda: eager(x.double(), x0.double(), grad.double(), L2_EPS, L2_ALPHA),
                "l1_project": lambda: eager(x.double(), x0.double(), L1_EPS)}[args.op]
        if x0.numel() <= 2 ** 20:
            assert (ours.double() - wide()).abs().max() <= tolerance, "ours != the eager formulation"
        methods = {"ours": calls[0], "eager": calls[1]}
        if calls[2] is not None:
            methods["compile"] = calls[2]
        return h.Cell(methods, nbytes, x.numel() * x0.element_size())

    eps = L1_EPS if args.op == "l1_project" else L2_EPS
    h.run(args.op, args, make_cell, {"eps": eps, **({"alpha": L2_ALPHA} if args.op == "l2_step" else {})})


if __name__ == "__main__":
    main()
