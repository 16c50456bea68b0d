"""Counter-based random numbers and dither, in LSB of the target depth.

Every random value is a pure function of ``(seed, channel, absolute sample index)``: a
splitmix64 finaliser applied to ``key(seed, channel) + counter * golden``. Nothing depends
on how the audio was cut into blocks, so streamed output is bit-exact.

One 64-bit hash per sample gives two independent 32-bit uniforms (its high and low
halves). Dither kinds (amplitudes in LSB):

- ``DITHER_NONE``  0
- ``DITHER_RPDF``  uniform on [-0.5, 0.5): one LSB peak to peak, variance 1/12
- ``DITHER_TPDF``  sum of two independent uniforms: triangular on (-1, 1), variance 1/6
- ``DITHER_HP_TPDF``  u[n] - u[n-1]: triangular, variance 1/6, spectrum rising as
  |1 - e^{-jw}|^2 (less audible noise below a few kHz)
"""

from __future__ import annotations

import numpy as np

from . import import_numba

numba = import_numba()

DITHER_NONE = 0
DITHER_RPDF = 1
DITHER_TPDF = 2
DITHER_HP_TPDF = 3

DITHER_KINDS = {"none": DITHER_NONE, "rpdf": DITHER_RPDF, "tpdf": DITHER_TPDF,
                "hp-tpdf": DITHER_HP_TPDF}

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)
_TWO_POW_M32 = 2.0**-32


@numba.njit(cache=True, inline="always")
def mix64(z: np.uint64) -> np.uint64:
    """splitmix64 finaliser: a bijective 64-bit hash."""
    z = (z ^ (z >> np.uint64(30))) * _MUL1
    z = (z ^ (z >> np.uint64(27))) * _MUL2
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def channel_key(seed: np.uint64, channel: np.int64) -> np.uint64:
    """The per-channel stream key for ``seed``."""
    return mix64(seed ^ mix64(np.uint64(channel) * _GOLDEN + _GOLDEN))


@numba.njit(cache=True, inline="always")
def hash_at(key: np.uint64, counter: np.int64) -> np.uint64:
    """The 64-bit random word number ``counter`` (>= 0) of the stream ``key``."""
    return mix64(key + np.uint64(counter) * _GOLDEN)


@numba.njit(cache=True, inline="always")
def uniform_hi(word: np.uint64) -> float:
    """Uniform on [0, 1) from the high 32 bits of ``word``."""
    return float(word >> np.uint64(32)) * _TWO_POW_M32


@numba.njit(cache=True, inline="always")
def uniform_lo(word: np.uint64) -> float:
    """Uniform on [0, 1) from the low 32 bits of ``word``."""
    return float(word & _LOW32) * _TWO_POW_M32


@numba.njit(cache=True, inline="always")
def dither_at(kind: np.int64, key: np.uint64, index: np.int64) -> float:
    """The dither value (LSB) of ``kind`` at absolute sample ``index`` of stream ``key``."""
    if kind == DITHER_NONE:
        return 0.0
    if kind == DITHER_HP_TPDF:
        # Counter index + 1 for u[n], index for u[n - 1]: never negative.
        return uniform_hi(hash_at(key, index + 1)) - uniform_hi(hash_at(key, index))
    word = hash_at(key, index)
    if kind == DITHER_RPDF:
        return uniform_hi(word) - 0.5
    return uniform_hi(word) + uniform_lo(word) - 1.0


@numba.njit(cache=True)
def _fill_dither(kind: int, seed: np.uint64, channel: int, start: int, out: np.ndarray) -> None:
    key = channel_key(seed, channel)
    for i in range(out.shape[0]):
        out[i] = dither_at(kind, key, start + i)


def dither_samples(kind: str, seed: int, channel: int, start: int, frames: int) -> np.ndarray:
    """Dither values (LSB, float64) for ``frames`` samples from absolute index ``start``."""
    out = np.empty(frames, dtype=np.float64)
    _fill_dither(DITHER_KINDS[kind], np.uint64(seed), channel, start, out)
    return out
