"""Whole-array calls take soundfile's ``(frames, channels)`` arrays where the shape is clear.

``Requantize(16, shaping="lipshitz")(sf.read(path)[0], rate)`` once ran as 66,150 channels
of 2 frames and shaped nothing. Now a clearly ``(frames, channels)`` array is processed as
``channels`` channels and returned in its own layout (as pedalboard does), the
``(channels, frames)`` layout is left alone wherever it is plausible, and a shape that
could be read either way with more than 64 channels is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from audioquant.engine import Chain
from audioquant.errors import ParameterError
from audioquant.processors import Requantize, audio_layout
from audioquant.sampling import Resample, SampleHold

RATE = 44100


@pytest.fixture
def stereo_file(tmp_path):
    """A 1.5 s stereo float WAV, read back the way users read it: soundfile, (frames, 2)."""
    import soundfile as sf

    rng = np.random.default_rng(5)
    t = np.arange(66150) / RATE
    x = np.stack([0.5 * np.sin(2 * np.pi * 997 * t), 0.3 * np.sin(2 * np.pi * 441 * t + 1)])
    x += 1e-3 * rng.standard_normal(x.shape)
    path = tmp_path / "stereo.wav"
    sf.write(str(path), x.T, RATE, subtype="DOUBLE")
    data, rate = sf.read(str(path))
    assert data.shape == (66150, 2) and rate == RATE
    return data


@pytest.mark.parametrize("shape,layout", [
    ((66150, 2), "frames-first"),    # soundfile's stereo
    ((65, 1), "frames-first"),       # first axis past 64 channels, 65 frames per channel
    ((512, 64), "frames-first"),     # 64 channels, 8 frames each
    ((0, 2), "frames-first"),        # an empty stereo file from soundfile
    ((2, 66150), "channels-first"),
    ((2, 2), "channels-first"),      # square: the documented layout
    ((2, 1), "channels-first"),      # one stereo frame
    ((10, 2), "channels-first"),     # could be either: 10 channels is plausible
    ((64, 1), "channels-first"),
    ((2, 0), "channels-first"),      # channels of no frames
    ((0, 0), "channels-first"),
    ((1000, 1000), "channels-first"),
])
def test_layout_rule(shape, layout):
    assert audio_layout(np.zeros(shape)) == layout
    assert audio_layout(np.zeros(7)) == "mono"


@pytest.mark.parametrize("shape", [(5000, 300), (100, 20), (511, 64), (66150, 65), (65, 64)])
def test_ambiguous_many_channel_shapes_are_refused(shape):
    # more than 64 channels of fewer frames, or (frames, channels) with too few frames per
    # channel to be sure: never guessed, and the message says what to pass
    for proc in (Requantize(16), Resample(48000), SampleHold(8000), Chain([Requantize(8)])):
        with pytest.raises(ParameterError, match=r"ambiguous.*audio\.T"):
            proc(np.zeros(shape), RATE)


def test_requantize_soundfile_array_is_shaped_per_channel(stereo_file):
    proc = Requantize(16, shaping="lipshitz")
    y = proc(stereo_file, RATE)
    assert proc.channels == 2                     # not 66,150 channels of 2 frames
    assert y.shape == stereo_file.shape and y.flags.c_contiguous
    # the same numbers as the documented layout, bit for bit
    ref = Requantize(16, shaping="lipshitz")(np.ascontiguousarray(stereo_file.T), RATE)
    assert np.array_equal(y, ref.T)
    # and the noise really is shaped. Theory: Lipshitz's published 5-tap filter (1991;
    # SoX's dither.h) has the noise transfer function 1 - sum h_k z^-k, whose mean power
    # is 33.3 dB higher in 16-20 kHz than in 0.1-4 kHz; the measured error spectrum shows
    # the same within 1 dB (each band averages thousands of FFT bins, so the spread of the
    # estimate is ~0.1 dB). Flat TPDF: 0 dB within the same 1 dB.
    lipshitz = np.array([2.033, -2.165, 1.959, -1.590, 0.6149])
    freqs = np.fft.rfftfreq(stereo_file.shape[0], 1 / RATE)
    high, low = (freqs > 16000) & (freqs < 20000), (freqs > 100) & (freqs < 4000)
    z = np.exp(-2j * np.pi * freqs / RATE)
    ntf = np.abs(1 - sum(h * z ** (k + 1) for k, h in enumerate(lipshitz))) ** 2
    theory_db = 10 * np.log10(ntf[high].mean() / ntf[low].mean())
    assert 33 < theory_db < 33.6

    def tilt_db(out: np.ndarray, c: int) -> float:
        err = (out[:, c] - stereo_file[:, c]) * 2**15
        power = np.abs(np.fft.rfft(err * np.hanning(err.size))) ** 2
        return 10 * np.log10(power[high].mean() / power[low].mean())

    flat = Requantize(16)(stereo_file, RATE)
    for c in range(2):
        assert abs(tilt_db(y, c) - theory_db) < 1
        assert abs(tilt_db(flat, c)) < 1


def test_resample_soundfile_array_like_soxr(stereo_file):
    # python-soxr takes (frames, channels) itself: an independent reference for the shape
    soxr = pytest.importorskip("soxr")
    y = Resample(48000)(stereo_file, RATE)
    want = soxr.resample(stereo_file, RATE, 48000, quality="VHQ")
    assert y.shape == want.shape == (72000, 2) and y.flags.c_contiguous
    ref = Resample(48000)(np.ascontiguousarray(stereo_file.T), RATE)
    assert np.array_equal(y, ref.T)
    # same signal as soxr's, well inside both passbands (997 and 441 Hz tones), away from
    # the edges: the two resamplers agree to far below the 1e-3 noise floor of the input
    mid = slice(2000, -2000)
    assert np.max(np.abs(y[mid] - want[mid])) < 1e-4


def test_chain_and_sample_hold_keep_the_layout(stereo_file):
    chain = Chain([Resample(22050), Requantize(16)])
    y = chain(stereo_file, RATE)
    assert y.shape == (33075, 2)
    ref = Chain([Resample(22050), Requantize(16)])(np.ascontiguousarray(stereo_file.T), RATE)
    assert np.array_equal(y, ref.T)
    hold = SampleHold(11025)(stereo_file, RATE)
    assert hold.shape == stereo_file.shape
    # integer ratio 4: every fourth input sample, repeated four times, per channel
    assert np.array_equal(hold, np.repeat(stereo_file[::4], 4, axis=0)[:66150])


def test_float32_mono_column_and_empty_file_arrays():
    rng = np.random.default_rng(6)
    column = (0.25 * rng.standard_normal((1000, 1))).astype(np.float32)
    y = Requantize(24, dither="none")(column, RATE)
    assert y.shape == (1000, 1)
    # 24-bit rounding of float32 input is exact (both have 24-bit mantissas at this level)
    assert np.max(np.abs(y - column)) <= 2.0**-24
    assert Resample(48000)(column, RATE).shape == (1088, 1)   # round(1000 * 160 / 147)
    assert Requantize(16)(np.zeros((0, 2)), RATE).shape == (0, 2)
    assert Resample(48000)(np.zeros((0, 2)), RATE).shape == (0, 2)
    assert Requantize(16)(np.zeros((2, 0)), RATE).shape == (2, 0)


def test_short_channels_first_arrays_and_outputs_go_back_in():
    # one stereo frame, and a downsampled output shorter than its channel count, stay
    # (channels, frames): what a processor returns can be handed to the next one
    one = np.array([[0.5], [-0.25]])
    assert np.array_equal(Requantize(8, dither="none")(one, RATE), one)
    short = Resample(8000)(np.full((4, 24), 0.1), 96000)
    assert short.shape == (4, 2)                              # 24 / 12 frames per channel
    assert Requantize(16)(short, 8000).shape == (4, 2)
    proc = Requantize(16)
    proc(np.zeros((10, 2)), RATE)
    assert proc.channels == 10


def test_streaming_blocks_are_channels_first_only():
    # process() never guesses: a (frames, channels) block is refused with the hint
    block = np.zeros((1000, 2))
    for proc in (Requantize(16), Resample(48000), SampleHold(8000)):
        proc.prepare(RATE, 2)
        with pytest.raises(ParameterError, match=r"block must have 2 channels, got 1000 "
                                                 r"\(a \(frames, channels\) block\? pass "
                                                 r"block\.T\)"):
            proc.process(block)
        proc.process(block.T)                                  # the documented layout
