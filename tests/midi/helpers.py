"""Helpers for the midi tests: files written with mido directly (not with our
writer), and independent ways to look at a file (mido events, pretty_midi notes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mido
import numpy as np

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "humanized.mid"


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``code`` run by a fresh interpreter (what a start-up loads is checked there)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)


def write_mido(path, tracks, *, ppq=480, type=1):
    """``tracks``: lists of (tick, message) in the order wanted at equal ticks."""
    mid = mido.MidiFile(type=type, ticks_per_beat=ppq)
    for events in tracks:
        track = mido.MidiTrack()
        last = 0
        for tick, msg in sorted(events, key=lambda e: e[0]):  # stable: keeps given order
            track.append(msg.copy(time=tick - last))
            last = tick
        mid.tracks.append(track)
    mid.save(path)
    return path


def events_by_track(path, *, notes=True):
    """Per track, the (absolute tick, message bytes) sequence, end-of-track left out.

    ``notes=False`` leaves out note-on/note-off messages (the events quantize must keep).
    """
    out = []
    for track in mido.MidiFile(path).tracks:
        tick = 0
        seq = []
        for msg in track:
            tick += msg.time
            if msg.type == "end_of_track":
                continue
            if not notes and msg.type in ("note_on", "note_off"):
                continue
            seq.append((tick, tuple(msg.bin())))
        out.append(seq)
    return out


def pm_notes(path):
    """Notes as pretty_midi sees them: sorted (start s, end s, pitch, velocity, channel)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(path))
    rows = []
    for inst in pm.instruments:
        for n in inst.notes:
            rows.append((round(n.start, 6), round(n.end, 6), n.pitch, n.velocity))
    return sorted(rows), pm


def our_notes_in_pm_seconds(song, pm):
    """Our notes converted to seconds with pretty_midi's own tempo handling."""
    n = song.notes
    rows = [
        (round(pm.tick_to_time(int(s)), 6), round(pm.tick_to_time(int(e)), 6), int(p), int(v))
        for s, e, p, v in zip(n.start, n.end, n.pitch, n.velocity, strict=True)
    ]
    return sorted(rows)


def random_performance(
    rng: np.random.Generator,
    *,
    ppq=480,
    n_tracks=3,
    notes_per_track=60,
    channels=(0, 9),
    jitter=None,
    tempo_changes=2,
    overlap_free=True,
):
    """A humanized multi-track performance as mido events per track (not our code).

    Notes sit on a 1/16 grid plus Gaussian jitter; same-pitch notes on a channel never
    overlap when ``overlap_free``. Tracks carry CCs, pitch bend, program changes, and
    track 0 has tempo changes and a time signature.
    """
    step = ppq // 4 if ppq % 4 == 0 else ppq / 4
    jitter = ppq / 20 if jitter is None else jitter
    tracks = []
    conductor = [(0, mido.MetaMessage("time_signature", numerator=4, denominator=4))]
    for i in range(tempo_changes + 1):
        bpm = float(rng.uniform(70, 160))
        conductor.append((i * 8 * ppq, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
    tracks.append(conductor)
    for t in range(1, n_tracks):
        ch = int(channels[(t - 1) % len(channels)])
        ev = [
            (0, mido.MetaMessage("track_name", name=f"T{t}")),
            (0, mido.Message("program_change", channel=ch, program=int(rng.integers(0, 128)))),
        ]
        slots = np.sort(rng.choice(notes_per_track * 3, notes_per_track, replace=False))
        starts = np.maximum(np.rint(slots * step + rng.normal(0, jitter, slots.size)), 0)
        lengths = np.maximum(np.rint(rng.uniform(0.2, 3.0, slots.size) * step), 1)
        pitches = rng.integers(36, 40, slots.size)  # few pitches: repeated notes happen
        starts = starts.astype(int)
        ends = starts + lengths.astype(int)
        if overlap_free:
            for p in np.unique(pitches):
                ids = np.flatnonzero(pitches == p)
                ids = ids[np.argsort(starts[ids], kind="stable")]
                for a, b in zip(ids[:-1], ids[1:], strict=True):
                    if starts[b] <= starts[a]:
                        starts[b] = starts[a] + 1
                        ends[b] = max(ends[b], starts[b] + 1)
                    ends[a] = min(ends[a], starts[b])
        for s, e, p in zip(starts, ends, pitches, strict=True):
            v = int(rng.integers(1, 128))
            ev.append((int(e), mido.Message("note_off", channel=ch, note=int(p), velocity=40)))
            ev.append((int(s), mido.Message("note_on", channel=ch, note=int(p), velocity=v)))
        for _ in range(10):
            tick = int(rng.integers(0, int(starts.max()) + 1))
            ev.append(
                (
                    tick,
                    mido.Message(
                        "control_change", channel=ch, control=64, value=int(rng.choice([0, 127]))
                    ),
                )
            )
            ev.append(
                (tick, mido.Message("pitchwheel", channel=ch, pitch=int(rng.integers(-8192, 8192))))
            )
        # note-offs first at equal ticks, as a sequencer writes them
        ev.sort(key=lambda e: (e[0], 0 if e[1].type == "note_off" else 1))
        tracks.append(ev)
    return tracks


def ref_lines(step: float, swing: float, offset: float, lo: float, hi: float) -> np.ndarray:
    """Exact grid lines in [lo - 2 steps, hi + 2 steps], in float64, from the definition:
    line k = origin + k * step, every odd k moved to ``swing`` % of its pair."""
    origin = offset / 100 * step
    k = np.arange(np.floor((lo - origin) / step) - 3, np.ceil((hi - origin) / step) + 4)
    k = k - (k[0] % 2)  # start on an even line
    pair = origin + (k - k % 2) * step
    return np.where(k % 2 == 0, pair, pair + 2 * step * swing / 100)


def ref_nearest(ticks: np.ndarray, step: float, swing=50.0, offset=0.0) -> np.ndarray:
    """Nearest exact line of each tick, by brute force (ties: the later line)."""
    ticks = np.asarray(ticks, dtype=np.float64)
    out = np.empty_like(ticks)
    for i, t in enumerate(ticks):
        lines = ref_lines(step, swing, offset, t, t)
        d = np.abs(lines - t)
        best = np.flatnonzero(d <= d.min() + 1e-9)
        out[i] = lines[best[-1]]
    return out
