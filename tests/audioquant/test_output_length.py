"""How many frames ``Resample`` returns: libsoxr's (and SoX's) length, to the sample.

libsoxr ends a stream at ``(int64)(J / io_ratio + 0.5)`` outputs (``io_ratio = fs_in /
fs_out`` in double; ``_soxr_flush`` in ``src/cr.c``), SoX's rate effect likewise: ``J * L /
M`` rounded half up, where an exact half goes the way the rounded double ratio says.
Checked here by theory (exact fractions) away from the halves, and against python-soxr and
the ``sox`` program as independent references everywhere.
"""

from __future__ import annotations

import functools
import math
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest

from audioquant.engine import Chain
from audioquant.processors import Requantize
from audioquant.sampling import Resample, soxr_output_frames

RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400,
         192000, 384000, 8001, 12345, 383999]
PRIMES = [2, 3, 5, 7, 11, 13, 97, 211, 997, 1009, 4093, 7919, 10007]
LENGTHS = [0, 1, 4, 6, 100, 120, 1000, *PRIMES]
LONG = [65537, 104729, 734964, 10**9 + 7]


def exact_half_up(frames: int, in_rate: int, out_rate: int) -> int:
    return math.floor(Fraction(frames * out_rate, in_rate) + Fraction(1, 2))


def is_half(frames: int, in_rate: int, out_rate: int) -> bool:
    return Fraction(frames * out_rate, in_rate).denominator == 2


@functools.cache
def _prepared(in_rate: int, out_rate: int) -> Resample:
    r = Resample(out_rate)
    r.prepare(in_rate, 1)
    return r


def length_of(frames: int, in_rate: int, out_rate: int) -> int:
    return _prepared(in_rate, out_rate).output_frames(frames)


def test_issue_cases():
    # the two lengths reported against soxr and SoX: ceil gave 168,813 and 1,089
    assert length_of(734964, 96000, 22050) == 168812         # 168,812.04
    assert length_of(1000, 44100, 48000) == 1088             # 1,088.44


@pytest.mark.parametrize("in_rate", RATES)
def test_rounds_to_nearest(in_rate):
    # Theory: away from exact halves the length is J * L / M to the nearest integer; at
    # an exact half it is one of its two neighbours (which one, libsoxr's double decides).
    for out_rate in RATES:
        for frames in [*LENGTHS, *LONG, *range(50)]:
            got = length_of(frames, in_rate, out_rate)
            exact = Fraction(frames * out_rate, in_rate)
            if is_half(frames, in_rate, out_rate):
                assert got in (math.floor(exact), math.ceil(exact))
            else:
                assert got == exact_half_up(frames, in_rate, out_rate)


def test_matches_soxr_length_everywhere():
    soxr = pytest.importorskip("soxr")
    halves = 0
    for in_rate in RATES:
        for out_rate in RATES:
            for frames in [*LENGTHS, *range(0, 200, 7)]:
                want = len(soxr.resample(np.zeros(frames, np.float32), in_rate, out_rate,
                                         quality="QQ"))
                assert length_of(frames, in_rate, out_rate) == want, (frames, in_rate,
                                                                      out_rate)
                halves += is_half(frames, in_rate, out_rate)
    assert halves > 100  # the exact-half cases, where only the double rule agrees, are in
    for in_rate, out_rate in [(96000, 22050), (44100, 48000), (48000, 44100), (8000, 384000),
                              (383999, 8001), (24000, 44100)]:
        for frames in LONG[:3]:
            want = len(soxr.resample(np.zeros(frames, np.float32), in_rate, out_rate,
                                     quality="QQ"))
            assert length_of(frames, in_rate, out_rate) == want, (frames, in_rate, out_rate)


@pytest.mark.parametrize("frames,in_rate,out_rate", [
    (120, 24000, 44100),    # 220.5: soxr and SoX give 220 (the double of 24000/44100 is high)
    (6, 96000, 8000),       # 0.5: both give 1
    (1000, 24000, 44100),   # 1837.5: both give 1837
])
def test_exact_halves_follow_soxr(frames, in_rate, out_rate):
    soxr = pytest.importorskip("soxr")
    want = len(soxr.resample(np.zeros(frames), in_rate, out_rate))
    assert soxr_output_frames(frames, out_rate, in_rate) == want
    assert len(Resample(out_rate)(np.zeros(frames), in_rate)) == want


@pytest.mark.parametrize("frames,in_rate,out_rate,quality", [
    (734964, 96000, 22050, "high"), (1000, 44100, 48000, "very high"), (0, 44100, 48000,
                                                                        "high"),
    (1, 48000, 44100, "quick"), (7919, 8000, 44100, "medium"), (5, 96000, 8000, "low"),
    (120, 24000, 44100, "high"),
])
def test_whole_array_call_has_soxr_length(frames, in_rate, out_rate, quality):
    soxr = pytest.importorskip("soxr")
    x = np.zeros((2, frames))
    want = soxr.resample(x.T, in_rate, out_rate).shape[0]
    assert Resample(out_rate, quality=quality)(x, in_rate).shape == (2, want)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
@pytest.mark.parametrize("frames,in_rate,out_rate", [
    (734964, 96000, 22050), (1000, 44100, 48000), (120, 24000, 44100), (7919, 44100, 96000),
    (1, 44100, 48000), (5, 96000, 8000),
])
def test_matches_sox_length(tmp_path, frames, in_rate, out_rate):
    import soundfile as sf

    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(str(src), np.zeros(frames), in_rate, subtype="PCM_16")
    subprocess.run(["sox", str(src), "-r", str(out_rate), str(dst)], check=True,
                   capture_output=True, timeout=60)
    assert length_of(frames, in_rate, out_rate) == sf.info(str(dst)).frames


@pytest.mark.parametrize("frames,in_rate,out_rate", [
    (1000, 44100, 48000),   # rounds down: ceil would give one more
    (120, 24000, 44100),    # an exact half that goes down
    (6, 96000, 8000),       # an exact half that goes up
    (1, 48000, 44100),
])
def test_streaming_gives_the_same_length_and_samples(frames, in_rate, out_rate):
    # Block-size invariance holds with the new length: the chain cuts to output_frames()
    rng = np.random.default_rng(41)
    x = 0.3 * rng.standard_normal((2, frames))
    whole = Resample(out_rate)(x, in_rate)
    assert whole.shape == (2, length_of(frames, in_rate, out_rate))
    for block in (1, 17, 4096):
        chain = Chain([Resample(out_rate), Requantize(24, dither="none")])
        chain.prepare(in_rate, 2)
        parts = [chain.process(x[:, i : i + block]) for i in range(0, frames, block)]
        out = np.concatenate([*parts, chain.flush()], axis=1)
        ref = Requantize(24, dither="none")(whole, out_rate)
        assert np.array_equal(out, ref)
