"""The claims experiment end to end with tiny configs: report.md's numbers are metrics.json's, the verdicts
follow the stated criteria, and interrupted runs resume."""

from __future__ import annotations

import json
import math

import pytest

from pyadvman._atomic import to_json
from pyadvman.experiments import claims_config
from pyadvman.experiments.claims import run
from pyadvman.experiments.claims_criteria import evaluate_claims
from pyadvman.experiments.records import ModelDistances, ModelRecord
from pyadvman.experiments.report import interval

from .conftest import assert_png, assert_row, npz_options, section

# one seed and three variants (Madry AT as the robust one) keep the end-to-end tests short
TINY = {"train_sizes": (300, 600), "seeds": (0,), "variants": ("normal", "madry", "on_manifold"), "epochs": 2, "train_attack": {"steps": 2}, "eval_attack": {"steps": 3, "restarts": 2},
        "strong_attack": {"steps": 3, "restarts": 2}, "apgd_attack": {"steps": 3}, "regular_examples": 60,
        "on_manifold_examples": 80, "distance_examples": 40, "projection_steps": 5,
        "strong_on_manifold_attack": {"steps": 3, "restarts": 2}}


@pytest.fixture(scope="module")
def fonts_run(tiny_fonts, tmp_path_factory):
    out = tmp_path_factory.mktemp("claims") / "run"
    cfg = claims_config("quick", dataset_options=tiny_fonts, **TINY)
    return cfg, run(cfg, out, progress=False), out


def test_metrics_json_holds_what_run_returns(fonts_run) -> None:
    _, metrics, out = fonts_run
    assert json.loads((out / "metrics.json").read_text()) == json.loads(to_json(metrics))
    config = json.loads((out / "config.json").read_text())
    assert config["train_sizes"] == [300, 600] and config["eval_attack"]["restarts"] == 2
    assert metrics["manifold"] == "true"
    data = json.loads((out / "data.json").read_text())  # the run's own record keeps the path it read
    assert metrics["data"] == {**data, "provenance": {**data["provenance"], "source": data["provenance"]["source"].split("/")[-1]}}
    assert "/" not in metrics["data"]["provenance"]["source"]  # no machine path in a result
    assert metrics["data"]["provenance"]["fonts"]["count"] > 0
    names = {r["name"] for r in metrics["models"]}
    assert names == {f"{v}-n{n}-seed0" for v in ("normal", "madry", "on_manifold") for n in (300, 600)}
    for record in metrics["models"]:
        final = json.loads((out / "models" / record["name"] / "final.json").read_text())
        assert record["test_error"] == final["test_error"] and final["robust_accuracy"] is None  # the study attacks
        regular, on = record["attacks"]["regular"], record["attacks"]["on_manifold"]
        assert (regular["examples"], regular["restarts"], on["examples"]) == (60, 2, 80)
        assert regular["success_rate"] == pytest.approx(regular["successful_pairs"] / (2 * regular["clean_correct"]))
        assert set(record["attacks"]) == {"regular", "on_manifold", "strong_pgd", "apgd", "strong_on_manifold"}
        assert record["attacks"]["strong_on_manifold"]["examples"] == 60  # on the regular examples
    for name in metrics["figures"].values():
        assert_png(out / name)


def _wilson(k, n, z=1.959963984540054):
    p = k / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def test_report_gives_each_claims_numbers_with_intervals(fonts_run) -> None:
    _, metrics, out = fonts_run
    report = (out / "report.md").read_text()
    claims = metrics["claims"]
    one = section(report, "## Claim 1")
    for measure in claims["1"]["tested_measures"]:
        assert interval(claims["1"]["medians"]["regular"][measure]) in one
    assert claims["1"]["tested_measures"] == ["true_manifold_distance", "normalised_residual"]
    assert interval(claims["1"]["medians"]["sign_noise"]["normalised_residual"]) in one  # the null control
    for test in claims["1"]["null_control"]:
        assert f"| {test['test']} | {interval(test['estimate'])} |" in one
    two = section(report, "## Claim 2")
    normal = {r["train_size"]: r for r in metrics["models"] if r["objective"] == "normal"}
    paper, strong = claims["2"]["protocols"]["paper"], claims["2"]["protocols"]["strong"]
    for n, value in paper["success_rate"].items():
        counts = normal[int(n)]["attacks"]["on_manifold"]
        low, high = _wilson(counts["success_rate"] * counts["clean_correct"], counts["clean_correct"])
        assert value["low"] == pytest.approx(low) and value["high"] == pytest.approx(high)  # Wilson, n = correct
        assert_row(two, n, interval(value), interval(strong["success_rate"][n]))
        assert strong["success_rate"][n]["value"] == normal[int(n)]["attacks"]["strong_on_manifold"]["success_rate"]
    three = section(report, "## Claim 3")
    for n, errors in claims["3"]["test_error"].items():
        assert_row(three, n, interval(errors["normal"]), interval(errors["on_true_manifold"]))
    four = section(report, "## Claim 4")
    assert claims["4"]["variants"] == ["madry"]
    for n, row in claims["4"]["per_size"].items():
        assert_row(four, n, interval(row["normal"]["test_error"]), interval(row["madry"]["test_error"]))
    for key, text in (("1", one), ("2", two), ("3", three), ("4", four)):
        assert f"**Verdict: {claims[key]['verdict']}**" in text and "**Criterion**" in text
        assert "**The paper's claim**" in text
        judged = claims[key].get("protocols", {"paper": claims[key]}).values()
        for test in (t for protocol in judged for t in protocol["tests"]):
            assert f"| {test['test']} | {interval(test['estimate'])} |" in text
        if key != "1":  # judged under both protocols, the claim's verdict the strong one's
            assert claims[key]["protocol"] == "strong" and claims[key]["verdict"] == claims[key]["protocols"]["strong"]["verdict"]
            assert "**Under the paper's attacks**" in text and "**Under the strong attacks**" in text
    made = metrics["provenance"]
    assert f"Made by pyadvman {made['pyadvman']}" in report and f"criteria version {made['criteria_version']}" in report
    assert "## The learned manifold" not in report  # FONTS: the true manifold
    strong = section(report, "## The strong evaluation")
    for record in metrics["models"]:
        assert_row(strong, record["name"], record["test_error"], record["attacks"]["regular"]["success_rate"])


def test_verdicts_are_the_criteria_of_the_records(fonts_run) -> None:
    _, metrics, _ = fonts_run
    records = [ModelRecord.from_dict(r) for r in metrics["models"]]
    distances = {name: ModelDistances.from_dict(d) for name, d in metrics["distances"].items()}
    again = evaluate_claims(records, distances, "true", 10, 16 * 16)
    assert json.loads(to_json(again)) == json.loads(to_json(metrics["claims"]))
    for claim in metrics["claims"].values():
        assert claim["verdict"] in ("holds", "does not hold", "inconclusive")
    # the distances are those of successful examples only
    for entry in metrics["distances"].values():
        for kind in ("regular", "on_manifold"):
            assert len(entry[kind].get("angle", [])) == entry[kind]["examples"] <= 40
            assert all(0 <= a <= 90 for a in entry[kind].get("angle", []))


def test_resume_reuses_finished_work_and_guards_the_folder(fonts_run) -> None:
    cfg, metrics, out = fonts_run
    model_file = out / "models" / "normal-n300-seed0" / "model.pt"
    stamp = model_file.stat().st_mtime_ns
    (out / "models" / "madry-n600-seed0" / "evaluation.json").unlink()
    (out / "models" / "normal-n600-seed0" / "distances.json").unlink()
    (out / "report.md").unlink()
    again = run(cfg, out, resume=True, progress=False)
    assert model_file.stat().st_mtime_ns == stamp
    assert [r["test_error"] for r in again["models"]] == [r["test_error"] for r in metrics["models"]]
    index = [r["name"] for r in metrics["models"]].index("madry-n600-seed0")
    assert again["models"][index]["attacks"] == metrics["models"][index]["attacks"]  # the re-evaluated model, seeded
    assert "first_rendering" not in again  # the same code rendered it
    assert (out / "report.md").is_file() and (out / "models" / "normal-n600-seed0" / "distances.json").is_file()
    with pytest.raises(FileExistsError, match="already holds a run"):
        run(cfg, out, progress=False)
    with pytest.raises(ValueError, match=r"fields \['epochs'\] differ"):
        run(claims_config("quick", dataset_options=cfg.dataset_options, **{**TINY, "epochs": 3}), out, resume=True,
            progress=False)


def test_a_report_rendered_again_by_other_code_keeps_the_first_verdicts(fonts_run) -> None:
    cfg, metrics, out = fonts_run
    earlier = json.loads((out / "metrics.json").read_text())
    earlier["provenance"] = {**earlier["provenance"], "commit": "0123456789abcdef", "criteria_version": 1}
    earlier["claims"]["2"]["verdict"] = "verdict of the old criteria"
    (out / "metrics.json").write_text(json.dumps(earlier))
    again = run(cfg, out, resume=True, progress=False)
    first = again["first_rendering"]
    assert first["provenance"]["commit"] == "0123456789abcdef" and first["verdicts"]["2"] == "verdict of the old criteria"
    report = (out / "report.md").read_text()
    assert "**Rendered again by later code.**" in report and "commit 0123456789ab" in report
    assert "claim 2: verdict of the old criteria" in report
    third = run(cfg, out, resume=True, progress=False)  # the first rendering survives further renderings
    assert json.loads(to_json(third["first_rendering"])) == json.loads(to_json(first))


def test_claims_on_a_user_npz_use_the_learned_manifold(patterns_npz, tmp_path) -> None:
    cfg = claims_config("quick", dataset="npz", dataset_options=npz_options(patterns_npz),
                        vae_gan_options={"epochs": 1, "channels": 4, "latent": 4, "max_examples": 120},
                        **{**TINY, "variants": ("normal", "adversarial", "on_manifold", "reconstruction"),
                           "train_sizes": (200, 400), "on_manifold_examples": 30})
    metrics = run(cfg, tmp_path / "npz", progress=False)
    assert metrics["manifold"] == "learned" and metrics["resumed"] is False
    for record in metrics["models"]:  # both on-manifold attacks on the first 30 images, the others on 60
        attacks = record["attacks"]
        assert (attacks["on_manifold"]["examples"], attacks["strong_on_manifold"]["examples"],
                attacks["strong_pgd"]["examples"]) == (30, 30, 60)
    assert {r["objective"] for r in metrics["models"]} == {"normal", "adversarial", "on_learned_manifold",
                                                            "reconstruction"}
    entry = next(iter(metrics["distances"].values()))["on_manifold"]
    assert "true_manifold_distance" not in entry
    assert entry["examples"] == 0 or len(entry["learned_manifold_distance"]) == entry["examples"]
    report = (tmp_path / "npz" / "report.md").read_text()
    assert "on-learned-manifold AT" in report
    assert "on the first 60 test images; on the manifold signed PGD" in report and "on the first 30. " in report
    for n, errors in metrics["claims"]["3"]["test_error"].items():
        assert_row(section(report, "## Claim 3"), n, interval(errors["normal"]),
                   interval(errors["on_learned_manifold"]))
    assert metrics["claims"]["1"]["tested_measures"] == ["normalised_residual"]
    assert (tmp_path / "npz" / "manifold" / "manifold.pt").is_file()
    control = metrics["claims"]["3"]["control"]  # the reconstruction control beside on-manifold AT
    assert set(control) == {"200", "400"} and "The control" in section(report, "## Claim 3")
    for n, row in control.items():
        assert_row(section(report, "## Claim 3"), n, interval(row["reconstruction"]),
                   interval(row["reconstruction − normal"]))
    quality = metrics["learned_manifold"]
    assert quality["examples"] == 150 and quality["vae_gan"]["channels"] == 4  # the whole test split
    learned = section(report, "## The learned manifold")
    assert interval(quality["median_distance"]["reconstruction_to_train"]) in learned


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
