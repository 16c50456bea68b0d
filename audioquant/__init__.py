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

_version: str | None = None


def _installed_version() -> str:
    """The version of the installed distribution: pyproject.toml's ``version``, the one
    place it is written, read from the package metadata; ``0+unknown`` when audioquant
    runs from a source tree that was never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("audioquant")
    except PackageNotFoundError:
        return "0+unknown"


def __getattr__(name: str):
    global _version
    if name == "__version__":     # on first use: importlib.metadata costs a few ms
        if _version is None:
            _version = _installed_version()
        return _version
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
