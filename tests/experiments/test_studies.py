"""sample-complexity, flatness and spectra with tiny configs: reports carry metrics.json's numbers and the
verdicts follow their criteria."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats

from pyadvman._atomic import to_json
from pyadvman.experiments import (
    EXPERIMENTS,
    flatness_config,
    sample_complexity,
    sample_complexity_config,
    spectra_config,
)
from pyadvman.experiments import flatness_study as flatness
from pyadvman.experiments import spectra_study as spectra
from pyadvman.experiments.report import interval
from pyadvman.experiments.study_config import variant_label

from .conftest import assert_png, assert_row, npz_options, section


def test_the_long_resnet_preset_is_the_released_claim4_experiment() -> None:
    cfg = sample_complexity_config("long-resnet")
    assert (cfg.model, cfg.epochs, cfg.variants) == ("resnet", 80, ("normal", "adversarial"))
    assert cfg.model_train_config("normal", 500, 0).model_options == {"init": "released"}


def test_the_quick_long_resnet_is_the_standard_grid_with_a_narrow_resnet_trained_longer() -> None:
    # the standard grid (N up to 10,000), not the quick one: at N <= 2,500 Madry AT stays near chance on FONTS
    standard, cfg = sample_complexity_config("standard"), sample_complexity_config("long-resnet-quick")
    assert (cfg.train_sizes, cfg.seeds, cfg.fonts_preset) == (standard.train_sizes, standard.seeds,
                                                              standard.fonts_preset)
    assert cfg.model == "resnet" and cfg.epochs > standard.epochs
    assert cfg.model_train_config("madry", 500, 0).model_options == {"init": "released", "channels": 8}
    # claim 4 needs a normal and a robust variant at every N (claims_criteria.ROBUST_VARIANTS)
    assert {"normal", "adversarial", "madry"} <= set(cfg.variants)


def test_sample_complexity_reports_its_summary(tiny_fonts, tmp_path) -> None:
    cfg = sample_complexity_config(dataset_options=tiny_fonts, train_sizes=(200, 500), seeds=(0,),
                                   variants=("normal", "adversarial"),
                                   epochs=1, eval_attack={"steps": 2}, regular_examples=40,
                                   on_manifold_examples=40, strong_attack={"steps": 2}, apgd_attack={"steps": 2},
                                   strong_on_manifold_attack={"steps": 2},
                                   autoattack_examples=12)
    metrics = sample_complexity.run(cfg, tmp_path / "sc", progress=False)
    assert json.loads((tmp_path / "sc" / "metrics.json").read_text()) == json.loads(to_json(metrics))
    report = (tmp_path / "sc" / "report.md").read_text()
    assert len(metrics["summary"]) == 4
    # claim 4 on the grid's normal and regular AT models, with the claims study's criteria
    claim4 = metrics["claim4"]
    assert claim4["variants"] == ["adversarial"] and set(claim4["protocols"]) == {"paper", "strong"}
    assert f"**Verdict: {claim4['verdict']}**" in section(report, "## Claim 4")
    for row in metrics["summary"]:
        group = [r for r in metrics["models"] if r["objective"] == row["objective"] and r["train_size"] == row["train_size"]]
        assert row["test_error"]["value"] == pytest.approx(sum(r["test_error"] for r in group) / len(group))
        success = group[0]["attacks"]["on_manifold"]
        assert row["on_manifold.success_rate"]["value"] == pytest.approx(success["success_rate"], nan_ok=True)
        cells = [interval(row[m]) for m in ("test_error", "regular.success_rate", "strong_pgd.robust_accuracy",
                                             "on_manifold.success_rate")]
        assert_row(report, variant_label(row["objective"]), row["train_size"], row["seeds"], *cells)
    assert_png(tmp_path / "sc" / metrics["figures"]["sample_complexity"])
    assert "## AutoAttack" in report
    for record in metrics["models"]:  # AutoAttack standard on the first 12 test images, resumable state kept
        auto = record["attacks"]["autoattack"]
        after = auto["robust_accuracy_after"]
        assert auto["examples"] == 12 and list(after) == ["APGD-CE", "APGD-T", "FAB-T", "Square"]
        assert after["Square"] == auto["robust_accuracy"] <= after["APGD-CE"]
        assert_row(report, record["name"], 12, auto["clean_accuracy"], *after.values(),
                   "; ".join(auto["findings"]) or "none")
        assert (tmp_path / "sc" / "models" / record["name"] / "autoattack" / "batch_00000.pt").is_file()


def test_flatness_reports_every_measured_epoch_and_the_verdicts(patterns_npz, tmp_path) -> None:
    cfg = flatness_config(dataset="npz", dataset_options=npz_options(patterns_npz), train_size=400,
                          variants=("normal", "adversarial", "awp"), epochs=3, evaluate_every=2,
                          train_attack={"steps": 2}, examples=40, robust_attack={"steps": 2}, average_samples=2, worst_passes=1)
    metrics = flatness.run(cfg, tmp_path / "fl", progress=False)
    assert [(r["variant"], r["epoch"]) for r in metrics["records"]] == [
        (v, e) for v in ("normal", "adversarial", "awp") for e in (2, 3)]
    report = (tmp_path / "fl" / "report.md").read_text()
    for r in metrics["records"]:
        assert "per_example" not in r  # kept in the per-epoch files only
        assert r["robust_generalization_gap"] == pytest.approx(r["test_robust_loss"] - r["train_robust_loss"])
        assert_row(report, r["epoch"], r["train_robust_loss"], r["test_robust_loss"], r["robust_generalization_gap"],
                   r["test_accuracy"], r["test_robust_accuracy"], r["average_flatness"], r["worst_case_flatness"])
        cached = json.loads((tmp_path / "fl" / "models" / r["variant"] / f"flatness_epoch_{r['epoch']}.json").read_text())
        assert len(cached["per_example"]["worst_case_robust_loss"]) == 40
        # three independent searches (the default), each its own per-image losses; the mean and the failures
        searches = cached["per_example"]["worst_case_robust_loss_searches"]
        base = cached["per_example"]["test_robust_loss"]
        found = [sum(w) / 40 - sum(base) / 40 for w in searches]
        assert len(searches) == 3 and r["worst_case_searches"] == pytest.approx(found, abs=1e-4)
        assert r["worst_case_flatness"] == pytest.approx(sum(found) / 3, abs=1e-4)
        assert r["failed_searches"] == sum(f < 0 for f in r["worst_case_searches"])
        assert sum(cached["per_example"]["test_robust_loss"]) / 40 == pytest.approx(r["test_robust_loss"], abs=1e-4)
    verdicts = metrics["verdicts"]
    for variant, test in verdicts["robust"].items():
        assert (variant in verdicts["robust_variants"]) == (test["outcome"] == "holds" and variant != "normal")
        assert test["test"] in report
    for key, claim in verdicts["claims"].items():
        assert f"**Verdict: {claim['verdict']}**" in report
    for name in ("epochs", "flatness_vs_gap"):
        assert_png(tmp_path / "fl" / metrics["figures"][name])
    assert (tmp_path / "fl" / "models" / "awp" / "checkpoints" / "epoch_3.pt").is_file()
    again = flatness.run(cfg, tmp_path / "fl", resume=True, progress=False)  # every epoch reloaded
    assert again["records"] == metrics["records"]
    assert not metrics["resumed"] and again["resumed"]
    assert "(resumed: " in (tmp_path / "fl" / "report.md").read_text() and "(resumed: " not in report
    with pytest.raises(ValueError, match=r"evaluate_every must be >= 1, got 0"):
        flatness_config(evaluate_every=0)


def test_flatness_lists_autoattack_per_variant(tiny_fonts, tmp_path) -> None:
    cfg = flatness_config(dataset="fonts", dataset_options=tiny_fonts, train_size=300, variants=("adversarial",),
                          epochs=1, train_attack={"steps": 2}, examples=20, robust_attack={"steps": 2}, average_samples=1,
                          worst_passes=1, autoattack_examples=10)
    metrics = flatness.run(cfg, tmp_path / "fl", progress=False)
    auto = metrics["autoattack"]["adversarial"]
    assert auto["examples"] == 10 and list(auto["robust_accuracy_after"]) == ["APGD-CE", "APGD-T", "FAB-T", "Square"]
    report = (tmp_path / "fl" / "report.md").read_text()
    assert "## AutoAttack" in report
    assert_row(report, "regular AT", 10, auto["clean_accuracy"], *auto["robust_accuracy_after"].values())
    cached = json.loads((tmp_path / "fl" / "models" / "adversarial" / "autoattack.json").read_text())
    assert cached["robust_accuracy_after"] == auto["robust_accuracy_after"]
    assert flatness.run(cfg, tmp_path / "fl", resume=True, progress=False)["autoattack"] == metrics["autoattack"]


def test_spectra_compare_normal_and_adversarial_training(patterns_npz, tmp_path) -> None:
    cfg = spectra_config(dataset="npz", dataset_options=npz_options(patterns_npz), train_size=400, epochs=2,
                         train_attack={"steps": 2}, jacobian_examples=3, confidence_examples=100)
    metrics = spectra.run(cfg, tmp_path / "sp", progress=False)
    results = metrics["results"]
    report = (tmp_path / "sp" / "report.md").read_text()
    normal, adversarial = results["normal"], results["adversarial"]
    # (a): the paired confidence difference over the same test images, recomputed here
    difference = np.subtract(normal["confidence"]["test"]["max_probability"],
                             adversarial["confidence"]["test"]["max_probability"])
    (confidence_test,) = metrics["verdicts"]["less_confident"]["tests"]
    assert confidence_test["estimate"]["value"] == pytest.approx(difference.mean())
    half = scipy.stats.t.ppf(0.975, difference.size - 1) * difference.std(ddof=1) / np.sqrt(difference.size)
    assert confidence_test["estimate"]["low"] == pytest.approx(difference.mean() - half)
    expected = ("holds" if difference.mean() - half > 0 else "does not hold" if difference.mean() + half < 0
                else "inconclusive")
    assert metrics["verdicts"]["less_confident"]["verdict"] == expected
    last = metrics["verdicts"]["last_layer"]
    (smooth_test,) = metrics["verdicts"]["smoother"]["tests"]
    largest = [layer["jacobian_largest"]["per_image"] for layer in (normal["layers"][last], adversarial["layers"][last])]
    assert len(largest[0]) == 3
    assert smooth_test["estimate"]["value"] == pytest.approx(np.mean(largest[0]) - np.mean(largest[1]))
    for verdict in ("less_confident", "smoother"):
        assert f"**Verdict: {metrics['verdicts'][verdict]['verdict']}**" in report
    for name, layer in normal["layers"].items():
        assert layer["weight"]["largest"] == max(layer["weight"]["singular_values"])
        spread = layer["jacobian_largest"]
        assert spread["std_over_images"] == pytest.approx(np.std(spread["per_image"], ddof=1))
        assert spread["mean"]["value"] == pytest.approx(layer["jacobian"]["largest"])
        assert_row(report, name, "normal", layer["weight"]["largest"], layer["weight"]["std"],
                   interval(spread["mean"]), spread["std_over_images"], layer["jacobian"]["std"],
                   layer["jacobian"]["condition"])
    assert_row(report, "regular AT", "test", adversarial["confidence"]["test"]["accuracy"],
               adversarial["confidence"]["test"]["mean_max_probability"],
               adversarial["confidence"]["test"]["mean_logit_margin"])
    assert_png(tmp_path / "sp" / metrics["figures"]["spectra"])


def test_every_experiment_has_quick_and_paper_presets() -> None:
    for experiment in EXPERIMENTS.values():
        assert {"quick", "paper"} <= set(experiment.presets)
        quick, paper = experiment.config("quick"), experiment.config("paper")
        # flatness needs AT that becomes robust on a CPU: Fashion-MNIST at ε = 0.1 (FONTS is an option)
        assert quick.dataset == ("fashion-mnist" if experiment.name == "flatness" else "fonts") and quick != paper
