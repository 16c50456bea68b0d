"""Resample and SampleHold processors: theory, streaming properties, libsoxr as a peer."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from audioquant.errors import ParameterError
from audioquant.sampling import QUALITIES, Resample, SampleHold

RATIO_CASES = [(44100, 48000), (96000, 44100), (48000, 8000), (8000, 44100)]


def stream(proc, x: np.ndarray, sample_rate: int, block: int) -> np.ndarray:
    """What the engine does: blocks through process(), flush, drop latency, cut to length."""
    proc.prepare(sample_rate, x.shape[0])
    parts = [proc.process(x[:, i : i + block]) for i in range(0, x.shape[1], block)]
    parts.append(proc.flush())
    out = np.concatenate(parts, axis=1)[:, proc.latency :]
    return out[:, : proc.output_frames(x.shape[1])]


def tone(freq: float, rate: int, frames: int, phase: float = 0.3) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(frames) / rate + phase)


def fit_tone(y: np.ndarray, freq: float, rate: int) -> tuple[float, np.ndarray]:
    """Least-squares fit of a sine of any phase at freq: (amplitude, y minus the fit)."""
    t = np.arange(y.size) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)]).T
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return float(np.hypot(*coef)), y - basis @ coef


# -- theory --------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(QUALITIES))
@pytest.mark.parametrize("in_rate,out_rate", [(44100, 48000), (96000, 44100)])
def test_passband_ripple_and_rejection(name, in_rate, out_rate):
    # Tones through the real processor: gain within the preset's ripple up to its passband
    # edge; a tone above the new Nyquist (downsampling) comes out at least the stopband
    # figure down, and so does the image of a passband tone (upsampling).
    q = QUALITIES[name]
    nyq = min(in_rate, out_rate) / 2
    frames = in_rate // 5
    edge = out_rate // 40  # skip the onset/offset transients of the filter
    for frac in [fr for fr in (0.05, 0.3, 0.6, 0.8) if fr < q.passband] + [q.passband]:
        f = frac * nyq
        y = Resample(out_rate, quality=name)(tone(f, in_rate, frames), in_rate)
        gain, resid = fit_tone(y[edge:-edge], f, out_rate)
        # ripple, plus 1e-9 dB for the fit's rounding
        assert abs(20 * np.log10(gain)) <= q.ripple_db + 1e-9
        if out_rate > in_rate:  # what is left is the image at in_rate - f (aliased)
            assert 20 * np.log10(np.abs(resid).max()) <= -q.attenuation_db
    if out_rate < in_rate:
        above = 0.5 * (nyq + in_rate / 2)
        y = Resample(out_rate, quality=name)(tone(above, in_rate, frames), in_rate)
        assert 20 * np.log10(np.abs(y[edge:-edge]).max()) <= -q.attenuation_db


@pytest.mark.parametrize("quality", ["high", "very high"])
def test_swept_sine_above_new_nyquist_is_removed(quality):
    # a chirp from the new Nyquist to the old one: all of it is stopband
    in_rate, out_rate = 96000, 44100
    frames = in_rate // 4
    t = np.arange(frames) / in_rate
    f0, f1 = out_rate / 2, in_rate / 2
    x = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * t[-1])))
    y = Resample(out_rate, quality=quality)(x, in_rate)
    edge = out_rate // 50
    assert 20 * np.log10(np.abs(y[edge:-edge]).max()) <= -QUALITIES[quality].attenuation_db


def fit_tones(y: np.ndarray, freqs: list[float], rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Joint least-squares fit of sines at ``freqs``: (amplitudes, y minus the fit)."""
    t = np.arange(y.size) / rate
    basis = np.concatenate([[np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t)]
                            for f in freqs]).T
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return np.hypot(coef[0::2], coef[1::2]), y - basis @ coef


def strongest_line(x: np.ndarray) -> float:
    """Amplitude of the strongest sinusoid in ``x``: peak of a Kaiser(20)-windowed spectrum
    (sidelobes ~190 dB down, past every preset), 8x zero-padded so a line between bins
    loses < 0.01 dB, scaled by the window's coherent gain."""
    w = np.kaiser(x.size, 20.0)
    spec = np.abs(np.fft.rfft(x * w, 8 << int(np.ceil(np.log2(x.size)))))
    return float(spec.max() * 2 / w.sum())


@pytest.mark.parametrize("name", list(QUALITIES))
@pytest.mark.parametrize("in_rate,out_rate", [(48000, 44100), (44100, 48000), (96000, 48000),
                                              (384000, 8000), (8000, 44100)])
def test_multitone_ripple_and_spurious_lines(name, in_rate, out_rate):
    # All at once: passband tones up to the edge, plus (downsampling) tones just above the
    # new Nyquist, or (upsampling) tones in the transition band, whose images land just
    # above the input Nyquist. The passband tones keep their level within the ripple; once
    # every wanted tone is fitted out, what is left is aliases and images only, each a line
    # of its own: the strongest is at least the stopband figure below a tone.
    q = QUALITIES[name]
    nyq = min(in_rate, out_rate) / 2
    passband = list(q.passband * nyq * np.array([0.013, 0.21, 0.47, 0.68, 0.86, 1.0]))
    if out_rate < in_rate:
        others = list(nyq * np.array([1.004, 1.03, 1.071]))     # all of them alias
    else:
        others = list(in_rate / 2 * np.array([0.951, 0.993]))  # passed in part; images
    amp = 0.05
    t = np.arange(in_rate // 5) / in_rate
    x = sum(amp * np.sin(2 * np.pi * f * t + 0.7 * i) for i, f in enumerate(passband + others))
    edge = out_rate // 40  # skip the onset/offset transients of the filter
    y = Resample(out_rate, quality=name)(x, in_rate)[edge:-edge]
    gains, rest = fit_tones(y, passband + (others if out_rate > in_rate else []), out_rate)
    # ripple, plus 1e-9 dB for the fit's rounding
    assert np.abs(20 * np.log10(gains[: len(passband)] / amp)).max() <= q.ripple_db + 1e-9
    assert 20 * np.log10(strongest_line(rest) / amp) <= -q.attenuation_db


# -- alignment, length, DC ---------------------------------------------------------


@pytest.mark.parametrize("in_rate,out_rate", RATIO_CASES + [(44100, 44100), (44101, 48000)])
def test_length_and_impulse_alignment(in_rate, out_rate):
    r = Resample(out_rate)
    for frames in (0, 1, 2, 1001):
        # J * out / in to the nearest integer, halves up (libsoxr's length; none of these
        # is an exact half, where libsoxr's double ratio decides: test_output_length.py)
        wanted = math.floor(Fraction(frames * out_rate, in_rate) + Fraction(1, 2))
        assert r(np.zeros(frames), in_rate).shape == (wanted,)
    x = np.zeros(4000)
    t = 1777
    x[t] = 1.0
    y = r(x, in_rate)
    # the band-limited impulse peaks within one output sample of t * out / in
    assert abs(np.argmax(y) - t * out_rate / in_rate) <= 1.0


@pytest.mark.parametrize("in_rate,out_rate", RATIO_CASES)
@pytest.mark.parametrize("quality", ["quick", "very high"])
def test_dc_gain_is_one(in_rate, out_rate, quality):
    y = Resample(out_rate, quality=quality)(np.full((1, 3000), 0.5), in_rate)
    r = Resample(out_rate, quality=quality)
    r.prepare(in_rate, 1)
    # away from the ends (where the signal starts/stops) every output is 0.5 * (row sum)
    core = y[:, r.latency + 2 : -r.latency - 2]
    assert core.size > 0
    assert np.abs(core - 0.5).max() < 1e-9


# -- streaming properties ------------------------------------------------------------


@pytest.mark.parametrize("in_rate,out_rate", RATIO_CASES + [(44101, 48000)])
def test_block_size_invariance(in_rate, out_rate):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 2500))
    whole = Resample(out_rate)(x, in_rate)
    for block in (1, 17, 4096):
        assert np.array_equal(stream(Resample(out_rate), x, in_rate, block), whole)


@pytest.mark.parametrize("in_rate,out_rate", [(96000, 44100), (44100, 48000), (48000, 8000)])
@pytest.mark.parametrize("quality", ["high", "very high"])
def test_block_size_invariance_over_many_frames(in_rate, out_rate, quality):
    # long enough for several FFT frames of stage 1 (and the threaded path when whole);
    # blocks that straddle frame boundaries in every way give the same numbers
    rng = np.random.default_rng(19)
    x = rng.standard_normal((2, 40000))
    whole = Resample(out_rate, quality=quality)(x, in_rate)
    for block in (1, 17, 4096, 7777, 25000):
        got = stream(Resample(out_rate, quality=quality), x, in_rate, block)
        assert np.array_equal(got, whole)


def test_threads_do_not_change_the_numbers():
    # channels run in parallel threads on big calls: each equals the channel alone
    rng = np.random.default_rng(20)
    x = rng.standard_normal((8, 60000))
    y = Resample(44100)(x, 96000)
    for c in (0, 5, 7):
        assert np.array_equal(y[c], Resample(44100)(x[c], 96000))


def test_render_start_up_does_not_import_scipy_signal():
    # the resampler's FFT is numpy's: preparing and running one pulls in no scipy.signal
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from audioquant.sampling import Resample\n"
            "Resample(44100)(np.zeros((2, 9000)), 96000)\n"
            "print('scipy.signal' in sys.modules, 'scipy.fft' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("channels", [1, 2, 8])
def test_channels_are_independent(channels):
    rng = np.random.default_rng(12)
    x = rng.standard_normal((channels, 1500)).astype(np.float32)
    y = Resample(48000)(x, 44100)
    assert y.shape == (channels, 1633) and y.dtype == np.float64
    for c in range(channels):
        assert np.array_equal(y[c], Resample(48000)(x[c], 44100))


def test_reset_equals_fresh_and_zero_length_blocks():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 1200))
    r = Resample(44100, quality="medium")
    r.prepare(48000, 2)
    r.process(rng.standard_normal((2, 700)))
    r.reset()
    a = [r.process(x[:, :0]), r.process(x[:, :600]), r.process(x[:, 600:600]),
         r.process(x[:, 600:]), r.flush()]
    fresh = Resample(44100, quality="medium")
    fresh.prepare(48000, 2)
    b = [fresh.process(x), fresh.flush()]
    assert np.array_equal(np.concatenate(a, axis=1), np.concatenate(b, axis=1))


def test_equal_rates_pass_through():
    x = np.random.default_rng(14).standard_normal((2, 300))
    r = Resample(48000)
    assert np.array_equal(r(x, 48000), x) and r.latency == 0


# -- libsoxr as an independent reference ---------------------------------------------


@pytest.mark.parametrize("in_rate,out_rate", [(44100, 48000), (96000, 44100), (44101, 48000)])
@pytest.mark.parametrize("quality,limit_db", [("high", -100.0), ("very high", -130.0)])
def test_matches_soxr_vhq(in_rate, out_rate, quality, limit_db):
    soxr = pytest.importorskip("soxr")
    rng = np.random.default_rng(15)
    frames = in_rate // 4
    # band-limited input: 30 tones below half the lower Nyquist, where soxr's VHQ is flat
    # (its default "small" roll-off starts near 0.55 of Nyquist and reaches 0.005 dB at 0.9)
    nyq = min(in_rate, out_rate) / 2
    freqs = rng.uniform(20, 0.5 * nyq, 30)
    phases = rng.uniform(0, 2 * np.pi, 30)
    t = np.arange(frames) / in_rate
    x = 0.03 * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None]).sum(axis=0)
    ours = Resample(out_rate, quality=quality)(x, in_rate)
    ref = soxr.resample(x, in_rate, out_rate, quality="VHQ")
    assert ours.shape == ref.shape
    edge = out_rate // 40  # both treat the ends differently
    diff = np.abs(ours[edge:-edge] - ref[edge:-edge]).max()
    assert 20 * np.log10(diff) < limit_db


# -- SampleHold ----------------------------------------------------------------------


def hold_reference(x: np.ndarray, in_rate: int, hold_rate: int) -> np.ndarray:
    """Staircase built interval by interval in exact time (Fractions), plain numpy."""
    frames = x.shape[-1]
    out = np.empty_like(x)
    k = 0
    while True:
        start = Fraction(k, hold_rate) * in_rate  # interval k begins here, in input samples
        if start >= frames:
            break
        end = Fraction(k + 1, hold_rate) * in_rate
        first, stop = -(-start.numerator // start.denominator), -(-end.numerator // end.denominator)
        out[..., first : min(stop, frames)] = x[..., int(start)][..., None]
        k += 1
    return out


@pytest.mark.parametrize(
    "in_rate,hold_rate", [(48000, 8000), (44100, 8000), (48000, 7001), (44100, 44100)]
)
def test_sample_hold_staircase(in_rate, hold_rate):
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 1234))
    ref = hold_reference(x, in_rate, hold_rate)
    whole = SampleHold(hold_rate)(x, in_rate)
    assert np.array_equal(whole, ref)
    for block in (1, 17, 4096):
        assert np.array_equal(stream(SampleHold(hold_rate), x, in_rate, block), whole)
    if in_rate % hold_rate == 0:  # integer ratio: runs of exactly fs / r equal values
        step = in_rate // hold_rate
        assert np.array_equal(whole, np.repeat(x[:, ::step], step, axis=1)[:, : x.shape[1]])


def test_sample_hold_at_hold_rate():
    rng = np.random.default_rng(17)
    x = rng.standard_normal((1, 1000))
    sh = SampleHold(8000, at_hold_rate=True)
    y = sh(x, 44100)
    assert sh.output_rate(44100) == 8000
    assert y.shape == (1, sh.output_frames(1000)) == (1, 182)
    assert np.array_equal(y[0], x[0, [k * 44100 // 8000 for k in range(182)]])
    for block in (1, 17, 4096):
        assert np.array_equal(stream(SampleHold(8000, at_hold_rate=True), x, 44100, block), y)


# -- bad input -----------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0, -44100, 384001, 44100.5, "44100", None, True, float("nan")])
def test_bad_rates(rate):
    with pytest.raises(ParameterError, match="target_rate"):
        Resample(rate)
    with pytest.raises(ParameterError, match="hold_rate"):
        SampleHold(rate)


def test_bad_input_rate_and_quality():
    with pytest.raises(ParameterError, match=r"sample_rate must be in 8000\.\.384000 Hz, got 4000"):
        Resample(44100)(np.zeros(10), 4000)
    with pytest.raises(ParameterError, match="quality must be one of .*got 'ultra'"):
        Resample(44100, quality="ultra")
    assert Resample(44100, quality="very-high").quality is QUALITIES["very high"]
    assert Resample(44100.0).target_rate == 44100


# -- in the engine -------------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 17, 4096])
def test_chain_streams_like_whole_array_calls(block):
    # the engine drops `latency`, appends flush() and cuts to output_frames(): the result
    # equals the processors called one after the other on the whole array
    engine = pytest.importorskip("audioquant.engine")
    rng = np.random.default_rng(18)
    x = rng.standard_normal((2, 3000))
    procs = [SampleHold(7000), Resample(48000, quality="very high"),
             SampleHold(11025, at_hold_rate=True)]
    ref, rate = x, 44100
    for p in procs:
        ref, rate = p(ref, rate), p.output_rate(rate)
    chain = engine.Chain(procs)
    chain.prepare(44100, 2)
    parts = [chain.process(x[:, i : i + block]) for i in range(0, 3000, block)]
    assert np.array_equal(np.concatenate([*parts, chain.flush()], axis=1), ref)


# -- through the command line, into real files ---------------------------------------


def _write(path, audio: np.ndarray, rate: int) -> str:
    import soundfile as sf

    sf.write(str(path), np.atleast_2d(audio).T, rate, subtype="DOUBLE")
    return str(path)


@pytest.mark.parametrize("in_rate,out_rate,quality", [(96000, 44100, "very-high"),
                                                      (44100, 48000, "high")])
def test_cli_render_impulse_is_aligned_and_dc_gain_is_one(tmp_path, in_rate, out_rate,
                                                           quality):
    # A 32-bit undithered render (error ~ 2^-32) of an impulse at input sample t. The
    # resampler is zero-phase about t * out / in, so the response's first moment sits
    # there (to its stopband leakage, < 1e-5 sample); its samples sum to out / in, which is
    # DC gain 1 (one input sample lasts in / out output samples). The file holds
    # J * out / in frames at out_rate (a whole number here: a quarter second).
    import soundfile as sf

    from audioquant.cli import main

    frames, t = in_rate // 4, 7777
    x = np.zeros(frames)
    x[t] = 0.9
    src = _write(tmp_path / "imp.wav", x, in_rate)
    out = tmp_path / "out.wav"
    assert main(["render", src, str(out), "--rate", str(out_rate), "--quality", quality,
                 "--bits", "32", "--dither", "none"]) == 0
    y, rate = sf.read(str(out))
    assert rate == out_rate and y.size * in_rate == frames * out_rate
    where = t * out_rate / in_rate
    assert abs(np.argmax(y) - where) <= 1.0
    assert abs(np.sum(np.arange(y.size) * y) / np.sum(y) - where) < 1e-3
    assert abs(np.sum(y) / 0.9 - out_rate / in_rate) < 1e-6


def test_cli_hold_rate_file_is_the_staircase(tmp_path):
    # non-integer ratio (44100 / 8000), values exact at 24 bits so the render is lossless
    import soundfile as sf

    from audioquant.cli import main

    rng = np.random.default_rng(31)
    x = np.round(0.5 * rng.uniform(-1, 1, (2, 3001)) * 2**23) / 2**23
    src = _write(tmp_path / "in.wav", x, 44100)
    out = tmp_path / "out.wav"
    assert main(["render", src, str(out), "--hold-rate", "8000", "--bits", "24",
                 "--block", "17"]) == 0
    y, rate = sf.read(str(out))
    assert rate == 44100
    assert np.array_equal(y.T, hold_reference(x, 44100, 8000))


@pytest.mark.parametrize("args,message", [
    (["--rate", "0"], "--rate must be in 8000..384000 Hz, got 0"),
    (["--rate", "-1"], "--rate must be in 8000..384000 Hz, got -1"),
    (["--rate", "400000"], "--rate must be in 8000..384000 Hz, got 400000"),
    (["--rate", "44100.5"], "--rate must be an integer in 8000..384000 Hz, got 44100.5"),
    (["--rate", "44100", "--quality", "ultra"], "--quality must be one of quick, low, "
                                                "medium, high, very-high, got 'ultra'"),
    (["--rate", "48000", "--quality", "ultra"], "--quality must be one of"),  # same rate
    (["--hold-rate", "0"], "--hold-rate must be in 1..384000 Hz, got 0"),
    (["--hold-rate", "-1"], "--hold-rate must be in 1..384000 Hz, got -1"),
    (["--hold-rate", "400000"], "--hold-rate must be in 1..384000 Hz, got 400000"),
    (["--hold-rate", "8000.5"], "--hold-rate must be an integer in 1..384000 Hz, got 8000.5"),
    # --quality only means something to the resampler: without --rate it is refused
    (["--quality", "ultra"], "--quality must be one of"),
    (["--quality", "high"], "--quality needs --rate"),
    (["--quality", "quick", "--hold-rate", "8000"], "--quality needs --rate"),
])
def test_cli_bad_rates_and_quality(tmp_path, capsys, args, message):
    # a usage error: exit 2 before the input is read, one `error:` line naming the flag as
    # typed, nothing written
    from audioquant.cli import main

    src = _write(tmp_path / "in.wav", np.zeros(480), 48000)
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["render", src, str(tmp_path / "out.wav"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error:") and err.count("\n") == 1 and message in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before
