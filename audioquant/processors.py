"""Processors: the units a :class:`~audioquant.engine.Chain` streams audio through.

A processor holds parameters and state. The engine calls ``prepare`` once with the stream's
sample rate and channel count, then ``process`` on blocks of any length (0 and 1 included),
then ``flush`` to drain a tail. Output is bit-exact whatever the block size: state carries
across blocks and random numbers depend only on ``(seed, channel, absolute sample index)``.

Audio is ``float64`` or ``float32`` of shape ``(channels, frames)``.

Calling a processor on a whole array (``proc(audio, sample_rate)``) also accepts the
``(frames, channels)`` layout of soundfile when the shape makes it clear, like pedalboard,
and returns the result in the layout it was given (:func:`audio_layout` has the rule).
``process`` takes ``(channels, frames)`` blocks only.
"""

from __future__ import annotations

import functools

import numpy as np

from audioquant.errors import ParameterError, first_non_finite


class Processor:
    """Base class: a stateful block processor (JUCE-style prepare/process/reset).

    A processor declares what it does to the stream, so the engine plans a render without
    running it: ``output_rate``, ``output_channels`` and ``output_frames`` (each unchanged
    by default) and ``latency``. The engine (:class:`~audioquant.engine.Chain`) drops the
    first ``latency`` samples of what ``process`` and ``flush`` return, together, and cuts
    (or pads with zeros) the rest to ``output_frames(input_frames)``; a whole-array call
    does the same.

    Attributes
    ----------
    latency : int
        Output samples of delay this processor adds (the engine trims it); fixed by
        ``prepare``.
    """

    latency: int = 0

    def __init__(self) -> None:
        self.sample_rate: int = 0
        self.channels: int = 0

    def prepare(self, sample_rate: int, channels: int) -> None:
        """Allocate state for a stream at ``sample_rate`` Hz with ``channels`` channels."""
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.reset()

    def process(self, block: np.ndarray) -> np.ndarray:
        """Process one block ``(channels, frames)``; any frame count, 0 included."""
        raise NotImplementedError

    def flush(self) -> np.ndarray:
        """Drain the tail at end of stream (default: nothing)."""
        return np.zeros((self.output_channels(self.channels), 0))

    def reset(self) -> None:
        """Return to the state right after ``prepare`` (parameters kept)."""

    def output_rate(self, sample_rate: int) -> int:
        """Sample rate (Hz) of this processor's output for an input at ``sample_rate``."""
        return sample_rate

    def output_channels(self, channels: int) -> int:
        """Channels of this processor's output for an input of ``channels`` channels."""
        return channels

    def output_frames(self, input_frames: int) -> int:
        """Length of the aligned output (latency dropped, tail flushed) for a stream of
        ``input_frames`` frames, at the rate and channels ``prepare`` was given."""
        return int(input_frames)

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """Process a whole array in one go, from a fresh state (like a pedalboard plugin).

        ``audio`` is ``(channels, frames)``, or ``(frames, channels)`` where the shape says
        so clearly (see :func:`audio_layout`; an unclear one is refused); the result comes
        back in the same layout. A 1-D array is treated as mono and a 1-D array is returned
        (``(channels, frames)`` where the processor makes more channels of it).
        """
        layout = audio_layout(audio)
        block = as_block(audio, layout=layout)
        self.prepare(sample_rate, block.shape[0])
        out = self.process(block)
        tail = self.flush()
        if tail.shape[-1]:
            out = np.concatenate([out, tail.astype(out.dtype, copy=False)], axis=1)
        out = fit_frames(trim_latency(out, self.latency), self.output_frames(block.shape[1]))
        return in_layout(out, layout)


#: ``(frames, channels)`` is recognised for at most this many channels ...
MAX_GUESSED_CHANNELS = 64
#: ... and at least this many frames per channel (and more frames than MAX_GUESSED_CHANNELS).
MIN_GUESSED_FRAMES_PER_CHANNEL = 8

MONO = "mono"
CHANNELS_FIRST = "channels-first"
FRAMES_FIRST = "frames-first"


def audio_layout(audio: np.ndarray) -> str:
    """How a whole array given to ``proc(audio, sample_rate)`` is laid out: ``"mono"``
    (1-D), ``"channels-first"`` ``(channels, frames)`` or ``"frames-first"``
    ``(frames, channels)``, soundfile's layout.

    A 2-D array of shape ``(a, b)`` is

    - ``(frames, channels)`` when it clearly is: ``b`` at most ``MAX_GUESSED_CHANNELS``
      (64), ``a`` more than that and at least ``MIN_GUESSED_FRAMES_PER_CHANNEL`` (8) times
      ``b`` (``(66150, 2)`` from ``soundfile.read``); or ``a == 0 < b <= 64`` (an empty
      file as soundfile reads it: zero channels mean nothing);
    - otherwise ``(channels, frames)``, the documented layout, when ``a <= b``, ``b == 0``
      or ``a <= 64`` (so ``(2, 1)``, one stereo frame, and ``(10, 2)`` stay as they are:
      short arrays could be either, and a processor's own output must be accepted back);
    - refused with a ParameterError otherwise: more than 64 channels with fewer frames
      than channels, like ``(5000, 300)``, is never guessed: pass ``(channels, frames)``
      (``audio.T`` for a soundfile array).

    pedalboard guesses the same way (the shorter axis is the channels) but on every shape;
    this rule leaves the documented layout alone wherever it is plausible.
    """
    arr = np.asarray(audio)
    if arr.ndim == 1:
        return MONO
    if arr.ndim != 2:
        raise ParameterError(f"audio must have shape (channels, frames), got shape {arr.shape}")
    rows, cols = arr.shape
    if rows == 0 and 0 < cols <= MAX_GUESSED_CHANNELS:
        return FRAMES_FIRST
    if rows <= cols or cols == 0 or rows <= MAX_GUESSED_CHANNELS:
        return CHANNELS_FIRST
    if cols <= MAX_GUESSED_CHANNELS and rows >= MIN_GUESSED_FRAMES_PER_CHANNEL * cols:
        return FRAMES_FIRST
    raise ParameterError(
        f"audio of shape {arr.shape} is ambiguous: {rows} channels of {cols} frames, or "
        f"{rows} frames of {cols} channels? Pass (channels, frames), e.g. audio.T for a "
        f"(frames, channels) array from soundfile")


def in_layout(out: np.ndarray, layout: str) -> np.ndarray:
    """``(channels, frames)`` ``out`` back in the ``layout`` the input came in (a mono
    1-D input whose output has several channels gets ``(channels, frames)``)."""
    if layout == MONO:
        return out[0] if out.shape[0] == 1 else out
    if layout == FRAMES_FIRST:
        return np.ascontiguousarray(out.T)
    return out


def as_block(audio: np.ndarray, *, contiguous: bool = True,
             layout: str = CHANNELS_FIRST) -> np.ndarray:
    """Return ``audio`` as a float array of shape ``(channels, frames)``: C-contiguous,
    or any strides (a transposed ``(frames, channels)`` buffer) with ``contiguous=False``.
    ``layout`` (from :func:`audio_layout`) ``"frames-first"`` transposes a 2-D array."""
    arr = np.asarray(audio)
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    elif arr.ndim == 2 and layout == FRAMES_FIRST:
        arr = arr.T
    if arr.ndim != 2:
        raise ParameterError(f"audio must have shape (channels, frames), got shape {arr.shape}")
    if arr.dtype not in (np.float32, np.float64):
        raise ParameterError(f"audio must be float32 or float64, got {arr.dtype}")
    return np.ascontiguousarray(arr) if contiguous else arr


def check_channels(block: np.ndarray, channels: int) -> None:
    """Raise ParameterError unless the ``(channels, frames)`` ``block`` has ``channels`` rows."""
    if block.shape[0] != channels:
        hint = (" (a (frames, channels) block? pass block.T)"
                if block.ndim == 2 and block.shape[1] == channels else "")
        raise ParameterError(f"block must have {channels} channels, got {block.shape[0]}"
                             f"{hint}")


def trim_latency(audio: np.ndarray, latency: int) -> np.ndarray:
    """Drop the first ``latency`` samples (the processor's delay) from ``(channels, frames)``."""
    return audio[:, latency:] if latency else audio


def fit_frames(audio: np.ndarray, frames: int) -> np.ndarray:
    """``(channels, n)`` ``audio`` cut, or padded with zeros, to ``frames`` frames."""
    have = audio.shape[1]
    if have > frames:
        return audio[:, :max(frames, 0)]
    if have < frames:
        pad = np.zeros((audio.shape[0], frames - have), audio.dtype)
        return np.concatenate([audio, pad], axis=1)
    return audio


class Mix(Processor):
    """A channel matrix: output channel ``o`` is ``sum_i gains[o][i] * input[i]``.

    Parameters
    ----------
    gains : array_like [shape=(out_channels, in_channels)]
        Linear gains; the stream must have ``in_channels`` channels, the output has
        ``out_channels`` (``[[1], [1]]``: mono to dual mono; ``[[0.5, 0.5]]``: stereo to
        mono).

    The sums run in input-channel order, one float64 operation at a time, so the result
    does not depend on the block size. No latency, no tail.
    """

    def __init__(self, gains) -> None:
        super().__init__()
        g = np.array(gains, dtype=np.float64)
        if g.ndim != 2 or g.shape[0] < 1 or g.shape[1] < 1:
            raise ParameterError(f"gains must have shape (out_channels, in_channels), "
                                 f"got shape {g.shape}")
        if not np.isfinite(g).all():
            raise ParameterError("gains must be finite numbers")
        g.setflags(write=False)
        self.gains = g

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.gains.tolist()})"

    def prepare(self, sample_rate: int, channels: int) -> None:
        if int(channels) != self.gains.shape[1]:
            raise ParameterError(f"{type(self).__name__} takes {self.gains.shape[1]} "
                                 f"input channels, got {channels}")
        super().prepare(sample_rate, channels)

    def output_channels(self, channels: int) -> int:
        return self.gains.shape[0]

    def process(self, block: np.ndarray) -> np.ndarray:
        x = as_block(block, contiguous=False)
        check_channels(x, self.channels)
        x = x.astype(np.float64, copy=False)
        out = np.empty((self.gains.shape[0], x.shape[1]))
        for o, row in enumerate(self.gains):
            np.multiply(x[0], row[0], out=out[o])
            for i in range(1, x.shape[0]):
                out[o] += row[i] * x[i]
        return out


class Pan(Mix):
    """Mono to stereo with a constant-power (sine/cosine) pan law.

    ``position`` runs from -1 (left) through 0 (centre: both channels at
    ``sin(pi/4)``, -3.01 dB) to +1 (right). The gains are ``sin((1 - position) pi/4)``
    (left) and ``sin((1 + position) pi/4)`` (right), so their squares add up to 1 at every
    position and the ends are exactly 1 and 0.
    """

    def __init__(self, position: float = 0.0) -> None:
        if isinstance(position, bool) or not isinstance(position, (int, float, np.number)) \
                or not -1.0 <= position <= 1.0:
            raise ParameterError(f"position must be in -1..1, got {position!r}")
        self.position = float(position)
        quarter = np.pi / 4
        super().__init__([[np.sin((1.0 - self.position) * quarter)],
                          [np.sin((1.0 + self.position) * quarter)]])

    def __repr__(self) -> str:
        return f"Pan({self.position})"


class Gain(Processor):
    """A level change of ``db`` decibels: every sample times ``10**(db/20)``, in float64.
    Values far past full scale are held at +-1e300 (a requantizer saturates them anyway),
    so a large gain on a large finite sample does not overflow to Inf."""

    def __init__(self, db: float) -> None:
        super().__init__()
        if not np.isfinite(db):
            raise ParameterError(f"gain must be a finite number of dB, got {db!r}")
        self.db = float(db)
        self.factor = 10 ** (self.db / 20)

    def __repr__(self) -> str:
        return f"Gain({self.db!r})"

    def process(self, block: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            out = np.multiply(block, self.factor, dtype=np.float64)
        if self.factor > 1:
            np.clip(out, -1e300, 1e300, out=out)
        return out


class NonFiniteSampleError(ParameterError):
    """The input holds NaN or Inf; the message names the first bad sample."""


SHAPING_NONE = "none"
SHAPING_AUTO = "auto"


def check_shaping(name: str) -> tuple | None:
    """Check a shaping name: a catalog filter, ``auto``, ``none`` or
    ``designed[:N[:468|ath]]``. Return the design parameters for a designed filter (None
    otherwise); raise ParameterError naming the choices for anything else."""
    from audioquant.dsp import design
    from audioquant.dsp.shaping import NAMES

    try:
        params = design.parse_name(name)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
    if params is None and name not in (SHAPING_NONE, SHAPING_AUTO, *NAMES):
        choices = ", ".join((SHAPING_NONE, SHAPING_AUTO, *NAMES, "designed[:N[:468|ath]]"))
        raise ParameterError(f"unknown shaping filter {name!r}; choose one of {choices}")
    return params


class Requantize(Processor):
    """Reduce audio to ``bits`` bits with dither, optional noise shaping and auto-blank.

    Parameters
    ----------
    bits : int
        Target depth, 1..32. Float 1.0 maps to 2**(bits-1) LSB.
    dither : {"none", "rpdf", "tpdf", "hp-tpdf"}
        Dither amplitude is in LSB of the target depth: RPDF 1 LSB p-p, TPDF 2 LSB p-p.
    shaping : str or None
        A catalog filter name (see ``audioquant shapers``); ``"designed"``,
        ``"designed:N"`` or ``"designed:N:W"`` (a filter of N taps, default 9, designed for
        the stream's rate by :mod:`dsp.design`, weighting W ``"468"`` (default) or
        ``"ath"``); ``"auto"`` (the filter with the lowest ITU-R 468-weighted noise at the
        stream's rate: the designed 9-tap one where it beats the catalog); or
        ``"none"``/None.
    seed : int or None
        Seed of the counter-based dither generator; None draws a fresh one (``self.seed``
        then holds it).
    auto_blank : bool
        Pass exactly representable runs through undithered (see :mod:`dsp.quantize`).
    blank_run : int
        Exact samples in a row (>= 1) after which dither is blanked.

    After processing, ``clips`` holds the number of saturated samples per channel and
    ``shaper`` the filter in use (None for no shaping).
    """

    def __init__(self, bits: int = 16, *, dither: str = "tpdf", shaping: str | None = None,
                 seed: int | None = 0, auto_blank: bool = True, blank_run: int = 32) -> None:
        super().__init__()
        from audioquant.dsp.dither import DITHER_KINDS

        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
            raise ParameterError(f"bits must be an integer in 1..32, got {bits!r}")
        if not 1 <= bits <= 32:
            raise ParameterError(f"bits must be in 1..32, got {bits}")
        if dither not in DITHER_KINDS:
            raise ParameterError(
                f"dither must be one of {', '.join(DITHER_KINDS)}, got {dither!r}")
        shaping = shaping or SHAPING_NONE
        self._design = check_shaping(shaping)
        if blank_run < 1:
            raise ParameterError(f"blank_run must be at least 1 sample, got {blank_run}")
        if seed is None:
            seed = int.from_bytes(np.random.default_rng().bytes(8), "little") >> 1
        if not 0 <= seed < 2**64:
            raise ParameterError(f"seed must be in 0..2**64-1, got {seed}")
        self.bits = int(bits)
        self.dither = dither
        self.shaping = shaping
        self.seed = int(seed)
        self.auto_blank = auto_blank
        self.blank_run = int(blank_run)
        self.shaper = None
        self._state = None

    def prepare(self, sample_rate: int, channels: int) -> None:
        """Pick the shaping filter for ``sample_rate`` Hz and allocate per-channel state."""
        from audioquant.dsp import design
        from audioquant.dsp import shaping as catalog

        if self.shaping == SHAPING_NONE:
            self.shaper = None
        elif self.shaping == SHAPING_AUTO:
            self.shaper = auto_shaper(sample_rate)
        elif self._design is not None:
            try:
                self.shaper = design.design(int(sample_rate), *self._design)
            except ValueError as exc:
                raise ParameterError(str(exc)) from None
        else:
            self.shaper = catalog.find(self.shaping, sample_rate)
            if self.shaper is None:
                rates = ", ".join(str(r) for r in catalog.rates_served(self.shaping))
                raise ParameterError(f"shaping filter {self.shaping!r} is not designed for "
                                     f"{sample_rate} Hz; it serves {rates} Hz")
        super().prepare(sample_rate, channels)

    def reset(self) -> None:
        from audioquant.dsp.dither import DITHER_KINDS
        from audioquant.dsp.quantize import RequantizeState, padded_feedback, padded_order

        taps, feedback_taps = (self.shaper.taps, len(self.shaper.a)) if self.shaper else (0, 0)
        order = padded_order(taps, feedback_taps)
        self._state = RequantizeState(self.channels, order, self._blank)
        self._pending = np.zeros((self.channels, 0), dtype=np.float32)
        self._dither_kind = DITHER_KINDS[self.dither]
        self._b = np.zeros(order)
        self._a = np.zeros(padded_feedback(feedback_taps))
        if self.shaper:
            self._b[: self.shaper.taps] = self.shaper.b
            self._a[: len(self.shaper.a)] = self.shaper.a

    @property
    def _blank(self) -> int:
        return self.blank_run if self.auto_blank else 0

    @property
    def clips(self) -> np.ndarray:
        """Saturated samples per channel since ``prepare``/``reset``."""
        return self._state.clips.copy()

    @property
    def first_clip(self) -> int | None:
        """The frame (at the stream's rate, from its start) of the first saturated sample
        in any channel since ``prepare``/``reset``; None if nothing clipped."""
        hits = self._state.first_clip[self._state.first_clip >= 0]
        return int(hits.min()) if hits.size else None

    @property
    def energy(self) -> np.ndarray:
        """Per channel (input energy, error energy) so far, in LSB^2 of the target depth."""
        return self._state.energy.copy()

    def process_codes(self, block: np.ndarray, *, dtype: type = np.int64, shift: int = 0,
                      final: bool = False) -> np.ndarray:
        """Requantize ``block`` to integer codes ``code << shift`` of ``dtype``.

        With auto-blank on, the last ``blank_run - 1`` frames seen are held back as
        look-ahead, so the output lags the input until a call with ``final=True`` (end of
        stream) returns the rest. Raises NonFiniteSampleError naming the first NaN/Inf.
        The codes are a ``(channels, frames)`` view of a frames-major buffer, so
        ``codes.T`` is the interleaved layout sound files use, with no copy.
        """
        block = as_block(block, contiguous=False)
        check_channels(block, self.channels)
        held = self._pending.shape[1]
        look = max(self._blank - 1, 0)
        frames = block.shape[1]
        count = held + frames if final else max(held + frames - look, 0)
        out = np.empty((count, block.shape[0]), dtype=dtype).T
        if held:
            # The held-back frames, with as much of this block as their look-ahead needs.
            joined = np.concatenate([self._pending, block[:, :look]], axis=1)
            first = min(held, count)
            self._run(joined, first, out, 0, final and frames <= look, shift)
            if count <= held:                    # the block was all look-ahead
                self._pending = joined[:, first:].copy()
                return out
        rest = count - held
        self._run(block, rest, out, held, final, shift)
        self._pending = block[:, rest:].copy()
        return out

    def _run(self, x: np.ndarray, count: int, out: np.ndarray, out_start: int, at_end: bool,
             shift: int) -> None:
        from audioquant.dsp.quantize import requantize_block

        def run(rows: slice) -> int:
            return requantize_block(x, count, out, out_start, self._state, at_end=at_end,
                                    bits=self.bits, shift=shift, dither=self._dither_kind,
                                    seed=self.seed, b=self._b, a=self._a,
                                    blank_run=self._blank, channels=rows)

        channels = x.shape[0]
        # Unshaped requantizing is one vectorised pass over all channels at once, faster
        # on one thread than split (dsp.quantize.requantize_block).
        from audioquant import threads

        pool = threads.pool(count * channels, channels) if self.shaper is not None else None
        if pool is None:
            bad = run(slice(0, channels))
        else:
            # Channels are independent: split them over the threads the cap allows (the
            # kernel drops the GIL); the split does not change a single number.
            edges = np.linspace(0, channels, min(channels, threads.max_threads()) + 1).astype(int)
            parts = [slice(lo, hi) for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(),
                                                     strict=True)]
            bad = max(f.result() for f in [pool.submit(run, rows) for rows in parts])
        if bad >= 0:
            raise non_finite_error(x[:, :count], self._state.index)
        self._state.index += count

    def process(self, block: np.ndarray) -> np.ndarray:
        """Requantize ``block``; return the new levels as float64 (code / 2**(bits-1))."""
        return self.process_codes(block) * (1.0 / 2 ** (self.bits - 1))

    def flush(self) -> np.ndarray:
        """Requantize the held-back look-ahead frames at the end of the stream."""
        tail = self.process_codes(np.zeros((self.channels, 0), self._pending.dtype), final=True)
        return tail * (1.0 / 2 ** (self.bits - 1))


def non_finite_error(x: np.ndarray, start: int) -> NonFiniteSampleError:
    """The error naming the earliest NaN/Inf in time of ``(channels, frames)`` ``x``, whose
    first frame is frame ``start`` of the stream, whichever channel it is in."""
    channel, frame = first_non_finite(x)
    return NonFiniteSampleError(f"input sample {x[channel, frame]} at frame {start + frame} "
                                f"(channel {channel}) is not a finite number")


@functools.lru_cache(maxsize=64)
def auto_shaper(sample_rate: int):
    """What ``--shaping auto`` uses at ``sample_rate`` Hz: :func:`best_shaper`, or None (no
    shaping) where even that would raise the 468-weighted noise (very low rates). Kept per
    rate (the choice takes ~25 ms, which a batch of short files would pay per file)."""
    best = best_shaper(sample_rate)
    return best if weighted_noise_gain_db(best, sample_rate) < 0 else None


def best_shaper(sample_rate: int, *, designed: bool = True):
    """The filter ``--shaping auto`` uses at ``sample_rate`` Hz: the catalog filter with the
    lowest ITU-R 468-weighted noise, or the designed 9-tap filter (``designed:9:468``)
    where its predicted weighted noise is lower still. ``designed=False``: catalog only."""
    from audioquant.dsp import design
    from audioquant.dsp import shaping as catalog

    best = min(catalog.available(sample_rate),
               key=lambda s: weighted_noise_gain_db(s, sample_rate))
    if designed and design.MIN_RATE <= sample_rate <= design.MAX_RATE:
        ours = design.design(int(sample_rate))
        if weighted_noise_gain_db(ours, sample_rate) < weighted_noise_gain_db(best, sample_rate):
            return ours
    return best


def weighted_noise_gain_db(shaper, sample_rate: int, weighting="468") -> float:
    """Predicted change (dB) of weighted noise power, 20 Hz..min(20 kHz, Nyquist), that
    ``shaper`` brings over flat dither of the same kind (negative is quieter):
    :func:`audioquant.dsp.design.weighted_gain_db`, the one definition. ``weighting``:
    ``"468"`` (default), ``"ath"``, or any weighting of
    :func:`audioquant.analysis.weighting_function` (``"A"``, a callable)."""
    from audioquant.dsp import design

    if not (isinstance(weighting, str) and weighting in design.WEIGHTINGS):
        from audioquant import analysis

        weighting = analysis.weighting_function(weighting)
    return design.weighted_gain_db(shaper, sample_rate, weighting)
