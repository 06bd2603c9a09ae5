"""The image-folder loader against PNG files written here: exact pixels, sorted class folders, train/ and test/,
resizing, colour conversion, and one clear line for each kind of messy folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pyadvman.data import load_dataset
from pyadvman.errors import DataError, UnreadableFileError


def _write_images(folder: Path, count: int, rng: np.random.Generator, size: tuple[int, int] = (8, 6),
                  mode: str = "RGB") -> list[np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    arrays = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(count)]
    for index, array in enumerate(arrays):
        Image.fromarray(array, mode).save(folder / f"{index:03d}.png")
    return arrays


def _as_bytes(images: torch.Tensor) -> np.ndarray:
    return (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def test_pixels_and_labels_are_the_files(tmp_path) -> None:
    rng = np.random.default_rng(0)
    written = {name: _write_images(tmp_path / name, 14, rng) for name in ("zebra", "ant", "moth")}
    data = load_dataset("imagefolder", root=str(tmp_path))
    assert data.classes == ("ant", "moth", "zebra") and data.image_shape == (3, 6, 8)
    assert (len(data.train), len(data.validation), len(data.test)) == (33, 3, 6)
    for split in (data.train, data.validation, data.test):
        for image, label in zip(_as_bytes(split.images), split.labels.tolist(), strict=True):
            assert any(np.array_equal(image, array) for array in written[data.classes[label]])
    assert torch.bincount(data.test.labels).tolist() == [2, 2, 2]


def test_train_and_test_folders_are_kept(tmp_path) -> None:
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        _write_images(tmp_path / "train" / name, 10, rng)
    test = [_write_images(tmp_path / "test" / name, 3, rng) for name in ("a", "b")]
    data = load_dataset("imagefolder", root=str(tmp_path), validation_size=4)
    assert (len(data.train), len(data.validation), len(data.test)) == (16, 4, 6)
    assert np.array_equal(_as_bytes(data.test.images), np.stack(test[0] + test[1]))
    assert data.test.labels.tolist() == [0, 0, 0, 1, 1, 1]
    (tmp_path / "test" / "c").mkdir()
    _write_images(tmp_path / "test" / "c", 1, rng)
    with pytest.raises(DataError, match="test_size is for a folder without test/"):
        load_dataset("imagefolder", root=str(tmp_path), test_size=3)
    with pytest.raises(DataError, match=r"train/ has the classes \['a', 'b'\], test/ \['a', 'b', 'c'\]"):
        load_dataset("imagefolder", root=str(tmp_path))


def test_mixed_sizes_are_refused_or_resized(tmp_path) -> None:
    rng = np.random.default_rng(2)
    _write_images(tmp_path / "a", 9, rng, size=(8, 6))
    _write_images(tmp_path / "b", 8, rng, size=(8, 6))
    _write_images(tmp_path / "b" / "big", 1, rng, size=(20, 10))
    with pytest.raises(DataError, match=r"images of 2 sizes, 8×6 \(17 images\) and 20×10 \(1\) \(first: .*b/big/000"
                                        r"\.png\); pass image_size=S to resize every image to S × S"):
        load_dataset("imagefolder", root=str(tmp_path), validation_size=4)
    data = load_dataset("imagefolder", root=str(tmp_path), image_size=5, validation_size=4)
    assert data.image_shape == (3, 5, 5) and len(data.train) + len(data.validation) + len(data.test) == 18


def test_a_grayscale_image_among_rgb_is_converted_with_one_line(tmp_path, caplog) -> None:
    rng = np.random.default_rng(3)
    _write_images(tmp_path / "a", 7, rng)
    _write_images(tmp_path / "b", 6, rng)
    gray = _write_images(tmp_path / "b" / "gray", 1, rng, mode="L")[0]
    with caplog.at_level(logging.WARNING):
        data = load_dataset("imagefolder", root=str(tmp_path), test_size=0, validation_size=0)
    lines = [r.getMessage() for r in caplog.records if "were converted" in r.getMessage()]
    assert len(lines) == 1 and "1 of 14 images were not RGB (L: 1; first: " in lines[0]
    as_bytes = _as_bytes(data.train.images)
    assert any(np.array_equal(image, np.repeat(gray[..., None], 3, axis=2)) for image in as_bytes)
    gray_data = load_dataset("imagefolder", root=str(tmp_path), color="gray", test_size=0, validation_size=0)
    assert gray_data.image_shape == (1, 6, 8)


def test_messy_folders_end_in_one_clear_line(tmp_path) -> None:
    rng = np.random.default_rng(4)
    _write_images(tmp_path / "a", 7, rng)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"class folder .*empty holds no images \(extensions .png"):
        load_dataset("imagefolder", root=str(tmp_path))
    _write_images(tmp_path / "empty", 7, rng)
    with pytest.raises(DataError, match="the validation split \\(1 examples\\) lacks classes"):
        load_dataset("imagefolder", root=str(tmp_path))  # refused from the file list, before decoding
    good = (tmp_path / "a" / "003.png").read_bytes()
    (tmp_path / "a" / "003.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(UnreadableFileError, match=r"a/003.png cannot be read \(OSError: .*\); the image is "
                                                  r"truncated or not an image: remove or replace it"):
        load_dataset("imagefolder", root=str(tmp_path), validation_size=2)
    with pytest.raises(DataError, match="no class folders"):
        load_dataset("imagefolder", root=str(tmp_path / "a"))
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_dataset("imagefolder", root=str(tmp_path / "missing"))
    with pytest.raises(DataError, match="image_size must be an integer >= 1 or None, got 0"):
        load_dataset("imagefolder", root=str(tmp_path), image_size=0)


def test_the_data_figure_keeps_the_colours(tmp_path, capsys) -> None:
    from pyadvman.cli import main

    red, blue = np.zeros((6, 8, 3), np.uint8), np.zeros((6, 8, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    for name, array in (("blue", blue), ("red", red)):
        (tmp_path / "data" / name).mkdir(parents=True)
        for index in range(14):
            Image.fromarray(array).save(tmp_path / "data" / name / f"{index}.png")
    options = json.dumps({"root": str(tmp_path / "data")})
    assert main(["data", "imagefolder", "--dataset-options", options, "--figure", str(tmp_path / "d.png")]) == 0
    pixels = np.asarray(Image.open(tmp_path / "d.png").convert("RGB")).reshape(-1, 3).astype(int)
    assert ((pixels[:, 0] > 200) & (pixels[:, 2] < 50)).sum() > 100  # red tiles
    assert ((pixels[:, 2] > 200) & (pixels[:, 0] < 50)).sum() > 100  # blue tiles


def test_a_memory_mapped_folder_holds_the_same_splits(tmp_path, monkeypatch, caplog) -> None:
    """in_memory=False decodes once into the cache and maps the files: the same tensors as in memory."""
    monkeypatch.setenv("PYADVMAN_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(5)
    for name in ("a", "b", "c"):
        _write_images(tmp_path / "data" / name, 14, rng)
    _write_images(tmp_path / "data" / "c" / "gray", 1, rng, mode="L")
    in_memory = load_dataset("imagefolder", root=str(tmp_path / "data"))
    with caplog.at_level(logging.WARNING):
        mapped = load_dataset("imagefolder", root=str(tmp_path / "data"), in_memory=False)
    assert "1 of 43 images were not RGB (L: 1; first: " in caplog.text
    for split in ("train", "validation", "test"):
        assert torch.equal(getattr(mapped, split).images, getattr(in_memory, split).images)
        assert torch.equal(getattr(mapped, split).labels, getattr(in_memory, split).labels)
    assert not mapped.train.images.untyped_storage().resizable()  # numpy's buffer: the mapped file
    assert in_memory.train.images.untyped_storage().resizable()
    again = load_dataset("imagefolder", root=str(tmp_path / "data"), in_memory=False)
    assert torch.equal(again.test.images, mapped.test.images)
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 1  # decoded once
    _write_images(tmp_path / "data" / "a" / "more", 1, rng)  # a changed folder is decoded again
    assert len(load_dataset("imagefolder", root=str(tmp_path / "data"), in_memory=False).train) == len(mapped.train) + 1
