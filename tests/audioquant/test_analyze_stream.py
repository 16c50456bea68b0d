"""Streaming ``analyze``: block-size invariance, agreement with the whole-array functions
and with theory, flat memory, honest labels.

Theory used (full scale 1.0, a full-scale sine has mean square 0.5):

- a full-scale sine rounded to N bits: SINAD = 6.02 N + 1.76 dB (error power LSB**2 / 12);
- TPDF dither triples the error power (LSB**2 / 4): 4.77 dB less;
- AES17 dynamic range of 16-bit TPDF at 44.1 kHz: the error's share of 20 Hz - 20 kHz,
  10*log10(0.5 / (2**-30 / 4 * 19980 / 22050)) = 93.75 dB; A-weighted 95.8 dB(A).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audioquant import analysis as an
from audioquant.analysis_stream import CHUNK_FRAMES, SEGMENT, StreamAnalyzer, analyze_file
from audioquant.cli import main

FS = 44100


def tone(frames: int, level_dbfs: float, freq: float = 997.0, rate: int = FS,
         phase: float = 0.3) -> np.ndarray:
    return 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq * np.arange(frames) / rate + phase)


def quantize(x: np.ndarray, bits: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Round to ``bits`` (codes of 2**-(bits-1)), with TPDF dither when ``rng`` is given."""
    scale = 2.0 ** (bits - 1)
    d = 0.0 if rng is None else rng.random(x.shape) - rng.random(x.shape)
    return np.round(x * scale + d) / scale


def stream(audio: np.ndarray, block: int, reference: np.ndarray | None = None) -> dict:
    a = StreamAnalyzer(FS, audio.shape[0], reference=reference is not None)
    for s in range(0, audio.shape[1], block):
        a.add(audio[:, s : s + block], None if reference is None else reference[:, s : s + block])
    return a.result()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(13)


# ------------------------------------------------------------- block size, exactness


@pytest.mark.parametrize("block", [64, 65, 8192, 8193, CHUNK_FRAMES + 1, 10**9])
def test_every_figure_is_the_same_whatever_the_block_size(rng, block):
    # a fixed 65536-frame grid under the blocks: == on every figure, spectral ones too
    x = np.stack([tone(3 * FS + 17, -60.0), tone(3 * FS + 17, -60.0, phase=1.0)])
    y = quantize(x, 16, rng)
    assert stream(y, block, x) == an.summary(y, FS, reference=x)


def test_one_frame_blocks_give_the_same_figures(rng):
    y = quantize(tone(SEGMENT + 999, -1e-9)[np.newaxis], 16, rng)
    assert stream(y, 1) == stream(y, SEGMENT + 999)


def test_a_file_streamed_in_any_block_size_equals_the_array_summary(tmp_path, rng):
    x = quantize(np.stack([tone(2 * FS, -20.0), tone(2 * FS, -26.0)]), 16, rng)
    path = tmp_path / "x.wav"
    sf.write(path, x.T, FS, subtype="PCM_16")
    whole = an.summary(x, FS)
    for block in (1000, 4096, 1 << 19):
        assert analyze_file(str(path), block_frames=block) == whole


def test_exact_figures_equal_the_whole_array_functions(rng):
    x = np.stack([tone(FS, -3.0), 0.1 * rng.standard_normal(FS)]) + 0.01
    y = x + 1e-4 * rng.standard_normal(x.shape)
    d = an.summary(y, FS, reference=x)
    assert d["peak_dbfs"] == an.peak_dbfs(y)
    assert d["rms_dbfs_aes17"] == pytest.approx(an.rms_dbfs(y), abs=1e-12)
    assert d["snr_db"] == pytest.approx(an.snr(x, y), abs=1e-12)
    means = np.mean(y, axis=1)  # DC of the channel whose mean is largest
    assert d["dc_offset"] == pytest.approx(float(means[np.argmax(np.abs(means))]), abs=1e-15)


# ------------------------------------------------------------- theory


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_sinad_of_a_rounded_full_scale_sine_is_6_02_n_plus_1_76(bits):
    x = tone(4 * FS, -1e-9, freq=1000.3)
    d = an.summary(quantize(x, bits), FS)
    assert d["sinad_db"] == pytest.approx(6.02 * bits + 1.76, abs=0.1)
    assert d["enob_bits"] == pytest.approx(bits, abs=0.02)


def test_tpdf_dither_costs_4_77_db(rng):
    x = tone(4 * FS, -1e-9)
    plain = an.summary(quantize(x, 16), FS)["sinad_db"]
    dithered = an.summary(quantize(x, 16, rng), FS)["sinad_db"]
    assert plain - dithered == pytest.approx(10 * math.log10(3), abs=0.1)


def test_aes17_dynamic_range_of_16_bit_tpdf(rng):
    y = quantize(np.stack([tone(5 * FS, -60.0)] * 2), 16, rng)
    d = an.summary(y, FS)
    band = (20000 - 20) / (FS / 2)
    assert d["dynamic_range_db"] == pytest.approx(10 * math.log10(0.5 / (2**-30 / 4 * band)),
                                                  abs=0.05)
    assert d["dynamic_range_db"] == pytest.approx(93.75, abs=0.05)
    assert d["dynamic_range_a_db"] == pytest.approx(95.8, abs=0.1)


# ------------------------------------------------------------- against whole-array functions


def test_spectral_figures_agree_with_the_least_squares_notch(rng):
    # The spectral notch against analysis.notch / sinad / dynamic_range: within 0.05 dB.
    y = quantize(np.stack([tone(5 * FS, -60.0), tone(5 * FS, -60.0, phase=2.0)]), 16, rng)
    d = an.summary(y, FS)
    resid = an.notch(y, FS)
    assert d["sinad_db"] == pytest.approx(an.sinad(y, FS), abs=0.05)
    assert d["dynamic_range_db"] == pytest.approx(an.dynamic_range(y, FS), abs=0.05)
    assert d["dynamic_range_a_db"] == pytest.approx(an.dynamic_range(y, FS, "A"), abs=0.05)
    for key, weighting in (("noise_a_dbfs", "A"), ("noise_468_dbfs", "468")):
        want = 10 * math.log10(an.weighted_noise_power(resid, FS, weighting) / 0.5)
        assert d[key] == pytest.approx(want, abs=0.05)


def test_a_loud_tone_is_notched_as_well_as_by_least_squares(rng):
    # a full-scale tone's Hann sidelobes reach far: the notch widens to stay 20 dB under
    y = quantize(tone(5 * FS, -0.5, freq=3001.7), 16, rng)
    assert an.summary(y, FS)["sinad_db"] == pytest.approx(an.sinad(y, FS), abs=0.05)


def test_weighted_level_of_noise_is_weighted_noise_power(rng):
    x = 0.01 * rng.standard_normal((2, 3 * FS))
    d = an.summary(x, FS)
    for key, weighting in (("level_a_dbfs", "A"), ("level_468_dbfs", "468")):
        want = 10 * math.log10(an.weighted_noise_power(x, FS, weighting) / 0.5)
        assert d[key] == pytest.approx(want, abs=1e-9)


# ------------------------------------------------------------- labels


def test_rms_is_given_in_both_conventions():
    # a full-scale square wave: 0 dBFS re a square (SoX, FFmpeg), +3.01 dBFS re a sine
    square = np.where(np.arange(FS) % 100 < 50, 1.0, -1.0)
    d = an.summary(square, FS)
    assert d["rms_dbfs_square"] == pytest.approx(0.0, abs=1e-12)
    assert d["rms_dbfs_aes17"] == pytest.approx(10 * math.log10(2), abs=1e-12)


def test_a_tone_only_at_the_start_is_not_called_dominant(rng):
    # the fit sees a tone in the first frames, but the file's power is mostly noise after
    x = np.concatenate([tone(FS, -20.0), 0.5 * rng.standard_normal(20 * FS)])
    d = an.summary(x, FS)
    assert "sinad_db" not in d and "noise_floor_dbfs" not in d and "enob_bits" not in d


def test_cli_labels_say_their_convention(tmp_path, capsys, rng):
    path = tmp_path / "aes17.wav"
    sf.write(path, quantize(tone(3 * FS, -60.0), 16, rng), FS, subtype="PCM_16")
    assert main(["analyze", str(path)]) == 0
    text = capsys.readouterr().out
    assert "RMS (re FS sine, AES17)" in text and "RMS (re FS square, SoX)" in text
    assert "notched tone residual" in text and "ITU-R 468" in text and "dBFS(A)" in text
    assert "IEEE 1241, corrected to a full-scale tone" in text
    enob = [line for line in text.splitlines() if line.startswith("ENOB")]
    assert len(enob) == 1 and enob[0].startswith("ENOB re full scale")
    assert main(["analyze", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert {"rms_dbfs_aes17", "rms_dbfs_square", "noise_floor_of", "enob_full_scale_bits",
            "dynamic_range_a_db", "noise_468_dbfs"} <= d.keys()
    assert "enob_bits" not in d and "rms_dbfs" not in d


def test_cli_analyze_help_has_a_description(capsys):
    assert main(["analyze", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "streamed in blocks" in text and "AES17" in text and "IEEE 1241" in text


def test_reference_of_another_length_is_one_clear_error(tmp_path, capsys):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(a, np.zeros((1000, 2)), FS, subtype="PCM_16")
    sf.write(b, np.zeros((999, 2)), FS, subtype="PCM_16")
    assert main(["analyze", str(a), "--reference", str(b)]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not match" in err and "Traceback" not in err


def test_reference_snr_streams_side_by_side(tmp_path, rng):
    x = quantize(np.stack([tone(3 * FS, -6.0)] * 2), 24)
    y = quantize(x, 12, rng)
    a, b = tmp_path / "y.wav", tmp_path / "x.wav"
    sf.write(a, y.T, FS, subtype="PCM_24")
    sf.write(b, x.T, FS, subtype="PCM_24")
    seen: list[tuple[int, int | None]] = []
    d = analyze_file(str(a), str(b), block_frames=5000, progress=lambda n, t: seen.append((n, t)))
    assert d["snr_db"] == pytest.approx(an.snr(x, y), abs=1e-9)
    assert d == an.summary(y, FS, reference=x)
    assert seen[-1] == (3 * FS, 3 * FS) and len(seen) == math.ceil(3 * FS / 5000)


# ------------------------------------------------------------- memory


_MEASURE = """
import sys
from audioquant.cli import main
status = main(["analyze", sys.argv[1], "--json"])
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(int(hwm.split()[1]) // 1024, file=sys.stderr)
sys.exit(status)
"""


def _write_long(path, rate: int, channels: int, seconds: float) -> None:
    """A -1 dBFS 997 Hz tone with TPDF noise, 16-bit, written in blocks (bounded memory)."""
    rng = np.random.default_rng(5)
    n = int(rate * seconds)
    with sf.SoundFile(path, "w", rate, channels, "PCM_16") as f:
        for s in range(0, n, 1 << 18):
            m = min(1 << 18, n - s)
            x = 0.89 * np.sin(2 * np.pi * 997 * np.arange(s, s + m) / rate)[:, None]
            x = x * 32767 + rng.random((m, channels)) - rng.random((m, channels))
            f.write(np.round(x).astype(np.int16))


def _peak_rss_mb(path) -> int:
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return int(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("rate,channels,short_s,long_s", [(44100, 2, 60, 1200),
                                                          (96000, 8, 5, 60)])
def test_peak_memory_does_not_grow_with_the_length(tmp_path, rate, channels, short_s, long_s):
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    _write_long(short, rate, channels, short_s)
    _write_long(long, rate, channels, long_s)
    small, big = _peak_rss_mb(short), _peak_rss_mb(long)
    assert big < 300, big
    assert abs(big - small) < 30, (small, big)


def test_levels_only_gives_the_full_analysis_levels_bit_for_bit_and_no_more(tmp_path,
                                                                             capsys, rng):
    x = np.stack([tone(3 * FS, -6.0), tone(3 * FS, -12.0, freq=440.0)]) + \
        1e-3 * rng.standard_normal((2, 3 * FS))
    path, ref = tmp_path / "x.wav", tmp_path / "r.wav"
    sf.write(path, x.T, FS, subtype="FLOAT")
    sf.write(ref, np.round(x.T * 32767) / 32767, FS, subtype="FLOAT")
    full = analyze_file(str(path), str(ref))
    assert main(["analyze", str(path), "--reference", str(ref), "--levels", "--json"]) == 0
    levels = json.loads(capsys.readouterr().out)
    keys = {"sample_rate_hz", "channels", "frames", "duration_s", "peak_dbfs",
            "rms_dbfs_aes17", "rms_dbfs_square", "dc_offset", "snr_db"}
    assert set(levels) == keys
    assert all(levels[k] == full[k] for k in keys)
    y = sf.read(path, dtype="float64")[0]                    # plain numpy, as SoX counts
    assert levels["peak_dbfs"] == pytest.approx(20 * np.log10(np.max(np.abs(y))), abs=1e-9)
    assert levels["rms_dbfs_square"] == pytest.approx(10 * np.log10(np.mean(y**2)), abs=1e-9)
    assert main(["analyze", str(path), "--levels", "--plot", str(tmp_path / "p.png")]) == 2
    assert "--levels does not compute" in capsys.readouterr().err
