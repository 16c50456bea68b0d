"""Batches: one bad file never stops the others, bytes do not depend on jobs or order,
--skip-existing resumes, and a killed batch leaves no partial file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from audioquant import batch, io
from audioquant.engine import render


@pytest.fixture
def stems(tmp_path) -> list[str]:
    """20 short stereo float files (different noise each); number 7 is not audio."""
    folder = tmp_path / "stems"
    folder.mkdir()
    rng = np.random.default_rng(11)
    paths = []
    for i in range(20):
        path = str(folder / f"stem{i:02d}.wav")
        if i == 7:
            with open(path, "wb") as f:
                f.write(b"not a sound file at all")
        else:
            sf.write(path, 0.2 * rng.standard_normal((2000, 2)).astype(np.float32), 44100,
                     subtype="FLOAT")
        paths.append(path)
    return paths


def contents(folder) -> dict[str, bytes]:
    return {name: open(os.path.join(folder, name), "rb").read()
            for name in sorted(os.listdir(folder))}


def test_one_bad_file_is_reported_and_the_others_are_written(tmp_path, stems):
    out = tmp_path / "out"
    out.mkdir()
    report = batch.render_batch(stems, out, jobs=2, bits=16)
    assert [f.input for f in report.failed] == [stems[7]]
    assert "cannot read" in report.failed[0].error and "stem07.wav" in report.failed[0].error
    assert sorted(os.listdir(out)) == sorted(f"stem{i:02d}.wav" for i in range(20) if i != 7)
    for f in report.files:
        if f.status == "written":        # the file's own seed, and its SNR is the render's
            single = tmp_path / "single.wav"
            render(f.input, single, bits=16, seed=batch.file_seed(0, f.input))
            assert single.read_bytes() == open(f.output, "rb").read()
            break


def test_jobs_and_order_do_not_change_a_byte(tmp_path, stems):
    runs = []
    for jobs, order in ((1, stems), (2, stems[::-1])):
        out = tmp_path / f"out{jobs}"
        out.mkdir()
        batch.render_batch(order, out, jobs=jobs, bits=12, shaping="lipshitz")
        runs.append(contents(out))
    assert runs[0] == runs[1] and len(runs[0]) == 19


def test_each_file_gets_its_own_seed(tmp_path):
    src = tmp_path / "a" / "x.wav"
    twin = tmp_path / "b" / "y.wav"
    for path in (src, twin):
        path.parent.mkdir()
        sf.write(str(path), np.full((3000, 1), 0.1, np.float32), 44100, subtype="FLOAT")
    out = tmp_path / "out"
    out.mkdir()
    batch.render_batch([src, twin], out)
    assert (out / "x.wav").read_bytes() != (out / "y.wav").read_bytes()   # same audio
    assert batch.file_seed(0, "x.wav") != batch.file_seed(0, "y.wav")
    assert batch.file_seed(0, "/a/x.wav") == batch.file_seed(0, "/b/x.wav")  # name only


def test_skip_existing_writes_nothing_new(tmp_path, stems):
    out = tmp_path / "out"
    out.mkdir()
    batch.render_batch(stems, out)
    before = {n: os.stat(out / n).st_ino for n in os.listdir(out)}
    again = batch.render_batch(stems, out, skip_existing=True)
    assert {n: os.stat(out / n).st_ino for n in os.listdir(out)} == before
    assert [f.status for f in again.files].count("skipped") == 19
    assert [f.input for f in again.failed] == [stems[7]]       # tried again, fails again


def test_two_inputs_with_one_output_name_are_refused(tmp_path, stems):
    other = tmp_path / "other"
    other.mkdir()
    clash = other / "stem00.wav"
    clash.write_bytes(open(stems[0], "rb").read())
    with pytest.raises(io.ParameterError, match="would both be written"):
        batch.render_batch([stems[0], clash], tmp_path)


def test_a_killed_batch_leaves_no_partial_file(tmp_path):
    folder = tmp_path / "long"
    folder.mkdir()
    rng = np.random.default_rng(12)
    for i in range(4):
        sf.write(str(folder / f"long{i}.wav"),
                 (0.1 * rng.standard_normal((44100 * 30, 2))).astype(np.float32), 44100,
                 subtype="FLOAT")
    out = tmp_path / "out"
    out.mkdir()
    code = ("import sys, glob; from audioquant import batch; "
            "batch.render_batch(sorted(glob.glob(sys.argv[1] + '/*.wav')), sys.argv[2], "
            "jobs=2, shaping='lipshitz', block_size=64)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder), str(out)],
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while not any(n.startswith(io.TEMP_PREFIX) for n in os.listdir(out)):
        assert time.monotonic() < deadline, "no render started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    deadline = time.monotonic() + 20                # the workers' own cleanup (a loaded
    while any(n.startswith(io.TEMP_PREFIX) for n in os.listdir(out)):   # machine is slow)
        assert time.monotonic() < deadline, os.listdir(out)
        time.sleep(0.1)
    for name in os.listdir(out):                    # whatever is there is whole
        assert sf.info(str(out / name)).frames == 44100 * 30


def test_dask_local_cluster_writes_the_same_bytes_as_the_pool(tmp_path, stems):
    # (distributed comes with the test extra; --backend dask needs audioquant[dask])
    outs = []
    for backend in ("process", "dask"):
        out = tmp_path / backend
        out.mkdir()
        report = batch.render_batch(stems[:6], out, jobs=2, backend=backend, bits=16)
        assert [f.input for f in report.failed] == []
        outs.append(contents(out))
    assert outs[0] == outs[1] and len(outs[0]) == 6


def test_cli_batch_makes_a_missing_output_folder(tmp_path, stems, capsys):
    from audioquant.cli import main

    out = tmp_path / "new" / "delivered"
    good = stems[:2]                                    # (number 7 is the bad one)
    assert main(["render", "--preset", "cd", *good, "--out-dir", str(out)]) == 0
    assert sorted(os.listdir(out)) == sorted(os.path.basename(s) for s in good)


def test_cli_batch_one_corrupt_file(tmp_path, stems, capsys):
    from audioquant.cli import main

    out = tmp_path / "delivered"
    out.mkdir()
    report = tmp_path / "batch.json"
    status = main(["render", "--preset", "cd", *stems, "--out-dir", str(out), "--jobs", "2",
                   "--format", "flac", "--report", str(report)])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: cannot read")
    assert "19 written, 0 skipped, 1 failed" in captured.out
    assert len(os.listdir(out)) == 19 and all(n.endswith(".flac") for n in os.listdir(out))
    import json
    files = json.loads(report.read_text())["files"]
    assert [f["status"] for f in files].count("written") == 19
    before = {n: os.stat(out / n).st_ino for n in os.listdir(out)}
    assert main(["render", "--preset", "cd", *stems, "--out-dir", str(out), "--format",
                 "flac", "--skip-existing"]) == 1                  # the bad one, again
    assert {n: os.stat(out / n).st_ino for n in os.listdir(out)} == before


@pytest.mark.parametrize(("args", "message"), [
    (["--jobs", "2"], "--jobs needs --out-dir"),
    (["--skip-existing"], "--skip-existing needs --out-dir"),
    (["--backend", "dask"], "--backend needs --out-dir"),
    (["--report", "r.json"], "--report needs --out-dir"),
    (["--out-dir", ".", "--scheduler", "tcp://x:1"], "--scheduler needs --backend dask"),
    (["--out-dir", ".", "--jobs", "0"], "--jobs must be a whole number >= 1"),
])
def test_cli_batch_options_without_a_batch_are_usage_errors(tmp_path, capsys, args, message):
    from audioquant.cli import main

    assert main(["render", "a.wav", "b.wav", *args]) == 2
    assert message in capsys.readouterr().err


def test_cli_batch_report_that_cannot_be_written_stops_it_before_any_file(tmp_path, stems,
                                                                          capsys):
    from audioquant.cli import main

    out = tmp_path / "delivered"
    out.mkdir()
    status = main(["render", *stems[:3], "--out-dir", str(out),
                   "--report", str(tmp_path / "missing" / "batch.json")])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and "missing does not exist" in err
    assert os.listdir(out) == []


def test_threads_share_the_files_with_the_caller_and_report_in_plan_order():
    """``_run_threads`` runs files on the calling thread too, and reports each to it in
    plan order; an exception a job lets out (a bug: jobs report their failures) stops
    the run and is raised in the caller once the other threads are done."""
    import threading

    ran_on: dict[int, str] = {}

    def job(spec, threads, progress):
        ran_on[spec] = threading.current_thread().name
        time.sleep(0.002 * (spec % 3))      # (out of order)
        return spec * 10

    reported = []
    batch._run_threads(job, list(range(40)), list(range(40)), 2,
                       lambda i, result: reported.append((i, result,
                                                          threading.current_thread())))
    assert [(i, r) for i, r, _ in reported] == [(i, 10 * i) for i in range(40)]
    assert {t for _, _, t in reported} == {threading.main_thread()}
    assert {"MainThread", "audioquant-file-1"} == set(ran_on.values())

    def broken(spec, threads, progress):
        if spec == 5:
            raise RuntimeError("a bug")
        time.sleep(0.001)
        return spec

    with pytest.raises(RuntimeError, match="a bug"):
        batch._run_threads(broken, list(range(200)), list(range(200)), 2, lambda i, r: None)
    assert not any(t.name.startswith("audioquant-file-") for t in threading.enumerate())
