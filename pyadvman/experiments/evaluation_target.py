"""What ``pyadvman evaluate --model`` evaluates: a training run folder, a checkpoint file, or a user's model
factory (``package.module:factory``, with ``--weights``), each with the test data it is evaluated on."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from pyadvman._file_reading import load_checkpoint, load_weights, read_json
from pyadvman.data import DatasetSplits, load_dataset
from pyadvman.errors import ConfigError, DataError, UnreadableFileError
from pyadvman.models import build_model
from pyadvman.models.model_registry import with_normalization
from pyadvman.models.user_models import is_factory_path

logger = logging.getLogger(__name__)
_RUN_FILE_KEYS = {"config", "image_shape", "num_classes", "model"}
_STATE_DICT_KEYS = ("model", "state_dict", "model_state_dict", "net")  # where checkpoints usually keep the weights


@dataclass
class EvaluationTarget:
    """A model ready to evaluate (eval mode, on its device), its test data and where its results go.

    source: what was given (a run folder, a checkpoint, a factory). kind: "run", "checkpoint" or "factory".
    data_changed: how the data differ from the run's (empty when they do not, or unchecked).
    state_root: the folder under which resumable evaluation state goes.
    """

    model: nn.Module
    data: DatasetSplits
    source: str
    kind: str
    state_root: Path
    data_changed: list[str] = field(default_factory=list)


def _data(name: str | None, options: dict, recorded: tuple[str, dict] | None) -> DatasetSplits:
    if name is None and recorded is None:
        raise ConfigError("dataset", "given for a model without a run (e.g. --dataset cifar10 --dataset-options "
                          "'{\"root\": \"data\"}')", None)
    if name is None:
        name, options = recorded[0], {**recorded[1], **options}
    return load_dataset(name, **options)


def _state_dict(saved: object, path: Path) -> dict:
    """The weights in a checkpoint: the dict itself, or its model / state_dict / ... entry, without the "module."
    prefix that DataParallel and DistributedDataParallel put on every key."""
    weights = None
    if isinstance(saved, dict):
        weights = next((saved[key] for key in _STATE_DICT_KEYS if isinstance(saved.get(key), dict)), None)
        if weights is None and saved and all(hasattr(value, "shape") for value in saved.values()):
            weights = saved
    if weights is None:
        raise UnreadableFileError(path, f"no weights found (keys {sorted(saved) if isinstance(saved, dict) else '—'})",
                                  "give a state dict, or a checkpoint that keeps one under 'model' or 'state_dict'")
    if weights and all(key.startswith("module.") for key in weights):
        weights = {key[len("module."):]: value for key, value in weights.items()}
    return weights


def _factory_state_root(model: str, weights: Path | None) -> Path:
    """evaluations/<factory>[-<weights file>-<its SHA-256, 8 digits>]: one folder per model and weights."""
    import hashlib

    name = model.replace(":", "-").replace("/", "-")
    if weights is not None:
        digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()[:8]
        name += f"-{Path(weights).stem}-{digest}"
    return Path("evaluations") / name


def evaluation_target(model: str, *, weights: Path | None = None, model_options: dict | None = None,
                      normalize: str | None = None, dataset: str | None = None, dataset_options: dict | None = None,
                      device: str = "cpu", data_changed_ok: bool = False, run_only: bool = False
                      ) -> EvaluationTarget:
    """Loads what ``pyadvman evaluate --model MODEL`` names.

    Args:
        model: a finished run folder (its model.pt, config and data check), a checkpoint file (a run's model.pt,
            or one of its checkpoints/*.pt, read with the run's config.json), or "package.module:factory".
        weights: a state dict loaded into the factory's model (factory only).
        model_options: the factory's keyword arguments. normalize: the factory's model takes normalised inputs
            (see ``build_model``; runs and checkpoints record theirs).
        dataset, dataset_options: the test data (needed for a factory; for a run or checkpoint, default the run's).
        device: where the model goes (under torchrun "cuda" is the local GPU).
        data_changed_ok: evaluate a run (or a checkpoint on its run's data) on data that differ from the run's
            data.json.
        run_only: ``model`` must be a run folder (``--run``): anything else is refused as not one.

    Raises:
        FileNotFoundError: nothing at ``model``. ConfigError: an option that does not apply to the kind of model,
            a factory without --dataset, a factory that fails. UnreadableFileError: a damaged checkpoint, or
            weights of another architecture (the first mismatch is named). DataError: data that differ from the
            run's, without data_changed_ok; a checkpoint for another image size or number of classes than the data.
    """
    from pyadvman.distributed import Processes
    from pyadvman.execution import resolve_device
    from pyadvman.training import TrainConfig

    model_options, dataset_options = dict(model_options or {}), dict(dataset_options or {})
    where = resolve_device(device, Processes(local_rank=int(os.environ.get("LOCAL_RANK", "0"))))
    factory = is_factory_path(model) and not Path(model).exists() and not run_only
    if not factory:
        for name, value in (("weights", weights), ("model_options", model_options or None),
                            ("normalize", normalize)):
            if value is not None:
                raise ConfigError(name, "left out for a run or checkpoint (it records its model)", value)
    if run_only:
        return _run_target(Path(model), dataset, dataset_options, where, data_changed_ok)
    if factory:
        data = _data(dataset, dataset_options, None)
        built = build_model(model, data.image_shape, len(data.classes), **model_options)
        if weights is not None:
            advice = f"give weights saved from the model {model} builds (with these --model-options)"
            load_weights(built, {"model": _state_dict(load_checkpoint(weights, advice), weights)}, "model", weights,
                         advice)
        built = with_normalization(built, normalize, data.image_shape[0])
        return EvaluationTarget(built.to(where).eval(), data, model, "factory", _factory_state_root(model, weights))
    path = Path(model)
    if not path.exists():
        raise FileNotFoundError(f"run folder {path} does not exist, nor a checkpoint file there (--model also takes "
                                "package.module:factory)")
    if path.is_dir():
        return _run_target(path, dataset, dataset_options, where, data_changed_ok)
    advice = "give a pyadvman run's model.pt or checkpoints/*.pt, or a state dict with --model package.module:factory"
    saved = load_checkpoint(path, advice)
    run = path.parent if (path.parent / "config.json").is_file() else path.parent.parent
    if isinstance(saved, dict) and _RUN_FILE_KEYS <= set(saved):
        record, image_shape, num_classes = saved["config"], tuple(saved["image_shape"]), saved["num_classes"]
    elif (run / "config.json").is_file():
        record = read_json(run / "config.json", "the run's config.json is damaged")
        image_shape = num_classes = None
    else:
        raise ConfigError("model", "a pyadvman run's model.pt, a checkpoint inside a run folder, or "
                          "package.module:factory with --weights FILE (this file records no architecture)", model)
    cfg = TrainConfig.from_record(record)
    data = _data(dataset, dataset_options, (cfg.dataset, cfg.dataset_options))
    shape, classes = image_shape or data.image_shape, num_classes or len(data.classes)
    if tuple(shape) != data.image_shape or classes != len(data.classes):
        raise DataError(f"--model {model} takes images {list(shape)} of {classes} classes, the data {dataset or ''} "
                        f"give {list(data.image_shape)} of {len(data.classes)}")
    built = build_model(cfg.model, shape, classes, normalize=cfg.normalize, **cfg.model_options)
    load_weights(built, {"model": _state_dict(saved, path)}, "model", path, advice)
    # on the run's own data, checked as a run is; on data named with --dataset, the user's choice
    changed = _data_check(run, cfg, data, data_changed_ok) if dataset is None else []
    root = run / "evaluation" if path == run / "model.pt" else path.parent / f"evaluation-{path.stem}"
    return EvaluationTarget(built.to(where).eval(), data, model, "checkpoint", root, changed)


def _run_target(run: Path, dataset: str | None, dataset_options: dict, where, data_changed_ok: bool
                ) -> EvaluationTarget:
    """A finished run's model on its own data, checked against its data.json."""
    from pyadvman.training import load_trained

    if dataset is not None or dataset_options:
        raise ConfigError("dataset", "left out for a run folder (it is evaluated on its own data; give its model.pt "
                          "as --model to evaluate it on other data)", dataset)
    model, cfg = load_trained(run, map_location=where)
    data = load_dataset(cfg.dataset, **cfg.dataset_options)
    differences = _data_check(run, cfg, data, data_changed_ok)
    return EvaluationTarget(model.eval(), data, str(run), "run", run / "evaluation", differences)


def _data_check(run: Path, cfg, data: DatasetSplits, data_changed_ok: bool) -> list[str]:
    """How ``data`` differ from the run's data.json (empty when they do not).

    Raises:
        DataError: they differ, or the run has no data.json, and not ``data_changed_ok``.
    """
    from pyadvman.training.run_folder import data_differences

    differences = data_differences(run, data, "restore it, or pass --data-changed-ok")
    if not (run / "data.json").is_file():
        differences = ["unchecked: the run records no data.json"]
        if not data_changed_ok:
            raise DataError(f"{run} records no data.json (a run of pyadvman 0.1, or the file was deleted), so that "
                            f"{cfg.dataset} {cfg.dataset_options or ''} gives the data it was trained on cannot be "
                            "checked; pass --data-changed-ok to evaluate on these data anyway (the output says so)")
    if differences and not data_changed_ok:
        raise DataError(f"{run} was trained on other data than {cfg.dataset} {cfg.dataset_options or ''} gives "
                        f"now ({'; '.join(differences)}); a relative path resolves against the current "
                        "directory. Run from where it was trained, restore the data, or pass --data-changed-ok "
                        "to evaluate on these data anyway")
    if differences:
        logger.warning("%s: evaluating on data that differ from the run's (%s)", run, "; ".join(differences))
    return differences
