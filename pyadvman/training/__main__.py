"""``python -m pyadvman.training``: train a classifier (also under ``torchrun --nproc_per_node N``).

Every TrainConfig field is an option (``--objective adversarial --epsilon 0.1``); dict fields take JSON
(``--dataset-options '{"path": "my.npz"}'``).
"""

from __future__ import annotations

import argparse
import json
import sys

from pyadvman._config_options import add_config_options, config_overrides
from pyadvman.training.config import TRAIN_PRESETS, TrainConfig, train_config
from pyadvman.training.loop import train


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The training options (also the ``pyadvman train`` subcommand)."""
    parser = parser or argparse.ArgumentParser(prog="python -m pyadvman.training", description=__doc__,
                                               formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper", choices=sorted(TRAIN_PRESETS), help="starting configuration")
    parser.add_argument("--out", required=True, help="run folder (config.json, metrics.jsonl, checkpoints, ...)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_config_options(parser.add_argument_group("TrainConfig fields"), TrainConfig)
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    cfg = train_config(args.preset, **config_overrides(args, TrainConfig))
    result = train(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    if result.final:
        print(json.dumps(result.final, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_from_args(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
