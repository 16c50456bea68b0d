"""Slow, obviously right references that the kernels are compared against.

Plain Python integers and floats, one sample at a time, written from the definitions in
the module docstrings (not from the kernels' code).
"""

from __future__ import annotations

import math

import numpy as np

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix_finalise(z: int) -> int:
    """splitmix64's output function on a 64-bit integer."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def random_word(seed: int, channel: int, counter: int) -> int:
    """The 64-bit word number ``counter`` of ``(seed, channel)``'s stream."""
    key = splitmix_finalise(seed ^ splitmix_finalise((channel * GOLDEN + GOLDEN) & MASK))
    return splitmix_finalise((key + counter * GOLDEN) & MASK)


def dither(kind: str, seed: int, channel: int, index: int) -> float:
    """Dither in LSB at absolute sample ``index``."""
    if kind == "none":
        return 0.0
    if kind == "hp-tpdf":
        return (random_word(seed, channel, index + 1) >> 32) / 2**32 - (
            random_word(seed, channel, index) >> 32) / 2**32
    word = random_word(seed, channel, index)
    hi, lo = (word >> 32) / 2**32, (word & 0xFFFFFFFF) / 2**32
    return hi - 0.5 if kind == "rpdf" else hi + lo - 1.0


def four_way_dot(coefs, history) -> float:
    """sum(coefs[k] * history[k]) in the kernel's fixed order: partial sums over k mod 4
    (missing history counts as 0), added as (p0 + p1) + (p2 + p3)."""
    parts = [0.0, 0.0, 0.0, 0.0]
    for k, coef in enumerate(coefs):
        parts[k % 4] += coef * (history[k] if k < len(history) else 0.0)
    return (parts[0] + parts[1]) + (parts[2] + parts[3])


def requantize(x: np.ndarray, bits: int, kind: str = "tpdf", seed: int = 0,
               b=(), a=(), blank_run: int = 0, channel: int = 0) -> np.ndarray:
    """Reference requantizer for one channel (its dither is ``channel``'s): integer codes,
    int64.

    Error feedback through B/(1+A) on the unclipped error. Auto-blank (``blank_run`` > 0):
    an exact sample in a run of at least ``blank_run`` exact samples, counting the stream
    as exact before its start and after its end, passes through; the history is cleared.
    """
    scale = 2.0 ** (bits - 1)
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    xs_all = [float(v) * scale for v in x]
    exact = [v == math.floor(v) and lo <= v <= hi for v in xs_all]
    blanked = [False] * len(x)
    if blank_run > 0:
        padded = [True] * blank_run + exact + [True] * blank_run
        n = 0
        while n < len(padded):               # mark every long enough run of exact samples
            m = n
            while m < len(padded) and padded[m]:
                m += 1
            if m - n >= blank_run:
                for k in range(max(n - blank_run, 0), min(m - blank_run, len(x))):
                    blanked[k] = True
            n = m + 1
    errors: list[float] = []      # e[n-1], e[n-2], ... newest first
    feedback: list[float] = []    # s[n-1], s[n-2], ...
    out = np.zeros(len(x), dtype=np.int64)
    for n, xs in enumerate(xs_all):
        if blanked[n]:
            out[n] = int(xs)
            errors.clear()
            feedback.clear()
            continue
        e1, e2 = (list(errors[:2]) + [0.0, 0.0])[:2]        # e[n-1], e[n-2]
        b0, b1 = (list(b[:2]) + [0.0, 0.0])[:2]
        s = four_way_dot(b[2:], errors[2:]) - four_way_dot(a[1:], feedback[1:]) + b1 * e2
        if len(a):
            s -= a[0] * (feedback[0] if feedback else 0.0)
        s += b0 * e1
        d = xs - s
        q = math.floor(d + dither(kind, seed, channel, n) + 0.5)
        errors.insert(0, q - d)
        feedback.insert(0, s)
        out[n] = min(max(q, lo), hi)
    return out
