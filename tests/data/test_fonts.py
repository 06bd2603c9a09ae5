"""FONTS: font discovery and selection on the fonts matplotlib ships, dataset generation, caching, resume."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import pyadvman.data.fonts as fonts_module
from pyadvman.data import FontsConfig, available_fonts, fonts_config, generate_fonts, load_dataset, load_fonts
from pyadvman.data.font_files import FontFace, discover_fonts, package_font_files
from pyadvman.data.font_glyphs import GlyphError, render_glyphs
from pyadvman.data.font_selection import duplicate_of, illegible_letters, select_fonts
from pyadvman.data.image_tiles import fonts_contact_sheet
from pyadvman.folder_lock import waiting_lock
from pyadvman.manifolds import FontsRenderer, theta_preset

MATPLOTLIB_FONTS = sorted({p.parent for p in package_font_files() if "matplotlib" in str(p)})


@pytest.fixture(scope="module")
def font_dir(tmp_path_factory) -> Path:
    """A user font folder: matplotlib's DejaVu and Computer Modern faces, plus a renamed copy of one face."""
    folder = tmp_path_factory.mktemp("fonts")
    for source in MATPLOTLIB_FONTS:
        for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSans-Oblique.ttf",
                     "DejaVuSerif-Bold.ttf", "DejaVuSans-BoldOblique.ttf", "STIXGeneralBol.ttf", "cmss10.ttf",
                     "cmex10.ttf", "LastResortHE-Regular.ttf", "STIXSizOneSymReg.ttf"):
            if (source / name).is_file():
                shutil.copy(source / name, folder / name)
    shutil.copy(folder / "DejaVuSans.ttf", folder / "ZZCopyOfDejaVuSans.ttf")
    (folder / "notafont.ttf").write_bytes(b"not a font")
    return folder


def _config(font_dir: Path, cache: Path, **fields) -> FontsConfig:
    base = {"font_dirs": (str(font_dir),), "system_fonts": False, "transforms": 5, "test_transforms": 2,
            "validation_transforms": 1, "size": 16, "cache_dir": str(cache)}
    return FontsConfig(**{**base, **fields})


def test_discovery_finds_package_and_user_fonts(font_dir) -> None:
    faces = discover_fonts([font_dir], system=False, packages=False)
    assert [Path(f.path).name for f in faces] == sorted(p.name for p in font_dir.iterdir())
    assert any("DejaVuSans" in f.path for f in discover_fonts(system=False))  # matplotlib's own copy
    with pytest.raises(FileNotFoundError, match="font_dirs: folder '/no/such/folder' does not exist"):
        discover_fonts(["/no/such/folder"])


def test_glyphs_are_centred_white_on_black_and_in_range(font_dir) -> None:
    glyphs = render_glyphs(FontFace(str(font_dir / "DejaVuSans.ttf")), size=28)
    assert glyphs.shape == (10, 28, 28) and glyphs.dtype == np.float32
    assert glyphs.min() == 0 and glyphs.max() == 1 and glyphs[:, 0, :].max() < 0.5  # ink away from the border
    rows, cols = np.nonzero(glyphs[0] > 0.5)
    assert abs(rows.mean() - 13.5) < 2 and abs(cols.mean() - 13.5) < 2
    with pytest.raises(GlyphError, match="unreadable"):
        render_glyphs(FontFace(str(font_dir / "notafont.ttf")))
    with pytest.raises(GlyphError, match="blank letter 'A'"):
        render_glyphs(FontFace(str(font_dir / "STIXSizOneSymReg.ttf")))


def test_selection_drops_unreadable_blank_duplicate_and_symbol_faces(font_dir) -> None:
    chosen = select_fonts(discover_fonts([font_dir], system=False, packages=False), size=28, progress=False)
    names = {f.name for f in chosen.faces}
    assert {"DejaVuSans", "DejaVuSerif", "DejaVuSans-Bold"} <= names
    reason = {Path(label).stem: why for label, why in chosen.rejected.items()}
    assert reason["ZZCopyOfDejaVuSans"] == f"duplicate of {font_dir / 'DejaVuSans.ttf'}"
    assert reason["notafont"].startswith("unreadable")
    assert reason["STIXSizOneSymReg"] == "blank letter 'A'"
    assert reason["cmex10"].startswith("illegible letters")  # TeX extension symbols, not letters
    assert reason["LastResortHE-Regular"].startswith("illegible letters")
    assert len(chosen) + len(chosen.rejected) == len(list(font_dir.iterdir()))
    assert chosen.prototypes.shape == (len(chosen), 10, 28, 28)


def test_duplicates_and_legibility_on_synthetic_glyphs() -> None:
    rng = np.random.default_rng(0)
    letters = rng.random((10, 12, 12)).astype(np.float32)
    faces = np.stack([np.clip(letters + 0.05 * rng.standard_normal(letters.shape), 0, 1) for _ in range(12)])
    faces = faces.astype(np.float32)
    faces[3] = faces[1] + 1e-3  # a near-copy of face 1
    assert duplicate_of(faces).tolist() == [-1, -1, -1, 1] + [-1] * 8
    shuffled = faces.copy()
    shuffled[5] = faces[5][::-1]  # a face whose "A" looks like everyone's "J" and so on
    bad = illegible_letters(shuffled, neighbours=5)
    assert bad[5].all() and not np.delete(bad, 5, axis=0).any()


def test_generated_dataset_layout_splits_and_renderer(font_dir, tmp_path) -> None:
    cfg = _config(font_dir, tmp_path, num_fonts=3, seed=7)
    data = load_fonts(cfg, progress=False)
    assert data.classes == tuple("ABCDEFGHIJ") and data.prototypes.shape == (3, 10, 16, 16)
    assert (len(data.train), len(data.validation), len(data.test)) == (60, 30, 60)
    assert data.train.images.shape == (60, 1, 16, 16) and data.train.images.dtype == torch.float32
    # row t·F·L + f·L + l holds transform t of (font f, letter l); the label is the letter
    codes = torch.cat([data.train.codes, data.validation.codes, data.test.codes])
    rows = torch.arange(150)
    assert torch.equal(codes[:, 0], rows % 30 // 10) and torch.equal(codes[:, 1], rows % 10)
    assert torch.equal(data.test.labels, data.test.codes[:, 1])
    low, high = theta_preset("hard").bounds()
    theta = torch.cat([data.train.theta, data.validation.theta, data.test.theta])
    assert bool(((theta >= low) & (theta <= high)).all()) and theta.std(0).min() > 0.05
    renderer = FontsRenderer(data.prototypes)
    for split in (data.train, data.validation, data.test):
        rendered = renderer(split.codes[:, 0], split.codes[:, 1], split.theta)
        assert (rendered - split.images).abs().max() <= 1e-5
    assert data.train.first(20).images.shape[0] == 20 and data.train.first(20).theta.shape == (20, 6)
    with pytest.raises(ValueError, match=r"n must be in \[0, 60\] \(the split's size\), got 61"):
        data.train.first(61)


def test_generation_is_deterministic_cached_and_seeded(font_dir, tmp_path) -> None:
    first = generate_fonts(_config(font_dir, tmp_path / "a", num_fonts=2), progress=False)
    again = generate_fonts(_config(font_dir, tmp_path / "a", num_fonts=2), progress=False)
    elsewhere = generate_fonts(_config(font_dir, tmp_path / "b", num_fonts=2), progress=False)
    other_seed = generate_fonts(_config(font_dir, tmp_path / "a", num_fonts=2, seed=1), progress=False)
    assert first == again and other_seed != first
    assert np.array_equal(np.load(first / "images.npy"), np.load(elsewhere / "images.npy"))
    assert not np.array_equal(np.load(first / "theta.npy"), np.load(other_seed / "theta.npy"))
    meta = json.loads((first / "meta.json").read_text())
    assert meta["splits"] == {"train": 40, "validation": 20, "test": 40} and len(meta["fonts"]) == 2


def test_a_generation_waits_for_another_process_rendering_the_same_data_and_reads_it(font_dir, tmp_path,
                                                                                     monkeypatch) -> None:
    finished = generate_fonts(_config(font_dir, tmp_path / "other", num_fonts=2), progress=False)
    cache = tmp_path / "shared"
    cache.mkdir()
    renders = []
    original = FontsRenderer.forward
    monkeypatch.setattr(FontsRenderer, "forward", lambda self, *args: renders.append(1) or original(self, *args))
    result = {}
    with waiting_lock(cache / f"{finished.name}.lock"):  # another process is rendering this very dataset
        waiting = threading.Thread(target=lambda: result.update(path=generate_fonts(
            _config(font_dir, cache, num_fonts=2), progress=False)))
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive() and not renders  # it waits instead of rendering into the same folder
        shutil.copytree(finished, cache / finished.name)  # the other process finishes
    waiting.join(timeout=60)
    assert result["path"] == cache / finished.name and not renders


def test_interrupted_generation_resumes_to_the_same_data(font_dir, tmp_path, monkeypatch) -> None:
    cfg = _config(font_dir, tmp_path / "interrupted", num_fonts=3)
    monkeypatch.setattr(fonts_module, "_CHUNK", 40)
    calls = {"n": 0}
    original = FontsRenderer.forward

    def dies_on_third_chunk(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(FontsRenderer, "forward", dies_on_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        generate_fonts(cfg, progress=False)
    partial = next((tmp_path / "interrupted").glob("fonts-*.partial"))
    assert json.loads((partial / "progress.json").read_text()) == {"done": 80}
    monkeypatch.setattr(FontsRenderer, "forward", original)
    resumed = generate_fonts(cfg, progress=False)
    fresh = generate_fonts(_config(font_dir, tmp_path / "fresh", num_fonts=3), progress=False)
    assert not partial.exists()
    assert np.array_equal(np.load(resumed / "images.npy"), np.load(fresh / "images.npy"))


def test_too_many_fonts_says_how_to_get_more(font_dir, tmp_path) -> None:
    with pytest.raises(ValueError, match=r"num_fonts: asked for 500 fonts, this machine has \d+ distinct legible "
                                         r"fonts\. Install more with `python -m pyadvman.data.debian_fonts"):
        generate_fonts(_config(font_dir, tmp_path, num_fonts=500), progress=False)


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"transforms \(3\) must exceed test_transforms \+ validation_transforms"):
        FontsConfig(transforms=3, test_transforms=2, validation_transforms=1)
    with pytest.raises(ValueError, match="theta preset must be one of"):
        FontsConfig(theta="wild")
    with pytest.raises(ValueError, match="FONTS preset must be one of"):
        fonts_config("huge")
    assert fonts_config("paper").num_fonts == 1000 and fonts_config("paper").transforms == 112


def test_registry_and_contact_sheet(font_dir, tmp_path) -> None:
    data = load_dataset("fonts", preset="quick", num_fonts=2, transforms=4, test_transforms=1, size=16,
                        font_dirs=[str(font_dir)], system_fonts=False, cache_dir=str(tmp_path), progress=False)
    assert len(data.test) == 20
    chosen = available_fonts(_config(font_dir, tmp_path), progress=False)
    sheet = fonts_contact_sheet(chosen.prototypes, tmp_path / "sheet.png")
    with Image.open(sheet) as image:
        assert image.info["Description"] == f"fonts={len(chosen)}" and image.size[0] > 500


def test_the_same_fonts_under_other_paths_build_the_same_dataset(font_dir, tmp_path) -> None:
    """Two machines with the same font files installed elsewhere, under other names and in another order: the
    kept faces, the seeded draw and therefore every array of the dataset are the same, and so is its
    fingerprint, which records the faces by family and style."""
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    files = sorted(p for p in font_dir.iterdir())
    for i, path in enumerate(reversed(files)):  # reversed names reverse the path order
        shutil.copy(path, elsewhere / f"{i:02d}-{path.name}")
    fields = {"num_fonts": 4, "seed": 3, "transforms": 4, "test_transforms": 1}
    first = load_fonts(_config(font_dir, tmp_path / "cache-a", **fields), progress=False)
    second = load_fonts(_config(elsewhere, tmp_path / "cache-b", **fields), progress=False)
    for split in ("train", "validation", "test"):
        for part in ("images", "labels", "codes", "theta"):
            assert torch.equal(getattr(getattr(first, split), part), getattr(getattr(second, split), part))
    assert torch.equal(first.prototypes, second.prototypes)
    assert first.fingerprint["splits"] == second.fingerprint["splits"]
    fonts = first.provenance["fonts"]
    assert fonts == second.provenance["fonts"] and fonts["count"] == 4 and fonts["seed"] == 3
    assert all(face["family"] for face in fonts["faces"])  # named by family and style, not by path
    assert not any(str(font_dir) in json.dumps(face) for face in fonts["faces"])
    other_draw = load_fonts(_config(font_dir, tmp_path / "cache-a", **{**fields, "seed": 4}), progress=False)
    assert other_draw.provenance["fonts"]["sha256"] != fonts["sha256"]  # the draw follows the seed
