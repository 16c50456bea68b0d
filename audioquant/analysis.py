"""Measure audio: SNR, SINAD, THD+N, AES17 dynamic range, weighted noise, levels, ENOB.

Everything works on float arrays, mono ``(frames,)`` or ``(channels, frames)``, with full
scale ``1.0``, and a sample rate in Hz. Levels follow AES17: a full-scale sine (peak 1.0,
mean square 0.5) is 0 dBFS, so RMS levels are ``10*log10(mean(x**2) / 0.5)``.

Cheat-sheet::

    snr(reference, test)                      dB, all channels together
    sinad(x, sample_rate)  thd_n(...)         dB, the fundamental found and fitted
    sine_fit(x, sample_rate) -> SineFit       least-squares sine (IEEE 1057 4-parameter)
    notch(x, sample_rate)                     x minus its fitted sine (and DC)
    dynamic_range(x, sample_rate, weighting)  AES17, dB re full-scale sine; None/"A"/"468"
    weighted_noise_power(x, sample_rate, ...) mean square in a band, weighted
    a_weighting(f)  itu468_weighting(f)       power gain (linear), 0 dB at 1 kHz
    weighted_gain_db(ntf_power, freqs, ...)   how a noise shape changes weighted noise
    power_spectrum(x, sample_rate)            Welch, power per bin (sums to mean square)
    band_power / band_power_third_octaves     mean square per band
    peak_dbfs  rms_dbfs  noise_floor_dbfs  effective_bits
    summary(audio, sample_rate, reference)    dict of numbers for ``audioquant analyze``
                                              (streamed from files: analysis_stream.py)
    format_summary(d)                         the same for humans

``scipy.signal`` is never imported (startup cost); the spectra are plain numpy FFTs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from audioquant.errors import ParameterError

__all__ = [
    "SineFit",
    "a_weighting",
    "band_integral",
    "band_power",
    "band_power_third_octaves",
    "dynamic_range",
    "effective_bits",
    "format_summary",
    "itu468_weighting",
    "noise_floor_dbfs",
    "notch",
    "peak_dbfs",
    "power_spectrum",
    "rms_dbfs",
    "sinad",
    "sine_fit",
    "snr",
    "summary",
    "thd_n",
    "third_octave_bands",
    "weighted_gain_db",
    "weighted_noise_power",
    "weighting_function",
]

#: Mean square of a full-scale sine: the 0 dBFS reference for RMS levels (AES17).
FULL_SCALE_SINE_POWER = 0.5

#: Default measurement band (Hz) of AES17: 20 Hz to 20 kHz.
AUDIO_BAND_HZ = (20.0, 20000.0)

Weighting = str | Callable[[np.ndarray], np.ndarray] | None

_CHUNK = 1 << 18  # samples per pass of the chunked sine fit (bounded memory)
_REFINE_FRAMES = 1 << 20  # frames used to refine a sine's frequency
_SEGMENT = 1 << 16  # Welch segment length (0.67 Hz bins at 44.1 kHz)


# --------------------------------------------------------------------------- helpers


#: Largest sample magnitude analysed: the largest float32 (+770.6 dBFS), so every value a
#: 32-bit float file can hold is measured. Past it (a 64-bit float file can hold up to
#: 1.8e308) squares and sums of squares overflow float64 (from about 1.3e154 on), and the
#: sine fit's least squares would be fed Inf/NaN; such samples are refused instead.
MAX_SAMPLE = float(np.finfo(np.float32).max)


def _bad_sample_error(chunk: np.ndarray, start: int, name: str, mono: bool) -> ParameterError:
    """The error naming the earliest (in time) sample of ``chunk`` that is NaN, infinite or
    past ``+-MAX_SAMPLE``; ``start`` is the chunk's first frame in the stream."""
    bad = ~(np.abs(chunk) <= MAX_SAMPLE)
    frame = int(np.argmax(bad.any(axis=0)))
    channel = int(np.argmax(bad[:, frame]))
    value = float(chunk[channel, frame])
    where = f"frame {start + frame}" + ("" if mono else f" of channel {channel}")
    if not math.isfinite(value):
        return ParameterError(f"{name} must be finite, got {value} at {where}")
    return ParameterError(
        f"{name} sample {value!r} at {where} is beyond the analysable range "
        f"+-{MAX_SAMPLE!r} (+{20 * math.log10(MAX_SAMPLE):.1f} dBFS, the largest "
        f"32-bit float)")


def _as_audio(x: object, name: str = "x") -> np.ndarray:
    """Validate audio: real, finite, within ``+-MAX_SAMPLE``, 1-D or 2-D
    ``(channels, frames)``; returns float64. A bad sample is named, the earliest in time."""
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise ParameterError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if a.ndim not in (1, 2):
        raise ParameterError(
            f"{name} must be 1-D (frames,) or 2-D (channels, frames), got shape {a.shape}"
        )
    # one pass without copies; NaN fails both comparisons, so it is caught here too
    if a.size and not (-MAX_SAMPLE <= a.min() and a.max() <= MAX_SAMPLE):
        raise _bad_sample_error(_channels(a), 0, name, mono=a.ndim == 1)
    return a


def _channels(a: np.ndarray) -> np.ndarray:
    """View as ``(channels, frames)``."""
    return a[np.newaxis, :] if a.ndim == 1 else a


def _check_rate(sample_rate: float) -> float:
    sr = float(sample_rate)
    if not (math.isfinite(sr) and sr > 0):
        raise ParameterError(f"sample_rate must be a positive number of Hz, got {sample_rate}")
    return sr


def _check_frames(a: np.ndarray, minimum: int, name: str = "x") -> None:
    frames = a.shape[-1]
    if frames < minimum:
        raise ParameterError(f"{name} must have at least {minimum} frames, got {frames}")


def _ratio_db(num: float, den: float) -> float:
    """``10*log10(num/den)`` with inf / -inf at the edges (nan for 0/0)."""
    if den <= 0.0:
        return math.inf if num > 0.0 else math.nan
    if num <= 0.0:
        return -math.inf
    return 10.0 * math.log10(num / den)


def _mean_square(a: np.ndarray) -> float:
    """Mean of ``a**2`` without a squared copy."""
    flat = np.ascontiguousarray(a).ravel()
    return float(np.dot(flat, flat)) / flat.size if flat.size else 0.0


def _power_dbfs(mean_square: float) -> float:
    return _ratio_db(mean_square, FULL_SCALE_SINE_POWER) if mean_square > 0 else -math.inf


# --------------------------------------------------------------------------- levels


def peak_dbfs(x: np.ndarray) -> float:
    """Sample peak level.

    Parameters
    ----------
    x : np.ndarray [shape=(frames,) or (channels, frames)]
        Audio, full scale 1.0.

    Returns
    -------
    float
        ``20*log10(max|x|)`` in dBFS (a full-scale sine is 0 dBFS); ``-inf`` for silence.
    """
    a = _as_audio(x)
    if a.size == 0:
        return -math.inf
    peak = float(np.max(np.abs(a)))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level relative to a full-scale sine (AES17: a full-scale sine is 0 dBFS).

    Parameters
    ----------
    x : np.ndarray [shape=(frames,) or (channels, frames)]
        Audio, full scale 1.0; all channels are pooled.

    Returns
    -------
    float
        ``10*log10(mean(x**2) / 0.5)`` in dBFS; ``-inf`` for silence. A full-scale square
        wave reads +3.01 dBFS.
    """
    a = _as_audio(x)
    if a.size == 0:
        return -math.inf
    return _power_dbfs(_mean_square(a))


def noise_floor_dbfs(x: np.ndarray) -> float:
    """Level of a noise signal (an error signal, silence with dither, a notch residual).

    The same measure as :func:`rms_dbfs` -- RMS relative to a full-scale sine, dBFS --
    named for what it is used on: the 16-bit TPDF error (power LSB²/4, LSB = 2**-15)
    reads ``10*log10(2**-32 / 0.5)`` = -93.32 dBFS.

    Parameters
    ----------
    x : np.ndarray [shape=(frames,) or (channels, frames)]
        The noise, full scale 1.0.

    Returns
    -------
    float
        dBFS; ``-inf`` for exact silence.
    """
    return rms_dbfs(x)


def effective_bits(sinad_db: float) -> float:
    """Effective number of bits (ENOB) from a SINAD measured on a full-scale sine.

    Parameters
    ----------
    sinad_db : float
        SINAD in dB.

    Returns
    -------
    float
        ``(sinad_db - 1.76) / 6.02`` bits (IEEE 1241 convention).
    """
    return (float(sinad_db) - 1.76) / 6.02


# --------------------------------------------------------------------------- SNR


def snr(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-noise ratio of ``test`` against a known ``reference``.

    Parameters
    ----------
    reference : np.ndarray [shape=(frames,) or (channels, frames)]
        The clean signal.
    test : np.ndarray [same shape as reference]
        The processed signal; the error is ``test - reference``.

    Returns
    -------
    float
        ``10*log10(sum(reference**2) / sum((test - reference)**2))`` in dB over all
        channels together; ``inf`` when the two are identical.

    Raises
    ------
    ParameterError
        Shapes differ, or either array is empty, not real or not finite.
    """
    ref = _as_audio(reference, "reference")
    tst = _as_audio(test, "test")
    if ref.shape != tst.shape:
        raise ParameterError(f"test must have the shape of reference {ref.shape}, got {tst.shape}")
    _check_frames(ref, 1, "reference")
    err = tst - ref
    return _ratio_db(float(np.sum(ref * ref)), float(np.sum(err * err)))


# --------------------------------------------------------------------------- sine fit


@dataclass(frozen=True)
class SineFit:
    """A least-squares sine ``offset + amplitude * cos(2*pi*frequency_hz*n/sample_rate + phase)``.

    Attributes
    ----------
    frequency_hz : float
        Frequency, Hz.
    amplitude : float
        Peak amplitude, full scale 1.0 (``20*log10(amplitude)`` is its level in dBFS).
    phase_rad : float
        Cosine phase at sample 0, radians.
    offset : float
        DC offset, full scale 1.0.
    sample_rate : float
        Sample rate, Hz.
    residual_power : float
        Mean square of ``x - fit`` (noise + distortion), full scale 1.0.
    """

    frequency_hz: float
    amplitude: float
    phase_rad: float
    offset: float
    sample_rate: float
    residual_power: float

    @property
    def signal_power(self) -> float:
        """Mean square of the sine, ``amplitude**2 / 2``."""
        return 0.5 * self.amplitude * self.amplitude

    @property
    def level_dbfs(self) -> float:
        """Level of the sine, dBFS (``20*log10(amplitude)``)."""
        return 20.0 * math.log10(self.amplitude) if self.amplitude > 0 else -math.inf

    @property
    def sinad_db(self) -> float:
        """``10*log10(signal_power / residual_power)``, dB."""
        return _ratio_db(self.signal_power, self.residual_power)

    def render(self, frames: int, start: int = 0) -> np.ndarray:
        """The fitted sine (offset included) at samples ``start .. start+frames-1``, float64."""
        n = np.arange(start, start + frames, dtype=np.float64)
        w = 2.0 * math.pi * self.frequency_hz / self.sample_rate
        return self.offset + self.amplitude * np.cos(w * n + self.phase_rad)


def _estimate_frequency(chans: np.ndarray, sample_rate: float) -> float:
    """Coarse frequency (Hz) of the strongest spectral peak, all channels' spectra summed.

    Hann window, peak bin above DC, Gaussian (log-parabolic) interpolation: good to a few
    hundredths of a bin, which the 4-parameter fit then refines.
    """
    n = min(chans.shape[-1], 1 << 20)
    seg = chans[:, :n]
    seg = seg - seg.mean(axis=-1, keepdims=True)
    win = np.hanning(n + 2)[1:-1]  # strictly positive Hann (no zero end points)
    spec = np.sum(np.abs(np.fft.rfft(seg * win, axis=-1)) ** 2, axis=0)
    if spec.size < 4:
        raise ParameterError(f"x must have at least 8 frames for a sine fit, got {n}")
    spec[:2] = 0.0  # DC and its Hann leakage
    k = int(np.argmax(spec))
    if spec[k] <= 0.0:
        return sample_rate / 4.0  # silence: any frequency fits, amplitude will be 0
    delta = 0.0
    if 0 < k < spec.size - 1 and spec[k - 1] > 0 and spec[k + 1] > 0:
        lm, l0, lp = (math.log(spec[k - 1]), math.log(spec[k]), math.log(spec[k + 1]))
        den = lm - 2.0 * l0 + lp
        if den < 0:
            delta = 0.5 * (lm - lp) / den
            delta = max(-0.5, min(0.5, delta))
    return (k + delta) * sample_rate / n


def _normal_solve(ata: np.ndarray, aty: np.ndarray) -> np.ndarray:
    """Solve normal equations after scaling columns to unit diagonal (min-norm if singular)."""
    if not (np.isfinite(ata).all() and np.isfinite(aty).all()):
        # LAPACK can loop for ever on Inf/NaN; bounded input (MAX_SAMPLE) never gets here
        raise ParameterError("sine fit: the least-squares system is not finite")
    d = np.sqrt(np.diag(ata))
    d[d == 0] = 1.0
    m = ata / np.outer(d, d)
    sol = np.linalg.lstsq(m, aty / d, rcond=1e-12)[0]
    return sol / d


def _fit_pass(
    x: np.ndarray, omega: float, centre: float, ab: tuple[float, float] | None
) -> np.ndarray:
    """One least-squares pass at angular frequency ``omega`` (radians/sample).

    Columns ``cos(omega*t), sin(omega*t), 1`` and, when ``ab`` is given, the derivative of
    ``a*cos + b*sin`` with respect to omega (IEEE 1057 4-parameter fit). ``t`` is centred
    on the record for conditioning. Returns ``[a, b, dc]`` or ``[a, b, dc, d_omega]``.
    """
    from audioquant.dsp.sinefit import fit_sums

    a, b = (0.0, 0.0) if ab is None else (float(ab[0]), float(ab[1]))
    ata, aty = fit_sums(np.ascontiguousarray(x, dtype=np.float64), float(omega),
                        float(centre), a, b, 3 if ab is None else 4)
    return _normal_solve(ata, aty)


def _residual_power(x: np.ndarray, omega: float, centre: float, p: np.ndarray) -> float:
    from audioquant.dsp.sinefit import residual_power

    return float(residual_power(np.ascontiguousarray(x, dtype=np.float64), float(omega),
                                float(centre), float(p[0]), float(p[1]), float(p[2])))


def _fit_channel(x: np.ndarray, sample_rate: float, freq_hz: float, refine: bool) -> SineFit:
    """Least-squares sine fit of one channel, starting at ``freq_hz``."""
    n = x.size
    centre = 0.5 * (n - 1)
    omega0 = 2.0 * math.pi * freq_hz / sample_rate
    omega = omega0
    p = _fit_pass(x, omega, centre, None)
    if refine and n >= 8:
        best = (_residual_power(x, omega, centre, p), omega, p)
        bin_w = 2.0 * math.pi / n
        for _ in range(12):
            q = _fit_pass(x, omega, centre, (float(p[0]), float(p[1])))
            step = float(q[3]) if q.size == 4 else 0.0
            if not math.isfinite(step):
                break
            step = max(-0.5 * bin_w, min(0.5 * bin_w, step))
            cand = omega + step
            if abs(cand - omega0) > 2.0 * bin_w or not (0.0 < cand < math.pi):
                break  # wandered off: keep the best so far
            omega = cand
            p = _fit_pass(x, omega, centre, None)
            r = _residual_power(x, omega, centre, p)
            if r < best[0]:
                best = (r, omega, p)
            if abs(step) < 1e-10 * bin_w:
                break
        resid, omega, p = best
    else:
        resid = _residual_power(x, omega, centre, p)
    a, b, dc = float(p[0]), float(p[1]), float(p[2])
    # a*cos(w t) + b*sin(w t) = amp*cos(w t - atan2(b, a)),  t = n - centre
    phase = -math.atan2(b, a) - omega * centre
    phase = (phase + math.pi) % (2.0 * math.pi) - math.pi
    return SineFit(
        frequency_hz=omega * sample_rate / (2.0 * math.pi),
        amplitude=math.hypot(a, b),
        phase_rad=phase,
        offset=dc,
        sample_rate=sample_rate,
        residual_power=resid,
    )


def _check_freq(freq_hz: float, sample_rate: float) -> float:
    f = float(freq_hz)
    if not (0.0 < f < sample_rate / 2.0):
        raise ParameterError(
            f"freq_hz must be in (0, {sample_rate / 2:g}) Hz (below Nyquist), got {freq_hz:g}"
        )
    return f


def _fit_all(
    a: np.ndarray, sample_rate: float, freq_hz: float | None, refine: bool
) -> list[SineFit]:
    """Fit one common frequency to every channel.

    The frequency is estimated on all channels' summed spectra (or starts at ``freq_hz``),
    refined on the loudest channel (on at most the first 2**20 frames: 24 s at 44.1 kHz
    pins the frequency far below what any residual could show), then each channel gets
    its own amplitude, phase and offset at that frequency over the whole record.
    """
    chans = _channels(a)
    _check_frames(chans, 8)
    f0 = (
        _estimate_frequency(chans, sample_rate)
        if freq_hz is None
        else _check_freq(freq_hz, sample_rate)
    )
    f1 = f0
    if refine:
        head = chans[:, :_REFINE_FRAMES]
        first = [_fit_channel(ch, sample_rate, f0, False) for ch in head]
        loud = int(np.argmax([fit.amplitude for fit in first]))
        f1 = _fit_channel(head[loud], sample_rate, f0, True).frequency_hz
    return [_fit_channel(ch, sample_rate, f1, False) for ch in chans]


def sine_fit(
    x: np.ndarray, sample_rate: float, freq_hz: float | None = None, *, refine: bool = True
) -> SineFit:
    """Fit ``offset + amplitude*cos(2*pi*f*n/sample_rate + phase)`` by least squares.

    The frequency starts at ``freq_hz`` or, if None, at the strongest peak of a Hann-windowed
    FFT (log-parabolic interpolation), and is then refined by the IEEE 1057 4-parameter
    iteration (Gauss-Newton on frequency, at most 2 bins away from the start). Finding the
    frequency needs at least 2 cycles in the record (lower tones: pass ``freq_hz``).

    Parameters
    ----------
    x : np.ndarray [shape=(frames,)]
        Mono audio, full scale 1.0, at least 8 frames.
    sample_rate : float
        Sample rate, Hz.
    freq_hz : float or None
        Known or approximate frequency, Hz, in ``(0, sample_rate/2)``.
    refine : bool
        Refine the frequency (True) or fit at exactly the start frequency (3-parameter fit).

    Returns
    -------
    SineFit
        Frequency (Hz), amplitude (peak, full scale 1.0), phase (radians at sample 0),
        DC offset and the residual mean square.
    """
    a = _as_audio(x)
    if a.ndim != 1:
        raise ParameterError(f"x must be 1-D (one channel) for sine_fit, got shape {a.shape}")
    sr = _check_rate(sample_rate)
    return _fit_all(a, sr, freq_hz, refine)[0]


def notch(
    x: np.ndarray, sample_rate: float, freq_hz: float | None = None, *, refine: bool = True
) -> np.ndarray:
    """Remove the fundamental: ``x`` minus its least-squares sine and DC offset.

    An ideal notch: it takes out exactly one sinusoid (and DC, which the fit has to model),
    nothing of the noise around it but the two or three degrees of freedom of the fit.

    Parameters
    ----------
    x : np.ndarray [shape=(frames,) or (channels, frames)]
        Audio containing a sine, full scale 1.0.
    sample_rate : float
        Sample rate, Hz.
    freq_hz : float or None
        Frequency of the sine, Hz (a starting point when ``refine``); None to find it.
    refine : bool
        Refine the frequency by the 4-parameter fit.

    Returns
    -------
    np.ndarray [shape=x.shape, dtype=float64]
        The residual: noise plus distortion.
    """
    a = _as_audio(x)
    sr = _check_rate(sample_rate)
    fits = _fit_all(a, sr, freq_hz, refine)
    out = np.array(_channels(a), dtype=np.float64, copy=True)
    for ch, fit in zip(out, fits, strict=True):
        for s in range(0, ch.size, _CHUNK):
            e = min(s + _CHUNK, ch.size)
            ch[s:e] -= fit.render(e - s, s)
    return out.reshape(a.shape)


def sinad(
    x: np.ndarray,
    sample_rate: float,
    freq_hz: float | None = None,
    *,
    band_hz: tuple[float, float] | None = None,
) -> float:
    """Signal to noise-and-distortion ratio of a sine.

    The sine is fitted (:func:`sine_fit`) and removed; everything left except DC --
    noise, harmonics, spurs -- is the denominator.

    Parameters
    ----------
    x : np.ndarray [shape=(frames,) or (channels, frames)]
        A sine plus noise and distortion, full scale 1.0; channels are fitted separately
        (one common frequency) and pooled.
    sample_rate : float
        Sample rate, Hz.
    freq_hz : float or None
        Frequency of the sine, Hz (refined); None to find the strongest peak.
    band_hz : (float, float) or None
        Count noise only in this band (Hz, brick-wall in the FFT domain); None: the whole
        band 0..sample_rate/2 (what the 6.02 N + 1.76 dB rule assumes).

    Returns
    -------
    float
        ``10*log10(sine power / residual power)`` in dB; ``inf`` for a pure sine.
    """
    a = _as_audio(x)
    sr = _check_rate(sample_rate)
    fits = _fit_all(a, sr, freq_hz, True)
    signal = sum(f.signal_power for f in fits)
    if band_hz is None:
        noise = sum(f.residual_power for f in fits)
    else:
        resid = notch(a, sr, fits[0].frequency_hz, refine=False)
        noise = weighted_noise_power(resid, sr, None, band_hz=band_hz) * len(fits)
    return _ratio_db(signal, noise)


def thd_n(
    x: np.ndarray,
    sample_rate: float,
    freq_hz: float | None = None,
    *,
    band_hz: tuple[float, float] | None = None,
) -> float:
    """Total harmonic distortion plus noise of a sine, relative to the sine.

    Parameters
    ----------
    x, sample_rate, freq_hz, band_hz
        As for :func:`sinad`.

    Returns
    -------
    float
        ``10*log10(residual power / sine power)`` in dB, negative: ``-sinad(...)``.
    """
    return -sinad(x, sample_rate, freq_hz, band_hz=band_hz)


# --------------------------------------------------------------------------- weighting


def a_weighting(f: np.ndarray | float) -> np.ndarray:
    """A-weighting power gain (linear) at frequency ``f`` Hz, 1.0 (0 dB) at 1 kHz.

    The analytic formula of IEEE/IEC 61672-1 (pole frequencies 20.6, 107.7, 737.9 and
    12194 Hz), normalised exactly at 1 kHz (the standard's "+2.00 dB" constant rounded).
    Table values: -19.1 dB at 100 Hz, -2.5 dB at 10 kHz.

    Parameters
    ----------
    f : array_like
        Frequency, Hz (>= 0).

    Returns
    -------
    np.ndarray
        ``|R_A(f)|**2 / |R_A(1000)|**2``, power ratio; ``10*log10`` of it is the table in dB.
    """
    f = np.asarray(f, dtype=np.float64)

    def r2(f: np.ndarray) -> np.ndarray:
        f2 = f * f
        num = (12194.0**2) ** 2 * f2**4
        den = (f2 + 20.6**2) ** 2 * (f2 + 107.7**2) * (f2 + 737.9**2) * (f2 + 12194.0**2) ** 2
        return num / den

    return r2(f) / r2(np.float64(1000.0))


def itu468_weighting(f: np.ndarray | float) -> np.ndarray:
    """ITU-R BS.468-4 weighting power gain (linear) at ``f`` Hz, 1.0 (0 dB) at 1 kHz.

    The analytic approximation of the BS.468-4 curve given in the Wikipedia article
    "ITU-R 468 noise weighting" (polynomials h1(f), h2(f) and
    ``R(f) = 1.246332637532143e-4 * f / sqrt(h1**2 + h2**2)``), normalised *at 1 kHz*
    (the ITU-R 468 curve, +12.2 dB at 6.3 kHz) -- not the 2 kHz-normalised Dolby
    "CCIR/ARM" variant, which is this minus 5.6 dB. It agrees with the standard's table to
    about 0.1 dB over 31.5 Hz - 31.5 kHz. Only the filter: no quasi-peak detector (noise
    measured with it is an RMS, "ARM"-style reading with 1 kHz gain).

    Parameters
    ----------
    f : array_like
        Frequency, Hz (>= 0).

    Returns
    -------
    np.ndarray
        Power ratio; ``10*log10`` of it is the BS.468 table in dB.
    """
    from audioquant.dsp.design import itu468_power  # one formula, shared with the shaper designer

    return itu468_power(f)


def weighting_function(weighting: Weighting) -> Callable[[np.ndarray], np.ndarray]:
    """The power-gain function for ``None`` (flat), ``"A"``, ``"468"`` or a callable.

    Parameters
    ----------
    weighting : None, str or callable
        None (flat), ``"A"``, ``"468"`` (also ``"itu468"``, ``"itu-r 468"``, ``"ccir"``),
        or a function of frequency (Hz) returning power gain.

    Returns
    -------
    callable
        ``f (Hz) -> power gain``, vectorised.
    """
    if weighting is None:
        return lambda f: np.ones_like(np.asarray(f, dtype=np.float64))
    if callable(weighting):
        return weighting
    key = str(weighting).strip().lower().replace("_", "-")
    if key in ("a", "a-weighting", "dba"):
        return a_weighting
    if key in ("468", "itu468", "itu-468", "itu-r 468", "itu-r-468", "ccir", "bs468"):
        return itu468_weighting
    if key in ("none", "flat", "z", ""):
        return weighting_function(None)
    raise ParameterError(f"weighting must be None, 'A' or '468', got {weighting!r}")


def band_integral(
    freqs: np.ndarray, values: np.ndarray, lo_hz: np.ndarray | float, hi_hz: np.ndarray | float
) -> np.ndarray:
    """Trapezoid integral of a sampled curve over ``[lo_hz, hi_hz]`` (edges interpolated).

    Use it to predict band powers of shaped noise: white noise of mean square ``p`` shaped
    by ``|H(f)|**2`` has ``p * band_integral(f, H2, lo, hi) / (sample_rate / 2)`` in a band.

    Parameters
    ----------
    freqs : np.ndarray [shape=(n,)]
        Increasing frequencies, Hz.
    values : np.ndarray [shape=(n,)]
        The curve at ``freqs`` (e.g. a power spectral density, or ``|H|**2``).
    lo_hz, hi_hz : float or np.ndarray
        Band edges, Hz (broadcast together); clipped to the range of ``freqs``.

    Returns
    -------
    np.ndarray
        The integral per band (units of ``values`` x Hz).
    """
    fr = np.asarray(freqs, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if fr.ndim != 1 or fr.shape != v.shape or fr.size < 2:
        raise ParameterError(
            f"freqs and values must be 1-D of equal length >= 2, got {fr.shape} and {v.shape}"
        )
    if np.any(np.diff(fr) <= 0):
        raise ParameterError("freqs must be strictly increasing")
    # cumulative trapezoid, then interpolate it at the edges (exact for piecewise linear)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * np.diff(fr))])
    lo, hi = np.broadcast_arrays(
        np.clip(np.asarray(lo_hz, dtype=np.float64), fr[0], fr[-1]),
        np.clip(np.asarray(hi_hz, dtype=np.float64), fr[0], fr[-1]),
    )

    def at(edge: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(fr, edge, side="right") - 1, 0, fr.size - 2)
        d = edge - fr[i]
        slope = (v[i + 1] - v[i]) / (fr[i + 1] - fr[i])
        return cum[i] + d * (v[i] + 0.5 * slope * d)

    return np.maximum(at(hi) - at(lo), 0.0)


def weighted_gain_db(
    ntf_power: np.ndarray | Callable[[np.ndarray], np.ndarray],
    freqs: np.ndarray,
    weighting: Weighting,
    band: tuple[float, float] = AUDIO_BAND_HZ,
) -> float:
    """How a noise spectrum shape changes weighted noise, relative to flat (white) noise.

    ``10*log10( integral W(f)*|H(f)|**2 df / integral W(f) df )`` over ``band``: the change
    in weighted noise power when white noise is shaped by a noise transfer function ``H``
    (both with the same white input power). Negative means the shaper makes the weighted
    noise smaller.

    A function is integrated by the rule of the one definition of a shaper's figure,
    :func:`audioquant.dsp.design.weighted_gain_db` (composite Simpson,
    :func:`audioquant.dsp.design.band_gain_db`), over ``band`` within ``freqs``' range;
    sampled values are integrated as the piecewise-linear curve through them
    (:func:`band_integral`), so the answer is only as fine as ``freqs``.

    Parameters
    ----------
    ntf_power : np.ndarray [shape=(n,)] or callable
        ``|H(f)|**2`` (power gain, linear) at ``freqs``, or a function of frequency in Hz.
    freqs : np.ndarray [shape=(n,)]
        Increasing frequencies, Hz, covering the band finely (e.g. 1 Hz steps); for a
        function only the first and last matter (they clip ``band``).
    weighting : None, "A", "468" or callable
        The weighting (see :func:`weighting_function`).
    band : (float, float)
        Integration band, Hz.

    Returns
    -------
    float
        Gain in dB.
    """
    fr = np.asarray(freqs, dtype=np.float64)
    weight = weighting_function(weighting)
    lo, hi = float(band[0]), float(band[1])
    if not (0.0 <= lo < hi):
        raise ParameterError(f"band must satisfy 0 <= low < high Hz, got {band}")
    if callable(ntf_power):
        from audioquant.dsp.design import band_gain_db

        if fr.ndim != 1 or fr.size < 2:
            raise ParameterError(f"freqs must be 1-D of length >= 2, got {fr.shape}")
        lo, hi = max(lo, float(fr[0])), min(hi, float(fr[-1]))
        if not lo < hi:
            raise ParameterError(f"band {band} Hz lies outside freqs {fr[0]:g}..{fr[-1]:g} Hz")
        return band_gain_db(ntf_power, weight, (lo, hi))
    h2 = np.asarray(ntf_power, dtype=np.float64)
    w = weight(fr)
    shaped = float(band_integral(fr, w * h2, lo, hi))
    flat = float(band_integral(fr, w, lo, hi))
    return _ratio_db(shaped, flat)


# --------------------------------------------------------------------------- spectra


def power_spectrum(
    x: np.ndarray, sample_rate: float, *, segment: int = _SEGMENT
) -> tuple[np.ndarray, np.ndarray]:
    """Averaged power spectrum (Welch: Hann window, 50 % overlap), power per bin.

    Scaled so that the bins sum to the mean square of ``x`` (full scale 1.0, channels
    averaged): summing the bins of a band gives that band's mean-square power. The Hann
    window keeps leakage from loud bands out of quiet ones (sidelobes fall 18 dB/octave),
    which matters for steeply shaped noise.

    Parameters
    ----------
    x : np.ndarray [shape=(frames,) or (channels, frames)]
        Audio, full scale 1.0.
    sample_rate : float
        Sample rate, Hz.
    segment : int
        Segment length in samples (shorter signals use one segment of their own length);
        bin spacing is ``sample_rate / segment`` Hz.

    Returns
    -------
    freqs : np.ndarray [shape=(segment//2 + 1,)]
        Bin frequencies, Hz.
    power : np.ndarray [shape=(segment//2 + 1,)]
        Mean-square power per bin (one-sided).
    """
    a = _channels(_as_audio(x))
    sr = _check_rate(sample_rate)
    _check_frames(a, 2)
    n = a.shape[-1]
    seg = int(min(n, max(2, int(segment))))
    hop = max(1, seg // 2)
    win = np.hanning(seg + 1)[:-1] if seg > 2 else np.ones(seg)  # periodic Hann
    norm = seg * float(np.sum(win * win))
    starts = np.arange(0, n - seg + 1, hop)
    acc = np.zeros(seg // 2 + 1)
    count = 0
    batch = max(1, (1 << 21) // seg)
    for ch in a:
        for b in range(0, starts.size, batch):
            idx = starts[b : b + batch]
            frames = np.stack([ch[s : s + seg] for s in idx]) * win
            acc += np.sum(np.abs(np.fft.rfft(frames, axis=-1)) ** 2, axis=0)
            count += idx.size
    power = acc / (norm * count)
    power[1 : (seg + 1) // 2] *= 2.0  # one-sided: fold negative frequencies (not DC/Nyquist)
    return np.fft.rfftfreq(seg, 1.0 / sr), power


def _band_limits(sample_rate: float, band_hz: tuple[float, float] | None) -> tuple[float, float]:
    if band_hz is None:
        return 0.0, sample_rate / 2.0
    lo, hi = float(band_hz[0]), float(band_hz[1])
    if not (0.0 <= lo < hi):
        raise ParameterError(f"band_hz must satisfy 0 <= low < high Hz, got {band_hz}")
    return lo, min(hi, sample_rate / 2.0)


def weighted_noise_power(
    x: np.ndarray,
    sample_rate: float,
    weighting: Weighting = None,
    *,
    band_hz: tuple[float, float] | None = AUDIO_BAND_HZ,
) -> float:
    """Mean-square power of ``x`` in a band (brick-wall), optionally weighted.

    Parameters
    ----------
    x : np.ndarray [shape=(frames,) or (channels, frames)]
        Noise (e.g. an error signal or a notch residual), full scale 1.0; channels averaged.
    sample_rate : float
        Sample rate, Hz.
    weighting : None, "A", "468" or callable
        Power-gain weighting (see :func:`weighting_function`).
    band_hz : (float, float) or None
        Band in Hz, clipped to Nyquist; None for 0..sample_rate/2.

    Returns
    -------
    float
        Mean square (full scale 1.0: a full-scale sine is 0.5);
        ``10*log10(p / 0.5)`` is its level in dBFS.
    """
    sr = _check_rate(sample_rate)
    lo, hi = _band_limits(sr, band_hz)
    freqs, power = power_spectrum(x, sr)
    sel = (freqs >= lo) & (freqs <= hi)
    w = weighting_function(weighting)(freqs[sel])
    return float(np.sum(power[sel] * w))


def third_octave_bands(
    sample_rate: float, *, fmin_hz: float = 20.0, fmax_hz: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Base-10 third-octave bands (IEC 61260): centres ``1000 * 10**(k/10)`` Hz.

    Parameters
    ----------
    sample_rate : float
        Sample rate, Hz; bands end below Nyquist.
    fmin_hz : float
        Lowest centre frequency, Hz, nominal: 20 gives the band centred on 19.95 Hz.
    fmax_hz : float or None
        Highest centre frequency, Hz, nominal; None: every band whose upper edge is at or
        below Nyquist.

    Returns
    -------
    centres, lo, hi : np.ndarray
        Exact centre frequencies and band edges (``centre * 10**(-/+1/20)``), Hz.
    """
    sr = _check_rate(sample_rate)
    nyq = sr / 2.0
    # fmin/fmax are nominal names (20, 31.5, 12500 Hz): allow the ~2 % they differ by.
    kmin = math.ceil(10.0 * math.log10(max(fmin_hz, 1e-3) / 1000.0) - 0.1)
    kmax = math.floor(10.0 * math.log10(nyq / 1000.0) - 0.5)
    if fmax_hz is not None:
        kmax = min(kmax, math.floor(10.0 * math.log10(fmax_hz / 1000.0) + 0.1))
    k = np.arange(kmin, kmax + 1, dtype=np.float64)
    centres = 1000.0 * 10.0 ** (k / 10.0)
    lo = centres * 10.0 ** (-1.0 / 20.0)
    hi = centres * 10.0 ** (1.0 / 20.0)
    keep = hi <= nyq
    return centres[keep], lo[keep], hi[keep]


def band_power(
    x: np.ndarray,
    sample_rate: float,
    lo_hz: np.ndarray | float,
    hi_hz: np.ndarray | float,
    *,
    segment: int = _SEGMENT,
) -> np.ndarray:
    """Mean-square power of ``x`` in each band ``[lo_hz, hi_hz)`` (Welch spectrum, Hann).

    Bins are split at the edges pro rata (a bin spans ``f +- df/2``), so bands that share
    an edge add up exactly.

    Parameters
    ----------
    x : np.ndarray [shape=(frames,) or (channels, frames)]
        Audio, full scale 1.0; channels averaged.
    sample_rate : float
        Sample rate, Hz.
    lo_hz, hi_hz : float or np.ndarray
        Band edges, Hz.
    segment : int
        Welch segment length, samples (frequency resolution ``sample_rate/segment``).

    Returns
    -------
    np.ndarray
        Mean square per band (full scale 1.0).
    """
    freqs, power = power_spectrum(x, sample_rate, segment=segment)
    df = freqs[1] - freqs[0]
    left = np.maximum(freqs - df / 2.0, 0.0)
    right = np.minimum(freqs + df / 2.0, freqs[-1])
    right[0] = df / 2.0
    width = right - left
    lo, hi = np.broadcast_arrays(
        np.asarray(lo_hz, dtype=np.float64), np.asarray(hi_hz, dtype=np.float64)
    )
    out = np.empty(lo.shape)
    for i in np.ndindex(lo.shape):
        overlap = np.clip(np.minimum(right, hi[i]) - np.maximum(left, lo[i]), 0.0, None)
        out[i] = float(np.sum(power * overlap / np.where(width > 0, width, 1.0)))
    return out


def band_power_third_octaves(
    x: np.ndarray, sample_rate: float, *, fmin_hz: float = 20.0, fmax_hz: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean-square power of ``x`` per third-octave band.

    Parameters
    ----------
    x : np.ndarray [shape=(frames,) or (channels, frames)]
        Audio or an error signal, full scale 1.0; channels averaged.
    sample_rate : float
        Sample rate, Hz.
    fmin_hz, fmax_hz : float
        Centre-frequency range, Hz (see :func:`third_octave_bands`).

    Returns
    -------
    centres : np.ndarray
        Band centre frequencies, Hz.
    power : np.ndarray
        Mean square per band; ``10*log10(power / 0.5)`` in dBFS.
    """
    centres, lo, hi = third_octave_bands(sample_rate, fmin_hz=fmin_hz, fmax_hz=fmax_hz)
    return centres, band_power(x, sample_rate, lo, hi)


# --------------------------------------------------------------------------- AES17


def dynamic_range(
    x: np.ndarray,
    sample_rate: float,
    weighting: Weighting = None,
    *,
    freq_hz: float | None = None,
    band_hz: tuple[float, float] | None = AUDIO_BAND_HZ,
) -> float:
    """Dynamic range per AES17, relative to a full-scale sine.

    Feed it the system's output for a -60 dBFS 997 Hz tone. The tone is notched out (an
    ideal notch: :func:`notch`), the rest -- noise and distortion -- is measured in
    ``band_hz`` (brick-wall, 20 Hz - 20 kHz by default), optionally weighted, and
    ``DR = 10*log10(0.5 / noise_power)``. An ideal 16-bit TPDF-dithered channel at 44.1 kHz
    gives 93.75 dB unweighted and 95.8 dB(A).

    Parameters
    ----------
    x : np.ndarray [shape=(frames,) or (channels, frames)]
        The recorded -60 dBFS tone, full scale 1.0; noise power averaged over channels.
    sample_rate : float
        Sample rate, Hz.
    weighting : None, "A", "468" or callable
        None for unweighted, ``"A"`` for dB(A), ``"468"`` for ITU-R 468 (RMS reading).
    freq_hz : float or None
        Tone frequency, Hz (a starting point, refined by the fit); None to find the
        strongest peak.
    band_hz : (float, float) or None
        Measurement band, Hz (clipped to Nyquist); None for the whole band.

    Returns
    -------
    float
        Dynamic range in dB (``inf`` if nothing is left after the notch).
    """
    a = _as_audio(x)
    sr = _check_rate(sample_rate)
    resid = notch(a, sr, freq_hz)
    noise = weighted_noise_power(resid, sr, weighting, band_hz=band_hz)
    return _ratio_db(FULL_SCALE_SINE_POWER, noise)


# --------------------------------------------------------------------------- summary


def summary(
    audio: np.ndarray, sample_rate: float, reference: np.ndarray | None = None
) -> dict[str, float | int | str]:
    """The numbers ``audioquant analyze`` prints, from a whole array.

    The same computation as the streaming analyzer
    (:class:`audioquant.analysis_stream.StreamAnalyzer`, which ``analyze`` feeds block by
    block): the exact figures (peak, RMS, DC, SNR) are bit-for-bit those of a file holding
    ``audio``; the spectral ones come from a Welch spectrum (65536-sample Hann segments)
    with the tone and DC notched out in the spectrum.

    Parameters
    ----------
    audio : np.ndarray [shape=(frames,) or (channels, frames)]
        Audio, full scale 1.0.
    sample_rate : float
        Sample rate, Hz.
    reference : np.ndarray or None
        Same shape as ``audio``; adds ``snr_db``.

    Returns
    -------
    dict
        Plain Python numbers (and two strings), always present:

        - ``sample_rate_hz`` (float), ``channels`` (int), ``frames`` (int), ``duration_s``;
        - ``peak_dbfs``: sample peak, dBFS;
        - ``rms_dbfs_aes17``: RMS relative to a full-scale sine (AES17: a full-scale sine
          reads 0 dBFS); ``rms_dbfs_square``: relative to a full-scale square (SoX's and
          FFmpeg's convention), 3.01 dB lower;
        - ``dc_offset``: mean sample value of the channel whose mean is largest, full
          scale 1.0.

        Digital silence (every sample 0): ``noise_floor_dbfs`` = -inf and
        ``noise_floor_of`` = "digital silence". When a dominant sine is found (on the first
        2**19 frames it carries >= 90 % of the power, SINAD >= 10 dB, and >= 90 % of the
        whole file's): ``frequency_hz``, ``tone_dbfs`` (its level), ``sinad_db`` and
        ``thd_n_db`` (unweighted, 0 Hz - Nyquist, DC excluded), ``noise_floor_dbfs``
        (the notched tone's residual, same band; ``noise_floor_of`` = "notched tone
        residual"), ``noise_a_dbfs`` and ``noise_468_dbfs`` (that residual A- and
        ITU-R 468-weighted, 20 Hz - 20 kHz), ``enob_full_scale_bits`` (IEEE 1241, corrected
        to a full-scale tone: ``(SINAD - tone_dbfs - 1.76) / 6.02``) and, for a tone within
        1 dB of full scale, ``enob_bits`` (``(SINAD - 1.76) / 6.02``); for a tone at -70 ..
        -50 dBFS (AES17's -60 dBFS test signal) ``dynamic_range_db`` and
        ``dynamic_range_a_db`` (AES17, 20 Hz - 20 kHz, unweighted and A). With no dominant
        sine: ``level_a_dbfs`` and ``level_468_dbfs``, the whole signal weighted (20 Hz -
        20 kHz), and no noise floor. With a reference: ``snr_db``. Values may be
        ``inf``/``-inf`` (silence, identical files); JSON writers must decide how to spell
        those.
    """
    from audioquant.analysis_stream import StreamAnalyzer

    a = _as_audio(audio, "audio")
    _check_rate(sample_rate)
    chans = _channels(a)
    ref = None
    if reference is not None:
        ref = _as_audio(reference, "reference")
        if ref.shape != a.shape:
            raise ParameterError(
                f"reference must have the shape of audio {a.shape}, got {ref.shape}")
        ref = _channels(ref)
    analyzer = StreamAnalyzer(sample_rate, chans.shape[0], reference=ref is not None,
                              mono=a.ndim == 1)
    analyzer.add(chans, ref)
    return analyzer.result()


#: (key, label, unit) in print order; a label names the figure's convention and weighting.
_LABELS: list[tuple[str, str, str]] = [
    ("peak_dbfs", "peak (sample)", "dBFS"),
    ("rms_dbfs_aes17", "RMS (re FS sine, AES17)", "dBFS"),
    ("rms_dbfs_square", "RMS (re FS square, SoX)", "dBFS"),
    ("dc_offset", "DC offset (largest ch)", "FS"),
    ("frequency_hz", "tone frequency", "Hz"),
    ("tone_dbfs", "tone level", "dBFS"),
    ("sinad_db", "SINAD (unweighted)", "dB"),
    ("thd_n_db", "THD+N (unweighted)", "dB"),
    ("noise_floor_dbfs", "noise floor", "dBFS"),
    ("noise_a_dbfs", "noise, A-weighted", "dBFS(A)"),
    ("noise_468_dbfs", "noise, ITU-R 468", "dBFS"),
    ("level_a_dbfs", "level, A-weighted", "dBFS(A)"),
    ("level_468_dbfs", "level, ITU-R 468", "dBFS"),
    ("enob_bits", "ENOB", "bits"),
    ("enob_full_scale_bits", "ENOB re full scale", "bits"),
    ("dynamic_range_db", "dynamic range (AES17)", "dB"),
    ("dynamic_range_a_db", "dynamic range (AES17)", "dB(A)"),
    ("snr_db", "SNR vs reference", "dB"),
]

#: What the notes after a figure say (key -> note); band and convention, once each.
_NOTES: dict[str, str] = {
    "sinad_db": "0 Hz - Nyquist",
    "noise_a_dbfs": "20 Hz - 20 kHz",
    "noise_468_dbfs": "20 Hz - 20 kHz",
    "level_a_dbfs": "whole signal, 20 Hz - 20 kHz",
    "level_468_dbfs": "whole signal, 20 Hz - 20 kHz",
    "enob_full_scale_bits": "IEEE 1241, corrected to a full-scale tone",
    "dynamic_range_db": "20 Hz - 20 kHz, unweighted",
    "dynamic_range_a_db": "20 Hz - 20 kHz",
}


def _number(v: float, key: str) -> str:
    if not math.isfinite(v):
        return "-inf" if v < 0 else "inf"
    return f"{v:.2e}" if key == "dc_offset" and v != 0.0 else f"{v:.2f}"


def format_summary(d: dict[str, float | int | str]) -> str:
    """Format a :func:`summary` dict for people, one quantity per line.

    Parameters
    ----------
    d : dict
        As returned by :func:`summary` (unknown keys are ignored, missing ones skipped).

    Returns
    -------
    str
        Lines such as ``SINAD (unweighted)         98.09 dB   0 Hz - Nyquist`` (no
        trailing newline); the noise floor line says what it is the floor of.
    """
    lines = []
    if "sample_rate_hz" in d:
        lines.append(
            f"{'format':<26}{int(d.get('channels', 1))} ch, {d['sample_rate_hz']:g} Hz, "
            f"{int(d.get('frames', 0))} frames ({float(d.get('duration_s', 0.0)):.3f} s)"
        )
    notes = dict(_NOTES)
    if "noise_floor_of" in d:
        notes["noise_floor_dbfs"] = str(d["noise_floor_of"]) + (
            ", 0 Hz - Nyquist" if d["noise_floor_of"] != "digital silence" else "")
    for key, label, unit in _LABELS:
        if key in d:
            line = f"{label:<26}{_number(float(d[key]), key):>9} {unit}"
            if key in notes:
                line = f"{line:<45}{notes[key]}"
            lines.append(line.rstrip())
    return "\n".join(lines)
