"""AutoAttack over a whole split at scale: batches on the device, a state file per batch so that an interrupted
evaluation resumes where it stopped, the batches sharded over torchrun processes, and half precision as an
option with the points where it disagrees with float32.

>>> from pyadvman.attacks import AutoAttack
>>> from pyadvman.attacks.robust_evaluation import evaluate_robustness
>>> result = evaluate_robustness(AutoAttack(eps=0.1), model, x[:1000], y[:1000],
...                              state_dir="runs/at/autoattack")  # doctest: +SKIP

Every (batch, attack) unit is seeded from (seed, batch index, attack index), so on the CPU the result does not
depend on how the batches are spread over processes or whether the run was interrupted (on a GPU,
nondeterministic kernels can still change the last bits).
"""

from __future__ import annotations

import hashlib
import importlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from pyadvman._atomic import save_atomic
from pyadvman._compat import moved_names
from pyadvman._file_reading import load_checkpoint
from pyadvman.attacks.autoattack import AutoAttack, AutoAttackResult, classes_of
from pyadvman.attacks.model_checks import ModelCheckWarning, predicted_classes, warn_findings
from pyadvman.attacks.model_mode import eval_mode
from pyadvman.distributed import gather, init_processes
from pyadvman.errors import UnreadableFileError
from pyadvman.folder_lock import folder_lock
from pyadvman.precision import PRECISIONS


def fingerprint(*tensors: Tensor) -> str:
    """SHA-256 of the tensors' values (the first 16 hex digits): what a state file was computed from."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes() if tensor.dtype != torch.bfloat16
                      else tensor.detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()[:16]


def unit_seed(seed: int, batch: int, attack: int) -> int:
    """The seed of one (batch, attack) unit of an evaluation (attack −1: the batch's clean pass and checks,
    the number of attacks: its final pass)."""
    return (seed * 1_000_003 + batch * 1009 + attack + 1) % (2 ** 63)


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """The block runs with torch's generators (CPU, and ``device``'s if CUDA) seeded, restored after."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield


def evaluate_robustness(attack: AutoAttack, model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 500,
                        seed: int = 0, state_dir: str | Path | None = None, device: str | torch.device | None = None,
                        progress: bool = True, precision: str | None = None) -> AutoAttackResult:
    """AutoAttack on (x, y) batch by batch; resumable, sharded under torchrun, optionally in half precision.

    Args:
        attack: the AutoAttack to run (its ``execution.check_model`` runs the checks on the first batch; its
            ``execution.precision``, "float32", "bf16" or "fp16", the attacks' forward and backward passes under
            torch.autocast: in half precision every clean input and final image is also classified in float32,
            and the examples whose classification of the same images differs are kept in ``disagreements`` and
            reported as a finding (a point the half-precision attack missed but a float32 attack would find is
            not among them: compare with a float32 evaluation for that)).
        model: the classifier (on ``device``). x: Tensor[N, C, H, W] in [0, 1] (any device; moved per batch).
        y: Tensor[N] int64. batch_size: examples per batch (>= 1). seed: seeds every (batch, attack) unit.
        state_dir: where each batch's state is saved after each attack (``batch_00000.pt`` …); an evaluation
            started again with the same folder, attack, model weights, data and seed continues from there.
        device: where to attack (default: the model's). progress: a progress bar over (batch, attack) units.
        precision: deprecated, the attack's ``execution.precision`` (it replaces it, with a DeprecationWarning).

    Under torchrun (WORLD_SIZE > 1) the batches are dealt round-robin to the processes (gloo on CPU, nccl on
    CUDA) and every process returns the whole result; only rank 0 warns and shows progress.

    Returns:
        An :class:`AutoAttackResult` on the CPU, examples in the order of x.

    Raises:
        ValueError: batch_size < 1, an unknown precision, y not of length N, or a state file from another
            evaluation (named, with what differs). FolderInUseError: another live process evaluates into
            ``state_dir`` (pyadvman.folder_lock).
    """
    if state_dir is None:
        return _evaluate(attack, model, x, y, batch_size, seed, None, device, progress, precision)
    with folder_lock(state_dir, "AutoAttack evaluation"):
        return _evaluate(attack, model, x, y, batch_size, seed, Path(state_dir), device, progress, precision)


def _evaluate(attack: AutoAttack, model: nn.Module, x: Tensor, y: Tensor, batch_size: int, seed: int,
              state_dir: Path | None, device: str | torch.device | None, progress: bool,
              precision: str | None) -> AutoAttackResult:
    if precision is not None:
        warnings.warn("evaluate_robustness(precision=...) is deprecated and will be removed in pyadvman 0.3: give "
                      "the attack execution=Execution(precision=...) (CHANGELOG.md)", DeprecationWarning, stacklevel=3)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        attack = attack.with_execution(precision=precision)
    precision = attack.execution.precision
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if y.shape != x.shape[:1]:
        raise ValueError(f"y must have {x.shape[0]} labels like x, got {list(y.shape)}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.set_device(device)  # nccl's collectives use the current device
    processes = init_processes(device.type)
    attacked = attack.execution.model(model)
    starts = list(range(0, x.shape[0], batch_size))
    mine = list(range(processes.rank, len(starts), processes.world))
    folder = Path(state_dir) if state_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    identity = {"eps": attack.eps, "norm": attack.norm, "version": attack.version, "seed": seed,
                "batch_size": batch_size, "examples": x.shape[0], "precision": precision,
                "model": fingerprint(*model.state_dict().values()), "data": fingerprint(x, y)}
    findings = []
    if attack.execution.check_model and x.shape[0]:
        with warnings.catch_warnings():
            if not processes.main:
                warnings.simplefilter("ignore", ModelCheckWarning)
            first = slice(0, batch_size)
            with seeded(unit_seed(seed, -1, -1), device):
                findings = attack.check(attacked, x[first].to(device, torch.float32), y[first].to(device))
    components = attack.components(classes_of(model, x[:1].to(device, torch.float32))) if x.shape[0] else []
    bar = tqdm(total=len(mine) * len(components), desc=f"AutoAttack ({attack.version})", unit="attack",
               disable=not progress or not processes.main)
    results = {}
    try:  # the bar is closed before an error is printed
        for b in mine:
            rows = slice(starts[b], starts[b] + batch_size)
            xb, yb = x[rows].to(device, torch.float32), y[rows].to(device)
            path = folder / f"batch_{b:05d}.pt" if folder is not None else None
            if path is not None and path.exists():
                state, done = _load_state(path, identity, b, device, attack)
            else:
                with seeded(unit_seed(seed, b, -1), device):
                    state, done = attack.start(attacked, xb, yb), 0
            bar.update(done)
            for k in range(done, len(components)):
                with seeded(unit_seed(seed, b, k), device):
                    attack.run_component(attacked, xb, yb, state, k, components[k][1])
                if path is not None:
                    save_atomic({"identity": identity, "batch": b, "done": k + 1, "state": _tensors(state)}, path)
                bar.postfix = f"batch {b + 1}/{len(starts)}"
                bar.update(1)
            with seeded(unit_seed(seed, b, len(components)), device):
                results[b] = attack.finish(attacked, yb, state).to("cpu")
    finally:
        bar.close()
    gathered = {b: r for part in gather(results, processes) for b, r in part.items()}
    if not gathered:
        raise ValueError("x must hold at least one example, got an empty Tensor")
    result = AutoAttackResult.cat([gathered[b] for b in range(len(starts))])
    result.findings = findings + (attack.masking_findings(result, warn=processes.main)
                                  if attack.execution.check_model else [])
    if PRECISIONS[precision] is not None:
        _check_against_float32(model, result, y, batch_size, device, precision, processes.main)
    return result


def _tensors(state: AutoAttackResult) -> dict[str, Tensor]:
    return {name: value.cpu() for name, value in vars(state).items() if isinstance(value, Tensor)}


def _load_state(path: Path, identity: dict, batch: int, device: torch.device, attack: AutoAttack
                ) -> tuple[AutoAttackResult, int]:
    advice = "delete it: its batch is attacked again"
    saved = load_checkpoint(path, advice)
    if not isinstance(saved, dict) or not {"identity", "batch", "state", "done"} <= set(saved):
        raise UnreadableFileError(path, "not a state file of an AutoAttack evaluation", advice)
    if saved.get("identity") != identity or saved.get("batch") != batch:
        differing = {k: (saved.get("identity", {}).get(k), v) for k, v in identity.items()
                     if saved.get("identity", {}).get(k) != v}
        raise ValueError(f"state file {path} belongs to another evaluation (saved vs now: {differing}); use another "
                         "state_dir or delete it")
    tensors = {name: value.to(device) if isinstance(value, Tensor) else value
               for name, value in saved["state"].items()}
    state = AutoAttackResult(**tensors, attacks=attack.names(), findings=[])
    return state, int(saved["done"])


def _check_against_float32(model: nn.Module, result: AutoAttackResult, y: Tensor, batch_size: int,
                           device: torch.device, precision: str, warn: bool) -> None:
    """Marks the examples whose clean correctness or final outcome differs when classified in float32."""
    clean_ok, adv_ok = [], []
    with eval_mode(model), torch.no_grad():
        for start in range(0, y.shape[0], batch_size):
            rows = slice(start, start + batch_size)
            labels = y[rows].to(device)
            clean_ok.append((predicted_classes(model(result.clean[rows].to(device))) == labels).cpu())
            adv_ok.append((predicted_classes(model(result.x_adv[rows].to(device))) == labels).cpu())
    robust_float32 = torch.cat(clean_ok) & torch.cat(adv_ok)
    robust_half = result.clean_correct & (result.fooled_by < 0)
    result.disagreements = (torch.cat(clean_ok) != result.clean_correct) | (robust_float32 != robust_half)
    count = int(result.disagreements.sum())
    if count:
        finding = (f"{count} of {y.shape[0]} examples are robust in {precision} but not in float32, or the other "
                   f"way round (float32 robust accuracy {float(robust_float32.float().mean()):.4f} vs "
                   f"{result.robust_accuracy():.4f}); their indices are in the result's disagreements")
        result.findings.append(finding)
        if warn:
            warn_findings("AutoAttack", [finding])


__getattr__ = moved_names(__name__, {  # pyadvman 0.1
    "Autocast": ("pyadvman.precision.Autocast", lambda: importlib.import_module("pyadvman.precision").Autocast),
})
