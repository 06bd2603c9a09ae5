"""Sample complexity (Stutz et al., CVPR 2019, Sec. 4, Figs. 4–6; docs/papers.md §1): test error, regular robust
accuracy and on-manifold success rate against the training-set size N, per training variant."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pyadvman.analysis.uncertainty import mean_std
from pyadvman.configs import accepts_old_fields, config_from_preset
from pyadvman.experiments.claims_criteria import CLAIMS, CRITERIA_VERSION, claim4
from pyadvman.experiments.claims_report import protocol_sections
from pyadvman.experiments.estimates import records_by_size, size_estimates
from pyadvman.experiments.executors import Executor
from pyadvman.experiments.folder import ExperimentFolder, default_out_dir, locks_its_folder
from pyadvman.experiments.grid import load_study_data, prepare_study, run_grid
from pyadvman.experiments.model_evaluation import evaluate_model
from pyadvman.experiments.paper_figures import ON_MANIFOLD_SUCCESS_FONTS, paper_on_manifold_success
from pyadvman.experiments.records import (
    ON_MANIFOLD_SUCCESS,
    ModelRecord,
    robust_accuracy,
    success_rate,
    test_error,
)
from pyadvman.experiments.report import data_lines, fmt, interval, table, verdict_line
from pyadvman.experiments.strong_evaluation import grid_autoattack_section
from pyadvman.experiments.study_config import (
    STUDY_PAPER_PRESET,
    STUDY_QUICK_LEARNED_PRESET,
    STUDY_QUICK_PRESET,
    StudyConfig,
    study_presets,
    variant_label,
)
from pyadvman.experiments.study_figures import grid_figure
from pyadvman.provenance import portable_fingerprint, provenance

SAMPLE_COMPLEXITY_PRESETS: dict[str, dict] = {
    "quick": dict(STUDY_QUICK_PRESET),  # the claims study's quick and standard grids
    "standard": {},
    "paper": dict(STUDY_PAPER_PRESET),
    # claim 4's own experiment in the released code (experiments/fonts/verify_long_resnet_hypotheses.py lines
    # 154, 178, 188-195 and 217-220 at 220ff8a): a ResNet of 64 channels and [2, 2, 2] blocks trained 80 epochs,
    # normal vs 50/50 adversarial training, test error against N; for a GPU
    "long-resnet": {**STUDY_PAPER_PRESET, "model": "resnet", "model_options": {"init": "released"}, "epochs": 80,
                    "variants": ("normal", "adversarial")},
    # its version for a 2-core CPU: the standard grid (FONTS, N 500 / 2,500 / 10,000, three seeds), the same
    # ResNet at 8 channels (6x the standard model's forward FLOPs, where 64 channels are 400x) trained twice the
    # quick epochs, and Madry AT beside the released AT so that a model robust to APGD-CE can show claim 4 (a);
    # claim 4 reads no on-manifold attack, so the strong one is skipped
    "long-resnet-quick": {"model": "resnet", "model_options": {"init": "released", "channels": 8}, "epochs": 30,
                          "variants": ("normal", "adversarial", "madry"), "strong_on_manifold_attack": None},
}
SAMPLE_COMPLEXITY_LEARNED_PRESETS: dict[str, dict] = {"quick": dict(STUDY_QUICK_LEARNED_PRESET)}  # the claims'
# (key in metrics.json's summary, what it measures, its label)
METRICS = (("test_error", test_error, "test error"),
           ("regular.success_rate", success_rate("regular"), "success rate (paper's attack)"),
           ("strong_pgd.robust_accuracy", robust_accuracy("strong_pgd"), "robust accuracy (signed PGD)"),
           ("on_manifold.success_rate", ON_MANIFOLD_SUCCESS, "on-manifold success rate"))


@accepts_old_fields
@dataclass(frozen=True)
class SampleComplexityConfig(StudyConfig):
    """The models of the study (see StudyConfig); defaults: the standard preset on FONTS."""


def sample_complexity_config(preset: str = "quick", **overrides: object) -> SampleComplexityConfig:
    """The config of ``preset`` ("quick", "standard", "paper", "long-resnet" or "long-resnet-quick") with
    ``overrides``; "quick" on a learned manifold is SAMPLE_COMPLEXITY_LEARNED_PRESETS' (the claims study's).

    Raises:
        ValueError: unknown preset or field, or an invalid value.
    """
    presets = study_presets(SAMPLE_COMPLEXITY_PRESETS, SAMPLE_COMPLEXITY_LEARNED_PRESETS, overrides)
    return config_from_preset(SampleComplexityConfig, presets, preset, **overrides)


def summarise(records: list[ModelRecord]) -> list[dict]:
    """One row per (objective, N): the number of seeds and each measure of METRICS as an estimate (the mean over
    seeds with its 95% interval, ``estimates.size_estimates``) and the mean ± std over seeds."""
    rows = []
    for objective in dict.fromkeys(r.objective for r in records):
        estimates = {key: size_estimates(records, objective, measure) for key, measure, _ in METRICS}
        for n, group in records_by_size(records, objective).items():
            rows.append({"objective": objective, "train_size": n, "seeds": len(group),
                         **{key: {**estimates[key][n].as_dict(),
                                  "std": mean_std([measure(r).value for r in group])[1]}
                            for key, measure, _ in METRICS}})
    return rows


def report(cfg: SampleComplexityConfig, metrics: dict, records: list[ModelRecord]) -> str:
    rows = [[variant_label(r["objective"]), r["train_size"], r["seeds"], *(interval(r[key]) for key, _, _ in METRICS),
             fmt(paper_on_manifold_success(cfg.dataset, r["objective"], r["train_size"]))]
            for r in metrics["summary"]]
    figure = metrics["figures"]["sample_complexity"]
    return "\n".join([
        f"# Sample complexity on {cfg.dataset}", "",
        (f"Each model is trained on the first N training examples ({cfg.epochs} epochs; training attacks: "
         f"{cfg.train_attack.describe('ε')}) and evaluated on the test split: test error on all test images, the "
         f"paper's attack ({cfg.eval_attack.describe('ε', cfg.epsilon)}) on the first {cfg.regular_examples}, "
         f"{cfg.strong_attack.describe('ε', cfg.epsilon)} on the same images, and the on-{metrics['manifold']}-"
         f"manifold success rate (η = {cfg.eta}) on the first {cfg.on_manifold_examples}. Means over seeds with "
         "95% intervals (Wilson, with the t interval over seeds added in quadrature when there are several)."), "",
        *data_lines(metrics["data"]), "",
        table(["variant", "N", "seeds", *(label for _, _, label in METRICS), "paper on-manifold success rate"],
              rows), "",
        ("Paper (docs/papers.md §1, FONTS): on-manifold success falls with N for every variant and fastest for "
        "on-manifold and adversarial-transformation training (dashed in the figure)."), "",
        f"![sample complexity]({figure})", "", *_claim4_section(metrics), *grid_autoattack_section(records, cfg.epsilon, cfg.norm)])


def _claim4_section(metrics: dict) -> list[str]:
    """Claim 4 of Stutz et al. on the grid's models (claims_criteria.claim4), where it trained normal and robust
    variants at two or more N: the released code's own experiment for it is this study with a ResNet."""
    claim = metrics.get("claim4")
    if claim is None or not claim["per_size"]:
        return []
    return ["## Claim 4: regular robustness and generalization are not necessarily contradicting", "",
            (f"{claim['claim']}. The criteria are those of the claims study (docs/protocol.md, \"Criteria and "
             "margins\"), applied to this grid's models."), "", *protocol_sections(claim), verdict_line(claim), ""]


@locks_its_folder("sample-complexity")
def run(cfg: SampleComplexityConfig, out_dir: str | Path | None = None, *, resume: bool = False,
        progress: bool = True, executor: Executor | None = None) -> dict:
    """Trains and evaluates the grid into ``out_dir`` (default runs/sample-complexity-<dataset>); writes
    metrics.json ({"config", "manifold", "models", "summary", "figures", "seconds"}), figures and report.md.
    Resumable like the claims experiment; each model one cell of ``executor`` (local by default, or Ray).

    Raises:
        FileExistsError: out_dir holds a run and resume is False. ValueError: resuming with another config.
    """
    folder = ExperimentFolder(out_dir or default_out_dir("sample-complexity", cfg.dataset))
    started = time.monotonic()
    data = load_study_data(cfg, progress=progress)
    folder.prepare(cfg, data, resume)
    study = prepare_study(cfg, data, folder, progress=progress)
    records, _ = run_grid(study, folder, evaluate_model, executor=executor, progress=progress)
    paper = {"on-manifold success rate": ON_MANIFOLD_SUCCESS_FONTS} if cfg.dataset == "fonts" else None
    path = grid_figure(records, [(measure, label) for _, measure, label in METRICS],
                       folder.figures / "sample_complexity.png", f"Sample complexity on {cfg.dataset}", paper=paper)
    claim = claim4(records)
    metrics = {"experiment": "sample-complexity", "config": asdict(cfg), "data": portable_fingerprint(data.fingerprint),
               "provenance": provenance(criteria_version=CRITERIA_VERSION),
               "manifold": study.manifold_kind,
               "models": [r.as_dict() for r in records], "summary": summarise(records),
               "claim4": {**claim, "claim": CLAIMS["4"]} if claim["per_size"] else None,
               "figures": {"sample_complexity": str(path.relative_to(folder.root))},
               "seconds": round(time.monotonic() - started, 1)}
    folder.write_results(metrics, report(cfg, metrics, records))
    return metrics
