"""AutoAttack under L2 and APGD-L1, against independent implementations on the same model and images: pyadvman
beside torchattacks 3.5.1 (``AutoAttack(norm="L2")``, its wrapper as users call it: 10 iterations per gradient
attack) and, with ``--authors PATH``, beside the authors' code (fra31/auto-attack: ``AutoAttack(norm="L2")``
standard, and ``APGDAttack(norm="L1")``), each run in this process. Robust accuracy as each implementation's
images are judged by one fresh forward pass, the largest perturbation norm in float64, and the images outside
the ball.

    pip install --no-deps torchattacks==3.5.1
    pyadvman train --preset quick --out runs/l2-fashion --dataset fashion-mnist --objective adversarial \\
        --norm l2 --epsilon 1.5 --train-size 20000 --train-attack.steps 7
    python bench/bench_autoattack_lp.py --run runs/l2-fashion --examples 500 [--authors path/to/auto-attack]

The authors' package is not on PyPI: ``--authors`` names a checkout of github.com/fra31/auto-attack (the folder
that holds ``autoattack/``); without it only torchattacks is compared.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import _harness as h
import torch

from pyadvman.attacks import APGD, AutoAttack
from pyadvman.attacks.threat_models import checked_distance
from pyadvman.data import load_dataset
from pyadvman.training import load_trained

L2_EPS = 1.5  # Fashion-MNIST's usual L2 radius, the run's training radius
L1_EPS = 5.0  # fixed before any run: keeps an L2-trained model's robust accuracy away from 0 and from its clean one


@dataclass(frozen=True)
class LpRow:
    attack: str
    implementation: str
    norm: str
    eps: float
    seconds: float
    robust_accuracy: float
    max_norm: float  # largest ‖x_adv − x‖ in the norm, float64
    outside_ball: int  # images with checked ‖x_adv − x‖ > eps (float64 and the float32 difference)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def authors_package(path: Path):
    """fra31/auto-attack's ``autoattack`` package from a checkout."""
    if not (path / "autoattack" / "__init__.py").is_file():
        raise SystemExit(f"--authors: {path} holds no autoattack/__init__.py (a checkout of fra31/auto-attack)")
    sys.path.insert(0, str(path))
    import autoattack

    return autoattack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="an L2-adversarially trained run folder")
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--authors", type=Path, help="a checkout of fra31/auto-attack (the authors' code)")
    parser.add_argument("--seed", type=int, default=0, help="seeds every implementation's random starts")
    parser.add_argument("--l1-standard", action="store_true",
                        help="also AutoAttack's standard L1 version, ours and the authors'")
    parser.add_argument("--components", action="store_true",
                        help="also each attack of AutoAttack L2 alone on every image, ours and the authors'")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--results-dir", type=Path, default=h.RESULTS_DIR)
    args = parser.parse_args()
    try:
        import torchattacks
    except ImportError:
        raise SystemExit("the reference needs torchattacks: pip install --no-deps torchattacks==3.5.1") from None
    authors = authors_package(args.authors) if args.authors else None
    model, cfg = load_trained(args.run)
    model = model.to(args.device).eval()
    data = load_dataset(cfg.dataset, **cfg.dataset_options)
    test = data.test.first(args.examples)
    x, y = test.images.to(args.device, torch.float32), test.labels.to(args.device)
    classes = len(data.classes)
    rows: list[LpRow] = []

    def record(attack: str, implementation: str, norm: str, eps: float, adv: torch.Tensor, seconds: float) -> None:
        distance = checked_distance(adv.detach(), x, norm)
        with torch.no_grad():
            robust = (model(x).argmax(1) == y) & (model(adv).argmax(1) == y)
        rows.append(LpRow(attack, implementation, norm, eps, seconds, float(robust.float().mean()),
                          float(distance.max()), int((distance > eps).sum())))
        print(f"  {attack:<16} {implementation:<26} {seconds:8.1f} s  robust {rows[-1].robust_accuracy:.4f}  "
              f"max ‖δ‖ {float(distance.max()):.9f}  outside: {rows[-1].outside_ball}", flush=True)

    torch.manual_seed(args.seed)
    result, seconds = timed(lambda: AutoAttack(eps=L2_EPS, norm="L2").run(model, x, y))
    record("AutoAttack L2", "pyadvman", "l2", L2_EPS, result.x_adv, seconds)
    print("    after each attack: " + ", ".join(f"{k} {v:.4f}" for k, v in result.robust_accuracy_after().items()))
    reference = torchattacks.AutoAttack(model, norm="L2", eps=L2_EPS, version="standard", n_classes=classes,
                                        seed=args.seed)
    adv, seconds = timed(lambda: reference(x, y))
    record("AutoAttack L2", "torchattacks 3.5.1", "l2", L2_EPS, adv, seconds)
    if authors is not None:
        standard = authors.AutoAttack(model, norm="L2", eps=L2_EPS, version="standard", device=args.device,
                                      verbose=False, seed=args.seed)
        adv, seconds = timed(lambda: standard.run_standard_evaluation(x, y, bs=len(y)))
        record("AutoAttack L2", "fra31/auto-attack", "l2", L2_EPS, adv, seconds)

    if args.components:
        for name, attack in AutoAttack(eps=L2_EPS, norm="L2").components(classes):
            torch.manual_seed(args.seed)
            found, seconds = timed(lambda a=attack: a.run(model, x, y).x_adv)
            record(f"{name} L2", "pyadvman", "l2", L2_EPS, found, seconds)
        if authors is not None:
            standard = authors.AutoAttack(model, norm="L2", eps=L2_EPS, version="standard", device=args.device,
                                          verbose=False, seed=args.seed)
            found, seconds = timed(lambda: standard.run_standard_evaluation_individual(x, y, bs=len(y)))
            for name, adv in found.items():  # the time of all four, shared out evenly
                record(f"{name.upper()} L2", "fra31/auto-attack", "l2", L2_EPS, adv, seconds / len(found))
    if args.l1_standard:
        torch.manual_seed(args.seed)
        result, seconds = timed(lambda: AutoAttack(eps=L1_EPS, norm="L1").run(model, x, y))
        record("AutoAttack L1", "pyadvman", "l1", L1_EPS, result.x_adv, seconds)
        print("    after each attack: " + ", ".join(f"{k} {v:.4f}" for k, v in result.robust_accuracy_after().items()))
        if authors is not None:
            standard = authors.AutoAttack(model, norm="L1", eps=L1_EPS, version="standard", device=args.device,
                                          verbose=False, seed=args.seed)
            adv, seconds = timed(lambda: standard.run_standard_evaluation(x, y, bs=len(y)))
            record("AutoAttack L1", "fra31/auto-attack", "l1", L1_EPS, adv, seconds)
    for large_eps in (False, True):  # one restart; with AutoAttack's 3ε, 2ε, ε schedule (its standard L1 version)
        name = "APGD-CE L1" + (" 3-2-1ε" if large_eps else "")
        torch.manual_seed(args.seed)
        attack = APGD(eps=L1_EPS, norm="L1", large_eps=large_eps, stop_on_success=True)
        found, seconds = timed(lambda a=attack: a.run(model, x, y).x_adv)
        record(name, "pyadvman", "l1", L1_EPS, found, seconds)
        if authors is not None:
            from autoattack.autopgd_base import APGDAttack

            apgd = APGDAttack(model, norm="L1", eps=L1_EPS, n_iter=100, n_restarts=1, loss="ce", seed=args.seed,
                              device=args.device, use_largereps=large_eps)
            found, seconds = timed(lambda a=apgd: a.perturb(x, y))
            record(name, "fra31/auto-attack", "l1", L1_EPS, found, seconds)

    print(f"\n{len(y)} {cfg.dataset} test images, run {args.run} ({cfg.objective}, {cfg.norm} ε = {cfg.epsilon}), "
          f"{h.device_name(args.device)}")
    print(f"{'attack':<16} {'implementation':<26} {'seconds':>8} {'robust acc.':>11} {'max ‖δ‖':>12} {'outside':>8}")
    for row in rows:
        print(f"{row.attack:<16} {row.implementation:<26} {row.seconds:8.1f} {row.robust_accuracy:11.4f} "
              f"{row.max_norm:12.9f} {row.outside_ball:8d}")
    path = h.write_results(f"autoattack_lp_seed{args.seed}", args.device, "float32", rows,
                           {"seed": args.seed, "examples": len(y), "run": str(args.run), "model": cfg.model, "objective": cfg.objective,
                            "train_norm": cfg.norm, "train_epsilon": cfg.epsilon, "train_size": cfg.train_size,
                            "epochs": cfg.epochs, "l2_eps": L2_EPS, "l1_eps": L1_EPS}, args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
