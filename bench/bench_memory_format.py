"""The ``memory_format`` and ``fold_batch_norm`` settings (pyadvman.memory_format, pyadvman.batch_norm_folding):
the studies' passes with the convolution weights contiguous (NCHW, BatchNorm unfolded: pyadvman before them),
channels-last, and channels-last with BatchNorm folded into the convolutions (the default for attacks on CPU), on
the standard classifier (28×28, one channel) and the class VAE-GAN decoders of the learned manifold (32 channels,
the quick preset's size when the committed figures were measured, 16 since 2026-12-06; random weights and
statistics: speed does not depend on training).

Rows: an attack step (forward and input gradient, weights frozen) at the batch sizes of a training attack (100),
of a test attack's chunk (500, 2,500); a training step (forward, weight gradients, Adam) at batch 100; the
claims study's test attack (the paper's: Adam, 20 iterations, 5 restarts) on 500 images end to end; the
on-learned-manifold test attack (Adam, 20 steps, 5 restarts) on 500 images. Training steps run in training mode,
where nothing is folded. Each time is the median of ``torch.utils.benchmark`` runs; ratios = NCHW time / the
setting's time (> 1: faster than NCHW).

    python bench/bench_memory_format.py [--quick]
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import _harness as h
import torch
import torch.nn.functional as F

from pyadvman.attacks import PGD, AttackProtocol, LearnedManifoldAttack
from pyadvman.attacks.model_mode import frozen_parameters
from pyadvman.batch_norm_folding import batch_norm_folded
from pyadvman.execution import Execution
from pyadvman.experiments.study_config import QUICK_EVALUATION
from pyadvman.manifolds.learned_manifold import LearnedManifold
from pyadvman.manifolds.vae_gan import VAEGANConfig
from pyadvman.memory_format import to_memory_format
from pyadvman.models import build_model

# setting name -> (memory_format, fold_batch_norm)
SETTINGS = {"NCHW": ("contiguous", False), "channels-last": ("channels_last", False),
            "channels-last, folded": ("channels_last", True)}


@dataclass(frozen=True)
class LayoutRow:
    phase: str
    batch: int
    seconds: dict[str, float]
    ratios: dict[str, float]  # NCHW time / the setting's


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
    steps = 2 if args.quick else 20  # --quick: a smoke test of the script, not a measurement
    rows = []

    def measure(phase: str, batch: int, make, settings=tuple(SETTINGS)) -> None:
        seconds = {name: h.median_seconds(make(*SETTINGS[name]), args.min_run_time) for name in settings}
        rows.append(LayoutRow(phase, batch, seconds, {n: seconds["NCHW"] / t for n, t in seconds.items()}))
        cells = "".join(f"{seconds[n] * 1e3:12.1f} ms {rows[-1].ratios[n]:5.2f}x" for n in settings)
        print(f"  {phase:<40} {batch:>5}{cells}", flush=True)

    print(f"{'phase':<42} {'batch':>5}" + "".join(f"{name:>24}" for name in SETTINGS))
    for batch in sizes:
        def attack_step(layout: str, fold: bool, batch=batch):
            model = copy.deepcopy(classifier)
            frozen_parameters(model).__enter__()
            if fold:
                batch_norm_folded(model).__enter__()
            to_memory_format(model, layout, "cpu")
            return _attack_step(model, batch)
        measure("attack step (forward + input gradient)", batch, attack_step)

    def training_step(layout: str, fold: bool):
        model = copy.deepcopy(classifier).train()
        to_memory_format(model, layout, "cpu")
        return _training_step(model, 100)
    measure("training step (Adam)", 100, training_step, settings=("NCHW", "channels-last"))

    def test_attack(layout: str, fold: bool):
        attack = PGD(eps=0.3, protocol=replace(QUICK_EVALUATION, steps=steps),
                     execution=Execution(memory_format=layout, fold_batch_norm=fold, check_model=False))
        return lambda: attack.run(classifier, x, y)
    measure(f"paper's test attack (Adam, {steps} x 5)", examples, test_attack)

    protocol = AttackProtocol(update="adam", start="radial", steps=steps, restarts=5, lr=0.01)

    def manifold_attack(layout: str, fold: bool):
        attack = LearnedManifoldAttack(manifold=manifold, eta=0.3, protocol=protocol,
                                       execution=Execution(memory_format=layout, fold_batch_norm=fold,
                                                           check_model=False))
        return lambda: attack.run(classifier, x, y)
    measure(f"on-learned-manifold test attack ({steps} x 5)", examples, manifold_attack)

    path = h.write_results("memory_format", "cpu", "float32", rows,
                           {"settings": {n: {"memory_format": f, "fold_batch_norm": b} for n, (f, b) in SETTINGS.items()}},
                           args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
