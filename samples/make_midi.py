"""Make the example MIDI performance in samples/ (deterministic: seeded random numbers).

    python samples/make_midi.py            # writes samples/humanized.mid

``humanized.mid`` is an SMF type 1 file at 480 PPQ, 16 bars of 4/4: track 0 holds the
tempo map (100 BPM, changing to 112 BPM at bar 9) and the time signature; track 1
"Piano" (channel 1) plays chords and a melody with the sustain pedal (CC 64) down for each
bar; track 2 "Drums" (channel 10) plays kick (36), snare (38) and closed hi-hat (42) in
sixteenths.

Timing model (a player against a click): every intended onset on the 1/16 grid is played
``jitter`` ticks off, drawn from a normal distribution with a standard deviation of
12 ticks (1/40 of a beat, about 15 ms at 100 BPM) and clipped to +-40 ticks (a third of a
sixteenth), plus a slow drift per bar drawn from N(0, 4 ticks) so the error is not pure
white noise. Note lengths are the written length times U(0.6, 0.95). Velocities: accents on
beats, N(0, 8) on top, clipped to 1..127. The pedal and CCs are on the unquantized time
of the bar's first chord, as a player's foot would be.

Written with mido directly (not with the midi package) so tests can use it as an
independent reference.
"""

from __future__ import annotations

import sys
from pathlib import Path

import mido
import numpy as np

PPQ = 480
SIXTEENTH = PPQ // 4
BAR = 4 * PPQ
BARS = 16
SEED = 20240611


def _humanize(rng: np.random.Generator, ticks: np.ndarray, bar_of: np.ndarray) -> np.ndarray:
    drift = rng.normal(0.0, 4.0, BARS)
    jitter = np.clip(rng.normal(0.0, 12.0, ticks.shape), -40, 40)
    out = np.rint(ticks + jitter + drift[bar_of]).astype(np.int64)
    return np.maximum(out, 0)


def _track(events: list[tuple[int, int, mido.Message]]) -> mido.MidiTrack:
    """Events (tick, order, message) -> a track with delta times.

    At one tick: note-offs (order i), then pedal / CCs (10_000...), then note-ons (100_000...).
    """
    track = mido.MidiTrack()
    last = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - last))
        last = tick
    return track


def make_performance(seed: int = SEED) -> mido.MidiFile:
    rng = np.random.default_rng(seed)
    mid = mido.MidiFile(type=1, ticks_per_beat=PPQ)

    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name="Tempo", time=0))
    conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100), time=0))
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(112), time=8 * BAR))
    mid.tracks.append(conductor)

    # piano: a chord on beats 1 and 3 (half notes), a melody in eighths and sixteenths
    chords = [(48, 55, 64), (45, 52, 60), (41, 48, 57), (43, 50, 59)]
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    ons, lens, pitches, vels, bars = [], [], [], [], []
    for bar in range(BARS):
        chord = chords[bar % 4]
        for beat in (0, 2):
            for p in chord:
                ons.append(bar * BAR + beat * PPQ)
                lens.append(2 * PPQ)
                pitches.append(p)
                vels.append(70 if beat == 0 else 62)
                bars.append(bar)
        pos = 0
        while pos < 16:
            step = 2 if rng.random() < 0.7 else 1
            ons.append(bar * BAR + pos * SIXTEENTH)
            lens.append(step * SIXTEENTH)
            pitches.append(int(rng.choice(scale)) + 12 * (bar % 2))
            vels.append(84 if pos % 4 == 0 else 72)
            bars.append(bar)
            pos += step
    piano = _notes_track("Piano", 0, rng, ons, lens, pitches, vels, bars)
    # sustain pedal: down just after each bar's first chord, up just before the next bar
    for bar in range(BARS):
        down = bar * BAR + 10 + int(rng.integers(0, 20))
        up = (bar + 1) * BAR - 30 - int(rng.integers(0, 20))
        piano.append((down, 10_000, mido.Message("control_change", control=64, value=127)))
        piano.append((up, 10_000, mido.Message("control_change", control=64, value=0)))
    piano.append((0, -1, mido.Message("program_change", program=0)))
    piano.append((4 * BAR, 10_001, mido.Message("pitchwheel", pitch=1024)))
    piano.append((4 * BAR + 240, 10_002, mido.Message("pitchwheel", pitch=0)))
    mid.tracks.append(_track(piano))

    # drums: kick on 1 and 3, snare on 2 and 4, hi-hat on every sixteenth
    ons, lens, pitches, vels, bars = [], [], [], [], []
    for bar in range(BARS):
        for pos in range(16):
            t = bar * BAR + pos * SIXTEENTH
            hits = [(42, 90 if pos % 2 == 0 else 60)]
            if pos in (0, 8):
                hits.append((36, 110))
            if pos in (4, 12):
                hits.append((38, 105))
            for p, v in hits:
                ons.append(t)
                lens.append(SIXTEENTH // 2)
                pitches.append(p)
                vels.append(v)
                bars.append(bar)
    drums = _notes_track("Drums", 9, rng, ons, lens, pitches, vels, bars)
    mid.tracks.append(_track(drums))
    return mid


def _notes_track(name, channel, rng, ons, lens, pitches, vels, bars):
    ons = np.array(ons)
    bars = np.array(bars)
    start = _humanize(rng, ons, bars)
    length = np.maximum(np.rint(np.array(lens) * rng.uniform(0.6, 0.95, ons.shape)), 10)
    end = start + length.astype(np.int64)
    vel = np.clip(np.rint(np.array(vels) + rng.normal(0, 8, ons.shape)), 1, 127).astype(int)
    events = [(0, -2, mido.MetaMessage("track_name", name=name))]
    # keep one pitch from overlapping itself: end before the next same-pitch start
    order = np.lexsort((start, np.array(pitches)))
    for a, b in zip(order[:-1], order[1:], strict=True):
        if pitches[a] == pitches[b] and end[a] > start[b]:
            end[a] = max(start[b], start[a] + 1)
    for i in range(len(start)):
        events.append(
            (
                int(start[i]),
                100_000 + i,
                mido.Message(
                    "note_on", channel=channel, note=int(pitches[i]), velocity=int(vel[i])
                ),
            )
        )
        events.append(
            (
                int(end[i]),
                i,
                mido.Message("note_off", channel=channel, note=int(pitches[i]), velocity=64),
            )
        )
    return events


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("humanized.mid")
    make_performance().save(out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
