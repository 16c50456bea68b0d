"""MIDI to audio: a performance, quantized if asked, played by an instrument, as a Source.

:class:`MidiSource` is the engine's second kind of source (the first is an audio file):
``audioquant.midi`` reads the file (and quantizes it with a spec's
:class:`~audioquant.spec.QuantizeOptions`), :func:`audioquant.midi.performance` puts every
event on its exact sample at the render's rate, and an instrument
(:class:`audioquant.dsp.synth.Synth`, or :class:`audioquant.dsp.soundfont.SoundFont` for
``FONT.sf2``) renders stereo blocks of any size, bit-identical whatever the size, ending
when its release tail is silent. The chain and the sink take it as they take a file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import Any

import numpy as np

from audioquant.engine import Source
from audioquant.errors import AudioFileError

#: The rate a MIDI source plays at when no ``rate`` is asked [Hz] (FluidSynth's default).
DEFAULT_MIDI_RATE = 44100

#: File name endings read as MIDI (any file that starts with a MIDI header is, too).
MIDI_EXTENSIONS = (".mid", ".midi", ".smf", ".kar", ".rmi")


def is_midi(path: str | os.PathLike) -> bool:
    """True when ``path`` names a MIDI file: a regular file with a standard MIDI file's
    ``MThd`` header (or an RMID wrapper); anything else (a FIFO, a file that cannot be
    read here) by a MIDI name ending."""
    name = os.fspath(path)
    by_name = os.path.splitext(os.fsdecode(name))[1].lower() in MIDI_EXTENSIONS
    try:
        if not stat.S_ISREG(os.stat(name).st_mode):
            return by_name         # a FIFO or a device: reading it here would eat its data
        with open(name, "rb") as f:
            head = f.read(12)
    except (OSError, ValueError):
        return by_name
    return head[:4] == b"MThd" or (head[:4] == b"RIFF" and head[8:12] == b"RMID")


def make_instrument(name: str) -> Any:
    """The instrument ``name`` names: ``"synth"`` (the built-in one) or a SoundFont file
    path (AudioFileError, one line, for a font that is missing or broken)."""
    if name == "synth":
        from audioquant.dsp.synth import Synth

        return Synth()
    from audioquant import threads
    from audioquant.dsp.soundfont import SoundFont

    if not os.path.isfile(name):
        raise AudioFileError(f"cannot read SoundFont {name}: no such file")
    return SoundFont(name, pool=threads.pool)     # long spans: two voice groups at once


class MidiSource(Source):
    """A MIDI file played by ``instrument`` at ``sample_rate`` Hz, quantized first with
    ``quantize`` (a :class:`~audioquant.spec.QuantizeOptions`, or None to play it as
    played). The file is read (and checked) here; ``frames`` is None (the release tail
    decides the length); ``notes`` is the number of notes played; ``quantized`` the
    quantize report (None without quantize)."""

    dtype = "float64"

    def __init__(self, path: str | os.PathLike, instrument: Any, *,
                 sample_rate: int = DEFAULT_MIDI_RATE, quantize: Any = None) -> None:
        from audioquant import midi

        self.name = os.fspath(path)
        song = midi.read(self.name)
        self.quantized = None
        if quantize is not None:
            song, self.quantized = midi.quantize_song(song, **quantize.as_dict())
        self.instrument = instrument
        self.sample_rate = int(sample_rate)
        self.channels = int(instrument.channels)
        self.frames = None
        self.tags = {}
        title = next((name for name in song.track_names if name), None)
        if title:
            self.tags = {"title": title}
        self.performance = midi.performance(song, self.sample_rate)
        self.notes = self.performance.notes()
        instrument.check(self.performance)   # e.g. a font without a program the file asks

    def __repr__(self) -> str:
        return f"MidiSource({self.name!r}, {self.instrument!r}, {self.sample_rate})"

    def blocks(self, block_size: int) -> Iterator[np.ndarray]:
        """The instrument's audio from the start, ``block_size`` frames at a time, to the
        end of its tail (the last block may be shorter; none at all for an empty file)."""
        self.instrument.prepare(self.performance)
        while True:
            block = self.instrument.render(block_size)
            if block.shape[1]:
                yield block
            if block.shape[1] < block_size:
                return
