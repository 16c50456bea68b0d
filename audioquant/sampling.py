"""Sampling processors: band-limited rate conversion and sample-and-hold rate reduction.

``Resample(target_rate, quality="high")``
    Converts between any two integer rates in 8000..384000 Hz by the rational factor
    ``L / M = target_rate / sample_rate`` (lowest terms) with Kaiser-windowed-sinc filters
    in two stages (``dsp.resample.design_two_stage``): a sharp FIR applied by FFT
    overlap-save on a fixed frame grid of the stream, then a 24-tap polyphase stage.
    Output sample ``n`` is aligned with input time ``n * M / L``: an impulse at input
    sample ``t`` peaks at output ``t * L / M``. On big blocks the channels run in
    parallel threads, as many as :func:`audioquant.threads.max_threads` allows (the
    kernels release the GIL); the numbers do not change.

``SampleHold(hold_rate, at_hold_rate=False)``
    Lo-fi rate reduction with no filter: each held value lasts ``1 / hold_rate`` seconds on
    the output's time axis; output at the input rate (default) or at ``hold_rate``.

Latency and length, for the engine (``Chain``)
----------------------------------------------
Both processors declare, as every :class:`~audioquant.processors.Processor` does,
``output_rate(sample_rate)``, ``output_channels(channels)`` (unchanged), ``latency``
(output samples of delay in the stream ``process`` returns) and
``output_frames(input_frames)`` (the length of the aligned result), the last two fixed by
``prepare``. The engine streams blocks through ``process``, appends ``flush()``, drops
the first ``latency`` output samples and cuts the result to
``output_frames(total_input_frames)``. For ``Resample``:
``latency = ceil(S * L / M)`` (``S`` the half length of the whole two-stage filter in
input samples: the stream starts with the outputs whose taps reach back before the input)
and ``output_frames(J)`` is ``J * L / M`` rounded to the nearest integer, the length
libsoxr and SoX give (:func:`soxr_output_frames`: halves up, computed in double as those
tools do, so the lengths agree to the sample). ``process``
returns an output as soon as the stage-1 frames it needs are complete (a frame is a few
thousand input samples), so how many samples a call returns depends only on the input so
far. ``flush`` returns exactly what is missing, so the cut is a no-op when nothing else
intervenes. Calling the
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
removed by at least the attenuation figure. Stage 1 aims 5 dB past the promise, stage 2
15 dB further (its ripple adds to stage 1's; the sum stays within the promise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from numbers import Integral, Real

import numpy as np
from numpy.lib.stride_tricks import as_strided

from audioquant import threads
from audioquant.dsp.resample import (
    MAX_TABLE_COEFFICIENTS,
    FFTWorkspace,
    KaiserDesign,
    PolyphaseScratch,
    TwoStageDesign,
    design_kaiser,
    design_two_stage,
    fft_stage,
    kaiser_sinc_table,
    polyphase_channel,
    reduced_ratio,
    sample_hold,
    sample_hold_reduced,
)
from audioquant.errors import ParameterError
from audioquant.processors import (
    Processor,
    as_block,
    audio_layout,
    check_channels,
    in_layout,
    non_finite_error,
    trim_latency,
)

__all__ = ["QUALITIES", "Quality", "Resample", "SampleHold", "check_rate", "parse_quality"]

MIN_RESAMPLE_RATE = 8_000
MAX_RATE = 384_000
#: Largest input magnitude ``Resample`` filters: the largest float32 (+770.6 dBFS). The FFT
#: stage's sums grow to (FFT length x filter gain x |x|), which for float64 input near its
#: own limit (1.8e308) overflows to Inf and NaN; below this bound they stay under 1e60.
MAX_SAMPLE = float(np.finfo(np.float32).max)


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
    """The single-stage polyphase prototype of ``quality`` (kept as a reference design)."""
    design = design_kaiser(
        up, down, quality.passband, quality.stopband, quality.design_attenuation_db
    )
    if up * design.taps <= MAX_TABLE_COEFFICIENTS:
        table = kaiser_sinc_table(design)
        table.setflags(write=False)
        return design, table
    return design, None


@lru_cache(maxsize=16)
def _plan(in_rate: int, out_rate: int, quality: Quality) -> TwoStageDesign:
    """The two-stage design ``Resample`` runs (FFT stage, then a short polyphase stage)."""
    return design_two_stage(
        in_rate, out_rate, quality.passband, quality.stopband, quality.design_attenuation_db
    )


def soxr_output_frames(input_frames: int, up: int, down: int) -> int:
    """Output length of a rate conversion by ``L / M = up / down`` of ``input_frames``
    samples, as libsoxr and SoX make it: ``(int64)(J / io_ratio + 0.5)`` in IEEE double,
    ``io_ratio = M / L`` (libsoxr's ``_soxr_flush``; SoX's rate effect does the same).

    That is ``J * L / M`` rounded half up, except that at an exact half (``2 J L`` a
    multiple of ``M`` but ``J L`` not) the rounded double ``M / L`` decides, as it does in
    both tools: 120 frames from 24 kHz to 44.1 kHz (220.5) give 220. The double of ``M / L``
    is the double of ``fs_in / fs_out`` (both are the correctly rounded same quotient), so
    reducing the ratio first changes nothing.
    """
    frames = int(input_frames)
    if up == down:
        return frames
    return int(float(frames) / (float(down) / float(up)) + 0.5)


#: Stage-1 frames per FFT call (a few hundred kB of spectra: stays in the L2 cache).
_FRAMES_PER_BATCH = 16


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
        Output samples of delay in what ``process`` returns: ``ceil(S * L / M)``, ``S``
        the half length of the whole filter in input samples.
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
        self._plan: TwoStageDesign | None = None

    def __repr__(self) -> str:
        return f"Resample({self.target_rate}, quality={self.quality.name!r})"

    # -- set-up -----------------------------------------------------------------------

    def prepare(self, sample_rate: int, channels: int) -> None:
        sample_rate = check_rate("sample_rate", sample_rate)
        if int(channels) < 1:
            raise ParameterError(f"channels must be at least 1, got {channels}")
        self.up, self.down = reduced_ratio(sample_rate, self.target_rate)
        if self.up == self.down:
            self._plan, self.latency = None, 0
        else:
            plan = _plan(sample_rate, self.target_rate, self.quality)
            self._plan = plan
            num, den = plan.span()
            self.latency = -((-num * self.up) // (den * self.down))
            ch = int(channels)
            self._work = [FFTWorkspace(plan, _FRAMES_PER_BATCH) for _ in range(ch)]
            self._scratch = [PolyphaseScratch() for _ in range(ch)]
            zcap = (_FRAMES_PER_BATCH + 2) * plan.frame + 4 * plan.half2 + 16
            self._zwork = [np.zeros(zcap) for _ in range(ch)]
        super().prepare(sample_rate, channels)

    def reset(self) -> None:
        self._consumed = 0  # input frames received
        self._emitted = 0  # stream outputs returned (including the latency)
        plan = self._plan
        if plan is None:
            return
        self._n_next = -self.latency  # aligned index of the next output
        k0 = plan.z_first_needed(self._n_next) // plan.frame
        self._k_next = k0  # next stage-1 frame
        self._z_start = k0 * plan.frame  # absolute stage-1 index of _zwork[:, 0]
        self._z_len = 0
        # pending input: frame k0's first sample on; before index 0 the input is zero
        a0 = plan.frame_start(k0)
        self._pend = np.zeros((self.channels, max(plan.window, -a0) + 1))
        self._pend_start = a0
        self._pend_len = max(0, -a0)

    def output_rate(self, sample_rate: int) -> int:
        return self.target_rate

    def output_frames(self, input_frames: int) -> int:
        """Aligned output length for ``input_frames`` input samples, libsoxr's rule:
        ``J * L / M`` rounded to the nearest integer (see :func:`soxr_output_frames`)."""
        return soxr_output_frames(input_frames, self.up, self.down)

    # -- streaming --------------------------------------------------------------------

    def _set_pending(self, parts: list[np.ndarray], start: int) -> None:
        """Keep input from absolute index ``start`` on (``parts`` joined) for later frames."""
        length = sum(p.shape[1] for p in parts)
        if length > self._pend.shape[1]:
            self._pend = np.zeros((self.channels, length))
        pos = 0
        for p in parts:
            self._pend[:, pos : pos + p.shape[1]] = p
            pos += p.shape[1]
        self._pend_start = start
        self._pend_len = length

    def _run(self, groups: list[tuple[np.ndarray, int, int]], n_stop: int,
             dest: np.ndarray | None = None) -> np.ndarray:
        """Compute the frames in ``groups`` (source, offset of its first window, frames)
        and every output up to aligned index ``n_stop`` (exclusive) they make possible,
        into ``dest`` (a view of its first columns is returned) or a new array."""
        plan = self._plan
        batches = []
        k = self._k_next
        n = self._n_next
        for src, off, frames in groups:
            for i in range(0, frames, _FRAMES_PER_BATCH):
                nb = min(_FRAMES_PER_BATCH, frames - i)
                k += nb
                n_end = max(n, min(n_stop, plan.outputs_ready(k * plan.frame)))
                batches.append((src, off + i * plan.hop, nb, n_end))
                n = n_end
        count = n - self._n_next
        out = np.empty((self.channels, count)) if dest is None else dest[:, :count]
        z_start, z_len = self._z_start, self._z_len

        def channel(c: int) -> tuple[int, int]:
            return self._run_channel(c, batches, z_start, z_len, out[c])

        work = (k - self._k_next) * plan.frame * self.channels
        pool = threads.pool(work, self.channels)   # None: one thread (the cap, or small work)
        if pool is None:
            states = [channel(c) for c in range(self.channels)]
        else:
            futures = [pool.submit(channel, c) for c in range(self.channels)]
            states = [f.result() for f in futures]
        self._z_start, self._z_len = states[0]
        self._k_next = k
        self._n_next = n
        self._emitted += out.shape[1]
        return out

    def _run_channel(self, c, batches, z_start: int, z_len: int, out: np.ndarray):
        """Stage 1 then stage 2 for channel ``c`` (runs in a worker thread)."""
        plan = self._plan
        ws = self._work[c]
        zw = self._zwork[c]
        frame, window, hop = plan.frame, plan.window, plan.hop
        n = self._n_next
        pos = 0
        for src, off, nb, n_end in batches:
            row = src[c]
            assert off >= 0 and off + (nb - 1) * hop + window <= row.shape[0]
            windows = as_strided(row[off:], shape=(nb, window),
                                 strides=(hop * row.itemsize, row.itemsize), writeable=False)
            if z_len + nb * frame > zw.shape[0]:  # not reached with the default batch size
                zw = np.concatenate([zw, np.zeros(z_len + nb * frame - zw.shape[0])])
                self._zwork[c] = zw
            fft_stage(windows, plan, ws, zw[z_len : z_len + nb * frame])
            z_len += nb * frame
            count = n_end - n
            if count <= 0:
                continue
            if plan.stage2 is None:
                out[pos : pos + count] = zw[n - z_start : n - z_start + count]
            else:
                polyphase_channel(zw, z_start, n, plan.stage2, plan.table2,
                                  out[pos : pos + count], self._scratch[c])
            pos += count
            n = n_end
            drop = plan.z_first_needed(n) - z_start
            if drop > 0:
                zw[: z_len - drop] = zw[drop:z_len]
                z_len -= drop
                z_start += drop
        return z_start, z_len

    def process(self, block: np.ndarray) -> np.ndarray:
        """Resample one block ``(channels, frames)``; returns float64 ``(channels, n)``.

        The returned stream is delayed by ``latency`` output samples; how many samples a
        call returns depends only on the total input so far, never on how it was cut.
        """
        return self._process(block)

    def _process(self, block: np.ndarray, dest: np.ndarray | None = None) -> np.ndarray:
        x = as_block(block)
        check_channels(x, self.channels)
        x = x.astype(np.float64, copy=False)
        frames = x.shape[1]
        before = self._consumed
        plan = self._plan
        if plan is None:
            self._consumed += frames
            self._emitted += frames
            return x.copy()
        if frames and not (-MAX_SAMPLE <= x.min() and x.max() <= MAX_SAMPLE):
            raise _out_of_range(x, before)
        self._consumed += frames
        k_end = plan.frames_ready(self._consumed)
        if k_end <= self._k_next:  # no frame complete yet: just keep the samples
            end = self._pend_len + frames
            if end > self._pend.shape[1]:  # (the start of a stream can hold more than W)
                grown = np.zeros((self.channels, 2 * end))
                grown[:, : self._pend_len] = self._pend[:, : self._pend_len]
                self._pend = grown
            self._pend[:, self._pend_len : end] = x
            self._pend_len = end
            return np.zeros((self.channels, 0))
        groups = []
        k = self._k_next
        if plan.frame_start(k) < before:
            # frames that start in the pending samples: join those with the block's head
            k1 = min(k_end, -((-(before + plan.lead)) // plan.hop))
            need = max(0, plan.frame_start(k1 - 1) + plan.window - before)
            head = np.concatenate([self._pend[:, : self._pend_len], x[:, :need]], axis=1)
            groups.append((head, 0, k1 - k))
            k = k1
        if k < k_end:  # frames wholly inside the block: read in place
            groups.append((x, plan.frame_start(k) - before, k_end - k))
        a_next = plan.frame_start(k_end)
        if a_next >= before:
            keep = [x[:, a_next - before :]]
        else:
            keep = [self._pend[:, a_next - self._pend_start : self._pend_len].copy(), x]
        out = self._run(groups, plan.outputs_ready(k_end * plan.frame), dest)
        self._set_pending(keep, a_next)
        return out

    def flush(self) -> np.ndarray:
        """Return the rest of the stream up to ``latency + output_frames(J)`` samples."""
        return self._flush()

    def _flush(self, dest: np.ndarray | None = None) -> np.ndarray:
        plan = self._plan
        if plan is None:
            return np.zeros((self.channels, 0))
        n_stop = self.output_frames(self._consumed)
        if self._n_next >= n_stop:
            return np.zeros((self.channels, 0))
        z_need = plan.z_first_needed(n_stop - 1) + 2 * plan.half2
        k_end = max(self._k_next, -(-z_need // plan.frame))
        groups = []
        if k_end > self._k_next:
            end = plan.frame_start(k_end - 1) + plan.window
            pad = np.zeros((self.channels, max(0, end - self._consumed)))
            src = np.concatenate([self._pend[:, : self._pend_len], pad], axis=1)
            groups.append((src, 0, k_end - self._k_next))
        return self._run(groups, n_stop, dest)

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Resample a whole array from a fresh state: ``output_frames(J)`` aligned samples.

        ``audio`` is ``(channels, frames)``, or ``(frames, channels)`` where the shape says
        so clearly (see :func:`~audioquant.processors.audio_layout`); the result comes back
        in the same layout. A 1-D array is treated as mono and a 1-D array is returned.
        """
        layout = audio_layout(audio)
        block = as_block(audio, layout=layout)
        self.prepare(sample_rate, block.shape[0])
        frames = self.output_frames(block.shape[1])
        if self._plan is None:
            out = block.astype(np.float64)
        else:  # one output array, filled in place (no joining of the parts)
            out = np.empty((self.channels, self.latency + frames))
            done = self._process(block, out).shape[1]
            self._flush(out[:, done:])
            out = trim_latency(out, self.latency)
        return in_layout(out, layout)


def _out_of_range(x: np.ndarray, start: int) -> ParameterError:
    """The error naming the earliest sample of ``(channels, frames)`` ``x`` (whose first
    frame is frame ``start`` of the stream) that is NaN, Inf or beyond ``MAX_SAMPLE``."""
    bad = ~(np.abs(x) <= MAX_SAMPLE)
    frame = int(np.argmax(bad.any(axis=0)))
    channel = int(np.argmax(bad[:, frame]))
    value = float(x[channel, frame])
    if not math.isfinite(value):
        return non_finite_error(x, start)
    return ParameterError(f"input sample {value!r} at frame {start + frame} (channel "
                          f"{channel}) is too large to resample: beyond +-{MAX_SAMPLE!r}, "
                          f"the largest 32-bit float")


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
        check_channels(x, self.channels)
        x = x.astype(np.float64, copy=False)
        n0 = self._consumed
        self._consumed += x.shape[1]
        if self.at_hold_rate:
            out = sample_hold_reduced(x, n0, self._emitted, self.sample_rate, self.hold_rate)
        else:
            out = sample_hold(x, n0, self.sample_rate, self.hold_rate, self._state)
        self._emitted += out.shape[1]
        return out
