"""Tests for audioquant.analysis: theory first, then properties, then bad input.

Every expected value is derived here from physics or a published table, with plain numpy,
never from an earlier run of the code under test.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audioquant import analysis as an
from audioquant.errors import ParameterError

FS = 44100
LSB16 = 2.0**-15


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def tone(freq_hz: float, frames: int = FS, level_dbfs: float = 0.0, phase: float = 0.3):
    """Plain numpy sine, peak 10**(level/20)."""
    n = np.arange(frames)
    return 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq_hz * n / FS + phase)


def round_to_bits(x: np.ndarray, bits: int) -> np.ndarray:
    """Plain mid-tread rounding to an N-bit grid (LSB = 2**-(N-1)), no dither."""
    lsb = 2.0 ** -(bits - 1)
    return np.round(x / lsb) * lsb


def tpdf_16(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ideal 16-bit render: TPDF dither of 2 LSB peak to peak, then rounding."""
    d = (rng.random(x.shape) - rng.random(x.shape)) * LSB16
    return np.round((x + d) / LSB16) * LSB16


def db10(p):
    return 10 * np.log10(p)


# ----------------------------------------------------------------------------- theory


@pytest.mark.parametrize("bits", [8, 16, 24])
def test_snr_of_rounded_full_scale_sine_is_6_02n_plus_1_76(bits):
    # Uniform rounding error of power LSB**2/12 against a sine of power 1/2:
    # SNR = 10*log10(1.5 * 4**N) = 6.02 N + 1.76 dB. 0.3 dB covers the error of a
    # deterministic (not quite uniform) 8-bit error on 1 s of signal.
    x = tone(997.0, level_dbfs=-1e-9)
    expected = 6.02 * bits + 1.76
    assert an.snr(x, round_to_bits(x, bits)) == pytest.approx(expected, abs=0.3)


@pytest.mark.parametrize("bits", [8, 12, 16, 20, 24])
def test_sinad_and_enob_of_rounded_sine(bits):
    # Without the reference the fit recovers the same SNR, so ENOB comes back as N.
    # 0.3 dB / 6.02 = 0.05 bit.
    x = tone(997.0, level_dbfs=-1e-9)
    q = round_to_bits(x, bits)
    s = an.sinad(q, FS)
    assert s == pytest.approx(an.snr(x, q), abs=0.05)
    assert an.effective_bits(s) == pytest.approx(bits, abs=0.05)


@pytest.mark.parametrize(
    ("freq", "noise_db", "given"),
    [
        (997.0, -95.0, False),
        (997.0, -95.0, True),
        (1000.37, -100.0, False),  # between bins
        (50.0, -90.0, False),
        (15000.7, -92.0, False),
        (997.0, -40.0, False),
    ],
)
def test_sinad_matches_snr_when_reference_is_known(rng, freq, noise_db, given):
    # The fit removes 4 degrees of freedom out of 44100 from the noise (1e-4 dB); the
    # rest of the 0.05 dB budget is what the brief asks of the sine fit.
    x = tone(freq, phase=rng.uniform(0, 2 * np.pi))
    y = x + rng.standard_normal(x.size) * math.sqrt(0.5) * 10 ** (noise_db / 20)
    s = an.sinad(y, FS, freq if given else None)
    assert s == pytest.approx(an.snr(x, y), abs=0.05)
    assert an.thd_n(y, FS, freq if given else None) == pytest.approx(-s, abs=1e-9)


def test_thd_n_of_a_third_harmonic():
    # 0.1 % third harmonic, nothing else: THD+N = 20*log10(0.001) = -60 dB.
    n = np.arange(FS)
    w = 2 * np.pi * 997.0 / FS
    x = 0.5 * np.sin(w * n) + 0.0005 * np.sin(3 * w * n + 0.7)
    assert an.thd_n(x, FS) == pytest.approx(-60.0, abs=0.01)


def test_sinad_band_limit_cuts_white_noise_by_its_share(rng):
    # White noise keeps (20000 - 20) / 22050 of its power in 20 Hz..20 kHz: +0.43 dB.
    x = tone(997.0)
    y = x + rng.standard_normal(x.size) * 1e-4
    gain = an.sinad(y, FS, band_hz=(20.0, 20000.0)) - an.sinad(y, FS)
    assert gain == pytest.approx(-db10(19980 / 22050), abs=0.05)


def test_sine_fit_recovers_parameters():
    n = np.arange(12345)
    f, amp, ph, dc = 1234.567, 0.3, 1.1, 0.01
    x = dc + amp * np.cos(2 * np.pi * f * n / FS + ph)
    fit = an.sine_fit(x, FS)
    assert fit.frequency_hz == pytest.approx(f, abs=1e-6)
    assert fit.amplitude == pytest.approx(amp, rel=1e-9)
    assert fit.phase_rad == pytest.approx(ph, abs=1e-6)
    assert fit.offset == pytest.approx(dc, abs=1e-9)
    assert fit.residual_power < 1e-20
    assert np.max(np.abs(fit.render(n.size) - x)) < 1e-8
    assert fit.level_dbfs == pytest.approx(20 * math.log10(amp))


def test_notch_leaves_only_the_noise(rng):
    noise = rng.standard_normal((2, FS)) * 1e-5
    x = np.stack([tone(997.0, level_dbfs=-60), tone(997.0, level_dbfs=-6, phase=2.0)])
    r = an.notch(x + noise + 0.002, FS)
    assert r.shape == x.shape
    # The fit takes out 3 degrees of freedom of the noise per channel: the residual
    # equals the noise minus its projection, well within 1e-3 relative power.
    assert np.sum(r**2) == pytest.approx(np.sum(noise**2), rel=1e-3)


# ----------------------------------------------------------------------------- AES17


def test_aes17_dynamic_range_of_ideal_16_bit_tpdf(rng):
    # TPDF (2 LSB p-p, variance LSB²/6) plus rounding (LSB²/12) gives white noise of
    # power LSB²/4 over 0..fs/2. In 20 Hz..20 kHz that is LSB²/4 * 19980/22050, and
    # A-weighted LSB²/4 * integral(A(f) df, 20..20k) / 22050.
    # DR = 10*log10(0.5 / noise). 1 s of noise: estimate spread ~0.05 dB; budget 0.3.
    x = tone(997.0, level_dbfs=-60.0, phase=0.0)
    y = tpdf_16(x, rng)
    flat_noise = LSB16**2 / 4
    expected = db10(0.5 / (flat_noise * 19980 / 22050))
    f = np.linspace(20.0, 20000.0, 400001)
    a_db = 20 * np.log10(
        12194**2
        * f**4
        / ((f**2 + 20.6**2) * np.sqrt((f**2 + 107.7**2) * (f**2 + 737.9**2)) * (f**2 + 12194**2))
    )
    a_db -= np.interp(1000.0, f, a_db)  # 0 dB at 1 kHz (the standard's +2.00 dB)
    a_integral = np.trapezoid(10 ** (a_db / 10), f)
    expected_a = db10(0.5 / (flat_noise * a_integral / 22050))
    assert expected == pytest.approx(93.75, abs=0.01)
    assert expected_a == pytest.approx(95.8, abs=0.05)
    assert an.dynamic_range(y, FS) == pytest.approx(expected, abs=0.3)
    assert an.dynamic_range(y, FS, "A") == pytest.approx(expected_a, abs=0.3)
    assert an.dynamic_range(y, FS, "A", freq_hz=997.0) == pytest.approx(expected_a, abs=0.3)


def test_dynamic_range_stereo_pools_channels(rng):
    x = np.stack([tone(997.0, level_dbfs=-60.0)] * 2)
    y = tpdf_16(x, rng)
    expected = db10(0.5 / (LSB16**2 / 4 * 19980 / 22050))
    assert an.dynamic_range(y, FS) == pytest.approx(expected, abs=0.3)


def test_dynamic_range_counts_distortion(rng):
    # A -60 dBFS tone with a 2nd harmonic at -100 dBFS and no noise: DR = 100 dB.
    n = np.arange(FS)
    w = 2 * np.pi * 997.0 / FS
    x = 1e-3 * np.sin(w * n) + 1e-5 * np.sin(2 * w * n)
    assert an.dynamic_range(x, FS) == pytest.approx(100.0, abs=0.01)


# ----------------------------------------------------------------------------- weighting

# IEC 61672-1 Table 3 (A-weighting, dB) at the exact base-10 third-octave frequencies.
IEC_A = {
    -20: -70.4, -17: -50.5, -15: -39.4, -12: -26.2, -10: -19.1, -7: -10.9, -3: -3.2,
    0: 0.0, 3: 1.2, 6: 1.0, 9: -1.1, 10: -2.5, 12: -6.6, 13: -9.3,
}  # fmt: skip


@pytest.mark.parametrize(("k", "expected_db"), sorted(IEC_A.items()))
def test_a_weighting_matches_iec_table(k, expected_db):
    # The table is rounded to 0.1 dB: 0.1 dB covers rounding plus the formula.
    f = 1000 * 10 ** (k / 10)
    assert db10(an.a_weighting(f)) == pytest.approx(expected_db, abs=0.1)


# ITU-R BS.468-4 Table 1: frequency (Hz), response (dB), tolerance (dB).
BS468 = [
    (31.5, -29.9, 2.0), (63, -23.9, 1.4), (100, -19.8, 1.0), (200, -13.8, 0.85),
    (400, -7.8, 0.7), (800, -1.9, 0.55), (1000, 0.0, 0.5), (2000, 5.6, 0.5),
    (3150, 9.0, 0.5), (4000, 10.5, 0.5), (5000, 11.7, 0.5), (6300, 12.2, 0.0),
    (7100, 12.0, 0.2), (8000, 11.4, 0.4), (9000, 10.1, 0.6), (10000, 8.1, 0.8),
    (12500, 0.0, 1.2), (14000, -5.3, 1.4), (16000, -11.7, 1.6), (20000, -22.2, 2.0),
    (31500, -42.7, 2.8),
]  # fmt: skip


@pytest.mark.parametrize(("f", "expected_db", "tol"), BS468)
def test_itu468_weighting_matches_bs468_table(f, expected_db, tol):
    # The analytic approximation is far inside the standard's tolerances: it should
    # match the 0.1 dB-rounded table to 0.1 dB (and 1 kHz exactly: 1 kHz normalisation).
    got = db10(an.itu468_weighting(f))
    assert abs(got - expected_db) <= tol + 0.05  # the standard (6.3 kHz: reference, tol 0)
    assert abs(got - expected_db) <= 0.1
    assert db10(an.itu468_weighting(1000.0)) == pytest.approx(0.0, abs=1e-12)


def test_weighting_functions_vectorise_and_parse():
    f = np.array([100.0, 1000.0, 6300.0])
    assert an.weighting_function("A")(f) == pytest.approx(an.a_weighting(f))
    assert an.weighting_function("468")(f) == pytest.approx(an.itu468_weighting(f))
    assert an.weighting_function(None)(f) == pytest.approx(np.ones(3))
    assert an.a_weighting(f).shape == (3,)


def test_weighted_gain_db_flat_and_constant():
    f = np.linspace(0, 22050, 22051)
    assert an.weighted_gain_db(np.ones_like(f), f, "468") == pytest.approx(0.0, abs=1e-12)
    assert an.weighted_gain_db(np.full_like(f, 4.0), f, "A") == pytest.approx(db10(4.0))
    # Noise only above 10 kHz, A-weighted: the share is the A-weighted integral ratio.
    h2 = (f >= 10000).astype(float)
    a = an.a_weighting(f)
    expected = db10(np.trapezoid(a * h2 * ((f >= 20) & (f <= 20000)), f)) - db10(
        np.trapezoid(a * ((f >= 20) & (f <= 20000)), f)
    )
    assert an.weighted_gain_db(h2, f, "A") == pytest.approx(expected, abs=0.01)


def shaped_noise(rng, frames, coeffs):
    """White noise of power 1 through the FIR noise transfer function h (h0 = 1)."""
    w = rng.standard_normal(frames + len(coeffs))
    e = np.convolve(w, coeffs, mode="full")[len(coeffs) : len(coeffs) + frames]
    return w[len(coeffs) : len(coeffs) + frames], e


def ntf_power(coeffs, f):
    z = np.exp(-2j * np.pi * f / FS)
    return np.abs(np.polyval(list(coeffs)[::-1], z)) ** 2


@pytest.mark.parametrize("weighting", [None, "A", "468"])
def test_weighted_gain_db_predicts_measured_weighted_noise(rng, weighting):
    # A noise shaper's promise: weighted(shaped) / weighted(white) = weighted_gain_db.
    # 5 s of noise: the weighted power estimate is good to ~0.05 dB.
    h = [1.0, -1.2, 0.5]
    white, shaped = shaped_noise(rng, 5 * FS, h)
    f = np.linspace(0, FS / 2, 44101)
    predicted = an.weighted_gain_db(ntf_power(h, f), f, weighting)
    measured = db10(
        an.weighted_noise_power(shaped, FS, weighting)
        / an.weighted_noise_power(white, FS, weighting)
    )
    assert measured == pytest.approx(predicted, abs=0.1)
    # callable form gives the same
    assert an.weighted_gain_db(lambda fr: ntf_power(h, fr), f, weighting) == pytest.approx(
        predicted
    )


def test_third_octave_bands_follow_the_ntf(rng):
    # The error spectrum of a shaper follows |H(f)|²: band power = integral over the band
    # of |H|² / (fs/2) for unit white input. A band estimate has relative spread about
    # 1/sqrt(bandwidth * duration): with 10 s, bands from 500 Hz (115 Hz wide) spread
    # < 0.1 dB, so the brief's 0.5 dB bar is > 4 sigma. (At 200 Hz it would be ~0.2 dB.)
    h = [1.0, -1.6, 0.9]  # -10.5 dB at DC, a -25 dB notch near 4 kHz, +10.9 dB at fs/2
    _, e = shaped_noise(rng, 10 * FS, h)
    centres, measured = an.band_power_third_octaves(e, FS, fmin_hz=500.0)
    _, lo, hi = an.third_octave_bands(FS, fmin_hz=500.0)
    f = np.linspace(0, FS / 2, 220501)
    predicted = an.band_integral(f, ntf_power(h, f), lo, hi) / (FS / 2)
    assert centres[0] == pytest.approx(501.187, abs=1e-3)
    assert hi[-1] <= FS / 2
    np.testing.assert_allclose(db10(measured), db10(predicted), atol=0.5)


def test_third_octave_centres_are_iec_61260():
    centres, lo, hi = an.third_octave_bands(48000, fmin_hz=20.0, fmax_hz=20000.0)
    assert centres.size == 31  # 20 Hz .. 20 kHz nominal
    assert centres[0] == pytest.approx(19.953, abs=1e-3)
    assert centres[-1] == pytest.approx(19952.6, abs=0.1)
    np.testing.assert_allclose(hi[:-1], lo[1:])  # contiguous


def test_power_spectrum_and_band_power_conserve_power(rng):
    x = rng.standard_normal((2, 3 * FS)) * 0.01
    f, p = an.power_spectrum(x, FS)
    # Welch with a Hann window is unbiased for white noise: within 1 % (0.04 dB).
    assert np.sum(p) == pytest.approx(np.mean(x**2), rel=0.01)
    assert f[-1] == pytest.approx(FS / 2)
    # Adjacent bands add up to the band that covers both (bins are split pro rata).
    parts = an.band_power(x, FS, [100.0, 333.3], [333.3, 1000.0])
    whole = an.band_power(x, FS, 100.0, 1000.0)
    assert np.sum(parts) == pytest.approx(float(whole), rel=1e-12)
    # White noise: band power is proportional to bandwidth.
    assert float(whole) == pytest.approx(np.mean(x**2) * 900 / (FS / 2), rel=0.05)


def test_band_integral_is_exact_for_piecewise_linear():
    f = np.array([0.0, 10.0, 20.0])
    v = np.array([0.0, 10.0, 0.0])
    assert float(an.band_integral(f, v, 0.0, 20.0)) == pytest.approx(100.0)
    assert float(an.band_integral(f, v, 5.0, 15.0)) == pytest.approx(75.0)
    assert an.band_integral(f, v, [0.0, 10.0], [10.0, 20.0]) == pytest.approx([50.0, 50.0])


# ----------------------------------------------------------------------------- levels


def test_levels_follow_aes17_full_scale_sine():
    x = np.sin(2 * np.pi * np.arange(FS) / 4 + np.pi / 2)  # fs/4: samples 1, 0, -1, 0
    assert an.peak_dbfs(x) == pytest.approx(0.0, abs=1e-12)
    assert an.rms_dbfs(x) == pytest.approx(0.0, abs=1e-9)
    square = np.sign(np.sin(2 * np.pi * (np.arange(FS) + 0.5) / 100))
    assert an.rms_dbfs(square) == pytest.approx(db10(2.0), abs=1e-9)  # +3.01 dBFS
    assert an.peak_dbfs(0.5 * x) == pytest.approx(20 * math.log10(0.5))
    assert an.peak_dbfs(np.zeros(10)) == -math.inf
    assert an.rms_dbfs(np.zeros((2, 10))) == -math.inf


def test_noise_floor_of_16_bit_tpdf_error(rng):
    # Error power LSB²/4 -> 10*log10(2**-32 / 0.5) = -93.32 dBFS. 1 s: within 0.05 dB.
    x = rng.uniform(-0.5, 0.5, FS)
    err = tpdf_16(x, rng) - x
    assert an.noise_floor_dbfs(err) == pytest.approx(db10(LSB16**2 / 4 / 0.5), abs=0.05)


def test_effective_bits_formula():
    assert an.effective_bits(6.02 * 16 + 1.76) == pytest.approx(16.0)
    assert an.effective_bits(1.76) == pytest.approx(0.0)


# ----------------------------------------------------------------------------- properties


def test_snr_pools_all_channels(rng):
    ref = rng.standard_normal((2, 1000))
    test = ref + rng.standard_normal((2, 1000)) * np.array([[1e-3], [1e-2]])
    expected = db10(np.sum(ref**2) / np.sum((test - ref) ** 2))
    assert an.snr(ref, test) == pytest.approx(expected, abs=1e-9)
    assert an.snr(ref, ref.copy()) == math.inf
    assert an.snr(ref.astype(np.float32), test.astype(np.float32)) == pytest.approx(
        expected, abs=1e-3
    )


def test_mono_and_one_channel_2d_agree(rng):
    y = tone(997.0) + rng.standard_normal(FS) * 1e-4
    assert an.sinad(y[np.newaxis, :], FS) == pytest.approx(an.sinad(y, FS), abs=1e-9)
    assert an.dynamic_range(y[np.newaxis, :], FS) == pytest.approx(
        an.dynamic_range(y, FS), abs=1e-9
    )


def test_sinad_is_level_invariant(rng):
    # Scaling signal and noise together changes nothing.
    y = tone(997.0) + rng.standard_normal(FS) * 1e-4
    assert an.sinad(0.01 * y, FS) == pytest.approx(an.sinad(y, FS), abs=1e-6)


# ----------------------------------------------------------------------------- summary


def test_summary_of_a_dominant_sine(rng):
    x = tone(997.0, level_dbfs=-1e-9)
    q = round_to_bits(x, 16)
    d = an.summary(q, FS, reference=x)
    json.dumps(d)  # plain numbers, and strings that say what a figure is
    assert all(type(v) in (float, int, str) for v in d.values())
    assert d["frequency_hz"] == pytest.approx(997.0, abs=1e-3)
    assert d["sinad_db"] == pytest.approx(98.09, abs=0.3)  # 6.02*16 + 1.76
    assert d["thd_n_db"] == pytest.approx(-d["sinad_db"])
    assert d["enob_bits"] == pytest.approx(16.0, abs=0.05)  # a full-scale tone
    assert d["enob_full_scale_bits"] == pytest.approx(16.0, abs=0.05)
    assert d["snr_db"] == pytest.approx(an.snr(x, q))
    assert d["peak_dbfs"] == pytest.approx(0.0, abs=0.01)
    assert d["rms_dbfs_aes17"] == pytest.approx(0.0, abs=0.01)  # a full-scale sine
    assert d["rms_dbfs_square"] == pytest.approx(-10 * math.log10(2), abs=0.01)
    assert d["noise_floor_dbfs"] == pytest.approx(db10(LSB16**2 / 12 / 0.5), abs=0.3)
    assert d["noise_floor_of"] == "notched tone residual"
    assert "dynamic_range_db" not in d
    text = an.format_summary(d)
    assert "SINAD (unweighted)" in text and "dBFS" in text and "98.1" in text
    assert "RMS (re FS sine, AES17)" in text and "RMS (re FS square, SoX)" in text
    assert "notched tone residual" in text


def test_summary_of_an_aes17_tone_reports_dynamic_range(rng):
    y = tpdf_16(np.stack([tone(997.0, level_dbfs=-60.0)] * 2), rng)
    d = an.summary(y, FS)
    assert d["channels"] == 2
    assert d["dynamic_range_db"] == pytest.approx(93.75, abs=0.3)
    assert d["dynamic_range_a_db"] == pytest.approx(95.8, abs=0.3)
    assert "dB(A)" in an.format_summary(d)


def test_summary_of_a_quiet_tone_gives_enob_corrected_to_full_scale(rng):
    # IEEE 1241: ENOB is for a full-scale tone; a -60 dBFS tone at 16 bits TPDF has SINAD
    # 98.09 - 4.77 - 60 = 33.3 dB, "ENOB 5.2 bits" uncorrected; corrected to full scale
    # (+60 dB) it is (98.09 - 4.77 - 1.76) / 6.02 = 15.2 bits.
    y = tpdf_16(tone(997.0, level_dbfs=-60.0), rng)
    d = an.summary(y, FS)
    assert "enob_bits" not in d
    assert d["enob_full_scale_bits"] == pytest.approx((98.09 - 4.77 - 1.76) / 6.02, abs=0.05)
    text = an.format_summary(d)
    assert "ENOB re full scale" in text and "IEEE 1241" in text
    assert [line for line in text.splitlines() if line.startswith("ENOB")] == [
        line for line in text.splitlines() if line.startswith("ENOB re full scale")]


def test_summary_of_noise_prints_no_noise_floor(rng):
    noise = rng.standard_normal((2, FS)) * 0.01
    noise[:, FS // 2 :] *= 0.01  # second half 40 dB quieter
    d = an.summary(noise, FS)
    assert "sinad_db" not in d and "frequency_hz" not in d
    # no tone to notch and not silence: a "noise floor" would mean nothing
    assert "noise_floor_dbfs" not in d and "noise floor" not in an.format_summary(d)
    # weighted level of the whole signal, as weighted_noise_power says
    assert d["level_468_dbfs"] == pytest.approx(
        db10(an.weighted_noise_power(noise, FS, "468") / 0.5), abs=1e-9)
    empty = an.summary(np.zeros((2, 0)), FS)  # a file of 0 frames: levels are -inf
    assert empty["frames"] == 0 and empty["noise_floor_dbfs"] == -math.inf
    silent = an.summary(np.zeros(1000), FS)
    assert silent["peak_dbfs"] == -math.inf and silent["noise_floor_dbfs"] == -math.inf
    assert silent["noise_floor_of"] == "digital silence"
    assert "-inf" in an.format_summary(silent) and "digital silence" in an.format_summary(silent)


def test_summary_of_a_sweep_prints_no_noise_floor():
    # the old "noise floor" was the quietest 100 ms block: -3.05 dBFS inside a sweep
    t = np.arange(2 * FS) / FS
    f0, f1 = 20.0, 20000.0
    k = math.log(f1 / f0) / 2.0
    sweep = np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)
    d = an.summary(sweep, FS)
    assert "noise_floor_dbfs" not in d and "sinad_db" not in d
    assert d["rms_dbfs_aes17"] == pytest.approx(0.0, abs=0.05)  # a sine's mean square


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call",
    [
        lambda: an.snr(np.zeros(10), np.zeros(11)),
        lambda: an.snr(np.zeros((2, 2, 2)), np.zeros((2, 2, 2))),
        lambda: an.snr(np.array(["a"]), np.array(["a"])),
        lambda: an.sinad(tone(997.0), 0),
        lambda: an.sinad(tone(997.0), FS, freq_hz=30000.0),
        lambda: an.sinad(np.zeros(3), FS),
        lambda: an.sine_fit(np.zeros((2, 100)), FS),
        lambda: an.dynamic_range(tone(997.0), FS, "B"),
        lambda: an.weighted_noise_power(tone(997.0), FS, band_hz=(1000.0, 10.0)),
        lambda: an.band_integral([0.0, 1.0], [1.0], 0.0, 1.0),
    ],
)
def test_bad_arguments_raise_parameter_error(call):
    with pytest.raises(ParameterError):
        call()


def test_non_finite_sample_is_named():
    x = np.zeros((2, 100))
    x[1, 42] = np.nan
    x[0, 60] = np.inf  # later in time, though earlier in memory: the first is frame 42
    with pytest.raises(ParameterError, match="frame 42 of channel 1"):
        an.peak_dbfs(x)
    with pytest.raises(ValueError):  # ParameterError is a ValueError
        an.snr(x, x)


def test_import_does_not_load_scipy_signal():
    root = Path(__file__).resolve().parents[2]
    code = "import audioquant.analysis, sys; assert 'scipy.signal' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
