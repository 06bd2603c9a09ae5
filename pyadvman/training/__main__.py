"""``python -m pyadvman.training``: train a classifier (also under ``torchrun --nproc_per_node N``).

Every TrainConfig field is an option (``--objective adversarial --epsilon 0.1``); dict fields take JSON
(``--dataset-options '{"path": "my.npz"}'``).
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from dataclasses import MISSING, fields

from pyadvman.training.config import TRAIN_PRESETS, TrainConfig, train_config
from pyadvman.training.loop import train


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pyadvman.training", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="paper", choices=sorted(TRAIN_PRESETS), help="starting configuration")
    parser.add_argument("--out", required=True, help="run folder (config.json, metrics.jsonl, checkpoints, ...)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        hint = str(hints[f.name])
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=None, metavar=f.type.upper()
                            if isinstance(f.type, str) else None,
                            help=f"{hint} (default {default!r}; the preset may change it)")
    return parser


def _parse_value(name: str, text: str) -> object:
    hint = str(typing.get_type_hints(TrainConfig)[name])
    if "dict" in hint or "tuple" in hint:
        value = json.loads(text)
        return tuple(value) if "tuple" in hint else value
    if text.lower() == "none" and "None" in hint:
        return None
    if "bool" in hint:
        return text.lower() in ("1", "true", "yes")
    if "int" in hint and "float" not in hint:
        return int(text)
    if "float" in hint:
        return float(text)
    return text


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {f.name: _parse_value(f.name, getattr(args, f.name)) for f in fields(TrainConfig)
                 if getattr(args, f.name) is not None}
    cfg = train_config(args.preset, **overrides)
    result = train(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    if result.final:
        print(json.dumps(result.final, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
