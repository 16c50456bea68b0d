"""Requantizer kernel: exactness against tests/naive.py, then the physics of N-bit
rounding, dither and noise shaping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from audioquant.dsp import shaping
from audioquant.dsp.dither import dither_samples
from audioquant.processors import Requantize
from tests import naive
from tests.conftest import sine

RATE = 44100


def codes(x: np.ndarray, bits: int, **kw) -> np.ndarray:
    """Integer codes of a whole-array requantize at RATE (auto-blank off unless asked)."""
    kw.setdefault("auto_blank", False)
    rate = kw.pop("rate", RATE)
    proc = Requantize(bits, **kw)
    proc.prepare(rate, np.atleast_2d(x).shape[0])
    return proc.process_codes(np.atleast_2d(x), final=True)


def error_lsb(x: np.ndarray, bits: int, **kw) -> np.ndarray:
    """Output minus input, in LSB of the target depth."""
    return codes(x, bits, **kw)[0] - x * 2.0 ** (bits - 1)


def db(power_ratio: float) -> float:
    return float(10 * np.log10(power_ratio))


# --- exactness against the plain reference -------------------------------------------------

@pytest.mark.parametrize("kind", ["rpdf", "tpdf", "hp-tpdf"])
def test_dither_is_the_reference_splitmix(kind):
    got = dither_samples(kind, seed=12345, channel=0, start=1000, frames=64)
    want = [naive.dither(kind, 12345, 0, 1000 + i) for i in range(64)]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shaper", [None, ("lipshitz", 44100), ("gesemann", 48000)])
@pytest.mark.parametrize("blank_run", [0, 4])
def test_kernel_equals_reference(rng, shaper, blank_run):
    rate = shaper[1] if shaper else RATE
    x = 0.3 * rng.standard_normal(600)
    x[200:260] = np.round(x[200:260] * 128) / 128          # an exact run mid-signal
    x[400:] = 0.0                                           # ends in digital silence
    b = a = ()
    if shaper:
        f = shaping.find(*shaper)
        b, a = f.b, f.a
    want = naive.requantize(x, 8, "tpdf", seed=7, b=b, a=a, blank_run=blank_run)
    got = codes(x, 8, dither="tpdf", seed=7, rate=rate,
                shaping=shaper[0] if shaper else None,
                auto_blank=blank_run > 0, blank_run=max(blank_run, 1))[0]
    np.testing.assert_array_equal(got, want)


def awkward_signal(rng, channels: int, frames: int = 1500) -> np.ndarray:
    """Test audio for the unshaped fast path: random samples, exact runs long and short
    (one of 31 samples starting a chunk after a chunk with no exact sample), lone exact
    samples, clipping, and digital silence that starts mid-chunk."""
    from audioquant.dsp.quantize import FLAT_CHUNK

    chunk = max(FLAT_CHUNK // channels, 1)                     # frames per chunk
    assert chunk < 200
    x = 0.3 * rng.standard_normal((channels, frames))       # float64: none of it exact
    x[:, 50:100] = np.round(x[:, 50:100] * 32768) / 32768      # 50 exact
    x[-1, 120:140] = np.round(x[-1, 120:140] * 32768) / 32768  # 20 exact: dithered
    x[0, 300:340] = np.round(x[0, 300:340] * 32768) / 32768    # only channel 0
    run = -(-400 // chunk) * chunk                             # a chunk start in 400..600
    x[:, run:run + 31] = np.round(x[:, run:run + 31] * 32768) / 32768
    x[:, 700::97] = 0.25                                       # lone exact samples
    x[0, 900:905] = 1.5                                        # clips
    x[-1, 950] = -1.2
    x[:, 1301:] = 0.0                                          # silence from mid-chunk
    return x


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("kind", ["none", "rpdf", "tpdf", "hp-tpdf"])
def test_unshaped_fast_path_equals_reference(rng, channels, kind):
    x = awkward_signal(rng, channels)
    proc = Requantize(16, dither=kind, seed=11)
    proc.prepare(RATE, channels)
    got = proc.process_codes(x, dtype=np.int16, final=True)
    for c in range(channels):
        want = naive.requantize(x[c], 16, kind, seed=11, blank_run=32, channel=c)
        np.testing.assert_array_equal(got[c], want)
        xs = x[c] * 32768
        rail = (want == 32767) | (want == -32768)
        assert proc.clips[c] == np.count_nonzero(rail & (np.abs(xs) > 32767))
        np.testing.assert_allclose(proc.energy[c], [np.sum(xs**2), np.sum((want - xs)**2)],
                                   rtol=1e-12)
    assert np.all(got[:, 1301:] == 0)


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_unshaped_fast_path_streams_and_names_the_first_bad_sample(rng, channels):
    x = awkward_signal(rng, channels, 4000)
    whole = codes(x, 16, auto_blank=True)
    for size in (1, 63, 65, 1000):
        proc = Requantize(16)
        proc.prepare(RATE, channels)
        parts = [proc.process_codes(x[:, i:i + size], dtype=np.int32, shift=8,
                                    final=i + size >= 4000) for i in range(0, 4000, size)]
        assert np.array_equal(np.concatenate(parts, axis=1) >> 8, whole), size
    x[-1, 2500] = np.nan
    x[0, 3000] = np.inf
    proc = Requantize(16)
    proc.prepare(RATE, channels)
    with pytest.raises(ValueError, match=f"at frame 2500 \\(channel {channels - 1}\\)"):
        proc.process_codes(x, final=True)


@pytest.mark.parametrize("shaping", [None, "lipshitz"])
def test_absurdly_large_finite_samples_saturate(shaping):
    # float64 input far past full scale (even past what x * 2**15 can hold) is not a NaN:
    # it clips like any other sample, and the silence around it stays silent.
    x = np.zeros((2, 300))
    x[0, 100], x[1, 200], x[0, 250] = 1e298, -1e307, 3.0e160
    proc = Requantize(16, shaping=shaping)
    proc.prepare(RATE, 2)
    got = proc.process_codes(x, final=True)
    want = np.zeros((2, 300), dtype=np.int64)
    want[0, 100], want[1, 200], want[0, 250] = 32767, -32768, 32767
    np.testing.assert_array_equal(got, want)
    assert list(proc.clips) == [2, 1]
    assert np.all(np.isfinite(proc.energy))


_SEGMENTS = st.lists(st.tuples(st.sampled_from(["noise", "exact", "silence", "clip"]),
                                st.integers(1, 90)), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(segments=_SEGMENTS, channels=st.sampled_from([1, 2, 3]), bits=st.sampled_from([8, 16, 24]),
       kind=st.sampled_from(["none", "rpdf", "tpdf", "hp-tpdf"]), block=st.integers(1, 300),
       seed=st.integers(0, 2**64 - 1))
def test_unshaped_streaming_equals_reference_for_any_signal(segments, channels, bits, kind,
                                                            block, seed):
    # Signals made of runs of noise, exact codes, silence and clipping, in any order and
    # length, streamed in any block size: the fast path and its fall-backs together must
    # give the reference's codes.
    rng = np.random.default_rng(seed % 2**32)
    scale = 2.0 ** (bits - 1)
    parts = []
    for what, n in segments:
        x = 0.4 * rng.standard_normal((channels, n))
        if what == "exact":
            x = np.round(x * scale) / scale
        elif what == "silence":
            x[:] = 0.0
        elif what == "clip":
            x = np.sign(x) * 1.3
        parts.append(x)
    x = np.concatenate(parts, axis=1)
    proc = Requantize(bits, dither=kind, seed=seed)
    proc.prepare(RATE, channels)
    frames = x.shape[1]
    got = np.concatenate([proc.process_codes(x[:, i:i + block], final=i + block >= frames)
                          for i in range(0, frames, block)], axis=1)
    for c in range(channels):
        want = naive.requantize(x[c], bits, kind, seed=seed, blank_run=32, channel=c)
        np.testing.assert_array_equal(got[c], want)


# --- rounding, no dither ------------------------------------------------------------------

@pytest.mark.parametrize(("bits", "tolerance_db"), [(8, 0.3), (16, 0.3), (24, 0.5)])
def test_undithered_sine_snr_is_6_02n_plus_1_76(bits, tolerance_db):
    # Rounding error of a busy signal is uniform over one LSB: power LSB^2/12 against a
    # full-scale sine's (2^(N-1) LSB)^2 / 2, i.e. 6.02 N + 1.76 dB. The amplitude is one
    # LSB short of full scale so nothing clips (costs 0.07 dB at 8 bits).
    x = sine(997, 1 - 2.0 ** (1 - bits), 1 << 18)
    err = error_lsb(x, bits, dither="none")
    snr = db(np.mean((x * 2.0 ** (bits - 1)) ** 2) / np.mean(err**2))
    assert abs(snr - (6.02 * bits + 1.76)) < tolerance_db


# --- dither -------------------------------------------------------------------------------

def test_tpdf_error_is_three_times_rounding_noise_whatever_the_signal():
    # TPDF: rounding (1/12) plus two uniforms (1/12 each): total error power 3 * LSB^2/12,
    # 4.77 dB above plain rounding, with mean 0 and a variance that ignores the signal.
    frames = 1 << 18
    signals = {"silence": np.zeros(frames), "-60 dBFS": sine(997, 1e-3, frames),
               "-1 dBFS": sine(997, 10 ** (-1 / 20), frames)}
    for name, x in signals.items():
        err = error_lsb(x, 16, dither="tpdf")
        assert abs(np.mean(err)) < 0.01, name                      # 0.5 LSB sd / sqrt(N)
        assert abs(db(np.var(err) / 0.25)) < 0.2, name             # LSB^2/4 within 0.2 dB


def test_rpdf_costs_3_01_db():
    x = sine(997, 0.5, 1 << 18)
    plain = np.mean(error_lsb(x, 16, dither="none") ** 2)
    rpdf = np.mean(error_lsb(x, 16, dither="rpdf") ** 2)
    assert abs(db(rpdf / plain) - 3.01) < 0.2


def test_hp_tpdf_has_tpdf_power_and_a_rising_spectrum():
    # On a busy signal the error is white rounding noise (LSB^2/12) plus the dither
    # u[n] - u[n-1], whose spectrum is (LSB^2/12)|1 - e^{-jw}|^2: total variance LSB^2/4
    # like TPDF, but little of it at low frequencies.
    x = sine(997, 0.1, 1 << 19)
    err = error_lsb(x, 16, dither="hp-tpdf")
    assert abs(db(np.var(err) / 0.25)) < 0.2
    f, psd = signal.welch(err, RATE, nperseg=4096)
    theory = (1 + np.abs(1 - np.exp(-2j * np.pi * f / RATE)) ** 2) / 12
    for lo, hi in ((100, 1000), (1000, 5000), (15000, 20000)):
        band = (f > lo) & (f < hi)
        assert abs(db(psd[band].mean() / theory[band].mean() * RATE / 2)) < 0.3, (lo, hi)


def test_tpdf_removes_the_harmonic_spurs_of_a_quiet_sine():
    # A -80 dBFS sine is about 3 LSB at 16 bits: plain rounding makes odd harmonics that
    # stand far above the noise; with TPDF the largest non-tone peak stays within 10 dB of
    # the noise floor. Welch averaging (128 segments of 16384) keeps the noise estimate's
    # own spread small: a single periodogram bin of white noise already strays ~12 dB.
    frames = 1 << 21
    f0 = 1000.0
    x = sine(f0, 1e-4, frames)

    def worst_spur_over_floor(out_codes):
        f, psd = signal.welch(out_codes, RATE, nperseg=16384, window="hann")
        keep = (np.abs(f - f0) > 30) & (f > 20)      # the tone and its window leakage out
        return db(psd[keep].max() / np.median(psd[keep]))

    plain = worst_spur_over_floor(codes(x, 16, dither="none")[0].astype(float))
    tpdf = worst_spur_over_floor(codes(x, 16, dither="tpdf")[0].astype(float))
    assert plain > 30
    assert tpdf < 10


# --- noise shaping ------------------------------------------------------------------------

SHAPERS = [(s.name, s.rates[0] if s.rates else 44100) for s in shaping.CATALOG]


def reference_h(shaper: shaping.Shaper) -> tuple[np.ndarray, np.ndarray]:
    """NTF numerator and denominator, H = (1 + A - B) / (1 + A), built for scipy."""
    a = np.concatenate([[1.0], shaper.a])
    num = np.zeros(max(len(a), len(shaper.b) + 1))
    num[: len(a)] += a
    num[1: len(shaper.b) + 1] -= shaper.b
    return num, a


@pytest.mark.parametrize(("name", "rate"), SHAPERS)
def test_shaped_error_power_and_spectrum_follow_the_filter(name, rate):
    shaper = shaping.find(name, rate)
    num, den = reference_h(shaper)
    impulse = np.zeros(1 << 14)
    impulse[0] = 1
    sum_h2 = np.sum(signal.lfilter(num, den, impulse) ** 2)     # scipy, not our code
    x = sine(997, 0.1, 1 << 20, rate)
    err = error_lsb(x, 16, dither="tpdf", shaping=name, rate=rate)
    # Total error power (LSB^2/4) * sum h^2, within 0.1 dB.
    assert abs(db(np.mean(err**2) / (0.25 * sum_h2))) < 0.1
    # Spectrum follows (LSB^2/4)|H|^2 in third-octave bands (100 Hz..min(20 kHz, 0.9 Nyq)).
    f, psd = signal.welch(err, rate, nperseg=8192, window="hann")
    _, resp = signal.freqz(num, den, worN=f, fs=rate)
    expected = 0.25 * np.abs(resp) ** 2 * 2 / rate             # one-sided PSD, LSB^2/Hz
    centres = 1000 * 2.0 ** (np.arange(-10, 14) / 3)
    for fc in centres[(centres >= 100) & (centres * 2 ** (1 / 6) <= min(20000, 0.45 * rate))]:
        band = (f >= fc * 2 ** (-1 / 6)) & (f < fc * 2 ** (1 / 6))
        assert abs(db(psd[band].mean() / expected[band].mean())) < 0.5, (name, fc)


def test_lipshitz_costs_12_19_db_of_total_error_power():
    # The figure for the published 5-tap filter: sum h^2 = 1 + sum b^2 = 16.56,
    # +12.19 dB over flat TPDF. Checks the catalog's coefficients and the loop together;
    # 2^18 samples keep the estimate's spread near 0.02 dB.
    x = sine(997, 0.1, 1 << 18)
    flat = np.mean(error_lsb(x, 16, dither="tpdf") ** 2)
    shaped = np.mean(error_lsb(x, 16, dither="tpdf", shaping="lipshitz") ** 2)
    assert abs(db(shaped / flat) - 12.19) < 0.1


@pytest.mark.parametrize(("name", "rate"), SHAPERS)
def test_shaped_468_weighted_noise_drops_by_the_predicted_amount(name, rate):
    from audioquant import analysis

    shaper = shaping.find(name, rate)
    num, den = reference_h(shaper)
    x = sine(997, 0.1, 1 << 20, rate)
    f, flat = signal.welch(error_lsb(x, 16, dither="tpdf", rate=rate), rate, nperseg=8192)
    _, shaped = signal.welch(error_lsb(x, 16, dither="tpdf", shaping=name, rate=rate), rate,
                             nperseg=8192)
    band = (f >= 20) & (f <= min(20000, rate / 2))
    w = analysis.itu468_weighting(f[band])
    measured = db(np.sum(w * shaped[band]) / np.sum(w * flat[band]))
    _, resp = signal.freqz(num, den, worN=f[band], fs=rate)
    predicted = db(np.sum(w * np.abs(resp) ** 2) / np.sum(w))
    assert abs(measured - predicted) < 0.3


def test_auto_picks_the_quietest_published_filter():
    # Among the published filters the best 468-weighted choice is about 7.5 dB below flat
    # TPDF at 44.1 kHz and about 8.5 dB at 48 kHz (figures from the issue, which come from
    # the filters' own responses).
    from audioquant.processors import best_shaper, weighted_noise_gain_db

    for rate, expected in ((44100, -7.5), (48000, -8.5)):
        best = best_shaper(rate, designed=False)     # auto's designed filter: test_designer
        assert abs(weighted_noise_gain_db(best, rate) - expected) < 0.6
        assert all(weighted_noise_gain_db(s, rate) >= weighted_noise_gain_db(best, rate)
                   for s in shaping.available(rate))


@pytest.mark.parametrize(("name", "rate"), SHAPERS)
def test_shaping_loop_is_stable_at_full_scale(rng, name, rate):
    # A 0 dBFS square wave and full-scale noise: saturation happens (and is counted) but
    # the error fed back is bounded by 1.5 LSB, so outside the clipped samples the output
    # stays within the filter's worst case of input: 1.5 * (1 + sum |b|) LSB for FIR.
    square = np.sign(sine(441, 1.0, 1 << 15, rate))
    noise = np.clip(rng.uniform(-1, 1, 1 << 15), -1, 1)
    shaper = shaping.find(name, rate)
    h = shaper.impulse_response(4096)
    bound = 1.5 * np.sum(np.abs(h)) + 1
    for x in (square, noise):
        proc = Requantize(16, shaping=name, auto_blank=False)
        proc.prepare(rate, 1)
        out = proc.process_codes(x[np.newaxis], final=True)[0]
        scaled = x * 32768
        at_rail = (out == -32768) | (out == 32767)
        assert np.max(np.abs(out - scaled)[~at_rail]) <= bound
        # Clips are counted: never more than the samples at a rail, and the square wave's
        # +1.0 (32768 LSB, one past the top code) does clip.
        assert proc.clips[0] <= np.count_nonzero(at_rail)
        if x is square:
            assert proc.clips[0] > 0


# --- auto-blank ---------------------------------------------------------------------------

def test_auto_blank_keeps_silence_and_exact_audio_exact(rng):
    exact = np.round(rng.uniform(-0.5, 0.5, 5000) * 32768) / 32768
    assert np.array_equal(codes(exact, 16, auto_blank=True, shaping="lipshitz")[0],
                          exact * 32768)
    x = np.concatenate([sine(997, 0.5, 3000), np.zeros(44100)])
    out = codes(x, 16, auto_blank=True, shaping="lipshitz")[0]
    assert np.all(out[3000:] == 0)                 # the whole silent tail, from its start
    # Dither resumes at the first sample that needs it; a short exact run is dithered.
    x = np.concatenate([np.zeros(100), np.full(100, 0.25 + 1e-7), np.zeros(10),
                        np.full(100, 0.25 + 1e-7)])
    out = codes(x, 16, auto_blank=True, seed=3)[0]
    assert np.all(out[:100] == 0)
    assert np.count_nonzero(out[200:210]) > 0
    np.testing.assert_array_equal(out, naive.requantize(x, 16, "tpdf", seed=3, blank_run=32))


@pytest.mark.parametrize("auto_blank", [True, False])
def test_streamed_blocks_equal_one_shot(rng, auto_blank):
    x = 0.2 * rng.standard_normal((2, 3001))
    x[:, 1000:1500] = 0.0
    x[:, 2000:2040] = np.round(x[:, 2000:2040] * 32768) / 32768
    whole = codes(x, 16, auto_blank=auto_blank, shaping="gesemann", rate=48000)
    for size in (1, 7, 64, 4096):
        proc = Requantize(16, auto_blank=auto_blank, shaping="gesemann")
        proc.prepare(48000, 2)
        parts = [proc.process_codes(x[:, i:i + size], final=i + size >= 3001)
                 for i in range(0, 3001, size)]
        assert np.array_equal(np.concatenate(parts, axis=1), whole), size
        proc.reset()
        assert np.array_equal(proc.process_codes(x, final=True), whole)   # reset == fresh


def test_auto_shaping_is_none_where_no_filter_helps():
    # At 500 Hz the whole band is audio: the only catalog filter for it (first-order
    # high-pass) raises 468-weighted noise, and no design exists below 1 kHz, so "auto"
    # means flat dither, with the same output as shaping="none".
    from audioquant.processors import weighted_noise_gain_db

    assert weighted_noise_gain_db(shaping.find("highpass", 500), 500) > 0
    x = sine(50, 0.3, 4000, 500)
    proc = Requantize(16, shaping="auto")
    proc.prepare(500, 1)
    assert proc.shaper is None
    np.testing.assert_array_equal(codes(x, 16, shaping="auto", rate=500),
                                  codes(x, 16, shaping=None, rate=500))
