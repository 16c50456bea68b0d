"""``audioquant.atomic.BackgroundCommits``: outputs synced and renamed on a second thread,
in place when it closes, a failure kept for the caller, nothing left behind."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

from audioquant import atomic
from audioquant.atomic import BackgroundCommits, OutputFile


def test_every_file_handed_over_is_in_place_when_it_closes(tmp_path):
    with BackgroundCommits(depth=2) as commits:      # (a short queue: submit waits)
        for i in range(20):
            out = OutputFile(tmp_path / f"{i}.bin")
            out.file.write(bytes([i]) * 1000)
            commits.submit(out)
    assert commits.failures == {}
    assert sorted(os.listdir(tmp_path)) == sorted(f"{i}.bin" for i in range(20))
    for i in range(20):
        assert (tmp_path / f"{i}.bin").read_bytes() == bytes([i]) * 1000
    assert not any(t.name == "audioquant-commit" for t in threading.enumerate())


def test_a_failed_commit_is_reported_by_path_and_the_old_file_kept(tmp_path, monkeypatch):
    target = tmp_path / "kept.bin"
    target.write_bytes(b"old")

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with BackgroundCommits() as commits:
        out = OutputFile(target)
        out.file.write(b"new")
        commits.submit(out)
    assert list(commits.failures) == [out.path]
    assert "No space left on device" in commits.failures[out.path]
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["kept.bin"]


def _written(folder, n, data=b"new"):
    outs = []
    for i in range(n):
        out = OutputFile(folder / f"{i}.bin")
        out.file.write(data)
        outs.append(out)
    return outs


def test_a_group_is_synced_once_per_filesystem(tmp_path, monkeypatch):
    calls = []

    def syncfs(fd):
        calls.append(os.fstat(fd).st_dev)
        return 0

    monkeypatch.setattr(atomic, "_syncfs", lambda: syncfs)
    outs = _written(tmp_path, 5)
    other = Path("/dev/shm")
    if other.is_dir() and os.access(other, os.W_OK) \
            and os.stat(other).st_dev != os.stat(tmp_path).st_dev:
        folder = Path(tempfile.mkdtemp(dir=other))
        outs += _written(folder, 3)
    else:
        folder = None
    try:
        synced = atomic.sync_group(outs)
        assert synced == set(outs)
        assert sorted(calls) == sorted({os.stat(o.tmp).st_dev for o in outs})
        for out in outs:
            out.commit(synced=True)
        assert (tmp_path / "4.bin").read_bytes() == b"new"
    finally:
        if folder is not None:
            shutil.rmtree(folder)


def test_a_group_whose_sync_fails_falls_back_to_each_files_fsync(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_syncfs", lambda: (lambda fd: -1))
    fsynced = []
    real_fsync = os.fsync

    def fsync(fd):
        fsynced.append(fd)
        if len(fsynced) == 2:
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    commits = BackgroundCommits()
    commits._commit(_written(tmp_path, 4))
    commits.close()
    assert len(fsynced) == 4
    assert list(commits.failures) == [str(tmp_path / "1.bin")]
    assert sorted(os.listdir(tmp_path)) == ["0.bin", "2.bin", "3.bin"]


def test_the_real_syncfs_syncs_a_group(tmp_path):
    outs = _written(tmp_path, 3)
    synced = atomic.sync_group(outs)
    if atomic._syncfs() is not None:      # (Linux 5.8 and later)
        assert synced == set(outs)
    for out in outs:
        out.commit(synced=out in synced)
    assert sorted(os.listdir(tmp_path)) == ["0.bin", "1.bin", "2.bin"]


def test_a_new_file_named_relative_lands_where_it_was_named(tmp_path, monkeypatch):
    """A new output is named as given (its folder's links are the system's to resolve,
    not normalised away) but made absolute: a change of folder before the commit does
    not move it."""
    (tmp_path / "real" / "deep").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "deep")
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path)
    with BackgroundCommits() as commits:
        out = OutputFile(os.path.join("link", "..", "new.bin"))   # link/.. is real/
        out.file.write(b"bytes")
        monkeypatch.chdir(tmp_path / "other")
        commits.submit(out)
    assert (tmp_path / "real" / "new.bin").read_bytes() == b"bytes"
    assert sorted(os.listdir(tmp_path)) == ["link", "other", "real"]
    assert os.listdir(tmp_path / "other") == []


def test_an_output_in_a_missing_folder_says_so_and_leaves_nothing(tmp_path):
    """The folder is checked only when the temporary file cannot be made (one system
    call less for every output), with the same message as ``output_target``'s."""
    import pytest

    from audioquant.errors import AudioFileError

    name = str(tmp_path / "no" / "such" / "out.bin")
    with pytest.raises(AudioFileError) as raised:
        OutputFile(name)
    assert str(raised.value) == (f"cannot write {name}: folder {tmp_path / 'no' / 'such'} "
                                 "does not exist")
    with pytest.raises(AudioFileError) as early:
        atomic.output_target(name)
    assert str(early.value) == str(raised.value)
    assert os.listdir(tmp_path) == [] and not atomic._pending


def test_a_link_is_followed_and_a_dangling_one_gives_its_target(tmp_path):
    (tmp_path / "real.bin").write_bytes(b"old")
    (tmp_path / "link.bin").symlink_to(tmp_path / "real.bin")
    (tmp_path / "dangling.bin").symlink_to(tmp_path / "later.bin")
    replaced = atomic.output_target(tmp_path / "link.bin")
    assert (replaced.real, replaced.stream, replaced.mode is not None) == (
        str(tmp_path / "real.bin"), False, True)
    new = atomic.output_target(tmp_path / "dangling.bin")
    assert (new.real, new.stream, new.mode) == (str(tmp_path / "later.bin"), False, None)


def test_temporary_names_follow_a_sequence_that_a_forked_child_starts_anew():
    import multiprocessing

    first = atomic._temporary_name()
    second = atomic._temporary_name()
    assert int(second, 16) == (int(first, 16) + 1) & 0xFFFFFFFF and len(first) == 8
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=lambda: writer.send(atomic._temporary_name()))
    child.start()
    theirs = reader.recv()
    child.join()
    ours = atomic._temporary_name()
    assert int(ours, 16) == (int(second, 16) + 1) & 0xFFFFFFFF
    assert theirs != ours       # (a new random start: equal with chance 2**-32)
