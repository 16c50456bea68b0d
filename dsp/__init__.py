"""Numba kernels for audioquant: arrays in, arrays out, no I/O and no argument parsing.

- :mod:`dsp.dither` -- counter-based random numbers and RPDF / TPDF / high-pass TPDF dither.
- :mod:`dsp.quantize` -- float to N-bit integer codes with dither, noise shaping, auto-blank.
- :mod:`dsp.shaping` -- the catalog of published error-feedback noise shapers.
- :mod:`dsp.design` -- noise shapers designed for any sample rate (numpy, not a kernel).
- :mod:`dsp.resample` -- band-limited polyphase resampling; sample-and-hold.
- :mod:`dsp.instrument` -- what every instrument shares: events on their exact samples,
  the General MIDI channel state, the release tail.
- :mod:`dsp.synth` -- the built-in General MIDI synth (:class:`~dsp.synth.Synth`).
- :mod:`dsp.soundfont`, :mod:`dsp.sampler` -- SoundFont 2 files played by a sample player
  (:class:`~dsp.soundfont.SoundFont`).
"""

from __future__ import annotations

from audioquant.numba_setup import HELD_SIGNALS, held_signals, import_numba

__all__ = ["HELD_SIGNALS", "held_signals", "import_numba"]
