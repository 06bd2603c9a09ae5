"""The four claims of Stutz, Hein & Schiele, CVPR 2019 (docs/papers.md §1), tested end to end on one dataset:

1. regular adversarial examples leave the manifold; 2. on-manifold adversarial examples exist; 3. they are
generalization errors, and on-manifold adversarial training improves test error; 4. regular robustness and
generalization are not necessarily contradicting.

``run(claims_config("quick"))`` trains the variants across N, attacks every model on and off the manifold,
measures how far the normal models' adversarial examples lie from the manifold, and writes metrics.json,
figures/*.png and report.md (each claim, the measured evidence, the paper's figure, and whether it holds).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from pyadvman._file_reading import read_json
from pyadvman.analysis import knn_distances, learned_manifold_distance, true_manifold_distance
from pyadvman.attacks import PGD
from pyadvman.attacks.threat_models import perturbation_norm
from pyadvman.configs import accepts_old_fields, config_from_preset
from pyadvman.errors import UnreadableFileError, check_fields
from pyadvman.experiments.claims_criteria import CRITERIA_VERSION, evaluate_claims
from pyadvman.experiments.claims_report import figures, report
from pyadvman.experiments.executors import Executor
from pyadvman.experiments.folder import ExperimentFolder, default_out_dir, locks_its_folder
from pyadvman.experiments.grid import ModelKey, Study, load_study_data, prepare_study, run_grid
from pyadvman.experiments.manifold_quality import learned_manifold_quality
from pyadvman.experiments.model_evaluation import evaluate_model
from pyadvman.experiments.records import AttackDistances, ModelDistances
from pyadvman.experiments.study_config import (
    STUDY_PAPER_PRESET,
    STUDY_QUICK_LEARNED_PRESET,
    STUDY_QUICK_PRESET,
    StudyConfig,
    study_presets,
)
from pyadvman.provenance import portable_fingerprint, provenance
from pyadvman.training import TrainResult
from pyadvman.training.run_folder import holds_results


@accepts_old_fields
@dataclass(frozen=True)
class ClaimsConfig(StudyConfig):
    """The study's models (StudyConfig) plus the distance analysis of claim 1."""

    distance_examples: int = 200  # first test images whose adversarial examples are projected (per normal model)
    knn_k: int = 50  # neighbours of the "inclusive nn" manifold approximation (paper: 50)
    knn_reference_size: int | None = None  # first training images searched for neighbours (None: all)
    knn_pca: int | None = None  # search neighbours in this many principal components (released: 40; None: pixels)
    projection_steps: int = 100  # Adam steps of the true / learned manifold projections (paper: 100)
    true_projection_lr: float = 0.09  # Adam learning rate of the θ projection (paper: 0.09)
    learned_projection_lr: float = 0.1  # Adam learning rate of the z projection (paper: 0.1)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fields([
            (self.distance_examples >= 1, "distance_examples", ">= 1", self.distance_examples),
            (self.knn_k >= 1, "knn_k", ">= 1", self.knn_k),
            (self.knn_pca is None or self.knn_pca >= 1, "knn_pca", "None or >= 1", self.knn_pca),
            (self.projection_steps >= 0, "projection_steps", ">= 0", self.projection_steps),
        ])


CLAIMS_PRESETS: dict[str, dict] = {
    # FONTS on a 2-core CPU: the released protocol scaled down (docs/protocol.md), 4 variants × 3 sizes × 3 seeds;
    # quick: N up to 2,500 and 250 test images per attack (the main job, three seeds in 15 minutes); standard: N up
    # to 10,000, 500 test images (1,250 on the manifold), about 15 minutes per seed
    "quick": dict(STUDY_QUICK_PRESET),
    "standard": {},
    # the paper's scale and the released code's protocol (docs/protocol.md), for a GPU
    "paper": {**STUDY_PAPER_PRESET, "distance_examples": 1000, "knn_pca": 40},
}
# where the manifold is learned (Fashion-MNIST and other datasets): the quick preset cut further (study_config.py),
# with claim 1's projections through the decoders on the first 100 test images instead of 200
CLAIMS_LEARNED_PRESETS: dict[str, dict] = {"quick": {**STUDY_QUICK_LEARNED_PRESET, "distance_examples": 100}}


def claims_config(preset: str = "quick", **overrides: object) -> ClaimsConfig:
    """The ClaimsConfig of ``preset`` ("quick", "standard" or "paper") with ``overrides``; "quick" on a learned
    manifold (a ``dataset`` other than FONTS, or ``manifold="learned"``) is CLAIMS_LEARNED_PRESETS' form of it.

    Raises:
        ValueError: unknown preset or field, or an invalid value.
    """
    presets = study_presets(CLAIMS_PRESETS, CLAIMS_LEARNED_PRESETS, overrides)
    return config_from_preset(ClaimsConfig, presets, preset, **overrides)


def _successful(result) -> torch.Tensor:
    """Examples classified correctly and fooled by at least one restart; result.x_adv holds a fooling one."""
    return result.clean_correct & result.success.any(dim=0)


@dataclass
class _Perturbed:
    """Perturbed images in the form of an AttackResult that measure_distances reads."""

    x_adv: torch.Tensor
    clean: torch.Tensor
    clean_correct: torch.Tensor
    success: torch.Tensor


def _null_control(regular, eps: float, seed: int, norm: str = "linf") -> dict[str, _Perturbed]:
    """Claim 1's null control on the test images where the regular attack succeeded: uniform sign noise of size
    ``eps`` in ``norm`` (x + ε·s/‖s‖, s uniform in {−1, 1}^D: x + ε·s under L∞) and Gaussian noise scaled to each
    adversarial perturbation's L2 norm; not clipped to [0, 1], so that each keeps its stated size (clipping would
    cut it where the image is 0 or 1); seeded by ``seed``."""
    x, delta = regular.clean, regular.x_adv - regular.clean
    generator = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, x.shape, generator=generator).to(x) * 2 - 1
    signs = signs / perturbation_norm(signs, norm).view(-1, *[1] * (x.dim() - 1)) if len(x) else signs
    gaussian = torch.randn(x.shape, generator=generator).to(x)
    norm = delta.flatten(1).norm(dim=1).view(-1, *[1] * (x.dim() - 1))
    gaussian = gaussian / gaussian.flatten(1).norm(dim=1).clamp_min(1e-12).view_as(norm) * norm
    mask = _successful(regular)
    return {kind: _Perturbed(x + noise, x, mask, mask[None])
            for kind, noise in (("sign_noise", eps * signs), ("gaussian_noise", gaussian))}


def measure_distances(study: Study, model: nn.Module, seed: int) -> ModelDistances:
    """Distances to the manifold of a model's successful adversarial examples under the paper's attack, off the
    manifold (in ``norm``, ε) and on it (η), on the first ``distance_examples`` test images (a seeded run of its own,
    not the evaluation's): per successful example, its index among those images, the kNN normalised residual,
    residual and angle, and the distance to the true (FONTS) or learned manifold where there is one; and the same
    for claim 1's null control (``_null_control``) on the images the regular attack fooled."""
    cfg: ClaimsConfig = study.cfg
    test = study.data.test.first(min(cfg.distance_examples, len(study.data.test)))
    attack = PGD(eps=cfg.epsilon, norm=cfg.norm, protocol=cfg.eval_attack,
                 execution=replace(cfg.attack_execution, check_model=False))
    regular = study.attack_test_images(model, attack, cfg.distance_examples, seed)
    on_manifold = study.attack_on_manifold(model, cfg.distance_examples, seed)
    reference = study.data.train.images
    if cfg.knn_reference_size is not None:
        reference = reference[:cfg.knn_reference_size]
    k = min(cfg.knn_k, reference.shape[0])
    noise = _null_control(regular, cfg.epsilon, seed, cfg.norm)
    out = {}
    for name, result in (("regular", regular), ("on_manifold", on_manifold), *noise.items()):
        rows = _successful(result)
        x_adv, x = result.x_adv[rows], result.clean[rows]
        # "example": the test image of each value, shared by both attacks and every model (bootstrap clusters)
        entry = AttackDistances(examples=int(rows.sum()), example=rows.nonzero()[:, 0].tolist())
        if entry.examples:
            knn = knn_distances(x_adv, x, reference, k, pca=cfg.knn_pca)
            entry.normalised_residual, entry.angle = knn.normalised_residual.tolist(), knn.angle.tolist()
            if cfg.knn_pca is not None:  # the pixel-space search reported beside the released PCA one
                entry.pixel_normalised_residual = knn_distances(x_adv, x, reference, k).normalised_residual.tolist()
            entry.residual, entry.perturbation_norm = knn.residual.tolist(), knn.norm.tolist()
            if study.renderer is not None:
                distance, _ = true_manifold_distance(study.renderer, x_adv, test.codes[rows], test.theta[rows],
                                                     steps=cfg.projection_steps, lr=cfg.true_projection_lr)
                entry.true_manifold_distance = distance.tolist()
            if study.learned is not None:
                distance, _ = learned_manifold_distance(study.learned, x_adv, test.labels[rows],
                                                        steps=cfg.projection_steps, lr=cfg.learned_projection_lr)
                entry.learned_manifold_distance = distance.tolist()
        out[name] = entry
    return ModelDistances(**out)


def normal_model_distances(study: Study, key: ModelKey, result: TrainResult, folder: ExperimentFolder
                           ) -> ModelDistances | None:
    """In a normal model's cell, after its evaluation: ``measure_distances`` (cached as distances.json in the
    model's folder); None for the other variants."""
    if key.variant != "normal":
        return None
    return ModelDistances.from_dict(folder.cached(folder.models / key.name / "distances.json",
                                                  lambda: measure_distances(study, result.model, key.seed).as_dict()))


def first_rendering(metrics_path: Path, now: dict) -> dict | None:
    """When the run folder's metrics.json was made by other code (another commit, sources or criteria version
    than ``now``, a provenance): its provenance and claim verdicts, so that the report rendered again keeps them
    beside the new ones (the earliest rendering is kept through any number of re-renderings); else None."""
    if not metrics_path.is_file():
        return None
    try:
        earlier = read_json(metrics_path, "the first rendering's verdicts are not kept")
    except UnreadableFileError:
        return None
    if "first_rendering" in earlier:
        return earlier["first_rendering"]
    made = earlier.get("provenance") or {}
    if all(made.get(key) == now.get(key) for key in ("commit", "sources", "criteria_version")):
        return None
    return {"provenance": made or None,
            "verdicts": {key: claim.get("verdict") for key, claim in earlier.get("claims", {}).items()}}


@locks_its_folder("claims")
def run(cfg: ClaimsConfig, out_dir: str | Path | None = None, *, resume: bool = False,
        progress: bool = True, executor: Executor | None = None) -> dict:
    """Runs the claims experiment into ``out_dir`` (default runs/claims-<dataset>) and returns metrics.json's
    content: {"experiment", "config", "data" (the dataset's fingerprint), "provenance" (pyadvman.provenance: code,
    machine, date, criteria version), "manifold", "models" (one record per model), "distances" ({normal model:
    ...}), "claims" ({"1".."4": evidence, tests and "verdict"}), "figures", "seconds", where there is one
    "learned_manifold" (how close its images are to the data), and where the folder's metrics.json was made by
    other code, "first_rendering" (its provenance and verdicts, :func:`first_rendering`)}.

    Interrupted at any point, ``resume=True`` continues: finished models, evaluations and distances are
    reloaded, training resumes from its last checkpoint. ``executor`` runs each model (its training, evaluation
    and distances) as one cell, in this process (default) or on Ray (pyadvman.experiments.executors); the
    results do not depend on it, and a run may resume under another.

    Raises:
        FileExistsError: out_dir holds a run and resume is False. ValueError: resuming with another config, or
        the errors of the dataset, training and attacks.
    """
    folder = ExperimentFolder(out_dir or default_out_dir("claims", cfg.dataset))
    started = time.monotonic()
    data = load_study_data(cfg, progress=progress)
    resumed = resume and holds_results(folder.root)  # anything of an earlier invocation to reload
    folder.prepare(cfg, data, resume)
    study = prepare_study(cfg, data, folder, progress=progress)
    records, measured = run_grid(study, folder, evaluate_model, executor=executor, progress=progress,
                                 after_model=normal_model_distances)
    distances = {r.name: d for r, d in zip(records, measured) if d is not None}
    claims = evaluate_claims(records, distances, study.manifold_kind, len(data.classes), data.test.images[0].numel())
    made = provenance(criteria_version=CRITERIA_VERSION)
    metrics = {"experiment": "claims", "config": asdict(cfg), "data": portable_fingerprint(data.fingerprint),
               "provenance": made, "resumed": resumed, "manifold": study.manifold_kind,
               "models": [r.as_dict() for r in records], "claims": claims,
               "distances": {name: d.as_dict() for name, d in distances.items()}}
    first = first_rendering(folder.metrics, made)
    if first is not None:
        metrics["first_rendering"] = first
    if study.learned is not None:
        metrics["learned_manifold"] = folder.cached(folder.root / "manifold" / "quality.json",
                                                    lambda: learned_manifold_quality(data, study.learned))
    metrics["figures"] = figures(study, metrics, records, distances, folder.figures)
    metrics["seconds"] = round(time.monotonic() - started, 1)
    folder.write_results(metrics, report(study, metrics, records))
    return metrics
