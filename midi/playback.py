"""A performance as an instrument plays it: every channel event at its exact sample.

:func:`performance` turns a :class:`~audioquant.midi.notes.Song` into
:class:`Performance`: parallel arrays of note-ons, note-offs, controllers, program
changes and pitch bends, each at the sample ``round(seconds(tick) x rate)`` of its tick,
computed from the tempo map in integer arithmetic (:meth:`TempoMap.samples`), never
accumulated, so no tempo map makes a note drift. Instruments (``audioquant.dsp.synth``,
``audioquant.dsp.soundfont``) take these arrays as they are: plain numpy, no mido.

At one sample the order is: note-offs, then controllers, programs and bends in file
order, then note-ons. So a note re-struck at the tick it ends is ended first, and a
program change or a pedal at the tick of a note applies to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .notes import Song

__all__ = ["CONTROL", "KINDS", "NOTE_OFF", "NOTE_ON", "PITCH_BEND", "PROGRAM", "Performance",
           "performance"]

#: Event kinds (``Performance.kind``), in the order they take at one sample.
NOTE_OFF, CONTROL, PROGRAM, PITCH_BEND, NOTE_ON = 0, 1, 2, 3, 4
KINDS = {"note_off": NOTE_OFF, "control": CONTROL, "program": PROGRAM,
         "pitch_bend": PITCH_BEND, "note_on": NOTE_ON}
_ORDER = {NOTE_OFF: 0, CONTROL: 1, PROGRAM: 1, PITCH_BEND: 1, NOTE_ON: 2}


@dataclass(frozen=True, eq=False)
class Performance:
    """Channel events in time order, as parallel arrays (one entry per event).

    Attributes
    ----------
    sample_rate : int
        The rate ``sample`` counts at [Hz].
    sample : np.ndarray [int64, samples]
        Where the event takes effect, from the start of the file (tick 0 is sample 0).
    kind : np.ndarray [int8]
        :data:`NOTE_ON`, :data:`NOTE_OFF`, :data:`CONTROL`, :data:`PROGRAM` or
        :data:`PITCH_BEND`.
    channel : np.ndarray [int8, 0..15]
        The wire channel (GM drums are 9, "channel 10").
    a, b : np.ndarray [int16]
        Note events: pitch 0..127 and velocity 1..127 (a note-off: its release velocity);
        control: controller 0..127 and value 0..127; program: program 0..127 and 0;
        pitch bend: -8192..8191 and 0.
    end : int
        The sample of the last event (0 for none): the performance's own length, before
        any instrument's release tail.
    """

    sample_rate: int
    sample: np.ndarray
    kind: np.ndarray
    channel: np.ndarray
    a: np.ndarray
    b: np.ndarray

    def __len__(self) -> int:
        return int(self.sample.size)

    @property
    def end(self) -> int:
        return int(self.sample[-1]) if self.sample.size else 0

    def notes(self) -> int:
        """The number of note-ons."""
        return int(np.count_nonzero(self.kind == NOTE_ON))


def performance(song: Song, sample_rate: int) -> Performance:
    """Every note and channel event of ``song`` at its sample at ``sample_rate`` Hz (see the
    module). Notes come from ``song.notes`` (so a quantized song plays as quantized);
    control changes, program changes and pitch bends from its kept events (rows of its
    event table, ``Song.kept``); other events (meta, sysex, aftertouch, note-offs that end
    no note) make no sound here."""
    notes = song.notes
    ticks = [notes.start, notes.end]
    kinds = [np.full(len(notes), NOTE_ON), np.full(len(notes), NOTE_OFF)]
    channels = [notes.channel, notes.channel]
    first = [notes.pitch, notes.pitch]
    second = [np.maximum(notes.velocity, 1), notes.release_velocity]
    # File order within a tick for the kept events: their index in the file.
    order = [notes.on_index, notes.off_index]
    table = song.table
    rows = song.kept
    status = table.status[rows]
    hi = status & 0xF0
    rows = rows[(hi == 0xB0) | (hi == 0xC0) | (hi == 0xE0)]
    hi = table.status[rows] & 0xF0
    d1 = table.data1[rows].astype(np.int64)
    d2 = table.data2[rows].astype(np.int64)
    other = np.empty((rows.shape[0], 6), np.int64)
    other[:, 0] = table.tick[rows]
    other[:, 1] = rows
    other[:, 2] = np.where(hi == 0xB0, CONTROL, np.where(hi == 0xC0, PROGRAM, PITCH_BEND))
    other[:, 3] = table.status[rows] & 15
    other[:, 4] = np.where(hi == 0xE0, (d2 << 7 | d1) - 8192, d1)
    other[:, 5] = np.where(hi == 0xB0, d2, 0)
    ticks.append(other[:, 0])
    order.append(other[:, 1])
    kinds.append(other[:, 2])
    channels.append(other[:, 3])
    first.append(other[:, 4])
    second.append(other[:, 5])

    tick = np.concatenate(ticks).astype(np.int64)
    kind = np.concatenate(kinds).astype(np.int8)
    rank = np.array([_ORDER[k] for k in range(5)], np.int8)[kind]
    sample = song.tempo_map.samples(tick, sample_rate)
    # Time, then offs / others / ons, then file order (ties kept stable).
    by = np.lexsort((np.concatenate(order), rank, sample))
    return Performance(
        sample_rate=int(sample_rate),
        sample=sample[by],
        kind=kind[by],
        channel=np.concatenate(channels).astype(np.int8)[by],
        a=np.concatenate(first).astype(np.int16)[by],
        b=np.concatenate(second).astype(np.int16)[by],
    )
