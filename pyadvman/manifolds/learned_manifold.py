"""The learned manifold (docs/papers.md §1): one VAE-GAN per class plus one class-agnostic VAE-GAN.

On-learned-manifold examples of class y are ``decode(z, y)`` with z inside the class's code bounds: the
per-dimension [min, max] of the encoder means μ of that class's training images.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from pyadvman._atomic import save_atomic
from pyadvman._file_reading import load_checkpoint, load_weights
from pyadvman.data.splits import DatasetSplits, Split
from pyadvman.errors import DataError, UnreadableFileError
from pyadvman.manifolds.stacked_modules import StackedModules
from pyadvman.manifolds.vae_gan import VAEGAN, VAEGANConfig, train_vae_gan

logger = logging.getLogger(__name__)
AGNOSTIC = -1  # the label that selects the class-agnostic model
# how a mixed-label batch reaches the class models: "loop" (one call per class present), "stacked" (one vectorised
# call over the stacked weights, pyadvman.manifolds.stacked_modules) or "auto" (stacked on CUDA, loop on CPU)
CLASS_BATCHING = ("auto", "loop", "stacked")


class LearnedManifold(nn.Module):
    """Class-specific VAE-GANs (``models[str(c)]``), the class-agnostic one (``models["all"]``) and code bounds.

    Attributes:
        bounds (Tensor[C + 1, 2, latent]): [min, max] of the training codes per class; row C is the
            class-agnostic model's (over all training images).
        fitted_on (dict | None): the fingerprint of the data whose training split the models and bounds were
            fitted on (pyadvman.data.fingerprint; None in a manifold.pt of pyadvman 0.2 and earlier).
        class_batching (str): how :meth:`encode` and :meth:`decode` run a batch of mixed labels: "loop" (one
            call per class present), "stacked" (one vectorised call over the class models' stacked weights; only
            while the models are in eval mode and their weights need no gradient, else the loop) or "auto"
            (default: stacked on CUDA, where a call's launch overhead dominates small class groups; the loop on
            CPU, where bench/bench_decoders.py measured the stacked call slower). Both give the same values.
    """

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int, cfg: VAEGANConfig) -> None:
        super().__init__()
        self.cfg, self.num_classes, self.image_shape = cfg, num_classes, tuple(image_shape)
        names = [str(c) for c in range(num_classes)] + ["all"]
        self.models = nn.ModuleDict({n: VAEGAN(self.image_shape, cfg) for n in names})
        self.register_buffer("bounds", torch.zeros(num_classes + 1, 2, cfg.latent))
        self.fitted_on: dict | None = None
        self.class_batching = "auto"
        self._stacked: dict[str, StackedModules] = {}  # "encoder" / "decoder", built on first use

    def _model(self, label: int) -> VAEGAN:
        if label == AGNOSTIC:
            return self.models["all"]
        if not 0 <= label < self.num_classes:
            raise ValueError(f"labels must lie in [0, {self.num_classes}) or be {AGNOSTIC} (class-agnostic), "
                             f"got {label}")
        return self.models[str(label)]

    def _per_class(self, part: str, inputs: Tensor, labels: Tensor, out_shape: tuple[int, ...]) -> Tensor:
        """The class models' ``part`` ("encoder" or "decoder") applied to each row by its label."""
        if labels.shape != inputs.shape[:1]:
            raise ValueError(f"labels must have shape [{inputs.shape[0]}] (one per row), got {list(labels.shape)}")
        if self.class_batching not in CLASS_BATCHING:
            raise ValueError(f"class_batching must be one of {CLASS_BATCHING}, got {self.class_batching!r}")
        stacked = self._stacked_part(part) if self._resolved_batching(inputs.device) == "stacked" else None
        if stacked is not None and stacked.usable() and inputs.shape[0]:
            invalid = (labels < AGNOSTIC) | (labels >= self.num_classes)
            if bool(invalid.any()):
                self._model(int(labels[invalid][0]))  # raises the loop's error
            out = stacked(inputs, torch.where(labels == AGNOSTIC, self.num_classes, labels))
            return out[0] if part == "encoder" else out  # the encoder's (μ, log σ²): μ
        out = inputs.new_empty(inputs.shape[0], *out_shape)
        for label in labels.unique().tolist():
            rows = labels == label
            result = getattr(self._model(int(label)), part)(inputs[rows])
            out[rows] = (result[0] if part == "encoder" else result).to(out.dtype)  # autocast: bf16/fp16 results
        return out

    def _resolved_batching(self, device: torch.device) -> str:
        if self.class_batching != "auto":
            return self.class_batching
        return "stacked" if device.type == "cuda" else "loop"

    def calls_models_one_by_one(self, device: torch.device | str) -> bool:
        """True when a mixed batch on ``device`` reaches the class models in one call per class (the "loop"
        class batching), so their modules may be swapped for a block (BatchNorm folding); the stacked call reads
        a stacked copy of their weights instead."""
        return self._resolved_batching(torch.device(device)) == "loop"

    def _stacked_part(self, part: str) -> StackedModules:
        if part not in self._stacked:
            names = [str(c) for c in range(self.num_classes)] + ["all"]  # route C is the class-agnostic model
            self._stacked[part] = StackedModules([getattr(self.models[n], part) for n in names])
        return self._stacked[part]

    def encode(self, x: Tensor, labels: Tensor) -> Tensor:
        """Codes: encoder means μ of each image's class model.

        Args:
            x (Tensor[B, C, S, S]): images in [0, 1]. labels (Tensor[B]): int64 classes, or -1 for the
                class-agnostic model.

        Returns:
            Tensor[B, latent].
        """
        return self._per_class("encoder", x, labels, (self.cfg.latent,))

    def decode(self, z: Tensor, labels: Tensor) -> Tensor:
        """Images of codes z (Tensor[B, latent]) by each row's class model: Tensor[B, C, S, S] in (0, 1).
        Differentiable in z (on-learned-manifold attacks optimise z)."""
        return self._per_class("decoder", z, labels, self.image_shape)

    def reconstruct(self, x: Tensor, labels: Tensor) -> Tensor:
        """decode(encode(x)), Tensor[B, C, S, S]."""
        return self.decode(self.encode(x, labels), labels)

    def code_bounds(self, labels: Tensor) -> tuple[Tensor, Tensor]:
        """(low, high) of each row's class, each Tensor[B, latent]."""
        rows = torch.where(labels == AGNOSTIC, self.num_classes, labels)
        return self.bounds[rows, 0], self.bounds[rows, 1]

    @torch.no_grad()
    def reconstruction_error(self, x: Tensor, labels: Tensor, batch_size: int = 1000) -> Tensor:
        """Mean squared error per pixel of each image's reconstruction: Tensor[B] (x and labels as in encode)."""
        errors = [((self.reconstruct(x[i: i + batch_size], labels[i: i + batch_size]) - x[i: i + batch_size])
                   .pow(2).flatten(1).mean(1)) for i in range(0, x.shape[0], batch_size)]
        return torch.cat(errors) if errors else x.new_zeros(0)

    @torch.no_grad()
    def fit_bounds(self, train: Split, batch_size: int = 1000) -> None:
        """Sets ``bounds`` from the codes of the training images (per class, and over all for the agnostic)."""
        for label in range(self.num_classes):
            codes = self._codes(train.images[train.labels == label], label, batch_size)
            self.bounds[label] = torch.stack([codes.min(0).values, codes.max(0).values])
        codes = self._codes(train.images, AGNOSTIC, batch_size)
        self.bounds[self.num_classes] = torch.stack([codes.min(0).values, codes.max(0).values])

    def _codes(self, images: Tensor, label: int, batch_size: int) -> Tensor:
        if images.shape[0] == 0:
            raise ValueError(f"class {label} has no training images")
        model = self._model(label)
        return torch.cat([model.encode(images[i: i + batch_size].float())
                          for i in range(0, images.shape[0], batch_size)])

    def save(self, path: str | Path) -> None:
        """Writes the manifold (weights, bounds, config) atomically; load with ``LearnedManifold.load``."""
        save_atomic({"config": asdict(self.cfg), "num_classes": self.num_classes, "data": self.fitted_on,
                     "image_shape": list(self.image_shape), "state": self.state_dict()}, Path(path))

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu",
             data: DatasetSplits | None = None) -> LearnedManifold:
        """The manifold saved at ``path`` (eval mode); with ``data``, checked to have been fitted on data's
        training split (a manifold.pt that records no data, of pyadvman 0.2 and earlier, with a warning).

        Raises:
            FileNotFoundError: no such file. UnreadableFileError: a damaged file. DataError: fitted on other data
            than ``data`` (what differs is named).
        """
        advice = ("delete it (and its checkpoints/ folder to retrain the VAE-GANs from scratch) and fit the manifold "
                  "again")
        state = load_checkpoint(path, advice)
        if not isinstance(state, dict) or not {"image_shape", "num_classes", "config", "state"} <= set(state):
            raise UnreadableFileError(path, "not a manifold.pt of `pyadvman manifold` (it lacks image_shape, "
                                      "num_classes, config or state)", advice)
        manifold = cls(tuple(state["image_shape"]), state["num_classes"], VAEGANConfig(**state["config"]))
        load_weights(manifold, state, "state", path, advice)
        manifold.fitted_on = state.get("data")
        if data is not None:
            manifold.check_fitted_on(data, path)
        return manifold.to(map_location).eval()

    def check_fitted_on(self, data: DatasetSplits, path: str | Path) -> None:
        """Raises DataError when the manifold (read from ``path``) was fitted on another training split than
        ``data``'s: another dataset, classes, image shape or training images."""
        if self.fitted_on is None:
            logger.warning("%s records no data (pyadvman 0.2 or earlier): that it was fitted on %s cannot be "
                           "checked", path, data.name)
            return
        current = data.fingerprint
        differences = [f"{key} {self.fitted_on.get(key)} vs {current[key]}" for key in ("name", "classes",
                       "image_shape") if self.fitted_on.get(key) != current[key]]
        if not differences and self.fitted_on["splits"]["train"] != current["splits"]["train"]:
            differences.append("the training split")
        if differences:
            raise DataError(f"{path} was fitted on other data than {data.name} ({'; '.join(differences)}): fit "
                            "the manifold on this dataset (pyadvman manifold)")


def fit_learned_manifold(data: DatasetSplits, cfg: VAEGANConfig, out_dir: str | Path, *, progress: bool = True,
                         device: str | torch.device = "cpu") -> LearnedManifold:
    """Trains the class-specific and class-agnostic VAE-GANs of a dataset, fits the code bounds and writes
    ``out_dir``/manifold.pt, reconstruction.json (test reconstruction error per class) and reconstruction.png
    (samples and reconstructions per class).

    Resumable: each model checkpoints every epoch under ``out_dir``/checkpoints and finished models are
    loaded, not retrained; if manifold.pt exists it is loaded and returned.

    Raises:
        ValueError: out_dir holds a manifold or checkpoints trained with another config. DataError: its
            manifold.pt was fitted on other data.

    Returns:
        LearnedManifold in eval mode on ``device``.
    """
    from pyadvman.manifolds.reconstruction_figure import reconstruction_figure

    out_dir = Path(out_dir)
    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    if (out_dir / "manifold.pt").is_file():
        manifold = LearnedManifold.load(out_dir / "manifold.pt", device, data=data)
        if manifold.cfg != cfg:
            raise ValueError(f"{out_dir} holds a manifold trained with another config ({manifold.cfg}); "
                             "use a new out_dir")
        return manifold
    num_classes = len(data.classes)
    manifold = LearnedManifold(data.image_shape, num_classes, cfg).to(device)
    manifold.fitted_on = data.fingerprint
    train = data.train
    for name in tqdm([str(c) for c in range(num_classes)] + ["all"], desc="VAE-GANs", unit="model",
                     disable=not progress):
        images = train.images if name == "all" else train.images[train.labels == int(name)]
        model = train_vae_gan(images, cfg, out_dir / "checkpoints" / f"vae_gan_{name}.pt",
                              desc=f"class {name}", progress=progress, device=device)
        manifold.models[name].load_state_dict(model.state_dict())
    manifold.eval()
    manifold.fit_bounds(Split(train.images.to(device), train.labels.to(device)))
    test_images, test_labels = data.test.images.to(device).float(), data.test.labels.to(device)
    errors = manifold.reconstruction_error(test_images, test_labels)
    agnostic = manifold.reconstruction_error(test_images, torch.full_like(test_labels, AGNOSTIC))
    report = {"metric": "test reconstruction error, mean squared error per pixel",
              "per_class": {data.classes[c]: errors[test_labels == c].mean().item() for c in range(num_classes)},
              "class_specific_mean": errors.mean().item(), "class_agnostic_mean": agnostic.mean().item(),
              "config": asdict(cfg)}
    (out_dir / "reconstruction.json").write_text(json.dumps(report, indent=1))
    reconstruction_figure(manifold, data.test, data.classes, report["per_class"], out_dir / "reconstruction.png")
    manifold.save(out_dir / "manifold.pt")
    return manifold
