"""Today's writer before the event table (issue 14), kept as the reference the byte
writer is checked against: it rebuilds every track as mido messages, in the same fixed
order at one tick, and saves through mido. Tests only."""

from __future__ import annotations

import mido
import numpy as np

from audioquant.midi.errors import MidiParameterError
from audioquant.midi.notes import Song
from audioquant.midi.smf import MAX_VLQ


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
        if tail > MAX_VLQ or (deltas.size and int(deltas.max()) > MAX_VLQ):
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
    """Cut every delta time above ``MAX_VLQ`` (a gap one delta of a MIDI file cannot
    hold: it would need a 5-byte number) with empty text meta events, ``MAX_VLQ`` ticks
    apart. Players ignore text events, so the file plays the same; every other event keeps
    its tick. ``tail`` is the delta of the end-of-track. Returns the new ``kept`` (with the
    filler appended), ``what``, ``deltas`` and ``tail`` (see ``_build_tracks``).
    """
    filler = -1 - len(kept)
    kept = [*kept, (0, -1, mido.MetaMessage("text", text=""))]
    out_what: list[int] = []
    out_deltas: list[int] = []
    for w, d in zip([*what, None], [*deltas, tail], strict=True):
        while d > MAX_VLQ:
            out_what.append(filler)
            out_deltas.append(MAX_VLQ)
            d -= MAX_VLQ
        if w is None:
            tail = d
        else:
            out_what.append(w)
            out_deltas.append(d)
    return kept, out_what, out_deltas, tail


def write(song: Song, path) -> None:
    """Write ``song`` to ``path`` through mido, as the writer before issue 14 did."""
    mid = mido.MidiFile(type=song.type, ticks_per_beat=song.ticks_per_beat)
    mid.tracks.extend(_build_tracks(song))
    mid.save(path)
