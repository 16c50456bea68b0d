"""Float audio to N-bit integer codes: dither, error-feedback noise shaping, auto-blank.

Units: input is float with full scale 1.0; inside the kernel everything is in LSB of the
target depth (1.0 maps to 2**(bits-1) LSB). Codes run from -2**(bits-1) to
2**(bits-1) - 1; values past them saturate and are counted as clips. Rounding is to the
nearest code, halves upward (floor(v + 0.5)).

The shaping loop, per sample n (all in LSB):

    s[n] = (((sum_{k>=2} b_k e[n-1-k] - sum_{k>=1} a_k s[n-1-k]) + b_1 e[n-2])
            - a_0 s[n-1]) + b_0 e[n-1]              feedback through F = B / (1 + A);
                                                    each sum as four partial sums over
                                                    k - 2 mod 4 (b) or k - 1 mod 4 (a),
                                                    added as (0 + 1) + (2 + 3); the
                                                    a_0 term only for IIR filters
    d    = x[n] * 2**(bits-1) - s[n]
    q    = floor(d + dither[n] + 0.5)
    e[n] = q - d                                    error from the *unclipped* code
    out  = clip(q)

The newest values (e[n-1], e[n-2], s[n-1]) enter the sum last, from registers, so the
loop's critical path (e[n-1] to e[n]) is one multiply, five adds and a floor, not the
whole sum: the older terms, read from memory stored earlier, are summed meanwhile.

Because e[n] comes from the unclipped code, |e[n]| <= 0.5 + max|dither| (1.5 LSB for
TPDF) whatever the input: when the output saturates the fed-back error stays bounded, so
the loop cannot run away. The saturation itself is counted in ``clips``. A finite input
past ``HUGE`` LSB (only float64 gets there) is held at +-HUGE first; NaN and Inf are
reported, not requantized.

Auto-blank: a sample that is exactly a code at the target depth is *exact*. An exact
sample inside a run of at least ``blank_run`` exact samples is passed through with no
dither, and the shaping history is cleared, so silence stays digital silence and audio
that already has the target depth comes out bit-identical; dither resumes at the first
sample that is not exact. The stream counts as exact before its first sample and after
its last, so it starts blanked. To see a run's length the requantizer looks
``blank_run - 1`` samples ahead (the caller holds them back). ``blank_run = 0`` turns it
off.

Without shaping, all channels take one vectorised path (:func:`_requantize_flat`): the
same arithmetic over the interleaved samples, 128 at a time, with chunks that hold
an exact, clipping or non-finite sample handed to the general loop. Same output, bit for
bit; about three times the speed on one core.

State (per channel, carried across blocks): ``err_hist`` and ``fb_hist`` (doubled
circular buffers of past errors and past feedback values, length 2 * order), ``pos``,
``exact_run`` (exact samples just before, capped), ``dirty`` (history non-zero), ``clips``,
``first_clip`` (the stream index of the first saturated sample, -1 for none)
and ``energy`` (signal and error energy in LSB^2, for the render's SNR report).
"""

from __future__ import annotations

import numpy as np

from . import import_numba
from .dither import DITHER_HP_TPDF, DITHER_NONE, DITHER_RPDF, DITHER_TPDF, channel_key, dither_at

numba = import_numba()


#: Input magnitude (LSB) at which a finite sample is held: it saturates anyway, and this
#: keeps ``xs * xs`` (the SNR's energy sums) and the loop's arithmetic finite. Only float64
#: input can get there.
HUGE = 1e150


@numba.njit(cache=True, nogil=True, inline="always")
def _is_code(xs: float, lo: float, hi: float) -> bool:
    """True when ``xs`` (LSB) is exactly a code in [lo, hi]."""
    return xs == np.floor(xs) and lo <= xs <= hi


@numba.njit(cache=True, nogil=True, inline="always")
def _dot4(coefs: np.ndarray, history: np.ndarray, start: int) -> float:
    """sum(coefs[k] * history[start + k]) as four interleaved partial sums (k mod 4) added
    as (0 + 1) + (2 + 3): a fixed order, so bit-exact, with four independent chains of
    additions instead of one. ``len(coefs)`` is a multiple of 4."""
    h = history[start:start + coefs.shape[0]]
    s0 = s1 = s2 = s3 = 0.0
    for k in range(0, coefs.shape[0], 4):
        s0 += coefs[k] * h[k]
        s1 += coefs[k + 1] * h[k + 1]
        s2 += coefs[k + 2] * h[k + 2]
        s3 += coefs[k + 3] * h[k + 3]
    return (s0 + s1) + (s2 + s3)


@numba.njit(cache=True, nogil=True)
def _requantize(x, count, at_end, out, out_start, bits, shift, kind, seed, channel0, start,
                b, a, err_hist, fb_hist, pos, exact_run, dirty, clips, first_clip, energy,
                blank_run):
    """Requantize the first ``count`` frames of ``x`` (channels, frames) into
    ``out[:, out_start:out_start + count]`` as ``code << shift``; the frames of ``x``
    after ``count`` are look-ahead for auto-blank.

    ``at_end``: the stream ends after ``x`` (counts as exact for auto-blank). Row c of
    ``x`` is the stream's channel ``channel0 + c`` (its dither). Returns the index of the
    first non-finite sample (``c * count + frame``) or -1. State arrays are updated in
    place; ``energy[c] += (sum xs**2, sum (clipped code - xs)**2)`` in LSB^2.
    """
    channels, frames = x.shape
    scale = 2.0 ** (bits - 1)
    lo = -(2.0 ** (bits - 1))
    hi = 2.0 ** (bits - 1) - 1
    order = err_hist.shape[1] // 2
    na = a.shape[0]
    b0 = b[0] if order > 0 else 0.0
    b1 = b[1] if order > 0 else 0.0
    b_oldest = b[2:]
    a0 = a[0] if na else 0.0
    a_older = a[1:]
    blanking = blank_run > 0
    bad = -1
    for c in range(channels):
        key = channel_key(seed, channel0 + c)
        p = pos[c]
        run = exact_run[c]       # exact samples just before i (capped at blank_run)
        short_until = 0          # samples before this index are known to be in short runs
        nclip = 0
        sig = 0.0
        err = 0.0
        eh = err_hist[c]
        fh = fb_hist[c]
        newest = eh[p] if order > 0 else 0.0     # e[n-1], also eh[p]
        second = eh[p + 1] if order > 0 else 0.0 # e[n-2], also eh[p + 1]
        feedback = fh[p] if order > 0 else 0.0   # s[n-1], also fh[p]
        history = dirty[c]       # (locals, not the state arrays, inside the loop: the
                                 # arrays' neighbouring channels are on another thread)
        for i in range(count):
            xs = x[c, i] * scale
            if not (abs(xs) < HUGE):
                if np.isfinite(x[c, i]):
                    # Finite but absurd (float64 input past HUGE LSB): it saturates
                    # like any clip, and the error fed back is 0.
                    xs = HUGE if xs > 0 else -HUGE
                else:
                    bad = c * count + i
                    break
            sig += xs * xs
            if blanking:
                if _is_code(xs, lo, hi):
                    blank = run >= blank_run
                    if not blank and i >= short_until:
                        # Look ahead: does the run reach blank_run samples?
                        j = i + 1
                        need = i + blank_run - run
                        while j < need and j < frames and _is_code(x[c, j] * scale, lo, hi):
                            j += 1
                        blank = j >= need or (j >= frames and at_end)
                        if not blank:
                            short_until = j
                    run = min(run + 1, blank_run)
                    if blank:
                        # Pass through, and let the shaping loop restart from rest.
                        out[c, out_start + i] = np.int64(xs) << shift
                        if history:
                            eh[:] = 0.0
                            fh[:] = 0.0
                            newest = 0.0
                            second = 0.0
                            feedback = 0.0
                            history = 0
                        continue
                else:
                    run = 0
            s = _dot4(b_oldest, eh, p + 2)
            if na:
                s -= _dot4(a_older, fh, p + 1)
            s += b1 * second
            if na:
                s -= a0 * feedback
            s += b0 * newest
            d = xs - s
            q = np.floor(d + dither_at(kind, key, start + i) + 0.5)
            e = q - d
            if order > 0:
                p = p - 1 if p > 0 else order - 1
                eh[p] = e
                eh[p + order] = e
                second = newest
                newest = e
                fh[p] = s
                fh[p + order] = s
                feedback = s
                history = 1
            if q < lo or q > hi:
                q = lo if q < lo else hi
                if nclip == 0 and first_clip[c] < 0:
                    first_clip[c] = start + i
                nclip += 1
            out[c, out_start + i] = np.int64(q) << shift
            err += (q - xs) * (q - xs)
        pos[c] = p
        exact_run[c] = run
        dirty[c] = history
        clips[c] += nclip
        energy[c, 0] += sig
        energy[c, 1] += err
        if bad >= 0:
            break
    return bad


#: Samples (frames x channels) per chunk of the unshaped fast path, at least one frame
#: (see :func:`_requantize_flat`): a chunk with one exact sample is redone whole by the
#: general loop, so chunks are kept short.
FLAT_CHUNK = 128


@numba.njit(cache=True, nogil=True, inline="always")
def _dithered(xs, kind, key, index, lo, hi):
    """The unshaped code ``floor(xs + dither + 0.5)`` of ``xs`` (LSB) at sample ``index``,
    and whether the fast path must leave the sample to :func:`_requantize` (it is exact, so
    auto-blank may apply; it clips; or it is not finite)."""
    q = np.floor(xs + dither_at(kind, key, index) + 0.5)
    return q, (xs == np.floor(xs)) | (q < lo) | (q > hi) | (q != q)


@numba.njit(cache=True, nogil=True, inline="always")
def _flat_chunk(kind, xc, outc, scale, lo, hi, shift, key_of, frame_of, start):
    """Unshaped requantize of the interleaved samples ``xc`` into ``outc``; sample ``k``
    is channel key ``key_of[k]``'s frame ``start + frame_of[k]``. Return how many samples
    :func:`_dithered` flags (0: done). Branch-free, every array read in order from index 0
    (so numba adds no negative-index wraparound), so it vectorises."""
    special = 0
    for k in range(xc.shape[0]):
        q, flag = _dithered(xc[k] * scale, kind, key_of[k], start + frame_of[k], lo, hi)
        special += flag
        outc[k] = np.int64(q) << shift
    return special


@numba.njit(cache=True, nogil=True, inline="always")
def _flat_energy(xc, outc, scale, shift, signal, error):
    """``signal[k] += xs**2`` and ``error[k] += (code - xs)**2`` (LSB^2) for the
    interleaved samples ``xc`` and codes ``outc``: one running sum per position in the
    chunk, so the sums vectorise in a fixed order, with no fast-math."""
    for k in range(xc.shape[0]):
        xs = xc[k] * scale
        e = float(outc[k] >> shift) - xs
        signal[k] += xs * xs
        error[k] += e * e


@numba.njit(cache=True, nogil=True)
def _requantize_flat(xi, count, at_end, outi, bits, shift, kind, seed, start, b, a, err_hist,
                     fb_hist, pos, exact_run, dirty, clips, first_clip, energy, blank_run):
    """:func:`_requantize` without shaping, all channels at once on interleaved
    ``(frames, channels)`` C-contiguous ``xi`` and ``outi``: the same output, bit for bit,
    about three times faster.

    Chunks of FLAT_CHUNK samples go through :func:`_flat_chunk`; a chunk where it flags a
    sample (exact, clipping or non-finite) is redone by :func:`_requantize`, which owns
    auto-blank, clip counts and the NaN report. A chunk with no exact sample leaves every
    channel's exact run at 0.
    """
    channels = xi.shape[1]
    xf = xi.reshape(-1)
    outf = outi.reshape(-1)
    scale = 2.0 ** (bits - 1)
    lo = -(2.0 ** (bits - 1))
    hi = 2.0 ** (bits - 1) - 1
    frames = max(FLAT_CHUNK // channels, 1)       # per chunk
    width = frames * channels
    key_of = np.empty(width, dtype=np.uint64)     # sample k of a chunk: channel key
    frame_of = np.empty(width, dtype=np.int64)    # and frame within the chunk
    for k in range(width):
        key_of[k] = channel_key(seed, k % channels)
        frame_of[k] = k // channels
    signal = np.zeros(width)
    error = np.zeros(width)
    bad = -1
    for f0 in range(0, count, frames):
        f1 = min(f0 + frames, count)
        xc = xf[f0 * channels:f1 * channels]
        outc = outf[f0 * channels:f1 * channels]
        # One call per kind, each with a constant: inlined, the branches of dither_at
        # then fold away, which the loop needs to vectorise.
        if kind == DITHER_TPDF:
            special = _flat_chunk(DITHER_TPDF, xc, outc, scale, lo, hi, shift, key_of,
                                  frame_of, start + f0)
        elif kind == DITHER_HP_TPDF:
            special = _flat_chunk(DITHER_HP_TPDF, xc, outc, scale, lo, hi, shift, key_of,
                                  frame_of, start + f0)
        elif kind == DITHER_RPDF:
            special = _flat_chunk(DITHER_RPDF, xc, outc, scale, lo, hi, shift, key_of,
                                  frame_of, start + f0)
        else:
            special = _flat_chunk(DITHER_NONE, xc, outc, scale, lo, hi, shift, key_of,
                                  frame_of, start + f0)
        if special == 0:
            _flat_energy(xc, outc, scale, shift, signal, error)
            exact_run[:] = 0
            continue
        bad = _requantize(xi[f0:].T, f1 - f0, at_end, outi.T, f0, bits, shift, kind, seed, 0,
                          start + f0, b, a, err_hist, fb_hist, pos, exact_run, dirty, clips,
                          first_clip, energy, blank_run)
        if bad >= 0:
            break
    for k in range(width):
        energy[k % channels, 0] += signal[k]
        energy[k % channels, 1] += error[k]
    return bad


def padded_order(taps: int, feedback_taps: int = 0) -> int:
    """History length (samples) for a shaper with ``taps`` b and ``feedback_taps`` a
    coefficients: ``2 + 4m`` (b_0 and b_1 apart, the kernel sums the rest in fours) and
    at least :func:`padded_feedback` (``feedback_taps``); 0 without shaping."""
    if taps == 0 and feedback_taps == 0:
        return 0
    return 2 + 4 * -(-max(taps - 2, padded_feedback(feedback_taps) - 2, 0) // 4)


def padded_feedback(feedback_taps: int) -> int:
    """Length of the zero-padded a coefficients: ``1 + 4m`` (a_0 apart, the kernel sums
    the rest in fours), or 0 for an FIR filter."""
    return 1 + 4 * -(-(feedback_taps - 1) // 4) if feedback_taps else 0


class RequantizeState:
    """Per-channel state of the requantizer, carried from block to block.

    Parameters
    ----------
    channels : int
        Number of channels.
    order : int
        History length in samples, from :func:`padded_order` (0 for no shaping).
    blank_run : int
        Auto-blank run length in samples (0: off). The state starts blanked.
    """

    def __init__(self, channels: int, order: int, blank_run: int) -> None:
        self.err_hist = np.zeros((channels, 2 * order))
        self.fb_hist = np.zeros((channels, 2 * order))
        self.pos = np.zeros(channels, dtype=np.int64)
        self.exact_run = np.full(channels, blank_run, dtype=np.int64)
        self.dirty = np.zeros(channels, dtype=np.int64)
        self.clips = np.zeros(channels, dtype=np.int64)
        self.first_clip = np.full(channels, -1, dtype=np.int64)  # stream index, -1: none
        self.energy = np.zeros((channels, 2))  # (signal, error) energy in LSB^2
        self.index = 0  # absolute sample index of the next frame to requantize


def requantize_block(x: np.ndarray, count: int, out: np.ndarray, out_start: int,
                     state: RequantizeState, *, at_end: bool, bits: int, shift: int,
                     dither: int, seed: int, b: np.ndarray, a: np.ndarray, blank_run: int,
                     channels: slice = slice(None)) -> int:
    """Requantize the first ``count`` frames of ``x`` into
    ``out[:, out_start:out_start + count]``; the rest of ``x`` is look-ahead
    (``blank_run - 1`` frames are enough). Only the rows in ``channels`` are touched, so
    disjoint channel ranges can run on separate threads (the kernel releases the GIL).
    Return the flat index of the first non-finite sample (``row * count + frame``, row
    within ``channels``) or -1. Advancing ``state.index`` is the caller's job.

    ``x`` is float32/float64 ``(channels, frames)`` (any strides), ``out`` int16/int32/
    int64. ``b`` is zero-padded to the state's order and ``a`` to ``1 + 4m`` (see
    :func:`padded_order`, :func:`padded_feedback`); ``a`` may be empty (FIR).
    """
    c = channels
    first = c.start or 0
    outi = out.T[out_start:out_start + count]
    if (state.err_hist.shape[1] == 0 and first == 0 and c.stop in (None, x.shape[0])
            and outi.flags.c_contiguous):
        # Unshaped, all channels, frames-major output: the vectorised path, on the
        # interleaved layout sound files use (so no copy when x came from one).
        xi = np.ascontiguousarray(x.T)
        return int(_requantize_flat(xi, count, at_end, outi, bits, shift, dither,
                                    np.uint64(seed), state.index, b, a, state.err_hist,
                                    state.fb_hist, state.pos, state.exact_run, state.dirty,
                                    state.clips, state.first_clip, state.energy,
                                    blank_run))
    return int(_requantize(x[c], count, at_end, out[c], out_start, bits, shift, dither,
                           np.uint64(seed), first, state.index, b, a, state.err_hist[c],
                           state.fb_hist[c], state.pos[c], state.exact_run[c],
                           state.dirty[c], state.clips[c], state.first_clip[c],
                           state.energy[c], blank_run))
