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

Sample-and-hold (no filter): output ``n`` at the input rate ``fs`` falls in hold interval
``k = floor(n * r / fs)`` (interval ``k`` spans ``[k / r, (k + 1) / r)`` seconds) and holds
``x[floor(k * fs / r)]``, the input sample current at the interval's start. At the reduced
rate the output is ``y[k] = x[floor(k * fs / r)]``. Integer arithmetic throughout.

Kernels are ``@numba.njit(cache=True)`` without ``fastmath``: sums run in a fixed order, so
output is bit-exact whatever the block size. Only numpy and numba are imported here.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "KaiserDesign",
    "design_kaiser",
    "kaiser_sinc_table",
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
