"""``pyadvman``: the command line of the package.

    pyadvman data fonts --preset quick --figure fonts.png     inspect (and generate, cached) a dataset
    pyadvman manifold --dataset fashion-mnist --out runs/vae  train the class-specific VAE-GANs
    pyadvman train --preset quick --out runs/at --objective adversarial --epsilon 0.1
    pyadvman train --config runs/at/config.json --out runs/at2 --epochs 20      a recorded run, varied
    pyadvman attack --run runs/at --attack pgd --eps 8/255 --protocol.restarts 5   attack a trained classifier
    pyadvman evaluate --run runs/at                           clean / robust accuracy and confidence
    pyadvman evaluate --run runs/at --attack autoattack       ... under AutoAttack (resumable; torchrun shards)
    pyadvman run claims                                       the four claims on FONTS (quick preset)
    pyadvman run claims --dataset fashion-mnist
    pyadvman run claims --executor ray --gpus-per-model 0.25  each model a Ray task, four sharing a GPU
    pyadvman COMMAND --help                                   every option of a command (run EXPERIMENT --help)

Every field of a config or an attack is an option, generated from its class (pyadvman.command_line). Every run
writes one folder (config.json, data.json, metrics, checkpoints, figures, report.md); ``--resume`` continues an
interrupted one from its last checkpoint. A mistake in an option, a file or the data ends with one line naming it
and exit code 2 (PYADVMAN_TRACEBACK=1 shows the traceback).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Literal

import tyro

from pyadvman import command_line
from pyadvman.command_line import (
    OptionError,
    build,
    command_options,
    option,
    parse,
    take_option,
    upgrade_args,
)
from pyadvman.errors import CellLostError, ConfigError, MissingDependencyError, WorkerLoadError

# The exceptions a user's mistake raises (pyadvman.errors derive from these), a missing optional dependency and a
# study cell lost with its workers: printed as one line that says what to do. Anything else is an internal error
# and keeps its traceback; PYADVMAN_TRACEBACK=1 shows it for these too.
USER_ERRORS = (ValueError, OSError, FloatingPointError, MissingDependencyError, CellLostError,
               WorkerLoadError)


def _check_out(out: Path | None) -> None:
    """Checks, before any work, that the JSON output ``out`` can be written (its folder made, not a folder)."""
    if out is None:
        return
    if out.is_dir():
        raise IsADirectoryError(f"--out {out} is a folder: give a file name, e.g. {out / 'result.json'}")
    out.parent.mkdir(parents=True, exist_ok=True)


def _write(result: dict, out: Path | None) -> None:
    """Prints ``result`` as strict JSON (a NaN, e.g. the accuracy on no examples, as null) and writes it to out,
    whose folder :func:`_check_out` made before the work."""
    from pyadvman._atomic import to_json, write_json_atomic

    print(to_json(result, indent=2))
    if out:
        write_json_atomic(result, out)


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise ConfigError(name, ">= 1", value)


# --- pyadvman data ----------------------------------------------------------------------------------------------

@dataclass
class DataCommand:
    """Load (generate, cache) a dataset and print its splits."""

    name: Annotated[str, tyro.conf.Positional]  # the dataset
    preset: str = "quick"  # the FONTS preset
    dataset_options: dict = field(default_factory=dict)  # loader options as JSON, e.g. '{"path": "my.npz"}'
    figure: Path | None = None  # also save a PNG of the first 64 training images


def _data(args: list[str]) -> int:
    from pyadvman.data import DATASETS, FONTS_PRESETS, load_dataset
    from pyadvman.data.image_tiles import displayable, show_images, tile
    from pyadvman.data.overlaps import describe as describe_copies

    options = command_options("DataOptions", DataCommand, choices={"name": DATASETS, "preset": FONTS_PRESETS})
    renamed = {"--options": lambda value: ["--dataset-options", value]}  # the name train and the studies use
    command = parse("pyadvman data", options, upgrade_args(args, [DataCommand], renamed), DataCommand.__doc__)
    if command.name not in DATASETS:  # a positional argument: no --dataset option to name
        raise ValueError(f"NAME (the dataset, first argument) must be one of {sorted(DATASETS)}, got "
                         f"{command.name!r}")
    options = dict(command.dataset_options)
    if command.name == "fonts":
        options.setdefault("preset", command.preset)
    data = load_dataset(command.name, **options)
    summary = {"dataset": data.name, "classes": list(data.classes), "image_shape": list(data.image_shape),
               **{split: len(getattr(data, split)) for split in ("train", "validation", "test")},
               "true_manifold": data.prototypes is not None, "provenance": data.provenance,
               "findings": {"training_copies": data.training_copies}}
    print(json.dumps(summary, indent=2))
    if data.training_copies:
        logging.getLogger("pyadvman").warning("%s: %s", data.name, describe_copies(data.training_copies))
    if command.figure:
        from matplotlib.figure import Figure

        images = data.train.images[:64].float()
        mosaic = tile(displayable(images.numpy()), columns=16)
        fig = Figure(figsize=(8, 8 * mosaic.shape[0] / mosaic.shape[1] + 0.4))
        ax = fig.add_subplot(1, 1, 1)
        show_images(ax, mosaic)
        ax.set_axis_off()
        ax.set_title(f"{data.name}: first 64 training images", fontsize=9)
        command.figure.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(command.figure, dpi=100)
        print(f"figure: {command.figure}")
    return 0


# --- pyadvman manifold ------------------------------------------------------------------------------------------

@dataclass
class ManifoldCommand:
    """Train the class-specific VAE-GANs of a dataset (the learned manifold)."""

    out: Path  # run folder (checkpoints, figure, JSON)
    dataset: str = "fashion-mnist"  # the dataset
    preset: Literal["quick", "paper"] = "quick"  # quick: minutes on a CPU; paper: the paper's settings (GPU)
    path: str | None = None  # the .npz file (dataset npz) or IDX folder (dataset idx)
    device: str = "auto"  # auto | cpu | cuda | cuda:N


def _manifold(args: list[str]) -> int:
    from pyadvman.data import DATASETS, load_dataset
    from pyadvman.execution import resolve_device
    from pyadvman.manifolds.learned_manifold import fit_learned_manifold
    from pyadvman.manifolds.vae_gan import vae_gan_config

    options = command_options("ManifoldOptions", ManifoldCommand, choices={"dataset": DATASETS})
    command = parse("pyadvman manifold", options, upgrade_args(args, [ManifoldCommand]), ManifoldCommand.__doc__)
    if command.dataset in ("npz", "idx") and not command.path:
        raise ConfigError("path", f"the .npz file (npz) or IDX folder (idx) for --dataset {command.dataset}", None)
    options = {"npz": {"path": command.path}, "idx": {"root": command.path}}.get(command.dataset, {})
    data = load_dataset(command.dataset, **options)
    fit_learned_manifold(data, vae_gan_config(command.preset, command.dataset), command.out,
                         device=resolve_device(command.device))
    report = json.loads((command.out / "reconstruction.json").read_text())
    print(f"test reconstruction error ({report['metric']}):")
    for name, error in report["per_class"].items():
        print(f"  {name:>12}: {error:.4f}")
    print(f"  class-specific mean {report['class_specific_mean']:.4f}, "
          f"class-agnostic {report['class_agnostic_mean']:.4f}; figure: {command.out / 'reconstruction.png'}")
    return 0


# --- pyadvman train / run: a config from a preset or a recorded run, varied by options ---------------------------

# pyadvman 0.1's options of the execution settings and of the flat attack fields, as today's
def _execution(name: str):
    return lambda value: [f"--execution.{name}", {"none": "float32"}.get(value, value) if name == "precision"
                          else value]


def _protocol_steps(field_name: str):
    return lambda value: [f"--{field_name}", "none"] if value == "0" else [f"--{field_name}.steps", value]


OLD_CONFIG_OPTIONS = {"--compile": _execution("compile"), "--device": _execution("device"),
                      "--amp": _execution("precision"),
                      "--validation-attack-steps": _protocol_steps("validation-attack"),
                      "--apgd-steps": _protocol_steps("apgd-attack"),
                      "--robust-steps": lambda value: ["--robust-attack.steps", value],
                      "--robust-restarts": lambda value: ["--robust-attack.restarts", value]}


def config_from_args(args: list[str], config_class: type, preset_config, default_preset: str,
                     context: tuple[str, ...] = ()):
    """(args, the config to start from): ``--config FILE`` (a recorded config.json) or ``--preset NAME``, given
    the ``context`` fields found in args (a study's dataset and manifold choose a preset's learned-manifold form)."""
    from pyadvman._file_reading import read_json

    args = upgrade_args(args, [config_class], OLD_CONFIG_OPTIONS)
    recorded = take_option(args, "--config")
    if recorded is not None:
        if take_option(args, "--preset") is not None:
            raise ConfigError("preset", "left out with --config (the recorded config is the starting point)",
                              take_option(args, "--preset"))
        stored = read_json(Path(recorded), "give the config.json of a run")
        if not isinstance(stored, dict):
            raise ConfigError("config", "the config.json of a run (a JSON object)",
                              f"{recorded} holding a JSON {type(stored).__name__}")
        reader = getattr(config_class, "from_record", None)
        cfg = reader(stored) if reader else config_class(**stored)
    else:
        known = {f.name for f in fields(config_class)}  # an unknown option is the parser's to name
        given = {name: value for name in context
                 if name in known and (value := take_option(args, option(name))) is not None}
        cfg = preset_config(take_option(args, "--preset", default_preset), **given)
    return command_line.switch_nested(args, cfg)


@dataclass
class TrainCommand:
    """Train a classifier (normal, adversarial, on-manifold, TRADES, ...); also under torchrun (DDP)."""

    out: Path  # run folder (config.json, metrics.jsonl, checkpoints, ...)
    preset: str = "paper"  # starting configuration
    config: Path | None = None  # a recorded config.json to start from instead of a preset (e.g. RUN/config.json)
    resume: bool = False  # continue the run in --out from its last checkpoint
    progress: bool = True  # progress bars


def _train(args: list[str]) -> int:
    from pyadvman.training import TRAIN_PRESETS, TrainConfig, train, train_config

    args, cfg = config_from_args(args, TrainConfig, train_config, "paper", context=("dataset",))
    options = command_options("TrainOptions", TrainCommand, {"settings": (TrainConfig, cfg)},
                              choices={"preset": TRAIN_PRESETS})
    command = parse("pyadvman train", options, args, TrainCommand.__doc__)
    result = train(build(TrainConfig, command.settings), command.out, resume=command.resume,
                   progress=command.progress)
    if result.final:
        from pyadvman._atomic import to_json

        print(to_json(result.final, indent=2))
    return 0


@dataclass
class RunCommand:
    """Run an experiment; its config from a preset or a recorded run, every field an option."""

    out: Path | None = None  # run folder (default runs/<experiment>-<dataset>)
    preset: str = "quick"  # quick: a 2-core CPU in minutes | paper: the papers' scale (GPU) | claims: standard
    config: Path | None = None  # a recorded config.json to start from instead of a preset (e.g. RUN/config.json)
    resume: bool = False  # continue the run in the folder
    progress: bool = True  # progress bars
    # where the models (cells) run, not part of the config: ray: each a Ray task
    executor: Literal["local", "ray"] = "local"
    workers: int | Literal["auto"] = 1  # local: models trained at once, each in a process (auto: one per core)
    address: str | None = None  # ray: none joins RAY_ADDRESS or starts a local Ray; auto; HOST:6379; ray://HOST:10001
    gpus_per_model: float = 0.0  # ray: GPUs each model reserves, fractional to share one (e.g. 0.25)
    cpus_per_model: float | None = None  # CPUs each model reserves (ray; default 1) and its torch threads


def run_command(name: str, args: list[str]) -> tuple[RunCommand, object]:
    """The parsed options and the config of ``pyadvman run NAME ARGS``: the preset (its learned-manifold form where
    ``--dataset`` or ``--manifold`` asks for one) or ``--config``, then every option given."""
    from pyadvman.experiments import EXPERIMENTS

    experiment = EXPERIMENTS[name]
    args, cfg = config_from_args(list(args), experiment.config_class, experiment.config, "quick",
                                 context=("dataset", "manifold"))
    options = command_options("RunOptions", RunCommand, {"settings": (experiment.config_class, cfg)})
    command = parse(f"pyadvman run {name}", options, args, experiment.description)
    return command, build(experiment.config_class, command.settings)


def _run(args: list[str]) -> int:
    from pyadvman.experiments import EXPERIMENTS
    from pyadvman.experiments.executors import Executor
    from pyadvman.experiments.folder import default_out_dir

    if not args or args[0].startswith("-"):
        listing = "\n".join(f"  {name:<18} {EXPERIMENTS.entry(name).description}" for name in EXPERIMENTS)
        print(f"usage: pyadvman run EXPERIMENT [--preset quick|paper|...] [options]\n\nexperiments:\n{listing}")
        return 0 if args and args[0] in ("-h", "--help") else 2
    name, args = args[0], args[1:]
    if name not in EXPERIMENTS:  # a positional argument: no --experiment option to name
        raise ValueError(f"EXPERIMENT (the first argument) must be one of {sorted(EXPERIMENTS)}, got {name!r}")
    experiment = EXPERIMENTS[name]
    command, cfg = run_command(name, args)
    executor = Executor(command.executor, workers=command.workers, address=command.address,
                        gpus_per_model=command.gpus_per_model, cpus_per_model=command.cpus_per_model)
    metrics = experiment.run(cfg, command.out, resume=command.resume, progress=command.progress,
                             executor=executor)
    out = command.out or default_out_dir(name, cfg.dataset)
    verdicts = ", ".join(f"claim {k}: {v['verdict']}" for k, v in metrics.get("claims", {}).items())
    print(f"{name} finished in {metrics['seconds']} s: report {out / 'report.md'}, metrics "
          f"{out / 'metrics.json'}, figures in {out / 'figures'}" + (f"; {verdicts}" if verdicts else ""))
    return 0


# --- pyadvman attack / evaluate: an attack from its registered class, every field an option -----------------------

@dataclass
class AttackCommand:
    """Attack a trained classifier on the first test images of its run's dataset."""

    run: Path  # a finished training run folder (with model.pt)
    attack: str = "pgd"  # the attack; its options follow
    examples: int = 1000  # first test images attacked
    seed: int = 0  # seed of the random starts
    device: str = "cpu"  # cpu | cuda | cuda:N | auto
    manifold: str | None = None  # manifold.pt for --attack on-learned-manifold
    data_changed_ok: bool = False  # attack on data that differ from the run's data.json (the output says so)
    out: Path | None = None  # also write the result to this JSON file


@dataclass
class EvaluateCommand:
    """Clean accuracy, robust accuracy under an attack, and confidence of a classifier: a training run, a
    checkpoint, or your own model (package.module:factory); a RobustBench-style table on stderr, JSON on stdout."""

    run: Path | None = None  # a finished training run folder (with model.pt); or give --model
    # a run folder, a checkpoint (a run's model.pt or checkpoints/*.pt), or package.module:factory
    model: str | None = None
    weights: Path | None = None  # --model package.module:factory: a state dict to load into its model
    model_options: dict = field(default_factory=dict)  # --model package.module:factory: its keyword arguments
    # the factory's model takes normalised inputs: cifar10 | cifar100 | imagenet | MEAN,STD
    normalize: str | None = None
    dataset: str | None = None  # the test data (needed for a factory; default: the run's)
    dataset_options: dict = field(default_factory=dict)  # loader options as JSON, e.g. '{"root": "data"}'
    attack: str = "pgd"  # the attack; pgd at --protocol.*, the others at AutoAttack's settings
    examples: int = 1000  # first test images attacked
    seed: int = 0  # seed of the random starts
    device: str = "cpu"  # cpu | cuda | cuda:N | auto (under torchrun: the local GPU)
    batch_size: int = 500  # examples per batch
    state_dir: Path | None = None  # AutoAttack's resumable state (default RUN/evaluation/autoattack-…)
    data_changed_ok: bool = False  # evaluate on data that differ from the run's data.json (the output says so)
    out: Path | None = None  # also write the result to this JSON file


# pyadvman 0.1 spelled every attack's iterations --steps and its restarts --restarts, and η of the code attacks --eps
def _old_attack_options(cls) -> dict:
    from pyadvman.command_line import members

    own = members(cls)
    old = {"--compile": _execution("compile"), "--precision": _execution("precision")}
    if "protocol" in own:
        old |= {"--steps": lambda v: ["--protocol.steps", v], "--restarts": lambda v: ["--protocol.restarts", v]}
    if "queries" in own:
        old["--steps"] = lambda v: ["--queries", v]
    if "eta" in own and "eps" not in own:  # the code attacks' radius (FAB's eta is its overshoot)
        old["--eps"] = lambda v: ["--eta", v]
    return old


def _attack_settings(name: str, args: list[str], command_class: type, names: tuple[str, ...], defaults: dict):
    """The command's options and the attack's, parsed: (command, the attack's registry entry). ``names``: the
    attacks the command runs."""
    from pyadvman.attacks.attack_registry import ATTACKS

    if name not in names:
        raise ConfigError("attack", f"one of {sorted(names)}", name)
    entry = ATTACKS.entry(name)
    if take_option(args, "--execution.device") is not None:
        raise ConfigError("execution.device", "left out (an attack runs where the model and images are: give "
                          "--device)", take_option(args, "--execution.device"))
    settings = command_line.defaults_of(entry.builder, **{**entry.extras.get("defaults", {}), **defaults})
    args = upgrade_args(args, [command_class, entry.builder], _old_attack_options(entry.builder))
    options = command_options(f"{command_class.__name__}Options", command_class,
                              {"settings": (entry.builder, settings)}, choices={"attack": names})
    return parse(f"pyadvman {command_class.__name__[:-7].lower()}", options, args, command_class.__doc__), entry


def _attack(args: list[str]) -> int:
    import torch

    from pyadvman.attacks import attack_in_batches
    from pyadvman.attacks.attack_registry import ATTACKS
    from pyadvman.command_line import built_fields
    from pyadvman.experiments.evaluation_target import evaluation_target
    from pyadvman.manifolds.learned_manifold import LearnedManifold

    name = take_option(args, "--attack", "pgd")
    command, entry = _attack_settings(name, args, AttackCommand, tuple(ATTACKS), {})
    _positive("examples", command.examples)
    _check_out(command.out)
    if command.manifold and not entry.extras.get("needs_manifold"):
        raise ConfigError("manifold", f"given only with --attack on-learned-manifold (--attack {name} does not "
                          "use it)", str(command.manifold))
    target = evaluation_target(str(command.run), device=command.device, data_changed_ok=command.data_changed_ok,
                               run_only=True)
    model, data, changed = target.model, target.data, target.data_changed
    settings = built_fields(entry.builder, command.settings)
    if entry.extras.get("targets"):
        settings["targets"] = _targets(settings, len(data.classes), "--targets" in args)
    extras = {}
    if entry.extras.get("needs_manifold"):
        if not command.manifold:
            raise ConfigError("manifold", f"a manifold.pt of `pyadvman manifold` for --attack {name}", None)
        settings["manifold"] = LearnedManifold.load(command.manifold, data=data)
    if "on_data" in entry.extras:
        attack, extras = entry.extras["on_data"](settings, data)
    else:
        attack = entry.builder(**settings)
    test = data.test.first(min(command.examples, len(data.test)))
    extras = {k: v[:len(test)] for k, v in extras.items()}
    torch.manual_seed(command.seed)
    result = attack_in_batches(attack, model, test.images, test.labels, keep_images=False, desc=name, **extras)
    _write({"run": str(command.run), "attack": name, "settings": _record(command.settings, settings),
            "examples": len(test), "clean_accuracy": result.clean_accuracy(), "success_rate": result.success_rate(),
            "robust_accuracy": result.robust_accuracy(), **_data_changed(changed)}, command.out)
    return 0


def _evaluate(args: list[str]) -> int:
    import torch

    from pyadvman.analysis import confidence
    from pyadvman.attacks.attack_registry import ATTACKS
    from pyadvman.experiments.evaluation_table import evaluation_table
    from pyadvman.experiments.evaluation_target import evaluation_target
    from pyadvman.training import clean_accuracy

    name = take_option(args, "--attack", "pgd")
    names = ATTACKS.with_extra("evaluate")
    spec = _evaluated_model(take_option(args, "--run"), take_option(args, "--model"))
    # --eps defaults to the run's evaluation radius, else the dataset's (colour images: 8/255), else 0.3; --norm to
    # the run's threat model
    eps, norm = _default_threat_model(spec, take_option(args, "--dataset"))
    defaults = {}
    if name in names:
        takes_norm = "norm" in inspect.signature(ATTACKS.entry(name).builder).parameters
        defaults = {"eps": eps, **({"norm": norm} if takes_norm else {}),
                    **ATTACKS.entry(name).extras.get("evaluate_defaults", {})}
    command, entry = _attack_settings(name, args, EvaluateCommand, names, defaults)
    _positive("examples", command.examples)
    _positive("batch_size", command.batch_size)
    _check_out(command.out)
    target = evaluation_target(spec, weights=command.weights, model_options=command.model_options,
                               normalize=command.normalize, dataset=command.dataset,
                               dataset_options=command.dataset_options, device=command.device,
                               data_changed_ok=command.data_changed_ok, run_only=command.run is not None)
    model, data = target.model, target.data
    test = data.test
    attacked = test.first(min(command.examples, len(test)))
    torch.manual_seed(command.seed)
    robust, description = _evaluation(command, entry, model, attacked, len(data.classes), "--targets" in args,
                                      target.state_root)
    if robust is None:  # not the main process of a torchrun evaluation
        return 0
    stats = confidence(model, test.images, test.labels)
    result = {("run" if target.kind == "run" else "model"): target.source, "dataset": data.name,
              "test_accuracy": clean_accuracy(model, test.images, test.labels),
              "robust_accuracy": robust.robust_accuracy(),
              # APGD-T and FAB-T skip the targets of examples already fooled: their pairs have no success rate
              "success_rate": None if entry.extras.get("skips_fooled") else robust.success_rate(),
              "attack": {**description, "examples": len(attacked)},
              "mean_max_probability": float(stats["max_probability"].mean()),
              "mean_logit_margin": float(stats["logit_margin"].mean()), **_data_changed(target.data_changed)}
    print(evaluation_table(result, len(test)), file=sys.stderr)
    _write(result, command.out)
    return 0


def _evaluated_model(run: str | None, model: str | None) -> str:
    """The --model of ``pyadvman evaluate`` (--run RUN is --model RUN).

    Raises:
        ConfigError: both or neither given.
    """
    if (run is None) == (model is None):
        raise ConfigError("model", "given (a run folder, a checkpoint or package.module:factory), or --run RUN, "
                          "but not both", model if run is None else f"{model} and --run {run}")
    return run if model is None else model


def _default_threat_model(model: str, dataset: str | None) -> tuple[float, str]:
    """The radius and norm ``pyadvman evaluate`` attacks with without --eps / --norm: the evaluation ε and the norm
    of the run that ``model`` is or holds (its config.json, or a model.pt's own record), else the dataset's
    default radius (8/255 for colour images), else 0.3, under L∞."""
    from pyadvman._file_reading import load_checkpoint, read_json
    from pyadvman.data.dataset_registry import dataset_defaults
    from pyadvman.training import TrainConfig

    path = Path(model)
    if path.exists():
        records = [lambda config=config: read_json(config, "") for config in
                   (path / "config.json", path.parent / "config.json", path.parent.parent / "config.json")
                   if config.is_file()]
        if path.is_file():
            records.insert(0, lambda: load_checkpoint(path, "")["config"])
        for record in records:
            try:
                config = TrainConfig.from_record(record())
                return config.evaluation_epsilon, config.norm
            except (OSError, ValueError, KeyError, TypeError):  # not a run's: loading the model says what it is
                continue
    return (dataset_defaults(dataset).get("epsilon", 0.3) if dataset else 0.3), "linf"


def _data_changed(differences: list[str]) -> dict:
    """The output's record of data that differ from the run's (--data-changed-ok), nothing when they do not."""
    return {"data_changed": differences} if differences else {}


def _targets(settings: dict, classes: int, given: bool) -> int:
    """The target classes of APGD-T / FAB-T: the setting, lowered to classes − 1 where the default exceeds it.

    Raises:
        ConfigError: ``--targets`` given above classes − 1.
    """
    from pyadvman.attacks.autoattack import autoattack_targets

    limit = autoattack_targets(classes)
    wanted = settings.get("targets", limit)
    if given and wanted > limit:
        raise ConfigError("targets", f"at most classes - 1 = {limit} (the model has {classes} classes)", wanted)
    return min(wanted, limit)


def _record(parsed: object, settings: dict) -> dict:
    """The attack's settings as the output records them: the parsed options with the values that ran."""
    record = command_line.build_record(parsed)
    return {**record, **{k: v for k, v in settings.items() if k in record and isinstance(v, (int, float, str))}}


def _evaluation(command: EvaluateCommand, entry, model, attacked, classes: int, targets_given: bool,
                state_root: Path):
    """The robustness result of ``pyadvman evaluate``'s attack and its description for the JSON."""
    from pyadvman.attacks import attack_in_batches
    from pyadvman.attacks.robust_evaluation import evaluate_robustness
    from pyadvman.command_line import built_fields

    settings = built_fields(entry.builder, command.settings)
    if entry.extras.get("targets"):
        settings["targets"] = _targets(settings, classes, targets_given)
    attack = entry.builder(**settings)
    eps, label = attack.eps, entry.label
    if command.attack == "autoattack":
        norm = "" if attack.norm == "linf" else f"-{attack.norm}"  # L∞ folders keep the names of earlier releases
        state = command.state_dir or (state_root / (
            f"autoattack-{attack.version}{norm}-eps{eps:g}-n{len(attacked)}-seed{command.seed}-"
            f"{attack.execution.precision}-batch{command.batch_size}"))
        robust = evaluate_robustness(attack, model, attacked.images, attacked.labels, batch_size=command.batch_size,
                                     seed=command.seed, state_dir=state)
        import torch.distributed as dist

        if dist.is_initialized():  # torchrun: the result is on every process; leave the group before exit
            dist.barrier()
            dist.destroy_process_group()
        if int(os.environ.get("RANK", "0")) != 0:
            return None, {}
        disagreements = None if robust.disagreements is None else int(robust.disagreements.sum())
        return robust, {"name": f"AutoAttack ({attack.version})", "norm": attack.norm, "epsilon": eps,
                        "robust_accuracy_after": robust.robust_accuracy_after(), "findings": robust.findings,
                        "precision": attack.execution.precision, "disagreements": disagreements,
                        "state_dir": str(state)}
    robust = attack_in_batches(attack, model, attacked.images, attacked.labels, batch_size=command.batch_size,
                               keep_images=False, desc=label)
    return robust, {"name": label, "norm": getattr(attack, "norm", "linf"), "epsilon": eps,
                    "settings": _record(command.settings, settings)}


# --- dispatch ------------------------------------------------------------------------------------------------------

COMMANDS = {"data": (_data, "load (generate, cache) a dataset and print its splits"),
            "manifold": (_manifold, "train the class-specific VAE-GANs (learned manifold)"),
            "train": (_train, "train a classifier (normal, adversarial, on-manifold, ...)"),
            "attack": (_attack, "attack a trained classifier on its test split"),
            "evaluate": (_evaluate, "clean and robust accuracy, confidence of a run"),
            "run": (_run, "run an experiment (claims, sample-complexity, flatness, spectra)")}


def _usage() -> str:
    commands = "\n".join(f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items())
    return f"usage: pyadvman COMMAND [options]\n\ncommands:\n{commands}\n\n{__doc__}"


# what an interrupted command keeps (each writes atomically: no file is left half-written)
_RESUMING = {"train": "the run folder keeps its last checkpoint: the same command with --resume continues it",
             "run": "finished cells and checkpoints are kept: the same command with --resume continues",
             "manifold": "finished VAE-GANs and epoch checkpoints are kept: the same command continues",
             "evaluate": "an AutoAttack evaluation keeps its state folder (the same command continues it); "
                         "other attacks start again"}


def error_line(error: BaseException) -> str:
    """A user error in one line; a config field is named by its option (``--validation-examples``)."""
    text = error.as_option() if isinstance(error, ConfigError) else str(error)
    return " ".join(text.split())


def _traceback_wanted() -> bool:
    """PYADVMAN_TRACEBACK set to anything but empty, 0, false, no or off."""
    return os.environ.get("PYADVMAN_TRACEBACK", "").strip().lower() not in ("", "0", "false", "no", "off")


def main(argv: list[str] | None = None) -> int:
    """Runs the command; a user's mistake ends with one line on stderr and exit code 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(format="pyadvman: %(message)s")
    logging.getLogger("pyadvman").setLevel(logging.INFO)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--":  # torchrun -m pyadvman.cli -- evaluate ...
        argv = argv[1:]
    command, args = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"pyadvman: error: command must be one of {list(COMMANDS)}, got {command!r}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[command][0](args)
    except KeyboardInterrupt:
        if _traceback_wanted():
            raise
        print(f"pyadvman {command}: interrupted; {_RESUMING.get(command, 'nothing was written')}", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        if _traceback_wanted() and not isinstance(error, OptionError):
            raise
        print(f"pyadvman {command}: error: {error_line(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
