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

__all__ = ["AudioFileError", "AudioFileSource", "AudioquantError", "Chain", "Gain",
           "MidiSource", "Mix", "Pan", "ParameterError", "PcmFileSink", "Processor",
           "RenderOptions", "RenderSpec", "Requantize", "Sink", "Source", "load_preset",
           "max_threads", "render", "render_one", "run", "set_max_threads"]

#: Where each lazily imported name lives (``import audioquant`` itself stays light).
_LAZY = {
    "processors": ("Gain", "Mix", "Pan", "Processor", "Requantize"),
    "threads": ("max_threads", "set_max_threads"),
    "engine": ("AudioFileSource", "Chain", "PcmFileSink", "Sink", "Source", "render",
               "render_one", "run"),
    "spec": ("RenderOptions", "RenderSpec", "load_preset"),
    "bounce": ("MidiSource",),
}

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
    for module, names in _LAZY.items():
        if name in names:
            from importlib import import_module

            return getattr(import_module(f"audioquant.{module}"), name)
    raise AttributeError(f"module 'audioquant' has no attribute {name!r}")
