"""``python -m pyadvman.manifolds.train --dataset fashion-mnist --preset quick --out runs/vae-gan``: trains the
class-specific and class-agnostic VAE-GANs of a dataset (``fit_learned_manifold``) and prints the test
reconstruction error per class. Rerunning the command resumes an interrupted run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from pyadvman.data.registry import DATASETS, load_dataset
from pyadvman.manifolds.learned_manifold import fit_learned_manifold
from pyadvman.manifolds.vae_gan import vae_gan_config


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The VAE-GAN training options (also the ``pyadvman manifold`` subcommand)."""
    parser = parser or argparse.ArgumentParser(prog="python -m pyadvman.manifolds.train", description=__doc__)
    parser.add_argument("--dataset", default="fashion-mnist", choices=sorted(DATASETS))
    parser.add_argument("--preset", default="quick", choices=["quick", "paper"],
                        help="quick: minutes on a CPU; paper: the paper's hyperparameters (for a GPU)")
    parser.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, figure, JSON)")
    parser.add_argument("--path", help="the .npz file (dataset npz) or IDX folder (dataset idx)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    options = {"path": args.path} if args.dataset == "npz" else {"root": args.path} if args.dataset == "idx" else {}
    data = load_dataset(args.dataset, **options)
    fit_learned_manifold(data, vae_gan_config(args.preset, args.dataset), args.out, device=args.device)
    report = json.loads((args.out / "reconstruction.json").read_text())
    print(f"test reconstruction error ({report['metric']}):")
    for name, error in report["per_class"].items():
        print(f"  {name:>12}: {error:.4f}")
    print(f"  class-specific mean {report['class_specific_mean']:.4f}, "
          f"class-agnostic {report['class_agnostic_mean']:.4f}; figure: {args.out / 'reconstruction.png'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_from_args(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
