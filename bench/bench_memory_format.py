"""The ``memory_format`` setting (pyadvman.memory_format): the studies' passes with the convolution weights
channels-last against contiguous (NCHW), on the standard classifier (28×28, one channel) and the class VAE-GAN
decoders of the learned manifold (quick preset's size, random weights: speed does not depend on training).

Rows: an attack step (forward and input gradient, weights frozen) at the batch sizes of a training attack (100),
of a test attack's chunk (500, 2,500); a training step (forward, weight gradients, Adam) at batch 100; the
claims study's test attack (the paper's: Adam, 20 iterations, 5 restarts) on 500 images end to end; the
on-learned-manifold test attack (Adam, 20 steps, 5 restarts) on 500 images. Each time is the median of
``torch.utils.benchmark`` runs; ratio = contiguous time / channels-last time (> 1: channels-last is faster).

    python bench/bench_memory_format.py [--quick]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import _harness as h
import torch
import torch.nn.functional as F

from pyadvman.attacks import PGD, AttackProtocol, LearnedManifoldAttack
from pyadvman.attacks.model_mode import frozen_parameters
from pyadvman.execution import Execution
from pyadvman.experiments.study_config import QUICK_EVALUATION
from pyadvman.manifolds.learned_manifold import LearnedManifold
from pyadvman.manifolds.vae_gan import VAEGANConfig
from pyadvman.memory_format import to_memory_format
from pyadvman.models import build_model

LAYOUTS = ("contiguous", "channels_last")


@dataclass(frozen=True)
class LayoutRow:
    phase: str
    batch: int
    seconds: dict[str, float]
    ratio: float  # contiguous / channels_last


def _attack_step(model, batch: int):
    x = torch.rand(batch, 1, 28, 28)

    def once():
        inputs = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(inputs).logsumexp(1).sum(), inputs)
        return grad
    return once


def _training_step(model, batch: int):
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def once():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return once


def main() -> None:
    args = h.parse_args(__doc__.splitlines()[0])
    torch.manual_seed(0)
    classifier = build_model("standard", (1, 28, 28), 10).eval()
    manifold = LearnedManifold((1, 28, 28), 10, VAEGANConfig(latent=10, channels=32)).eval()
    manifold.bounds[:, 0], manifold.bounds[:, 1] = -3.0, 3.0
    examples = 20 if args.quick else 500
    x = torch.rand(examples, 1, 28, 28)
    y = torch.randint(0, 10, (examples,))
    sizes = (100,) if args.quick else (100, 500, 2500)
    rows = []

    def measure(phase: str, batch: int, make) -> None:
        seconds = {layout: h.median_seconds(make(layout), args.min_run_time) for layout in LAYOUTS}
        rows.append(LayoutRow(phase, batch, seconds, seconds["contiguous"] / seconds["channels_last"]))
        print(f"  {phase:<40} {batch:>5} {seconds['contiguous'] * 1e3:10.1f} ms {seconds['channels_last'] * 1e3:10.1f} "
              f"ms  {rows[-1].ratio:5.2f}x", flush=True)

    print(f"{'phase':<42} {'batch':>5} {'contiguous':>13} {'channels-last':>13}  ratio")
    for batch in sizes:
        def attack_step(layout: str, batch=batch):
            model = copy.deepcopy(classifier)
            to_memory_format(model, layout, "cpu")
            frozen_parameters(model).__enter__()
            return _attack_step(model, batch)
        measure("attack step (forward + input gradient)", batch, attack_step)

    def training_step(layout: str):
        model = copy.deepcopy(classifier).train()
        to_memory_format(model, layout, "cpu")
        return _training_step(model, 100)
    measure("training step (Adam)", 100, training_step)

    def test_attack(layout: str):
        attack = PGD(eps=0.3, protocol=QUICK_EVALUATION, execution=Execution(memory_format=layout, check_model=False))
        return lambda: attack.run(classifier, x, y)
    measure("paper's test attack (Adam, 20 x 5)", examples, test_attack)

    protocol = AttackProtocol(update="adam", start="radial", steps=20, restarts=5, lr=0.01)

    def manifold_attack(layout: str):
        attack = LearnedManifoldAttack(manifold=manifold, eta=0.3, protocol=protocol,
                                       execution=Execution(memory_format=layout, check_model=False))
        return lambda: attack.run(classifier, x, y)
    measure("on-learned-manifold test attack (20 x 5)", examples, manifold_attack)

    path = h.write_results("memory_format", "cpu", "float32", rows, {"layouts": list(LAYOUTS)}, args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
