"""AutoAttack standard (L∞) on an adversarially trained Fashion-MNIST classifier, ε = 0.1, the first 1,000 test
images: pyadvman's AutoAttack and each of its four attacks side by side with a reference implementation of the
same attacks, run in the same process on the same model and images, plus APGD-CE and PGD-40 alone; the time and
the robust accuracy of each, and the largest ‖x_adv − x‖∞ (computed in float64).

The reference is torchattacks 3.5.1 (a port of fra31/auto-attack's attacks). Its ``AutoAttack`` wrapper runs
only 10 iterations per attack by default, so the reference here is its APGD (CE), APGDT, FAB (multi-targeted)
and Square at AutoAttack's settings (100 iterations, 9 target classes, one restart; Square 5,000 queries,
p_init 0.8), chained on the points still robust as AutoAttack does.

    pip install --no-deps torchattacks==3.5.1
    pyadvman train --preset quick --out runs/at-fashion --dataset fashion-mnist --objective adversarial \\
        --epsilon 0.1 --train-size 20000 --train-attack.steps 7
    python bench/bench_autoattack.py --run runs/at-fashion [--examples 1000] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import _harness as h
import torch

from pyadvman.attacks import APGD, PGD, SIGNED_PGD, APGDTargeted, AutoAttack, FABTargeted, Square
from pyadvman.data import load_dataset
from pyadvman.execution import Execution
from pyadvman.training import load_trained

EPS = 0.1
REFERENCE = "torchattacks 3.5.1"


@dataclass(frozen=True)
class AttackRow:
    attack: str
    implementation: str
    seconds: float
    robust_accuracy: float
    max_linf: float  # largest ‖x_adv − x‖∞ over the images, float64
    outside_ball: int  # images with ‖x_adv − x‖∞ > ε in float64 (counted as the implementation counts them)
    robust_accuracy_after: dict[str, float] | None = None  # composite attacks: after each attack


def reference_attacks(model, classes: int) -> dict[str, object]:
    import torchattacks

    return {"APGD-CE": torchattacks.APGD(model, norm="Linf", eps=EPS, steps=100, n_restarts=1, loss="ce", seed=0),
            "APGD-T": torchattacks.APGDT(model, norm="Linf", eps=EPS, steps=100, n_restarts=1, n_classes=classes,
                                         seed=0),
            "FAB-T": torchattacks.FAB(model, norm="Linf", eps=EPS, steps=100, n_restarts=1, multi_targeted=True,
                                      n_classes=classes, seed=0),
            "Square": torchattacks.Square(model, norm="Linf", eps=EPS, n_queries=5000, n_restarts=1, p_init=0.8,
                                          resc_schedule=False, seed=0)}


def ours(classes: int) -> dict[str, object]:
    targets = min(9, classes - 1)
    unchecked = Execution(check_model=False)
    return {"APGD-CE": APGD(eps=EPS, execution=unchecked),
            "APGD-T": APGDTargeted(eps=EPS, targets=targets, stop_on_success=True, execution=unchecked),
            "FAB-T": FABTargeted(eps=EPS, targets=targets, execution=unchecked),
            "Square": Square(eps=EPS, execution=unchecked)}


def robust_of(model, x, y, adv) -> tuple[torch.Tensor, torch.Tensor]:
    """Per example: correct clean and at the image (as each implementation judges itself), and the distance
    ‖adv − x‖∞ in float64."""
    distance = (adv.detach().double() - x.double()).flatten(1).abs().amax(dim=1)
    with torch.no_grad():
        robust = (model(x).argmax(1) == y) & (model(adv).argmax(1) == y)
    return robust, distance


def chained(model, x, y, attacks: dict[str, object], call) -> tuple[torch.Tensor, dict[str, float]]:
    """AutoAttack's loop for the reference: each attack on the points still robust; the final images."""
    adv = x.clone()
    with torch.no_grad():
        robust = model(x).argmax(1) == y
    after = {}
    for name, attack in attacks.items():
        rows = robust.nonzero().flatten()
        if rows.numel():
            found = call(attack, x[rows], y[rows])
            still, _ = robust_of(model, x[rows], y[rows], found)  # torchattacks' MultiAttack judgement
            adv[rows[~still]] = found[~still]
            robust[rows[~still]] = False
        after[name] = float(robust.float().mean())
    return adv, after


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="an adversarially trained Fashion-MNIST run folder")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--results-dir", type=Path, default=h.RESULTS_DIR)
    parser.add_argument("--no-single", action="store_true", help="only the composite attacks, APGD-CE and PGD-40")
    args = parser.parse_args()
    try:
        import torchattacks  # noqa: F401
    except ImportError:
        raise SystemExit("the reference needs torchattacks: pip install --no-deps torchattacks==3.5.1") from None
    model, cfg = load_trained(args.run)
    model = model.to(args.device).eval()
    data = load_dataset(cfg.dataset, **cfg.dataset_options)
    test = data.test.first(args.examples)
    x, y = test.images.to(args.device, torch.float32), test.labels.to(args.device)
    classes = len(data.classes)
    rows = []

    def record(attack: str, implementation: str, adv, seconds: float, after=None) -> None:
        robust, distance = robust_of(model, x, y, adv)
        outside = int((distance > EPS).sum())
        rows.append(AttackRow(attack, implementation, seconds, float(robust.float().mean()), float(distance.max()),
                              outside, after))
        print(f"  {attack:<11} {implementation:<18} {seconds:8.1f} s  robust {rows[-1].robust_accuracy:.4f}  "
              f"max |δ| {float(distance.max()):.9f}  outside the ball: {outside}", flush=True)

    torch.manual_seed(0)
    result, seconds = timed(lambda: AutoAttack(eps=EPS).run(model, x, y))
    record("AutoAttack", "pyadvman", result.x_adv, seconds, result.robust_accuracy_after())
    torch.manual_seed(0)
    (adv, after), seconds = timed(lambda: chained(model, x, y, reference_attacks(model, classes),
                                                  lambda a, xs, ys: a(xs, ys)))
    record("AutoAttack", REFERENCE, adv, seconds, after)
    torch.manual_seed(0)
    pgd, seconds = timed(lambda: PGD(eps=EPS, protocol=replace(SIGNED_PGD, steps=40)).run(model, x, y))
    record("PGD-40", "pyadvman", pgd.x_adv, seconds)
    singles = {} if args.no_single else ours(classes)
    references = reference_attacks(model, classes)
    for name, attack in (singles.items() if singles else [("APGD-CE", ours(classes)["APGD-CE"])]):
        torch.manual_seed(0)
        found, seconds = timed(lambda a=attack: a.run(model, x, y).x_adv)
        record(name, "pyadvman", found, seconds)
        torch.manual_seed(0)
        found, seconds = timed(lambda a=references[name]: a(x, y))
        record(name, REFERENCE, found, seconds)

    print(f"\nAutoAttack standard, L∞ ε = {EPS}, {len(y)} Fashion-MNIST test images, {h.device_name(args.device)}")
    print(f"{'attack':<11} {'implementation':<18} {'seconds':>8} {'robust acc.':>11} {'max |δ|∞':>12} "
          f"{'outside':>8}")
    for row in rows:
        print(f"{row.attack:<11} {row.implementation:<18} {row.seconds:8.1f} {row.robust_accuracy:11.4f} "
              f"{row.max_linf:12.9f} {row.outside_ball:8d}")
    print(f"(outside: images with max |x_adv − x| > ε = {EPS} in float64, counted as their implementation counts "
          "them; float32 rounding of x ± ε puts torchattacks' a few ulps outside)")
    for row in rows:
        if row.robust_accuracy_after:
            print(f"{row.implementation}: after each attack " + ", ".join(
                f"{k} {v:.4f}" for k, v in row.robust_accuracy_after.items()))
    path = h.write_results("autoattack", args.device, "float32", rows,
                           {"eps": EPS, "examples": len(y), "run": str(args.run), "reference": REFERENCE,
                            "model": cfg.model, "objective": cfg.objective, "train_size": cfg.train_size,
                            "epochs": cfg.epochs}, args.results_dir)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
