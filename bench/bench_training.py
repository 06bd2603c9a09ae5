"""One training epoch on 10,000 Fashion-MNIST images (the standard classifier, Adam, batch 100): normal training
and 50/50 adversarial training with signed PGD-10 (ε = 0.3, α = 2.5ε/10, uniform start, the last iterate kept),
through ``pyadvman.training.train`` with its default settings ("ours": ``compile="auto"``, eager on CPU and
``"reduce-overhead"`` on CUDA; ``memory_format="auto"``, channels-last convolutions on CPU) and compiled
(``"default"`` on CPU, ``"reduce-overhead"`` on CUDA), against a plain eager PyTorch loop written here, as a user
writes it (NCHW) and with the model in channels-last (``model.to(memory_format=torch.channels_last)``, what a user
who knows the trick writes), with the peak memory of one epoch.

Every method runs once before it is timed, so compilation is not in the times. ``train``'s time is its epoch as
its metrics record it (the loop over the batches with the trainer's per-step work: the learning-rate schedule,
finiteness checks, logs); run-folder set-up, the checkpoint and the final test pass come after it and are not
counted, as the plain loop has none. Neither method validates.

    python bench/bench_training.py [--device cpu|cuda] [--quick] [--no-compile]
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _harness as h
import torch
import torch.nn.functional as F

from pyadvman.data import load_fashion_mnist
from pyadvman.models import build_model
from pyadvman.training import train, train_config

EPS, STEPS, BATCH, LR, BETAS = 0.3, 10, 100, 0.01, (0.5, 0.9)
REPEATS = 3  # timed epochs per method; the median is reported


def plain_epoch(images: torch.Tensor, labels: torch.Tensor, adversarial: bool, device: str,
                channels_last: bool = False) -> tuple[float, float]:
    """One epoch as a user would write it: eager ops, ``loss.backward``; with ``adversarial`` the second half of
    each batch is replaced by its PGD-10 example (model in eval mode while attacking) and the loss is the mean of
    the clean and adversarial cross-entropies; ``channels_last``: the model in that memory format. Returns
    (seconds, the last batch's loss)."""
    torch.manual_seed(0)
    model = build_model("standard", (1, 28, 28), 10).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS, weight_decay=1e-4)
    order = torch.randperm(images.shape[0])
    started = time.perf_counter()
    alpha = 2.5 * EPS / STEPS
    for start in range(0, images.shape[0], BATCH):
        rows = order[start:start + BATCH]
        x, y = images[rows].to(device), labels[rows].to(device)
        if adversarial:
            half = x.shape[0] // 2
            clean, target = x[half:], y[half:]
            model.eval()
            adv = (clean + torch.empty_like(clean).uniform_(-EPS, EPS)).clamp(0, 1)
            for _ in range(STEPS):
                adv.requires_grad_(True)
                loss = F.cross_entropy(model(adv), target)
                (grad,) = torch.autograd.grad(loss, adv)
                adv = torch.min(torch.max(adv.detach() + alpha * grad.sign(), clean - EPS), clean + EPS).clamp(0, 1)
            model.train()
            logits = model(torch.cat([x[:half], adv]))
            loss = (F.cross_entropy(logits[:half], y[:half]) + F.cross_entropy(logits[half:], y[half:])) / 2
        else:
            loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started, float(loss)


def package_epoch(data, images_count: int, adversarial: bool, compile_mode: str, device: str, folder: Path
                  ) -> tuple[float, float]:
    """One epoch through ``train``: (the epoch's seconds as its metrics record them, the epoch's mean loss)."""
    cfg = train_config("paper", dataset="fashion-mnist", train_size=images_count, epochs=1, batch_size=BATCH,
                       objective="adversarial" if adversarial else "normal", epsilon=EPS,
                       train_attack={"update": "sign", "steps": STEPS, "start": "uniform", "keep": "last"},
                       validation_examples=0, validation_attack=None, eval_examples=0,
                       execution={"device": device, "compile": compile_mode}, checkpoint_minutes=60.0)
    shutil.rmtree(folder, ignore_errors=True)
    result = train(cfg, folder, data=data, progress=False)
    return result.history[-1]["seconds"], result.history[-1]["train_loss"]


@dataclass(frozen=True)
class TrainingRow:
    objective: str
    images: int
    seconds: dict[str, float]
    images_per_second: dict[str, float]
    peak_bytes: dict[str, int | None]
    last_loss: dict[str, float]


def main() -> None:
    args = h.parse_args(__doc__.splitlines()[0])
    mode = "reduce-overhead" if args.device == "cuda" else "default"
    data = load_fashion_mnist()
    count = 300 if args.quick else 10_000
    repeats = 1 if args.quick else REPEATS
    images, labels = data.train.images[:count].float(), data.train.labels[:count]
    scratch = Path(tempfile.mkdtemp(prefix="bench_training_"))
    rows = []
    for adversarial in (False, True):
        methods = {"plain eager": lambda a=adversarial: plain_epoch(images, labels, a, args.device),
                   "plain channels-last": lambda a=adversarial: plain_epoch(images, labels, a, args.device, True)}
        variants = (("ours", "auto"),) if args.no_compile else (("ours", "auto"), ("ours compiled", mode))
        for name, compile_mode in variants:
            methods[name] = (lambda a=adversarial, c=compile_mode, n=name:
                             package_epoch(data, count, a, c, args.device, scratch / n.replace(" ", "_")))
        seconds, losses, peaks = {}, {}, {}
        for name, fn in methods.items():
            fn()  # compiles (ours), and warms up every method, in a run of its own
            timed = [fn() for _ in range(repeats)]
            seconds[name], losses[name] = statistics.median(t for t, _ in timed), timed[-1][1]
            peaks[name] = h.peak_memory_bytes(fn, args.device)
        objective = "adversarial (50/50, PGD-10)" if adversarial else "normal"
        rows.append(TrainingRow(objective, count, seconds, {k: count / s for k, s in seconds.items()}, peaks, losses))
        print(f"  done {objective}", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    methods = list(rows[0].seconds)
    ours_mode = "auto"
    print(f"\nOne epoch, {count} Fashion-MNIST images, standard classifier, {h.device_name(args.device)}; "
          f"ours: compile={ours_mode!r}")
    print(f"{'objective':>28} " + h.comparison_header(methods, "s", 14))
    for row in rows:
        times = {m: f"{row.seconds[m]:14.2f}" for m in methods}
        print(f"{row.objective:>28} {h.comparison_cells(methods, times, row.seconds, row.peak_bytes)}")
    print(f"(ratios: method time / ours time, > 1 means ours is faster; median of {repeats} timed epochs per method)")
    path = h.write_results("training", args.device, "float32", rows,
                           {"model": "standard", "batch": BATCH, "eps": EPS, "attack_steps": STEPS,
                            "methods": methods, "repeats": repeats, "ours_compile": ours_mode},
                           args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
