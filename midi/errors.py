"""MIDI errors and every range check of the midi package, in one small module.

``MidiParameterError`` is also a ``ValueError`` and ``MidiFileError`` an ``OSError``, so
``except ValueError`` / ``except OSError`` clauses keep working. Messages name the
parameter, the value and the allowed range: ``strength must be in 0..100, got 150``.

``MidiError`` is also an ``audioquant.AudioquantError``: a plain ``except AudioquantError``
catches every MIDI error, however it was reached. The package is ``audioquant.midi``, and
``audioquant/__init__.py`` loads ``audioquant.errors`` (and nothing else) before any of its
subpackages, so that root class already exists when this module runs: it is looked up in
``sys.modules``, never imported (midi imports nothing of the rest of audioquant). Loaded on
its own, outside audioquant, ``MidiError`` derives from ``Exception`` alone.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction

__all__ = [
    "MidiError",
    "MidiFileError",
    "MidiParameterError",
    "check_int",
    "check_percent",
]


#: audioquant's root error when this package is audioquant.midi, else Exception.
_ROOT: type[Exception] = getattr(sys.modules.get("audioquant.errors"), "AudioquantError",
                                 Exception)


class MidiError(_ROOT):  # type: ignore[misc,valid-type]
    """Root of every error the midi package raises on purpose (an AudioquantError)."""


class MidiParameterError(MidiError, ValueError):
    """A bad setting: the message names the parameter, the value and the allowed range."""


class MidiFileError(MidiError, OSError):
    """A file that cannot be read as a standard MIDI file, or cannot be written."""


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
        raise MidiParameterError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise MidiParameterError(f"{name} must be a finite number, got {value!r}")
    return number


def check_percent(name: str, value: object, low: float, high: float) -> Fraction:
    """Check a percentage and return it exactly, to 0.01 %, as a Fraction of percent.

    Percent settings are used to a hundredth of a percent: ``57.5`` is exact, ``100/3``
    is used as ``33.33``. Raises MidiParameterError outside ``low..high``.
    """
    number = _number(name, value)
    if not (low <= number <= high):
        raise MidiParameterError(f"{name} must be in {low:g}..{high:g}, got {number:g}")
    return Fraction(round(number * 100), 100)


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Check a whole number in ``low..high`` (``high=None``: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, (int,)):
        # numpy integers are accepted through __index__
        try:
            value = int(value.__index__())  # type: ignore[union-attr]
        except (AttributeError, TypeError):
            raise MidiParameterError(f"{name} must be a whole number, got {value!r}") from None
    if value < low or (high is not None and value > high):
        allowed = f"in {low}..{high}" if high is not None else f">= {low}"
        raise MidiParameterError(f"{name} must be {allowed}, got {value}")
    return int(value)
