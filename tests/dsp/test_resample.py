"""Kernels of dsp.resample against plain-numpy references and filter theory."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from audioquant.dsp.resample import (
    FFTWorkspace,
    PolyphaseScratch,
    design_kaiser,
    design_two_stage,
    fft_stage,
    kaiser_sinc_table,
    polyphase_channel,
    polyphase_resample,
    reduced_ratio,
    sample_hold,
    sample_hold_reduced,
)

# (passband, stopband, promised attenuation dB, promised ripple dB): the audioquant presets.
PRESETS = {
    "quick": (0.70, 1.0, 60.0, 1e-2),
    "low": (0.77, 1.0, 80.0, 1e-3),
    "medium": (0.85, 1.0, 100.0, 1e-4),
    "high": (0.91, 1.0, 120.0, 1e-5),
    "very high": (0.91, 1.0, 160.0, 1e-7),
}


def naive_resample(x: np.ndarray, up: int, down: int, design, count: int) -> np.ndarray:
    """Obviously right reference: y[n] = sum_j x[j] h(n M / L - j), rows normalised to 1."""
    half, c, beta = design.half_taps, design.cutoff, design.beta
    y = np.zeros(count)
    for n in range(count):
        q, p = divmod(n * down, up)
        j = np.arange(q - half + 1, q + half + 1)
        d = (n * down) / up - j
        w = np.i0(beta * np.sqrt(np.clip(1 - (d / half) ** 2, 0, None))) / np.i0(beta)
        h = 2 * c * np.sinc(2 * c * d) * w
        h /= h.sum()
        xs = np.where((j >= 0) & (j < len(x)), x[np.clip(j, 0, len(x) - 1)], 0.0)
        y[n] = h @ xs
    return y


def prototype_response(up: int, down: int, preset: str, in_rate: int):
    """Magnitude response of the whole polyphase prototype (all phases interleaved)."""
    passband, stopband, att, _ = PRESETS[preset]
    design = design_kaiser(up, down, passband, stopband, att + 5.0)
    table = kaiser_sinc_table(design)
    taps = design.taps
    times = (np.arange(up)[:, None] / up + (design.half_taps - 1 - np.arange(taps))).ravel()
    h = table.ravel()[np.argsort(times)] / up  # impulse response at rate L * in_rate
    nfft = 1 << int(np.ceil(np.log2(h.size * 8)))
    mag = np.abs(np.fft.rfft(h, nfft))
    freq = np.arange(mag.size) * (up * in_rate / nfft)
    return freq, mag


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("in_rate,out_rate", [(44100, 48000), (96000, 44100)])
def test_prototype_meets_preset(preset, in_rate, out_rate):
    # Theory: the prototype (every phase, every image) is flat within the promised ripple up
    # to the passband edge and at least the promised attenuation down from the lower
    # Nyquist to the prototype's own Nyquist (which covers every image and alias).
    up, down = reduced_ratio(in_rate, out_rate)
    passband, _, att, ripple = PRESETS[preset]
    freq, mag = prototype_response(up, down, preset, in_rate)
    nyq = min(in_rate, out_rate) / 2
    gain_db = 20 * np.log10(np.maximum(mag, 1e-300))  # exact zeros at DC multiples
    assert np.abs(gain_db[freq <= passband * nyq]).max() <= ripple
    assert gain_db[freq >= nyq].max() <= -att


def test_rows_sum_to_one_and_match_naive_reference():
    rng = np.random.default_rng(5)
    up, down = reduced_ratio(44100, 48000)
    design = design_kaiser(up, down, 0.91, 1.0, 125.0)
    table = kaiser_sinc_table(design)
    # each phase normalised: DC gain 1 to rounding (a few ulp over ~200 taps)
    assert np.abs(table.sum(axis=1) - 1).max() < 1e-13
    x = rng.standard_normal(600)
    pad = design.half_taps + 8
    buf = np.concatenate([np.zeros(pad), x, np.zeros(pad)])[None, :]
    count = 600 * up // down
    y = polyphase_resample(buf, -pad, 0, count, design, table)[0]
    ref = naive_resample(x, up, down, design, count)
    # np.i0 (Chebyshev) and our I0 series differ in the last bits only
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-12)


def test_direct_path_equals_table_path():
    # the on-the-fly rows (used when the table would be too big) are the same numbers
    rng = np.random.default_rng(6)
    up, down = reduced_ratio(96000, 44100)
    design = design_kaiser(up, down, 0.91, 1.0, 165.0)
    table = kaiser_sinc_table(design)
    pad = design.half_taps + 8
    buf = np.ascontiguousarray(
        np.concatenate([np.zeros((2, pad)), rng.standard_normal((2, 900)), np.zeros((2, pad))], 1)
    )
    count = 900 * up // down
    a = polyphase_resample(buf, -pad, 0, count, design, table)
    b = polyphase_resample(buf, -pad, 0, count, design, None)
    assert np.array_equal(a, b)


def test_buffer_too_short_is_refused():
    design = design_kaiser(160, 147, 0.91, 1.0, 125.0)
    with pytest.raises(ValueError):
        polyphase_resample(np.zeros((1, 10)), 0, 0, 5, design, None)


def hold_reference(x: np.ndarray, in_rate: int, hold_rate: int) -> np.ndarray:
    """Plain reference in exact time: output n at t = n / fs is in interval k = floor(t r),
    which began at k / r and holds the input sample current then, floor(k / r * fs)."""
    out = np.empty_like(x)
    for n in range(x.shape[-1]):
        k = int(Fraction(n, in_rate) * hold_rate)  # floor for non-negative Fractions
        out[..., n] = x[..., int(Fraction(k, hold_rate) * in_rate)]
    return out


@pytest.mark.parametrize(
    "in_rate,hold_rate",
    [(48000, 8000), (44100, 8000), (44100, 11025), (48000, 7001), (8000, 44100), (48000, 48000)],
)
def test_sample_hold_staircase_blockwise(in_rate, hold_rate):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 1000))
    ref = hold_reference(x, in_rate, hold_rate)
    for block in (1, 17, 1000):
        state = np.zeros((2, 2))
        parts = [
            sample_hold(np.ascontiguousarray(x[:, i : i + block]), i, in_rate, hold_rate, state)
            for i in range(0, 1000, block)
        ]
        assert np.array_equal(np.concatenate(parts, axis=1), ref)


@pytest.mark.parametrize("in_rate,hold_rate", [(48000, 8000), (44100, 8000), (8000, 44100)])
def test_sample_hold_reduced_rate(in_rate, hold_rate):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 999))
    count = -(-999 * hold_rate // in_rate)
    ref = x[:, [int(Fraction(k, hold_rate) * in_rate) for k in range(count)]]
    for block in (1, 17, 999):
        parts, k0 = [], 0
        for i in range(0, 999, block):
            part = sample_hold_reduced(np.ascontiguousarray(x[:, i : i + block]), i, k0,
                                       in_rate, hold_rate)
            k0 += part.shape[1]
            parts.append(part)
        assert np.array_equal(np.concatenate(parts, axis=1), ref)


# -- the two-stage design Resample runs ------------------------------------------------

TWO_STAGE_CASES = [(96000, 44100), (44100, 48000), (48000, 8000), (8000, 44100),
                   (96000, 48000), (384000, 8000)]


def naive_stage1(x: np.ndarray, design, count: int) -> np.ndarray:
    """Obviously right stage 1: zero-stuff by U, convolve with the FIR centred on its middle
    tap (zeros outside the signal), keep every D-th sample from index 0."""
    u, d, c = design.pre_up, design.pre_down, design.half1
    xu = np.zeros(x.size * u)
    xu[::u] = x
    full = np.convolve(xu, design.fir)  # full[i + c] is the zero-phase output at i
    z = full[c : c + xu.size][::d]
    return np.concatenate([z, np.zeros(max(0, count - z.size))])[:count]


@pytest.mark.parametrize("in_rate,out_rate", TWO_STAGE_CASES)
def test_fft_stage_equals_direct_convolution(in_rate, out_rate):
    # overlap-save on the frame grid is the plain convolution, to FFT rounding
    # (a few ulp of the signal's scale, times log2 of the FFT size)
    rng = np.random.default_rng(21)
    design = design_two_stage(in_rate, out_rate, 0.91, 1.0, 125.0)
    frames = 5
    count = frames * design.frame
    x = rng.standard_normal(design.frame_start(frames - 1) + design.window)
    lead = design.lead  # frame 0 starts at input -lead: pad with the zeros before the signal
    src = np.concatenate([np.zeros(lead), x])
    windows = np.stack([src[k * design.hop : k * design.hop + design.window]
                        for k in range(frames)])
    z = np.empty(count)
    fft_stage(windows, design, FFTWorkspace(design, frames), z)
    ref = naive_stage1(x, design, count)
    # x ends exactly where the last frame's window does: no output needs input past it
    np.testing.assert_allclose(z, ref, rtol=0, atol=1e-13)


@pytest.mark.parametrize("in_rate,out_rate", TWO_STAGE_CASES)
def test_fft_stage_frames_are_independent_of_batching(in_rate, out_rate):
    # a frame's numbers depend only on its own window, not on what else is in the call
    rng = np.random.default_rng(22)
    design = design_two_stage(in_rate, out_rate, 0.91, 1.0, 165.0)
    windows = rng.standard_normal((7, design.window))
    ws = FFTWorkspace(design, 7)
    together = np.empty(7 * design.frame)
    fft_stage(windows, design, ws, together)
    alone = np.concatenate([_one_frame(design, w) for w in windows])
    assert np.array_equal(together, alone)


def _one_frame(design, window):
    out = np.empty(design.frame)
    fft_stage(window[None, :], design, FFTWorkspace(design, 1), out)
    return out


def _response_db(h: np.ndarray, rate: float, freqs: np.ndarray) -> np.ndarray:
    """|DTFT| of h (taps at 1 / rate spacing) at freqs (Hz), dB."""
    k = np.arange(h.size)
    mag = np.abs(np.exp(-2j * np.pi * np.outer(freqs / rate, k)) @ h)
    return 20 * np.log10(np.maximum(mag, 1e-300))


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("in_rate,out_rate", [(44100, 48000), (96000, 44100)])
def test_two_stage_filters_meet_preset(preset, in_rate, out_rate):
    # Theory: stage 1 is flat to the passband edge and down the attenuation from the lower
    # Nyquist to its own Nyquist; stage 2 (the whole polyphase prototype) is flat to the
    # passband edge and down from the first image of stage 1's band (F1 - f_stop) to its
    # own Nyquist. Ripples add (in dB, to first order): their sum is within the promise.
    passband, stopband, att, ripple = PRESETS[preset]
    design = design_two_stage(in_rate, out_rate, passband, stopband, att + 5.0)
    nyq = min(in_rate, out_rate) / 2
    rate0 = in_rate * design.pre_up
    rate1 = rate0 / design.pre_down
    gain1 = design.pre_up  # a zero-stuffed input: each branch sums to 1
    f = np.linspace(0, passband * nyq, 400)
    pass1 = np.abs(_response_db(design.fir / gain1, rate0, f)).max()
    stop1 = _response_db(design.fir / gain1, rate0, np.linspace(nyq, rate0 / 2, 4000)).max()
    assert stop1 <= -att
    s2 = design.stage2
    table = kaiser_sinc_table(s2)
    taps = s2.taps
    times = (np.arange(s2.up)[:, None] / s2.up + (s2.half_taps - 1 - np.arange(taps))).ravel()
    h2 = table.ravel()[np.argsort(times)] / s2.up  # prototype at rate L2 * F1
    rate2 = s2.up * rate1
    pass2 = np.abs(_response_db(h2, rate2, f)).max()
    stop2 = _response_db(h2, rate2, np.linspace(rate1 - nyq, rate2 / 2, 8000)).max()
    assert stop2 <= -att
    assert pass1 + pass2 <= ripple


# 96k -> 48k is a pure FFT decimation by 2: it has no second stage to compare.
@pytest.mark.parametrize("in_rate,out_rate", [c for c in TWO_STAGE_CASES if c != (96000, 48000)]
                         + [(44101, 48000)])
def test_polyphase_channel_equals_polyphase_resample(in_rate, out_rate):
    # the one-channel, GIL-free kernel computes the same outputs as the reference driver
    rng = np.random.default_rng(23)
    s2 = design_two_stage(in_rate, out_rate, 0.91, 1.0, 125.0).stage2
    assert s2 is not None
    table = kaiser_sinc_table(s2) if s2.up * s2.taps <= 1 << 22 else None
    frames = 3000 if s2.up > 1000 else max(3000, 11 * s2.down + 100)  # >= 10 L outputs
    z = rng.standard_normal(frames)
    count = (frames - 100 - 2 * s2.half_taps) * s2.up // s2.down
    ref = polyphase_resample(z[None, :], -s2.half_taps, 0, count, s2, table)[0]
    out = np.empty(count)
    polyphase_channel(z, -s2.half_taps, 0, s2, table, out)
    assert np.array_equal(out, ref)
    if table is not None:
        polyphase_channel(z, -s2.half_taps, 0, s2, None, out)
        assert np.array_equal(out, ref)
        # the vectorised kernel (24 taps, long runs) keeps every output's order of sums
        polyphase_channel(z, -s2.half_taps, 0, s2, table, out, PolyphaseScratch())
        assert np.array_equal(out, ref)
        for first, length in ((7, 8 * s2.up + 3), (s2.up + 1, 9 * s2.up)):
            if first + length > count:
                continue
            part = np.empty(length)
            polyphase_channel(z, -s2.half_taps, first, s2, table, part, PolyphaseScratch())
            assert np.array_equal(part, ref[first : first + length])
