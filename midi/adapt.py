"""A tempo map that follows the player (Logic's "Adapt"): beats found in a performance
become quarter notes, and every event keeps its time in seconds.

Given beat times ``b_0 < b_1 < ... < b_K`` (seconds, from :func:`midi.beats.track` or
the user), :func:`adapt` writes the same file with

- set-tempo events that put beat ``k`` on tick ``(k + lead) * PPQ`` exactly: the tempo
  from beat k to k+1 is the interval in microseconds, rounded with the error carried
  over (the beat times are kept to 0.5 us however many beats there are). ``lead``
  quarter notes before the first beat hold whatever is played before it; after the last
  beat the last interval goes on;
- every event (notes, pedal, controllers, meta, sysex) at the tick of its time in
  seconds under the new map, rounded to the nearest tick. The resolution is the file's
  own, doubled, tripled... where a beat is so long that a tick would last more than
  1.9 ms (so every event is within 1 ms of its time), up to 32767 PPQ;
- time signatures at the downbeats: ``meter``/4 from the first downbeat on (bar lines on
  the downbeats found), and before it a pickup bar of the beats before it; the file's own
  set-tempo and time-signature events are replaced; nothing else is added or removed.

The mapping from old to new ticks never reverses, so every track keeps its events in
their order and each event its own bytes (a status byte is added back only where an
event written with running status no longer follows one of its status). Unknown chunks
are not copied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import smf
from ._jit import njit
from .errors import MidiParameterError
from .notes import _tempo_changes
from .tempo import TempoMap

__all__ = ["MAX_TICK_MS", "BeatMap", "adapt", "beat_map", "beats_report", "find_beats",
           "follow_beats", "format_beats", "read_beats_file"]

#: Longest tick of the output, ms: rounding to a tick then moves an event at most half.
MAX_TICK_MS = 1.9
_MAX_PPQ = 32767
_MAX_TEMPO = 0xFFFFFF     # microseconds per beat a set-tempo event can hold


@dataclass(frozen=True)
class BeatMap:
    """Where the beats go. ``ticks_per_beat`` is the output's PPQ; ``lead`` the quarter
    notes before the first beat; ``beat_us`` [int64, microseconds] the time of every
    quarter-note tick ``k * ticks_per_beat`` of the new map, ``k = 0 .. lead + K``
    (``beat_us[lead + k]`` is beat k, to 0.5 us); ``pickup`` the beats of the bar before
    the first downbeat (0: none), ``meter`` the beats per bar after it."""

    ticks_per_beat: int
    lead: int
    beat_us: np.ndarray
    pickup: int
    meter: int

    def ticks(self, seconds: np.ndarray) -> np.ndarray:
        """The tick of each time (s) under the new map, rounded [int64 ticks]."""
        us = np.asarray(seconds, dtype=np.float64) * 1e6
        b = self.beat_us.astype(np.float64)
        k = np.clip(np.searchsorted(b, us, side="right") - 1, 0, b.size - 2)
        pos = k + (us - b[k]) / (b[k + 1] - b[k])    # quarter notes from tick 0
        return np.floor(pos * self.ticks_per_beat + 0.5).astype(np.int64)

    def tempos(self) -> np.ndarray:
        """Microseconds per quarter note from each quarter-note tick to the next."""
        return np.diff(self.beat_us)


def beat_map(beats_s: np.ndarray, downbeats_s: np.ndarray, meter: int, ticks_per_beat: int
             ) -> BeatMap:
    """The :class:`BeatMap` of beats (s, increasing, at least 2) with bar lines at
    ``downbeats_s`` (a subset of the beats; none: bars from the first beat), ``meter``
    beats per bar, starting from the file's ``ticks_per_beat``."""
    b = np.asarray(beats_s, dtype=np.float64)
    if b.ndim != 1 or b.size < 2 or not np.all(np.isfinite(b)) or b[0] < 0 or \
            np.any(np.diff(b) <= 0):
        raise MidiParameterError("beats must be at least 2 increasing times >= 0 s")
    if not (isinstance(meter, int) and 1 <= meter <= 255):
        raise MidiParameterError(f"meter must be 1..255 beats per bar, got {meter!r}")
    us = np.floor(b * 1e6 + 0.5).astype(np.int64)
    first_interval = int(us[1] - us[0])
    lead = 0 if us[0] == 0 else max(1, int(round(us[0] / first_interval)))
    if us[0] and us[0] / lead > _MAX_TEMPO:
        lead = math.ceil(us[0] / _MAX_TEMPO)
    lead_us = (np.arange(lead) * int(us[0])) // max(lead, 1)      # quarter notes before
    beat_us = np.concatenate((lead_us, us))
    if np.diff(beat_us).max() > _MAX_TEMPO:
        raise MidiParameterError("a beat longer than 16.7 s cannot be a MIDI tempo")
    db = np.asarray(downbeats_s, dtype=np.float64)
    first_db = 0 if db.size == 0 else int(np.argmin(np.abs(b - db.min())))
    pickup = (lead + first_db) % meter
    longest_ms = np.diff(beat_us).max() / 1000.0
    scale = max(1, math.ceil(longest_ms / ticks_per_beat / MAX_TICK_MS))
    ppq = ticks_per_beat * scale
    if ppq > _MAX_PPQ:
        ppq = max(ticks_per_beat, min(_MAX_PPQ, math.ceil(longest_ms / MAX_TICK_MS)))
    return BeatMap(ppq, lead, beat_us, pickup, meter)


def _meta(kind: int, payload: bytes) -> bytes:
    return bytes([0xFF, kind]) + smf.encode_vlq(len(payload)) + payload


def _new_events(bm: BeatMap) -> list[tuple[int, bytes]]:
    """(tick, bytes) of the set-tempo and time-signature events of ``bm``, in order."""
    out: list[tuple[int, bytes]] = []

    def signature(beats: int) -> bytes:
        return _meta(0x58, bytes([beats, 2, 24, 8]))        # beats/4, 24 clocks, 8 32nds

    if bm.pickup:
        out.append((0, signature(bm.pickup)))
    out.append((bm.pickup * bm.ticks_per_beat, signature(bm.meter)))
    for k, tempo in enumerate(bm.tempos().tolist()):
        out.append((k * bm.ticks_per_beat, _meta(0x51, int(tempo).to_bytes(3, "big"))))
    return sorted(out, key=lambda e: e[0])


@njit
def _write_tracks(pool, src, size, status, add_status, delta, track, n_tracks, out):
    """Encode events (already in output order, track by track) into MTrk chunks in
    ``out``; returns the bytes used. ``add_status[i]``: write ``status[i]`` first. Gaps
    longer than a delta time can hold are bridged as the writer does (``smf.put_delta``)."""
    used = 0
    i = 0
    n = src.shape[0]
    for t in range(n_tracks):
        head = used
        used += 8
        while i < n and track[i] == t:
            used, _ = smf.put_delta(out, used, delta[i], True)
            if add_status[i]:
                out[used] = status[i]
                used += 1
            for j in range(size[i]):
                out[used + j] = pool[src[i] + j]
            used += size[i]
            i += 1
        smf.put_chunk_head(out, head, used - head - 8)
    return used


def adapt(data: bytes, beats_s: np.ndarray, downbeats_s: np.ndarray, meter: int,
          name: str = "<bytes>") -> tuple[bytes, BeatMap]:
    """The MIDI file ``data`` with a tempo map that follows ``beats_s`` (see the module);
    returns the new file's bytes and its :class:`BeatMap`."""
    mid = smf.parse(data, name)
    t = mid.events
    old_map = TempoMap.from_changes(mid.ticks_per_beat, _tempo_changes(mid))
    bm = beat_map(beats_s, downbeats_s, meter, mid.ticks_per_beat)

    is_meta = t.status == 0xFF
    drop = is_meta & ((t.data1 == 0x51) | (t.data1 == 0x58) | (t.data1 == 0x2F))
    rows = np.flatnonzero(~drop)
    new_tick = bm.ticks(old_map.seconds(t.tick[rows]))
    ends = np.maximum(bm.ticks(old_map.seconds(mid.end_tick)), 0)
    np.maximum.at(ends, t.track[rows].astype(np.int64), new_tick)  # never before an event

    added = _new_events(bm)
    ends[0] = max(int(ends[0]), added[-1][0])
    extra = b"".join(e for _, e in added)
    base = t.data.shape[0]
    pool = np.concatenate((t.data, np.frombuffer(extra, np.uint8),
                           np.frombuffer(b"\xff\x2f\x00", np.uint8)))
    a_src = base + np.cumsum([0] + [len(e) for _, e in added[:-1]]).astype(np.int64)
    eot_src = base + len(extra)
    n_tracks = mid.n_tracks
    # output events: (track, tick, bucket, sequence): the new meta events go first at
    # their tick (bucket 0), the file's events in their order (1), end-of-track last (2)
    k_rows = rows.shape[0]
    track = np.concatenate((t.track[rows].astype(np.int64), np.zeros(len(added), np.int64),
                            np.arange(n_tracks, dtype=np.int64)))
    tick = np.concatenate((new_tick, np.array([e for e, _ in added], np.int64), ends))
    bucket = np.concatenate((np.ones(k_rows, np.int8), np.zeros(len(added), np.int8),
                             np.full(n_tracks, 2, np.int8)))
    seq = np.concatenate((rows, np.arange(len(added)), np.zeros(n_tracks, np.int64)))
    src = np.concatenate((t.offset[rows], a_src, np.full(n_tracks, eot_src, np.int64)))
    size = np.concatenate((t.size[rows].astype(np.int64),
                           np.array([len(e) for _, e in added], np.int64),
                           np.full(n_tracks, 3, np.int64)))
    status = np.concatenate((t.status[rows], np.full(len(added), 0xFF, np.uint8),
                             np.full(n_tracks, 0xFF, np.uint8)))
    running = np.concatenate((t.running[rows], np.zeros(len(added) + n_tracks, bool)))
    order = np.lexsort((seq, bucket, tick, track))
    track, tick, src, size, status, running = (a[order] for a in
                                               (track, tick, src, size, status, running))
    first = np.r_[True, track[1:] != track[:-1]]
    delta = tick - np.where(first, 0, np.r_[0, tick[:-1]])
    prev_status = np.where(first, 0, np.r_[0, status[:-1]]).astype(np.int64)
    add_status = running & (prev_status != status)
    bridges = int((delta // smf.MAX_VLQ).sum())
    out = np.empty(int(size.sum()) + 5 * size.shape[0] + 8 * n_tracks + 7 * bridges,
                   np.uint8)
    used = _write_tracks(pool, src, size, status, add_status, delta, track, n_tracks, out)
    header = b"MThd" + (6).to_bytes(4, "big") + mid.type.to_bytes(2, "big") + \
        n_tracks.to_bytes(2, "big") + bm.ticks_per_beat.to_bytes(2, "big")
    return header + out[:used].tobytes(), bm


# ------------------------------------------------------------------------- songs, files


def read_beats_file(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Beats given by the user: a text file with one beat per line, its time in seconds
    first; a line whose other words include ``db`` (or start with it, as ASAP's
    ``db,4/4``) is a downbeat. Blank lines and lines starting with ``#`` are skipped.
    Returns ``(beats, downbeats)`` [s]; MidiParameterError naming the line otherwise."""
    beats, downs = [], []
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise MidiParameterError(f"cannot read the beats file {path}: "
                                 f"{exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise MidiParameterError(f"the beats file {path} is not text") from None
    for number, line in enumerate(lines, 1):
        words = line.replace(",", " ").split()
        if not words or words[0].startswith("#"):
            continue
        try:
            time = float(words[0])
        except ValueError:
            raise MidiParameterError(f"{path} line {number}: a beat time in seconds must "
                                     f"come first, got {words[0]!r}") from None
        if not math.isfinite(time) or time < 0:
            raise MidiParameterError(f"{path} line {number}: beat times must be >= 0 s, "
                                     f"got {words[0]}")
        beats.append(time)
        if any(w.lower().startswith("db") for w in words[1:]):
            downs.append(time)
    b = np.array(beats)
    if b.size < 2 or np.any(np.diff(b) <= 0):
        raise MidiParameterError(f"{path}: give at least 2 beats, in increasing time")
    return b, np.array(downs)


def find_beats(song, *, tempo_range: tuple[float, float] = (40.0, 240.0),
               meter: int | str | None = None, tempo_scale: float = 1.0,
               beats_file: str | None = None):
    """The :class:`midi.beats.Beats` of a song's performance: tracked from its notes
    (:func:`midi.beats.track` with these overrides), or read from ``beats_file`` (then
    ``meter`` says the beats per bar where the file marks no downbeat; default 4)."""
    from . import beats as tracker

    if beats_file is not None:
        b, downs = read_beats_file(beats_file)
        per_bar = tracker._parse_meter(meter)[0] if meter is not None else None
        if downs.size == 0:
            per_bar = per_bar or 4
            downs = b[::per_bar]
        elif per_bar is None:
            k = np.searchsorted(b, downs)
            gaps = np.diff(k)
            per_bar = int(np.bincount(gaps).argmax()) if gaps.size else 4
        return tracker.Beats(beats=b, downbeats=downs, meter=per_bar,
                             time_signature=f"{per_bar}/4", bpm=tracker._bpm(b),
                             confidence=1.0, bar_bpm=tracker._bar_bpm(b, downs))
    notes = song.notes
    onsets = song.tempo_map.seconds(notes.start)
    ends = song.tempo_map.seconds(notes.end)
    return tracker.track(onsets, notes.pitch, notes.velocity, ends - onsets,
                         tempo_range=tempo_range, meter=meter, tempo_scale=tempo_scale)


def follow_beats(song, beats):
    """``song`` with the tempo map of ``beats`` (:func:`adapt`), read back: a Song whose
    quarter notes are the beats, ready to quantize. Returns ``(song, BeatMap)``."""
    from .notes import read_bytes

    data, bm = adapt(song.to_bytes(), beats.beats, beats.downbeats, beats.meter)
    return read_bytes(data), bm


def beats_report(beats) -> dict:
    """A :class:`midi.beats.Beats` as a plain dict (seconds, BPM), for JSON and text."""
    bar = np.asarray(beats.bar_bpm, dtype=float)
    return {
        "beats": [float(x) for x in beats.beats],
        "downbeats": [float(x) for x in beats.downbeats],
        "meter": int(beats.meter),
        "time_signature": beats.time_signature,
        "bar_bpm": [float(x) for x in bar],
        "bpm_median": float(np.median(beats.bpm)) if len(beats.bpm) else 0.0,
        "confidence": float(beats.confidence),
    }


def format_beats(report: dict, name: str) -> str:
    """Text for :func:`beats_report`: the summary, then a row per bar."""
    beats, downs, bars = report["beats"], report["downbeats"], report["bar_bpm"]
    lines = [f"{name}: {len(beats)} beats, {len(downs)} bars of {report['time_signature']}, "
             f"tempo {report['bpm_median']:.1f} BPM (median), confidence "
             f"{report['confidence']:.2f}"]
    if beats:
        lines.append(f"first beat {beats[0]:.3f} s, last {beats[-1]:.3f} s")
    if downs:
        lines.append("  bar   downbeat s     BPM")
        for i, t in enumerate(downs):
            bpm = f"{bars[i]:7.1f}" if i < len(bars) else "      -"
            lines.append(f"  {i + 1:>3}   {t:10.3f} {bpm}")
    return "\n".join(lines)
