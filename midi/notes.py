"""MIDI files <-> note arrays. The only module of the package that uses mido.

Reading pairs each note-on with a note-off of the same channel and pitch in its track
(a note-on with velocity 0 is a note-off). Overlapping notes of one pitch and channel pair
**first in, first out**: a note-off ends the earliest note of that pitch still sounding.
A note-on that never gets its note-off ends at its track's end-of-track tick and is
marked ``open_end`` (no note-off is written back for it). A note-off with no sounding
note is not a note: it is kept as an ordinary event at its tick (``Song.stray_offs``
lists them; ``quantize`` trims a moved note that would sound across one). Every event
that is not a paired
note-on/off (tempo, time signature, CC, pitch bend, program, sysex, meta, ...) is kept
with its track and absolute tick.

Writing rebuilds each track from notes and kept events in tick order. At one tick the
order is fixed: note-offs that moved first, then every event at its own tick in file
order (kept events and notes that did not move), then note-ons that moved; then one
end-of-track. A file read and written with no change therefore gives the same
``(tick, message)`` sequence per track. A gap between two events longer than one delta
time can hold (``smf.MAX_VLQ`` ticks, after quantize) is bridged by empty text events.
Output goes to a temporary file beside the target that is renamed into place only when
complete.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import BinaryIO

import numpy as np

from . import smf
from .errors import MidiFileError, MidiParameterError
from .tempo import TempoMap

__all__ = ["Notes", "Song", "read", "write"]

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
        Position of the note-on / note-off message in the file it was read from
        (-1: none). The writer uses them to keep the file order of events that did not
        move.
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


@dataclass(eq=False)
class Song:
    """A MIDI file in memory: its notes, its other events and what is needed to write it.

    Attributes
    ----------
    ticks_per_beat : int
        Resolution (PPQ).
    type : int
        SMF type, 0 or 1.
    notes : Notes
    events : list[list[tuple[int, int, object]]]
        Per track, the kept (non-note) events as ``(tick, file_index, message)``.
    track_ends : np.ndarray [shape=(tracks,), int64, ticks]
        Tick of each track's end-of-track (its last event when it has none).
    track_names : list[str | None]
        The first track_name meta event of each track.
    tempo_map : TempoMap
    message_ticks : np.ndarray [shape=(messages,), int64, ticks]
        Tick of every message of the file read, by file index (``Notes.on_index``).
    """

    ticks_per_beat: int
    type: int
    notes: Notes
    events: list[list[tuple[int, int, object]]]
    track_ends: np.ndarray
    track_names: list[str | None]
    tempo_map: TempoMap
    message_ticks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_tracks(self) -> int:
        return len(self.events)

    @property
    def stray_offs(self) -> np.ndarray:
        """Note-offs that end no note, kept as events [shape=(k, 4), int64: track,
        channel 0..15, pitch, tick]. Give them to ``quantize`` so that no moved note
        sounds across one (it would end that note when the file is played or read)."""
        rows = [
            (t, msg.channel, msg.note, tick)
            for t, kept in enumerate(self.events)
            for tick, _, msg in kept
            if msg.type == "note_off" or msg.type == "note_on"
        ]
        return np.array(rows, dtype=np.int64).reshape(-1, 4)

    def with_notes(self, notes: Notes) -> Song:
        """The same song with other notes (events, tracks and tempo map shared)."""
        return replace(self, notes=notes)


def _shown(name: str | bytes) -> str:
    """A file name for messages (bytes that are not UTF-8 appear as escapes)."""
    return os.fsdecode(name)


def _open_midi(path: str | os.PathLike) -> smf.SmfFile:
    """Read and parse the file at ``path`` (midi/smf.py), every failure a MidiFileError.
    ``-`` is standard input; a FIFO is read to its end; a device is refused."""
    name = os.fspath(path)
    shown = _shown(name)
    try:
        if name == "-":  # standard input
            import sys

            return smf.parse(sys.stdin.buffer.read(), "standard input")
        mode = os.stat(name).st_mode
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):  # /dev/zero would never end
            raise MidiFileError(f"cannot read {shown!r}: it is a device, not a MIDI file")
        with open(name, "rb") as f:
            data = f.read()
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
    return smf.parse(data, shown)


def _pair_fifo(key: np.ndarray, is_on: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair note-ons and note-offs of each key first in, first out, as a queue per key
    would (a note-off ends the earliest sounding note of its key; with none sounding it
    is a stray). Rows are messages in file order.

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


def read(path: str | os.PathLike) -> Song:
    """Read an SMF type 0 or 1 file into a Song (notes as arrays, other events kept).

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
    mid = _open_midi(path)
    shown = _shown(os.fspath(path))
    tracks = mid.tracks
    for t, track in enumerate(tracks):
        if track.last_tick >= _MAX_TICK:
            raise MidiFileError(
                f"cannot read {shown!r}: track {t} has event times beyond {_MAX_TICK} ticks"
                f" ({track.last_tick}); this reader stops at {_MAX_TICK}"
            )

    counts = [len(track.notes) // 5 for track in tracks]
    flat: list[int] = []
    for track in tracks:
        flat += track.notes
    rows = np.array(flat, dtype=np.int64).reshape(-1, 5)
    tick, index, status, pitch, vel = (rows[:, c] for c in range(5))
    track_of = np.repeat(np.arange(len(tracks), dtype=np.int64), counts)
    is_on = (status >= 0x90) & (vel > 0)
    key = (((track_of << 4) | (status & 15)) << 7) | pitch
    ons, offs, stray = _pair_fifo(key, is_on)

    track_ends = np.array([track.end_tick for track in tracks], dtype=np.int64)
    note_rows = np.flatnonzero(is_on)
    count = note_rows.shape[0]
    note_of = np.full(rows.shape[0], -1, dtype=np.int64)
    note_of[note_rows] = np.arange(count)
    paired = note_of[ons]
    open_end = np.ones(count, dtype=bool)
    open_end[paired] = False
    end = track_ends[track_of[note_rows]]
    end[paired] = tick[offs]
    release = np.zeros(count, dtype=np.int64)
    release[paired] = vel[offs]
    off_is_on = np.zeros(count, dtype=bool)
    off_is_on[paired] = status[offs] >= 0x90
    off_index = np.full(count, -1, dtype=np.int64)
    off_index[paired] = index[offs]
    notes = Notes(
        start=tick[note_rows],
        end=end,
        pitch=pitch[note_rows].astype(np.int16),
        velocity=vel[note_rows].astype(np.int16),
        release_velocity=release.astype(np.int16),
        channel=(status[note_rows] & 15).astype(np.int16),
        track=track_of[note_rows].astype(np.int32),
        open_end=open_end,
        off_is_note_on=off_is_on,
        on_index=index[note_rows],
        off_index=off_index,
    )

    message_ticks = np.zeros(mid.messages, dtype=np.int64)
    message_ticks[index] = tick
    for track in tracks:
        if track.events:
            event_ticks, event_index, _ = zip(*track.events, strict=True)
            message_ticks[np.array(event_index, dtype=np.int64)] = event_ticks
        if track.end_index >= 0:
            message_ticks[track.end_index] = track.end_tick

    events = [track.events for track in tracks]
    stray_rows = np.flatnonzero(stray)
    if stray_rows.size:
        import mido

        track_first = np.array([min([e[1] for e in track.events] + track.notes[1:2] or [-1])
                                for track in tracks])  # fmt: skip
        extra: dict[int, list] = {}
        for r in stray_rows.tolist():
            t, i, s = int(track_of[r]), int(index[r]), int(status[r])
            delta = int(tick[r] - (message_ticks[i - 1] if i > track_first[t] else 0))
            kind = "note_on" if s >= 0x90 else "note_off"
            msg = mido.Message(kind, channel=s & 15, note=int(pitch[r]), velocity=int(vel[r]),
                               time=delta)  # fmt: skip
            extra.setdefault(t, []).append((int(tick[r]), i, msg))
        events = [
            sorted(kept + extra[t], key=lambda e: e[1]) if t in extra else kept
            for t, kept in enumerate(events)
        ]
    tempo_changes = [change for track in tracks for change in track.tempos]
    return Song(
        ticks_per_beat=int(mid.ticks_per_beat),
        type=int(mid.type),
        notes=notes,
        events=events,
        track_ends=track_ends,
        track_names=[track.name for track in tracks],
        tempo_map=TempoMap.from_changes(int(mid.ticks_per_beat), tempo_changes),
        message_ticks=message_ticks,
    )


def _unchanged(ticks: np.ndarray, index: np.ndarray, message_ticks: np.ndarray) -> np.ndarray:
    """True where an event sits at the tick its message had in the file (index >= 0)."""
    ok = (index >= 0) & (index < message_ticks.shape[0])
    out = np.zeros(ticks.shape, dtype=bool)
    out[ok] = message_ticks[index[ok]] == ticks[ok]
    return out


def _message_makers():
    """Fast constructors for messages whose values are already checked.

    mido validates every field of every new message (about 3 us each, most of the write
    time); ``Notes.validate`` has already checked ours, so build them directly. The fast
    path is probed against mido's own constructor and dropped if they ever disagree.
    """
    import mido

    def note(kind, channel, pitch, velocity, time):
        msg = mido.Message.__new__(mido.Message)
        vars(msg).update(type=kind, channel=channel, note=pitch, velocity=velocity, time=time)
        return msg

    def retime(msg, time):
        new = type(msg).__new__(type(msg))
        vars(new).update(vars(msg))
        vars(new)["time"] = time
        return new

    try:
        ref = mido.Message("note_off", channel=3, note=60, velocity=10, time=5)
        meta = mido.MetaMessage("set_tempo", tempo=400_000, time=0)
        fast_ok = (
            note("note_off", 3, 60, 10, 5) == ref
            and note("note_off", 3, 60, 10, 5).bytes() == ref.bytes()
            and retime(meta, 7) == meta.copy(time=7)
            and retime(meta, 7).bytes() == meta.bytes()
        )
    except Exception:  # pragma: no cover - a mido whose messages are built differently
        fast_ok = False
    if fast_ok:
        return note, retime
    return (  # pragma: no cover
        lambda kind, channel, pitch, velocity, time: mido.Message(
            kind, channel=channel, note=pitch, velocity=velocity, time=time
        ),
        lambda msg, time: msg.copy(time=time),
    )


def _build_tracks(song: Song) -> list:
    """mido tracks for ``song``: notes and kept events in the fixed order described above."""
    import mido

    note_message, retime = _message_makers()

    notes = song.notes
    if len(notes) and notes.track.max() >= song.n_tracks:
        raise MidiParameterError(
            f"track must be in 0..{song.n_tracks - 1}, got {notes.track.max()}"
        )
    notes.validate()
    big = np.int64(2**62)
    on_keep = _unchanged(notes.start, notes.on_index, song.message_ticks)
    off_keep = _unchanged(notes.end, notes.off_index, song.message_ticks)
    # sort key: (track, tick, bucket, order) with bucket 0 = moved note-off,
    # 1 = event at its file tick (kept events, unmoved notes), 2 = moved note-on.
    pos = np.arange(len(notes), dtype=np.int64)
    on_order = np.where(notes.on_index >= 0, notes.on_index, big // 2 + pos)
    off_order = np.where(notes.off_index >= 0, notes.off_index, big // 2 + pos)
    has_off = ~notes.open_end
    by_track = np.argsort(notes.track, kind="stable")
    bounds = np.searchsorted(notes.track[by_track], np.arange(song.n_tracks + 1))

    tracks = []
    for t in range(song.n_tracks):
        ids = by_track[bounds[t] : bounds[t + 1]]
        offs = ids[has_off[ids]]
        kept = song.events[t]
        k_tick = np.fromiter((e[0] for e in kept), dtype=np.int64, count=len(kept))
        k_order = np.fromiter((e[1] for e in kept), dtype=np.int64, count=len(kept))
        ticks = np.concatenate((k_tick, notes.start[ids], notes.end[offs]))
        bucket = np.concatenate(
            (
                np.ones(len(kept), np.int8),
                np.where(on_keep[ids], 1, 2).astype(np.int8),
                np.where(off_keep[offs], 1, 0).astype(np.int8),
            )
        )
        order = np.concatenate((k_order, on_order[ids], off_order[offs]))
        # what each row is: -1 - i for kept event i, else note id (on: 0.., off: n..)
        what = np.concatenate((-1 - np.arange(len(kept)), ids, len(notes) + offs))
        sort = np.lexsort((order, bucket, ticks))
        ticks = ticks[sort]
        what = what[sort]
        deltas = np.diff(ticks, prepend=0)
        end_tick = int(song.track_ends[t]) if t < len(song.track_ends) else 0
        if len(notes):
            open_ids = ids[notes.open_end[ids]]
            if open_ids.size:
                end_tick = max(end_tick, int(notes.end[open_ids].max()))
        if ticks.size:
            end_tick = max(end_tick, int(ticks[-1]))

        n = len(notes)
        pitch = notes.pitch.tolist()
        vel = notes.velocity.tolist()
        rel = notes.release_velocity.tolist()
        chan = notes.channel.tolist()
        as_on = notes.off_is_note_on.tolist()
        last = int(ticks[-1]) if ticks.size else 0
        what_list, delta_list, tail = what.tolist(), deltas.tolist(), end_tick - last
        if tail > smf.MAX_VLQ or (deltas.size and int(deltas.max()) > smf.MAX_VLQ):
            kept, what_list, delta_list, tail = _split_long_gaps(
                kept, what_list, delta_list, tail
            )
        track = mido.MidiTrack()
        append = track.append
        for w, d in zip(what_list, delta_list, strict=True):
            if w < 0:
                append(retime(kept[-1 - w][2], d))
            elif w < n:
                append(note_message("note_on", chan[w], pitch[w], vel[w], d))
            else:
                w -= n
                if as_on[w]:
                    append(note_message("note_on", chan[w], pitch[w], 0, d))
                else:
                    append(note_message("note_off", chan[w], pitch[w], rel[w], d))
        append(mido.MetaMessage("end_of_track", time=tail))
        tracks.append(track)
    return tracks


def _split_long_gaps(
    kept: list, what: list[int], deltas: list[int], tail: int
) -> tuple[list, list[int], list[int], int]:
    """Cut every delta time above ``smf.MAX_VLQ`` (a gap one delta of a MIDI file cannot
    hold: it would need a 5-byte number) with empty text meta events, ``MAX_VLQ`` ticks
    apart. Players ignore text events, so the file plays the same; every other event keeps
    its tick. ``tail`` is the delta of the end-of-track. Returns the new ``kept`` (with the
    filler appended), ``what``, ``deltas`` and ``tail`` (see ``_build_tracks``).
    """
    import mido

    filler = -1 - len(kept)
    kept = [*kept, (0, -1, mido.MetaMessage("text", text=""))]
    out_what: list[int] = []
    out_deltas: list[int] = []
    for w, d in zip([*what, None], [*deltas, tail], strict=True):
        while d > smf.MAX_VLQ:
            out_what.append(filler)
            out_deltas.append(smf.MAX_VLQ)
            d -= smf.MAX_VLQ
        if w is None:
            tail = d
        else:
            out_what.append(w)
            out_deltas.append(d)
    return kept, out_what, out_deltas, tail


def write(song: Song, target: str | os.PathLike | BinaryIO) -> None:
    """Write ``song`` to ``target``: a path, written atomically (see :func:`atomic_write`),
    or a binary file object, written into as it is.
    """
    import mido

    tracks = _build_tracks(song)
    mid = mido.MidiFile(type=song.type, ticks_per_beat=song.ticks_per_beat)
    mid.tracks.extend(tracks)
    if hasattr(target, "write"):
        mid.save(file=target)
    else:
        atomic_write(target, lambda f: mid.save(file=f))


def atomic_write(path: str | os.PathLike, write_to: Callable[[BinaryIO], object]) -> None:
    """Write a file that ends complete or not at all: ``write_to(f)`` fills the binary
    file of an :class:`audioquant.atomic.OutputFile` (a temporary file beside the file
    ``path`` names, synced and renamed over it only when complete, keeping the replaced
    file's mode and owner; a symlink is followed; a device, FIFO, socket or ``-`` is
    written into, never renamed over). On any error the target is left as it was, no
    temporary file remains, and the error is a MidiFileError naming the path.
    """
    from audioquant.atomic import OutputFile
    from audioquant.errors import AudioFileError

    try:
        with OutputFile(path) as out:
            try:
                write_to(out.file)
            except OSError as exc:
                raise MidiFileError(f"cannot write {out.path!r}: {exc.strerror or exc}"
                                    ) from None
    except AudioFileError as exc:
        raise MidiFileError(str(exc)) from None
