"""Numba kernels for audioquant: arrays in, arrays out, no I/O and no argument parsing.

- :mod:`dsp.dither` -- counter-based random numbers and RPDF / TPDF / high-pass TPDF dither.
- :mod:`dsp.quantize` -- float to N-bit integer codes with dither, noise shaping, auto-blank.
- :mod:`dsp.shaping` -- the catalog of published error-feedback noise shapers.
- :mod:`dsp.resample` -- band-limited polyphase resampling; sample-and-hold.
"""
