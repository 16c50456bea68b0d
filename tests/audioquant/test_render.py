"""Rendering files: bytes, codes, formats, determinism, auto-blank, and bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audioquant import io
from audioquant.engine import render
from audioquant.errors import AudioFileError, ParameterError
from audioquant.processors import Requantize
from tests.conftest import sine


def write_float(path, audio: np.ndarray, rate: int = 44100, subtype: str = "FLOAT") -> str:
    sf.write(str(path), np.atleast_2d(audio).T, rate, subtype=subtype)
    return str(path)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audioquant", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def mix(tmp_path, rng):
    """3 s of stereo float: a sine plus noise, then one second of exact zeros."""
    n = 3 * 44100
    left = 0.5 * sine(997, 1, n) + 0.01 * rng.standard_normal(n)
    right = 0.25 * sine(440, 1, n) + 0.01 * rng.standard_normal(n)
    audio = np.vstack([left, right])
    audio[:, 2 * 44100:] = 0.0
    return write_float(tmp_path / "mix.wav", audio.astype(np.float32))


def test_block_size_does_not_change_a_byte(tmp_path, mix):
    outputs = []
    for block in (1, 64, 4096, 1 << 20):
        out = tmp_path / f"out{block}.wav"
        render(mix, out, bits=16, shaping="lipshitz", block_size=block)
        outputs.append(out.read_bytes())
    assert all(o == outputs[0] for o in outputs[1:])


def test_seed_decides_the_dither(tmp_path, mix):
    a, b, c = (tmp_path / n for n in ("a.wav", "b.wav", "c.wav"))
    render(mix, a, seed=1)
    render(mix, b, seed=1)
    render(mix, c, seed=2)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize(("bits", "ext", "subtype"), [
    (8, ".wav", "PCM_U8"), (12, ".wav", "PCM_16"), (16, ".aiff", "PCM_16"),
    (20, ".flac", "PCM_24"), (24, ".wav", "PCM_24"), (32, ".wav", "PCM_32"),
    (8, ".aiff", "PCM_S8"), (8, ".flac", "PCM_S8")])
def test_file_holds_the_codes_computed(tmp_path, mix, bits, ext, subtype):
    out = tmp_path / f"out{ext}"
    report = render(mix, out, bits=bits, shaping=None, seed=5)
    assert sf.info(str(out)).subtype == subtype
    stored, _ = io.read_int(out)                    # int32: the container's top bits
    audio, rate = io.read(mix)
    proc = Requantize(bits, seed=5)
    proc.prepare(rate, audio.shape[0])
    want = proc.process_codes(audio, final=True)
    np.testing.assert_array_equal(stored.astype(np.int64) >> (32 - bits), want)
    # Only the top N bits are used; an 8-bit file has at most 256 levels.
    assert np.all(stored.astype(np.int64) & ((1 << (32 - bits)) - 1) == 0)
    assert len(np.unique(stored)) <= 2**bits
    assert report.frames == audio.shape[1]


def test_eight_bit_wav_is_unsigned_on_disk(tmp_path):
    src = write_float(tmp_path / "silence.wav", np.zeros(100, np.float32))
    out = tmp_path / "u8.wav"
    render(src, out, bits=8)
    data = out.read_bytes()
    assert data[-100:] == bytes([128]) * 100          # silence is 128 in unsigned 8-bit


def test_trailing_silence_stays_exact_zeros(tmp_path, mix):
    out = tmp_path / "out.wav"
    render(mix, out, bits=16, shaping="lipshitz")
    stored, _ = io.read_int(out)
    assert np.all(stored[:, 2 * 44100:] == 0)


def test_sixteen_bit_input_to_sixteen_bits_is_bit_identical(tmp_path, rng):
    codes = rng.integers(-32768, 32768, size=(2, 20000), dtype=np.int16)
    src = tmp_path / "cd.wav"
    sf.write(str(src), codes.T, 44100, subtype="PCM_16")
    out = tmp_path / "again.wav"
    render(src, out, bits=16, dither="tpdf", shaping="lipshitz")
    back, _ = sf.read(str(out), dtype="int16", always_2d=True)
    np.testing.assert_array_equal(back.T, codes)


def test_auto_blank_off_dithers_silence(tmp_path):
    src = write_float(tmp_path / "zeros.wav", np.zeros(4000, np.float32))
    out = tmp_path / "out.wav"
    render(src, out, auto_blank=False)
    stored, _ = sf.read(str(out), dtype="int16")
    assert np.count_nonzero(stored) > 1000           # TPDF rounds to +-1 half the time


@pytest.mark.parametrize(("channels", "rate", "frames"), [
    (1, 8000, 1000), (8, 48000, 3000), (2, 384000, 5000), (2, 44100, 0), (1, 44100, 1)])
def test_odd_but_valid_input(tmp_path, rng, channels, rate, frames):
    audio = (0.1 * rng.standard_normal((channels, frames))).astype(np.float32)
    src = write_float(tmp_path / "in.wav", audio, rate)
    out = tmp_path / "out.wav"
    render(src, out, shaping="highpass")
    i = sf.info(str(out))
    assert (i.channels, i.samplerate, i.frames) == (channels, rate, frames)


def test_unsigned_8bit_wav_input(tmp_path):
    levels = np.arange(-128, 128, dtype=np.int16) << 8
    src = tmp_path / "u8.wav"
    sf.write(str(src), levels, 22050, subtype="PCM_U8")
    out = tmp_path / "out.wav"
    render(src, out, bits=8)
    back, _ = sf.read(str(out), dtype="int16")
    np.testing.assert_array_equal(back, levels)      # exact input passes through


@pytest.mark.parametrize(("fmt", "subtype", "bits"), [
    ("AIFF", "PCM_16", 16), ("FLAC", "PCM_24", 24), ("W64", "PCM_32", 32),
    ("RF64", "PCM_24", 24), ("WAV", "PCM_24", 24), ("WAV", "PCM_32", 32),
    ("WAV", "DOUBLE", 24), ("OGG", "VORBIS", 16)])
def test_every_readable_format_and_depth_as_input(tmp_path, rng, fmt, subtype, bits):
    # Integer PCM rendered at its own depth passes through bit-identical (auto-blank);
    # float64 at 24 bits, undithered, is numpy's floor(x * 2**23 + 0.5); lossy OGG just
    # has to come through with its rate, channels and length.
    frames = 3000
    x = np.round(rng.uniform(-0.5, 0.5, (frames, 2)) * 2.0 ** (bits - 1)) / 2.0 ** (bits - 1)
    src = tmp_path / f"in.{fmt.lower()}"
    sf.write(str(src), x, 48000, subtype=subtype, format=fmt)
    out = tmp_path / "out.wav"
    dither = "none" if subtype == "DOUBLE" else "tpdf"
    render(src, out, bits=bits, dither=dither)
    i = sf.info(str(out))
    assert (i.channels, i.samplerate, i.frames) == (2, 48000, frames)
    if subtype == "VORBIS":
        return
    stored, _ = sf.read(str(out), dtype="int32")
    if subtype == "DOUBLE":
        np.testing.assert_array_equal(stored >> 8, np.floor(x * 2.0**23 + 0.5))
    else:
        np.testing.assert_array_equal(stored, sf.read(str(src), dtype="int32")[0])


def test_auto_shaping_reports_its_choice(tmp_path, mix):
    report = render(mix, tmp_path / "out.wav", shaping="auto")
    assert report.shaping == "designed:9:468"        # beats low-shibata at 44.1 kHz


@pytest.mark.parametrize("block", [4096, 1 << 16])     # one thread; channels in parallel
def test_nan_names_the_first_bad_sample_and_writes_nothing(tmp_path, rng, block):
    audio = (0.1 * rng.standard_normal((2, 100000))).astype(np.float32)
    audio[0, 88888] = np.inf
    audio[1, 77777] = np.nan
    src = write_float(tmp_path / "nan.wav", audio)
    out = tmp_path / "out.wav"
    with pytest.raises(ParameterError, match="frame 77777 .channel 1."):
        render(src, out, block_size=block)
    assert os.listdir(tmp_path) == ["nan.wav"]


@pytest.mark.parametrize("chain", [{"rate": 48000}, {"hold_rate": 11025}])
def test_nan_is_named_in_the_input_before_any_filter(tmp_path, chain):
    # A resampler smears a NaN over its neighbours; the error still names the input's.
    x = np.zeros((2, 20000), np.float32)
    x[1, 7000] = np.nan
    x[0, 9000] = np.inf
    src = write_float(tmp_path / "nan.wav", x)
    with pytest.raises(ParameterError, match=r"sample nan at frame 7000 \(channel 1\)"):
        render(src, tmp_path / "out.wav", block_size=4096, **chain)
    assert os.listdir(tmp_path) == ["nan.wav"]


def test_output_file_mode_follows_the_umask(tmp_path, mix):
    # Written through a private temporary file, but the result is an ordinary file.
    old = os.umask(0o027)
    try:
        render(mix, tmp_path / "out.wav")
    finally:
        os.umask(old)
    assert (tmp_path / "out.wav").stat().st_mode & 0o777 == 0o640


def test_render_report_snr_matches_theory(tmp_path):
    src = write_float(tmp_path / "sine.wav", sine(997, 0.5, 1 << 17), subtype="DOUBLE")
    report = render(src, tmp_path / "out.wav", bits=16, dither="tpdf")
    # TPDF error power LSB^2/4 against a -6.02 dBFS sine: 98.09 - 4.77 - 6.02 dB.
    assert abs(report.snr_db - (98.09 - 4.77 - 6.02)) < 0.2


# --- bad input: the library raises our errors; the CLI prints one line --------------------

def test_errors_from_the_library(tmp_path, mix):
    out = tmp_path / "out.wav"
    with pytest.raises(AudioFileError, match="no such file"):
        render(tmp_path / "missing.wav", out)
    with pytest.raises(ParameterError, match="bits must be in 1..32, got 33"):
        render(mix, out, bits=33)
    with pytest.raises(ParameterError, match="not designed for 48000 Hz"):
        src48 = write_float(tmp_path / "48k.wav", np.zeros(10, np.float32), 48000)
        render(src48, out, shaping="lipshitz")
    with pytest.raises(AudioFileError, match="is the input"):
        render(mix, mix)
    assert not out.exists()


@pytest.mark.parametrize(("setup", "args", "status", "message"), [
    ("missing", ["render", "{d}/missing.wav", "{d}/out.wav"], 1, "no such file"),
    ("text", ["render", "{d}/notes.wav", "{d}/out.wav"], 1, "cannot read"),
    ("truncated", ["render", "{d}/cut.wav", "{d}/out.wav"], 1, "truncated"),
    ("mix", ["render", "{d}/mix.wav", "{d}/out.wav", "--bits", "0"], 2, "bits must be"),
    ("mix", ["render", "{d}/mix.wav", "{d}/out.wav", "--bits", "33"], 2, "bits must be"),
    ("mix", ["render", "{d}/mix.wav", "{d}/out.wav", "--shaping", "magic"], 2,
     "unknown shaping"),
    ("48k", ["render", "{d}/48k.wav", "{d}/out.wav", "--shaping", "lipshitz"], 1,
     "not designed for 48000 Hz"),
    ("mix", ["render", "{d}/mix.wav", "{d}/mix.wav"], 1, "is the input"),
    ("nan", ["render", "{d}/nan.wav", "{d}/out.wav"], 1, "frame 5 (channel 0)"),
    ("mix", ["render", "{d}/mix.wav", "{d}/no/such/folder/out.wav"], 1, "does not exist"),
    ("mix", ["render", "{d}/mix.wav", "{d}/out.flac", "--bits", "32"], 1,
     "cannot hold 32-bit"),
    ("mix", ["render", "{d}/mix.wav", "{d}/out.mp3"], 1, "lossy .mp3"),
])
def test_cli_bad_input_is_one_line_and_no_output(tmp_path, setup, args, status, message):
    d = tmp_path
    if setup == "mix":
        write_float(d / "mix.wav", 0.1 * sine(997, 1, 1000).astype(np.float32))
    elif setup == "text":
        (d / "notes.wav").write_text("these are not samples\n" * 20)
    elif setup == "truncated":
        write_float(d / "full.wav", 0.1 * sine(997, 1, 50000).astype(np.float32))
        data = (d / "full.wav").read_bytes()
        (d / "cut.wav").write_bytes(data[: len(data) // 2])
        (d / "full.wav").unlink()
    elif setup == "48k":
        write_float(d / "48k.wav", np.zeros(10, np.float32), 48000)
    elif setup == "nan":
        x = np.zeros(100, np.float32)
        x[5] = np.nan
        write_float(d / "nan.wav", x)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    result = cli(*(a.format(d=d) for a in args))
    assert result.returncode == status, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    after = {p.name: p.read_bytes() for p in d.iterdir()}
    assert after == before                            # nothing written, input untouched


@pytest.mark.parametrize(("case", "message"), [
    ("cut.aiff", "truncated"), ("cut.flac", "truncated"), ("link", "is the input"),
    ("inf", "-inf at frame 3000 (channel 1)"), ("folder", "is a folder"),
    ("folder/", "is a folder"), ("unwritable", "Permission denied")])
def test_cli_more_bad_input_in_process(tmp_path, rng, capsys, monkeypatch, case, message):
    # The same contract as above (one line, exit 1, nothing written, input untouched),
    # run in-process to stay fast: an unexpected exception would escape main() here.
    import errno

    from audioquant import atomic
    from audioquant.cli import main

    d = tmp_path
    noise = rng.integers(-2**15, 2**15, (20000, 2), dtype=np.int16)   # FLAC cannot shrink it
    src, out = d / "in.wav", d / "out.wav"
    sf.write(str(src), noise, 44100)
    if case.startswith("cut."):
        full = d / f"full.{case[4:]}"
        sf.write(str(full), noise, 44100)
        src = d / case
        src.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
        full.unlink()
    elif case == "link":
        out = d / "link.wav"
        out.symlink_to(src)
    elif case == "inf":
        x = np.zeros((5000, 2))
        x[3000, 1] = -np.inf
        x[4000, 0] = np.nan
        src = d / "inf.wav"
        sf.write(str(src), x, 44100, subtype="DOUBLE")
    elif case.startswith("folder"):
        (d / "folder").mkdir()
        out = str(d / "folder") + case[6:]
    elif case == "unwritable":
        def refused(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(atomic, "_new_temporary", refused)   # (the folder says no)
    before = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    assert main(["render", str(src), str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error:") and message in err, err
    assert {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()} == before
    assert sorted(os.listdir(d)) == sorted([*before, *(["folder"] if "folder" in case
                                                        else [])])


def test_cli_render_prints_where_and_snr(tmp_path, mix):
    result = cli("render", mix, str(tmp_path / "cd.wav"), "--shaping", "auto")
    assert result.returncode == 0, result.stderr
    assert "cd.wav" in result.stdout and "SNR" in result.stdout
    assert "designed:9:468" in result.stdout


def test_aes17_dynamic_range_of_a_16_bit_tpdf_render():
    # Ideal 16-bit TPDF: error power LSB^2/4 = 2^-32 (full scale 1.0), white to 22.05 kHz.
    # Unweighted, 20 Hz..20 kHz: 10 log10(0.5 / (2^-32 * 19980/22050)) = 93.75 dB.
    # A-weighted: the band's mean A-weighting power gain, integrated here with numpy.
    from audioquant import analysis

    rate = 44100
    tone = sine(997, 10 ** (-60 / 20), 4 * rate, rate)
    out = Requantize(16, dither="tpdf")(tone, rate)
    f = np.linspace(20, 20000, 200001)
    noise_in_band = 2.0**-32 * (19980 / 22050)
    a_mean = np.trapezoid(analysis.a_weighting(f), f) / 19980
    assert abs(analysis.dynamic_range(out, rate) - 93.75) < 0.3
    assert abs(analysis.dynamic_range(out, rate, "A")
               - 10 * np.log10(0.5 / (noise_in_band * a_mean))) < 0.3
    assert abs(10 * np.log10(0.5 / (noise_in_band * a_mean)) - 95.8) < 0.1


def test_cli_analyze_prints_json_with_snr(tmp_path, mix):
    import json

    out = tmp_path / "cd.wav"
    render(mix, out)
    result = cli("analyze", str(out), "--reference", mix, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert 60 < data["snr_db"] < 100


def test_render_resamples_then_requantizes(tmp_path):
    from audioquant import analysis

    frames = 48000
    src = write_float(tmp_path / "tone48.wav", sine(997, 0.5, frames, 48000), 48000, "DOUBLE")
    out = tmp_path / "cd.wav"
    report = render(src, out, rate=44100, bits=16, quality="high")
    y, rate = io.read(out)
    assert rate == 44100 and y.shape[1] == frames * 441 // 480      # one second, exactly
    # Aligned: the output is the same sine (phase 0.3 at t = 0) sampled at 44.1 kHz.
    want = sine(997, 0.5, y.shape[1], 44100)
    middle = slice(1000, -1000)                   # away from the edges' filter transients
    assert analysis.snr(want[middle], y[0, middle]) > 80
    assert report.sample_rate == 44100


def test_render_hold_rate_makes_a_staircase(tmp_path, rng):
    x = (0.5 * rng.uniform(-1, 1, 4410)).astype(np.float32)
    src = write_float(tmp_path / "noise.wav", x)
    out = tmp_path / "crushed.wav"
    render(src, out, hold_rate=11025, bits=24, dither="none")
    y, _ = io.read(out)
    held = np.repeat(x[::4], 4)[: x.size]         # 44100 / 11025 = 4: plain numpy reference
    np.testing.assert_array_equal(y[0], np.floor(held * 2.0**23 + 0.5) / 2**23)  # halves up


def test_a_failing_write_leaves_nothing_behind(tmp_path, mix, monkeypatch):
    def disk_full(self, data):
        raise RuntimeError("Error writing: No space left on device")

    monkeypatch.setattr(sf.SoundFile, "write", disk_full)
    with pytest.raises(AudioFileError, match="No space left on device"):
        render(mix, tmp_path / "out.wav")
    assert sorted(os.listdir(tmp_path)) == ["mix.wav"]


def test_cli_output_into_a_closed_pipe_is_quiet():
    # `audioquant shapers | true`: the reader is gone before we write; no traceback.
    result = subprocess.run(f"{sys.executable} -m audioquant shapers | true",
                            shell=True, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_io_write_keeps_floats_and_codes_exactly(tmp_path, rng):
    floats = rng.uniform(-1, 1, (2, 1000)).astype(np.float32)
    io.write(tmp_path / "f.wav", floats, 48000)
    assert sf.info(str(tmp_path / "f.wav")).subtype == "FLOAT"
    np.testing.assert_array_equal(io.read(tmp_path / "f.wav")[0], floats)
    codes = rng.integers(-32768, 32768, (1, 1000), dtype=np.int16)
    io.write(tmp_path / "c.aiff", codes, 44100)
    back, _ = sf.read(str(tmp_path / "c.aiff"), dtype="int16", always_2d=True)
    np.testing.assert_array_equal(back.T, codes)
    assert sorted(os.listdir(tmp_path)) == ["c.aiff", "f.wav"]      # no temporary files
