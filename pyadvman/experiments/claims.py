"""The four claims of Stutz, Hein & Schiele, CVPR 2019 (docs/papers.md §1), tested end to end on one dataset:

1. regular adversarial examples leave the manifold; 2. on-manifold adversarial examples exist; 3. they are
generalization errors, and on-manifold adversarial training improves test error; 4. regular robustness and
generalization are not necessarily contradicting.

``run(claims_config("quick"))`` trains the variants across N, attacks every model on and off the manifold,
measures how far the normal models' adversarial examples lie from the manifold, and writes metrics.json,
figures/*.png and report.md (each claim, the measured evidence, the paper's figure, and whether it holds).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from pyadvman._presets import config_from_preset
from pyadvman.analysis import (
    knn_distances,
    learned_manifold_distance,
    linear_fit,
    median,
    true_manifold_distance,
)
from pyadvman.attacks import PGD, attack_in_batches
from pyadvman.errors import check_fields
from pyadvman.experiments.claims_report import figures, report
from pyadvman.experiments.folder import ExperimentFolder, default_out_dir
from pyadvman.experiments.study import (
    STUDY_PAPER_PRESET,
    Study,
    StudyConfig,
    load_study_data,
    prepare_study,
    records_by_size,
    run_grid,
)

# The verdicts' thresholds (stated in the report beside each verdict).
CLAIM2_MIN_SUCCESS = 0.10  # on-manifold adversarial examples "exist": normal models fooled on >= 10% of pairs
CLAIM3_MIN_CORRELATION = 0.5  # on-manifold success rate and test error correlate (Pearson r over all models)
CLAIM4_PENALTY_TOLERANCE = 0.01  # regular AT may cost at most 1 point of test error at the largest N
# Models within 5 points of chance accuracy are left out of claim 3's fit: their success rate is measured on the
# few (often one class's) test images they classify correctly.
CHANCE_MARGIN = 0.05


@dataclass(frozen=True)
class ClaimsConfig(StudyConfig):
    """The study's models (StudyConfig) plus the distance analysis of claim 1."""

    distance_examples: int = 200  # first test images whose adversarial examples are projected (per normal model)
    knn_k: int = 50  # neighbours of the "inclusive nn" manifold approximation (paper: 50)
    knn_reference_size: int | None = None  # first training images searched for neighbours (None: all)
    projection_steps: int = 100  # Adam steps of the true / learned manifold projections (paper: 100)
    true_projection_lr: float = 0.09  # Adam learning rate of the θ projection (paper: 0.09)
    learned_projection_lr: float = 0.1  # Adam learning rate of the z projection (paper: 0.1)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_fields([
            (self.distance_examples >= 1, "distance_examples", ">= 1", self.distance_examples),
            (self.knn_k >= 1, "knn_k", ">= 1", self.knn_k),
            (self.projection_steps >= 0, "projection_steps", ">= 0", self.projection_steps),
        ])


CLAIMS_PRESETS: dict[str, dict] = {
    # FONTS: about 10 minutes on a 2-core CPU (3 variants × 3 sizes, 15 epochs, PGD-10 training, PGD-20 tests)
    "quick": {},
    # the paper's scale (docs/papers.md §1), for a GPU
    "paper": {**STUDY_PAPER_PRESET, "distance_examples": 1000},
}


def claims_config(preset: str = "quick", **overrides: object) -> ClaimsConfig:
    """The ClaimsConfig of ``preset`` ("quick" or "paper") with ``overrides``.

    Raises:
        ValueError: unknown preset or field, or an invalid value.
    """
    return config_from_preset(ClaimsConfig, CLAIMS_PRESETS, preset, **overrides)


def _successful(result) -> torch.Tensor:
    return result.clean_correct & result.success[0]


def measure_distances(study: Study, model: nn.Module, seed: int) -> dict:
    """Distances to the manifold of a model's successful regular (L∞ PGD) and on-manifold adversarial examples
    on the first ``distance_examples`` test images: per example, the kNN normalised residual, residual and
    angle, and the distance to the true (FONTS) or learned manifold where there is one."""
    cfg: ClaimsConfig = study.cfg
    test = study.data.test.first(min(cfg.distance_examples, len(study.data.test)))
    torch.manual_seed(seed)
    regular = attack_in_batches(PGD(eps=cfg.epsilon, steps=cfg.attack_steps), model, test.images, test.labels,
                                progress=False)
    on_manifold = study.attack_on_manifold(model, cfg.distance_examples, seed)
    reference = study.data.train.images
    if cfg.knn_reference_size is not None:
        reference = reference[:cfg.knn_reference_size]
    k = min(cfg.knn_k, reference.shape[0])
    out = {}
    for name, result in (("regular", regular), ("on_manifold", on_manifold)):
        rows = _successful(result)
        x_adv, x = result.x_adv[rows], result.clean[rows]
        entry: dict[str, list[float] | int] = {"examples": int(rows.sum())}
        if entry["examples"]:
            knn = knn_distances(x_adv, x, reference, k)
            entry.update(normalised_residual=knn.normalised_residual.tolist(), angle=knn.angle.tolist(),
                         residual=knn.residual.tolist(), perturbation_norm=knn.norm.tolist())
            if study.renderer is not None:
                distance, _ = true_manifold_distance(study.renderer, x_adv, test.codes[rows], test.theta[rows],
                                                     steps=cfg.projection_steps, lr=cfg.true_projection_lr)
                entry["true_manifold_distance"] = distance.tolist()
            if study.learned is not None:
                distance, _ = learned_manifold_distance(study.learned, x_adv, test.labels[rows],
                                                        steps=cfg.projection_steps, lr=cfg.learned_projection_lr)
                entry["learned_manifold_distance"] = distance.tolist()
        out[name] = entry
    return out


DISTANCE_MEASURES = ("normalised_residual", "angle", "residual", "true_manifold_distance",
                     "learned_manifold_distance")


def _medians(entries: list[dict]) -> dict[str, float | int]:
    summary: dict[str, float | int] = {"examples": sum(e["examples"] for e in entries)}
    for measure in DISTANCE_MEASURES:
        values = [v for e in entries for v in e.get(measure, [])]
        if values:
            summary[f"median_{measure}"] = median(values)
    return summary


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _per_size(records: list[dict], objective: str, metric: str) -> dict[int, float]:
    return {n: _mean([r[metric] for r in group]) for n, group in records_by_size(records, objective).items()}


def evaluate_claims(study: Study, records: list[dict], distances: dict[str, dict]) -> dict:
    """The evidence and verdict of each claim from the model records and the normal models' distances."""
    on_objective = f"on_{study.manifold_kind}_manifold"
    claims: dict[str, dict] = {}

    normal_names = [r["name"] for r in records if r["objective"] == "normal"]
    per_model = [{"name": r["name"], "train_size": r["train_size"],
                  "regular": _medians([distances[r["name"]]["regular"]]),
                  "on_manifold": _medians([distances[r["name"]]["on_manifold"]])}
                 for r in records if r["objective"] == "normal"]
    pooled = {kind: _medians([distances[name][kind] for name in normal_names]) for kind in ("regular", "on_manifold")}
    reg, on = pooled["regular"], pooled["on_manifold"]
    evaluable = "median_normalised_residual" in reg and "median_normalised_residual" in on
    claims["1"] = {"pooled": pooled, "per_model": per_model,
                   "holds": (reg["median_normalised_residual"] > on["median_normalised_residual"]
                             and reg["median_angle"] > on["median_angle"]) if evaluable else None}

    success = _per_size(records, "normal", "on_manifold_success_rate")
    claims["2"] = {"on_manifold_success_rate": {str(n): v for n, v in success.items()},
                   "threshold": CLAIM2_MIN_SUCCESS,
                   "holds": all(v >= CLAIM2_MIN_SUCCESS for v in success.values()) if success else None}

    normal_error = _per_size(records, "normal", "test_error")
    on_error = _per_size(records, on_objective, "test_error")
    chance = 1 / len(study.data.classes)
    fitted = [r for r in records if r["test_accuracy"] > chance + CHANCE_MARGIN]
    try:
        fit = linear_fit([r["test_error"] for r in fitted], [r["on_manifold_success_rate"] for r in fitted])
        fit_record = fit.as_dict()
    except ValueError:
        fit_record = None
    shared = [n for n in normal_error if n in on_error]
    better = sum(on_error[n] <= normal_error[n] for n in shared)
    correlated = fit_record is not None and fit_record["pearson_r"] >= CLAIM3_MIN_CORRELATION
    claims["3"] = {"objective": on_objective,
                   "test_error": {str(n): {"normal": normal_error[n], on_objective: on_error[n]} for n in shared},
                   "sizes_improved": better, "sizes": len(shared), "fit": fit_record,
                   "excluded_from_fit": [r["name"] for r in records if r not in fitted], "chance_accuracy": chance,
                   "min_correlation": CLAIM3_MIN_CORRELATION,
                   "holds": (2 * better >= len(shared) and correlated) if shared else None}

    at_error = _per_size(records, "adversarial", "test_error")
    normal_robust = _per_size(records, "normal", "robust_accuracy")
    at_robust = _per_size(records, "adversarial", "robust_accuracy")
    sizes = [n for n in normal_error if n in at_error]
    rows = {str(n): {"normal_test_error": normal_error[n], "adversarial_test_error": at_error[n],
                     "test_error_penalty": at_error[n] - normal_error[n], "normal_robust_accuracy": normal_robust[n],
                     "adversarial_robust_accuracy": at_robust[n]} for n in sizes}
    holds = None
    if sizes:
        penalty = [rows[str(n)]["test_error_penalty"] for n in sizes]
        robust = all(at_robust[n] > normal_robust[n] for n in sizes)
        shrinking = penalty[-1] <= CLAIM4_PENALTY_TOLERANCE or (len(sizes) > 1 and penalty[-1] <= penalty[0])
        holds = robust and shrinking
    claims["4"] = {"per_size": rows, "penalty_tolerance": CLAIM4_PENALTY_TOLERANCE, "holds": holds}
    return claims


def run(cfg: ClaimsConfig, out_dir: str | Path | None = None, *, resume: bool = False,
        progress: bool = True) -> dict:
    """Runs the claims experiment into ``out_dir`` (default runs/claims-<dataset>) and returns metrics.json's
    content: {"config", "manifold", "models": [one record per model], "distances": {normal model: ...},
    "claims": {"1".."4": evidence and "holds"}, "figures", "seconds"}.

    Interrupted at any point, ``resume=True`` continues: finished models, evaluations and distances are
    reloaded, training resumes from its last checkpoint.

    Raises:
        FileExistsError: out_dir holds a run and resume is False. ValueError: resuming with another config, or
        the errors of the dataset, training and attacks.
    """
    folder = ExperimentFolder(out_dir or default_out_dir("claims", cfg.dataset))
    started = time.monotonic()
    data = load_study_data(cfg, progress=progress)
    folder.prepare(cfg, data, resume)
    study = prepare_study(cfg, data, folder, progress=progress)
    distances: dict[str, dict] = {}

    def measure(key, result) -> None:
        if key.variant == "normal":
            distances[key.name] = folder.cached(folder.models / key.name / "distances.json",
                                                lambda: measure_distances(study, result.model, key.seed))

    records = run_grid(study, folder, progress=progress, after_model=measure)
    claims = evaluate_claims(study, records, distances)
    metrics = {"experiment": "claims", "config": asdict(cfg), "manifold": study.manifold_kind, "models": records,
               "claims": claims, "distances": distances}
    metrics["figures"] = figures(study, metrics, folder.figures)
    metrics["seconds"] = round(time.monotonic() - started, 1)
    folder.write_results(metrics, report(study, metrics))
    return metrics
