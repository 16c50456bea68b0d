"""Sums of the least-squares sine fit (IEEE 1057), compiled: one pass over the samples.

``audioquant.analysis`` solves the fit; these kernels build its normal equations and its
residual. ``cos(omega t)`` and ``sin(omega t)`` come from a rotation (one complex multiply
per sample) restarted from the exact values every :data:`RESTART` samples, so the
rounding of the recurrence stays below 1e-13 of full scale; partial sums per run of
``RESTART`` samples keep the totals' rounding near that of a pairwise sum.
"""

from __future__ import annotations

import numpy as np

from . import import_numba

numba = import_numba()

__all__ = ["RESTART", "fit_sums", "residual_power"]

#: Samples between exact restarts of the cos/sin rotation.
RESTART = 256


@numba.njit(cache=True, nogil=True)
def fit_sums(x: np.ndarray, omega: float, centre: float, a: float, b: float,
             cols: int) -> tuple[np.ndarray, np.ndarray]:
    """``(A^T A, A^T x)`` of the fit's design matrix A at angular frequency ``omega``
    (radians per sample), time ``t = n - centre`` (samples). Columns: ``cos(omega t)``,
    ``sin(omega t)``, 1 and, when ``cols == 4``, ``t (b cos - a sin)`` (the derivative of
    ``a cos + b sin`` with respect to omega)."""
    ata = np.zeros((cols, cols))
    aty = np.zeros(cols)
    step_c, step_s = np.cos(omega), np.sin(omega)
    col = np.zeros(4)
    part_ata = np.zeros((cols, cols))
    part_aty = np.zeros(cols)
    n = x.shape[0]
    for start in range(0, n, RESTART):
        t0 = start - centre
        c, s = np.cos(omega * t0), np.sin(omega * t0)
        part_ata[:] = 0.0
        part_aty[:] = 0.0
        for i in range(start, min(start + RESTART, n)):
            t = i - centre
            col[0], col[1], col[2] = c, s, 1.0
            if cols == 4:
                col[3] = t * (b * c - a * s)
            v = x[i]
            for j in range(cols):
                part_aty[j] += col[j] * v
                for k in range(j, cols):
                    part_ata[j, k] += col[j] * col[k]
            c, s = c * step_c - s * step_s, s * step_c + c * step_s
        ata += part_ata
        aty += part_aty
    for j in range(cols):
        for k in range(j):
            ata[j, k] = ata[k, j]
    return ata, aty


@numba.njit(cache=True, nogil=True)
def residual_power(x: np.ndarray, omega: float, centre: float, a: float, b: float,
                   dc: float) -> float:
    """Mean square of ``x - (a cos(omega t) + b sin(omega t) + dc)``, ``t = n - centre``."""
    step_c, step_s = np.cos(omega), np.sin(omega)
    total = 0.0
    n = x.shape[0]
    for start in range(0, n, RESTART):
        t0 = start - centre
        c, s = np.cos(omega * t0), np.sin(omega * t0)
        part = 0.0
        for i in range(start, min(start + RESTART, n)):
            r = x[i] - (a * c + b * s + dc)
            part += r * r
            c, s = c * step_c - s * step_s, s * step_c + c * step_s
        total += part
    return total / n
