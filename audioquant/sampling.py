"""Sampling processors: band-limited rate conversion and sample-and-hold rate reduction.

``Resample(target_rate, quality="high")``
    Converts between any two integer rates in 8000..384000 Hz by the rational factor
    ``L / M = target_rate / sample_rate`` (lowest terms) with a Kaiser-windowed-sinc
    polyphase filter (``dsp.resample``). Output sample ``n`` is aligned with input time
    ``n * M / L``: an impulse at input sample ``t`` peaks at output ``t * L / M``.

``SampleHold(hold_rate, at_hold_rate=False)``
    Lo-fi rate reduction with no filter: each held value lasts ``1 / hold_rate`` seconds on
    the output's time axis; output at the input rate (default) or at ``hold_rate``.

Latency and length, for the engine (``Chain``)
----------------------------------------------
Both processors define ``latency`` (output samples of delay in the stream ``process``
returns) and ``output_frames(input_frames)`` (the length of the aligned result). The engine
streams blocks through ``process``, appends ``flush()``, drops the first ``latency`` output
samples and cuts the result to ``output_frames(total_input_frames)``. For ``Resample``:
``latency = ceil(H * L / M)`` (``H`` the filter's half length in input samples, so the
stream never waits for input beyond an output's own time) and
``output_frames(J) = ceil(J * L / M)`` -- one output per ``M / L`` input samples while the
output time is inside the input, the rule of ``soxr`` and ``librosa``. ``flush`` returns
exactly what is missing, so the cut is a no-op when nothing else intervenes. Calling the
processor on a whole array (``proc(audio, sample_rate)``) does all of that in one go.

Quality presets (band edges as fractions of the lower of the two Nyquist frequencies;
ripple and stopband are the design figures, checked by ``tests/dsp/test_resample.py``)

============  ========  ========  ===============  ===========
preset        passband  stopband  passband ripple  attenuation
============  ========  ========  ===============  ===========
quick         0.70      1.00      +-0.01 dB        >= 60 dB
low           0.77      1.00      +-0.001 dB       >= 80 dB
medium        0.85      1.00      +-0.0001 dB      >= 100 dB
high          0.91      1.00      +-0.00001 dB     >= 120 dB
very high     0.91      1.00      +-0.0000001 dB   >= 160 dB
============  ========  ========  ===============  ===========

The stopband starts at the lower Nyquist frequency, so nothing aliases and images are
removed by at least the attenuation figure. Each design aims 5 dB past its promise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from numbers import Integral, Real

import numpy as np

from audioquant.errors import ParameterError
from audioquant.processors import Processor, as_block, trim_latency
from dsp.resample import (
    MAX_TABLE_COEFFICIENTS,
    KaiserDesign,
    design_kaiser,
    kaiser_sinc_table,
    polyphase_resample,
    reduced_ratio,
    sample_hold,
    sample_hold_reduced,
)

__all__ = ["QUALITIES", "Quality", "Resample", "SampleHold", "check_rate", "parse_quality"]

MIN_RESAMPLE_RATE = 8_000
MAX_RATE = 384_000


@dataclass(frozen=True)
class Quality:
    """A resampling preset: band edges (fractions of the lower Nyquist) and dB figures."""

    name: str
    passband: float
    stopband: float
    attenuation_db: float  # promised stopband attenuation
    ripple_db: float  # promised passband ripple, +- dB

    @property
    def design_attenuation_db(self) -> float:
        """Attenuation the Kaiser design aims at (5 dB of margin)."""
        return self.attenuation_db + 5.0


QUALITIES: dict[str, Quality] = {
    q.name: q
    for q in (
        Quality("quick", 0.70, 1.0, 60.0, 1e-2),
        Quality("low", 0.77, 1.0, 80.0, 1e-3),
        Quality("medium", 0.85, 1.0, 100.0, 1e-4),
        Quality("high", 0.91, 1.0, 120.0, 1e-5),
        Quality("very high", 0.91, 1.0, 160.0, 1e-7),
    )
}


def parse_quality(quality: str) -> Quality:
    """Return the preset named ``quality`` ("very-high", "very_high", "VHQ" also work)."""
    if isinstance(quality, Quality):
        return quality
    key = str(quality).strip().lower().replace("_", " ").replace("-", " ")
    key = {
        "veryhigh": "very high",
        "vhq": "very high",
        "hq": "high",
        "mq": "medium",
        "lq": "low",
        "qq": "quick",
    }.get(key, key)
    if key not in QUALITIES:
        raise ParameterError(f"quality must be one of {', '.join(QUALITIES)}, got {quality!r}")
    return QUALITIES[key]


def check_rate(name: str, value: object, low: int = MIN_RESAMPLE_RATE, high: int = MAX_RATE) -> int:
    """Return ``value`` as an int in ``low..high`` Hz or raise ParameterError."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ParameterError(f"{name} must be an integer in {low}..{high} Hz, got {value!r}")
    if not isinstance(value, Integral):
        if not math.isfinite(value) or value != int(value):
            raise ParameterError(f"{name} must be an integer in {low}..{high} Hz, got {value!r}")
    rate = int(value)
    if not low <= rate <= high:
        raise ParameterError(f"{name} must be in {low}..{high} Hz, got {rate}")
    return rate


@lru_cache(maxsize=16)
def _design(up: int, down: int, quality: Quality) -> tuple[KaiserDesign, np.ndarray | None]:
    design = design_kaiser(
        up, down, quality.passband, quality.stopband, quality.design_attenuation_db
    )
    if up * design.taps <= MAX_TABLE_COEFFICIENTS:
        table = kaiser_sinc_table(design)
        table.setflags(write=False)
        return design, table
    return design, None


class Resample(Processor):
    """Band-limited sample-rate conversion to ``target_rate`` Hz.

    Parameters
    ----------
    target_rate : int
        Output sample rate, Hz, 8000..384000.
    quality : str
        ``"quick"``, ``"low"``, ``"medium"``, ``"high"`` (default) or ``"very high"``
        (see the module docstring for each preset's figures).

    Attributes
    ----------
    latency : int
        Output samples of delay in what ``process`` returns: ``ceil(H * L / M)``.
    up, down : int
        ``L`` and ``M`` after ``prepare``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((2, 96000))               # one second of stereo at 96 kHz
    >>> Resample(44100)(x, 96000).shape
    (2, 44100)
    """

    def __init__(self, target_rate: int, *, quality: str = "high") -> None:
        super().__init__()
        self.target_rate = check_rate("target_rate", target_rate)
        self.quality = parse_quality(quality)
        self.latency = 0
        self.up = 1
        self.down = 1
        self._design: KaiserDesign | None = None
        self._table: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"Resample({self.target_rate}, quality={self.quality.name!r})"

    # -- set-up -----------------------------------------------------------------------

    def prepare(self, sample_rate: int, channels: int) -> None:
        sample_rate = check_rate("sample_rate", sample_rate)
        if int(channels) < 1:
            raise ParameterError(f"channels must be at least 1, got {channels}")
        self.up, self.down = reduced_ratio(sample_rate, self.target_rate)
        if self.up == self.down:
            self._design, self._table, self.latency = None, None, 0
        else:
            self._design, self._table = _design(self.up, self.down, self.quality)
            half = self._design.half_taps
            self.latency = -((-half * self.up) // self.down)
        super().prepare(sample_rate, channels)

    def reset(self) -> None:
        self._consumed = 0  # input frames received
        self._emitted = 0  # stream outputs returned (including the latency)
        if self._design is None:
            self._buf = np.zeros((self.channels, 0))
            self._buf_start = 0
            return
        first = self._first_needed(-self.latency)
        self._buf_start = first
        self._buf = np.zeros((self.channels, -first))

    def output_rate(self, sample_rate: int) -> int:
        return self.target_rate

    def output_frames(self, input_frames: int) -> int:
        """Aligned output length for ``input_frames`` input samples: ``ceil(J * L / M)``."""
        return -((-int(input_frames) * self.up) // self.down)

    # -- streaming --------------------------------------------------------------------

    def _first_needed(self, n: int) -> int:
        """First input index the taps of output ``n`` (aligned index) touch."""
        return (n * self.down) // self.up - self._design.half_taps + 1

    def _run(self, stream_end: int) -> np.ndarray:
        """Compute stream outputs ``self._emitted .. stream_end - 1`` from the buffer."""
        count = stream_end - self._emitted
        if count <= 0:
            return np.zeros((self.channels, 0))
        out = polyphase_resample(
            self._buf,
            self._buf_start,
            self._emitted - self.latency,
            count,
            self._design,
            self._table,
        )
        self._emitted = stream_end
        keep_from = self._first_needed(self._emitted - self.latency)
        drop = keep_from - self._buf_start
        if drop > 0:
            self._buf = np.ascontiguousarray(self._buf[:, drop:])
            self._buf_start = keep_from
        return out

    def process(self, block: np.ndarray) -> np.ndarray:
        """Resample one block ``(channels, frames)``; returns float64 ``(channels, n)``.

        The returned stream is delayed by ``latency`` output samples; how many samples a
        call returns depends only on the total input so far, never on how it was cut.
        """
        x = as_block(block)
        if x.shape[0] != self.channels:
            raise ParameterError(f"block must have {self.channels} channels, got {x.shape[0]}")
        x = x.astype(np.float64, copy=False)
        self._consumed += x.shape[1]
        if self._design is None:
            self._emitted += x.shape[1]
            return x.copy()
        if x.shape[1]:
            self._buf = np.concatenate([self._buf, x], axis=1)
        # stream output m = aligned output m - D needs input up to q(m - D) + H <= J - 1,
        # i.e. m < D + (J - H) L / M
        half = self._design.half_taps
        ready = self.latency - ((-(self._consumed - half) * self.up) // self.down)
        return self._run(ready)

    def flush(self) -> np.ndarray:
        """Return the rest of the stream up to ``latency + output_frames(J)`` samples."""
        if self._design is None:
            return np.zeros((self.channels, 0))
        total = self.latency + self.output_frames(self._consumed)
        last = total - 1 - self.latency  # aligned index of the last output
        need_end = (last * self.down) // self.up + self._design.half_taps + 1
        have_end = self._buf_start + self._buf.shape[1]
        if need_end > have_end:
            pad = np.zeros((self.channels, need_end - have_end))
            self._buf = np.concatenate([self._buf, pad], axis=1)
        return self._run(total)

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Resample a whole array from a fresh state: ``output_frames(J)`` aligned samples.

        A 1-D array is treated as mono and a 1-D array is returned.
        """
        mono = np.ndim(audio) == 1
        block = as_block(audio)
        self.prepare(sample_rate, block.shape[0])
        out = np.concatenate([self.process(block), self.flush()], axis=1)
        out = trim_latency(out, self.latency)[:, : self.output_frames(block.shape[1])]
        return out[0] if mono else out


class SampleHold(Processor):
    """Sample-and-hold rate reduction ("bitcrusher" rate), no anti-aliasing filter.

    Output sample ``n`` (at the input rate ``fs``) lies in hold interval
    ``k = floor(n * hold_rate / fs)`` and repeats input sample ``floor(k * fs / hold_rate)``,
    the sample current when the interval began. Integer and non-integer ratios alike.

    Parameters
    ----------
    hold_rate : int
        Rate of the held values, Hz, 1..384000.
    at_hold_rate : bool
        Output one sample per held value, at ``hold_rate`` Hz
        (``y[k] = x[floor(k * fs / hold_rate)]``), instead of at the input rate.

    Attributes
    ----------
    latency : int
        Always 0 (the hold only looks back).
    """

    latency = 0

    def __init__(self, hold_rate: int, *, at_hold_rate: bool = False) -> None:
        super().__init__()
        self.hold_rate = check_rate("hold_rate", hold_rate, 1, MAX_RATE)
        self.at_hold_rate = bool(at_hold_rate)

    def __repr__(self) -> str:
        return f"SampleHold({self.hold_rate}, at_hold_rate={self.at_hold_rate})"

    def prepare(self, sample_rate: int, channels: int) -> None:
        check_rate("sample_rate", sample_rate, 1, MAX_RATE)
        if int(channels) < 1:
            raise ParameterError(f"channels must be at least 1, got {channels}")
        super().prepare(sample_rate, channels)

    def reset(self) -> None:
        self._consumed = 0
        self._emitted = 0
        self._state = np.zeros((self.channels, 2))

    def output_rate(self, sample_rate: int) -> int:
        return self.hold_rate if self.at_hold_rate else sample_rate

    def output_frames(self, input_frames: int) -> int:
        """``J`` at the input rate, ``ceil(J * hold_rate / fs)`` at the hold rate."""
        if not self.at_hold_rate:
            return int(input_frames)
        return -((-int(input_frames) * self.hold_rate) // self.sample_rate)

    def process(self, block: np.ndarray) -> np.ndarray:
        x = as_block(block)
        if x.shape[0] != self.channels:
            raise ParameterError(f"block must have {self.channels} channels, got {x.shape[0]}")
        x = x.astype(np.float64, copy=False)
        n0 = self._consumed
        self._consumed += x.shape[1]
        if self.at_hold_rate:
            out = sample_hold_reduced(x, n0, self._emitted, self.sample_rate, self.hold_rate)
        else:
            out = sample_hold(x, n0, self.sample_rate, self.hold_rate, self._state)
        self._emitted += out.shape[1]
        return out
