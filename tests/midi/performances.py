"""Synthetic piano performances whose beats are known, for the beat tracker's tests.

A *score* is a list of notes at beat positions (``beat`` in beats from the first bar line,
negative in a pickup): a bass note on every downbeat (held for the bar), a chord on every
beat (louder on the downbeat), a melody in eighth notes, the harmony changing at each bar.
``render`` plays it through a *tempo curve* (BPM as a function of the beat position) with
asynchrony inside each chord (the melody leads, the other voices spread over a few tens of
milliseconds) and timing noise per onset; the true beat and downbeat times are the tempo
curve's times of the whole beat positions, before any noise.

Everything is seeded: the same arguments give the same performance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

TempoCurve = Callable[[np.ndarray], np.ndarray]   # beat position (beats) -> tempo (BPM)

#: Chord roots (MIDI pitch of the bass) the harmony walks through, one per bar.
_ROOTS = (36, 41, 43, 38, 45, 40)


@dataclass(frozen=True)
class Note:
    """A score note: position and length in beats, MIDI pitch, velocity 1..127."""

    beat: float
    length: float
    pitch: int
    velocity: int
    voice: str          # "bass", "chord" or "melody"


@dataclass(frozen=True)
class Performance:
    """A rendered performance and its truth (seconds)."""

    onsets_s: np.ndarray
    pitches: np.ndarray
    velocities: np.ndarray
    durations_s: np.ndarray
    beats_s: np.ndarray          # every beat of the score (pickup included)
    downbeats_s: np.ndarray      # the bar lines
    meter: int                   # beats per bar


def score(meter: int, bars: int, *, pickup: int = 0, seed: int = 0) -> list[Note]:
    """Notes of ``bars`` bars of ``meter`` beats, after ``pickup`` beats of melody alone."""
    rng = np.random.default_rng(seed)
    notes: list[Note] = []
    for b in range(-pickup, 0):           # the anacrusis: melody on the beat and off it
        for half in (0.0, 0.5):
            notes.append(Note(b + half, 0.5, int(72 + rng.integers(0, 5)), 70, "melody"))
    for bar in range(bars):
        root = _ROOTS[bar % len(_ROOTS)]
        start = bar * meter
        notes.append(Note(start, meter, root, 96, "bass"))
        for k in range(meter):
            accent = 92 if k == 0 else 62
            for step in (12, 16, 19):       # a triad above the bass
                notes.append(Note(start + k, 0.9, root + step, accent, "chord"))
            for half in (0.0, 0.5):
                pitch = int(root + 36 + rng.choice((0, 2, 4, 7)))
                notes.append(Note(start + k + half, 0.45, pitch,
                                  84 if (k == 0 and half == 0.0) else 66, "melody"))
    return notes


# ----------------------------------------------------------------------------------------
# tempo curves (BPM as a function of the beat position)


def steady(bpm: float) -> TempoCurve:
    return lambda beat: np.full_like(beat, bpm, dtype=np.float64)


def ramp(start_bpm: float, end_bpm: float, beats: float) -> TempoCurve:
    """A linear accelerando (end > start) or ritardando (end < start) over ``beats``."""
    def curve(beat: np.ndarray) -> np.ndarray:
        x = np.clip(beat / beats, 0.0, 1.0)
        return start_bpm + (end_bpm - start_bpm) * x
    return curve


def rubato(bpm: float, depth: float, period_beats: float) -> TempoCurve:
    """Tempo swaying by +-``depth`` (a fraction) over ``period_beats``."""
    return lambda beat: bpm * (1.0 + depth * np.sin(2 * np.pi * beat / period_beats))


def _time_of(curve: TempoCurve, first: float, last: float, start_s: float
             ) -> Callable[[np.ndarray], np.ndarray]:
    """Seconds at beat positions: the integral of 60 / BPM, on a 1/256-beat grid."""
    grid = np.arange(first, last + 1 / 256, 1 / 256)
    sec = np.concatenate(([0.0], np.cumsum(60.0 / curve(grid[:-1]) / 256)))
    return lambda beat: start_s + np.interp(beat, grid, sec)


def render(notes: list[Note], meter: int, curve: TempoCurve, *, asynchrony_s: float = 0.02,
           noise_s: float = 0.008, start_s: float = 0.5, seed: int = 0) -> Performance:
    """Play a score: onset = tempo curve time + noise per score position + asynchrony.

    ``asynchrony_s``: the chord and bass notes of one position start uniformly within this
    after the melody note (which leads). ``noise_s``: standard deviation of a Gaussian
    shift of each score position (s), clipped to 2.5 sd.
    """
    rng = np.random.default_rng(seed)
    first = min(n.beat for n in notes)
    last = max(n.beat + n.length for n in notes)
    time_of = _time_of(curve, first, last, start_s)
    positions = sorted({n.beat for n in notes})
    shift = {p: float(np.clip(rng.normal(0, noise_s), -2.5 * noise_s, 2.5 * noise_s))
             for p in positions}
    on, pitch, vel, dur = [], [], [], []
    for n in notes:
        t = float(time_of(np.array([n.beat]))[0]) + shift[n.beat]
        if n.voice != "melody":
            t += float(rng.uniform(0.0, asynchrony_s))
        end = float(time_of(np.array([n.beat + n.length]))[0])
        on.append(t)
        pitch.append(n.pitch)
        vel.append(int(np.clip(n.velocity + rng.integers(-6, 7), 1, 127)))
        dur.append(max(end - t, 0.05))
    order = np.argsort(on, kind="stable")
    bars_end = max(n.beat for n in notes if n.voice == "bass") + meter
    beat_pos = np.arange(np.ceil(first), bars_end)
    beats = time_of(beat_pos)
    down = time_of(beat_pos[(beat_pos >= 0) & (beat_pos % meter == 0)])
    return Performance(onsets_s=np.array(on)[order], pitches=np.array(pitch)[order],
                       velocities=np.array(vel, dtype=np.float64)[order],
                       durations_s=np.array(dur)[order], beats_s=beats, downbeats_s=down,
                       meter=meter)


def performance(meter: int, curve: TempoCurve, *, bars: int = 16, pickup: int = 0,
                seed: int = 0, **kwargs: float) -> Performance:
    """``render(score(...))`` in one call."""
    return render(score(meter, bars, pickup=pickup, seed=seed), meter, curve, seed=seed,
                  **kwargs)
