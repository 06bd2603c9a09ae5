"""``pyadvman``: the command line of the package.

    pyadvman data fonts --preset quick --figure fonts.png     inspect (and generate, cached) a dataset
    pyadvman manifold --dataset fashion-mnist --out runs/vae  train the class-specific VAE-GANs
    pyadvman train --preset quick --out runs/at --objective adversarial --epsilon 0.1
    pyadvman attack --run runs/at --attack pgd --eps 0.1      attack a trained classifier on test data
    pyadvman evaluate --run runs/at                           clean / robust accuracy and confidence
    pyadvman evaluate --run runs/at --attack autoattack       ... under AutoAttack (resumable; torchrun shards)
    pyadvman run claims                                       the four claims on FONTS (quick preset)
    pyadvman run claims --dataset fashion-mnist
    pyadvman run claims --executor ray --gpus-per-model 0.25  each model a Ray task, four sharing a GPU
    pyadvman run EXPERIMENT --help                            every option of an experiment's config

Every run writes one folder (config.json, data.json, metrics, checkpoints, figures, report.md); ``--resume``
continues an interrupted one from its last checkpoint. A mistake in an option, a file or the data ends with one
line naming it and exit code 2 (PYADVMAN_TRACEBACK=1 shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

import torch

from pyadvman._config_options import add_config_options, config_overrides, parse_json_object
from pyadvman.compilation import COMPILE_MODES
from pyadvman.errors import CellLostError, ConfigError, MissingDependencyError

# The exceptions a user's mistake raises (pyadvman.errors derive from these), a missing optional dependency and a
# study cell lost with its workers: printed as one line that says what to do. Anything else is an internal error
# and keeps its traceback; PYADVMAN_TRACEBACK=1 shows it for these too.
USER_ERRORS = (ValueError, OSError, FloatingPointError, MissingDependencyError, CellLostError)


def _data(args: argparse.Namespace) -> int:
    from pyadvman.data import load_dataset
    from pyadvman.data.figures import tile

    options = parse_json_object("--options", args.options) if args.options else {}
    if args.name == "fonts":
        options.setdefault("preset", args.preset)
    data = load_dataset(args.name, **options)
    summary = {"dataset": data.name, "classes": list(data.classes), "image_shape": list(data.image_shape),
               **{split: len(getattr(data, split)) for split in ("train", "validation", "test")},
               "true_manifold": data.prototypes is not None, "provenance": data.provenance}
    print(json.dumps(summary, indent=2))
    if args.figure:
        from matplotlib.figure import Figure

        images = data.train.images[:64].float()
        mosaic = tile(images.mean(dim=1).numpy(), columns=16)
        fig = Figure(figsize=(8, 8 * mosaic.shape[0] / mosaic.shape[1] + 0.4))
        ax = fig.add_subplot(1, 1, 1)
        ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(f"{data.name}: first 64 training images", fontsize=9)
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.figure, dpi=100)
        print(f"figure: {args.figure}")
    return 0


ATTACKS = ("pgd", "fgsm", "apgd", "apgd-dlr", "apgd-t", "fab-t", "square", "on-true-manifold",
           "on-learned-manifold", "transformation")
EVALUATION_ATTACKS = ("pgd", "autoattack", "apgd-t", "fab-t", "square")


def _build_attack(args: argparse.Namespace, data):
    from pyadvman.attacks import (
        APGD,
        PGD,
        APGDTargeted,
        FABTargeted,
        LearnedManifoldAttack,
        Square,
        TransformationAttack,
        TrueManifoldAttack,
        fgsm,
    )
    from pyadvman.attacks.autoattack import autoattack_targets
    from pyadvman.manifolds.learned_manifold import LearnedManifold

    if args.attack == "pgd":
        return PGD(eps=args.eps, steps=args.steps, restarts=args.restarts), {}
    if args.attack == "fgsm":
        return fgsm(eps=args.eps), {}
    if args.attack in ("apgd", "apgd-dlr"):
        objective = "dlr" if args.attack == "apgd-dlr" else "ce"
        return APGD(eps=args.eps, steps=args.steps, restarts=args.restarts, objective=objective), {}
    targets = autoattack_targets(len(data.classes))
    if args.attack == "apgd-t":  # --restarts starts per target
        return APGDTargeted(eps=args.eps, steps=args.steps, restarts=args.restarts, targets=targets), {}
    if args.attack == "fab-t":
        return FABTargeted(eps=args.eps, steps=args.steps, restarts=args.restarts, targets=targets), {}
    if args.attack == "square":  # --steps: queries
        return Square(eps=args.eps, queries=args.steps, restarts=args.restarts), {}
    if args.attack == "transformation":
        return TransformationAttack(eta=args.eps, steps=args.steps, restarts=args.restarts), {}
    if args.attack == "on-true-manifold":
        if data.prototypes is None:
            raise SystemExit(f"--attack on-true-manifold needs FONTS; the run's dataset is {data.name!r}")
        attack = TrueManifoldAttack.on_split(data, "test", eta=args.eps, steps=args.steps, restarts=args.restarts)
        return attack, {"codes": data.test.codes, "theta": data.test.theta}
    if not args.manifold:
        raise SystemExit("--attack on-learned-manifold needs --manifold PATH (a manifold.pt of `pyadvman manifold`)")
    return LearnedManifoldAttack(manifold=LearnedManifold.load(args.manifold), eta=args.eps, steps=args.steps,
                                 restarts=args.restarts), {}


def _load_run(run: str, device: str = "cpu"):
    """The run's model on ``device`` ("auto", "cpu", "cuda", "cuda:N"; under torchrun "cuda" is the local GPU),
    its config and its dataset."""
    from pyadvman.data import load_dataset
    from pyadvman.training import load_trained
    from pyadvman.training.distributed import Processes
    from pyadvman.training.loop import resolve_device

    processes = Processes(local_rank=int(os.environ.get("LOCAL_RANK", "0")))
    model, cfg = load_trained(run, map_location=resolve_device(device, processes))
    return model, cfg, load_dataset(cfg.dataset, **cfg.dataset_options)


def _write(result: dict, out: str | None) -> None:
    print(json.dumps(result, indent=2))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")


def _attack(args: argparse.Namespace) -> int:
    from pyadvman.attacks import attack_in_batches

    model, _, data = _load_run(args.run, args.device)
    attack, extras = _build_attack(args, data)
    attack = replace(attack, compile=args.compile)
    test = data.test.first(min(args.examples, len(data.test)))
    extras = {k: v[:len(test)] for k, v in extras.items()}
    torch.manual_seed(args.seed)
    result = attack_in_batches(attack, model, test.images, test.labels, keep_images=False,
                               desc=args.attack, **extras)
    _write({"run": args.run, "attack": args.attack, "eps": args.eps, "steps": args.steps,
            "restarts": args.restarts, "examples": len(test), "clean_accuracy": result.clean_accuracy(),
            "success_rate": result.success_rate(), "robust_accuracy": result.robust_accuracy()}, args.out)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from pyadvman.analysis import confidence
    from pyadvman.training import clean_accuracy

    model, cfg, data = _load_run(args.run, args.device)
    test = data.test
    attacked = test.first(min(args.examples, len(test)))
    eps = args.eps if args.eps is not None else cfg.evaluation_epsilon
    torch.manual_seed(args.seed)
    robust, attack = _evaluation_attack(args, model, attacked, eps, len(data.classes))
    if robust is None:  # not the main process of a torchrun evaluation
        return 0
    stats = confidence(model, test.images, test.labels)
    _write({"run": args.run, "test_accuracy": clean_accuracy(model, test.images, test.labels),
            "robust_accuracy": robust.robust_accuracy(),
            # APGD-T and FAB-T skip the targets of examples already fooled: their pairs have no success rate
            "success_rate": robust.success_rate() if args.attack in ("pgd", "autoattack", "square") else None,
            "attack": {**attack, "epsilon": eps, "examples": len(attacked)},
            "mean_max_probability": float(stats["max_probability"].mean()),
            "mean_logit_margin": float(stats["logit_margin"].mean())}, args.out)
    return 0


def _evaluation_attack(args: argparse.Namespace, model, attacked, eps: float, classes: int):
    """The robustness result of ``pyadvman evaluate``'s attack and its description for the JSON."""
    from pyadvman.attacks import SIGNED_PGD, APGDTargeted, AutoAttack, FABTargeted, Square, attack_in_batches
    from pyadvman.attacks.autoattack import autoattack_targets
    from pyadvman.attacks.robust_evaluation import evaluate_robustness
    from pyadvman.training import pgd_robustness

    targets = autoattack_targets(classes)
    if args.attack == "pgd":
        protocol = replace(SIGNED_PGD, steps=args.steps, restarts=args.restarts)
        robust = pgd_robustness(model, attacked.images, attacked.labels, eps=eps, protocol=protocol, progress=True,
                                desc=f"PGD-{args.steps}", compile=args.compile)
        return robust, {"name": f"PGD-{args.steps}", "restarts": args.restarts}
    if args.attack == "autoattack":
        state = Path(args.state_dir) if args.state_dir else \
            Path(args.run) / "evaluation" / (f"autoattack-{args.version}-eps{eps:g}-n{len(attacked)}-seed{args.seed}"
                                             f"-{args.precision}-batch{args.batch_size}")
        attack = AutoAttack(eps=eps, version=args.version, compile=args.compile)
        robust = evaluate_robustness(attack, model, attacked.images, attacked.labels, batch_size=args.batch_size,
                                     seed=args.seed, state_dir=state, precision=args.precision)
        import torch.distributed as dist

        if dist.is_initialized():  # torchrun: the result is on every process; leave the group before exit
            dist.barrier()
            dist.destroy_process_group()
        if int(os.environ.get("RANK", "0")) != 0:
            return None, {}
        disagreements = None if robust.disagreements is None else int(robust.disagreements.sum())
        return robust, {"name": f"AutoAttack ({args.version})", "robust_accuracy_after": robust.robust_accuracy_after(),
                        "findings": robust.findings, "precision": args.precision, "disagreements": disagreements,
                        "state_dir": str(state)}
    attack, name = {"apgd-t": (APGDTargeted(eps=eps, targets=targets, stop_on_success=True), "APGD-T"),
                    "fab-t": (FABTargeted(eps=eps, targets=targets), "FAB-T"),
                    "square": (Square(eps=eps), "Square")}[args.attack]
    robust = attack_in_batches(replace(attack, compile=args.compile), model, attacked.images, attacked.labels,
                               batch_size=args.batch_size, keep_images=False, desc=name)
    settings = "Square: 5,000 queries" if name == "Square" else f"100 iterations, {targets} targets"
    return robust, {"name": name, "settings": f"AutoAttack's ({settings})"}


def _run(args: argparse.Namespace) -> int:
    from pyadvman.experiments import EXPERIMENTS
    from pyadvman.experiments.executors import Executor
    from pyadvman.experiments.folder import default_out_dir

    experiment = EXPERIMENTS[args.experiment]
    cfg = experiment.config(args.preset, **config_overrides(args, experiment.config_class))
    executor = Executor(args.executor, address=args.address, gpus_per_model=args.gpus_per_model,
                        cpus_per_model=args.cpus_per_model)
    metrics = experiment.run(cfg, args.out, resume=args.resume, progress=not args.no_progress, executor=executor)
    out = Path(args.out) if args.out else default_out_dir(args.experiment, cfg.dataset)
    verdicts = ", ".join(f"claim {k}: {v['verdict']}" for k, v in metrics.get("claims", {}).items())
    print(f"{args.experiment} finished in {metrics['seconds']} s: report {out / 'report.md'}, metrics "
          f"{out / 'metrics.json'}, figures in {out / 'figures'}" + (f"; {verdicts}" if verdicts else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from pyadvman.experiments import EXPERIMENTS
    from pyadvman.manifolds import train as manifold_train
    from pyadvman.training import __main__ as training_main

    parser = argparse.ArgumentParser(prog="pyadvman", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="load (generate, cache) a dataset and print its splits")
    data.add_argument("name", help="fonts | fashion-mnist | idx | npz")
    data.add_argument("--preset", default="quick", help="FONTS preset: quick | default | paper")
    data.add_argument("--options", help='loader options as JSON, e.g. \'{"path": "my.npz"}\'')
    data.add_argument("--figure", help="also save a PNG of the first 64 training images")
    data.set_defaults(handler=_data)

    manifold = commands.add_parser("manifold", help="train the class-specific VAE-GANs (learned manifold)")
    manifold_train.build_parser(manifold).set_defaults(handler=manifold_train.run_from_args)

    train = commands.add_parser("train", help="train a classifier (normal, adversarial, on-manifold, ...)")
    training_main.build_parser(train).set_defaults(handler=training_main.run_from_args)

    for name, handler, text in (("attack", _attack, "attack a trained classifier on its test split"),
                                ("evaluate", _evaluate, "clean and PGD robust accuracy, confidence of a run")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--run", required=True, help="a finished training run folder (with model.pt)")
        if name == "attack":
            sub.add_argument("--attack", default="pgd", choices=ATTACKS)
            sub.add_argument("--manifold", help="manifold.pt for --attack on-learned-manifold")
        sub.add_argument("--eps", type=float, default=0.3 if name == "attack" else None,
                         help="L∞ radius (η in code space for on-manifold attacks); evaluate: the run's")
        sub.add_argument("--steps", type=_count(0), default=40, help="iterations (default 40)")
        sub.add_argument("--restarts", type=_count(1), default=1, help="random restarts (default 1)")
        sub.add_argument("--examples", type=_count(1), default=1000, help="first test images attacked (default 1000)")
        sub.add_argument("--seed", type=int, default=0, help="seed of the random starts")
        sub.add_argument("--out", help="also write the result to this JSON file")
        sub.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
        sub.add_argument("--compile", default="auto", choices=COMPILE_MODES,
                         help="the model's passes under torch.compile (auto: CUDA graphs on CUDA, eager on CPU)")
        if name == "evaluate":
            sub.add_argument("--attack", default="pgd", choices=EVALUATION_ATTACKS,
                             help="pgd: signed PGD (--steps, --restarts); the others at AutoAttack's settings")
            sub.add_argument("--version", default="standard", choices=("standard", "rand"),
                             help="AutoAttack's version (rand: for randomised models)")
            sub.add_argument("--precision", default="float32", choices=("float32", "bf16", "fp16"),
                             help="AutoAttack under autocast; where it disagrees with float32 is reported")
            sub.add_argument("--batch-size", type=_count(1), default=500, help="examples per batch (default 500)")
            sub.add_argument("--state-dir", help="AutoAttack's resumable state (default RUN/evaluation/autoattack-…)")
        sub.set_defaults(handler=handler)

    run = commands.add_parser("run", help="run an experiment: " + ", ".join(EXPERIMENTS))
    experiments = run.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    for name, experiment in EXPERIMENTS.items():
        sub = experiments.add_parser(name, help=experiment.description, description=experiment.description)
        sub.add_argument("--preset", default="quick", choices=sorted(experiment.presets),
                         help="quick: a 2-core CPU in minutes; paper: the papers' scale (GPU)")
        sub.add_argument("--out", help=f"run folder (default runs/{name}-<dataset>)")
        sub.add_argument("--resume", action="store_true", help="continue the run in the folder")
        sub.add_argument("--no-progress", action="store_true", help="no progress bars")
        _add_executor_options(sub.add_argument_group("where the models (cells) run; not part of the config"))
        add_config_options(sub.add_argument_group(f"{experiment.config_class.__name__} fields"),
                           experiment.config_class)
        sub.set_defaults(handler=_run)
    return parser


def _add_executor_options(group) -> None:
    from pyadvman.experiments.executors import EXECUTORS

    group.add_argument("--executor", default="local", choices=EXECUTORS,
                       help="local: one model after another in this process (default); ray: each model a Ray "
                       "task (needs Ray: pip install \".[ray]\")")
    group.add_argument("--address", help="ray: none joins RAY_ADDRESS if set, else starts a local Ray; 'auto' the "
                       "cluster of `ray start` on this machine; HOST:6379 its head; ray://HOST:10001 via Ray Client")
    group.add_argument("--gpus-per-model", type=float, default=0.0,
                       help="ray: GPUs each model reserves, fractional to share one (e.g. 0.25; default 0: CPU only)")
    group.add_argument("--cpus-per-model", type=float,
                       help="CPUs each model reserves (ray; default 1) and its torch threads (both executors; "
                       "local default: torch's). Same threads, same numbers: CPU results depend on the count")


def _count(minimum: int):
    """An argparse type: an integer >= minimum."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value
    return parse


def error_line(error: BaseException) -> str:
    """A user error in one line; a config field is named by its option (``--validation-examples``)."""
    text = error.as_option() if isinstance(error, ConfigError) else str(error)
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Runs the command; a user's mistake ends with one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="pyadvman: %(message)s")
    logging.getLogger("pyadvman").setLevel(logging.INFO)
    try:
        return args.handler(args)
    except USER_ERRORS as error:
        if os.environ.get("PYADVMAN_TRACEBACK"):
            raise
        print(f"pyadvman {args.command}: error: {error_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
