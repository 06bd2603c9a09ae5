"""A roofline of the quick studies' phases: how many FLOPs each phase does (``torch.utils.flop_counter``), how fast
it runs, and what fraction of this machine's attainable rate that is.

The model is the studies' standard classifier on 28×28 images (Fashion-MNIST), with the quick claims preset's
settings: batch 100, the released training attack scaled to 10 Adam steps (regular AT, 50/50), Madry AT with
signed PGD-10 on the whole batch, and the test attacks of every claims model (the paper's: Adam, 20 iterations,
5 restarts; the strong one: signed PGD-20, 5 restarts; APGD-CE 50). The on-manifold phases are not here: their
cost is the generator's (bench_decoders.py for the VAE-GAN decoders).

Attainable rates, measured here on the same layers: the classifier's forward and backward pass (input gradient,
as in an attack step; and weight gradient, as in a training step) at the phase's own batch size and at a large
one (4,096 images: the most one model's layers reach when work is batched, as stacking several models would),
and a 2,048² float32 GEMM (the machine's dense peak). Achieved = FLOPs / seconds of the phase as it runs in
pyadvman (the median of 3 timed runs after a warm-up); a phase is bound by its per-call overhead when even its own-batch attainable rate is far below the
large-batch one.

    python bench/bench_roofline.py [--quick]
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import _harness as h
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from pyadvman.attacks import APGD, APGD_PROTOCOL, PGD
from pyadvman.attacks.model_mode import frozen_parameters
from pyadvman.data import load_fashion_mnist
from pyadvman.experiments.classifier_config import QUICK_TRAINING
from pyadvman.experiments.study_config import QUICK_EVALUATION, STRONG_PGD
from pyadvman.models import build_model
from pyadvman.training import train, train_config
from pyadvman.training.objective_registry import build_objective
from pyadvman.training.objectives import Batch

BATCH, LARGE, EPS = 100, 4096, 0.3


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def step_rate(model: torch.nn.Module, batch: int, weights: bool, min_run_time: float) -> float:
    """FLOP/s of one forward and backward pass of ``model`` on ``batch`` images: the input gradient only (an attack
    step, weights frozen) or the weight gradient too (a training step)."""
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def once():
        leaf = x.clone().requires_grad_(not weights)
        F.cross_entropy(model(leaf), y).backward()

    with nullcontext() if weights else frozen_parameters(model):
        return flops(once) / h.median_seconds(once, min_run_time)


def gemm_rate(min_run_time: float) -> float:
    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    return 2 * 2048 ** 3 / h.median_seconds(lambda: a @ b, min_run_time)


@dataclass
class PhaseRow:
    phase: str
    batch: int  # images per model pass
    gflop: float
    seconds: float
    achieved_gflops: float
    attainable_own_batch_gflops: float  # the classifier's pass at this batch
    attainable_large_batch_gflops: float  # at 4,096 images
    of_own_batch: float  # achieved / attainable at the own batch
    of_large_batch: float
    of_gemm_peak: float


def training_phases(data, count: int, folder: Path, repeats: int) -> list[tuple[str, int, float, float, bool]]:
    """(phase, batch of its passes, FLOPs of one epoch, median seconds of ``repeats`` epochs, weights trained) per
    objective."""
    found = []
    for name, objective, attack in (("normal training epoch", "normal", QUICK_TRAINING),
                                    ("regular AT epoch (released, Adam-10, 50/50)", "adversarial", QUICK_TRAINING),
                                    ("Madry AT epoch (signed PGD-10, 100%)", "madry", QUICK_TRAINING)):
        cfg = train_config("paper", dataset="fashion-mnist", train_size=count, epochs=1, batch_size=BATCH,
                           objective=objective, epsilon=EPS, train_attack=attack, validation_examples=0,
                           validation_attack=None, eval_examples=0, checkpoint_minutes=60.0)
        torch.manual_seed(0)
        model = build_model("standard", (1, 28, 28), 10)
        step = build_objective(cfg, data)
        split = data.train.first(BATCH)
        batch = Batch(split.images.float(), split.labels)

        def one_batch():
            model.train()
            loss, _ = step(model, model, batch)
            loss.backward()

        per_batch = flops(one_batch)
        timed = []
        for _ in range(1 + repeats):  # the first run warms up
            shutil.rmtree(folder, ignore_errors=True)
            timed.append(train(cfg, folder, data=data, progress=False).history[-1]["seconds"])
        found.append((name, BATCH // 2 if objective == "adversarial" else BATCH, per_batch * (count // BATCH),
                      statistics.median(timed[1:]), objective == "normal"))
    return found


class CountingRows(torch.nn.Module):
    """Counts the images the model sees forward, and those whose input gradient is computed (a hook on the
    input), so that a judging pass without a backward pass counts as a forward pass only."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.forward_rows, self.backward_rows = model, 0, 0

    def _count_backward(self, grad: torch.Tensor) -> None:
        self.backward_rows += grad.shape[0]

    def forward(self, x):
        self.forward_rows += x.shape[0]
        if x.requires_grad:
            x.register_hook(self._count_backward)
        return self.model(x)


def attack_phases(model, x, y, repeats: int) -> list[tuple[str, int, float, float, bool]]:
    """(phase, rows per pass, FLOPs, median seconds of ``repeats`` runs, False) per test attack: FLOPs = images
    passed forward × one image's forward FLOPs + images passed back × one image's input-gradient FLOPs (FlopCounterMode fails inside APGD's
    autograd.grad with torch 2.13, so attacks are counted in passes; for a training batch the two counts agree:
    3.693 GFLOP for a Madry AT batch of 100 either way)."""
    one = x[:1].clone().requires_grad_(True)
    with frozen_parameters(model):  # as in the attacks: the backward pass computes the input gradient only
        forward_and_back = flops(lambda: F.cross_entropy(model(one), y[:1]).backward())
    with torch.no_grad():
        forward = flops(lambda: model(x[:1]))
    found = []
    for name, attack in (("paper's test attack (Adam-20, 5 restarts)", PGD(eps=EPS, protocol=QUICK_EVALUATION)),
                         ("strong PGD-20, 5 restarts", PGD(eps=EPS, protocol=replace(STRONG_PGD, steps=20))),
                         ("APGD-CE 50", APGD(eps=EPS, protocol=replace(APGD_PROTOCOL, steps=50)))):
        attack = attack.with_execution(check_model=False)
        counting = CountingRows(model)
        attack.run(counting, x, y)
        count = counting.forward_rows * forward + counting.backward_rows * (forward_and_back - forward)
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            attack.run(model, x, y)
            seconds.append(time.perf_counter() - started)
        rows = x.shape[0] * attack.protocol.restarts
        found.append((name, min(rows, 2048), count, statistics.median(seconds), False))
    return found


def main() -> None:
    args = h.parse_args(__doc__.splitlines()[0])
    data = load_fashion_mnist()
    count, attacked = (300, 50) if args.quick else (2000, 500)
    repeats = 1 if args.quick else 3
    folder = Path(tempfile.mkdtemp(prefix="bench_roofline_"))
    try:
        phases = training_phases(data, count, folder / "run", repeats)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    torch.manual_seed(0)
    model = build_model("standard", (1, 28, 28), 10).eval()
    test = data.test.first(attacked)
    phases += attack_phases(model, test.images.float(), test.labels, repeats)
    peak = gemm_rate(args.min_run_time)
    rates: dict[tuple[int, bool], float] = {}
    rows = []
    for name, batch, count_flops, seconds, weights in phases:
        for size in (batch, LARGE):
            if (size, weights) not in rates:
                rates[(size, weights)] = step_rate(build_model("standard", (1, 28, 28), 10).eval(), size, weights,
                                                   args.min_run_time)
        achieved = count_flops / seconds
        own, large = rates[(batch, weights)], rates[(LARGE, weights)]
        rows.append(PhaseRow(name, batch, round(count_flops / 1e9, 3), round(seconds, 3), round(achieved / 1e9, 2),
                             round(own / 1e9, 2), round(large / 1e9, 2), round(achieved / own, 3),
                             round(achieved / large, 3), round(achieved / peak, 3)))
    print(f"\nRoofline of the quick claims phases, standard classifier, {h.device_name('cpu')}; "
          f"GEMM peak {peak / 1e9:.1f} GFLOP/s")
    print(f"{'phase':>46} {'batch':>5} {'GFLOP':>8} {'s':>7} {'GFLOP/s':>8} {'own-batch':>9} {'large':>7} "
          f"{'of own':>6} {'of large':>8} {'of peak':>7}")
    for r in rows:
        print(f"{r.phase:>46} {r.batch:>5} {r.gflop:>8.2f} {r.seconds:>7.2f} {r.achieved_gflops:>8.2f} "
              f"{r.attainable_own_batch_gflops:>9.2f} {r.attainable_large_batch_gflops:>7.2f} {r.of_own_batch:>6.2f} "
              f"{r.of_large_batch:>8.2f} {r.of_gemm_peak:>7.2f}")
    print("(own-batch / large: the classifier's forward and backward pass at the phase's batch and at 4,096 images; "
          "peak: a 2,048² GEMM)")
    path = h.write_results("roofline", "cpu", "float32", rows,
                           {"gemm_peak_gflops": round(peak / 1e9, 2), "training_images": count,
                            "attacked_images": attacked, "batch": BATCH, "large_batch": LARGE,
                            "repeats": repeats}, args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
