"""Real data as it arrives: sorted by class, with NaN, channels-first, test images of another size, empty classes,
too few examples, damaged files. Each case is handled correctly or refused with an error that names the file."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyadvman.data import load_dataset, load_idx_dataset, load_npz_dataset
from pyadvman.data.fingerprint import data_fingerprint, fingerprint_differences
from pyadvman.data.splits import class_quotas
from pyadvman.errors import DataError, UnreadableFileError


def _tiny_idx_arrays() -> dict[str, np.ndarray]:
    """The four MNIST-style files of a 2-class 4×4 dataset (20 training, 4 test images)."""
    return {"train-images-idx3-ubyte": np.zeros((20, 4, 4), np.uint8),
            "train-labels-idx1-ubyte": (np.arange(20) % 2).astype(np.uint8),
            "t10k-images-idx3-ubyte": np.zeros((4, 4, 4), np.uint8),
            "t10k-labels-idx1-ubyte": (np.arange(4) % 2).astype(np.uint8)}


def _idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 IDX file: the header (magic 0 0 8 ndim, big-endian dimensions), then the values."""
    return bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()


def _sorted_npz(path, per_class=(300, 200, 100, 50), size=6, seed=0):
    """uint8 images whose labels are sorted by class (class k's images have mean brightness ~ 40·k)."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(per_class)), per_class)
    images = (rng.integers(0, 30, (labels.size, size, size)) + 40 * labels[:, None, None]).astype(np.uint8)
    np.savez(path, images=images, labels=labels)
    return path, images, labels


def test_sorted_by_class_data_is_split_stratified_and_reproducibly(tmp_path) -> None:
    path, _, labels = _sorted_npz(tmp_path / "sorted.npz")
    counts = np.bincount(labels)
    data = load_npz_dataset(path, test_size=130, validation_size=65)
    n_train = labels.size - 130
    for split, size, pool in ((data.test, 130, labels.size), (data.validation, 65, n_train)):
        got = torch.bincount(split.labels, minlength=4).numpy()
        assert got.sum() == size
        pool_counts = counts if pool == labels.size else counts - torch.bincount(data.test.labels, minlength=4).numpy()
        exact = size * pool_counts / pool_counts.sum()
        assert np.all(np.abs(got - exact) < 1), (got, exact)  # every class in proportion, within one example
    assert torch.bincount(data.train.first(100).labels, minlength=4).min() > 0  # "first N" mixes the classes
    # every image kept exactly once, with its label
    all_images = torch.cat([data.train.images, data.validation.images, data.test.images])
    all_labels = torch.cat([data.train.labels, data.validation.labels, data.test.labels])
    assert all_images.shape[0] == labels.size
    brightness = all_images.mean(dim=(1, 2, 3)) * 255
    assert torch.equal(((brightness - 14.5) / 40).round().long(), all_labels)
    again = load_npz_dataset(path, test_size=130, validation_size=65)
    for name in ("train", "validation", "test"):
        assert torch.equal(getattr(again, name).labels, getattr(data, name).labels)
        assert torch.equal(getattr(again, name).images, getattr(data, name).images)
    other_seed = load_npz_dataset(path, test_size=130, validation_size=65, split_seed=1)
    assert not torch.equal(other_seed.test.images, data.test.images)
    assert data.provenance == {"source": str(path), "layout": "NHW", "split": "stratified", "split_seed": 0}
    with pytest.raises(DataError, match=r"classes \[2, 3\] have no training examples"):  # the file order, on request
        load_npz_dataset(path, test_size=130, validation_size=65, split="ordered")


def test_a_split_without_a_class_is_refused(tmp_path) -> None:
    path, _, _ = _sorted_npz(tmp_path / "sorted.npz")
    with pytest.raises(DataError, match=r"sorted: classes \[2, 3\] have no training examples"):
        load_dataset("npz", path=path, test_size=130, validation_size=65, split="ordered")
    np.savez(tmp_path / "lacking.npz", images=np.zeros((20, 4, 4), np.uint8), labels=np.repeat([0, 1], 10),
             test_images=np.zeros((3, 4, 4), np.uint8), test_labels=np.array([0, 0, 0]))
    with pytest.raises(DataError, match=r"the test split \(3 examples\) lacks classes \[1\]: every split must "
                                        r"hold every class"):
        load_dataset("npz", path=tmp_path / "lacking.npz", validation_size=4)
    images = np.zeros((7, 4, 4), np.uint8)
    np.savez(tmp_path / "tiny.npz", images=images, labels=np.array([0, 0, 0, 1, 1, 1, 1]))
    with pytest.raises(DataError, match=r"tiny: the test split \(1 examples\) lacks classes \[0\]"):
        load_dataset("npz", path=tmp_path / "tiny.npz")
    np.savez(tmp_path / "extra.npz", images=np.zeros((20, 4, 4), np.uint8), labels=np.repeat([0, 1], 10),
             test_images=np.zeros((3, 4, 4), np.uint8), test_labels=np.array([0, 1, 2]))
    with pytest.raises(DataError, match=r"extra: classes \[2\] have no training examples"):
        load_dataset("npz", path=tmp_path / "extra.npz", validation_size=4)


def test_labels_with_empty_classes_are_refused_with_a_relabelling_hint(tmp_path) -> None:
    np.savez(tmp_path / "gaps.npz", images=np.zeros((40, 4, 4), np.uint8), labels=np.repeat([3, 7], 20))
    with pytest.raises(DataError, match=r"got 2 distinct values \[3, 7\], so 6 classes below 7 would be empty "
                                        r"\(first: \[0, 1, 2, 4, 5\]\)\. "
                                        r"Relabel them, e\.g\. `_, labels = np\.unique\(labels, "
                                        r"return_inverse=True\)`"):
        load_npz_dataset(tmp_path / "gaps.npz")


def test_one_stray_label_is_refused_at_once_in_one_short_line(tmp_path) -> None:
    labels = np.repeat([0, 1], 20)
    labels[5] = 100_000_000
    np.savez(tmp_path / "stray.npz", images=np.zeros((40, 4, 4), np.uint8), labels=labels)
    with pytest.raises(DataError, match=r"3 distinct values \[0, 1, 100000000\], so 99999998 classes below "
                                        r"100000000 would be empty \(first: \[2, 3, 4, 5, 6\]\)") as caught:
        load_npz_dataset(tmp_path / "stray.npz")
    assert len(str(caught.value)) < 400


def test_a_minus_one_stored_as_unsigned_is_named_not_counted(tmp_path) -> None:
    labels = np.repeat(np.array([0, 1], np.uint32), 20)
    labels[3] = np.uint32(4294967295)
    np.savez(tmp_path / "u32.npz", images=np.zeros((40, 4, 4), np.uint8), labels=labels)
    with pytest.raises(DataError, match=r"distinct values \[0, 1, 4294967295\]"):
        load_npz_dataset(tmp_path / "u32.npz")
    np.savez(tmp_path / "u64.npz", images=np.zeros((40, 4, 4), np.uint8),
             labels=np.where(np.arange(40) == 3, np.uint64(2**64 - 1), np.arange(40, dtype=np.uint64) % 2))
    with pytest.raises(DataError, match=r"u64\.npz: labels must be non-negative integers, got 1 values out of range "
                                        r"\(e\.g\. 18446744073709551615; a -1 stored as unsigned"):
        load_npz_dataset(tmp_path / "u64.npz")


def test_string_labels_are_refused_with_the_mapping_to_use(tmp_path) -> None:
    np.savez(tmp_path / "names.npz", images=np.zeros((4, 4, 4), np.uint8), labels=np.array(["cat", "dog"] * 2))
    with pytest.raises(DataError, match=r"names\.npz: labels must be non-negative integers, got dtype <U3 "
                                        r"\(e\.g\. 'cat'\); map class names"):
        load_npz_dataset(tmp_path / "names.npz")


def test_labels_beyond_the_given_classes_are_refused_before_the_split(tmp_path) -> None:
    root = tmp_path / "idx"
    root.mkdir()
    arrays = {"train-images-idx3-ubyte": np.zeros((30, 4, 4), np.uint8),
              "train-labels-idx1-ubyte": np.repeat(np.arange(3, dtype=np.uint8), 10),
              "t10k-images-idx3-ubyte": np.zeros((3, 4, 4), np.uint8),
              "t10k-labels-idx1-ubyte": np.array([0, 1, 250], np.uint8)}
    for name, array in arrays.items():
        (root / name).write_bytes(bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
                                  + array.tobytes())
    with pytest.raises(DataError, match=r"labels must lie in \[0, 3\) \(3 classes given\), got 1 other values "
                                        r"\(first: \[250\]\)"):
        load_idx_dataset(root, classes=("a", "b", "c"))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_pixels_are_refused_at_load(tmp_path, bad) -> None:
    images = np.random.default_rng(0).random((30, 5, 5)).astype(np.float32)
    images[17, 2, 3] = bad
    np.savez(tmp_path / "nan.npz", images=images, labels=np.arange(30) % 2)
    with pytest.raises(DataError, match=r"nan\.npz: images: 1 values are NaN or infinite, in 1 images \(first: "
                                        r"image 17\)"):
        load_npz_dataset(tmp_path / "nan.npz")


@pytest.mark.parametrize("channels", [1, 3])
def test_channels_first_arrays_are_detected_and_recorded(tmp_path, channels) -> None:
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (60, channels, 8, 9), dtype=np.uint8)
    np.savez(tmp_path / "nchw.npz", images=first, labels=np.arange(60) % 3)
    data = load_npz_dataset(tmp_path / "nchw.npz", test_size=12, validation_size=6, split="ordered")
    assert data.image_shape == (channels, 8, 9) and data.provenance["layout"] == "NCHW"
    torch.testing.assert_close(data.train.images, torch.from_numpy(first[:42]).float() / 255)
    np.savez(tmp_path / "nhwc.npz", images=first.transpose(0, 2, 3, 1), labels=np.arange(60) % 3)
    last = load_npz_dataset(tmp_path / "nhwc.npz", test_size=12, validation_size=6, split="ordered")
    assert last.provenance["layout"] == "NHWC" and torch.equal(last.train.images, data.train.images)


def test_an_ambiguous_layout_needs_the_layout_option(tmp_path) -> None:
    cube = np.random.default_rng(0).integers(0, 256, (30, 3, 3, 3), dtype=np.uint8)
    np.savez(tmp_path / "cube.npz", images=cube, labels=np.arange(30) % 2)
    with pytest.raises(DataError, match=r"images of shape \[30, 3, 3, 3\]: cannot tell whether the channels are the "
                                        r"last axis .* pass layout='NHWC' or layout='NCHW'"):
        load_npz_dataset(tmp_path / "cube.npz")
    data = load_npz_dataset(tmp_path / "cube.npz", layout="NCHW", split="ordered", test_size=6, validation_size=4)
    torch.testing.assert_close(data.train.images, torch.from_numpy(cube[:20]).float() / 255)
    with pytest.raises(DataError, match=r"layout must be one of \('auto', 'NHWC', 'NCHW'\), got 'CHW'"):
        load_npz_dataset(tmp_path / "cube.npz", layout="CHW")


def test_test_images_of_another_size_are_refused(tmp_path) -> None:
    np.savez(tmp_path / "sizes.npz", images=np.zeros((20, 8, 8), np.uint8), labels=np.arange(20) % 2,
             test_images=np.zeros((4, 9, 9), np.uint8), test_labels=np.arange(4) % 2)
    with pytest.raises(DataError, match=r"sizes\.npz: test images have shape \[C, H, W\] = \[1, 9, 9\], training "
                                        r"images \[1, 8, 8\]"):
        load_npz_dataset(tmp_path / "sizes.npz")


def test_integer_images_in_8_bit_range_are_read_and_others_refused(tmp_path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (30, 4, 4))  # int64
    np.savez(tmp_path / "ints.npz", images=images, labels=np.arange(30) % 2)
    data = load_npz_dataset(tmp_path / "ints.npz", split="ordered", test_size=6, validation_size=4)
    torch.testing.assert_close(data.train.images[:, 0], torch.from_numpy(images[:20]).float() / 255)
    np.savez(tmp_path / "wide.npz", images=images * 10, labels=np.arange(30) % 2)
    with pytest.raises(DataError, match=r"integer images must lie in \[0, 255\]"):
        load_npz_dataset(tmp_path / "wide.npz")


def test_damaged_files_are_named_with_what_to_do(tmp_path) -> None:
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(UnreadableFileError, match=r"random\.npz cannot be read \(not a zip archive, which an \.npz "
                                                  r"is\); it is truncated, corrupt or of another format: write it "
                                                  r"with numpy\.savez") as error:
        load_npz_dataset(tmp_path / "random.npz")
    assert "pickle" not in str(error.value)
    path, _, _ = _sorted_npz(tmp_path / "whole.npz")
    content = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(content[: len(content) // 2])
    with pytest.raises(UnreadableFileError, match=r"cut\.npz cannot be read .*truncated, corrupt"):
        load_npz_dataset(tmp_path / "cut.npz")
    folder = tmp_path / "idx"
    folder.mkdir()
    for name, array in _tiny_idx_arrays().items():
        payload = gzip.compress(_idx_bytes(array))
        if name.startswith("train-images"):
            payload = payload[: len(payload) - 12]  # a truncated download
        (folder / f"{name}.gz").write_bytes(payload)
    with pytest.raises(UnreadableFileError, match=r"train-images-idx3-ubyte\.gz cannot be read \(EOFError: .*\); "
                                                  r"the gzip file is truncated or corrupt"):
        load_idx_dataset(folder)


def test_unknown_loader_options_are_named() -> None:
    with pytest.raises(ValueError, match=r"dataset 'npz' takes the options \['path', 'test_size', 'validation_size', "
                                         r"'split', 'split_seed', 'layout'\], got unknown \['pathh'\]"):
        load_dataset("npz", pathh="x.npz")


def test_splits_print_a_summary_not_their_tensors(tmp_path) -> None:
    path, _, _ = _sorted_npz(tmp_path / "sorted.npz")
    data = load_npz_dataset(path, test_size=130, validation_size=65)
    text = repr(data)
    assert text.startswith("DatasetSplits('sorted', 4 classes, image shape (1, 6, 6), train 455 / validation 65 / "
                           "test 130") and "tensor" not in text and len(text) < 400
    split = repr(data.test)
    assert split == f"Split(130 examples, images [130, 1, 6, 6] torch.float32, examples per class " \
                    f"{torch.bincount(data.test.labels).tolist()})"


def test_fingerprints_name_what_changed(tmp_path) -> None:
    path, images, labels = _sorted_npz(tmp_path / "sorted.npz")
    before = data_fingerprint(load_npz_dataset(path))
    json.dumps(before)  # JSON-ready
    assert fingerprint_differences(before, data_fingerprint(load_npz_dataset(path))) == []
    images[5, 0, 0] ^= 1
    np.savez(path, images=images, labels=labels)
    changed = fingerprint_differences(before, data_fingerprint(load_npz_dataset(path)))
    assert len(changed) == 1 and changed[0].startswith("train content (sha256")
    np.savez(path, images=images[:-10], labels=labels[:-10])
    changed = fingerprint_differences(before, data_fingerprint(load_npz_dataset(path)))
    assert any(c.startswith("train count 503 vs 495") for c in changed), changed


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(0, 50), min_size=1, max_size=12).filter(lambda c: sum(c) > 0), share=st.floats(0, 1))
def test_class_quotas_sum_to_n_and_stay_within_one_of_the_exact_share(counts, share) -> None:
    counts_t = torch.tensor(counts)
    n = int(share * (sum(counts) - 1))
    quotas = class_quotas(counts_t, n)
    assert int(quotas.sum()) == n and bool((quotas <= counts_t).all())
    exact = counts_t.double() * n / sum(counts)
    assert bool(((quotas - exact).abs() < 1).all())


def test_bool_images_are_zero_one_and_binary_integers_are_refused(tmp_path) -> None:
    binary = np.random.default_rng(0).random((30, 4, 4)) > 0.5
    np.savez(tmp_path / "bool.npz", images=binary, labels=np.arange(30) % 2)
    data = load_npz_dataset(tmp_path / "bool.npz", split="ordered", test_size=6, validation_size=4)
    torch.testing.assert_close(data.train.images[:, 0], torch.from_numpy(binary[:20]).float())
    np.savez(tmp_path / "ones.npz", images=binary.astype(np.int64), labels=np.arange(30) % 2)
    with pytest.raises(DataError, match=r"integer images whose largest value is 1 look binary, and 8-bit scaling "
                                        r"\(÷ 255\) would make them black"):
        load_npz_dataset(tmp_path / "ones.npz")


def test_loader_options_of_the_wrong_type_are_named(tmp_path) -> None:
    path, _, _ = _sorted_npz(tmp_path / "sorted.npz")
    with pytest.raises(ValueError, match=r"dataset 'npz' option 'split_seed' must be a int, got str 'a'"):
        load_dataset("npz", path=str(path), split_seed="a")
    with pytest.raises(ValueError, match=r"dataset 'npz' option 'path' must be a str \| pathlib.Path, got int 5"):
        load_dataset("npz", path=5)
    with pytest.raises(ValueError, match=r"dataset 'fonts' option 'num_fonts' must be a int \| None, got str"):
        load_dataset("fonts", num_fonts="many")
    with pytest.raises(DataError, match=r"split_seed must be an integer >= 0, got -1"):
        load_npz_dataset(path, split_seed=-1)


def test_the_loaders_check_class_coverage_themselves(tmp_path) -> None:
    np.savez(tmp_path / "lacking.npz", images=np.zeros((20, 4, 4), np.uint8), labels=np.repeat([0, 1], 10),
             test_images=np.zeros((3, 4, 4), np.uint8), test_labels=np.array([0, 0, 0]))
    with pytest.raises(DataError, match=r"the test split \(3 examples\) lacks classes \[1\]"):
        load_npz_dataset(tmp_path / "lacking.npz", validation_size=4)


def test_npz_keys_that_would_be_ignored_or_empty_are_refused(tmp_path) -> None:
    _, images, labels = _sorted_npz(tmp_path / "base.npz")
    np.savez(tmp_path / "typo.npz", images=images, labels=labels, test_image=images[:50], test_labels=labels[:50])
    with pytest.raises(DataError, match=r"typo\.npz: the \.npz holds keys that pyadvman does not read, "
                                        r"\['test_image'\]; it reads \['images', 'labels', 'test_images', "
                                        r"'test_labels'\]"):
        load_npz_dataset(tmp_path / "typo.npz")  # its test set would have been split off the training images
    np.savez(tmp_path / "half.npz", images=images, labels=labels, test_labels=labels[:50])
    with pytest.raises(DataError, match=r"half\.npz: the \.npz must hold 'test_images'"):
        load_npz_dataset(tmp_path / "half.npz")
    np.savez(tmp_path / "none.npz", images=images[:0], labels=labels[:0])
    with pytest.raises(DataError, match=r"none\.npz: images holds 0 images$"):
        load_npz_dataset(tmp_path / "none.npz")
    np.savez(tmp_path / "no_test.npz", images=images, labels=labels, test_images=images[:0], test_labels=labels[:0])
    with pytest.raises(DataError, match=r"no_test\.npz: test_images holds 0 images; leave test_images out"):
        load_npz_dataset(tmp_path / "no_test.npz")


def test_idx_files_in_two_forms_and_headers_beyond_any_size_are_named(tmp_path) -> None:
    folder = tmp_path / "idx"
    folder.mkdir()
    for name, array in _tiny_idx_arrays().items():
        (folder / name).write_bytes(_idx_bytes(array))
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"other content"))
    with pytest.raises(DataError, match=r"\['train-labels-idx1-ubyte', 'train-labels-idx1-ubyte\.gz'\] are the same "
                                        r"file in several forms; keep one"):
        load_idx_dataset(folder)
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    wrapping = bytes([0, 0, 8, 3]) + b"".join((2 ** k).to_bytes(4, "big") for k in (21, 21, 22))  # 2^64 bytes
    (folder / "train-images-idx3-ubyte").write_bytes(wrapping)
    with pytest.raises(UnreadableFileError, match=r"train-images-idx3-ubyte cannot be read \(header says \(2097152, "
                                                  r"2097152, 4194304\) \(18446744073709551616 bytes\), file holds 0\)"):
        load_idx_dataset(folder)
