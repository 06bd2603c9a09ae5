"""The `paper` preset is the released code's protocol (Stutz et al., CVPR 2019), field by field, and
docs/protocol.md says so truthfully."""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from pyadvman.experiments import claims_config, sample_complexity_config
from pyadvman.manifolds.vae_gan import vae_gan_config

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"

# Read from davidstutz/disentangling-robustness-generalization, written here on their own (not from the presets).
RELEASED_ATTACKS = {
    "eval_attack": {"update": "adam", "lr": 0.005, "steps": 40, "restarts": 5, "start": "radial",
                    "keep": "first_success", "step_size": None, "noise_scale": 0.0, "early_stop": False},
    "train_attack": {"update": "adam", "lr": 0.005, "steps": 40, "restarts": 1, "start": "radial",
                     "keep": "last_then_loss", "step_size": None, "noise_scale": 0.0, "early_stop": False},
}
RELEASED_STUDY = {"epsilon": 0.3, "eta": 0.3, "regular_examples": 1000, "on_manifold_examples": 2500, "epochs": 20,
                  "model": "standard", "stn_steps": "separate", "model_options": {"init": "released"},
                  "lr_schedule": "batch", "seeds": (0, 1, 2, 3, 4),
                  "train_sizes": (250, 500, 1000, 1500, 2000, 2500, 5000, 7500, 10000, 15000, 20000, 30000, 40000)}
RELEASED_TRAINING = {"optimizer": "adam", "betas": (0.5, 0.9), "weight_decay": 1e-4, "lr": 0.01, "lr_decay": 0.95,
                     "batch_size": 100, "selection": "last", "adversarial_fraction": 0.5, "epochs": 20}


@pytest.mark.parametrize("config", [claims_config, sample_complexity_config])
def test_the_paper_preset_is_the_released_protocol(config) -> None:
    cfg = config("paper")
    for name, fields in RELEASED_ATTACKS.items():
        assert asdict(getattr(cfg, name)) == fields, name
    for name, value in RELEASED_STUDY.items():
        assert getattr(cfg, name) == value, name
    if config is claims_config:  # the "inclusive nn" search of the released detect_attack_classifier_nn.py
        assert (cfg.knn_k, cfg.knn_pca) == (50, 40)
    for objective in ("normal", "adversarial", "on_true_manifold"):
        train = cfg.model_train_config(objective, 500, 0)
        for name, value in RELEASED_TRAINING.items():
            assert getattr(train, name) == value, (objective, name)
        assert asdict(train.train_attack) == RELEASED_ATTACKS["train_attack"]
        assert train.epsilon == 0.3 and train.eval_examples == 0  # the study attacks the model itself
    # per batch: lr·0.95^(epoch + 1 + b/B), the first batch already at 0.0095, never below 1e-7
    assert train.lr_at(0, 0, 10) == pytest.approx(0.0095)
    assert train.lr_at(2, 5, 10) == pytest.approx(0.01 * 0.95 ** 3.5)
    assert train.lr_at(10**4, 0, 10) == 1e-7


def _table_rows() -> list[list[str]]:
    """The rows of the Attacks and Training tables: [released code setting, pyadvman field, value]."""
    rows = []
    for line in PROTOCOL_DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("`"):
            rows.append(cells)
    return rows


def test_every_row_cites_the_released_file_and_line() -> None:
    rows = _table_rows()
    assert len(rows) >= 20
    for setting, _, _ in rows:
        assert re.search(r"[\w/]+\.(py|md):\d+", setting), f"no file:line citation in {setting!r}"


def _doc_rows() -> list[tuple[list[str], list[str]]]:
    rows = []
    for cells in _table_rows():
        if "(every attack)" not in cells[2]:
            fields = re.findall(r"`([^`]+)`", cells[1])
            values = [v.strip() for v in cells[2].split(";")]
            rows.append((fields, values))
    return rows


def _value(text: str) -> object:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def test_the_protocol_page_states_the_resolved_paper_preset() -> None:
    cfg = claims_config("paper")
    train = cfg.model_train_config("adversarial", 500, 0)
    rows = _doc_rows()
    assert len(rows) >= 14
    checked = set()
    for fields, values in rows:
        assert len(fields) == len(values), (fields, values)
        for field, text in zip(fields, values):
            owner, name = (train, field[len("train."):]) if field.startswith("train.") else (cfg, field)
            for part in name.split(".")[:-1]:
                owner = getattr(owner, part)
            assert getattr(owner, name.split(".")[-1]) == _value(text), field
            checked.add(field)
    for name, fields in RELEASED_ATTACKS.items():  # every released attack setting is on the page
        assert {f"{name}.{key}" for key in fields if key != "step_size"} <= checked
    assert {f"train.{key}" for key in RELEASED_TRAINING if key != "epochs"} <= checked


@pytest.mark.parametrize("config", [claims_config, sample_complexity_config])
def test_the_quick_preset_is_the_standard_one_cut_as_docs_protocol_md_says(config) -> None:
    quick, standard = config("quick"), config("standard")
    section = PROTOCOL_DOC.read_text().split("## The quick and standard presets", 1)[1].split("\n## ", 1)[0]
    sizes = re.search(r"The quick preset .*?N ∈ \{([\d, ]+)\} and ([\d,]+) test images", section, re.DOTALL)
    numbers = [int(n.replace(",", "")) for n in re.split(r", (?=\d)", sizes.group(1))]
    assert quick.train_sizes == tuple(numbers)
    assert quick.regular_examples == quick.on_manifold_examples == int(sizes.group(2).replace(",", ""))
    assert "N ∈ {500, 2,500, 10,000}" in section and "500\nregular and 1,250 on-manifold" in section
    assert (standard.train_sizes, standard.regular_examples, standard.on_manifold_examples) == \
        ((500, 2500, 10000), 500, 1250)
    differing = {f for f in asdict(quick) if getattr(quick, f) != getattr(standard, f)}
    assert differing == {"train_sizes", "regular_examples", "on_manifold_examples"}


@pytest.mark.parametrize("config", [claims_config, sample_complexity_config])
def test_the_quick_preset_on_a_learned_manifold_is_cut_as_docs_protocol_md_says(config) -> None:
    section = PROTOCOL_DOC.read_text().split("## The quick and standard presets", 1)[1].split("\n## ", 1)[0]
    text = section.split("On a learned manifold", 1)[1]
    sizes = re.search(r"N ∈ \{([\d, ]+)\}, and (\d+) test images\non the manifold .*?\((\d+) off it.*?first (\d+) test "
                      r"images in claim 1's distances \(otherwise (\d+)\)", text, re.DOTALL)
    numbers = [int(n.replace(",", "")) for n in re.split(r", (?=\d)", sizes.group(1))]
    on_manifold, regular, distances, fonts_distances = (int(sizes.group(k)) for k in (2, 3, 4, 5))
    for learned in (config("quick", dataset="fashion-mnist"), config("quick", dataset="npz", manifold="auto"),
                    config("quick", manifold="learned")):
        fonts = config("quick")
        assert (learned.train_sizes, learned.on_manifold_examples, learned.regular_examples) == \
            (tuple(numbers), on_manifold, regular)
        assert learned.strong_on_manifold_examples == on_manifold and fonts.strong_on_manifold_examples == 250
        differing = {f for f in asdict(learned) if getattr(learned, f) != getattr(fonts, f)}
        assert differing - {"dataset", "manifold"} == {"train_sizes", "on_manifold_examples"} | \
            ({"distance_examples"} if config is claims_config else set())
        if config is claims_config:
            assert (learned.distance_examples, fonts.distance_examples) == (distances, fonts_distances)
    assert config("standard", dataset="fashion-mnist") == replace(config("standard"), dataset="fashion-mnist")
    assert "16 channels" in text and vae_gan_config("quick", "fashion-mnist").channels == 16
