"""What a render says about its levels: the peak written (dBFS), the clipped samples and
where the first one is, the gain stage; and a batch's progress reports and bars.

References are independent of the engine: peaks read back from the written file with
soundfile, clip positions placed by construction, gains computed with numpy.
"""

from __future__ import annotations

import fcntl
import io as pyio
import math
import os
import pty
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest
import soundfile as sf

from audioquant import Gain, Requantize, batch, render


def _file_peak_dbfs(path: str, bits: int) -> float:
    """The peak of a written PCM file, from its integer samples (full scale 2**31 as
    soundfile reads int32, whatever the container)."""
    data, _ = sf.read(path, dtype="int32", always_2d=True)
    top = max(int(data.max()), -int(data.min()))
    return 20 * math.log10(top / 2**31) if top else -math.inf


@pytest.mark.parametrize(("bits", "ext"), [(16, "wav"), (24, "flac"), (8, "wav"), (12, "aiff")])
def test_peak_is_the_largest_sample_in_the_file(tmp_path, rng, bits, ext):
    src, dst = str(tmp_path / "in.wav"), str(tmp_path / f"out.{ext}")
    x = 0.4 * rng.standard_normal((30000, 2))
    np.clip(x, -0.9, 0.9, out=x)
    sf.write(src, x, 48000, subtype="DOUBLE")
    report = render(src, dst, bits=bits, block_size=4096)
    assert report.peak_dbfs == pytest.approx(_file_peak_dbfs(dst, bits), abs=1e-9)
    assert -1.5 < report.peak_dbfs < 0          # 0.9 of full scale, give or take dither


def test_silence_peaks_at_minus_infinity(tmp_path):
    src, dst = str(tmp_path / "in.wav"), str(tmp_path / "out.wav")
    sf.write(src, np.zeros((1000, 2)), 44100, subtype="PCM_16")
    report = render(src, dst, bits=16)
    assert report.peak_dbfs == -math.inf and report.first_clip is None
    assert sum(report.clips) == 0


def test_zero_frames_has_no_peak_and_no_clip(tmp_path):
    src, dst = str(tmp_path / "in.wav"), str(tmp_path / "out.wav")
    sf.write(src, np.zeros((0, 1)), 44100, subtype="PCM_16")
    report = render(src, dst, bits=16)
    assert report.peak_dbfs == -math.inf and report.first_clip is None


@pytest.mark.parametrize("shaping", ["none", "lipshitz"])
@pytest.mark.parametrize("block", [1, 37, 4096, None])
def test_first_clip_is_where_the_signal_first_goes_past_full_scale(shaping, block, rng):
    """Channel 1 goes past full scale at frame 5003, channel 0 later at 7000: the first clip
    is frame 5003 whatever the block size, and both channels' counts are the overs."""
    frames = 12000
    x = 0.25 * rng.uniform(-1, 1, (2, frames))
    x[1, 5003:5010] = 1.5       # far past full scale: these clip whatever the dither
    x[0, 7000] = -1.5
    q = Requantize(16, dither="tpdf", shaping=shaping, seed=3)
    q.prepare(44100, 2)
    step = block or frames
    for start in range(0, frames, step):
        q.process_codes(x[:, start:start + step])
    q.process_codes(np.zeros((2, 0)), final=True)
    assert q.first_clip == 5003
    assert q.clips[1] >= 7 and q.clips[0] >= 1
    q.reset()
    assert q.first_clip is None


def test_first_clip_in_a_render_is_in_output_frames(tmp_path):
    """After resampling 96 kHz -> 48 kHz the first over is reported at the output's frame
    (half the input's, within the resampler's few-sample ringing)."""
    src, dst = str(tmp_path / "in.wav"), str(tmp_path / "out.wav")
    x = np.zeros((96000, 1))
    x[60000:60400] = 1.2          # a 200-frame burst at 48 kHz, from frame 30000
    sf.write(src, x, 96000, subtype="DOUBLE")
    report = render(src, dst, bits=16, rate=48000)
    assert abs(report.first_clip - 30000) <= 8
    assert report.peak_dbfs == pytest.approx(_file_peak_dbfs(dst, 16), abs=1e-9)


def test_gain_is_a_level_change_in_db(rng):
    x = rng.standard_normal((2, 1000))
    assert np.array_equal(Gain(-6.0)(x, 44100), x * 10 ** (-6 / 20))
    huge = Gain(400.0)(np.full((1, 4), 1e100), 44100)
    assert np.isfinite(huge).all()
    with pytest.raises(ValueError, match="finite"):
        Gain(float("nan"))


def test_gain_moves_the_peak_by_its_db(tmp_path):
    src = str(tmp_path / "in.wav")
    t = np.arange(48000) / 48000
    sf.write(src, 0.5 * np.sin(2 * np.pi * 997 * t)[:, None], 48000, subtype="DOUBLE")
    loud = render(src, str(tmp_path / "a.wav"), bits=24, gain_db=4.0)
    quiet = render(src, str(tmp_path / "b.wav"), bits=24, gain_db=-4.0)
    assert loud.peak_dbfs - quiet.peak_dbfs == pytest.approx(8.0, abs=1e-3)
    assert loud.peak_dbfs == pytest.approx(20 * math.log10(0.5) + 4, abs=1e-3)


# -- batch: the summary and progress ----------------------------------------------------


@pytest.fixture
def two_files(tmp_path) -> list[str]:
    """A clean file, and one that goes past full scale at 0.5 s."""
    paths = []
    for name, over in (("clean.wav", False), ("hot.wav", True)):
        x = 0.3 * np.sin(2 * np.pi * 440 * np.arange(44100) / 44100)[:, None]
        if over:
            x[22050:22060] = 1.4
        path = str(tmp_path / name)
        sf.write(path, np.repeat(x, 2, axis=1), 44100, subtype="DOUBLE")
        paths.append(path)
    return paths


def test_batch_summary_names_the_clipping_file_and_where(tmp_path, two_files):
    out = tmp_path / "out"
    out.mkdir()
    report = batch.render_batch(two_files, out, bits=16)
    clean, hot = report.files
    assert clean.clips == 0 and clean.first_clip is None
    assert hot.clips == 20 and hot.first_clip == pytest.approx(0.5)
    assert hot.peak_dbfs == pytest.approx(_file_peak_dbfs(hot.output, 16), abs=1e-9)
    table = batch.format_summary(report)
    assert "20 @ 0:00.500" in table and "1 clipping" in table


@pytest.mark.parametrize("jobs", [1, 2])
def test_file_progress_reaches_every_file_end(tmp_path, two_files, jobs):
    out = tmp_path / "out"
    out.mkdir()
    seen: dict[int, list[tuple[int, int]]] = {}
    batch.render_batch(two_files, out, jobs=jobs, bits=16, block_size=1000,
                       file_progress=lambda i, done, total: seen.setdefault(i, []).append(
                           (done, total)))
    assert sorted(seen) == [0, 1]
    for reports in seen.values():
        done = [d for d, _ in reports]
        assert done == sorted(done) and reports[-1] == (44100, 44100)


def test_progress_bars_draw_the_batch_and_finish_at_100_percent(tmp_path, two_files):
    out = tmp_path / "out"
    out.mkdir()
    screen = pyio.StringIO()
    bars = batch.ProgressBars(two_files, file=screen, delay=0)
    batch.render_batch(two_files, out, bits=16, block_size=4410, progress=bars.finished,
                       file_progress=bars.file)
    bars.close()
    text = screen.getvalue()
    assert "batch: 100%" in text and "2/2 files" in text
    assert "clean.wav" in text            # a file's own bar (delay 0: every file has one)


def _cli(args: list[str], tty: bool) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal or a pipe; (exit code, stderr)."""
    cmd = [sys.executable, "-m", "audioquant", *args]
    if not tty:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        return proc.returncode, proc.stderr
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))   # 100 columns
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=side)
    os.close(side)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:                  # the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return proc.wait(timeout=120), b"".join(chunks).decode(errors="replace")


def test_cli_draws_bars_on_a_terminal_only(tmp_path, two_files):
    for tty, quiet in ((True, False), (False, False), (True, True)):
        out = tmp_path / f"out-{tty}-{quiet}"
        out.mkdir()
        code, err = _cli(["render", *two_files, "--out-dir", str(out)]
                         + ["--quiet"] * quiet, tty)
        assert code == 0 and sorted(os.listdir(out)) == ["clean.wav", "hot.wav"]
        assert ("batch: 100%" in err) == (tty and not quiet), err


# -- SNR against the source --------------------------------------------------------------


def _snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    error = test - reference
    return 10 * math.log10(np.sum(reference**2) / np.sum(error**2))


@pytest.mark.parametrize("options", [
    {"bits": 8, "hold_rate": 8000},              # the error is mostly the rate reduction
    {"bits": 16, "shaping": "auto"},
    {"bits": 12, "gain_db": -6.0},               # against the source at the gain asked
    {"bits": 16, "normalize_dbfs": -1.0},
])
def test_snr_against_the_source_is_the_files_own(tmp_path, rng, options):
    src, dst = str(tmp_path / "in.wav"), str(tmp_path / "out.wav")
    t = np.arange(48000) / 48000
    x = np.stack([0.4 * np.sin(2 * np.pi * 1234.5 * t), 0.3 * rng.uniform(-1, 1, t.size)], 1)
    sf.write(src, x, 48000, subtype="DOUBLE")
    report = render(src, dst, block_size=5000, **options)
    y, _ = sf.read(dst, always_2d=True)
    gain = 10 ** (report.gain_db / 20)
    assert report.source_snr_db == pytest.approx(_snr_db(gain * x, y), abs=1e-6)
    if "hold_rate" in options:      # the rate reduction dominates; the requantizer's alone
        assert report.snr_db > report.source_snr_db + 10     # would flatter it


def test_snr_against_the_source_is_none_when_the_rate_changes(tmp_path):
    src = str(tmp_path / "in.wav")
    sf.write(src, 0.1 * np.ones((4800, 1)), 48000, subtype="DOUBLE")
    report = render(src, str(tmp_path / "out.wav"), rate=44100)
    assert report.source_snr_db is None and math.isfinite(report.snr_db)


def test_shaping_gain_is_the_filters_weighted_noise_change(tmp_path):
    from audioquant.processors import auto_shaper, weighted_noise_gain_db

    src = str(tmp_path / "in.wav")
    sf.write(src, 0.1 * np.ones((4410, 1)), 44100, subtype="DOUBLE")
    report = render(src, str(tmp_path / "out.wav"), shaping="auto")
    assert report.shaping_gain_db == pytest.approx(
        weighted_noise_gain_db(auto_shaper(44100), 44100)) and report.shaping_gain_db < -5
    assert render(src, str(tmp_path / "flat.wav")).shaping_gain_db == 0.0
