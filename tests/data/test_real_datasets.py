"""IDX and .npz loaders against files written here, Fashion-MNIST from the Debian package, the registry."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from pyadvman.data import load_dataset, load_fashion_mnist, load_idx_dataset, load_npz_dataset
from pyadvman.data.idx import read_idx
from pyadvman.data.real_datasets import FASHION_MNIST_DIR
from pyadvman.errors import DataError


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    payload = header + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)


def _idx_folder(folder: Path, rng: np.random.Generator, compress: bool) -> dict[str, np.ndarray]:
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (30, 6, 5), dtype=np.uint8),
              "train-labels-idx1-ubyte": (np.arange(30) % 3).astype(np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (7, 6, 5), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": (np.arange(7) % 3).astype(np.uint8)}
    for name, array in arrays.items():
        write_idx(folder / name, array, compress)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_idx_dataset_round_trip(tmp_path, compress) -> None:
    arrays = _idx_folder(tmp_path, np.random.default_rng(0), compress)
    data = load_idx_dataset(tmp_path, validation_size=5, split="ordered")
    assert data.train.images.shape == (25, 1, 6, 5) and data.validation.images.shape == (5, 1, 6, 5)
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte"]).float().div(255)
    torch.testing.assert_close(torch.cat([data.train.images, data.validation.images])[:, 0], expected)
    assert data.test.labels.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert data.train.labels.dtype == torch.int64


def test_idx_reader_checks_the_header(tmp_path) -> None:
    big_endian = np.arange(6, dtype=">i4").reshape(2, 3)
    write_idx(tmp_path / "ints", big_endian)
    assert read_idx(tmp_path / "ints").tolist() == [[0, 1, 2], [3, 4, 5]]
    (tmp_path / "bad").write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 9, 1, 2]))
    with pytest.raises(ValueError, match=r"header says \(9,\) \(9 bytes\), file holds 2"):
        read_idx(tmp_path / "short")


def test_npz_dataset_with_and_without_test_arrays(tmp_path) -> None:
    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (70, 8, 8, 3), dtype=np.uint8), np.arange(70) % 4
    np.savez(tmp_path / "plain.npz", images=images, labels=labels)
    data = load_npz_dataset(tmp_path / "plain.npz", split="ordered")
    assert (len(data.train), len(data.validation), len(data.test)) == (54, 6, 10)  # test N//7, validation 1/10
    assert data.train.images.shape == (54, 3, 8, 8)
    torch.testing.assert_close(data.test.images, torch.from_numpy(images[60:]).permute(0, 3, 1, 2).float() / 255)
    np.savez(tmp_path / "split.npz", images=images, labels=labels, test_images=images[:5], test_labels=labels[:5])
    data = load_dataset("npz", path=tmp_path / "split.npz", validation_size=0)
    assert (len(data.train), len(data.validation), len(data.test)) == (70, 0, 5)


def test_npz_errors_name_the_problem(tmp_path) -> None:
    np.savez(tmp_path / "nolabels.npz", images=np.zeros((4, 3, 3), np.uint8))
    with pytest.raises(DataError, match="the .npz must hold 'labels'; it holds \\['images'\\]"):
        load_npz_dataset(tmp_path / "nolabels.npz")
    np.savez(tmp_path / "floats.npz", images=np.full((4, 3, 3), 2.0), labels=np.zeros(4, int))
    with pytest.raises(ValueError, match=r"float images must lie in \[0, 1\], got \[2.0, 2.0\]"):
        load_npz_dataset(tmp_path / "floats.npz")
    np.savez(tmp_path / "count.npz", images=np.zeros((4, 3, 3), np.uint8), labels=np.zeros(5, int))
    with pytest.raises(ValueError, match=r"labels must have shape \[4\] \(one per image\), got \[5\]"):
        load_npz_dataset(tmp_path / "count.npz")
    np.savez(tmp_path / "small.npz", images=np.zeros((4, 3, 3), np.uint8), labels=np.zeros(4, int))
    with pytest.raises(ValueError, match=r"test_size must be an integer in \[0, 4\) \(the number of examples it "
                                         r"is taken from\), got 4"):
        load_npz_dataset(tmp_path / "small.npz", test_size=4)
    with pytest.raises(ValueError, match=r"validation_size must be an integer in \[0, 3\) .*, got -1"):
        load_npz_dataset(tmp_path / "small.npz", test_size=1, validation_size=-1)
    with pytest.raises(FileNotFoundError, match="npz dataset '/nope.npz' does not exist"):
        load_npz_dataset("/nope.npz")


def test_registry_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match=r"dataset must be one of \['cifar10', 'cifar100', 'fashion-mnist', 'fonts', "
                                         r"'idx', 'imagefolder', 'npz', 'svhn'\], "
                                         r"got 'mnist'"):
        load_dataset("mnist")


def test_missing_fashion_mnist_says_how_to_install(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="sudo apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path)


@pytest.mark.skipif(not FASHION_MNIST_DIR.is_dir(), reason="needs Debian's dataset-fashion-mnist (CI installs it)")
def test_fashion_mnist_sizes_and_class_counts() -> None:
    data = load_dataset("fashion-mnist")
    train_labels = torch.cat([data.train.labels, data.validation.labels])
    assert train_labels.shape == (60000,) and data.test.labels.shape == (10000,)
    assert (len(data.train), len(data.validation)) == (50000, 10000)
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class
    assert torch.bincount(train_labels).tolist() == [6000] * 10
    assert torch.bincount(data.test.labels).tolist() == [1000] * 10
    assert data.image_shape == (1, 28, 28) and data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert 0 <= data.test.images.min() and data.test.images.max() <= 1
    # the first training label of the original file is 9 (ankle boot), the first test label 9 as well
    assert data.train.labels[0] == 9 and data.test.labels[0] == 9 and data.test.labels[1] == 2
