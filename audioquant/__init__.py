"""audioquant: render audio at reduced bit depth, resample, quantize MIDI, measure.

Cheat-sheet::

    from audioquant import Requantize, Chain, render, analysis

    report = render("mix.wav", "cd.wav", bits=16, dither="tpdf", shaping="auto")
    report.snr_db, report.clips, report.shaping

    y = Requantize(16, dither="tpdf", shaping="lipshitz")(x, 44100)  # x: (channels, frames)
    analysis.snr(x, y)                      # dB
    analysis.dynamic_range(tone, 44100)     # AES17, dB

Threads: ``set_max_threads(n)`` (or ``AUDIOQUANT_THREADS=n``) caps the compute threads of
the process (default: its CPUs); give each worker of a process pool its share.

Errors: :class:`AudioquantError` > :class:`ParameterError` (also ValueError),
:class:`AudioFileError` (also OSError).

Submodules are loaded on first use, so ``import audioquant`` stays cheap.
"""

from __future__ import annotations

from audioquant.errors import AudioFileError, AudioquantError, ParameterError

__all__ = ["AudioFileError", "AudioquantError", "Chain", "ParameterError", "Processor",
           "Requantize", "max_threads", "render", "set_max_threads"]

__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("Processor", "Requantize"):
        from audioquant import processors

        return getattr(processors, name)
    if name in ("max_threads", "set_max_threads"):
        from audioquant import threads

        return getattr(threads, name)
    if name in ("Chain", "render"):
        from audioquant import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'audioquant' has no attribute {name!r}")
