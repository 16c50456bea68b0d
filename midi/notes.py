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
``(tick, message)`` sequence per track. Output goes to a temporary file beside the target
that is renamed into place only when complete.
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import BinaryIO

import numpy as np

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


def _open_midi(path: str | os.PathLike):
    import mido

    try:
        return mido.MidiFile(os.fspath(path))
    except FileNotFoundError:
        raise MidiFileError(f"cannot read {os.fspath(path)!r}: no such file") from None
    except IsADirectoryError:
        raise MidiFileError(f"cannot read {os.fspath(path)!r}: it is a directory") from None
    except PermissionError:
        raise MidiFileError(f"cannot read {os.fspath(path)!r}: permission denied") from None
    except EOFError:
        raise MidiFileError(
            f"cannot read {os.fspath(path)!r}: the MIDI file is truncated"
        ) from None
    except Exception as exc:  # mido raises OSError, ValueError, KeyError, struct.error...
        reason = str(exc) or type(exc).__name__
        raise MidiFileError(f"cannot read {os.fspath(path)!r} as a MIDI file: {reason}") from None


def read(path: str | os.PathLike) -> Song:
    """Read an SMF type 0 or 1 file into a Song (notes as arrays, other events kept).

    Raises
    ------
    MidiFileError
        Not a MIDI file, truncated, no tracks, type 2, or SMPTE time division.
    """
    mid = _open_midi(path)
    name = os.fspath(path)
    tpb = mid.ticks_per_beat
    if tpb == 0:
        raise MidiFileError(f"cannot read {name!r}: the header gives 0 ticks per beat")
    if tpb < 0:
        raise MidiFileError(
            f"cannot read {name!r}: SMPTE time division (frames per second) is not supported;"
            " the grid needs ticks per beat"
        )
    if mid.type not in (0, 1):
        raise MidiFileError(
            f"cannot read {name!r}: MIDI file type {mid.type} is not supported (types 0 and 1 are)"
        )
    if not mid.tracks:
        raise MidiFileError(f"cannot read {name!r}: the MIDI file has no tracks")

    cols: dict[str, list] = {k: [] for k in Notes._DTYPES}
    events: list[list[tuple[int, int, object]]] = []
    track_ends: list[int] = []
    track_names: list[str | None] = []
    tempo_changes: list[tuple[int, int]] = []
    message_ticks: list[int] = []
    index = 0
    for t, track in enumerate(mid.tracks):
        tick = 0
        kept: list[tuple[int, int, object]] = []
        sounding: dict[tuple[int, int], deque[int]] = {}
        end_tick = None
        name_found = None
        for msg in track:
            tick += msg.time
            message_ticks.append(tick)
            kind = msg.type
            if kind == "note_on" and msg.velocity > 0:
                key = (msg.channel, msg.note)
                n = len(cols["start"])
                cols["start"].append(tick)
                cols["end"].append(-1)
                cols["pitch"].append(msg.note)
                cols["velocity"].append(msg.velocity)
                cols["release_velocity"].append(0)
                cols["channel"].append(msg.channel)
                cols["track"].append(t)
                cols["open_end"].append(False)
                cols["off_is_note_on"].append(False)
                cols["on_index"].append(index)
                cols["off_index"].append(-1)
                sounding.setdefault(key, deque()).append(n)
            elif kind == "note_off" or kind == "note_on":
                queue = sounding.get((msg.channel, msg.note))
                if queue:
                    n = queue.popleft()
                    cols["end"][n] = tick
                    cols["release_velocity"][n] = msg.velocity
                    cols["off_is_note_on"][n] = kind == "note_on"
                    cols["off_index"][n] = index
                else:
                    kept.append((tick, index, msg))
            elif kind == "end_of_track":
                end_tick = tick
            else:
                if kind == "set_tempo":
                    tempo_changes.append((tick, msg.tempo))
                elif kind == "track_name" and name_found is None:
                    name_found = msg.name
                kept.append((tick, index, msg))
            index += 1
        if end_tick is None:
            end_tick = tick
        for queue in sounding.values():
            for n in queue:
                cols["end"][n] = end_tick
                cols["open_end"][n] = True
        events.append(kept)
        track_ends.append(end_tick)
        track_names.append(name_found)

    if message_ticks and max(message_ticks) >= _MAX_TICK:
        raise MidiFileError(f"cannot read {name!r}: event times beyond {_MAX_TICK} ticks")
    notes = Notes(**{k: np.array(v, dtype=Notes._DTYPES[k]) for k, v in cols.items()})
    return Song(
        ticks_per_beat=int(tpb),
        type=int(mid.type),
        notes=notes,
        events=events,
        track_ends=np.array(track_ends, dtype=np.int64),
        track_names=track_names,
        tempo_map=TempoMap.from_changes(int(tpb), tempo_changes),
        message_ticks=np.array(message_ticks, dtype=np.int64),
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
        track = mido.MidiTrack()
        append = track.append
        for w, d in zip(what.tolist(), deltas.tolist(), strict=True):
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
        last = int(ticks[-1]) if ticks.size else 0
        append(mido.MetaMessage("end_of_track", time=end_tick - last))
        tracks.append(track)
    return tracks


def write(song: Song, path: str | os.PathLike) -> None:
    """Write ``song`` to ``path`` atomically (temporary file beside it, then os.replace).

    On any error the target is left as it was and no temporary file remains.
    """
    import mido

    tracks = _build_tracks(song)
    mid = mido.MidiFile(type=song.type, ticks_per_beat=song.ticks_per_beat)
    mid.tracks.extend(tracks)
    atomic_write(path, lambda f: mid.save(file=f))


def atomic_write(path: str | os.PathLike, write_to: Callable[[BinaryIO], object]) -> None:
    """Write a file atomically: ``write_to(f)`` fills a temporary file beside ``path``
    (binary mode), which is synced and renamed over ``path`` only when complete, with the
    mode a plain ``open()`` would give. On any error the target is left as it was, no
    temporary file remains, and an OSError becomes a MidiFileError naming the path.
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        fd, tmp = tempfile.mkstemp(
            prefix="." + os.path.basename(target) + ".", suffix=".tmp", dir=folder
        )
    except OSError as exc:
        raise MidiFileError(f"cannot write {target!r}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write_to(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise MidiFileError(f"cannot write {target!r}: {exc.strerror or exc}") from None
        raise
