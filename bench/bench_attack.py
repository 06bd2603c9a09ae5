"""End-to-end benchmark of PGD-40 (L∞, ε = 0.3, α = 0.01, B = 1000, R ∈ {1, 5}) on the paper's standard
classifier for 28×28 inputs, in images per second (attacked examples × restarts / s), with the peak memory of
one call: pyadvman.attacks.PGD compiled ("ours": ``compile="default"`` on CPU, ``"reduce-overhead"`` on CUDA)
and eager (``compile="off"``), against a torchattacks-style loop (eager ops, ``loss.backward``, restarts one
after the other) and the same loop with the model under torch.compile in the same mode. Every method runs once
before it is timed, so compilation is not in the times.

    python bench/bench_attack.py [--device cpu|cuda] [--quick] [--no-compile]
"""

from __future__ import annotations

from dataclasses import dataclass

import _harness as h
import torch
import torch.nn.functional as F

from pyadvman.attacks import PGD, AttackProtocol
from pyadvman.execution import Execution
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
    peak_bytes: dict[str, int | None]


def main() -> None:
    args = h.parse_args(__doc__.splitlines()[0])
    mode = "reduce-overhead" if args.device == "cuda" else "default"
    torch.manual_seed(0)
    model = build_model("standard", (1, 28, 28), 10).to(args.device).eval()
    x = torch.rand(BATCH if not args.quick else 100, 1, 28, 28, device=args.device)
    with torch.no_grad():
        y = model(x).argmax(dim=1)  # every clean input counts as correctly classified
    compiled = None if args.no_compile else torch.compile(model, mode=mode)
    rows = []
    for restarts in [1] if args.quick else [1, 5]:
        methods = {}
        for name, compile_mode in (("ours", "off" if args.no_compile else mode), ("ours eager", "off")):
            attack = PGD(eps=EPS, protocol=AttackProtocol(steps=STEPS, step_size=ALPHA, restarts=restarts),
                         execution=Execution(compile=compile_mode))
            methods[name] = lambda a=attack: a.run(model, x, y)
        methods["torchattacks"] = lambda r=restarts: torchattacks_pgd(model, x, y, r)
        if compiled is not None:
            methods["compile"] = lambda r=restarts: torchattacks_pgd(compiled, x, y, r)
        success = {}
        for name, fn in methods.items():
            result = fn()  # also compiles
            adv = result.x_adv_restarts if name.startswith("ours") else result
            assert float((adv - x).abs().max()) <= EPS + 1e-6 and adv.min() >= 0 and adv.max() <= 1, name
            with torch.no_grad():
                success[name] = float((model(adv.flatten(0, 1)).argmax(1) != y.repeat(restarts)).float().mean())
        seconds = {name: h.median_seconds(fn, args.min_run_time) for name, fn in methods.items()}
        peaks = {name: h.peak_memory_bytes(fn, args.device) for name, fn in methods.items()}
        rate = {name: x.shape[0] * restarts / s for name, s in seconds.items()}
        rows.append(AttackRow(x.shape[0], restarts, seconds, rate, success, peaks))
        print(f"  done R={restarts}", flush=True)
    methods = list(rows[0].seconds)
    ours_mode = "off" if args.no_compile else mode
    print(f"\nPGD-{STEPS} on the standard classifier, 28x28, {h.device_name(args.device)}; ours: compile={ours_mode!r}")
    print(f"{'B':>5} {'R':>2} " + h.comparison_header(methods, "img/s", 18))
    for row in rows:
        speeds = {m: f"{row.images_per_second[m]:18.0f}" for m in methods}
        print(f"{row.batch:>5} {row.restarts:>2} {h.comparison_cells(methods, speeds, row.seconds, row.peak_bytes)}")
    print("(ratios: method time / ours time, > 1 means ours is faster; success rates: "
          + ", ".join(f"{m} {rows[-1].success_rate[m]:.3f}" for m in methods) + ")")
    path = h.write_results("attack", args.device, "float32", rows,
                           {"eps": EPS, "alpha": ALPHA, "steps": STEPS, "model": "standard", "methods": methods,
                            "ours_compile": ours_mode}, args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
