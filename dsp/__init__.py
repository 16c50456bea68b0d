"""Numba kernels for audioquant: arrays in, arrays out, no I/O and no argument parsing.

- :mod:`dsp.dither` -- counter-based random numbers and RPDF / TPDF / high-pass TPDF dither.
- :mod:`dsp.quantize` -- float to N-bit integer codes with dither, noise shaping, auto-blank.
- :mod:`dsp.shaping` -- the catalog of published error-feedback noise shapers.
- :mod:`dsp.design` -- noise shapers designed for any sample rate (numpy, not a kernel).
- :mod:`dsp.resample` -- band-limited polyphase resampling; sample-and-hold.
"""


def import_numba():
    """Import and return numba, without its BLAS probe; the kernel modules use this.

    ``numba.np.arraymath`` imports ``scipy.linalg.cython_blas`` when it is first loaded,
    only to learn whether BLAS is there; that pulls in all of scipy.linalg (about 0.3 s
    of a render's start-up). Our kernels use no BLAS, so a placeholder module stands in
    while numba loads and is removed at once: a later real use of BLAS (``np.dot`` in
    someone else's kernel, or ``import scipy.linalg``) imports the real module as usual.
    Modules of ``dsp`` without kernels (``shaping``, ``design``) do not load numba at all.
    """
    import sys
    import types

    name = "scipy.linalg.cython_blas"
    if name not in sys.modules and "numba.np.arraymath" not in sys.modules:
        sys.modules[name] = types.ModuleType(name)
        try:
            import numba.np.arraymath  # noqa: F401
        finally:
            if not hasattr(sys.modules.get(name), "__file__"):
                del sys.modules[name]
    import numba

    return numba
