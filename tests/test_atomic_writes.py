"""Atomic writes (pyadvman._atomic): never through a planted file or symlink, nothing left behind on failure."""

from __future__ import annotations

import errno
import os
import stat

import pytest
import torch

from pyadvman._atomic import WriteError, save_atomic, write_atomic, write_json_atomic, write_text_atomic


def test_a_symlink_planted_at_the_old_temporary_name_is_not_followed(tmp_path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json.tmp", "last.pt.tmp", "model.pt.tmp"):
        (run / name).symlink_to(outside)
    write_json_atomic({"a": 1}, run / "config.json")
    save_atomic({"w": torch.ones(2)}, run / "last.pt")
    write_text_atomic("x", run / "model.pt")
    assert outside.read_text() == "precious"
    assert (run / "config.json").read_text() == '{\n  "a": 1\n}\n'
    assert torch.equal(torch.load(run / "last.pt", weights_only=True)["w"], torch.ones(2))


def test_a_symlink_at_the_target_is_replaced_not_written_through(tmp_path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    (tmp_path / "config.json").symlink_to(outside)
    write_text_atomic("new", tmp_path / "config.json")
    assert outside.read_text() == "precious"
    assert not (tmp_path / "config.json").is_symlink() and (tmp_path / "config.json").read_text() == "new"


def test_a_full_disk_is_one_error_naming_the_file_and_leaves_nothing(tmp_path) -> None:
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def full(stream) -> None:
        stream.write(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(WriteError, match=r"cannot write metrics\.json in .*No space left on device.*unchanged"):
        write_atomic(target, full)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_a_checkpoint_is_serialised_before_the_disk_is_touched(tmp_path, monkeypatch) -> None:
    def unpicklable(obj, f, *args, **kwargs):
        raise RuntimeError("an internal error of torch.save")  # not a disk error: it stays what it is

    monkeypatch.setattr(torch, "save", unpicklable)
    with pytest.raises(RuntimeError, match="an internal error of torch.save"):
        save_atomic({"w": torch.ones(1)}, tmp_path / "last.pt")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_under_a_checkpoint_is_the_operating_system_s_error(tmp_path, monkeypatch) -> None:
    (tmp_path / "last.pt").write_bytes(b"old")

    def full(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError, match=r"cannot write last\.pt in .*\(No space left on device\); the file is "
                                         r"unchanged"):
        save_atomic({"w": torch.ones(1000)}, tmp_path / "last.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"] and (tmp_path / "last.pt").read_bytes() == b"old"


def test_an_interrupt_removes_the_temporary_file_and_is_not_swallowed(tmp_path) -> None:
    def interrupted(stream) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "a.json", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_named(tmp_path) -> None:
    with pytest.raises(WriteError, match=r"cannot write a\.json in .*missing"):
        write_text_atomic("x", tmp_path / "missing" / "a.json")


def test_written_files_have_the_umask_s_mode(tmp_path) -> None:
    previous = os.umask(0o022)
    try:
        write_text_atomic("x", tmp_path / "a.txt")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
