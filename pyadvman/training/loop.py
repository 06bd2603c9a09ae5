"""The training loop shared by every objective: epochs of shuffled batches, per-epoch validation, checkpoints
(atomic, every epoch and every few minutes, resumable mid-epoch with identical results on CPU), the early-stopping
checkpoint, DDP and mixed precision, and the final evaluation of the selected checkpoint on test data."""

from __future__ import annotations

import importlib
import logging
import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from pyadvman._atomic import save_atomic, write_json_atomic
from pyadvman._compat import moved_names
from pyadvman._file_reading import load_checkpoint, load_weights, read_json, read_json_lines
from pyadvman.compilation import resolve_compile
from pyadvman.configs import config_record
from pyadvman.data import DatasetSplits, Split, load_dataset
from pyadvman.data.overlaps import describe as describe_copies
from pyadvman.distributed import Processes, agree, barrier, gather, init_processes, mean_across
from pyadvman.errors import ConfigError, TrainingDivergedError, UnreadableFileError
from pyadvman.folder_lock import folder_lock
from pyadvman.memory_format import to_memory_format
from pyadvman.models import build_model
from pyadvman.models.model_registry import with_normalization
from pyadvman.models.user_models import check_logits, rebuild_problem
from pyadvman.precision import PRECISIONS
from pyadvman.training.augmentation import augment
from pyadvman.training.config import TrainConfig
from pyadvman.training.evaluation import clean_accuracy, pgd_robustness
from pyadvman.training.objective_registry import build_objective
from pyadvman.training.objectives import Batch
from pyadvman.training.run_folder import RunFolder

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """model: the selected checkpoint's classifier (eval mode); final: its test metrics; history: per-epoch
    records (as in metrics.jsonl); out_dir: the run folder."""

    model: nn.Module
    final: dict
    history: list[dict]
    out_dir: Path


def _optimiser_steps(objective, model, net, batch):
    """The (loss, logs) of each optimiser step of one batch, computed when asked for (so that a loss after the
    first step sees the stepped weights): ``objective.steps`` where the objective takes several
    (``separate_steps``), else the one loss of calling it (which a wrapper that overrides ``__call__`` keeps)."""
    if getattr(objective, "separate_steps", False):
        yield from objective.steps(model, net, batch)
    else:
        yield objective(model, net, batch)


def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def epoch_order(cfg: TrainConfig, epoch: int, size: int) -> torch.Tensor:
    """The shuffled example order of an epoch, a function of (seed, epoch) only, so a resumed run repeats it."""
    return torch.randperm(size, generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch))


def augmentation_seed(seed: int, epoch: int, step: int) -> int:
    """The seed of global batch ``step`` of ``epoch``'s augmentation, an integer in [0, 2^63): a function of
    where the batch is in the run only, so that a resumed run draws the same crops and flips as an uninterrupted
    one."""
    return ((seed * 1_000_003 + epoch) * 1_000_003 + step) % 2 ** 63


class _EpochBatches(torch.utils.data.Dataset):
    """Item k: (images, labels, codes, theta) of this process's rows of global batch start + k of an epoch."""

    def __init__(self, split: Split, order: torch.Tensor, batch_size: int, processes: Processes, start: int,
                 batches: int) -> None:
        self.split, self.order, self.batch_size, self.processes = split, order, batch_size, processes
        self.start, self.batches = start, batches

    def __len__(self) -> int:
        return self.batches - self.start

    def __getitem__(self, k: int) -> tuple[Tensor | None, ...]:
        rows = batch_rows(self.order, self.start + k, self.batch_size, self.processes)
        split = self.split
        return (split.images[rows], split.labels[rows], None if split.codes is None else split.codes[rows],
                None if split.theta is None else split.theta[rows])


def epoch_batches(cfg: TrainConfig, split: Split, order: torch.Tensor, start: int, batches: int,
                  processes: Processes, device: torch.device):
    """The batches ``start`` … ``batches`` − 1 of an epoch in ``order`` (this process's rows of each), read by a
    DataLoader with ``cfg.data_workers`` worker processes (0: read here, as the loop always did), so that workers
    read a memory-mapped dataset ahead of the training step. The rows, and so the result, do not depend on the
    number of workers."""
    dataset = _EpochBatches(split, order, cfg.batch_size, processes, start, batches)
    if cfg.data_workers == 0:
        return (dataset[k] for k in range(len(dataset)))
    return torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=cfg.data_workers,
                                       pin_memory=device.type == "cuda")


def batch_rows(order: torch.Tensor, index: int, batch_size: int, processes: Processes) -> torch.Tensor:
    """Rows of global batch ``index``; batches wrap around the epoch so that all are full (as in the paper's
    code), and each process takes every world-th row."""
    rows = order[(index * batch_size + torch.arange(batch_size)) % order.shape[0]]
    return rows[processes.rank::processes.world]


class _Averages:
    def __init__(self, sums: dict | None = None, count: int = 0) -> None:
        self.sums, self.count = dict(sums or {}), count

    def add(self, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1

    def means(self) -> dict[str, float]:
        return {key: value / max(self.count, 1) for key, value in self.sums.items()}


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _check_finite(where: str, folder: RunFolder, processes: Processes, *, loss: Tensor | None = None,
                  model: nn.Module | None = None) -> None:
    """Stops the run when the loss (checked every step) or the weights (checked before every checkpoint) are
    no longer finite, so that nothing is saved from them. Under DDP every process stops together (one process's
    shard can diverge alone).

    Raises:
        TrainingDivergedError: naming ``where`` (epoch and step) and the checkpoint that is kept.
    """
    if loss is not None:
        finite = torch.isfinite(loss)
    else:
        finite = torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all()
    if mean_across({"finite": finite}, processes)["finite"] == 1.0:
        return
    if loss is not None:
        bad = f"the training loss is {loss.item() if not bool(finite) else 'not finite on another process'}"
    else:
        bad = "the weights hold NaN or inf"
    kept = folder.last if folder.last.is_file() else "none (it diverged before the first checkpoint)"
    raise TrainingDivergedError(f"{bad} at {where}; the run stopped and keeps its last good checkpoint, "
                                f"{kept}. Check the data for outliers or lower lr, in a new out_dir")


def _evaluation_execution(cfg: TrainConfig, check_model: bool):
    """The execution of the trainer's own attacks (validation, the final test attack): float32, after training."""
    return replace(cfg.execution.in_float32(), check_model=check_model and cfg.execution.check_model)


def _validate(cfg: TrainConfig, model: nn.Module, data: DatasetSplits) -> dict[str, float]:
    val = data.validation.first(min(cfg.validation_examples, len(data.validation)))
    record = {"validation_accuracy": clean_accuracy(model, val.images, val.labels)}
    if cfg.adversarial and cfg.validation_attack is not None and len(val):
        result = pgd_robustness(model, val.images, val.labels, eps=cfg.evaluation_epsilon, norm=cfg.norm,
                                protocol=cfg.validation_attack, execution=_evaluation_execution(cfg, False))
        record["validation_robust_accuracy"] = result.robust_accuracy()
    return record


def _final_evaluation(cfg: TrainConfig, model: nn.Module, data: DatasetSplits, selected: dict,
                      progress: bool) -> dict:
    test = data.test
    accuracy = clean_accuracy(model, test.images, test.labels)
    record = {"checkpoint": selected, "test_accuracy": accuracy, "test_error": 1 - accuracy,
              "test_examples": len(test), "robust_accuracy": None, "success_rate": None}
    attacked = test.first(min(cfg.eval_examples, len(test)))
    if len(attacked):
        eps, protocol = cfg.evaluation_epsilon, cfg.eval_attack
        result = pgd_robustness(model, attacked.images, attacked.labels, eps=eps, norm=cfg.norm, protocol=protocol,
                                execution=_evaluation_execution(cfg, True), progress=progress,
                                desc=f"test attack ({protocol.steps} iterations)")
        record.update(robust_accuracy=result.robust_accuracy(), success_rate=result.success_rate(),
                      attack={"description": protocol.describe("ε", eps), "norm": cfg.norm, "epsilon": eps,
                              **{k: v for k, v in asdict(protocol).items() if v is not None},  # null reads as NaN
                              "examples": len(attacked)})
    return record


def train(cfg: TrainConfig, out_dir: str | Path, *, data: DatasetSplits | None = None, resume: bool = False,
          progress: bool = True, model: nn.Module | None = None) -> TrainResult:
    """Trains a classifier as ``cfg`` says and evaluates the selected checkpoint (docs/papers.md §1 "Training").

    Each epoch: batches of cfg.batch_size in a seeded order, the learning rate set before every batch by
    ``cfg.lr_at`` (per batch as the released code of Stutz et al., or per epoch); after the epoch, clean
    (and, for adversarial objectives, PGD-``validation_attack_steps``) accuracy on the validation split, appended
    to ``metrics.jsonl``; ``checkpoints/best.pt`` keeps the epoch with the best ``cfg.selection_metric`` (never
    test data). ``checkpoints/last.pt`` is written atomically after every epoch and every
    ``checkpoint_minutes`` within one (the one it replaces is kept as previous.pt, the fallback when last.pt is
    damaged); ``resume=True`` continues from it, and on CPU with a fixed seed the result equals an uninterrupted
    run. A non-finite loss or weights stop the run with an error before anything is saved from them. The data's
    fingerprint is stored in data.json and a resumed run refuses other data. At the end the selected checkpoint
    is evaluated on the test split (clean accuracy, and the robust accuracy and success rate of the
    ``eval_attack`` protocol on the first ``eval_examples`` test images, None when that is 0) and written to
    final.json and model.pt. Under torchrun every process trains a shard of each batch (DDP); rank 0 writes the files.

    Args:
        cfg: the configuration. out_dir: the run folder. data: the dataset (default: load cfg.dataset).
        resume: continue the run in out_dir. progress: show progress bars.
        model: train this module (initialised as it is) instead of building cfg.model; the run records its class
            as cfg.model ("package.module:Class"), from which :func:`load_trained` rebuilds it (the class called
            with ``num_classes`` and ``image_shape`` where it takes them), or pass the module again there.

    Returns:
        TrainResult (on every process).

    Raises:
        FileExistsError: out_dir holds a run and resume is False. ValueError: resuming with another config.
        DataError: resuming on other data than the run started with (data.json). ConfigError: a train_size
            above the training split, a batch_size above the training examples, or a checkpoint selection that
            needs an empty validation split.
        TrainingDivergedError: the loss or the weights became NaN or inf (the last good checkpoint is kept).
        FolderInUseError: another live process writes out_dir (pyadvman.folder_lock).
    """
    if model is not None:
        cfg = replace(cfg, model=f"{type(model).__module__}:{type(model).__qualname__}", model_options={})
    with folder_lock(out_dir, "training run"):
        return _train(cfg, out_dir, data=data, resume=resume, progress=progress, given_model=model)


def _train(cfg: TrainConfig, out_dir: str | Path, *, data: DatasetSplits | None, resume: bool,
           progress: bool, given_model: nn.Module | None) -> TrainResult:
    device = cfg.execution.torch_device()
    if device.type != "cuda" and PRECISIONS[cfg.execution.precision] is not None:  # it would train in float32
        raise ConfigError("execution.precision", "float32 for training on the CPU (mixed-precision training runs "
                          "on CUDA only)", cfg.execution.precision)
    if data is None:
        data = load_dataset(cfg.dataset, **cfg.dataset_options)
    _check_data(cfg, data)
    processes = init_processes(device.type)
    device = cfg.execution.torch_device(processes)
    folder = RunFolder(out_dir)
    train_split = data.train.first(cfg.train_size) if cfg.train_size is not None else data.train

    torch.manual_seed(cfg.seed)
    if given_model is None:
        model = build_model(cfg.model, data.image_shape, len(data.classes), normalize=cfg.normalize,
                            **cfg.model_options).to(device)
    else:
        _check_given_model(cfg, given_model, data)
        model = with_normalization(given_model, cfg.normalize, data.image_shape[0]).to(device)
    to_memory_format(model, cfg.execution.memory_format, device)
    optimizer = make_optimizer(cfg, model)
    objective = build_objective(cfg, data)
    if processes.main:
        folder.prepare(cfg, data, resume)
    barrier(processes)
    torch.manual_seed(cfg.seed + processes.rank)

    state = {"epoch": 0, "step": 0, "history": [], "best": None, "averages": {}, "count": 0}
    if folder.final.is_file() and folder.model.is_file():
        return _load_finished(folder, model)
    saved = folder.load_resumable(set_aside=processes.main) if resume else None
    if saved is not None:
        load_weights(model, saved, "model", folder.last, "the checkpoint is not this run's: choose another out_dir")
        optimizer.load_state_dict(saved["optimizer"])
        objective.load_state_dict(saved["objective"])
        _set_rng_state(saved["rng"][processes.rank], device)
        state = {k: saved[k] for k in state}
    elif resume and processes.main and folder.metrics.is_file():
        logger.warning("%s: no checkpoint to resume from; training from the start", folder.root)
    if processes.main:
        folder.rewrite_metrics(state["history"])

    net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None) \
        if processes.world > 1 else model
    net = cfg.execution.forward(net, device)
    amp_dtype = PRECISIONS[cfg.execution.precision] if device.type == "cuda" else None
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    batches = math.ceil(len(train_split) / cfg.batch_size)
    metric = cfg.selection_metric

    def checkpoint() -> None:
        rng = gather(_rng_state(device), processes)
        if processes.main:
            folder.save_last({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                              "objective": objective.state_dict(), "rng": rng, **state})

    bar = tqdm(total=cfg.epochs * batches, initial=state["epoch"] * batches + state["step"], unit="batch",
               desc=f"train {cfg.objective}", disable=not (progress and processes.main))
    last_save = time.monotonic()
    while state["epoch"] < cfg.epochs:
        epoch, started = state["epoch"], time.monotonic()
        order = epoch_order(cfg, epoch, len(train_split))
        averages = _Averages(state["averages"], state["count"])
        objective.begin_epoch(epoch)
        for parts in epoch_batches(cfg, train_split, order, state["step"], batches, processes, device):
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr_at(epoch, state["step"], batches)
            images, labels, codes, theta = (None if part is None else part.to(device, non_blocking=True)
                                            for part in parts)
            images = augment(images.float(), cfg.augmentation, augmentation_seed(cfg.seed, epoch, state["step"]),
                             batch=cfg.batch_size, rank=processes.rank, world=processes.world)
            batch = Batch(images, labels, codes, theta)
            model.train()
            steps, logs = _optimiser_steps(objective, model, net, batch), {}
            while True:  # one optimiser step per loss the objective yields (one, but for SeparateSteps)
                with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else nullcontext():
                    step = next(steps, None)
                if step is None:
                    break
                loss, step_logs = step
                _check_finite(f"epoch {epoch + 1}, step {state['step'] + 1} of {batches}", folder, processes,
                              loss=loss.detach())
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                objective.before_step()
                scaler.step(optimizer)
                scaler.update()
                logs.update(step_logs)
            logs = mean_across(logs, processes)
            objective.after_step(logs)
            averages.add(logs)
            state["step"] += 1
            state["averages"], state["count"] = averages.sums, averages.count
            bar.set_postfix({k: f"{v:.3f}" for k, v in averages.means().items()
                             if k in ("loss", "clean_accuracy", "adversarial_accuracy")})
            bar.update()
            due = time.monotonic() - last_save >= cfg.checkpoint_minutes * 60
            if agree(due, processes) and state["step"] < batches:
                _check_finite(f"epoch {epoch + 1}, step {state['step']} of {batches}", folder, processes, model=model)
                checkpoint()
                last_save = time.monotonic()
        _check_finite(f"the end of epoch {epoch + 1}", folder, processes, model=model)
        record = {"epoch": epoch + 1, "lr": cfg.lr_at(epoch, batches - 1, batches),
                  "compile": resolve_compile(cfg.execution.compile, device),  # a resumed run may have changed it
                  **{f"train_{k}": v for k, v in averages.means().items()}}
        if processes.main:
            record.update(_validate(cfg, model, data))
            record["seconds"] = round(time.monotonic() - started, 2)
            value = record.get(metric, -math.inf) if metric != "last" else epoch
            if state["best"] is None or value >= state["best"]["value"]:  # ties: the later, longer-trained epoch
                state["best"] = {"epoch": epoch + 1, "metric": metric, "value": value}
                save_atomic({"model": model.state_dict(), "epoch": epoch + 1, metric: value}, folder.best)
            if cfg.epoch_checkpoints:
                save_atomic({"model": model.state_dict(), "epoch": epoch + 1}, folder.epoch_checkpoint(epoch + 1))
        state.update(epoch=epoch + 1, step=0, averages={}, count=0)
        state["history"] = [*state["history"], record]
        checkpoint()
        if processes.main:
            folder.append_metrics(record)
        last_save = time.monotonic()
    bar.close()
    barrier(processes)
    return _finish(cfg, folder, model, data, state, processes, progress)


def _check_given_model(cfg: TrainConfig, model: nn.Module, data: DatasetSplits) -> None:
    """A module given to ``train``: its logits fit the data (ConfigError otherwise), and a warning where the class
    the run records cannot rebuild it, so that loading the run will need the module again."""
    check_logits(model, data.image_shape, len(data.classes), cfg.model)
    problem = rebuild_problem(cfg.model, model, data.image_shape, len(data.classes))
    if problem:
        logger.warning("the run records the model as %s, which does not rebuild the module given (%s); load the "
                       "run with load_trained(out_dir, model=<a module like it>)", cfg.model, problem)


def _check_data(cfg: TrainConfig, data: DatasetSplits) -> None:
    """What training needs of the data, checked before the run folder is written; held-out copies of training
    images are reported (a warning), not refused."""
    if data.training_copies:
        logger.warning("%s: %s", data.name, describe_copies(data.training_copies))
    if cfg.train_size is not None and cfg.train_size > len(data.train):
        raise ConfigError("train_size", f"<= {len(data.train)} (the training split of {data.name!r})", cfg.train_size)
    examples = cfg.train_size if cfg.train_size is not None else len(data.train)
    if cfg.batch_size > examples:  # a batch would repeat examples (batches wrap around the epoch)
        raise ConfigError("batch_size", f"<= the {examples} training examples of {data.name!r}", cfg.batch_size)
    validated = min(cfg.validation_examples, len(data.validation))
    if validated == 0 and cfg.selection_metric != "last":
        raise ConfigError("selection", f"'last' when no validation examples are used (validation split of "
                          f"{data.name!r}: {len(data.validation)}, validation_examples: {cfg.validation_examples}); "
                          f"{cfg.selection_metric} would be NaN at every epoch", cfg.selection)


def _finish(cfg: TrainConfig, folder: RunFolder, model: nn.Module, data: DatasetSplits, state: dict,
            processes: Processes, progress: bool) -> TrainResult:
    best = load_checkpoint(folder.best, f"the selected checkpoint is damaged: delete {folder.root} and train "
                           "again, or choose another out_dir")
    load_weights(model, best, "model", folder.best, f"delete {folder.root} and train again, or choose another "
                 "out_dir")
    model.eval()
    final: dict = {}
    if processes.main:  # only rank 0 validates, so only it knows the selection
        selected = {"file": "checkpoints/best.pt", **state["best"]}
        final = _final_evaluation(cfg, model, data, selected, progress)
        save_atomic({"config": config_record(cfg), "image_shape": list(data.image_shape),
                     "num_classes": len(data.classes), "model": model.state_dict()}, folder.model)
        write_json_atomic(final, folder.final)
        folder.append_metrics({"final": final})
    barrier(processes)
    return TrainResult(model=model, final=final, history=state["history"], out_dir=folder.root)


def _reevaluate_advice(folder: RunFolder) -> str:
    return (f"delete {folder.model.name} and {folder.final.name} and run again with resume (--resume): the "
            f"selected checkpoint ({folder.best}) is evaluated again")


def _load_finished(folder: RunFolder, model: nn.Module) -> TrainResult:
    advice = _reevaluate_advice(folder)
    saved = load_checkpoint(folder.model, advice)
    load_weights(model, saved, "model", folder.model, advice)
    history = read_json_lines(folder.metrics, f"the run's metrics are damaged; {advice}")
    final = read_json(folder.final, advice, measurements=True)
    if not isinstance(final, dict) or not isinstance(final.get("test_accuracy", ""), (int, float)):
        raise UnreadableFileError(folder.final, "it lacks a numeric test_accuracy: not the final record of a run", advice)
    return TrainResult(model=model.eval(), final=final,
                       history=[r for r in history if "final" not in r], out_dir=folder.root)


def load_trained(out_dir: str | Path, map_location: str | torch.device = "cpu", *,
                 model: nn.Module | None = None) -> tuple[nn.Module, TrainConfig]:
    """The evaluated classifier of a finished run (model.pt, loaded with weights_only=True, eval mode) and its
    config. ``model``: the module to load the weights into (a run of ``train(..., model=...)`` whose class cannot
    be rebuilt from its name alone); by default it is built from the run's config.

    Raises:
        FileNotFoundError: no run folder at out_dir, or the run has not finished (no model.pt).
        NotADirectoryError: out_dir is a file. UnreadableFileError: a damaged model.pt, another kind of file, or
            weights that do not fit ``model``. ConfigError: a recorded "package.module:factory" that cannot be
            imported or called now (give ``model``).
    """
    folder = RunFolder(out_dir)
    saved = trained_model_file(folder)
    cfg = TrainConfig.from_record(saved["config"])
    if model is None:
        model = build_model(cfg.model, tuple(saved["image_shape"]), saved["num_classes"], normalize=cfg.normalize,
                            **cfg.model_options)
    else:
        model = with_normalization(model, cfg.normalize, saved["image_shape"][0])
    load_weights(model, saved, "model", folder.model, _reevaluate_advice(folder))
    return model.to(map_location).eval(), cfg


def trained_model_file(folder: RunFolder) -> dict:
    """The contents of a finished run's model.pt (config, image_shape, num_classes, model), on the CPU.

    Raises:
        as :func:`load_trained`.
    """
    if not folder.root.exists():
        raise FileNotFoundError(f"run folder {folder.root} does not exist")
    if not folder.root.is_dir():
        raise NotADirectoryError(f"{folder.root} is a file, not a run folder")
    if not folder.model.is_file() and not folder.config.is_file():
        raise FileNotFoundError(f"{folder.root} is not a run folder (no config.json, no model.pt): give the out_dir "
                                "of a pyadvman train run")
    if not folder.model.is_file():
        raise FileNotFoundError(f"{folder.model} not found: the run in {folder.root} has not finished")
    advice = _reevaluate_advice(folder)
    saved = load_checkpoint(folder.model, advice)
    if not isinstance(saved, dict) or not {"config", "image_shape", "num_classes", "model"} <= set(saved):
        raise UnreadableFileError(folder.model, "not the model.pt of a pyadvman run (it lacks config, image_shape, "
                                  "num_classes or model)", advice)
    return saved


__getattr__ = moved_names(__name__, {  # pyadvman 0.1
    "resolve_device": ("pyadvman.execution.resolve_device",
                       lambda: importlib.import_module("pyadvman.execution").resolve_device),
})
