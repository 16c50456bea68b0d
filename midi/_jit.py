"""numba for the midi kernels, set up as for ``audioquant.dsp``
(:mod:`audioquant.numba_setup`: a writable cache folder, no BLAS probe, kernels that load
with the signals held); midi imports nothing of dsp."""

from __future__ import annotations


def njit(func=None, **options):
    """``numba.njit(cache=True, **options)`` (every kernel of midi is cached)."""
    if func is None:
        return lambda f: njit(f, **options)
    from audioquant.numba_setup import import_numba

    return import_numba().njit(cache=True, **options)(func)
