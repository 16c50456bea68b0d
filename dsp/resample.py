"""Band-limited polyphase resampling and sample-and-hold rate reduction (numba kernels).

Resampling by a rational factor ``L / M`` (the two rates divided by their gcd) is a
Kaiser-windowed-sinc FIR evaluated only where an output sample falls. Time is measured in
input samples: output ``n`` sits at input time ``t_n = n * M / L``. Writing
``n * M = q * L + p`` (``0 <= p < L``), output ``n`` is::

    y[n] = sum_{i=0}^{K-1} coefs[p, i] * x[q - H + 1 + i]          (K = 2 * H taps)

with ``coefs[p, i] = h(p / L + H - 1 - i)`` and ``h(d) = 2c sinc(2c d) w(d / H)``, ``w`` the
Kaiser window on ``[-1, 1]``. Every phase (row) is normalised to sum to exactly 1, so DC
passes with gain 1 whatever the ratio. The filter is zero-phase around ``t_n``: output
``n`` is aligned with input time ``n * M / L`` (the driver adds the delay a stream needs).

When ``L * K`` coefficients would not fit a table (rates whose gcd is small, such as
44101 -> 48000), the kernel computes the row for each output on the fly with the same
function (:func:`_kaiser_sinc_row`), so both paths give identical numbers.

What :class:`audioquant.sampling.Resample` runs is the same filter idea in two stages, the
structure of libsoxr (:func:`design_two_stage`): stage 1, a sharp linear-phase
Kaiser-windowed-sinc FIR with the preset's band edges, zero-stuffed by ``U`` (2 when
upsampling) and decimated by ``D``, applied by FFT overlap-save on a fixed grid of frames of
the stream (frame ``k`` covers fixed absolute input indices, so its numbers never depend on
where a caller cut the blocks); stage 2, the polyphase kernel above from ``F1 = fs U / D`` to
the output rate with a stopband that starts only at ``F1 - f_stop`` (the first image of what
stage 1 lets through), so 24 taps do where one stage needs 400-530. The FFT is numpy's
(pocketfft; a frame's numbers are the same whether it is transformed alone or in a batch).

Sample-and-hold (no filter): output ``n`` at the input rate ``fs`` falls in hold interval
``k = floor(n * r / fs)`` (interval ``k`` spans ``[k / r, (k + 1) / r)`` seconds) and holds
``x[floor(k * fs / r)]``, the input sample current at the interval's start. At the reduced
rate the output is ``y[k] = x[floor(k * fs / r)]``. Integer arithmetic throughout.

Kernels are ``@numba.njit(cache=True)`` without ``fastmath``: sums run in a fixed order, so
output is bit-exact whatever the block size. The one-channel kernels are ``nogil`` so the
channels of a stream can run in parallel threads. Only numpy and numba are imported here.
"""

from __future__ import annotations

import math

import numpy as np

from . import import_numba

numba = import_numba()

__all__ = [
    "FFTWorkspace",
    "KaiserDesign",
    "PolyphaseScratch",
    "TwoStageDesign",
    "design_kaiser",
    "design_two_stage",
    "fft_stage",
    "kaiser_sinc_fir",
    "kaiser_sinc_table",
    "polyphase_channel",
    "polyphase_resample",
    "reduced_ratio",
    "sample_hold",
    "sample_hold_reduced",
]

#: Largest coefficient table (rows x taps) kept in memory; above it rows are computed per
#: output sample (slower, same numbers).
MAX_TABLE_COEFFICIENTS = 1 << 22


# --------------------------------------------------------------------------------------
# filter design (plain Python; the coefficient rows come from the numba kernel below)
# --------------------------------------------------------------------------------------


class KaiserDesign:
    """A Kaiser-windowed-sinc prototype for resampling by ``L / M``.

    Attributes
    ----------
    up, down : int
        ``L`` and ``M`` (coprime).
    cutoff : float
        ``c``: -6 dB frequency of ``h`` in cycles per input sample.
    half_taps : int
        ``H``: taps per phase are ``2 H`` (a multiple of 8).
    beta : float
        Kaiser window shape.
    """

    __slots__ = ("up", "down", "cutoff", "half_taps", "beta")

    def __init__(self, up: int, down: int, cutoff: float, half_taps: int, beta: float) -> None:
        self.up = up
        self.down = down
        self.cutoff = cutoff
        self.half_taps = half_taps
        self.beta = beta

    @property
    def taps(self) -> int:
        """Taps per output sample (``2 H``)."""
        return 2 * self.half_taps

    def __repr__(self) -> str:
        return (
            f"KaiserDesign(up={self.up}, down={self.down}, cutoff={self.cutoff!r}, "
            f"half_taps={self.half_taps}, beta={self.beta!r})"
        )


def reduced_ratio(in_rate: int, out_rate: int) -> tuple[int, int]:
    """Return ``(L, M)`` with ``L / M == out_rate / in_rate`` in lowest terms."""
    g = math.gcd(in_rate, out_rate)
    return out_rate // g, in_rate // g


def kaiser_beta(attenuation_db: float) -> float:
    """Kaiser's beta for a stopband attenuation in dB (Kaiser 1974 / Oppenheim & Schafer)."""
    a = attenuation_db
    if a > 50.0:
        return 0.1102 * (a - 8.7)
    if a >= 21.0:
        return 0.5842 * (a - 21.0) ** 0.4 + 0.07886 * (a - 21.0)
    return 0.0


def design_kaiser(
    up: int, down: int, passband: float, stopband: float, attenuation_db: float
) -> KaiserDesign:
    """Design the prototype for ``L / M = up / down``.

    Parameters
    ----------
    up, down : int
        Coprime ``L`` and ``M``.
    passband, stopband : float
        Band edges as fractions of the lower of the two Nyquist frequencies
        (e.g. 0.91 and 1.0).
    attenuation_db : float
        Design stopband attenuation (and passband ripple ``10**(-A/20)``).
    """
    scale = 0.5 * min(1.0, up / down)  # lower Nyquist in cycles per input sample
    f_pass = passband * scale
    f_stop = stopband * scale
    width = f_stop - f_pass
    taps = (attenuation_db - 7.95) / (14.36 * width) + 1.0  # Kaiser's length estimate
    half = int(math.ceil(taps / 2.0))
    half = max(4, (half + 3) // 4 * 4)
    return KaiserDesign(up, down, 0.5 * (f_pass + f_stop), half, kaiser_beta(attenuation_db))


# --------------------------------------------------------------------------------------
# coefficient kernels
# --------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _bessel_i0(x: float) -> float:
    """Modified Bessel function I0 by its power series (x <= ~40: 60 terms suffice)."""
    y = 0.25 * x * x
    term = 1.0
    total = 1.0
    k = 1.0
    while True:
        term *= y / (k * k)
        total += term
        if term < total * 1e-17:
            break
        k += 1.0
    return total


@numba.njit(cache=True)
def _kaiser_sinc_row(
    phase: int, up: int, half: int, cutoff: float, beta: float, inv_i0_beta: float, row
) -> None:
    """Fill ``row`` (2 * half taps) with the normalised coefficients of ``phase``."""
    taps = 2 * half
    frac = phase / up
    total = 0.0
    two_c = 2.0 * cutoff
    for i in range(taps):
        d = frac + (half - 1 - i)  # time from tap to output, input samples
        u = d / half
        arg = 1.0 - u * u
        if arg < 0.0:
            arg = 0.0
        w = _bessel_i0(beta * math.sqrt(arg)) * inv_i0_beta
        z = two_c * d
        if z == 0.0:
            s = two_c
        else:
            s = math.sin(math.pi * z) / (math.pi * d)
        v = s * w
        row[i] = v
        total += v
    inv = 1.0 / total
    for i in range(taps):
        row[i] *= inv


@numba.njit(cache=True)
def _fill_table(up: int, half: int, cutoff: float, beta: float, table) -> None:
    inv = 1.0 / _bessel_i0(beta)
    for p in range(up):
        _kaiser_sinc_row(p, up, half, cutoff, beta, inv, table[p])


def kaiser_sinc_table(design: KaiserDesign) -> np.ndarray:
    """All ``L`` coefficient rows, shape ``(L, 2 H)``, each summing to 1."""
    table = np.empty((design.up, design.taps))
    _fill_table(design.up, design.half_taps, design.cutoff, design.beta, table)
    return table


# --------------------------------------------------------------------------------------
# the resampling kernel
# --------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _dot(coefs, x, start: int, taps: int) -> float:
    """Fixed-order dot product with 8 interleaved partial sums (vectorisable, exact order)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    s5 = 0.0
    s6 = 0.0
    s7 = 0.0
    xs = x[start : start + taps]
    for b in range(taps // 8):
        i = 8 * b
        s0 += coefs[i] * xs[i]
        s1 += coefs[i + 1] * xs[i + 1]
        s2 += coefs[i + 2] * xs[i + 2]
        s3 += coefs[i + 3] * xs[i + 3]
        s4 += coefs[i + 4] * xs[i + 4]
        s5 += coefs[i + 5] * xs[i + 5]
        s6 += coefs[i + 6] * xs[i + 6]
        s7 += coefs[i + 7] * xs[i + 7]
    return ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7))


@numba.njit(cache=True)
def _polyphase_table(
    buf, buf_start: int, q0: int, p0: int, count: int, up: int, down: int, half: int, table, out
) -> None:
    channels = buf.shape[0]
    taps = 2 * half
    q_step = down // up
    p_step = down % up
    for c in range(channels):
        x = buf[c]
        o = out[c]
        q = q0
        p = p0
        for n in range(count):
            o[n] = _dot(table[p], x, q - half + 1 - buf_start, taps)
            q += q_step
            p += p_step
            if p >= up:
                p -= up
                q += 1


@numba.njit(cache=True)
def _polyphase_direct(
    buf,
    buf_start: int,
    q0: int,
    p0: int,
    count: int,
    up: int,
    down: int,
    half: int,
    cutoff: float,
    beta: float,
    out,
) -> None:
    channels = buf.shape[0]
    taps = 2 * half
    q_step = down // up
    p_step = down % up
    inv = 1.0 / _bessel_i0(beta)
    row = np.empty(taps)
    q = q0
    p = p0
    for n in range(count):
        _kaiser_sinc_row(p, up, half, cutoff, beta, inv, row)
        start = q - half + 1 - buf_start
        for c in range(channels):
            out[c, n] = _dot(row, buf[c], start, taps)
        q += q_step
        p += p_step
        if p >= up:
            p -= up
            q += 1


def polyphase_resample(
    buf: np.ndarray,
    buf_start: int,
    first_output: int,
    count: int,
    design: KaiserDesign,
    table: np.ndarray | None,
) -> np.ndarray:
    """Compute ``count`` outputs starting at output index ``first_output``.

    Parameters
    ----------
    buf : np.ndarray [shape=(channels, frames), float64, C-contiguous]
        Input samples; ``buf[:, 0]`` is input index ``buf_start``. It must cover input
        indices ``q - H + 1 .. q + H`` for every output computed.
    buf_start : int
        Absolute input index of ``buf[:, 0]`` (may be negative: zero history).
    first_output : int
        Absolute output index ``n`` of the first output (may be negative).
    count : int
        Number of outputs.
    design : KaiserDesign
    table : np.ndarray or None
        ``kaiser_sinc_table(design)``, or None to compute rows per output.

    Returns
    -------
    np.ndarray [shape=(channels, count), float64]
    """
    up, down, half = design.up, design.down, design.half_taps
    q0, p0 = divmod(first_output * down, up)
    out = np.empty((buf.shape[0], count))
    if count == 0:
        return out
    lo = q0 - half + 1 - buf_start
    last_q = ((first_output + count - 1) * down) // up
    hi = last_q + half - buf_start
    if lo < 0 or hi >= buf.shape[1]:
        raise ValueError("buffer does not cover the taps of the requested outputs")
    if table is not None:
        _polyphase_table(buf, buf_start, q0, p0, count, up, down, half, table, out)
    else:
        _polyphase_direct(
            buf, buf_start, q0, p0, count, up, down, half, design.cutoff, design.beta, out
        )
    return out


# --------------------------------------------------------------------------------------
# two stages: a sharp FIR by FFT overlap-save on a fixed frame grid, then a short
# polyphase stage with a wide transition band (the structure of libsoxr)
# --------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _kaiser_sinc_fir(half: int, cutoff: float, beta: float, out) -> None:
    """``out[j] = 2c sinc(2c d) w(d / half)`` for ``d = j - half``, ``j = 0 .. 2 half``."""
    inv = 1.0 / _bessel_i0(beta)
    two_c = 2.0 * cutoff
    for j in range(2 * half + 1):
        d = float(j - half)
        u = d / half
        arg = 1.0 - u * u
        if arg < 0.0:
            arg = 0.0
        w = _bessel_i0(beta * math.sqrt(arg)) * inv
        if d == 0.0:
            s = two_c
        else:
            s = math.sin(math.pi * two_c * d) / (math.pi * d)
        out[j] = s * w


def kaiser_sinc_fir(half: int, cutoff: float, beta: float, branches: int = 1) -> np.ndarray:
    """Symmetric Kaiser-windowed-sinc FIR of ``2 half + 1`` taps, centre tap ``half``.

    Each of the ``branches`` polyphase branches (taps ``j = r (mod branches)``) is scaled
    to sum to exactly 1, so an input zero-stuffed by ``branches`` passes DC with gain 1.
    """
    h = np.empty(2 * half + 1)
    _kaiser_sinc_fir(half, cutoff, beta, h)
    for r in range(branches):
        h[r::branches] /= h[r::branches].sum()
    return h


class TwoStageDesign:
    """Rate conversion by ``L / M`` in two stages, for ``in_rate`` -> ``out_rate``.

    Stage 1 zero-stuffs the input by ``U`` (``pre_up``, 1 or 2), filters it with the sharp
    FIR ``fir`` (``2 c + 1`` taps at rate ``in_rate * U``, zero phase: centre tap ``c``)
    and keeps every ``D``-th sample (``pre_down``): ``z[m]``, at rate
    ``F1 = in_rate * U / D``, sits at input time ``m * D / U``. It is computed by FFT
    overlap-save on a fixed grid of frames: frame ``k`` makes ``z[k B .. k B + B - 1]``
    from input samples ``a_k .. a_k + W - 1`` with ``a_k = k P - c / U`` (``B`` =
    ``frame``, ``P = B D / U`` = ``hop``, ``W = N / U`` = ``window``, ``N`` = ``fft_size``).
    A frame is a pure function of those samples, so output never depends on how the
    caller cuts the stream.

    Stage 2 resamples ``z`` by ``L2 / M2 = out_rate / F1`` with the polyphase Kaiser filter
    ``stage2`` (``None`` when ``F1`` is already the output rate). Its passband is stage 1's
    and its stopband starts at ``F1 - f_stop``, where the first image of what stage 1 lets
    through begins: a transition band many times wider than stage 1's, so few taps.
    """

    __slots__ = (
        "up", "down", "pre_up", "pre_down", "half1", "fir", "fft_size", "frame", "hop",
        "window", "lead", "spectrum", "stage2", "table2",
    )

    def __init__(self, up, down, pre_up, pre_down, half1, fir, fft_size, stage2, table2):
        self.up = up
        self.down = down
        self.pre_up = pre_up
        self.pre_down = pre_down
        self.half1 = half1
        self.fir = fir
        self.fft_size = fft_size
        taps1 = 2 * half1 + 1
        frame = (fft_size - taps1) // pre_down + 1
        if pre_up > 1:
            frame -= frame % pre_up
        self.frame = frame
        self.hop = frame * pre_down // pre_up
        self.window = fft_size // pre_up
        self.lead = half1 // pre_up
        spectrum = np.fft.rfft(fir, fft_size)
        if pre_down > 1:
            spectrum *= 1.0 / pre_down  # the fold adds pre_down spectra (exact: power of 2)
        spectrum.setflags(write=False)
        self.spectrum = spectrum
        self.stage2 = stage2
        self.table2 = table2

    @property
    def half2(self) -> int:
        """Stage 2's half length ``H2`` in stage-1 samples (0 without stage 2)."""
        return 0 if self.stage2 is None else self.stage2.half_taps

    def span(self) -> tuple[int, int]:
        """Half length of the whole impulse response in input samples, as (num, den)."""
        return self.half1 + self.half2 * self.pre_down, self.pre_up

    def frames_ready(self, consumed: int) -> int:
        """Index of the first frame that needs input beyond the first ``consumed`` samples."""
        return (consumed - self.window + self.lead) // self.hop + 1

    def frame_start(self, k: int) -> int:
        """``a_k``: absolute input index of frame ``k``'s first sample."""
        return k * self.hop - self.lead

    def z_first_needed(self, n: int) -> int:
        """First stage-1 sample that output ``n`` (aligned index) reads."""
        if self.stage2 is None:
            return n
        return (n * self.stage2.down) // self.stage2.up - self.stage2.half_taps + 1

    def outputs_ready(self, z_end: int) -> int:
        """First output (aligned index) that needs a stage-1 sample at or past ``z_end``."""
        if self.stage2 is None:
            return z_end
        s = self.stage2
        return -((-(z_end - s.half_taps) * s.up) // s.down)

    def __repr__(self) -> str:
        return (
            f"TwoStageDesign(up={self.up}, down={self.down}, pre_up={self.pre_up}, "
            f"pre_down={self.pre_down}, taps1={2 * self.half1 + 1}, fft_size={self.fft_size}, "
            f"frame={self.frame}, stage2={self.stage2!r})"
        )


def _fft_size(taps1: int, factor: int = 16) -> int:
    """Smallest power of two at least ``factor`` times the stage-1 length."""
    return 1 << max(8, int(math.ceil(math.log2(factor * taps1))))


def _cost_ns(in_rate, out_rate, pre_up, pre_down, taps1, taps2, up2, stage2) -> float:
    """Rough time per output sample of a two-stage plan (ns, one channel; this machine's
    numpy FFT ~0.25 ns per sample and level; the polyphase stage ~0.6 ns per tap)."""
    n = _fft_size(taps1)
    frame = (n - taps1) // pre_down + 1
    w = n // pre_up
    per_frame = 0.25 * (w * math.log2(w) + (n / pre_down) * math.log2(n / pre_down)) + 1.0 * n
    frames_per_output = in_rate * pre_up / (pre_down * out_rate) / frame
    cost = per_frame * frames_per_output
    if stage2:
        cost += 4.0 + 0.6 * taps2
        if up2 * taps2 > MAX_TABLE_COEFFICIENTS:
            cost += 40.0 * taps2  # a coefficient row per output
    return cost


def design_two_stage(
    in_rate: int,
    out_rate: int,
    passband: float,
    stopband: float,
    attenuation_db: float,
    *,
    stage2_margin_db: float = 15.0,
    pre: tuple[int, int] | None = None,
    fft_factor: int = 16,
) -> TwoStageDesign:
    """Plan a two-stage conversion ``in_rate`` -> ``out_rate`` (Hz, different).

    Parameters
    ----------
    passband, stopband : float
        Band edges as fractions of the lower of the two Nyquist frequencies.
    attenuation_db : float
        Design stopband attenuation of stage 1 (its ripple is ``10**(-A/20)``).
    stage2_margin_db : float
        Stage 2 is designed this much further down, so its ripple adds little.
    pre : (U, D), optional
        Force stage 1's zero-stuffing and decimation factors (default: the cheapest).
    fft_factor : int
        FFT size >= this many times stage 1's length (power of two).
    """
    up, down = reduced_ratio(in_rate, out_rate)
    nyq = 0.5 * min(in_rate, out_rate)
    f_pass = passband * nyq
    f_stop = stopband * nyq

    def plan(u: int, d: int):
        rate0 = in_rate * u
        width1 = (f_stop - f_pass) / rate0
        taps1 = (attenuation_db - 7.95) / (14.36 * width1) + 1.0
        step = 2 * d  # centre tap a multiple of 2 D: frames line up with the zero-stuffing
        half1 = max(step, int(math.ceil((taps1 - 1.0) / 2.0 / step)) * step)
        up2, down2 = reduced_ratio(in_rate * u, out_rate * d)
        if up2 == down2:
            return half1, None, up2
        rate1 = rate0 / d
        fp2 = f_pass / rate1  # cycles per stage-1 sample
        fs2 = 1.0 - f_stop / rate1  # first image of stage 1's band
        att2 = attenuation_db + stage2_margin_db
        taps2 = (att2 - 7.95) / (14.36 * (fs2 - fp2)) + 1.0
        half2 = max(4, (int(math.ceil(taps2 / 2.0)) + 3) // 4 * 4)
        return half1, KaiserDesign(up2, down2, 0.5 * (fp2 + fs2), half2, kaiser_beta(att2)), up2

    if pre is None:
        options = [(2, 1)]
        d = 1
        while in_rate >= 2 * f_stop * d:  # stage-1 rate still holds its band and the image gap
            options.append((1, d))
            d *= 2
        best = None
        for u, d in options:
            rate1 = in_rate * u / d
            half1, s2, up2 = plan(u, d)
            if s2 is not None and rate1 - f_stop - f_pass < 1.5 * (f_stop - f_pass):
                continue  # stage 2 would be nearly as sharp as stage 1: no gain
            taps2 = 0 if s2 is None else s2.taps
            cost = _cost_ns(in_rate, out_rate, u, d, 2 * half1 + 1, taps2, up2, s2 is not None)
            if best is None or cost < best[0]:
                best = (cost, u, d)
        pre = best[1:]
    u, d = pre
    half1, stage2, _ = plan(u, d)
    rate0 = in_rate * u
    fir = kaiser_sinc_fir(half1, 0.5 * (f_pass + f_stop) / rate0, kaiser_beta(attenuation_db), u)
    fir.setflags(write=False)
    fft_size = _fft_size(2 * half1 + 1, fft_factor)
    table2 = None
    if stage2 is not None and stage2.up * stage2.taps <= MAX_TABLE_COEFFICIENTS:
        table2 = kaiser_sinc_table(stage2)
        table2.setflags(write=False)
    return TwoStageDesign(up, down, u, d, half1, fir, fft_size, stage2, table2)


class FFTWorkspace:
    """Scratch arrays for :func:`fft_stage`: up to ``frames`` frames at a time (one per
    thread; nothing in it outlives a call)."""

    def __init__(self, design: TwoStageDesign, frames: int) -> None:
        n = design.fft_size
        u, d = design.pre_up, design.pre_down
        self.frames = frames
        self.spec = np.empty((frames, n // 2 + 1), np.complex128)
        self.half = np.empty((frames, n // 4 + 1), np.complex128) if u == 2 else None
        self.fold = None
        if d == 2:
            self.fold = np.empty((frames, n // 4 + 1), np.complex128)
        elif d > 2:
            self.fold = np.empty((frames, n), np.complex128)
        self.time = np.empty((frames, n // d))


def fft_stage(windows: np.ndarray, design: TwoStageDesign, ws: FFTWorkspace,
              out: np.ndarray) -> None:
    """Stage 1 for ``nb`` frames: ``windows`` ``(nb, W)`` (frame ``k``'s input samples, any
    strides) -> ``out`` ``(nb * B,)``, the frames' stage-1 samples one after another.

    Overlap-save: the circular convolution of the (zero-stuffed) window with ``fir`` is
    exact from index ``2 c`` on; decimation by ``D`` folds the spectrum first, so the
    inverse FFT is ``D`` times shorter. Each frame's numbers depend only on its window.
    """
    nb = windows.shape[0]
    n = design.fft_size
    h = design.spectrum
    u, d = design.pre_up, design.pre_down
    spec = ws.spec[:nb]
    if u == 1:
        np.fft.rfft(windows, axis=1, out=spec)
        np.multiply(spec, h, out=spec)
    else:  # zero-stuffing by 2 repeats the half-length spectrum
        q = n // 4
        x = ws.half[:nb]
        np.fft.rfft(windows, axis=1, out=x)
        np.multiply(x, h[: q + 1], out=spec[:, : q + 1])
        hi = spec[:, q + 1 :]
        np.conjugate(x[:, q - 1 :: -1], out=hi)
        np.multiply(hi, h[q + 1 :], out=hi)
    if d == 1:
        y = np.fft.irfft(spec, n, axis=1, out=ws.time[:nb])
    elif d == 2:  # y[2j] has spectrum Y[k] + Y[k + n/2] (the 1/2 is in h)
        q = n // 4
        v = ws.fold[:nb]
        np.conjugate(spec[:, n // 2 : q - 1 : -1], out=v)
        np.add(spec[:, : q + 1], v, out=v)
        y = np.fft.irfft(v, n // 2, axis=1, out=ws.time[:nb])
    else:
        full = ws.fold[:nb]
        full[:, : n // 2 + 1] = spec
        np.conjugate(spec[:, n // 2 - 1 : 0 : -1], out=full[:, n // 2 + 1 :])
        v = full.reshape(nb, d, n // d).sum(axis=1)[:, : n // (2 * d) + 1]
        y = np.fft.irfft(v, n // d, axis=1, out=ws.time[:nb])
    off = 2 * design.half1 // d
    out.reshape(nb, design.frame)[:] = y[:, off : off + design.frame]


@numba.njit(cache=True, nogil=True)
def _polyphase_1ch_table(z, z_start, q0, p0, count, up, down, half, table, out) -> None:
    # The dot product is written out here (not a call) and its 8 lanes start from the
    # first products: about twice as fast as ``_dot``, same fixed order of additions.
    taps = 2 * half
    blocks = taps // 8
    q_step = down // up
    p_step = down % up
    q = q0
    p = p0
    for n in range(count):
        base = q - half + 1 - z_start
        row = table[p]
        xs = z[base : base + taps]
        s0 = row[0] * xs[0]
        s1 = row[1] * xs[1]
        s2 = row[2] * xs[2]
        s3 = row[3] * xs[3]
        s4 = row[4] * xs[4]
        s5 = row[5] * xs[5]
        s6 = row[6] * xs[6]
        s7 = row[7] * xs[7]
        for b in range(1, blocks):
            i = 8 * b
            s0 += row[i] * xs[i]
            s1 += row[i + 1] * xs[i + 1]
            s2 += row[i + 2] * xs[i + 2]
            s3 += row[i + 3] * xs[i + 3]
            s4 += row[i + 4] * xs[i + 4]
            s5 += row[i + 5] * xs[i + 5]
            s6 += row[i + 6] * xs[i + 6]
            s7 += row[i + 7] * xs[i + 7]
        out[n] = ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7))
        q += q_step
        p += p_step
        if p >= up:
            p -= up
            q += 1


@numba.njit(cache=True, nogil=True)
def _transpose_rows(z, b0: int, rows: int, down: int, zt) -> None:
    """``zt[c, m] = z[b0 + c + m * down]`` (zero past the end of ``z``)."""
    lim = z.shape[0]
    for m in range(rows):
        base = b0 + m * down
        if base + down <= lim:
            for c in range(down):
                zt[c, m] = z[base + c]
        else:
            for c in range(down):
                zt[c, m] = z[base + c] if base + c < lim else 0.0


@numba.njit(cache=True)
def _run(zt, o: int, down: int, jn: int):
    """``z[b0 + o + j M]`` for ``j < jn``, a contiguous run of ``zt``."""
    m = o // down
    return zt[o % down, m : m + jn]


@numba.njit(cache=True, nogil=True)
def _polyphase_1ch_24(z, z_start, q0, p0, count, up, down, table, zt, res, out) -> None:
    """``_polyphase_1ch_table`` for 24 taps, vectorised across outputs: the same numbers.

    Outputs ``r, r + L, r + 2L, ...`` share phase ``p`` and read ``z`` ``M`` apart, so with
    ``z`` laid out as rows of ``M`` (``zt[c, m] = z[b0 + c + m M]``) each tap reads a
    contiguous run. Every output still sums its 24 products in ``_polyphase_1ch_table``'s
    order: lane ``k`` = ``(t[k] x[k] + t[k+8] x[k+8]) + t[k+16] x[k+16]``, then the tree.
    """
    half = 12
    b0 = q0 - half + 1 - z_start
    span = (p0 + (count - 1) * down) // up + 24
    rows = (span + down - 1) // down
    _transpose_rows(z, b0, rows, down, zt)
    q_step = down // up
    p_step = down % up
    q = q0
    p = p0
    for r in range(min(up, count)):
        jn = (count - r + up - 1) // up
        t = table[p]
        o = q - q0
        x0 = _run(zt, o + 0, down, jn)
        x1 = _run(zt, o + 1, down, jn)
        x2 = _run(zt, o + 2, down, jn)
        x3 = _run(zt, o + 3, down, jn)
        x4 = _run(zt, o + 4, down, jn)
        x5 = _run(zt, o + 5, down, jn)
        x6 = _run(zt, o + 6, down, jn)
        x7 = _run(zt, o + 7, down, jn)
        y0 = _run(zt, o + 8, down, jn)
        y1 = _run(zt, o + 9, down, jn)
        y2 = _run(zt, o + 10, down, jn)
        y3 = _run(zt, o + 11, down, jn)
        y4 = _run(zt, o + 12, down, jn)
        y5 = _run(zt, o + 13, down, jn)
        y6 = _run(zt, o + 14, down, jn)
        y7 = _run(zt, o + 15, down, jn)
        w0 = _run(zt, o + 16, down, jn)
        w1 = _run(zt, o + 17, down, jn)
        w2 = _run(zt, o + 18, down, jn)
        w3 = _run(zt, o + 19, down, jn)
        w4 = _run(zt, o + 20, down, jn)
        w5 = _run(zt, o + 21, down, jn)
        w6 = _run(zt, o + 22, down, jn)
        w7 = _run(zt, o + 23, down, jn)
        c0, c1, c2, c3, c4, c5, c6, c7 = t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]
        d0, d1, d2, d3, d4, d5, d6, d7 = t[8], t[9], t[10], t[11], t[12], t[13], t[14], t[15]
        e0, e1, e2, e3, e4, e5, e6, e7 = t[16], t[17], t[18], t[19], t[20], t[21], t[22], t[23]
        rr = res[:jn]
        for j in range(jn):
            s0 = (c0 * x0[j] + d0 * y0[j]) + e0 * w0[j]
            s1 = (c1 * x1[j] + d1 * y1[j]) + e1 * w1[j]
            s2 = (c2 * x2[j] + d2 * y2[j]) + e2 * w2[j]
            s3 = (c3 * x3[j] + d3 * y3[j]) + e3 * w3[j]
            s4 = (c4 * x4[j] + d4 * y4[j]) + e4 * w4[j]
            s5 = (c5 * x5[j] + d5 * y5[j]) + e5 * w5[j]
            s6 = (c6 * x6[j] + d6 * y6[j]) + e6 * w6[j]
            s7 = (c7 * x7[j] + d7 * y7[j]) + e7 * w7[j]
            rr[j] = ((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7))
        for j in range(jn):
            out[r + j * up] = rr[j]
        q += q_step
        p += p_step
        if p >= up:
            p -= up
            q += 1


class PolyphaseScratch:
    """Reusable scratch for the vectorised 24-tap kernel (one per thread)."""

    def __init__(self) -> None:
        self._zt = np.empty(0)
        self._res = np.empty(0)

    def arrays(self, down: int, rows: int, outputs: int) -> tuple[np.ndarray, np.ndarray]:
        if self._zt.size < down * rows:
            self._zt = np.empty(2 * down * rows)
        if self._res.size < outputs:
            self._res = np.empty(2 * outputs)
        return self._zt[: down * rows].reshape(down, rows), self._res


@numba.njit(cache=True, nogil=True)
def _polyphase_1ch_direct(z, z_start, q0, p0, count, up, down, half, cutoff, beta, out):
    taps = 2 * half
    q_step = down // up
    p_step = down % up
    inv = 1.0 / _bessel_i0(beta)
    row = np.empty(taps)
    q = q0
    p = p0
    for n in range(count):
        _kaiser_sinc_row(p, up, half, cutoff, beta, inv, row)
        out[n] = _dot(row, z, q - half + 1 - z_start, taps)
        q += q_step
        p += p_step
        if p >= up:
            p -= up
            q += 1


def polyphase_channel(
    z: np.ndarray,
    z_start: int,
    first_output: int,
    design: KaiserDesign,
    table: np.ndarray | None,
    out: np.ndarray,
    scratch: PolyphaseScratch | None = None,
) -> None:
    """One channel of :func:`polyphase_resample` into ``out`` (1-D, ``count`` outputs),
    releasing the GIL: the same numbers, so channels can run in parallel threads. With
    ``scratch``, 24-tap tables and long runs take the vectorised kernel (same numbers)."""
    count = out.shape[0]
    if count == 0:
        return
    up, down, half = design.up, design.down, design.half_taps
    q0, p0 = divmod(first_output * down, up)
    last_q = ((first_output + count - 1) * down) // up
    if q0 - half + 1 - z_start < 0 or last_q + half - z_start >= z.shape[0]:
        raise ValueError("buffer does not cover the taps of the requested outputs")
    if table is not None and half == 12 and scratch is not None and count >= 8 * up:
        rows = ((p0 + (count - 1) * down) // up + 2 * half + down - 1) // down
        zt, res = scratch.arrays(down, rows, -(-count // up))
        _polyphase_1ch_24(z, z_start, q0, p0, count, up, down, table, zt, res, out)
    elif table is not None:
        _polyphase_1ch_table(z, z_start, q0, p0, count, up, down, half, table, out)
    else:
        _polyphase_1ch_direct(
            z, z_start, q0, p0, count, up, down, half, design.cutoff, design.beta, out
        )


# --------------------------------------------------------------------------------------
# sample-and-hold
# --------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _sample_hold(x, n0: int, in_rate: int, hold_rate: int, state, out) -> None:
    channels = x.shape[0]
    frames = x.shape[1]
    for c in range(channels):
        last_in = state[c, 0]
        last_out = state[c, 1]
        for i in range(frames):
            n = n0 + i
            k = (n * hold_rate) // in_rate
            src = (k * in_rate) // hold_rate - n0
            if src >= 0:
                out[c, i] = x[c, src]
            elif src == -1:
                out[c, i] = last_in
            else:  # the interval began before the previous sample: still holding
                out[c, i] = last_out
        if frames > 0:
            state[c, 0] = x[c, frames - 1]
            state[c, 1] = out[c, frames - 1]


def sample_hold(
    x: np.ndarray, n0: int, in_rate: int, hold_rate: int, state: np.ndarray
) -> np.ndarray:
    """Sample-and-hold at ``hold_rate`` Hz, output at ``in_rate``.

    Parameters
    ----------
    x : np.ndarray [shape=(channels, frames), float64]
        Block of input; ``x[:, 0]`` is absolute sample ``n0``.
    n0 : int
        Absolute index of the block's first sample.
    in_rate, hold_rate : int
        Sample rate of the input and rate of the hold intervals, Hz.
    state : np.ndarray [shape=(channels, 2), float64]
        Input and output sample ``n0 - 1`` (zeros at the start of a stream; the first
        sample never needs them); updated in place.

    Returns
    -------
    np.ndarray [shape=(channels, frames), float64]
        ``y[n] = x[floor(floor(n * r / fs) * fs / r)]``.
    """
    out = np.empty_like(x)
    _sample_hold(x, n0, in_rate, hold_rate, state, out)
    return out


@numba.njit(cache=True)
def _sample_hold_reduced(x, n0: int, k0: int, count: int, in_rate: int, hold_rate: int, out):
    channels = x.shape[0]
    for c in range(channels):
        for j in range(count):
            out[c, j] = x[c, ((k0 + j) * in_rate) // hold_rate - n0]


def sample_hold_reduced(
    x: np.ndarray, n0: int, k0: int, in_rate: int, hold_rate: int
) -> np.ndarray:
    """Sample-and-hold with output at ``hold_rate``: ``y[k] = x[floor(k * fs / r)]``.

    Emits every ``k >= k0`` whose source sample lies in this block (``n0 .. n0 + frames - 1``);
    the caller advances ``k0`` by the number of columns returned.
    """
    frames = x.shape[1]
    end = n0 + frames  # first absolute index not available
    # k with floor(k fs / r) <= end - 1  <=>  k fs < end r  <=>  k < end r / fs
    k_end = -((-end * hold_rate) // in_rate)
    count = max(0, k_end - k0)
    out = np.empty((x.shape[0], count))
    if count:
        _sample_hold_reduced(x, n0, k0, count, in_rate, hold_rate, out)
    return out
