"""The on-learned-manifold attack through the class VAE-GANs with stacked class models
(``class_batching="stacked"``: one vectorised call per layer over the stacked weights) against one call per class
(``"loop"``), on 1,000 mixed-label Fashion-MNIST-sized images, with the peak memory of one call. Two settings:
the claims study's test attack (Adam, 20 steps, 5 restarts, batches of 500 examples) and its training attack
(Adam, 10 steps, 1 restart, batches of 50: the adversarial half of a training batch). The VAE-GANs have the
size the quick preset had when the committed figures were measured (32 channels, latent 10; it has 16 since
2026-12-06) and random weights: their speed does not depend on training.

    python bench/bench_decoders.py [--device cpu|cuda] [--quick]
"""

from __future__ import annotations

from dataclasses import dataclass

import _harness as h
import torch

from pyadvman.attacks import AttackProtocol, LearnedManifoldAttack
from pyadvman.execution import Execution
from pyadvman.manifolds.learned_manifold import LearnedManifold
from pyadvman.manifolds.vae_gan import VAEGANConfig
from pyadvman.models import build_model

# Adam on the codes from the radial start, as the claims study's quick preset runs its test and training attacks
SETTINGS = {"test attack": (AttackProtocol(update="adam", start="radial", steps=20, restarts=5, lr=0.01), 500),
            "training attack": (AttackProtocol(update="adam", start="radial", steps=10, restarts=1, lr=0.02), 50)}


@dataclass(frozen=True)
class DecoderRow:
    setting: str
    examples: int
    batch: int
    seconds: dict[str, float]
    images_per_second: dict[str, float]
    peak_bytes: dict[str, int | None]
    max_difference: float  # largest |stacked − loop| over the adversarial codes


def attack_all(manifold, model, x, y, protocol: AttackProtocol, batch: int) -> torch.Tensor:
    attack = LearnedManifoldAttack(manifold=manifold, eta=0.3, protocol=protocol,
                                   execution=Execution(check_model=False))
    torch.manual_seed(0)
    return torch.cat([attack.run(model, x[i:i + batch], y[i:i + batch]).params[0]
                      for i in range(0, x.shape[0], batch)])


def main() -> None:
    args = h.parse_args(__doc__.splitlines()[0])
    torch.manual_seed(0)
    manifold = LearnedManifold((1, 28, 28), 10, VAEGANConfig(latent=10, channels=32)).to(args.device).eval()
    manifold.bounds[:, 0], manifold.bounds[:, 1] = -3.0, 3.0
    model = build_model("standard", (1, 28, 28), 10).to(args.device).eval()
    count = 20 if args.quick else 1000
    x = torch.rand(count, 1, 28, 28, device=args.device)
    y = torch.randint(0, 10, (count,), device=args.device)
    rows = []
    for setting, (protocol, batch) in SETTINGS.items():
        def run(batching: str, protocol=protocol, batch=batch) -> torch.Tensor:
            manifold.class_batching = batching
            return attack_all(manifold, model, x, y, protocol, batch)

        codes = {name: run(name) for name in ("stacked", "loop")}  # also warms up
        seconds = {name: h.median_seconds(lambda n=name: run(n), args.min_run_time) for name in codes}
        peaks = {name: h.peak_memory_bytes(lambda n=name: run(n), args.device) for name in codes}
        difference = float((codes["stacked"] - codes["loop"]).abs().max())
        rows.append(DecoderRow(setting, count, batch, {"ours": seconds["stacked"], "loop": seconds["loop"]},
                               {"ours": count / seconds["stacked"], "loop": count / seconds["loop"]},
                               {"ours": peaks["stacked"], "loop": peaks["loop"]}, difference))
        print(f"  done {setting}", flush=True)
    methods = ["ours", "loop"]
    print(f"\nOn-learned-manifold attack, {count} images, 10 class VAE-GANs, {h.device_name(args.device)}; "
          "ours: stacked class models")
    print(f"{'setting':>16} {'batch':>5} " + h.comparison_header(methods, "img/s", 14))
    for row in rows:
        rates = {m: f"{row.images_per_second[m]:14.1f}" for m in methods}
        print(f"{row.setting:>16} {row.batch:>5} {h.comparison_cells(methods, rates, row.seconds, row.peak_bytes)}"
              f"   max |stacked - loop| {row.max_difference:.1e}")
    print("(ratios: loop time / stacked time, > 1 means stacking is faster)")
    path = h.write_results("decoders", args.device, "float32", rows, {"methods": methods,
                           "vae_gan": {"latent": 10, "channels": 32}, "eta": 0.3}, args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
