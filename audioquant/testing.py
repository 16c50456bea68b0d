"""Audio assertions and test signals for your own tests (and the pytest plugin's fixtures).

Cheat-sheet::

    from audioquant import testing as aqt

    x = aqt.sine(997, level_dbfs=-1, seconds=1, sample_rate=44100, channels=2)
    aqt.aes17_tone()  aqt.log_sweep(20, 20000)  aqt.noise(-20, seed=1)  aqt.silence()
    aqt.assert_snr(x, y, at_least=92.0)                   dB, all channels, error y - x
    aqt.assert_dynamic_range(y, 44100, at_least=93.5)     AES17, dB re full-scale sine
    aqt.assert_noise_floor(y - x, at_most=-90.0)          RMS, dBFS re full-scale sine
    aqt.assert_bit_exact(a, b)                            names the first differing sample
    aqt.assert_block_size_invariant(MyProcessor(), x, 44100)
    aqt.stream(proc, x, 44100, block_size=64)             what the engine's chain would give

Signals are float64 ``(channels, frames)``, C-contiguous, full scale 1.0; levels in dBFS
follow AES17 (a sine of peak 1.0 is 0 dBFS, RMS levels are ``10*log10(mean(x**2) / 0.5)``).
Every assertion raises AssertionError whose message gives the measured value, the bound and
the convention, e.g. ``SNR 61.92 dB < at_least 90.00 dB (all channels; error = test -
reference)``.

The pytest plugin (:mod:`audioquant.pytest_plugin`, loaded through the ``pytest11`` entry
point) hands these signals to tests as fixtures, and :class:`RenderFolder` (the
``rendered`` fixture) renders arrays or files into a temporary folder.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audioquant import analysis
from audioquant.errors import ParameterError
from audioquant.processors import Processor, as_block, fit_frames, trim_latency

__all__ = [
    "AES17_FREQ_HZ",
    "AES17_LEVEL_DBFS",
    "RenderFolder",
    "Rendered",
    "aes17_tone",
    "assert_bit_exact",
    "assert_block_size_invariant",
    "assert_dynamic_range",
    "assert_noise_floor",
    "assert_snr",
    "log_sweep",
    "noise",
    "silence",
    "sine",
    "stream",
]

#: Frequency of the AES17 dynamic-range test tone, Hz.
AES17_FREQ_HZ = 997.0
#: Level of the AES17 dynamic-range test tone, dBFS.
AES17_LEVEL_DBFS = -60.0
#: Block sizes of :func:`assert_block_size_invariant`: pedalboard's (1, powers of two and
#: one past them), in frames.
BLOCK_SIZES = (1, 64, 65, 8192, 8193)

_WEIGHTING_LABELS = {None: "unweighted", "A": "A-weighted, dB(A)", "468": "ITU-R 468-weighted"}


# --------------------------------------------------------------------------- signals


def _frames(seconds: float, sample_rate: int) -> int:
    """``round(seconds * sample_rate)`` frames, after checking both."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) \
            or sample_rate <= 0:
        raise ParameterError(f"sample_rate must be a positive integer of Hz, got {sample_rate!r}")
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ParameterError(f"seconds must be a finite duration >= 0, got {seconds!r}")
    return int(round(seconds * sample_rate))


def _check_channels(channels: int) -> int:
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
        raise ParameterError(f"channels must be an integer >= 1, got {channels!r}")
    return int(channels)


def _on_channels(row: np.ndarray, channels: int) -> np.ndarray:
    """The 1-D ``row`` copied into every one of ``channels`` rows, C-contiguous float64."""
    return np.ascontiguousarray(np.broadcast_to(row, (_check_channels(channels), row.size)),
                                dtype=np.float64)


def _peak_amplitude(level_dbfs: float | None, amplitude: float | None) -> float:
    """A sine's peak amplitude (full scale 1.0) from a level in dBFS or the amplitude."""
    if level_dbfs is not None and amplitude is not None:
        raise ParameterError("give level_dbfs or amplitude, not both")
    if amplitude is not None:
        if not (math.isfinite(amplitude) and amplitude >= 0):
            raise ParameterError(f"amplitude must be finite and >= 0, got {amplitude!r}")
        return float(amplitude)
    level = 0.0 if level_dbfs is None else level_dbfs
    if math.isnan(level) or level == math.inf:
        raise ParameterError(f"level_dbfs must be a number below +inf, got {level_dbfs!r}")
    return 10.0 ** (level / 20.0)


def sine(freq_hz: float, level_dbfs: float | None = None, *, amplitude: float | None = None,
         seconds: float = 1.0, sample_rate: int = 44100, channels: int = 1,
         phase_rad: float = 0.0) -> np.ndarray:
    """A sine ``A * sin(2*pi*freq_hz*n/sample_rate + phase_rad)``, the same in every channel.

    Parameters
    ----------
    freq_hz : float
        Frequency, Hz, in ``0 .. sample_rate/2``.
    level_dbfs : float or None
        Level, dBFS (AES17: peak ``A = 10**(level_dbfs/20)``; 0 dBFS is a sine of peak 1.0,
        whose peaks an N-bit code can hold only to ``1 - 2**(1-N)``: they clip by under
        one LSB). Default 0 dBFS, unless ``amplitude`` is given.
    amplitude : float or None
        Peak amplitude ``A``, full scale 1.0 (instead of ``level_dbfs``).
    seconds : float
        Duration, s; ``round(seconds * sample_rate)`` frames.
    sample_rate : int
        Sample rate, Hz.
    channels : int
        Channel count.
    phase_rad : float
        Phase at frame 0, radians.

    Returns
    -------
    np.ndarray [shape=(channels, frames), dtype=float64]
    """
    frames = _frames(seconds, sample_rate)
    if not (math.isfinite(freq_hz) and 0 <= freq_hz <= sample_rate / 2):
        raise ParameterError(f"freq_hz must be in 0..{sample_rate / 2:g} Hz (Nyquist), "
                             f"got {freq_hz!r}")
    a = _peak_amplitude(level_dbfs, amplitude)
    n = np.arange(frames, dtype=np.float64)
    return _on_channels(a * np.sin(2.0 * math.pi * freq_hz / sample_rate * n + phase_rad),
                        channels)


def aes17_tone(*, seconds: float = 1.0, sample_rate: int = 44100, channels: int = 1
               ) -> np.ndarray:
    """The AES17 dynamic-range test signal: a 997 Hz sine at -60 dBFS (peak 0.001).

    Feed it through the system under test and give the output to
    :func:`assert_dynamic_range`. Parameters as in :func:`sine`.

    Returns
    -------
    np.ndarray [shape=(channels, frames), dtype=float64]
    """
    return sine(AES17_FREQ_HZ, AES17_LEVEL_DBFS, seconds=seconds, sample_rate=sample_rate,
                channels=channels)


def log_sweep(f0_hz: float = 20.0, f1_hz: float = 20000.0, *, seconds: float = 1.0,
              sample_rate: int = 44100, channels: int = 1, level_dbfs: float = -6.0
              ) -> np.ndarray:
    """An exponential (logarithmic) sine sweep from ``f0_hz`` to ``f1_hz`` (Farina).

    ``A * sin(2*pi*f0*T/ln(f1/f0) * (exp(t/T * ln(f1/f0)) - 1))`` with ``t = n/sample_rate``
    and ``T = seconds``: the instantaneous frequency ``f0 * (f1/f0)**(t/T)`` rises by the
    same number of octaves each second, and the sweep holds ``T*(f1-f0)/ln(f1/f0)`` cycles.

    Parameters
    ----------
    f0_hz, f1_hz : float
        Start and end frequency, Hz, ``0 < f0_hz``, both at most Nyquist; ``f1_hz < f0_hz``
        sweeps down; equal gives a sine.
    seconds : float
        Duration ``T``, s (> 0).
    sample_rate : int
        Sample rate, Hz.
    channels : int
        Channel count (the same sweep in every channel).
    level_dbfs : float
        Peak level, dBFS (AES17, as in :func:`sine`).

    Returns
    -------
    np.ndarray [shape=(channels, frames), dtype=float64]
    """
    frames = _frames(seconds, sample_rate)
    nyquist = sample_rate / 2
    for name, f in (("f0_hz", f0_hz), ("f1_hz", f1_hz)):
        if not (math.isfinite(f) and 0 < f <= nyquist):
            raise ParameterError(f"{name} must be in (0, {nyquist:g}] Hz, got {f!r}")
    if seconds <= 0:
        raise ParameterError(f"seconds must be > 0 for a sweep, got {seconds!r}")
    a = _peak_amplitude(level_dbfs, None)
    t = np.arange(frames, dtype=np.float64) / sample_rate
    rate = math.log(f1_hz / f0_hz)
    if rate == 0.0:
        phase = 2.0 * math.pi * f0_hz * t
    else:
        phase = 2.0 * math.pi * f0_hz * seconds / rate * np.expm1(t / seconds * rate)
    return _on_channels(a * np.sin(phase), channels)


def noise(level_dbfs: float = -20.0, *, seconds: float = 1.0, sample_rate: int = 44100,
          channels: int = 1, seed: int = 0) -> np.ndarray:
    """White Gaussian noise, seeded, independent in each channel.

    Parameters
    ----------
    level_dbfs : float
        Expected RMS level, dBFS re a full-scale sine (AES17): the mean square is
        ``0.5 * 10**(level_dbfs/10)``, so -20 dBFS has an RMS of 0.0707. Gaussian samples
        pass full scale now and then at levels above about -15 dBFS.
    seconds : float
        Duration, s.
    sample_rate : int
        Sample rate, Hz.
    channels : int
        Channel count.
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives the same samples.

    Returns
    -------
    np.ndarray [shape=(channels, frames), dtype=float64]
    """
    frames = _frames(seconds, sample_rate)
    channels = _check_channels(channels)
    if math.isnan(level_dbfs) or level_dbfs == math.inf:
        raise ParameterError(f"level_dbfs must be a number below +inf, got {level_dbfs!r}")
    sigma = math.sqrt(analysis.FULL_SCALE_SINE_POWER * 10.0 ** (level_dbfs / 10.0))
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(sigma * rng.standard_normal((channels, frames)))


def silence(*, seconds: float = 1.0, sample_rate: int = 44100, channels: int = 1
            ) -> np.ndarray:
    """Digital silence (zeros).

    Returns
    -------
    np.ndarray [shape=(channels, frames), dtype=float64]
    """
    return np.zeros((_check_channels(channels), _frames(seconds, sample_rate)))


# --------------------------------------------------------------------------- assertions


def _db(value: float) -> str:
    """A level or ratio in dB for a message: two decimals, ``inf``/``-inf`` spelled out."""
    return f"{value:.2f}" if math.isfinite(value) else ("-inf" if value < 0 else "inf")


def _channel_rows(a: np.ndarray) -> np.ndarray:
    return a[np.newaxis, :] if a.ndim == 1 else a


def assert_snr(reference: np.ndarray, test: np.ndarray, *, at_least: float) -> float:
    """Assert that ``test`` is within ``at_least`` dB SNR of ``reference``.

    Parameters
    ----------
    reference : np.ndarray [shape=(frames,) or (channels, frames)]
        The clean signal, full scale 1.0.
    test : np.ndarray [same shape]
        The processed signal; the error is ``test - reference``.
    at_least : float
        Smallest acceptable SNR, dB: ``10*log10(sum(reference**2) / sum(error**2))`` over
        all channels together (:func:`audioquant.analysis.snr`).

    Returns
    -------
    float
        The measured SNR, dB.

    Raises
    ------
    AssertionError
        The SNR is below ``at_least``; the message gives the SNR of each channel too.
    """
    shapes = np.shape(reference), np.shape(test)
    if shapes[0] != shapes[1]:
        raise AssertionError(f"shapes differ: reference {shapes[0]}, test {shapes[1]} "
                             "((channels, frames)); SNR needs the two aligned")
    value = analysis.snr(reference, test)
    if not value >= at_least:
        ref, tst = _channel_rows(np.asarray(reference)), _channel_rows(np.asarray(test))
        where = "all channels"
        if ref.shape[0] > 1:
            per = ", ".join(_db(analysis.snr(r, t)) for r, t in zip(ref, tst, strict=True))
            where = f"all channels; per channel {per} dB"
        raise AssertionError(f"SNR {_db(value)} dB < at_least {_db(at_least)} dB "
                             f"({where}; error = test - reference)")
    return value


def assert_dynamic_range(audio: np.ndarray, sample_rate: float, *, at_least: float,
                         weighting: str | None = None) -> float:
    """Assert the AES17 dynamic range of a system's output for the -60 dBFS tone.

    Parameters
    ----------
    audio : np.ndarray [shape=(frames,) or (channels, frames)]
        The system's output for :func:`aes17_tone`, full scale 1.0.
    sample_rate : float
        Sample rate, Hz.
    at_least : float
        Smallest acceptable dynamic range, dB re a full-scale sine.
    weighting : None, "A" or "468"
        Unweighted, A-weighted (dB(A)) or ITU-R 468-weighted (RMS) noise.

    Returns
    -------
    float
        The measured dynamic range, dB (:func:`audioquant.analysis.dynamic_range`: the tone
        notched out, the rest measured 20 Hz - 20 kHz, noise power averaged over channels).
        An ideal 16-bit TPDF channel gives 93.75 dB unweighted, 95.8 dB(A).

    Raises
    ------
    AssertionError
        The dynamic range is below ``at_least``.
    """
    if weighting not in _WEIGHTING_LABELS:
        raise ParameterError(f"weighting must be None, 'A' or '468', got {weighting!r}")
    value = analysis.dynamic_range(audio, sample_rate, weighting)
    if not value >= at_least:
        raise AssertionError(
            f"dynamic range {_db(value)} dB < at_least {_db(at_least)} dB (AES17, "
            f"{_WEIGHTING_LABELS[weighting]}: tone notched, noise 20 Hz-20 kHz averaged over "
            f"channels, re a full-scale sine; at {sample_rate:g} Hz)")
    return value


def assert_noise_floor(audio: np.ndarray, *, at_most: float | None = None,
                       at_least: float | None = None) -> float:
    """Assert the level of a noise signal (an error signal, a dithered silence).

    Parameters
    ----------
    audio : np.ndarray [shape=(frames,) or (channels, frames)]
        The noise, full scale 1.0: the whole signal counts as noise, so pass an error
        (``output - reference``), a render of silence or a notch residual.
    at_most : float or None
        Highest acceptable level, dBFS.
    at_least : float or None
        Lowest acceptable level, dBFS (e.g. that dither is there: the error of an N-bit TPDF
        render is ``10*log10(2**(2-2N)/4 / 0.5)`` dBFS, -93.32 at 16 bits, whatever the
        signal; undithered rounding of a busy signal leaves 4.77 dB less).

    Returns
    -------
    float
        The level, dBFS: RMS of all channels re a full-scale sine,
        :func:`audioquant.analysis.noise_floor_dbfs`.

    Raises
    ------
    AssertionError
        The level is above ``at_most`` or below ``at_least``.
    """
    if at_most is None and at_least is None:
        raise ParameterError("assert_noise_floor needs at_most, at_least or both (dBFS)")
    value = analysis.noise_floor_dbfs(audio)
    convention = "RMS of all channels re a full-scale sine, AES17"
    if at_most is not None and not value <= at_most:
        raise AssertionError(f"noise floor {_db(value)} dBFS > at_most {_db(at_most)} dBFS "
                             f"({convention})")
    if at_least is not None and not value >= at_least:
        raise AssertionError(f"noise floor {_db(value)} dBFS < at_least {_db(at_least)} dBFS "
                             f"({convention})")
    return value


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where two arrays of one shape and dtype are not the same value: ``!=``, with NaN
    equal to NaN and ``-0.0`` different from ``0.0`` (float and complex)."""
    ne = a != b
    if a.dtype.kind in "fc":
        ne &= ~(np.isnan(a) & np.isnan(b))
        if a.dtype.kind == "f":
            ne |= np.signbit(a) != np.signbit(b)
        else:
            ne |= (np.signbit(a.real) != np.signbit(b.real)) | \
                  (np.signbit(a.imag) != np.signbit(b.imag))
    return ne


def _where(index: tuple[int, ...], ndim: int) -> str:
    """A sample's place for a message: ``frame F, channel C`` of ``(channels, frames)``."""
    if ndim == 1:
        return f"frame {index[0]}"
    if ndim == 2:
        return f"frame {index[1]}, channel {index[0]}"
    return f"index {index}"


def _first_difference(ne: np.ndarray) -> tuple[int, ...]:
    """The index of the earliest differing sample in time (lowest channel among equals)."""
    if ne.ndim == 2:
        frame = int(np.argmax(ne.any(axis=0)))
        return int(np.argmax(ne[:, frame])), frame
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(ne)), ne.shape))


def assert_bit_exact(a: np.ndarray, b: np.ndarray, *, names: tuple[str, str] = ("a", "b")
                     ) -> None:
    """Assert that two arrays hold the same samples: same shape, same dtype, every value.

    Parameters
    ----------
    a, b : np.ndarray [shape=(frames,) or (channels, frames)]
        Audio (any shape works; messages speak of frames and channels for 1-D and 2-D).
    names : (str, str)
        What to call ``a`` and ``b`` in the message.

    Raises
    ------
    AssertionError
        Shapes or dtypes differ, or samples do; the message names the first differing
        sample in time (frame, channel), both values (``repr``: exact), their difference
        and how many samples differ. ``-0.0`` and ``0.0`` differ (their bits do); NaN
        equals NaN.
    """
    na, nb = names
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape:
        hint = ""
        if x.ndim == y.ndim == 2 and x.shape[0] == y.shape[0]:
            common = min(x.shape[1], y.shape[1])
            ne = _differs(x[:, :common], y[:, :common]) if x.dtype == y.dtype else None
            if ne is not None and not ne.any():
                hint = f"; the first {common} frames are identical"
        raise AssertionError(f"shapes differ: {na} {x.shape}, {nb} {y.shape} "
                             f"((channels, frames)){hint}")
    if x.dtype != y.dtype:
        raise AssertionError(f"dtypes differ: {na} {x.dtype}, {nb} {y.dtype}")
    ne = _differs(x, y)
    if not ne.any():
        return
    index = _first_difference(ne)
    va, vb = x[index], y[index]
    diff = ""
    if x.dtype.kind in "fciu":
        delta = (vb.astype(np.float64) if x.dtype.kind in "iu" else vb) - va
        diff = f" (difference {delta.item()!r})"
    raise AssertionError(
        f"{na} and {nb} differ first at {_where(index, x.ndim)}: {na}={va.item()!r} "
        f"{nb}={vb.item()!r}{diff}; {int(ne.sum())} of {ne.size} samples differ")


def stream(processor: Processor, audio: np.ndarray, sample_rate: int,
           block_size: int | None = None) -> np.ndarray:
    """Run ``audio`` through ``processor`` in blocks, as the engine's chain does.

    ``prepare(sample_rate, channels)``, ``process`` on consecutive blocks of
    ``block_size`` frames (the last one shorter), ``flush``; the result joined, its first
    ``processor.latency`` frames dropped and cut or padded to
    ``processor.output_frames(frames)``, so it lines up with the input sample for sample.

    Parameters
    ----------
    processor : Processor
        Any processor, your own included.
    audio : np.ndarray [shape=(frames,) or (channels, frames), dtype=float32 or float64]
        The input.
    sample_rate : int
        Input sample rate, Hz.
    block_size : int or None
        Frames per ``process`` call (>= 1); None for one call with the whole array.

    Returns
    -------
    np.ndarray [shape=(channels, frames)]
        The aligned output.
    """
    block = as_block(audio)
    frames = block.shape[1]
    if block_size is None:
        step = max(frames, 1)
    elif isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) \
            or block_size < 1:
        raise ParameterError(f"block_size must be an integer >= 1 frames, got {block_size!r}")
    else:
        step = int(block_size)
    processor.prepare(sample_rate, block.shape[0])
    parts = [processor.process(block[:, s:s + step]) for s in range(0, frames, step)]
    if not parts:
        parts = [processor.process(block)]
    parts.append(processor.flush())
    dtype = np.result_type(*(p.dtype for p in parts))
    out = np.concatenate([np.asarray(p, dtype=dtype) for p in parts], axis=1)
    return fit_frames(trim_latency(out, processor.latency), processor.output_frames(frames))


def _name(processor: Processor) -> str:
    """``repr(processor)`` where the class defines one, else ``ClassName()``."""
    if type(processor).__repr__ is object.__repr__:
        return f"{type(processor).__qualname__}()"
    return repr(processor)


def assert_block_size_invariant(processor: Processor, audio: np.ndarray, sample_rate: int,
                                sizes: Sequence[int] = BLOCK_SIZES) -> np.ndarray:
    """Assert that ``processor`` gives the same output, bit for bit, at every block size.

    The audio is streamed (:func:`stream`) once as a whole array, then in blocks of each of
    ``sizes`` frames, each time from a fresh ``prepare``; each result is compared with the
    whole-array one by :func:`assert_bit_exact`. Blocks of 1 frame call ``process`` once
    per frame: a fraction of a second of audio is plenty (longer than the largest size, so
    that it is cut at all).

    Parameters
    ----------
    processor : Processor
        Any processor, your own included.
    audio : np.ndarray [shape=(frames,) or (channels, frames), dtype=float32 or float64]
        The input.
    sample_rate : int
        Sample rate, Hz.
    sizes : sequence of int
        Block sizes to try, frames (>= 1).

    Returns
    -------
    np.ndarray [shape=(channels, frames)]
        The whole-array output.

    Raises
    ------
    AssertionError
        Some block size changes the output; the message names the processor, the block
        size, the first differing sample (frame, channel) and both values.
    """
    whole = stream(processor, audio, sample_rate)
    for size in sizes:
        got = stream(processor, audio, sample_rate, size)
        try:
            assert_bit_exact(whole, got, names=("whole-array", f"block size {size}"))
        except AssertionError as exc:
            raise AssertionError(f"{_name(processor)} depends on the block size: block size {size} "
                                 f"differs from the whole-array call: {exc}") from None
    return whole


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Rendered:
    """One render made by :class:`RenderFolder`.

    Attributes
    ----------
    source : Path
        The input file (for an array input: a 64-bit float WAV of it, exact).
    path : Path
        The rendered file.
    report : audioquant.engine.RenderReport
        What :func:`audioquant.render` reported.
    audio : np.ndarray [shape=(channels, frames), dtype=float64]
        The rendered file read back, full scale 1.0 (code / 2**(bits-1)).
    sample_rate : int
        The rendered file's sample rate, Hz.
    """

    source: Path
    path: Path
    report: Any
    audio: np.ndarray
    sample_rate: int


class RenderFolder:
    """Renders into one folder: ``folder(audio, sample_rate, bits=8)`` -> :class:`Rendered`.

    Parameters
    ----------
    folder : str or os.PathLike
        Where inputs and renders are written (the ``rendered`` fixture uses ``tmp_path``).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self._count = 0

    def __repr__(self) -> str:
        return f"RenderFolder({os.fspath(self.folder)!r})"

    def __call__(self, source: np.ndarray | str | os.PathLike,
                 sample_rate: int | None = None, *, name: str | None = None,
                 **options: Any) -> Rendered:
        """Render ``source`` with :func:`audioquant.render` ``options``.

        Parameters
        ----------
        source : np.ndarray [shape=(frames,) or (channels, frames)] or path
            Audio (written first as a 64-bit float WAV, so the render sees it exactly) or
            an audio or MIDI file.
        sample_rate : int or None
            The array's sample rate, Hz (required for an array, not given for a file).
        name : str or None
            The rendered file's name in the folder (its extension picks the format);
            default ``render-K.wav``.
        **options
            :func:`audioquant.render` options: ``bits``, ``dither``, ``shaping``, ``seed``...

        Returns
        -------
        Rendered
        """
        from audioquant import io
        from audioquant.engine import render

        self._count += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        if isinstance(source, (str, os.PathLike)):
            if sample_rate is not None:
                raise ParameterError("sample_rate is for an array source; a file has its own")
            src = Path(source)
        else:
            if sample_rate is None:
                raise ParameterError("an array source needs its sample_rate (Hz)")
            src = self.folder / f"input-{self._count}.wav"
            io.write(src, np.atleast_2d(np.asarray(source, dtype=np.float64)),
                     int(sample_rate), subtype="DOUBLE")
        out = self.folder / (name or f"render-{self._count}.wav")
        report = render(src, out, **options)
        audio, rate = io.read(out, dtype="float64")
        return Rendered(source=src, path=out, report=report, audio=audio, sample_rate=rate)
