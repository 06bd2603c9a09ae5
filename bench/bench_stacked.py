"""K standard classifiers trained and attacked one after another ("sequential") against all at once as one
stacked module ("stacked": pyadvman.models.stacked.StackedClassifiers, grouped convolutions), for K = 1, 3 and 8,
with the peak memory of each.

Every model has its own initialisation and its own data order (as the seeds of a study's grid); the phases are
one normal training epoch (Adam, batch 100), one Madry AT epoch (signed PGD-10 at ε = 0.3 on the whole batch) and
a signed PGD-20 attack on 500 test images per model, written once over a [K, B, ...] batch so both methods run
the same code (sequential: K = 1 at a time), both in pyadvman's default layout (channels-last convolutions on
CPU); training times are medians of 3 epochs after a warm-up, attacks ``torch.utils.benchmark`` medians. Also
reported: the largest difference between a stacked model's
test logits and the same model trained alone, in training mode (BatchNorm on the test batch's statistics): in
eval mode the running means also carry the convolution biases before BatchNorm, whose gradient is zero up to
rounding and which Adam moves by full steps of random sign, so eval-mode logits of any two runs that differ in
rounding (another thread count, another kernel) drift apart without the model's function changing. Training is
chaotic enough (Adam at lr 0.01, betas (0.5, 0.9)) that rounding differences grow over an epoch; for scale, the
K = 1 rows print what training the same model alone again at one thread does.

    python bench/bench_stacked.py [--device cpu|cuda] [--quick]
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass

import _harness as h
import torch
import torch.nn.functional as F

from pyadvman.data import load_fashion_mnist
from pyadvman.memory_format import to_memory_format
from pyadvman.models import build_model
from pyadvman.models.stacked import StackedClassifiers

EPS, BATCH, LR, BETAS = 0.3, 100, 0.01, (0.5, 0.9)


def pgd(forward, x: torch.Tensor, y: torch.Tensor, steps: int) -> torch.Tensor:
    """Signed PGD-``steps`` from a uniform start on x Tensor[K, B, C, H, W] (each model its own rows)."""
    alpha = 2.5 * EPS / steps
    adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        logits = forward(adv)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum")
        (grad,) = torch.autograd.grad(loss, adv)
        adv = torch.min(torch.max(adv.detach() + alpha * grad.sign(), x - EPS), x + EPS).clamp(0, 1)
    return adv


def epoch(module, images, labels, orders: torch.Tensor, madry: bool) -> None:
    """One epoch of ``module`` (x [K, B, ...] -> logits [K, B, classes]) with model k reading images in
    orders[k]; the loss is the sum of the models' mean cross-entropies, so each model gets its own gradient."""
    optimizer = torch.optim.Adam(module.parameters(), lr=LR, betas=BETAS, weight_decay=1e-4)
    for start in range(0, orders.shape[1], BATCH):
        rows = orders[:, start:start + BATCH]
        x, y = images[rows], labels[rows]
        if madry:
            module.eval()
            for p in module.parameters():
                p.requires_grad_(False)
            x = pgd(module, x, y, 10)
            for p in module.parameters():
                p.requires_grad_(True)
            module.train()
        loss = F.cross_entropy(module(x).flatten(0, 1), y.flatten(), reduction="sum") / y.shape[1]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def _laid_out(module: torch.nn.Module) -> torch.nn.Module:
    """The module with pyadvman's default layout on this device (channels-last convolutions on CPU)."""
    to_memory_format(module, "auto", next(module.parameters()).device)
    return module


class One(torch.nn.Module):
    """A single model with the stacked interface (x [1, B, ...] -> [1, B, classes])."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x[0])[None]


@dataclass(frozen=True)
class StackedRow:
    phase: str
    models: int
    seconds: dict[str, float]
    peak_bytes: dict[str, int | None]
    speedup: float  # sequential / stacked
    max_logit_difference: float | None
    prediction_agreement: float | None  # share of test images where stacked and alone predict the same class


def main() -> None:
    args = h.parse_args(__doc__.splitlines()[0])
    torch.manual_seed(0)
    train_count, test_count = (200, 50) if args.quick else (2000, 500)
    try:
        data = load_fashion_mnist()
        images, labels = data.train.images[:train_count].float(), data.train.labels[:train_count]
        test_x, test_y = data.test.images[:test_count].float(), data.test.labels[:test_count]
    except (OSError, ValueError) as error:  # a GPU image without the data: speed does not depend on it
        print(f"Fashion-MNIST not found ({error}); random images instead (the 'same prediction' column means "
              "nothing then)")
        images, labels = torch.rand(train_count, 1, 28, 28), torch.randint(0, 10, (train_count,))
        test_x, test_y = torch.rand(test_count, 1, 28, 28), torch.randint(0, 10, (test_count,))
    images, labels, test_x, test_y = (t.to(args.device) for t in (images, labels, test_x, test_y))
    rows = []
    print(f"{'phase':<28} {'K':>2} {'sequential s':>13} {'stacked s':>10} {'speedup':>8} {'seq MiB':>8} "
          f"{'stk MiB':>8}  max |Δ logit|  same pred")
    for k in (1,) if args.quick else (1, 3, 8):
        models = [build_model("standard", (1, 28, 28), 10).to(args.device) for _ in range(k)]
        orders = torch.stack([torch.randperm(train_count, generator=torch.Generator().manual_seed(s))
                              for s in range(k)]).to(args.device)

        def sequential(madry: bool):
            trained = [_laid_out(One(copy.deepcopy(m))) for m in models]
            for index, module in enumerate(trained):
                epoch(module, images, labels, orders[index:index + 1], madry)
            return trained

        def stacked(madry: bool):
            module = _laid_out(StackedClassifiers([copy.deepcopy(m) for m in models]))
            epoch(module, images, labels, orders, madry)
            return module

        for phase, madry in (("normal training epoch", False), ("Madry AT epoch (PGD-10)", True)):
            alone, together = sequential(madry), stacked(madry)  # also warms up
            repeats = 1 if args.quick else 3
            seconds_sequential = _median_run(lambda m=madry: sequential(m), repeats)
            seconds_stacked = _median_run(lambda m=madry: stacked(m), repeats)
            with torch.no_grad():  # training mode: BatchNorm on the batch's statistics (see the module docstring)
                stacked_logits = together(test_x.expand(k, *test_x.shape))
                alone_logits = torch.stack([alone[i](test_x[None])[0] for i in range(k)])
            difference = float((stacked_logits - alone_logits).abs().max())
            agreement = float((stacked_logits.argmax(-1) == alone_logits.argmax(-1)).float().mean())
            if k == 1:
                _print_rounding_reference(phase, alone[0], models[0], images, labels, orders[:1], madry, test_x)
            peaks = {"sequential": h.peak_memory_bytes(lambda m=madry: sequential(m), args.device),
                     "stacked": h.peak_memory_bytes(lambda m=madry: stacked(m), args.device)}
            rows.append(StackedRow(phase, k, {"sequential": seconds_sequential, "stacked": seconds_stacked}, peaks,
                                   seconds_sequential / seconds_stacked, difference, agreement))
            _print(rows[-1])

        trained = [_laid_out(One(m.eval())) for m in models]
        together = _laid_out(StackedClassifiers(models).eval())
        x, y = test_x.expand(k, *test_x.shape), test_y.expand(k, test_count)

        def attack_sequential():
            for module in trained:
                pgd(module, test_x[None], test_y[None], 20)

        def attack_stacked():
            pgd(together, x, y, 20)

        for module in (*trained, together):
            for p in module.parameters():
                p.requires_grad_(False)
        seconds = {"sequential": h.median_seconds(attack_sequential, args.min_run_time),
                   "stacked": h.median_seconds(attack_stacked, args.min_run_time)}
        peaks = {"sequential": h.peak_memory_bytes(attack_sequential, args.device),
                 "stacked": h.peak_memory_bytes(attack_stacked, args.device)}
        rows.append(StackedRow(f"PGD-20 on {test_count} images", k, seconds, peaks,
                               seconds["sequential"] / seconds["stacked"], None, None))
        _print(rows[-1])
    path = h.write_results("stacked", args.device, "float32", rows,
                           {"train_images": train_count, "test_images": test_count, "batch": BATCH, "eps": EPS},
                           args.results_dir)
    print(f"results: {path}")


def _print_rounding_reference(phase: str, trained, initial, images, labels, order, madry: bool, test_x) -> None:
    """What rounding alone does to the same training: model 0 trained alone again at one thread (other sums'
    order), compared as the stacked models are."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        again = _laid_out(One(copy.deepcopy(initial)))
        epoch(again, images, labels, order, madry)
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        a, b = trained(test_x[None]), again(test_x[None])
    print(f"  (reference, {phase}: the same model trained alone at 1 thread instead of {threads}: max |Δ logit| "
          f"{float((a - b).abs().max()):.1e}, same prediction on {float((a.argmax(-1) == b.argmax(-1)).float().mean()):.3f})",
          flush=True)


def _median_run(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _print(row: StackedRow) -> None:
    mib = {name: f"{value / 2 ** 20:8.0f}" if value else f"{'—':>8}" for name, value in row.peak_bytes.items()}
    difference = f"{row.max_logit_difference:.1e}" if row.max_logit_difference is not None else "—"
    agreement = f"{row.prediction_agreement:.3f}" if row.prediction_agreement is not None else "—"
    print(f"{row.phase:<28} {row.models:>2} {row.seconds['sequential']:13.2f} {row.seconds['stacked']:10.2f} "
          f"{row.speedup:7.2f}x {mib['sequential']} {mib['stacked']}  {difference:>13} {agreement:>10}", flush=True)


if __name__ == "__main__":
    main()
