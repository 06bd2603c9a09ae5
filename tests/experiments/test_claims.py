"""The claims experiment end to end with tiny configs: report.md's numbers are metrics.json's, the verdicts
follow the stated criteria, and interrupted runs resume."""

from __future__ import annotations

import json
import math

import pytest

from pyadvman.experiments import claims_config
from pyadvman.experiments.claims import CHANCE_MARGIN, CLAIM2_MIN_SUCCESS, CLAIM3_MIN_CORRELATION, run
from pyadvman.experiments.report import fmt

from .conftest import assert_png, assert_row, npz_options, section

TINY = {"train_sizes": (300, 600), "epochs": 2, "train_attack_steps": 2, "validation_attack_steps": 2,
        "attack_steps": 3, "attack_examples": 60, "distance_examples": 40, "projection_steps": 5}


@pytest.fixture(scope="module")
def fonts_run(tiny_fonts, tmp_path_factory):
    out = tmp_path_factory.mktemp("claims") / "run"
    cfg = claims_config("quick", dataset_options=tiny_fonts, **TINY)
    return cfg, run(cfg, out, progress=False), out


def _mean(values):
    return sum(values) / len(values)


def test_metrics_json_holds_what_run_returns(fonts_run) -> None:
    _, metrics, out = fonts_run
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert json.loads((out / "config.json").read_text())["train_sizes"] == [300, 600]
    assert metrics["manifold"] == "true"
    names = {r["name"] for r in metrics["models"]}
    assert names == {f"{v}-n{n}-seed0" for v in ("normal", "adversarial", "on_manifold") for n in (300, 600)}
    for record in metrics["models"]:
        final = json.loads((out / "models" / record["name"] / "final.json").read_text())
        assert record["test_error"] == final["test_error"] and record["robust_accuracy"] == final["robust_accuracy"]
        assert 0 <= record["on_manifold_success_rate"] <= 1
    for name in metrics["figures"].values():
        assert_png(out / name)


def test_report_gives_each_claims_numbers_from_metrics(fonts_run) -> None:
    _, metrics, out = fonts_run
    report = (out / "report.md").read_text()
    claims = metrics["claims"]
    one = section(report, "## Claim 1")
    for label, key in (("median normalised residual", "median_normalised_residual"), ("median angle", "median_angle"),
                       ("median distance to the true manifold", "median_true_manifold_distance")):
        reg, on = claims["1"]["pooled"]["regular"][key], claims["1"]["pooled"]["on_manifold"][key]
        assert f"| {fmt(reg)} | {fmt(on)} |" in one and label in one
    two = section(report, "## Claim 2")
    for n, value in claims["2"]["on_manifold_success_rate"].items():
        assert_row(two, n, value)
    three = section(report, "## Claim 3")
    for n, errors in claims["3"]["test_error"].items():
        assert_row(three, n, errors["normal"], errors["on_true_manifold"])
    if claims["3"]["fit"] is not None:
        assert f"Pearson r = {fmt(claims['3']['fit']['pearson_r'])}" in three
    four = section(report, "## Claim 4")
    for n, row in claims["4"]["per_size"].items():
        assert_row(four, n, row["normal_test_error"], row["adversarial_test_error"], row["test_error_penalty"],
                   row["normal_robust_accuracy"], row["adversarial_robust_accuracy"])
    for key, text in (("1", one), ("2", two), ("3", three), ("4", four)):
        assert {True: "**Holds: yes**", False: "**Holds: no**"}[claims[key]["holds"]] in text
        assert "![claim" in text or key == "3"


def test_verdicts_follow_the_stated_criteria(fonts_run) -> None:
    _, metrics, _ = fonts_run
    models, claims = metrics["models"], metrics["claims"]

    def per_size(objective, metric):
        return {n: _mean([r[metric] for r in models if r["objective"] == objective and r["train_size"] == n])
                for n in (300, 600)}

    normal_success = per_size("normal", "on_manifold_success_rate")
    assert claims["2"]["holds"] == all(v >= CLAIM2_MIN_SUCCESS for v in normal_success.values())
    normal_error, on_error = per_size("normal", "test_error"), per_size("on_true_manifold", "test_error")
    pooled = claims["1"]["pooled"]
    assert claims["1"]["holds"] == (
        pooled["regular"]["median_normalised_residual"] > pooled["on_manifold"]["median_normalised_residual"]
        and pooled["regular"]["median_angle"] > pooled["on_manifold"]["median_angle"])
    # the distances of regular examples are kNN and true-manifold distances of successful examples only
    for entry in metrics["distances"].values():
        for kind in ("regular", "on_manifold"):
            assert len(entry[kind].get("angle", [])) == entry[kind]["examples"] <= 40
            assert all(0 <= a <= 90 for a in entry[kind].get("angle", []))
    fitted = [r for r in models if r["test_accuracy"] > 0.1 + CHANCE_MARGIN]  # 10 letters: chance 0.1
    assert claims["3"]["excluded_from_fit"] == [r["name"] for r in models if r not in fitted]
    xs = [r["test_error"] for r in fitted]
    ys = [r["on_manifold_success_rate"] for r in fitted]
    improved = sum(on_error[n] <= normal_error[n] for n in (300, 600))
    if len(set(xs)) < 2:
        assert claims["3"]["fit"] is None and claims["3"]["holds"] is False
        return
    mx, my = _mean(xs), _mean(ys)
    r = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(
        sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))
    assert claims["3"]["fit"]["pearson_r"] == pytest.approx(r, rel=1e-9) and claims["3"]["fit"]["n"] == len(fitted)
    assert claims["3"]["holds"] == (2 * improved >= 2 and r >= CLAIM3_MIN_CORRELATION)


def test_resume_reuses_finished_work_and_guards_the_folder(fonts_run) -> None:
    cfg, metrics, out = fonts_run
    model_file = out / "models" / "normal-n300-seed0" / "model.pt"
    stamp = model_file.stat().st_mtime_ns
    (out / "models" / "adversarial-n600-seed0" / "evaluation.json").unlink()
    (out / "models" / "normal-n600-seed0" / "distances.json").unlink()
    (out / "report.md").unlink()
    again = run(cfg, out, resume=True, progress=False)
    assert model_file.stat().st_mtime_ns == stamp
    assert [r["test_error"] for r in again["models"]] == [r["test_error"] for r in metrics["models"]]
    assert (out / "report.md").is_file() and (out / "models" / "normal-n600-seed0" / "distances.json").is_file()
    with pytest.raises(FileExistsError, match="already holds a run"):
        run(cfg, out, progress=False)
    with pytest.raises(ValueError, match=r"fields \['epochs'\] differ"):
        run(claims_config("quick", dataset_options=cfg.dataset_options, **{**TINY, "epochs": 3}), out, resume=True,
            progress=False)


def test_claims_on_a_user_npz_use_the_learned_manifold(patterns_npz, tmp_path) -> None:
    cfg = claims_config("quick", dataset="npz", dataset_options=npz_options(patterns_npz),
                        vae_gan_options={"epochs": 1, "channels": 4, "latent": 4, "max_examples": 120},
                        **{**TINY, "train_sizes": (200, 400)})
    metrics = run(cfg, tmp_path / "npz", progress=False)
    assert metrics["manifold"] == "learned"
    assert {r["objective"] for r in metrics["models"]} == {"normal", "adversarial", "on_learned_manifold"}
    entry = next(iter(metrics["distances"].values()))["on_manifold"]
    assert "true_manifold_distance" not in entry
    assert entry["examples"] == 0 or len(entry["learned_manifold_distance"]) == entry["examples"]
    report = (tmp_path / "npz" / "report.md").read_text()
    assert "on-learned-manifold AT" in report
    for n, errors in metrics["claims"]["3"]["test_error"].items():
        assert_row(section(report, "## Claim 3"), n, errors["normal"], errors["on_learned_manifold"])
    assert (tmp_path / "npz" / "manifold" / "manifold.pt").is_file()


def test_config_errors_name_the_field(patterns_npz, tmp_path) -> None:
    with pytest.raises(ValueError, match="variants must be a non-empty tuple"):
        claims_config(variants=("normal", "bogus"))
    with pytest.raises(ValueError, match=r"unknown ClaimsConfig field\(s\) \['epoch'\]"):
        claims_config(epoch=3)
    with pytest.raises(ValueError, match="preset must be one of"):
        claims_config("fast")
    cfg = claims_config(dataset="npz", dataset_options=npz_options(patterns_npz), variants=("on_true_manifold",),
                        train_sizes=(100,))
    with pytest.raises(ValueError, match="has no known renderer"):
        run(cfg, tmp_path / "bad", progress=False)
    cfg = claims_config(dataset="npz", dataset_options=npz_options(patterns_npz), train_sizes=(100, 5000))
    with pytest.raises(ValueError, match=r"train_sizes must be <= 750 \(the training split of 'npz'\), got \(100, 5000\)"):
        run(cfg, tmp_path / "big", progress=False)


def test_claims_on_an_npz_sorted_by_class_run_to_their_report(tmp_path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 350)  # sorted by class, as many exported datasets are
    images = rng.integers(0, 80, (labels.size, 16, 16))
    for k in range(3):
        images[labels == k, 2 + 5 * k:5 + 5 * k, 2:14] += 150
    path = tmp_path / "sorted.npz"
    np.savez(path, images=images.astype(np.uint8), labels=labels)
    cfg = claims_config("quick", dataset="npz", dataset_options={"path": str(path)},
                        vae_gan_options={"epochs": 1, "channels": 4, "latent": 4, "max_examples": 120},
                        **{**TINY, "variants": ("normal", "adversarial"), "train_sizes": (300,)})
    metrics = run(cfg, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "report.md").is_file()
    data = json.loads((tmp_path / "run" / "data.json").read_text())
    assert data["provenance"]["split"] == "stratified"
    assert data["splits"]["test"]["examples_per_class"] == [50, 50, 50]  # 1,050 // 7, in proportion
    normal = next(r for r in metrics["models"] if r["objective"] == "normal")
    assert normal["test_accuracy"] > 0.9  # with the old split the test set held one class never trained on
    np.savez(path, images=images[::-1].astype(np.uint8), labels=labels[::-1])
    with pytest.raises(ValueError, match="was started on other data than given now"):
        run(cfg, tmp_path / "run", resume=True, progress=False)
