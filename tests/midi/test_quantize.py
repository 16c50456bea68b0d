"""Quantize on note arrays: the rules from their definitions, then properties (hypothesis).

References are plain numpy from the definitions (tests/midi/helpers.py: ref_nearest), not
our own output.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audioquant import midi
from tests.midi.helpers import ref_nearest


def spread_notes(rng, n=400, ppq=480, step=120, jitter=40, pitches=None):
    """Notes near a grid with Gaussian jitter; one pitch per note unless ``pitches``."""
    slots = np.sort(rng.choice(n * 4, n, replace=False))
    start = np.maximum(np.rint(slots * step + rng.normal(0, jitter, n)), 0).astype(np.int64)
    length = rng.integers(1, 3 * step, n)
    pitch = np.arange(n) % 128 if pitches is None else rng.choice(pitches, n)
    channel = (np.arange(n) // 128) % 16
    return midi.Notes.from_arrays(start, start + length, pitch, channel=channel)


def step_of(grid):
    return float(grid.step)


GRIDS = [
    ("1/16", 480, 50, 0),
    ("1/16", 480, 58, 0),
    ("1/8T", 480, 50, 0),
    ("1/16T", 100, 50, 0),  # 16.67 ticks: fractional lines
    ("1/64", 12, 50, 0),  # 0.75 ticks: lines closer than a tick
    ("1/8.", 960, 66.67, 12.5),
    ("1/32", 96, 75, -30),
]


@pytest.mark.parametrize(("name", "ppq", "swing", "offset"), GRIDS)
def test_strength_100_puts_every_start_on_a_grid_line(rng, name, ppq, swing, offset):
    grid = midi.Grid.parse(name, ppq, swing=swing, offset=offset)
    notes = spread_notes(rng, step=step_of(grid), jitter=step_of(grid) / 3)
    result = midi.quantize(notes, grid)
    # one note per pitch and channel here: nothing collides, nothing is nudged
    assert not result.nudged.any()
    line = ref_nearest(notes.start, step_of(grid), float(grid.swing), float(grid.offset))
    # "on the line" means the nearest tick of the exact line (half a tick rounds later)
    assert np.array_equal(result.notes.start, np.floor(line + 0.5 + 1e-9).astype(np.int64))
    lines = grid.lines(0, int(notes.start.max()) + 4 * ppq)
    assert np.isin(result.notes.start, lines).all()


def test_strength_0_changes_nothing(rng):
    notes = spread_notes(rng, pitches=[60, 61])  # repeated pitches, even overlaps
    grid = midi.Grid.parse("1/16", 480, swing=60)
    result = midi.quantize(notes, grid, strength=0, mode="ends")
    assert result.notes.same_as(notes)
    assert not result.moved.any()


@pytest.mark.parametrize(("name", "ppq"), [("1/16", 480), ("1/16T", 100), ("1/8", 96)])
def test_strength_50_moves_half_way(rng, name, ppq):
    grid = midi.Grid.parse(name, ppq)
    notes = spread_notes(rng, step=step_of(grid), jitter=step_of(grid) / 3)
    result = midi.quantize(notes, grid, strength=50)
    line = ref_nearest(notes.start, step_of(grid))
    half_way = notes.start + 0.5 * (line - notes.start)
    # rounded to a tick: within half a tick of the exact half-way point
    assert np.all(np.abs(result.notes.start - half_way) <= 0.5 + 1e-9)
    assert result.moved.sum() > len(notes) // 2


@pytest.mark.parametrize("mode", ["starts", "ends", "lengths"])
@pytest.mark.parametrize(("exclude", "catch"), [(0, 100), (10, 100), (0, 30), (15, 40)])
def test_quantizing_twice_equals_once(rng, mode, exclude, catch):
    grid = midi.Grid.parse("1/16", 480, swing=57)
    notes = spread_notes(rng, pitches=[36, 38, 42])  # collisions and overlaps too
    once = midi.quantize(notes, grid, exclude_within=exclude, catch_range=catch, mode=mode)
    twice = midi.quantize(once.notes, grid, exclude_within=exclude, catch_range=catch, mode=mode)
    assert twice.notes.same_as(once.notes)


def test_exclude_within_is_inclusive_at_its_limit():
    # 1/16 at 480 PPQ: 120 ticks; 10 % = 12 ticks. 12 off stays, 13 off moves.
    grid = midi.Grid.parse("1/16", 480)
    notes = midi.Notes.from_arrays([1212, 1213, 1188, 1187, 1200], [1300] * 5, [60, 61, 62, 63, 64])
    result = midi.quantize(notes, grid, exclude_within=10)
    assert result.notes.start.tolist() == [1212, 1200, 1188, 1200, 1200]
    assert result.kept_by_exclude.tolist() == [True, False, True, False, False]
    assert result.counts()["kept_by_exclude"] == 2


def test_catch_range_only_moves_near_notes():
    # range 25 % of 120 = 30 ticks: 30 off moves, 31 off keeps its timing
    grid = midi.Grid.parse("1/16", 480)
    notes = midi.Notes.from_arrays([30, 31, 89, 90, 151], [200] * 5, [60, 61, 62, 63, 64])
    result = midi.quantize(notes, grid, catch_range=25)
    assert result.notes.start.tolist() == [0, 31, 89, 120, 151]
    assert result.kept_by_range.tolist() == [False, True, True, False, True]


def test_ends_mode_snaps_ends_after_the_start():
    grid = midi.Grid.parse("1/16", 480)
    notes = midi.Notes.from_arrays([5, 118, 250], [130, 150, 262], [60, 61, 62])
    result = midi.quantize(notes, grid, mode="ends")
    n = result.notes
    assert n.start.tolist() == [0, 120, 240]
    # 130 -> 120; 150 -> 120 would be no length, so the next line 240; 262 -> 240 ditto 360
    assert n.end.tolist() == [120, 240, 360]


def test_lengths_mode_keeps_durations(rng):
    grid = midi.Grid.parse("1/8T", 480)
    notes = spread_notes(rng, step=160, jitter=40)
    result = midi.quantize(notes, grid, mode="lengths")
    assert not result.trimmed.any()
    assert np.array_equal(result.notes.end - result.notes.start, notes.end - notes.start)
    line = ref_nearest(notes.start, 160.0)
    assert np.array_equal(result.notes.start, np.rint(line).astype(np.int64))


def test_same_pitch_collision_is_nudged_and_overlap_trimmed():
    grid = midi.Grid.parse("1/16", 480)
    # two hits of one drum 40 ticks apart both snap to 240; a third overlaps the next
    notes = midi.Notes.from_arrays(
        [230, 270, 470, 600], [260, 300, 700, 650], [38, 38, 38, 38], channel=9
    )
    result = midi.quantize(notes, grid)
    n = result.notes
    assert n.start.tolist() == [240, 241, 480, 600]
    assert n.end.tolist() == [241, 300, 600, 650]
    assert result.nudged.tolist() == [False, True, False, False]
    assert result.trimmed.tolist() == [True, False, True, False]
    assert_valid(n)


def test_minimum_length():
    grid = midi.Grid.parse("1/4", 480)
    notes = midi.Notes.from_arrays([470, 1000], [475, 1000], [60, 61])
    n = midi.quantize(notes, grid, min_length=10).notes
    assert n.start.tolist() == [480, 960]
    assert n.end.tolist() == [490, 1000]


def test_selection_leaves_other_notes_alone(rng):
    grid = midi.Grid.parse("1/16", 480)
    base = spread_notes(rng, n=300)
    notes = base.replace(
        track=np.arange(300, dtype=np.int32) % 3, channel=(np.arange(300) % 5).astype(np.int16)
    )
    result = midi.quantize(notes, grid, tracks=[1, 2], channels=[1, 2, 3], pitch_range=(20, 90))
    want = (
        np.isin(notes.track, [1, 2])
        & np.isin(notes.channel, [0, 1, 2])  # channels 1..3 are wire values 0..2
        & (notes.pitch >= 20)
        & (notes.pitch <= 90)
    )
    assert np.array_equal(result.selected, want)
    assert np.array_equal(result.notes.start[~want], notes.start[~want])
    assert result.moved[want].any()
    assert not result.moved[~want].any()


def assert_valid(n: midi.Notes, mask=None):
    """No zero-length notes; no two notes of one track/channel/pitch overlap."""
    if mask is not None:
        n = n[mask]
    assert (n.end > n.start).all()
    key = np.lexsort((n.start, n.pitch, n.channel, n.track))
    same = (
        (n.track[key][1:] == n.track[key][:-1])
        & (n.channel[key][1:] == n.channel[key][:-1])
        & (n.pitch[key][1:] == n.pitch[key][:-1])
    )
    assert (n.end[key][:-1][same] <= n.start[key][1:][same]).all()


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    grid_name=st.sampled_from(["1/4", "1/8", "1/16", "1/8T", "1/16T", "1/32", "1/8."]),
    ppq=st.sampled_from([96, 100, 480, 960]),
    swing=st.sampled_from([50, 54, 58, 62.5, 66.67, 75]),
    strength=st.integers(0, 100),
    exclude=st.integers(0, 50),
    catch=st.integers(0, 100),
    mode=st.sampled_from(["starts", "ends", "lengths"]),
    n_pitches=st.integers(1, 8),
    offset=st.sampled_from([0, 25, -40, 100]),
)
def test_each_note_moves_toward_its_line_by_the_strength_or_stays_for_a_window(
    seed, grid_name, ppq, swing, strength, exclude, catch, mode, n_pitches, offset
):
    rng = np.random.default_rng(seed)
    grid = midi.Grid.parse(grid_name, ppq, swing=swing, offset=offset)
    step = step_of(grid)
    n = 60
    start = rng.integers(int(2 * step), int(40 * step) + 1, n)  # clear of tick 0
    notes = midi.Notes.from_arrays(
        start, start + rng.integers(0, int(3 * step) + 2, n), rng.integers(60, 60 + n_pitches, n)
    )
    result = midi.quantize(
        notes, grid, strength=strength, exclude_within=exclude, catch_range=catch, mode=mode
    )
    old = notes.start.astype(np.float64)
    new = result.notes.start.astype(np.float64)
    line = ref_nearest(old, step, float(grid.swing), float(grid.offset))
    dist = np.abs(line - old) / step * 100  # percent of a step
    # 1e-6: float reference vs exact integer maths at the window limits
    window = (dist > catch + 1e-6) | (dist <= exclude + 1e-6)
    free = ~result.nudged
    pulled = np.floor(old + strength / 100 * (line - old) + 0.5 + 1e-9)
    stays = window & free
    assert np.array_equal(new[stays], old[stays])
    moves = ~window & free
    assert np.array_equal(new[moves], pulled[moves])
    # nothing moved away from its line
    assert np.all(np.abs(new[free] - line[free]) <= np.abs(old[free] - line[free]) + 1e-9)
    # a nudged note sits min_length after the previous note of its pitch
    for i in np.flatnonzero(result.nudged):
        same = (result.notes.pitch == notes.pitch[i]) & (result.notes.start < new[i])
        assert new[i] == result.notes.start[same].max() + 1
    # in every pitch where a note moved: no zero lengths, no overlaps
    touched = np.isin(notes.pitch, notes.pitch[result.moved])
    assert_valid(result.notes, touched)
    assert len(result.notes) == n


def test_no_note_moves_before_tick_0():
    # offset -40 % of a dotted quarter (1440 ticks at 960 PPQ): lines at -576, 864, ...
    grid = midi.Grid.parse("1/4.", 960, offset=-40)
    notes = midi.Notes.from_arrays([0, 10, 500], [100, 200, 600], [60, 61, 62])
    result = midi.quantize(notes, grid, mode="lengths")
    assert result.notes.start.tolist() == [0, 0, 864]  # -576 is nearest for 0 and 10
    assert result.notes.end.tolist() == [100, 190, 964]
