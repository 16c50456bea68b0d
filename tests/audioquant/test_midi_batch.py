"""``audioquant midi quantize IN... --out-dir DIR`` and ``audioquant midi stats IN...``:
folders (recursively), several processes, resuming, a corrupt file among good ones, and
the dataset summary, checked against mido reading the same files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import mido
import numpy as np
import pytest

from audioquant import batch
from audioquant.cli import main
from tests.midi.helpers import SAMPLE, random_performance, run_python, write_mido


@pytest.fixture
def dataset(tmp_path):
    """A folder of takes: two composers, nested, files of the same name in each, PPQ 480
    and 96, and a plain file at the top."""
    rng = np.random.default_rng(7)
    root = tmp_path / "takes"
    for sub, ppq in (("bach/fugue", 480), ("chopin/etude", 96)):
        folder = root / sub
        folder.mkdir(parents=True)
        for name in ("a.mid", "b.MID"):
            write_mido(folder / name, random_performance(rng, ppq=ppq), ppq=ppq)
    write_mido(root / "top.mid", random_performance(rng), ppq=480)
    (root / "notes.txt").write_text("not MIDI, not taken: wrong extension\n")
    return root


def mido_onsets(path) -> tuple[int, list[int]]:
    """(PPQ, absolute ticks of every note-on with velocity > 0), read by mido."""
    mid = mido.MidiFile(path)
    ticks = []
    for track in mid.tracks:
        now = 0
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                ticks.append(now)
    return mid.ticks_per_beat, sorted(ticks)


def test_a_folder_recursively_mirrors_its_paths_and_puts_every_onset_on_the_grid(
        tmp_path, dataset, capsys):
    out = tmp_path / "tight"
    out.mkdir()
    assert main(["midi", "quantize", str(dataset), "--recursive", "--out-dir", str(out),
                 "--grid", "1/16", "--quiet"]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["bach/fugue/a.mid", "bach/fugue/b.MID", "chopin/etude/a.mid",
                       "chopin/etude/b.MID", "top.mid"]
    for rel in written:
        ppq, ticks = mido_onsets(out / rel)
        _, before = mido_onsets(dataset / rel)
        assert len(ticks) == len(before)
        step = ppq // 4                                     # 1/16 = PPQ / 4 ticks
        off = [min(t % step, step - t % step) for t in ticks]
        # on the line, or 1 tick beside it where two notes of one pitch would collide
        assert max(off) <= 1 and off.count(0) >= len(ticks) - 3, rel
    summary = capsys.readouterr().out
    assert "5 written, 0 skipped, 0 failed" in summary and "notes/s" in summary
    assert "bach/fugue/a.mid " in summary and "chopin/etude/a.mid " in summary


def test_an_output_folder_inside_the_input_folder_is_not_taken_in(dataset, capsys):
    """A second run into the same folder finds the same five inputs, not the first
    run's outputs too (which it would quantize again, into ``tight/tight``)."""
    out = dataset / "tight"
    out.mkdir()
    for _ in range(2):
        assert main(["midi", "quantize", str(dataset), "--recursive", "--out-dir",
                     str(out), "--quiet"]) == 0
        assert "5 written, 0 skipped, 0 failed" in capsys.readouterr().out
    assert not (out / "tight").exists()
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["bach/fugue/a.mid", "bach/fugue/b.MID", "chopin/etude/a.mid",
                       "chopin/etude/b.MID", "top.mid"]


def test_a_missing_output_folder_is_made_and_a_file_there_is_refused(tmp_path, dataset,
                                                                     capsys):
    out = tmp_path / "new" / "tight"                    # (its parent does not exist either)
    assert main(["midi", "quantize", str(dataset), "--recursive", "--out-dir", str(out),
                 "--quiet"]) == 0
    assert "5 written, 0 skipped, 0 failed" in capsys.readouterr().out
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.mid")) == [
        "bach/fugue/a.mid", "chopin/etude/a.mid", "top.mid"]
    (tmp_path / "a-file").write_bytes(b"mine")
    assert main(["midi", "quantize", str(dataset / "top.mid"), "--out-dir",
                 str(tmp_path / "a-file")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a folder" in err
    assert (tmp_path / "a-file").read_bytes() == b"mine"


def test_a_folder_of_folders_needs_recursive(tmp_path, dataset, capsys):
    out = tmp_path / "o"
    out.mkdir()
    assert main(["midi", "quantize", str(dataset / "bach"), "--out-dir", str(out)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--recursive" in err
    assert not any(out.iterdir())


def test_a_corrupt_file_is_reported_and_the_others_are_all_written(tmp_path, dataset,
                                                                    capsys):
    bad = dataset / "bach" / "fugue" / "broken.mid"
    bad.write_bytes((dataset / "top.mid").read_bytes()[:60])          # truncated
    out = tmp_path / "o"
    out.mkdir()
    report = tmp_path / "batch.json"
    assert main(["midi", "quantize", str(dataset), "--recursive", "--out-dir", str(out),
                 "--report", str(report), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "5 written, 0 skipped, 1 failed" in captured.out
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and "broken.mid" in errors[0] and "Traceback" not in captured.err
    assert not (out / "bach" / "fugue" / "broken.mid").exists()
    files = json.loads(report.read_text())["files"]
    assert [f["status"] for f in files].count("written") == 5
    good = next(f for f in files if f["status"] == "written")
    assert good["report"]["moved"] == good["moved"] and good["notes"] > 0


def test_jobs_and_skip_existing(tmp_path, dataset, capsys):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    args = ["midi", "quantize", str(dataset), "--recursive", "--grid", "1/8", "--quiet",
            "--strength", "80"]
    assert main([*args, "--out-dir", str(one)]) == 0
    assert main([*args, "--out-dir", str(two), "--jobs", "2"]) == 0
    for path in one.rglob("*.mid"):
        assert path.read_bytes() == (two / path.relative_to(one)).read_bytes()
    kept = two / "top.mid"
    kept.write_bytes(b"left as it was")
    capsys.readouterr()
    assert main([*args, "--out-dir", str(two), "--skip-existing"]) == 0
    assert kept.read_bytes() == b"left as it was"
    assert "0 written, 5 skipped" in capsys.readouterr().out


def test_two_inputs_with_one_output_name_are_refused_before_anything_is_written(
        tmp_path, dataset, capsys):
    out = tmp_path / "o"
    out.mkdir()
    assert main(["midi", "quantize", str(dataset / "bach/fugue/a.mid"),
                 str(dataset / "chopin/etude/a.mid"), "--out-dir", str(out)]) != 0
    assert "would both be written" in capsys.readouterr().err
    assert not any(out.iterdir())


@pytest.mark.parametrize("flag", [["--jobs", "2"], ["--skip-existing"], ["--recursive"]])
def test_batch_flags_need_out_dir(tmp_path, flag, capsys):
    assert main(["midi", "quantize", str(SAMPLE), str(tmp_path / "o.mid"), *flag]) == 2
    assert "needs --out-dir" in capsys.readouterr().err
    assert not (tmp_path / "o.mid").exists()


def test_the_python_api_matches_single_file_quantize(tmp_path, dataset):
    out = tmp_path / "o"
    out.mkdir()
    report = batch.quantize_batch([dataset / "top.mid"], out, grid="1/16", strength=60)
    assert [f.status for f in report.files] == ["written"]
    assert main(["midi", "quantize", str(dataset / "top.mid"), str(tmp_path / "one.mid"),
                 "--grid", "1/16", "--strength", "60"]) == 0
    assert (out / "top.mid").read_bytes() == (tmp_path / "one.mid").read_bytes()


def test_stats_of_a_dataset_counts_what_mido_reads(tmp_path, dataset, capsys):
    assert main(["midi", "stats", str(dataset), "--recursive", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    paths = sorted(p for p in dataset.rglob("*") if p.suffix.lower() == ".mid")
    read = [mido_onsets(p) for p in paths]
    summary = report["summary"]
    assert summary["files"] == summary["read"] == 5 and summary["failed"] == 0
    assert summary["notes"] == sum(len(ticks) for _, ticks in read)
    assert summary["files_per_ppq"] == {"96": 2, "480": 3}
    assert summary["grid_does_not_fit"] == 0              # humanized around a 1/16 grid
    # per file, the share of onsets exactly on the 1/16 grid, from mido's ticks
    for row in report["files"]:
        ppq, ticks = mido_onsets(row["file"])
        on = sum(t % (ppq // 4) == 0 for t in ticks)
        assert row["timing"]["on_grid"] == on and row["timing"]["count"] == len(ticks)
    assert main(["midi", "stats", str(dataset), "--recursive"]) == 0
    text = capsys.readouterr().out
    assert "5 files: 5 read, 0 failed" in text and "PPQ: 480 (3), 96 (2)" in text


def test_stats_of_a_dataset_with_a_bad_file_reports_it_and_exits_1(tmp_path, dataset,
                                                                    capsys):
    (dataset / "zero.mid").write_bytes(b"")
    assert main(["midi", "stats", str(dataset)]) == 1
    captured = capsys.readouterr()
    assert "2 files: 1 read, 1 failed" in captured.out      # top.mid and zero.mid at the top
    assert captured.err.count("\n") == 1 and "zero.mid" in captured.err


def test_midi_commands_do_not_load_the_audio_stack(tmp_path):
    """A MIDI batch starts fast: no soundfile, no tqdm (without a terminal)."""
    out = tmp_path / "o"
    out.mkdir()
    code = ("import sys\nfrom audioquant.cli import main\n"
            f"assert main(['midi', 'quantize', {str(SAMPLE)!r}, '--out-dir', {str(out)!r}])"
            " == 0\n"
            f"assert main(['midi', 'quantize', {str(SAMPLE)!r}, {str(tmp_path / 'x.mid')!r}])"
            " == 0\n"
            "bad = [m for m in ('soundfile', 'tqdm') if m in sys.modules]\n"
            "assert not bad, bad\n")
    run = run_python(code, timeout=300)
    assert run.returncode == 0, run.stderr


def test_a_dask_cluster_writes_the_same_files_as_one_process(tmp_path, dataset):
    # (distributed comes with the test extra)
    one, dask = tmp_path / "one", tmp_path / "dask"
    one.mkdir()
    dask.mkdir()
    batch.quantize_batch([dataset], one, recursive=True, grid="1/8")
    report = batch.quantize_batch([dataset], dask, recursive=True, grid="1/8", jobs=2,
                                  backend="dask")
    assert not report.failed and len(report.files) == 5
    for path in one.rglob("*.mid"):
        assert path.read_bytes() == (dask / path.relative_to(one)).read_bytes()


def test_a_file_that_cannot_be_put_in_place_is_failed_and_the_others_written(
        tmp_path, dataset, capsys, monkeypatch):
    """In one process each output is synced and renamed on a second thread: a rename that
    fails there still makes that file's result failed (exit 1, one line), leaves nothing
    behind and no other file is lost."""
    out = tmp_path / "o"
    out.mkdir()
    replace = os.replace

    def refuse_top(src, dst):
        if os.path.basename(dst) == "top.mid":
            raise OSError(28, "No space left on device")
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", refuse_top)
    assert main(["midi", "quantize", str(dataset), "--recursive", "--out-dir", str(out),
                 "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "4 written, 0 skipped, 1 failed" in captured.out
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and "top.mid" in errors[0] and "No space left" in errors[0]
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert left == ["bach/fugue/a.mid", "bach/fugue/b.MID", "chopin/etude/a.mid",
                    "chopin/etude/b.MID"]                   # no temporary file either


def test_forked_workers_write_the_same_files_as_one_process(tmp_path, dataset):
    """``--jobs 2`` from a fresh interpreter (no other thread: the pool forks) gives the
    bytes of the one-process run."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    batch.quantize_batch([dataset], one, recursive=True, grid="1/8", swing=60)
    code = textwrap.dedent(f"""
        from audioquant import batch
        seen, start = [], batch._run_pool
        def spy(*args):
            seen.append(args[-1])        # the start method
            return start(*args)
        batch._run_pool = spy
        r = batch.quantize_batch([{str(dataset)!r}], {str(two)!r}, recursive=True,
                                 grid='1/8', swing=60, jobs=2)
        assert not r.failed and len(r.files) == 5, r.files
        assert seen == ['fork'], seen
    """)
    run = run_python(code, timeout=300)
    assert run.returncode == 0, run.stderr
    for path in one.rglob("*.mid"):
        assert path.read_bytes() == (two / path.relative_to(one)).read_bytes()


def test_threads_write_the_same_files_as_one_thread_in_plan_order(tmp_path, dataset,
                                                                   monkeypatch):
    """One process runs its files on its cores' threads (the kernel releases the GIL):
    the bytes, the reports and the order of the results are those of one thread."""
    from audioquant import threads

    used = []
    real = batch._run_threads
    monkeypatch.setattr(batch, "_run_threads",
                        lambda *args: used.append(args[3]) or real(*args))
    runs = {}
    for n in (1, 3):
        out = tmp_path / f"t{n}"
        out.mkdir()
        threads.set_max_threads(n)
        try:
            seen: list[str] = []
            runs[n] = batch.quantize_batch(
                [dataset], out, recursive=True, grid="1/8", swing=58,
                progress=lambda r, done, total, seen=seen: seen.append(r.output))
        finally:
            threads.set_max_threads(None)
        assert seen == [f.output for f in runs[n].files]
    assert used == [3]
    assert [f.report for f in runs[1].files] == [
        {**f.report, "output": f.report["output"].replace("t3", "t1")} for f in runs[3].files]
    for path in (tmp_path / "t1").rglob("*.mid"):
        assert path.read_bytes() == (tmp_path / "t3" / path.relative_to(tmp_path / "t1")
                                     ).read_bytes()


def test_a_pool_run_with_skip_existing_keeps_the_plan_order_and_counts(tmp_path, dataset):
    out = tmp_path / "o"
    out.mkdir()
    plan = batch.plan_quantize([dataset], out, recursive=True, grid="1/8")
    (out / "top.mid").write_bytes(b"kept")
    seen = []
    report = batch.run_quantize(plan, jobs=2, skip_existing=True,
                                progress=lambda r, done, total: seen.append((done, total)))
    assert [f.output for f in report.files] == [job.output for job in plan]
    assert [f.status for f in report.files].count("skipped") == 1
    assert next(f for f in report.files if f.output.endswith("top.mid")).status == "skipped"
    assert seen == [(i, 5) for i in range(1, 6)]
    assert (out / "top.mid").read_bytes() == b"kept"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_batch_stopped_midway_leaves_whole_files_and_no_temporary_one(tmp_path, signum):
    """Ctrl-C or SIGTERM while files are being written on the second thread: every file
    left in the output folder is complete (the bytes of a full run), none is temporary."""
    rng = np.random.default_rng(3)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(400):
        write_mido(src / f"{i:03}.mid", random_performance(rng), ppq=480)
    full, cut = tmp_path / "full", tmp_path / "cut"
    full.mkdir()
    cut.mkdir()
    batch.quantize_batch([src], full, grid="1/16")
    proc = subprocess.Popen([sys.executable, "-m", "audioquant", "midi", "quantize", str(src),
                             "--out-dir", str(cut), "--quiet"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while sum(n.endswith(".mid") for n in os.listdir(cut)) < 20 and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.001)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    names = os.listdir(cut)
    assert not [n for n in names if n.startswith(".audioquant-")], names
    assert 20 <= len(names) < 400, f"the batch ended before the signal: {err}"
    for name in names:
        assert (cut / name).read_bytes() == (full / name).read_bytes(), name
    if signum == signal.SIGINT:
        assert (proc.returncode, err) == (130, b"error: interrupted\n")
    else:
        assert proc.returncode == -signal.SIGTERM


def test_a_second_batch_makes_its_folders_again(tmp_path, dataset):
    import shutil

    out = tmp_path / "o"
    out.mkdir()
    for _ in range(2):       # the first run's folders removed before the second
        report = batch.quantize_batch([dataset], out, recursive=True, grid="1/8")
        assert not report.failed and len(report.files) == 5
        shutil.rmtree(out / "bach")


def test_the_progress_bars_start_no_thread():
    """On a terminal a batch draws bars; they must not start tqdm's monitor thread, or a
    MIDI batch with --jobs would spawn its workers (a full start-up each) instead of
    forking them. (A fresh interpreter: tqdm's monitor outlives the bar that started
    it.)"""
    code = textwrap.dedent("""
        import threading
        from audioquant import batch
        bars = batch.ProgressBars(["a.mid", "b.mid"])
        bars.finished(batch.MidiFileResult("a.mid", "o/a.mid", "written"), 1, 2)
        assert threading.active_count() == 1, threading.enumerate()
        bars.close()
    """)
    run = run_python(code, timeout=120)
    assert run.returncode == 0, run.stderr
