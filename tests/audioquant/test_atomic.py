"""``audioquant.atomic.BackgroundCommits``: outputs synced and renamed on a second thread,
in place when it closes, a failure kept for the caller, nothing left behind."""

from __future__ import annotations

import os
import threading

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
