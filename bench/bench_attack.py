"""End-to-end benchmark of PGD-40 (L∞, ε = 0.3, α = 0.01, B = 1000, R ∈ {1, 5}) on the paper's standard
classifier for 28×28 inputs, in images per second (attacked examples × restarts / s): pyadvman.attacks.PGD
against a torchattacks-style loop (eager ops, ``loss.backward``, restarts one after the other) and against the
same loop with the model under torch.compile.

    python bench/bench_attack.py [--device cpu|cuda] [--quick] [--no-compile]
"""

from __future__ import annotations

from dataclasses import dataclass

import _harness as h
import torch
import torch.nn.functional as F

from pyadvman.attacks import PGD
from pyadvman.models import build_model

EPS, ALPHA, STEPS, BATCH = 0.3, 0.01, 40, 1000


def torchattacks_pgd(model, x, y, restarts: int):
    """torchattacks' PGD loop (attacks/pgd.py), with loss.backward as users write it; best of the restarts by
    final loss is not tracked (torchattacks returns the last iterate)."""
    out = []
    for _ in range(restarts):
        adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).clamp(0, 1).detach()
        for _ in range(STEPS):
            adv.requires_grad_(True)
            loss = F.cross_entropy(model(adv), y)
            model.zero_grad(set_to_none=True)
            loss.backward()
            adv = adv.detach() + ALPHA * adv.grad.sign()
            adv = torch.clamp(x + torch.clamp(adv - x, -EPS, EPS), 0, 1).detach()
        out.append(adv)
    return torch.stack(out)


@dataclass(frozen=True)
class AttackRow:
    batch: int
    restarts: int
    seconds: dict[str, float]
    images_per_second: dict[str, float]
    success_rate: dict[str, float]


def main() -> None:
    args = h.parse_args(__doc__.splitlines()[0])
    torch.manual_seed(0)
    model = build_model("standard", (1, 28, 28), 10).to(args.device).eval()
    x = torch.rand(BATCH if not args.quick else 100, 1, 28, 28, device=args.device)
    with torch.no_grad():
        y = model(x).argmax(dim=1)  # every clean input counts as correctly classified
    compiled = None if args.no_compile else torch.compile(model)
    rows = []
    for restarts in [1] if args.quick else [1, 5]:
        attack = PGD(eps=EPS, steps=STEPS, alpha=ALPHA, restarts=restarts)
        methods = {"ours": lambda a=attack: a.run(model, x, y),
                   "torchattacks": lambda r=restarts: torchattacks_pgd(model, x, y, r)}
        if compiled is not None:
            methods["compile"] = lambda r=restarts: torchattacks_pgd(compiled, x, y, r)
        success = {}
        for name, fn in methods.items():
            result = fn()
            adv = result.x_adv_restarts if name == "ours" else result
            assert float((adv - x).abs().max()) <= EPS + 1e-6 and adv.min() >= 0 and adv.max() <= 1, name
            with torch.no_grad():
                success[name] = float((model(adv.flatten(0, 1)).argmax(1) != y.repeat(restarts)).float().mean())
        seconds = {name: h.median_seconds(fn, args.min_run_time) for name, fn in methods.items()}
        rate = {name: x.shape[0] * restarts / s for name, s in seconds.items()}
        rows.append(AttackRow(x.shape[0], restarts, seconds, rate, success))
        print(f"  done R={restarts}", flush=True)
    methods = list(rows[0].seconds)
    print(f"\nPGD-{STEPS} on the standard classifier, 28x28, {h.device_name(args.device)}")
    print(f"{'B':>5} {'R':>2} " + " ".join(f"{m + ' img/s':>18}" for m in methods)
          + " " + " ".join(f"{m + ' / ours':>18}" for m in methods if m != "ours"))
    for row in rows:
        speeds = " ".join(f"{row.images_per_second[m]:18.0f}" for m in methods)
        ratios = " ".join(f"{row.seconds[m] / row.seconds['ours']:17.2f}x" for m in methods if m != "ours")
        print(f"{row.batch:>5} {row.restarts:>2} {speeds} {ratios}")
    print("(ratios: method time / ours time, > 1 means ours is faster; success rates: "
          + ", ".join(f"{m} {rows[-1].success_rate[m]:.3f}" for m in methods) + ")")
    path = h.write_results("attack", args.device, "float32", rows,
                           {"eps": EPS, "alpha": ALPHA, "steps": STEPS, "model": "standard", "methods": methods},
                           args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
