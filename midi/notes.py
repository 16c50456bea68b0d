"""MIDI files <-> the event table and note arrays. No mido (see ``compat``).

``read`` parses the file's bytes into an event table (``smf.Events``: every event of the
file, one row each, with its track, tick, status, data bytes and byte span) and pairs
the table's note messages into ``Notes`` with a pure function (:func:`pair_notes`).
Pairing matches each note-on with a note-off of the same channel and pitch in its track
(a note-on with velocity 0 is a note-off). Overlapping notes of one pitch and channel pair
**first in, first out**: a note-off ends the earliest note of that pitch still sounding.
A note-on that never gets its note-off ends at its track's end-of-track tick and is
marked ``open_end`` (no note-off is written back for it). A note-off with no sounding
note is not a note: it is kept as an ordinary event at its tick (``Song.stray_offs``
lists them; ``quantize`` trims a moved note that would sound across one). Every event
that is not a paired note-on/off (tempo, time signature, CC, pitch bend, program, sysex,
meta, ...) is kept, as a row of the table (``Song.kept``), with its track, tick, order
and bytes.

Writing orders each track's notes and kept events by tick. At one tick the order is
fixed: note-offs that moved first, then every event at its own tick in file order (kept
events and notes that did not move), then note-ons that moved; then one end-of-track.
The events that stay at their row need no sorting (``_claim``); only moved and new note
events are sorted, and ``smf.encode_tracks`` merges the two, writing the events' own
bytes: a track in which nothing moved is copied byte for byte, so a file read and
written with no change is byte-identical (except what ``smf`` normalises, listed in its
docstring). A gap between two events
longer than one delta time can hold (``smf.MAX_VLQ`` ticks, after quantize) is bridged
by empty text events. Output goes to a temporary file beside the target that is renamed
into place only when complete.
"""

from __future__ import annotations

import copy
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from . import smf
from ._jit import njit
from .errors import MidiFileError, MidiParameterError
from .tempo import TempoMap

if TYPE_CHECKING:
    from audioquant.atomic import BackgroundCommits

__all__ = ["Notes", "Song", "pair_notes", "read", "read_bytes", "write"]

_MAX_TICK = 2**40  # larger absolute ticks are refused: far beyond any real file


@dataclass(eq=False)
class Notes:
    """Notes as parallel numpy arrays, one entry per note.

    Attributes
    ----------
    start, end : np.ndarray [shape=(n,), int64, ticks]
        Note-on and note-off times in the file's ticks.
    pitch, velocity, release_velocity : np.ndarray [shape=(n,), int16, 0..127]
    channel : np.ndarray [shape=(n,), int16, 0..15]  (the wire value; channel "10" is 9)
    track : np.ndarray [shape=(n,), int32]  (0-based track index in the file)
    open_end : np.ndarray [shape=(n,), bool]
        The note had no note-off; it ends at its track's end and none is written.
    off_is_note_on : np.ndarray [shape=(n,), bool]
        The note-off was a note-on with velocity 0 (written back the same way).
    on_index, off_index : np.ndarray [shape=(n,), int64]
        Row of the note-on / note-off message in the event table of the file it was
        read from (``Song.table``; -1: none, a note made with the API). The writer uses
        them to keep the file order of events that did not move, and their bytes.
    """

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray
    velocity: np.ndarray
    release_velocity: np.ndarray
    channel: np.ndarray
    track: np.ndarray
    open_end: np.ndarray
    off_is_note_on: np.ndarray
    on_index: np.ndarray
    off_index: np.ndarray

    _DTYPES = {
        "start": np.int64,
        "end": np.int64,
        "pitch": np.int16,
        "velocity": np.int16,
        "release_velocity": np.int16,
        "channel": np.int16,
        "track": np.int32,
        "open_end": np.bool_,
        "off_is_note_on": np.bool_,
        "on_index": np.int64,
        "off_index": np.int64,
    }

    @classmethod
    def from_arrays(
        cls,
        start,
        end,
        pitch,
        velocity=64,
        *,
        release_velocity=64,
        channel=0,
        track=0,
        open_end=False,
        off_is_note_on=False,
        on_index=-1,
        off_index=-1,
    ) -> Notes:
        """Build notes from array-likes; scalars are broadcast to the length of ``start``."""
        start = np.asarray(start, dtype=np.int64).reshape(-1)
        n = start.shape[0]
        values = {
            "start": start,
            "end": end,
            "pitch": pitch,
            "velocity": velocity,
            "release_velocity": release_velocity,
            "channel": channel,
            "track": track,
            "open_end": open_end,
            "off_is_note_on": off_is_note_on,
            "on_index": on_index,
            "off_index": off_index,
        }
        arrays = {}
        for name, value in values.items():
            a = np.asarray(value)
            if a.ndim == 0:
                a = np.full(n, a)
            if a.shape != (n,):
                raise MidiParameterError(
                    f"{name} must have the shape of start ({n},), got {a.shape}"
                )
            arrays[name] = np.ascontiguousarray(a, dtype=cls._DTYPES[name])
        notes = cls(**arrays)
        notes.validate()
        return notes

    @classmethod
    def empty(cls) -> Notes:
        return cls.from_arrays([], [], [])

    def validate(self) -> None:
        """Raise MidiParameterError unless the fields make a valid set of notes."""
        for name, lo, hi in (
            ("pitch", 0, 127),
            ("velocity", 0, 127),
            ("release_velocity", 0, 127),
            ("channel", 0, 15),
        ):
            a = getattr(self, name)
            if a.size and (a.min() < lo or a.max() > hi):
                bad = a[(a < lo) | (a > hi)][0]
                raise MidiParameterError(f"{name} must be in {lo}..{hi}, got {bad}")
        if self.start.size:
            if self.start.min() < 0 or self.start.max() >= _MAX_TICK:
                raise MidiParameterError(
                    f"start must be in 0..{_MAX_TICK - 1} ticks, got {self.start.min()}"
                )
            if (self.end < self.start).any():
                raise MidiParameterError("end must be >= start for every note")
            if self.track.min() < 0:
                raise MidiParameterError(f"track must be >= 0, got {self.track.min()}")

    def __len__(self) -> int:
        return int(self.start.shape[0])

    def __getitem__(self, index) -> Notes:
        """A subset (boolean mask, index array or slice), as new arrays."""
        return Notes(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def copy(self) -> Notes:
        return Notes(**{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def replace(self, **arrays) -> Notes:
        """A copy with some arrays replaced (``notes.replace(start=new_start)``)."""
        return replace(self, **arrays)

    def same_as(self, other: Notes) -> bool:
        """True when every array is equal (same order)."""
        return all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)
        )


class Song:
    """A MIDI file in memory: its event table, its notes and what is needed to write it.

    Attributes
    ----------
    ticks_per_beat : int
        Resolution (PPQ).
    type : int
        SMF type, 0 or 1.
    notes : Notes
    smf : smf.SmfFile
        The parsed file: the event table (``smf.events``, also ``Song.table``) and its
        tracks' chunks.
    kept : np.ndarray [int64]
        Rows of the table that are kept events: everything but paired note messages and
        end-of-track events (stray note-offs are kept events).
    track_ends : np.ndarray [shape=(tracks,), int64, ticks]
        Tick of each track's end-of-track (its last event when it has none).
    track_names : list[str | None]
        The first track_name meta event of each track.
    tempo_map : TempoMap

    ``Song(ticks_per_beat, type, notes, events, track_ends, track_names, tempo_map)``
    with ``events`` a list per track of ``(tick, index, mido message)`` still works (the
    table is then made from the messages' bytes; ``message_ticks`` is accepted for old
    callers and ignored: it is the table's ``tick``); :meth:`from_smf` is what ``read``
    uses.
    """

    def __init__(
        self,
        ticks_per_beat: int,
        type: int,
        notes: Notes,
        events: list[list[tuple[int, int, object]]] | None = None,
        track_ends: np.ndarray | None = None,
        track_names: list[str | None] | None = None,
        tempo_map: TempoMap | None = None,
        message_ticks: np.ndarray | None = None,
        *,
        smf: smf.SmfFile | None = None,
        kept: np.ndarray | None = None,
    ) -> None:
        self._events = None
        if smf is None:
            from .compat import events_from_messages

            if events is None:
                raise MidiParameterError("Song needs an event table (smf=) or events")
            smf = events_from_messages(events, ticks_per_beat)
            self._events = events
        if kept is None:
            t = smf.events
            kept = np.flatnonzero(~((t.status == 0xFF) & (t.data1 == 0x2F)))
        self.ticks_per_beat = int(ticks_per_beat)
        self.type = int(type)
        self.notes = notes
        self.smf = smf
        self.kept = kept
        self.track_ends = smf.end_tick if track_ends is None else np.asarray(track_ends,
                                                                              np.int64)
        self.track_names = _track_names(smf) if track_names is None else list(track_names)
        self.tempo_map = (TempoMap.from_changes(self.ticks_per_beat, _tempo_changes(smf))
                          if tempo_map is None else tempo_map)  # fmt: skip

    @classmethod
    def from_smf(cls, mid: smf.SmfFile) -> Song:
        """The song of a parsed file: notes paired from its table (:func:`pair_notes`)."""
        notes, kept = pair_notes(mid.events, mid.end_tick)
        return cls(mid.ticks_per_beat, mid.type, notes, smf=mid, kept=kept)

    @property
    def table(self) -> smf.Events:
        """The event table of the file (every event, notes included, in file order)."""
        return self.smf.events

    @property
    def n_tracks(self) -> int:
        return self.smf.n_tracks

    @property
    def message_ticks(self) -> np.ndarray:
        """Tick of every event of the file, by row (``Notes.on_index``) [int64, ticks]."""
        return self.smf.events.tick

    @property
    def events(self) -> list[list[tuple[int, int, object]]]:
        """Per track, the kept events as ``(tick, row, mido message)``: a convenience,
        built with mido on first use (nothing of audioquant's own uses it)."""
        if self._events is None:
            from .compat import messages

            self._events = messages(self.table, self.kept, self.n_tracks)
        return self._events

    def kept_counts(self) -> np.ndarray:
        """The number of kept events in each track [shape=(tracks,), int64]."""
        return np.bincount(self.table.track[self.kept], minlength=self.n_tracks)

    @property
    def stray_offs(self) -> np.ndarray:
        """Note-offs that end no note, kept as events [shape=(k, 4), int64: track,
        channel 0..15, pitch, tick]. Give them to ``quantize`` so that no moved note
        sounds across one (it would end that note when the file is played or read)."""
        t = self.table
        st = t.status[self.kept]
        rows = self.kept[(st >= 0x80) & (st < 0xA0)]
        return np.stack(
            [t.track[rows].astype(np.int64), (t.status[rows] & 15).astype(np.int64),
             t.data1[rows].astype(np.int64), t.tick[rows]], axis=1,
        ).reshape(-1, 4)  # fmt: skip

    @property
    def start_seconds(self) -> np.ndarray:
        """Note-on times in seconds from the start, through the tempo map [float64, s]."""
        return self.tempo_map.seconds(self.notes.start)

    @property
    def end_seconds(self) -> np.ndarray:
        """Note-off times in seconds from the start, through the tempo map [float64, s]."""
        return self.tempo_map.seconds(self.notes.end)

    def with_notes(self, notes: Notes) -> Song:
        """The same song with other notes (events, tracks and tempo map shared)."""
        new = copy.copy(self)
        new.notes = notes
        return new

    def to_bytes(self) -> bytes:
        """The MIDI file ``write`` writes, as bytes."""
        return b"".join(_encode(self))


def _tempo_changes(mid: smf.SmfFile) -> list[tuple[int, int]]:
    """``(tick, microseconds per beat)`` of every set_tempo event, in file order."""
    t = mid.events
    rows = np.flatnonzero((t.status == 0xFF) & (t.data1 == 0x51) & (t.length == 3))
    p = t.payload[rows]
    d = t.data
    tempo = (d[p].astype(np.int64) << 16 | d[p + 1].astype(np.int64) << 8
             | d[p + 2].astype(np.int64))  # fmt: skip
    return list(zip(t.tick[rows].tolist(), tempo.tolist(), strict=True))


def _track_names(mid: smf.SmfFile) -> list[str | None]:
    """The text of the first track_name meta event of each track (latin-1, as mido)."""
    t = mid.events
    rows = np.flatnonzero((t.status == 0xFF) & (t.data1 == 0x03))
    names: list[str | None] = [None] * mid.n_tracks
    tracks, first = np.unique(t.track[rows], return_index=True)
    for track, r in zip(tracks.tolist(), rows[first].tolist(), strict=True):
        names[track] = t.payload_of(r).decode("latin-1")
    return names


def _shown(name: str | bytes) -> str:
    """A file name for messages (bytes that are not UTF-8 appear as escapes)."""
    return os.fsdecode(name)


def _load(path: str | os.PathLike, known: os.stat_result | None = None
          ) -> tuple[bytes, str]:
    """The bytes of the file at ``path`` and its name for messages, every failure a
    MidiFileError. ``-`` is standard input; a FIFO is read to its end; a device is
    refused. ``known``: ``os.stat(path)``, where the caller has it already."""
    name = os.fspath(path)
    shown = _shown(name)
    try:
        if name == "-":  # standard input
            import sys

            return sys.stdin.buffer.read(), "standard input"
        st = os.stat(name) if known is None else known
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):  # /dev/zero: no end
            raise MidiFileError(f"cannot read {shown!r}: it is a device, not a MIDI file")
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError
        fd = os.open(name, _READ_FLAGS)
        try:
            return _read_all(fd, st.st_size if stat.S_ISREG(st.st_mode) else -1), shown
        finally:
            os.close(fd)
    except MidiFileError:
        raise
    except FileNotFoundError:
        raise MidiFileError(f"cannot read {shown!r}: no such file") from None
    except IsADirectoryError:
        raise MidiFileError(f"cannot read {shown!r}: it is a directory") from None
    except PermissionError:
        raise MidiFileError(f"cannot read {shown!r}: permission denied") from None
    except OSError as exc:
        raise MidiFileError(f"cannot read {shown!r}: {exc.strerror or exc}") from None


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _read_all(fd: int, size: int) -> bytes:
    """The bytes of ``fd`` to its end; ``size`` [bytes]: a regular file's, read in one
    call (file objects would add five calls: a GIL hand-over each in a batch's
    threads), -1 when unknown."""
    if size >= 0:
        data = os.read(fd, size + 1)
        if len(data) == size:
            return data
        parts = [data]
    else:
        parts = []
    while chunk := os.read(fd, 1 << 16):
        parts.append(chunk)
    return b"".join(parts)


def _pair_fifo(key: np.ndarray, is_on: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair note-ons and note-offs of each key first in, first out, as a queue per key
    would (a note-off ends the earliest sounding note of its key; with none sounding it
    is a stray). Rows are messages in file order. The numpy reference of the ``_pair``
    kernel (the tests compare them).

    Returns ``(ons, offs, stray)``: row numbers of paired note-ons and of their note-offs
    (aligned), and a mask of stray note-offs.
    """
    n = key.shape[0]
    order = np.argsort(key, kind="stable")
    k = key[order]
    on = is_on[order]
    first = np.ones(n, dtype=bool)
    first[1:] = k[1:] != k[:-1]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    step = np.where(on, 1, -1)
    total = np.cumsum(step)
    depth = total - (total - step)[starts][group]  # ons minus offs so far, in the key
    # the queue length is depth - min(0, lowest depth so far); each stray note-off is a
    # new lowest depth. Groups are shifted apart by more than n, so one running minimum
    # over the whole array restarts at every key.
    spread = group * np.int64(n + 1)
    lowest = np.minimum(np.minimum.accumulate(depth - spread) + spread, 0)
    queue = depth - lowest
    before = np.zeros(n, dtype=np.int64)
    before[1:] = queue[:-1]
    before[first] = 0
    stray = ~on & (before == 0)
    paired_off = ~on & ~stray
    ons_so_far = np.cumsum(on)
    rank = ons_so_far - (ons_so_far - on)[starts][group] - 1
    n_paired = np.bincount(group[paired_off], minlength=starts.shape[0])
    paired_on = on & (rank < n_paired[group])
    # k-th paired note-off of a key ends its k-th note-on: both lists are key-major and
    # in file order within a key, so they line up
    out_stray = np.zeros(n, dtype=bool)
    out_stray[order[stray]] = True
    return order[paired_on], order[paired_off], out_stray


@njit
def _pair(status, data1, data2, track, tick, track_ends, n_on, start, end, pitch, velocity,
          release, channel, track_out, open_end, off_is_on, on_index, off_index, keep):
    """Pair note-ons and note-offs first in, first out per track, channel and pitch, in
    one pass over the table in file order (a queue of sounding notes per key, as linked
    lists); fills the note arrays (``n_on`` note-ons) and ``keep`` per row."""
    head = np.full(2048, -1, np.int64)
    tail = np.full(2048, -1, np.int64)
    nxt = np.full(n_on, -1, np.int64)
    j = 0
    current = -1
    for r in range(status.shape[0]):
        s = status[r]
        t = track[r]
        if t != current:
            current = t
            head[:] = -1
            tail[:] = -1
        if s < 0x80 or s >= 0xA0:
            keep[r] = not (s == 0xFF and data1[r] == 0x2F)
            continue
        key = (s & 15) << 7 | data1[r]
        keep[r] = False
        if s >= 0x90 and data2[r] > 0:
            start[j] = tick[r]
            end[j] = track_ends[t]
            pitch[j] = data1[r]
            velocity[j] = data2[r]
            release[j] = 0
            channel[j] = s & 15
            track_out[j] = t
            open_end[j] = True
            off_is_on[j] = False
            on_index[j] = r
            off_index[j] = -1
            if tail[key] >= 0:
                nxt[tail[key]] = j
            else:
                head[key] = j
            tail[key] = j
            j += 1
        elif head[key] >= 0:
            k = head[key]
            head[key] = nxt[k]
            if nxt[k] < 0:
                tail[key] = -1
            end[k] = tick[r]
            release[k] = data2[r]
            off_is_on[k] = s >= 0x90
            open_end[k] = False
            off_index[k] = r
        else:
            keep[r] = True  # a stray note-off: a kept event


def pair_notes(events: smf.Events, track_ends: np.ndarray) -> tuple[Notes, np.ndarray]:
    """Pair the note messages of an event table into notes (a pure function).

    A note-on with velocity above 0 starts a note; a note-off, or a note-on with velocity
    0, ends the earliest sounding note of its track, channel and pitch (first in, first
    out); with none sounding it is a stray note-off, a kept event. A note never ended
    ends at its track's end (``track_ends`` [ticks]) and is ``open_end``. (``_pair_fifo``
    is the same pairing in plain numpy, the reference the kernel is tested against.)

    Returns ``(notes, kept)``: the notes, in the order of their note-ons in the file,
    and the rows of the kept events (everything but paired note messages and
    end-of-track events), ascending.
    """
    st = events.status
    n = int(np.count_nonzero((st & 0xF0 == 0x90) & (events.data2 > 0)))
    a = {name: np.empty(n, dtype) for name, dtype in Notes._DTYPES.items()}
    keep = np.empty(len(events), np.bool_)
    _pair(st, events.data1, events.data2, events.track, events.tick,
          np.asarray(track_ends, np.int64), n, a["start"], a["end"], a["pitch"],
          a["velocity"], a["release_velocity"], a["channel"], a["track"], a["open_end"],
          a["off_is_note_on"], a["on_index"], a["off_index"], keep)  # fmt: skip
    return Notes(**a), np.flatnonzero(keep)


def read(path: str | os.PathLike) -> Song:
    """Read an SMF type 0 or 1 file into a Song (event table, notes as arrays).

    The bytes are parsed by ``midi.smf`` (what it accepts and refuses, and why, is in its
    docstring): unknown chunks are skipped, realtime bytes skipped, a type-0 file with
    several tracks is read as type 1.

    Raises
    ------
    MidiFileError
        Not a MIDI file, truncated, a broken track (the message names the track and the
        byte offset), no tracks, type 2, SMPTE time division, 0 ticks per beat, event
        times beyond 2**40 ticks.
    """
    data, shown = _load(path)
    return read_bytes(data, shown)


def read_bytes(data: bytes, name: str = "<bytes>") -> Song:
    """:func:`read` for the bytes of a file in memory (``name`` is used in messages)."""
    mid = smf.parse(data, name)
    over = np.flatnonzero(mid.end_tick >= _MAX_TICK)
    if over.size:
        t = int(over[0])
        raise MidiFileError(
            f"cannot read {name!r}: track {t} has event times beyond {_MAX_TICK} ticks"
            f" ({int(mid.end_tick[t])}); this reader stops at {_MAX_TICK}"
        )
    return Song.from_smf(mid)


@njit
def _claim(tick, status, data1, data2, track, kept, start, end, pitch, velocity, release,
           channel, note_track, open_end, off_is_on, on_index, off_index, a_code, on_b,
           off_b, ends):
    """Place each event to write: a kept row, or a note's on or off at the tick (and in
    the track) of the row it came from, stays at that row (``a_code[row]``: -2 its own
    bytes, or the code of its message when the note's values differ from the row's);
    every other note event is moved or new (``on_b``/``off_b`` True). ``ends[track]`` is
    raised to the end of every open note. Returns the number of moved or new events."""
    n_rows = tick.shape[0]
    for k in range(kept.shape[0]):
        a_code[kept[k]] = -2
    moved = 0
    for j in range(start.shape[0]):
        t = note_track[j]
        ch = np.int64(channel[j])
        r = on_index[j]
        code = (0x90 | ch) << 16 | np.int64(pitch[j]) << 8 | np.int64(velocity[j])
        if 0 <= r < n_rows and tick[r] == start[j] and a_code[r] == -1 and track[r] == t:
            same = (np.int64(status[r]) << 16 | np.int64(data1[r]) << 8
                    | np.int64(data2[r])) == code
            a_code[r] = -2 if same else code
            on_b[j] = False
        else:
            on_b[j] = True
            moved += 1
        if open_end[j]:
            off_b[j] = False
            if end[j] > ends[t]:
                ends[t] = end[j]
            continue
        r = off_index[j]
        if off_is_on[j]:
            code = (0x90 | ch) << 16 | np.int64(pitch[j]) << 8
        else:
            code = (0x80 | ch) << 16 | np.int64(pitch[j]) << 8 | np.int64(release[j])
        if 0 <= r < n_rows and tick[r] == end[j] and a_code[r] == -1 and track[r] == t:
            same = (np.int64(status[r]) << 16 | np.int64(data1[r]) << 8
                    | np.int64(data2[r])) == code
            a_code[r] = -2 if same else code
            off_b[j] = False
        else:
            off_b[j] = True
            moved += 1
    return moved


@njit
def _moved(tick, status, data1, data2, track, start, end, pitch, velocity, release,
           channel, note_track, off_is_on, on_index, off_index, on_b, off_b, b_track,
           b_tick, b_bucket, b_order, b_src, b_code):
    """The moved or new note events (see ``_claim``), note-ons first, then note-offs:
    track, tick, bucket (0 a moved note-off, 1 at its file tick, 2 a moved note-on), order
    (its file row; new events after all rows, by note), the row whose bytes it keeps
    (-1: a new message, ``b_code``)."""
    n_rows = tick.shape[0]
    k = 0
    for side in range(2):
        for j in range(start.shape[0]):
            if not (off_b[j] if side else on_b[j]):
                continue
            ch = np.int64(channel[j])
            if side == 0:
                r = on_index[j]
                at = start[j]
                code = (0x90 | ch) << 16 | np.int64(pitch[j]) << 8 | np.int64(velocity[j])
            else:
                r = off_index[j]
                at = end[j]
                if off_is_on[j]:
                    code = (0x90 | ch) << 16 | np.int64(pitch[j]) << 8
                else:
                    code = (0x80 | ch) << 16 | np.int64(pitch[j]) << 8 | np.int64(release[j])
            valid = 0 <= r < n_rows
            b_track[k] = note_track[j]
            b_tick[k] = at
            b_order[k] = r if r >= 0 else n_rows + j
            if valid and tick[r] == at:
                b_bucket[k] = 1
            else:
                b_bucket[k] = 2 if side == 0 else 0
            same = valid and track[r] == note_track[j] and (
                np.int64(status[r]) << 16 | np.int64(data1[r]) << 8 | np.int64(data2[r])
            ) == code
            b_src[k] = r if same else -1
            b_code[k] = code
            k += 1


def _sort_moved(b_track, b_tick, b_bucket, b_order, ons: int, slots: int) -> np.ndarray:
    """The permutation that sorts the moved events (``_moved``'s: ``ons`` note-ons, then
    the note-offs; every order below ``slots``) by (track, tick, bucket, order), ties in
    the order given: ``_moved_order`` (the one-call kernel's), else (the four do not fit
    in an int64, or two events share an order) ``np.lexsort``."""
    fits, perm = _moved_order(b_track, b_tick, b_bucket, b_order, ons, slots)
    return perm if fits else np.lexsort((b_order, b_bucket, b_tick, b_track)).astype(np.int32)


@njit
def _sort_runs(key, split):
    """Sort the two runs ``key[:split]`` and ``key[split:]`` (distinct values, each nearly
    in order: the moved note-ons and note-offs) in place, by insertion; False, with
    ``key`` partly sorted, when they are far from sorted (the caller sorts it whole)."""
    n = key.shape[0]
    work = 0
    for lo, hi in ((0, split), (split, n)):
        for i in range(lo + 1, hi):
            x = key[i]
            j = i - 1
            while j >= lo and key[j] > x:
                key[j + 1] = key[j]
                j -= 1
            work += i - 1 - j
            key[j + 1] = x
            if work > 16 * n + 1024:
                return False
    return True


@njit
def _moved_order(b_track, b_tick, b_bucket, b_order, ons, slots):
    """The order in which the moved events (``notes._moved``'s: ``ons`` note-ons, then
    the note-offs) are written: by (track, tick, bucket, order), as ``_sort_moved``
    gives it. Each event's order (its file row, or a new event's number) is below
    ``slots`` and names it, so the packed keys are sorted as values and the events
    found from them; the note-offs are taken in the file order of their rows, which
    puts them nearly in time order too. Returns whether that applies (not when the four
    do not fit in an int64 or two events share an order) and the order."""
    m = b_tick.shape[0]
    if m == 0:
        return True, np.zeros(0, np.int32)
    order_bits = _bits(b_order.max())
    tick_bits = _bits(b_tick.max())
    if _bits(b_track.max()) + tick_bits + 2 + order_bits > 63:
        return False, np.zeros(0, np.int32)
    slot = np.full(slots, -1, np.int32)     # (orders < 2**31: files are < 2 GiB)
    for k in range(m):
        if slot[b_order[k]] >= 0:
            return False, np.zeros(0, np.int32)
        slot[b_order[k]] = k
    key = np.empty(m, np.int64)
    for k in range(ons):        # the note-ons as they come
        key[k] = _packed(b_track[k], b_tick[k], b_bucket[k], b_order[k], order_bits,
                         tick_bits)
    k = ons
    for r in range(slots):      # the note-offs by order
        e = slot[r]
        if e >= ons:
            key[k] = _packed(b_track[e], b_tick[e], b_bucket[e], b_order[e], order_bits,
                             tick_bits)
            k += 1
    mask = (np.int64(1) << order_bits) - 1
    perm = np.empty(m, np.int32)
    if not _sort_runs(key, ons):
        key = np.sort(key)
        for i in range(m):
            perm[i] = slot[key[i] & mask]
        return True, perm
    a, b = 0, ons               # (merge the runs into the events' order)
    for i in range(m):
        if b >= m or (a < ons and key[a] < key[b]):
            perm[i] = slot[key[a] & mask]
            a += 1
        else:
            perm[i] = slot[key[b] & mask]
            b += 1
    return True, perm


@njit
def _bits(x):
    """``int(x).bit_length()`` of an integer >= 0."""
    k = 0
    while x > 0:
        k += 1
        x >>= 1
    return k


@njit
def _packed(track, tick, bucket, order, order_bits, tick_bits):
    """Track, tick, bucket and order of an event in one int64, order in the lowest
    ``order_bits`` bits, tick in the ``tick_bits`` above the 2 bits of bucket."""
    return ((np.int64(track) << tick_bits | tick) << 2
            | np.int64(bucket)) << order_bits | np.int64(order)


def _encode(song: Song) -> list:
    """The pieces of the file (header, then track chunks) as byte buffers."""
    notes = song.notes
    n_tracks = song.n_tracks
    if len(notes) and notes.track.max() >= n_tracks:
        raise MidiParameterError(f"track must be in 0..{n_tracks - 1}, got {notes.track.max()}")
    notes.validate()
    table = song.table
    mid = song.smf
    n = len(notes)
    ends = np.zeros(n_tracks, np.int64)
    given = np.asarray(song.track_ends, np.int64)[:n_tracks]
    ends[: given.shape[0]] = given
    a_code = np.full(len(table), -1, np.int32)
    on_b = np.empty(n, np.bool_)
    off_b = np.empty(n, np.bool_)
    cols = (table.tick, table.status, table.data1, table.data2, table.track)
    note_cols = (notes.start, notes.end, notes.pitch, notes.velocity, notes.release_velocity,
                 notes.channel, notes.track)  # fmt: skip
    m = _claim(*cols, song.kept, *note_cols, notes.open_end, notes.off_is_note_on,
               notes.on_index, notes.off_index, a_code, on_b, off_b, ends)
    b_track = np.empty(m, np.int32)
    b_tick = np.empty(m, np.int64)
    b_bucket = np.empty(m, np.int8)
    b_order = np.empty(m, np.int32)      # (rows + notes < 2**31: files are < 2 GiB)
    b_src = np.empty(m, np.int32)
    b_code = np.empty(m, np.int32)
    _moved(*cols, *note_cols, notes.off_is_note_on, notes.on_index, notes.off_index, on_b,
           off_b, b_track, b_tick, b_bucket, b_order, b_src, b_code)
    perm = _sort_moved(b_track, b_tick, b_bucket, b_order, int(np.count_nonzero(on_b)),
                       len(table) + n)
    out, spans = smf.encode_tracks(mid, a_code, b_track, b_tick, b_bucket, b_order, b_src,
                                   b_code, perm, ends)  # fmt: skip
    data = table.data
    if (mid.header_type, mid.announced, mid.ticks_per_beat) == (song.type, n_tracks,
                                                                 song.ticks_per_beat):
        parts = [data[mid.header[0] : mid.header[1]]]
    else:
        head = b"MThd" + (6).to_bytes(4, "big") + song.type.to_bytes(2, "big")
        parts = [head + n_tracks.to_bytes(2, "big") + song.ticks_per_beat.to_bytes(2, "big")]
    for t in range(n_tracks):
        if spans[t, 0] < 0:
            parts.append(data[mid.chunk_start[t] : mid.chunk_end[t]])
        else:
            parts.append(out[spans[t, 0] : spans[t, 1]])
    return parts


def write(song: Song, target: str | os.PathLike | BinaryIO, *,
          commits: BackgroundCommits | None = None) -> None:
    """Write ``song`` to ``target``: a path, written atomically (see :func:`atomic_write`;
    ``commits``: synced and renamed into place by that background committer), or a
    binary file object, written into as it is. Only what changed is encoded anew (see the
    module docstring and ``midi.smf``).
    """
    parts = _encode(song)

    def put(f: BinaryIO) -> None:
        for part in parts:
            f.write(memoryview(part))

    if hasattr(target, "write"):
        put(target)  # type: ignore[arg-type]
    else:
        atomic_write(target, put, commits=commits)


def atomic_write(path: str | os.PathLike, write_to: Callable[[BinaryIO], object], *,
                 commits: BackgroundCommits | None = None) -> None:
    """Write a file that ends complete or not at all: ``write_to(f)`` fills the binary
    file of an :class:`audioquant.atomic.OutputFile` (a temporary file beside the file
    ``path`` names, synced and renamed over it only when complete, keeping the replaced
    file's mode and owner; a symlink is followed; a device, FIFO, socket or ``-`` is
    written into, never renamed over). On any error the target is left as it was, no
    temporary file remains, and the error is a MidiFileError naming the path. With
    ``commits`` (an :class:`audioquant.atomic.BackgroundCommits`) the complete file is
    handed to it to sync and rename; a failure there is in its ``failures``.
    """
    from audioquant.atomic import OutputFile
    from audioquant.errors import AudioFileError

    try:
        out = OutputFile(path)
        try:
            try:
                write_to(out.file)
            except OSError as exc:
                raise MidiFileError(f"cannot write {out.path!r}: {exc.strerror or exc}"
                                    ) from None
            if commits is None:
                out.commit()
            else:
                commits.submit(out)
        except BaseException:       # (Ctrl-C included): nothing left behind
            out.abort()
            raise
    except AudioFileError as exc:
        raise MidiFileError(str(exc)) from None
