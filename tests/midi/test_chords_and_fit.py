"""Quantizing real performances: chords move together, notes keep their length by
default, very short results are reported, and a grid that does not fit the playing is
named. Expected values come from the construction of each file."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from audioquant import midi
from audioquant.cli import main
from tests.midi.helpers import SAMPLE, write_mido

PPQ = 480          # at 120 BPM (no tempo event): one tick is 1/960 s


def note(start, end, pitch=60, channel=0, velocity=90):
    return [(start, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)),
            (end, mido.Message("note_off", note=pitch, velocity=0, channel=channel))]


def notes_of(path) -> list[tuple[int, int, int]]:
    """(start, end, pitch) of every note, read by mido (velocity-0 note-ons end notes)."""
    mid = mido.MidiFile(path)
    out, sounding = [], {}
    for track in mid.tracks:
        now = 0
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault((msg.channel, msg.note), []).append(now)
            elif msg.type in ("note_on", "note_off"):
                out.append((sounding[(msg.channel, msg.note)].pop(0), now, msg.note))
    return sorted(out)


def test_chord_groups_by_time_from_the_first_note_and_by_channel():
    tm = midi.TempoMap.from_changes(PPQ, [])
    # 0, 10, 25 ms: one chord; 40 ms is more than 30 ms after the first: a new one;
    # the same times on channel 2: chords of their own
    ms = np.array([0, 10, 25, 40, 0, 10])
    ticks = (ms * PPQ * 2 // 1000).astype(np.int64)         # 960 ticks per second
    n = ticks.size
    notes = midi.Notes(start=ticks, end=ticks + 100,
                       pitch=np.arange(60, 60 + n, dtype=np.int16),
                       velocity=np.full(n, 90, np.int16),
                       release_velocity=np.zeros(n, np.int16),
                       channel=np.array([0, 0, 0, 0, 1, 1], np.int16),
                       track=np.zeros(n, np.int32), open_end=np.zeros(n, bool),
                       off_is_note_on=np.zeros(n, bool), on_index=np.full(n, -1, np.int64),
                       off_index=np.full(n, -1, np.int64))
    g = midi.chord_groups(notes, tm, 30.0)
    assert g[0] == g[1] == g[2] and g[3] != g[0]
    assert g[4] == g[5] and g[4] not in (g[0], g[3])
    assert len(set(midi.chord_groups(notes, tm, 0.0))) == n
    # a quarter of a 1/64 step (30 ticks = 31 ms) is 7.8 ms: 10 ms apart is two chords
    assert midi.chord_groups(notes, tm, 30.0, step_ticks=30)[1] != g[0]


def test_a_spread_chord_lands_on_one_line_instead_of_being_torn(tmp_path):
    # a 1/16 step is 120 ticks; the chord's notes at 52 and 66 ticks (14.6 ms apart)
    # would go to lines 0 and 120 on their own; their mean, 59, is nearest 0
    src = write_mido(tmp_path / "chord.mid", [note(52, 400, 60) + note(66, 400, 64)])
    out = tmp_path / "q.mid"
    assert main(["midi", "quantize", str(src), str(out), "--grid", "1/16"]) == 0
    assert sorted((p, s) for s, _, p in notes_of(out)) == [(60, 0), (64, 0)]
    torn = tmp_path / "torn.mid"
    assert main(["midi", "quantize", str(src), str(torn), "--grid", "1/16",
                 "--chord-ms", "0"]) == 0
    assert sorted((p, s) for s, _, p in notes_of(torn)) == [(60, 0), (64, 120)]


def test_whole_notes_move_by_default_and_starts_only_keeps_the_ends(tmp_path, capsys):
    src = write_mido(tmp_path / "take.mid", [note(130, 330, 60) + note(470, 500, 62)])
    out, starts = tmp_path / "q.mid", tmp_path / "s.mid"
    assert main(["midi", "quantize", str(src), str(out), "--grid", "1/16"]) == 0
    assert notes_of(out) == [(120, 320, 60), (480, 510, 62)]          # lengths kept
    assert main(["midi", "quantize", str(src), str(starts), "--grid", "1/16",
                 "--starts-only"]) == 0
    assert notes_of(starts) == [(120, 330, 60), (480, 500, 62)]       # ends stay
    assert "lengths" in capsys.readouterr().out


def test_notes_made_very_short_are_reported(tmp_path, capsys):
    # 100..112 ticks (12.5 ms): the start goes to 120, past the end: 1 tick (1 ms) left
    src = write_mido(tmp_path / "take.mid", [note(100, 112) + note(600, 700, 64)])
    assert main(["midi", "quantize", str(src), str(tmp_path / "q.mid"), "--grid", "1/16",
                 "--starts-only"]) == 0
    assert "warning: 1 note is now 5 ms or shorter" in capsys.readouterr().out
    assert main(["midi", "quantize", str(src), str(tmp_path / "w.mid"), "--grid", "1/16"]
                ) == 0
    assert "warning" not in capsys.readouterr().out                  # whole notes: none


def rayleigh(starts: np.ndarray, step: int) -> float:
    phase = 2 * np.pi * (starts % step) / step
    return float(np.hypot(np.cos(phase).mean(), np.sin(phase).mean()))


@pytest.mark.parametrize("spread", ["even", "on the grid"])
def test_a_grid_that_does_not_fit_the_playing_is_named(tmp_path, capsys, spread):
    rng = np.random.default_rng(3)
    step = PPQ // 4
    if spread == "even":     # played without a click: starts anywhere in the step
        starts = np.sort(rng.integers(0, 400 * step, 400))
    else:                    # on a 1/16 grid with 8 % of a step of jitter
        starts = np.maximum(np.arange(400) * step + np.rint(rng.normal(0, 10, 400)), 0)
    events = [e for i, s in enumerate(starts.astype(int))
              for e in note(s, s + 60, 40 + i % 40)]
    path = write_mido(tmp_path / "take.mid", [events])
    fit = midi.stats_file(path)["grid_fit"]
    assert fit["concentration"] == pytest.approx(rayleigh(starts, step), abs=1e-9)
    assert fit["fits"] is (spread != "even")
    assert main(["midi", "stats", str(path)]) == 0
    shown = "spread evenly over the 1/16 grid" in capsys.readouterr().out
    assert shown is (spread == "even")
    assert main(["midi", "quantize", str(path), str(tmp_path / "q.mid")]) == 0
    assert ("--follow-beats" in capsys.readouterr().out) is (spread == "even")


def test_the_humanized_sample_fits_its_grid():
    assert midi.stats_file(SAMPLE)["grid_fit"]["fits"] is True


@pytest.mark.parametrize("groups, spread", [(40, 0), (40, 3), (2**20, 3), (2**40, 0)])
def test_the_clean_up_order_is_a_stable_sort_by_group_then_start(groups, spread):
    """``_group_order`` (a radix sort by group when that is enough) equals numpy's
    lexsort, for starts in order, a few out of order, and groups past 16 bits."""
    from audioquant.midi.quantize import _group_order

    rng = np.random.default_rng(groups + spread)
    group = rng.integers(0, groups, 3000).astype(np.int64)
    start = np.sort(rng.integers(0, 10**6, 3000)) + rng.integers(-spread, spread + 1, 3000)
    start[::7] = start[1::7][: start[::7].size]                 # ties
    assert np.array_equal(_group_order(group, start), np.lexsort((start, group)))


@pytest.mark.parametrize("n", [40, 5000])          # (cos and sin computed, or from a table)
@pytest.mark.parametrize("grid", [("1/16", 50), ("1/8", 62), ("1/8T", 50)])
def test_timing_and_fit_in_one_pass_match_plain_numpy(n, grid):
    """The one-pass timing and grid-fit sums against the same figures in plain numpy:
    distances from Grid.distance, seconds from TempoMap.seconds (a tempo map of three
    tempos), the Rayleigh sums from np.cos / np.sin."""
    from audioquant.midi.quantize import _timing_and_fit

    rng = np.random.default_rng(n)
    start = np.sort(rng.integers(0, 200_000, n))
    g = midi.Grid.parse(grid[0], 480, swing=grid[1])
    tempo = midi.TempoMap.from_changes(480, [(0, 500_000), (40_000, 400_000),
                                             (120_000, 650_000)])
    timing, fit = _timing_and_fit(start, g, tempo)
    dist = g.distance(start)                          # [ticks, float]
    ms = np.abs(tempo.seconds(start + dist) - tempo.seconds(start)) * 1000
    assert timing["count"] == n
    assert timing["mean_ticks"] == pytest.approx(np.abs(dist).mean(), rel=1e-12)
    assert timing["max_ticks"] == pytest.approx(np.abs(dist).max(), rel=1e-12)
    assert timing["mean_ms"] == pytest.approx(ms.mean(), rel=1e-9)
    assert timing["max_ms"] == pytest.approx(ms.max(), rel=1e-9)
    assert timing["on_grid"] == int(np.count_nonzero(g.nearest(start) == start))
    phase = 2 * np.pi * dist * g._d / g._step
    r = np.hypot(np.cos(phase).mean(), np.sin(phase).mean())
    assert fit["concentration"] == pytest.approx(r, rel=1e-9, abs=1e-12)
    assert fit["p_uniform"] == pytest.approx(np.exp(-n * r * r), rel=1e-6, abs=1e-300)
