"""Streaming measurement: every figure ``audioquant analyze`` prints, from blocks.

A :class:`StreamAnalyzer` takes audio in blocks of any size and keeps running sums only:
peak, sum of squares and sum per channel (levels, DC), the error's sum of squares against a
reference (SNR), a Welch power spectrum (Hann segments of :data:`SEGMENT` samples, 50 %
overlap) and the first :data:`FIT_FRAMES` frames for a sine fit. Memory is bounded by
those sizes, whatever the length of the file.

Blocks are re-cut onto a fixed grid of :data:`CHUNK_FRAMES` frames (counted from the first
frame of the file) before anything is summed, so every figure -- the exact ones (peak, RMS,
DC, SNR) and the spectral ones -- is bit-for-bit the same whatever the block size.

Spectral figures use an ideal *spectral* notch: the bins of the tone's Hann main lobe and
of its sidelobes down to 20 dB below the noise per bin (and of DC, likewise) are replaced by
the mean of the bins either side. For a tone in stationary noise this agrees with the
least-squares notch of :func:`audioquant.analysis.notch` to a few hundredths of a dB
(tests/audioquant/test_analyze_stream.py states the bounds).

:func:`analyze_file` streams a file (and a reference beside it, frame for frame) through
an analyzer, reading ahead on a thread.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator

import numpy as np

from audioquant.analysis import (
    AUDIO_BAND_HZ,
    FULL_SCALE_SINE_POWER,
    MAX_SAMPLE,
    SineFit,
    _bad_sample_error,
    _fit_all,
    _power_dbfs,
    _ratio_db,
    weighting_function,
)
from audioquant.errors import ParameterError

__all__ = ["CHUNK_FRAMES", "FIT_FRAMES", "SEGMENT", "StreamAnalyzer", "analyze_file", "stream_file"]

#: Frames per accumulation chunk: the fixed grid that makes sums block-size invariant
#: (a multiple of the Welch hop, so a chunk ends where a segment may start).
CHUNK_FRAMES = 1 << 17
#: Welch segment length, samples (0.67 Hz bins at 44.1 kHz); hop is half of it.
SEGMENT = 1 << 16
#: Frames kept from the start of the file for the sine fit (11.9 s at 44.1 kHz) ...
FIT_FRAMES = 1 << 19
#: ... and at most this many samples over all channels (2**18 frames of 8 channels).
FIT_SAMPLES = 1 << 21
#: A sine is "dominant" when it leaves at most this much unexplained, dB (90 % of power).
DOMINANT_SINAD_DB = 10.0
#: Dynamic range (AES17) is reported for a tone in this level range, dBFS (-60 dBFS test).
AES17_LEVEL_DBFS = (-70.0, -50.0)
#: ENOB without correction is printed for a tone at least this loud, dBFS (IEEE 1241).
NEAR_FULL_SCALE_DBFS = -1.0
#: dB between the AES17 RMS convention (re full-scale sine) and SoX's / FFmpeg's (re
#: full-scale square): ``10*log10(2)``.
SQUARE_OFFSET_DB = 10.0 * math.log10(2.0)
#: Leakage margin of the spectral notch: sidelobes kept are this far below the noise, dB.
_NOTCH_MARGIN_DB = 20.0

#: Threads for the FFTs.
_WORKERS = max(1, min(8, os.cpu_count() or 1))

Progress = Callable[[int, int | None], None]


def _check_chunk(chunk: np.ndarray, start: int, name: str, mono: bool) -> None:
    """Refuse a chunk holding NaN, Inf or a magnitude past ``MAX_SAMPLE`` (one pass)."""
    if chunk.size and not (-MAX_SAMPLE <= chunk.min() and chunk.max() <= MAX_SAMPLE):
        raise _bad_sample_error(chunk, start, name, mono)


def hann(n: int) -> np.ndarray:
    """Periodic Hann window of ``n`` samples (as :func:`audioquant.analysis.power_spectrum`)."""
    return np.hanning(n + 1)[:-1] if n > 2 else np.ones(n)


def hann_leakage(k: np.ndarray) -> np.ndarray:
    """Envelope of a Hann window's power response ``k`` bins from a tone, relative to the
    peak bin: ``(pi*k*(k**2 - 1))**-2`` (-31.5 dB at 2.5 bins, 18 dB/octave after)."""
    k = np.asarray(k, dtype=np.float64)
    return 1.0 / (math.pi * k * (k * k - 1.0)) ** 2


def notch_half_width(line_power: float, noise_per_bin: float, bins: int) -> int:
    """Bins each side of a spectral line (a tone, DC) whose leakage is within
    ``_NOTCH_MARGIN_DB`` of the noise per bin: at least 3 (the Hann main lobe and its
    first sidelobe), at most ``bins // 8``."""
    top = max(4, bins // 8)
    if line_power <= 0.0:
        return 3
    if noise_per_bin <= 0.0:
        return top
    k = np.arange(3, top + 1, dtype=np.float64)
    quiet = line_power * hann_leakage(k) < noise_per_bin * 10.0 ** (-_NOTCH_MARGIN_DB / 10)
    return int(k[np.argmax(quiet)]) if quiet.any() else top


def fill_notches(power: np.ndarray, regions: list[tuple[int, int]]) -> np.ndarray:
    """``power`` (per bin) with each ``[lo, hi]`` bin region replaced by the mean of the
    bins either side of it (as many as the region is wide, none inside any region)."""
    out = np.array(power, dtype=np.float64, copy=True)
    masked = np.zeros(out.size, dtype=bool)
    for lo, hi in regions:
        masked[max(lo, 0) : min(hi, out.size - 1) + 1] = True
    for lo, hi in regions:
        lo, hi = max(lo, 0), min(hi, out.size - 1)
        width = hi - lo + 1
        near = np.arange(lo - width, hi + width + 1)
        near = near[(near >= 0) & (near < out.size)]
        near = near[~masked[near]]
        out[lo : hi + 1] = float(np.mean(power[near])) if near.size else 0.0
    return out


def band_sum(freqs: np.ndarray, power: np.ndarray, weighting: object,
             band_hz: tuple[float, float] = AUDIO_BAND_HZ) -> float:
    """Mean square in ``band_hz`` (Hz, brick-wall, clipped to the bins), weighted:
    the sum of :func:`audioquant.analysis.weighted_noise_power` over a given spectrum."""
    sel = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
    return float(np.sum(power[sel] * weighting_function(weighting)(freqs[sel])))


def peak_frequency(freqs: np.ndarray, power: np.ndarray) -> float | None:
    """Frequency (Hz) of the strongest bin above DC's Hann leakage (bins 0, 1), refined by
    Gaussian (log-parabolic) interpolation; None when there is no such bin."""
    if power.size < 4:
        return None
    p = np.array(power, copy=True)
    p[:2] = 0.0
    k = int(np.argmax(p))
    if p[k] <= 0.0 or k >= power.size - 1:
        return None
    delta = 0.0
    if p[k - 1] > 0 and p[k + 1] > 0:
        lm, l0, lp = math.log(p[k - 1]), math.log(p[k]), math.log(p[k + 1])
        den = lm - 2.0 * l0 + lp
        if den < 0:
            delta = max(-0.5, min(0.5, 0.5 * (lm - lp) / den))
    return float(freqs[k] + delta * (freqs[1] - freqs[0]))


def _rfft(segments: np.ndarray) -> np.ndarray:
    """Real FFT along the last axis, on as many threads as there are cores (scipy's
    pocketfft: each transform is computed whole by one thread, so the result does not
    depend on the thread count)."""
    import scipy.fft

    return scipy.fft.rfft(segments, axis=-1, workers=_WORKERS, overwrite_x=True)


class _Welch:
    """Running Welch spectrum: Hann segments of ``segment`` samples, hop ``segment//2``,
    per-bin |FFT|**2 summed over segments and channels; :meth:`spectrum` scales it to
    mean square per bin (bins sum to the mean square), like ``power_spectrum``."""

    def __init__(self, channels: int, segment: int = SEGMENT) -> None:
        self.segment = segment
        self.hop = segment // 2
        self.window = hann(segment)
        self.acc = np.zeros(segment // 2 + 1)
        self.count = 0
        # the samples not yet in a complete segment, then the next chunk, in one buffer
        # kept from chunk to chunk (no concatenation, no new allocation per chunk)
        self._buf = np.zeros((channels, segment + CHUNK_FRAMES))
        self._held = 0
        self.frames = 0

    @property
    def tail(self) -> np.ndarray:
        """The samples held for the next segment ``(channels, < segment)``."""
        return self._buf[:, : self._held]

    def add(self, chunk: np.ndarray) -> None:
        """Take the next ``(channels, n)`` samples; every complete segment is summed."""
        held, n_new = self._held, chunk.shape[1]
        if held + n_new > self._buf.shape[1]:           # a chunk larger than the grid's
            grown = np.zeros((self._buf.shape[0], held + n_new))
            grown[:, :held] = self._buf[:, :held]
            self._buf = grown
        self._buf[:, held : held + n_new] = chunk
        self.frames += n_new
        n = held + n_new
        if n < self.segment:
            self._held = n
            return
        buf = self._buf[:, :n]
        nseg = (n - self.segment) // self.hop + 1
        view = np.lib.stride_tricks.sliding_window_view(buf, self.segment, axis=1)
        spec = _rfft(view[:, : nseg * self.hop : self.hop] * self.window)
        self.acc += np.sum(np.square(spec.real) + np.square(spec.imag), axis=(0, 1))
        self.count += nseg * buf.shape[0]
        rest = n - nseg * self.hop
        self._buf[:, :rest] = self._buf[:, nseg * self.hop : n]   # (numpy copies overlaps)
        self._held = rest

    def spectrum(self, sample_rate: float) -> tuple[np.ndarray, np.ndarray] | None:
        """``(freqs Hz, mean square per bin)``, or None under 2 frames. A record shorter
        than one segment is one segment of its own length (as ``power_spectrum``)."""
        if self.count == 0:
            if self.frames < 2:
                return None
            tail = np.array(self.tail)
            short = _Welch(tail.shape[0], tail.shape[1])
            short.add(tail)
            return short.spectrum(sample_rate)
        seg = self.segment
        power = self.acc / (seg * float(np.sum(self.window**2)) * self.count)
        power[1 : (seg + 1) // 2] *= 2.0
        return np.fft.rfftfreq(seg, 1.0 / sample_rate), power


class StreamAnalyzer:
    """The figures of ``audioquant analyze``, from ``(channels, frames)`` blocks.

    Parameters
    ----------
    sample_rate : float
        Sample rate, Hz.
    channels : int
        Channels of every block.
    reference : bool
        Whether blocks come with a reference block (adds ``snr_db``).
    mono : bool
        Name bad samples by frame only (the caller's audio was 1-D).
    error_spectrum : bool
        With a reference, also keep the Welch spectrum of the error (block minus
        reference) for :meth:`spectra`.
    levels_only : bool
        Only the levels (peak, RMS, DC, and the SNR against the reference): no spectrum,
        no sine fit, the figures SoX ``stats`` and FFmpeg ``astats`` give, at a fraction
        of the cost (``analyze --levels``).

    Feed :meth:`add` blocks in order, then call :meth:`result` (and :meth:`spectra`).
    """

    def __init__(self, sample_rate: float, channels: int, *, reference: bool = False,
                 mono: bool = False, error_spectrum: bool = False,
                 levels_only: bool = False) -> None:
        sr = float(sample_rate)
        if not (math.isfinite(sr) and sr > 0):
            raise ParameterError(f"sample_rate must be a positive number of Hz, got "
                                 f"{sample_rate}")
        if channels < 1:
            raise ParameterError(f"channels must be at least 1, got {channels}")
        self.sample_rate = sr
        self.channels = int(channels)
        self.mono = mono
        self.frames = 0
        self._has_ref = reference
        self._buf = np.empty((channels, CHUNK_FRAMES))
        self._ref = np.empty((channels, CHUNK_FRAMES)) if reference else None
        self._fill = 0
        self._peak = np.zeros(channels)
        self._sumsq = np.zeros(channels)
        self._sum = np.zeros(channels)
        self._ref_sumsq = 0.0
        self._err_sumsq = 0.0
        self.levels_only = levels_only
        self._welch = None if levels_only else _Welch(channels)
        self._err_welch = _Welch(channels) if reference and error_spectrum else None
        self._head = np.empty((channels, 0))
        self._head_parts: list[np.ndarray] = []
        self._head_frames = 0
        self._head_limit = max(64, min(FIT_FRAMES, FIT_SAMPLES // self.channels))

    def add(self, block: np.ndarray, reference: np.ndarray | None = None) -> None:
        """Take the next block ``(channels, n)`` (any n, 0 included), full scale 1.0, and
        the reference's block of the same shape when the analyzer has a reference."""
        b = np.asarray(block)
        if b.ndim == 1:
            b = b[np.newaxis, :]
        if b.ndim != 2 or b.shape[0] != self.channels or b.dtype.kind not in "fiub":
            raise ParameterError(f"audio blocks must be real (channels={self.channels}, "
                                 f"frames), got {b.dtype} {b.shape}")
        r = None
        if self._has_ref:
            if reference is None:
                raise ParameterError("this analyzer needs a reference block with each block")
            r = np.asarray(reference)
            r = r[np.newaxis, :] if r.ndim == 1 else r
            if r.shape != b.shape:
                raise ParameterError(f"reference block shape {r.shape} differs from the "
                                     f"block's {b.shape}")
        done = 0
        while done < b.shape[1]:
            take = min(CHUNK_FRAMES - self._fill, b.shape[1] - done)
            with np.errstate(invalid="ignore"):  # a signalling NaN: refused in _consume
                self._buf[:, self._fill : self._fill + take] = b[:, done : done + take]
                if self._ref is not None and r is not None:
                    self._ref[:, self._fill : self._fill + take] = r[:, done : done + take]
            self._fill += take
            done += take
            if self._fill == CHUNK_FRAMES:
                self._consume()

    def _consume(self) -> None:
        """Sum the filled part of the chunk buffer into the running figures."""
        n = self._fill
        if n == 0:
            return
        c = self._buf[:, :n]
        _check_chunk(c, self.frames, "audio", self.mono)
        self._peak = np.maximum(self._peak, np.max(np.abs(c), axis=1))
        self._sumsq += np.einsum("ij,ij->i", c, c)
        self._sum += np.sum(c, axis=1)
        if self._ref is not None:
            r = self._ref[:, :n]
            _check_chunk(r, self.frames, "reference", self.mono)
            e = c - r
            self._ref_sumsq += float(np.einsum("ij,ij->", r, r))
            self._err_sumsq += float(np.einsum("ij,ij->", e, e))
            if self._err_welch is not None:
                self._err_welch.add(e)
        if self._head_frames < self._head_limit and not self.levels_only:
            keep = min(n, self._head_limit - self._head_frames)
            self._head_parts.append(np.array(c[:, :keep], copy=True))
            self._head_frames += keep
        if self._welch is not None:
            self._welch.add(c)
        self.frames += n
        self._fill = 0

    def result(self) -> dict[str, float | int | str]:
        """The figures (see :func:`audioquant.analysis.summary` for the keys)."""
        self._consume()
        sr, n, ch = self.sample_rate, self.frames, self.channels
        ms = float(np.sum(self._sumsq)) / (n * ch) if n else 0.0
        dc = self._sum / n if n else np.zeros(ch)
        worst = int(np.argmax(np.abs(dc)))
        peak = float(np.max(self._peak))
        rms = _power_dbfs(ms) if n else -math.inf
        out: dict[str, float | int | str] = {
            "sample_rate_hz": sr,
            "channels": ch,
            "frames": n,
            "duration_s": n / sr,
            "peak_dbfs": 20.0 * math.log10(peak) if peak > 0 else -math.inf,
            "rms_dbfs_aes17": rms,
            "rms_dbfs_square": rms - SQUARE_OFFSET_DB,
            "dc_offset": float(dc[worst]),
        }
        if peak == 0.0:
            out["noise_floor_dbfs"] = -math.inf
            out["noise_floor_of"] = "digital silence"
        elif not self.levels_only:
            out.update(self._spectral(ms))
        if self._has_ref:
            out["snr_db"] = _ratio_db(self._ref_sumsq, self._err_sumsq)
        return out

    def spectra(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The Welch spectra, ``{"signal": (freqs Hz, mean square per bin), "error": ...}``
        (the error against the reference only with ``error_spectrum``; none under 2
        frames). Channels are averaged, like every figure of :meth:`result`."""
        self._consume()
        out = {}
        for name, welch in (("signal", self._welch), ("error", self._err_welch)):
            spec = None if welch is None else welch.spectrum(self.sample_rate)
            if spec is not None:
                out[name] = spec
        return out

    def _tone(self, mean_square: float, freqs: np.ndarray, power: np.ndarray
              ) -> list[SineFit]:
        """Sine fits (one frequency, per channel) on the first frames, starting at the
        spectrum's peak, or [] when no sine dominates them or the whole file (>= 90 % of
        the power, SINAD >= 10 dB)."""
        if self._head_frames < 64:
            return []
        start = peak_frequency(freqs, power)
        if start is None:
            return []
        head = np.concatenate(self._head_parts, axis=1)
        fits = _fit_all(head, self.sample_rate, start, True)
        signal = sum(f.signal_power for f in fits) / len(fits)
        resid = sum(f.residual_power for f in fits) / len(fits)
        if _ratio_db(signal, resid) < DOMINANT_SINAD_DB:
            return []
        if _ratio_db(signal, max(mean_square - signal, 0.0)) < DOMINANT_SINAD_DB:
            return []
        return fits

    def _spectral(self, mean_square: float) -> dict[str, float | str]:
        """Tone, SINAD, ENOB, noise floor, weighted noise and AES17 dynamic range from the
        Welch spectrum with the tone (if one dominates) and DC notched out."""
        spec = self._welch.spectrum(self.sample_rate)
        if spec is None:
            return {}
        freqs, power = spec
        fits = self._tone(mean_square, freqs, power)
        df = float(freqs[1] - freqs[0])
        noise_bin = float(np.median(power))
        dc_power = float(np.sum(power[:2]))
        regions = [(0, notch_half_width(dc_power, noise_bin, power.size))]
        out: dict[str, float | str] = {}
        if not fits:
            out["level_a_dbfs"] = _power_dbfs(band_sum(freqs, power, "A"))
            out["level_468_dbfs"] = _power_dbfs(band_sum(freqs, power, "468"))
            return out
        f0 = fits[0].frequency_hz
        signal = sum(f.signal_power for f in fits) / len(fits)
        k0 = int(round(f0 / df))
        half = notch_half_width(signal, noise_bin, power.size)
        regions.append((k0 - half, k0 + half))
        resid = fill_notches(power, regions)
        noise = float(np.sum(resid))
        tone = _power_dbfs(signal)
        sinad_db = _ratio_db(signal, noise)
        out.update({
            "frequency_hz": f0,
            "tone_dbfs": tone,
            "sinad_db": sinad_db,
            "thd_n_db": -sinad_db,
            "noise_floor_dbfs": _power_dbfs(noise),
            "noise_floor_of": "notched tone residual",
            "noise_a_dbfs": _power_dbfs(band_sum(freqs, resid, "A")),
            "noise_468_dbfs": _power_dbfs(band_sum(freqs, resid, "468")),
            "enob_full_scale_bits": (sinad_db - tone - 1.76) / 6.02,
        })
        if tone >= NEAR_FULL_SCALE_DBFS:
            out["enob_bits"] = (sinad_db - 1.76) / 6.02
        if AES17_LEVEL_DBFS[0] <= tone <= AES17_LEVEL_DBFS[1]:
            out["dynamic_range_db"] = _ratio_db(FULL_SCALE_SINE_POWER,
                                                band_sum(freqs, resid, None))
            out["dynamic_range_a_db"] = _ratio_db(FULL_SCALE_SINE_POWER,
                                                  band_sum(freqs, resid, "A"))
        return out


def _paired(audio: Iterator[np.ndarray], ref: Iterator[np.ndarray], names: tuple[str, str]
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Zip two block streams of equal block size; ParameterError if one ends first."""
    sentinel = None
    while True:
        a = next(audio, sentinel)
        r = next(ref, sentinel)
        if a is None and r is None:
            return
        if a is None or r is None or a.shape != r.shape:
            longer = names[1] if a is None or (r is not None and r.shape[1] > a.shape[1]) \
                else names[0]
            raise ParameterError(f"reference {names[1]} does not match {names[0]}: "
                                 f"{longer} is longer")
        yield a, r


def analyze_file(path: str, reference: str | None = None, *, block_frames: int | None = None,
                 progress: Progress | None = None) -> dict[str, float | int | str]:
    """The figures of :func:`stream_file` (same parameters)."""
    return stream_file(path, reference, block_frames=block_frames, progress=progress
                       ).result()


def stream_file(path: str, reference: str | None = None, *, block_frames: int | None = None,
                progress: Progress | None = None, error_spectrum: bool = False,
                levels_only: bool = False) -> StreamAnalyzer:
    """Stream ``path`` (and ``reference``, frame for frame) through a
    :class:`StreamAnalyzer`, reading ahead on a thread; returns it, fed.

    Parameters
    ----------
    path : str
        Audio file (``-`` for standard input).
    reference : str or None
        Reference file for SNR: same rate, channels and length, or ParameterError.
    block_frames : int or None
        Frames per read (default: 2**19 samples' worth).
    progress : callable or None
        ``progress(frames_done, frames_total_or_None)`` after each block.
    error_spectrum, levels_only : bool
        Keep the error's spectrum too; compute the levels only (see
        :class:`StreamAnalyzer`).
    """
    from audioquant import io
    from audioquant.engine import _prefetch

    meta = io.info(path)
    size = block_frames or max(1, (1 << 19) // meta.channels)
    an = StreamAnalyzer(meta.sample_rate, meta.channels, reference=reference is not None,
                        error_spectrum=error_spectrum, levels_only=levels_only)
    blocks = _prefetch(io.blocks(meta, size))
    total = meta.frames if meta.frames >= 0 else None
    done = 0
    if reference is None:
        for block in blocks:
            an.add(block)
            done += block.shape[1]
            if progress is not None:
                progress(done, total)
        return an
    ref = io.info(reference)
    if (ref.sample_rate, ref.channels) != (meta.sample_rate, meta.channels) or (
            ref.frames >= 0 and meta.frames >= 0 and ref.frames != meta.frames):
        raise ParameterError(
            f"reference {reference} ({ref.channels} ch, {ref.frames} frames at "
            f"{ref.sample_rate} Hz) does not match {path} ({meta.channels} ch, "
            f"{meta.frames} frames at {meta.sample_rate} Hz)")
    for block, rblock in _paired(blocks, _prefetch(io.blocks(ref, size)), (path, reference)):
        an.add(block, rblock)
        done += block.shape[1]
        if progress is not None:
            progress(done, total)
    return an
