"""A performance's events land on round(seconds(tick) x rate), exactly, in a fixed order."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from audioquant import midi
from audioquant.midi.playback import CONTROL, NOTE_OFF, NOTE_ON, PROGRAM, performance
from tests.midi.helpers import SAMPLE


def exact_sample(tempo_map: midi.TempoMap, tick: int, rate: int) -> int:
    """round(seconds(tick) x rate), halves up, in Fractions: the tempo segments summed."""
    edges, tempos = tempo_map.ticks.tolist(), tempo_map.tempos.tolist()
    seconds = Fraction(0)
    for i, start in enumerate(edges):
        end = edges[i + 1] if i + 1 < len(edges) else None
        stop = tick if end is None or tick < end else end
        seconds += Fraction((stop - start) * tempos[i], 10**6 * tempo_map.ticks_per_beat)
        if stop == tick:
            break
    return math.floor(seconds * rate + Fraction(1, 2))


@pytest.mark.parametrize("rate", [8000, 44100, 48000, 384000])
def test_samples_are_exact_through_200_tempo_changes(rate):
    rng = np.random.default_rng(rate)
    change_ticks = np.sort(rng.choice(np.arange(1, 10**7), 200, replace=False))
    tempos = rng.integers(150_000, 2_000_000, 200)
    tempo_map = midi.TempoMap.from_changes(
        960, [(int(t), int(v)) for t, v in zip(change_ticks, tempos, strict=True)])
    ticks = np.sort(rng.integers(0, 2 * 10**7, 400))
    got = tempo_map.samples(ticks, rate)
    assert got.tolist() == [exact_sample(tempo_map, int(t), rate) for t in ticks]
    # The float conversion agrees to well under a sample (it is the same map).
    assert np.abs(got - tempo_map.seconds(ticks) * rate).max() <= 0.5 + 1e-6


def test_a_file_plays_every_note_and_controller_once():
    song = midi.read(SAMPLE)
    play = performance(song, 48000)
    assert play.notes() == len(song.notes)
    assert np.count_nonzero(play.kind == NOTE_OFF) == len(song.notes)
    assert np.all(np.diff(play.sample) >= 0)
    on = play.kind == NOTE_ON
    starts = song.tempo_map.samples(song.notes.start, 48000)
    assert sorted(play.sample[on].tolist()) == sorted(starts.tolist())
    controls = sum(1 for kept in song.events for _, _, m in kept
                   if getattr(m, "type", "") == "control_change")
    assert np.count_nonzero(play.kind == CONTROL) == controls


def test_at_one_sample_offs_come_first_then_programs_then_ons():
    notes = midi.Notes.from_arrays(start=[0, 480], end=[480, 960], pitch=[60, 60],
                                   velocity=[90, 0], channel=[0, 0])
    import mido

    program = mido.Message("program_change", channel=0, program=5)
    song = midi.Song(480, 1, notes, [[(480, 999, program)]], np.array([960]), [None],
                     midi.TempoMap.from_changes(480, []))
    play = performance(song, 1000)
    at = play.sample == 500
    assert play.kind[at].tolist() == [NOTE_OFF, PROGRAM, NOTE_ON]
    assert play.b[at][-1] == 1            # a velocity-0 note still sounds (velocity 1)
