"""On-manifold attacks on FONTS (issue 5's acceptance run): train a normal classifier and the class-specific
VAE-GANs with the quick presets, attack the first 1000 test images on the true and on the learned manifold,
and check that every adversarial example is a generator output.

    python docs/examples/fonts_on_manifold.py --out runs/fonts-on-manifold      (about 10 minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from pyadvman.attacks import LearnedManifoldAttack, TrueManifoldAttack, attack_in_batches
from pyadvman.data import load_dataset
from pyadvman.manifolds import FontsRenderer
from pyadvman.manifolds.learned_manifold import fit_learned_manifold
from pyadvman.manifolds.vae_gan import vae_gan_config
from pyadvman.training import train, train_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--examples", type=int, default=1000)
    args = parser.parse_args()
    data = load_dataset("fonts", preset="quick")
    cfg = train_config("quick", dataset="fonts", dataset_options={"preset": "quick"})
    model = train(cfg, args.out / "normal", data=data, resume=True).model
    manifold = fit_learned_manifold(data, vae_gan_config("quick", "fonts"), args.out / "manifold")
    test = data.test.first(args.examples)
    renderer = FontsRenderer(data.prototypes)
    low, high = data.train.theta_range()
    torch.manual_seed(0)
    true = attack_in_batches(TrueManifoldAttack(renderer=renderer, theta_low=low, theta_high=high),
                             model, test.images, test.labels, codes=test.codes, theta=test.theta, desc="true manifold")
    learned = attack_in_batches(LearnedManifoldAttack(manifold=manifold), model, test.images, test.labels,
                                desc="learned manifold")
    with torch.no_grad():
        true_gap = (renderer(test.codes[:, 0], test.codes[:, 1], true.params[0]) - true.x_adv_restarts[0]).abs().max()
        learned_gap = (manifold.decode(learned.params[0], test.labels) - learned.x_adv_restarts[0]).abs().max()
    report = {}
    for name, result, gap in (("on_true_manifold", true, true_gap), ("on_learned_manifold", learned, learned_gap)):
        fooled = result.success.any(dim=0) & result.clean_correct
        report[name] = {"examples": len(test), "clean_accuracy": result.clean_accuracy(),
                        "success_rate": result.success_rate(), "fooled_correct_examples": int(fooled.sum()),
                        "max_abs_difference_to_generator_output": float(gap)}
    report["normal_model_test_accuracy"] = train(cfg, args.out / "normal", data=data, resume=True).final["test_accuracy"]
    (args.out / "on_manifold.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
