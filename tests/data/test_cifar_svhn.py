"""CIFAR-10/100 (binary and python versions) and SVHN against files written here in the published formats: every
image, channel plane, orientation and label."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from pyadvman.data import load_dataset
from pyadvman.errors import DataError, UnreadableFileError

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _as_bytes(images: np.ndarray) -> torch.Tensor:
    """Loaded images Tensor[N, 3, H, W] in [0, 1] back to uint8 [N, H, W, 3] (pixel values are k / 255)."""
    return (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1)


def _planes(pixels: np.ndarray) -> np.ndarray:
    """uint8 [N, 32, 32, 3] (rows, columns, RGB) -> [N, 3072]: the red plane row by row, then green, then blue."""
    return np.concatenate([pixels[:, :, :, channel].reshape(len(pixels), 1024) for channel in range(3)], axis=1)


def _write_cifar10_binary(folder: Path, pixels: np.ndarray, labels: np.ndarray, per_file: int) -> None:
    folder.mkdir(parents=True)
    records = np.concatenate([labels[:, None].astype(np.uint8), _planes(pixels)], axis=1)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for index, name in enumerate(names):
        (folder / name).write_bytes(records[index * per_file:(index + 1) * per_file].tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR10_NAMES) + "\n\n")


def _pickle(path: Path, value: dict) -> None:
    path.write_bytes(pickle.dumps(value, protocol=2))  # the published files: protocol 2, byte-string keys


def _write_cifar_python(folder: Path, files: dict[str, tuple[np.ndarray, dict]], meta: tuple[str, dict]) -> None:
    folder.mkdir(parents=True)
    for name, (pixels, labels) in files.items():
        _pickle(folder / name, {b"batch_label": name.encode(), b"data": _planes(pixels),
                                **{key.encode(): value.tolist() for key, value in labels.items()},
                                b"filenames": [f"{i}.png".encode() for i in range(len(pixels))]})
    _pickle(folder / meta[0], {key.encode(): [n.encode() for n in value] for key, value in meta[1].items()})


def test_cifar10_binary_decodes_every_image_and_label(tmp_path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (60000, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 60000).astype(np.uint8)
    _write_cifar10_binary(tmp_path / "cifar-10-batches-bin", pixels, labels, 10000)
    data = load_dataset("cifar10", root=str(tmp_path))
    assert (len(data.train), len(data.validation), len(data.test)) == (45000, 5000, 10000)
    assert data.classes == tuple(CIFAR10_NAMES) and data.image_shape == (3, 32, 32)
    train = torch.cat([data.train.images, data.validation.images])  # "ordered": validation = the last 5,000
    assert torch.equal(_as_bytes(train), torch.from_numpy(pixels[:50000]))
    assert torch.equal(_as_bytes(data.test.images), torch.from_numpy(pixels[50000:]))
    assert torch.cat([data.train.labels, data.validation.labels, data.test.labels]).tolist() == labels.tolist()


def test_cifar_plane_order_and_orientation_from_single_bytes(tmp_path) -> None:
    """One record built byte by byte: byte 1 + c·1024 + 32·row + column is channel c at (row, column)."""
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    record = bytearray(3073)
    record[0] = 7
    record[1 + 0 * 1024 + 0 * 32 + 1] = 11  # red, row 0, column 1
    record[1 + 1 * 1024 + 2 * 32 + 0] = 22  # green, row 2, column 0
    record[1 + 2 * 1024 + 31 * 32 + 31] = 33  # blue, bottom right
    files = [bytes(record) + b"".join(bytes([k]) + bytes(3072) for k in range(10))] + [
        b"".join(bytes([k]) + bytes(3072) for k in range(10)) for _ in range(5)]
    for name, payload in zip([f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"], files, strict=True):
        (folder / name).write_bytes(payload)
    data = load_dataset("cifar10", root=str(folder), validation_size=0)
    image = _as_bytes(data.train.images[:1])[0]
    assert data.train.labels[0] == 7
    assert image[0, 1].tolist() == [11, 0, 0] and image[2, 0].tolist() == [0, 22, 0]
    assert image[31, 31].tolist() == [0, 0, 33] and int(image.sum()) == 66


def test_cifar10_python_version_equals_the_binary_one(tmp_path) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(60) % 10
    _write_cifar10_binary(tmp_path / "bin" / "cifar-10-batches-bin", pixels, labels, 10)
    files = {name: (pixels[i * 10:(i + 1) * 10], {"labels": labels[i * 10:(i + 1) * 10]})
             for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"])}
    _write_cifar_python(tmp_path / "py" / "cifar-10-batches-py", files,
                        ("batches.meta", {"label_names": CIFAR10_NAMES}))
    binary = load_dataset("cifar10", root=str(tmp_path / "bin"), validation_size=10)
    python = load_dataset("cifar10", root=str(tmp_path / "py"), validation_size=10)
    assert python.provenance["format"] == "python" and binary.provenance["format"] == "binary"
    assert python.classes == tuple(CIFAR10_NAMES)
    for split in ("train", "validation", "test"):
        assert torch.equal(getattr(python, split).images, getattr(binary, split).images)
        assert torch.equal(getattr(python, split).labels, getattr(binary, split).labels)
    assert torch.equal(_as_bytes(python.test.images), torch.from_numpy(pixels[50:]))


def test_cifar100_fine_labels_in_both_versions(tmp_path) -> None:
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (300, 32, 32, 3), dtype=np.uint8)
    fine = np.arange(300) % 100
    coarse = fine // 5
    folder = tmp_path / "bin" / "cifar-100-binary"
    folder.mkdir(parents=True)
    records = np.concatenate([coarse[:, None], fine[:, None], _planes(pixels)], axis=1).astype(np.uint8)
    (folder / "train.bin").write_bytes(records[:200].tobytes())
    (folder / "test.bin").write_bytes(records[200:].tobytes())
    fine_names = [f"class{k:02d}" for k in range(100)]
    (folder / "fine_label_names.txt").write_text("\n".join(fine_names))
    files = {"train": (pixels[:200], {"fine_labels": fine[:200], "coarse_labels": coarse[:200]}),
             "test": (pixels[200:], {"fine_labels": fine[200:], "coarse_labels": coarse[200:]})}
    _write_cifar_python(tmp_path / "py" / "cifar-100-python", files,
                        ("meta", {"fine_label_names": fine_names, "coarse_label_names": ["c"] * 20}))
    for version in ("bin", "py"):
        data = load_dataset("cifar100", root=str(tmp_path / version), validation_size=100, split="stratified")
        assert data.classes == tuple(fine_names)
        assert data.test.labels.tolist() == fine[200:].tolist()
        assert torch.equal(_as_bytes(data.test.images), torch.from_numpy(pixels[200:]))
        assert sorted(torch.cat([data.train.labels, data.validation.labels]).tolist()) == sorted(fine[:200].tolist())


def test_cifar_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no cifar-10-batches-bin/ or cifar-10-batches-py/ in"):
        load_dataset("cifar10", root=str(tmp_path))
    with pytest.raises(DataError, match="download=True fetches the python version"):
        load_dataset("cifar10", root=str(tmp_path), download=True, file_format="binary")
    folder = tmp_path / "cifar-10-batches-bin"
    _write_cifar10_binary(folder, np.zeros((60, 32, 32, 3), np.uint8), np.arange(60) % 10, 10)
    with open(folder / "data_batch_3.bin", "ab") as file:
        file.write(b"\x00" * 100)
    with pytest.raises(UnreadableFileError, match=r"data_batch_3.bin cannot be read \(30,830 bytes, not a whole "
                                                   r"number of 3073-byte records\)"):
        load_dataset("cifar10", root=str(tmp_path), validation_size=10)


def test_cifar_python_files_cannot_run_code(tmp_path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    class Payload:
        def __reduce__(self):
            return (print, ("this must not run",))

    (folder / "data_batch_1").write_bytes(pickle.dumps({"data": Payload()}, protocol=2))
    with pytest.raises(UnreadableFileError, match=r"data_batch_1 cannot be read \(UnpicklingError: it refers to "
                                                  r"(__builtin__|builtins)\.print, which a CIFAR batch never does\)"):
        load_dataset("cifar10", root=str(tmp_path))


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed")
def test_download_without_torchvision_says_what_to_install(tmp_path) -> None:
    with pytest.raises(ImportError, match=r"cifar10: download=True uses torchvision.s downloader, but it is not "
                                          r"installed; install the `vision` extra"):
        load_dataset("cifar10", root=str(tmp_path), download=True)


def _write_svhn(path: Path, pixels: np.ndarray, digits: np.ndarray) -> None:
    labels = np.where(digits == 0, 10, digits).astype(np.float64)[:, None]  # as published: doubles, 10 for 0
    scipy.io.savemat(path, {"X": np.ascontiguousarray(pixels.transpose(1, 2, 3, 0)), "y": labels})


def test_svhn_decodes_images_and_maps_ten_to_zero(tmp_path) -> None:
    rng = np.random.default_rng(3)
    train_pixels = rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    test_pixels = rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    train_digits, test_digits = np.arange(50) % 10, np.arange(20) % 10
    _write_svhn(tmp_path / "train_32x32.mat", train_pixels, train_digits)
    _write_svhn(tmp_path / "test_32x32.mat", test_pixels, test_digits)
    data = load_dataset("svhn", root=str(tmp_path), validation_size=10, split="ordered")
    assert data.classes == tuple("0123456789")
    assert torch.equal(_as_bytes(data.test.images), torch.from_numpy(test_pixels))
    assert data.test.labels.tolist() == test_digits.tolist()
    assert torch.equal(_as_bytes(torch.cat([data.train.images, data.validation.images])),
                       torch.from_numpy(train_pixels))
    with pytest.raises(FileNotFoundError, match="svhn: no extra_32x32.mat in"):
        load_dataset("svhn", root=str(tmp_path), extra=True)
    _write_svhn(tmp_path / "extra_32x32.mat", test_pixels, test_digits)
    assert len(load_dataset("svhn", root=str(tmp_path), extra=True, validation_size=10).train) == 60
    (tmp_path / "test_32x32.mat").write_bytes((tmp_path / "test_32x32.mat").read_bytes()[:500])
    with pytest.raises(UnreadableFileError, match=r"test_32x32.mat cannot be read"):
        load_dataset("svhn", root=str(tmp_path))
