"""sample-complexity, flatness and spectra with tiny configs: reports carry metrics.json's numbers and the
verdicts follow their criteria."""

from __future__ import annotations

import json

import pytest

from pyadvman._atomic import to_json
from pyadvman.experiments import (
    EXPERIMENTS,
    flatness,
    flatness_config,
    sample_complexity,
    sample_complexity_config,
    spectra,
    spectra_config,
)
from pyadvman.experiments.report import interval
from pyadvman.experiments.study import VARIANT_LABELS

from .conftest import assert_png, assert_row, npz_options


def test_sample_complexity_reports_its_summary(tiny_fonts, tmp_path) -> None:
    cfg = sample_complexity_config(dataset_options=tiny_fonts, train_sizes=(200, 500), variants=("normal", "stn"),
                                   epochs=1, eval_attack={"steps": 2}, regular_examples=40,
                                   on_manifold_examples=40, strong_attack={"steps": 2}, apgd_steps=2)
    metrics = sample_complexity.run(cfg, tmp_path / "sc", progress=False)
    assert json.loads((tmp_path / "sc" / "metrics.json").read_text()) == json.loads(to_json(metrics))
    report = (tmp_path / "sc" / "report.md").read_text()
    assert len(metrics["summary"]) == 4
    for row in metrics["summary"]:
        group = [r for r in metrics["models"] if r["objective"] == row["objective"] and r["train_size"] == row["train_size"]]
        assert row["test_error"]["value"] == pytest.approx(sum(r["test_error"] for r in group) / len(group))
        success = group[0]["attacks"]["on_manifold"]
        assert row["on_manifold.success_rate"]["value"] == pytest.approx(success["success_rate"], nan_ok=True)
        cells = [interval(row[m]) for m in ("test_error", "regular.success_rate", "strong_pgd.robust_accuracy",
                                             "on_manifold.success_rate")]
        assert_row(report, VARIANT_LABELS[row["objective"]], row["train_size"], row["seeds"], *cells)
    assert_png(tmp_path / "sc" / metrics["figures"]["sample_complexity"])


def test_flatness_reports_every_epoch_and_its_fit(patterns_npz, tmp_path) -> None:
    cfg = flatness_config(dataset="npz", dataset_options=npz_options(patterns_npz), train_size=400,
                          variants=("normal", "adversarial"), epochs=2, train_attack={"steps": 2}, examples=40,
                          robust_steps=2, average_samples=2, worst_passes=1)
    metrics = flatness.run(cfg, tmp_path / "fl", progress=False)
    assert [(r["variant"], r["epoch"]) for r in metrics["records"]] == [("normal", 1), ("normal", 2),
                                                                       ("adversarial", 1), ("adversarial", 2)]
    report = (tmp_path / "fl" / "report.md").read_text()
    for r in metrics["records"]:
        assert r["robust_generalization_gap"] == pytest.approx(r["test_robust_loss"] - r["train_robust_loss"])
        assert_row(report, VARIANT_LABELS[r["variant"]], r["epoch"], r["train_robust_loss"], r["test_robust_loss"],
                   r["robust_generalization_gap"], r["test_robust_accuracy"], r["average_flatness"],
                   r["worst_case_flatness"])
    fit = metrics["fits"]["worst_case_flatness"]
    assert metrics["holds"] == (fit["pearson_r"] > 0)
    assert_png(tmp_path / "fl" / metrics["figures"]["flatness"])
    assert (tmp_path / "fl" / "models" / "normal" / "checkpoints" / "epoch_2.pt").is_file()
    with pytest.raises(ValueError, match=r"evaluated_epochs must be epochs in \[1, 2\] \(1 … epochs\), got \(3,\)"):
        flatness_config(epochs=2, evaluated_epochs=(3,))


def test_spectra_compare_normal_and_adversarial_training(patterns_npz, tmp_path) -> None:
    cfg = spectra_config(dataset="npz", dataset_options=npz_options(patterns_npz), train_size=400, epochs=2,
                         train_attack={"steps": 2}, jacobian_examples=2, confidence_examples=100)
    metrics = spectra.run(cfg, tmp_path / "sp", progress=False)
    results = metrics["results"]
    report = (tmp_path / "sp" / "report.md").read_text()
    normal, adversarial = results["normal"], results["adversarial"]
    assert metrics["verdicts"]["less_confident"] == (
        adversarial["confidence"]["test"]["mean_max_probability"] < normal["confidence"]["test"]["mean_max_probability"])
    last = metrics["verdicts"]["last_layer"]
    assert metrics["verdicts"]["smoother"] == (
        adversarial["layers"][last]["jacobian"]["largest"] < normal["layers"][last]["jacobian"]["largest"])
    for name, layer in normal["layers"].items():
        assert layer["weight"]["largest"] == max(layer["weight"]["singular_values"])
        assert_row(report, name, "normal", layer["weight"]["largest"], layer["weight"]["std"],
                   layer["jacobian"]["largest"], layer["jacobian"]["std"], layer["jacobian"]["condition"])
    assert_row(report, "regular AT", "test", adversarial["confidence"]["test"]["accuracy"],
               adversarial["confidence"]["test"]["mean_max_probability"],
               adversarial["confidence"]["test"]["mean_logit_margin"])
    assert_png(tmp_path / "sp" / metrics["figures"]["spectra"])


def test_every_experiment_has_quick_and_paper_presets() -> None:
    for experiment in EXPERIMENTS.values():
        assert set(experiment.presets) == {"quick", "paper"}
        quick, paper = experiment.config("quick"), experiment.config("paper")
        assert quick.dataset == "fonts" and quick != paper
