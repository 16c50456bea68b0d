"""The error hierarchy: every error audioquant raises on purpose derives from AudioquantError.

``ParameterError`` is also a ``ValueError`` and ``AudioFileError`` an ``OSError``, so
existing ``except ValueError`` / ``except OSError`` clauses keep working. The CLI prints
``error: <message>`` for these and exits 1.

The MIDI errors (``audioquant.midi.MidiError`` and its ``MidiParameterError``,
``MidiFileError``) derive from ``AudioquantError`` too: ``midi/errors.py`` takes this
module's class as its root when it is loaded as ``audioquant.midi`` (this module is always
loaded first, by ``audioquant/__init__.py``), so one ``except AudioquantError`` catches them.
"""

from __future__ import annotations


class AudioquantError(Exception):
    """Root of every error audioquant raises deliberately."""


class ParameterError(AudioquantError, ValueError):
    """A bad value: the message names the parameter, the value and the allowed range."""


class AudioFileError(AudioquantError, OSError):
    """A file that cannot be read, is not audio, or cannot be written."""


def check_range(name: str, value: float, low: float, high: float) -> None:
    """Raise ParameterError unless ``low <= value <= high``: ``bits must be in 1..32, got 40``."""
    if not (low <= value <= high):
        raise ParameterError(f"{name} must be in {low:g}..{high:g}, got {value:g}")


def first_non_finite(x) -> tuple[int, int] | None:
    """(channel, frame) of the earliest NaN/Inf in time in ``(channels, frames)`` ``x``,
    whichever channel it is in; None when every sample is finite."""
    import numpy as np  # here, so that importing the errors (the CLI does) stays light

    bad = ~np.isfinite(x)
    if not bad.any():
        return None
    frame = int(np.argmax(bad.any(axis=0)))
    return int(np.argmax(bad[:, frame])), frame
