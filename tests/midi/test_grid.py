"""Grid: step sizes from music theory, exact lines without drift, swing, offset, parsing."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audioquant import midi


def reference_lines(grid: midi.Grid, count: int, first: int = -4) -> list[Fraction]:
    """Exact grid lines built one by one with Fractions (slow, obviously right).

    Line k of a straight grid is offset + k * step; swing moves every odd line to
    ``swing`` percent of its pair of steps.
    """
    step = Fraction(4 * grid.ticks_per_beat, grid.division)
    if grid.triplet:
        step = step * 2 / 3
    if grid.dotted:
        step = step * 3 / 2
    origin = step * grid.offset / 100
    lines = []
    for k in range(first, first + count):
        pair_start = origin + (k - k % 2) * step
        lines.append(pair_start if k % 2 == 0 else pair_start + 2 * step * grid.swing / 100)
    return lines


def reference_nearest(lines: list[Fraction], tick: int) -> Fraction:
    """Nearest line, ties to the later one."""
    return min(lines, key=lambda x: (abs(x - tick), -x))


def round_half_up(x: Fraction) -> int:
    return int((2 * x + 1) // 2)


@pytest.mark.parametrize(
    ("ppq", "name", "ticks"),
    [
        (480, "1/4", 480),
        (480, "1/16", 120),
        (480, "1/8T", 160),  # three eighth triplets in a beat
        (480, "1/8.", 360),  # dotted eighth = 3 sixteenths
        (480, "1/1", 1920),
        (96, "1/16T", 16),
        (100, "1/16T", Fraction(50, 3)),  # not a whole number of ticks
        (12, "1/64", Fraction(3, 4)),  # shorter than a tick
        (960, "1/128", 30),
    ],
)
def test_step_is_the_note_value(ppq, name, ticks):
    assert midi.Grid.parse(name, ppq).step == ticks


def test_fractional_grid_has_no_drift_over_a_long_file():
    # 1/16T at 100 PPQ: 50/3 ticks. Line k is round(50 k / 3) exactly, even after
    # 10 million ticks; adding a rounded step (17) would be off by k/3 ticks by then.
    grid = midi.Grid.parse("1/16T", 100)
    k = np.arange(0, 700_000, 997, dtype=np.int64)
    exact = (2 * 50 * k + 3) // 6  # round half up of 50 k / 3
    assert np.array_equal(grid.nearest(exact), exact)
    lines = grid.lines(10_000_000, 10_000_200)
    expected = [round_half_up(Fraction(50 * j, 3)) for j in range(599_990, 600_020)]
    assert lines.tolist() == [x for x in expected if 10_000_000 <= x < 10_000_200]


def test_swing_moves_every_second_line_later():
    # 1/16 at 480 PPQ, swing 58 %: pairs of 240 ticks, second line at 0.58 * 240 = 139.2
    grid = midi.Grid.parse("1/16", 480, swing=58)
    assert grid.lines(0, 960).tolist() == [0, 139, 240, 379, 480, 619, 720, 859]
    # 66.67 % is (to 0.01 %) a triplet feel: 160 ticks of 240
    trip = midi.Grid.parse("1/16", 480, swing=200 / 3)
    assert trip.lines(0, 480).tolist() == [0, 160, 240, 400]


def test_offset_shifts_every_line():
    grid = midi.Grid.parse("1/16", 480, offset=10)
    assert grid.lines(0, 500).tolist() == [12, 132, 252, 372, 492]
    grid = midi.Grid.parse("1/16", 480, offset=-25)
    assert grid.lines(0, 400).tolist() == [90, 210, 330]


@settings(max_examples=200, deadline=None)
@given(
    ppq=st.sampled_from([24, 96, 120, 384, 480, 960, 1001]),
    division=st.sampled_from(midi.DIVISIONS),
    kind=st.sampled_from(["", "T", "."]),
    swing=st.integers(5000, 7500).map(lambda x: x / 100),
    offset=st.integers(-10000, 10000).map(lambda x: x / 100),
    ticks=st.lists(st.integers(0, 200_000), min_size=1, max_size=20),
)
def test_nearest_line_matches_fraction_reference(ppq, division, kind, swing, offset, ticks):
    grid = midi.Grid.parse(f"1/{division}{kind}", ppq, swing=swing, offset=offset)
    ticks = np.array(ticks, dtype=np.int64)
    got_exact = grid.line_of(ticks)
    got_ticks = grid.nearest(ticks)
    got_dist = grid.distance(ticks)
    for i, t in enumerate(ticks.tolist()):
        # the lines around t: enough pairs on each side
        k = int((t - grid.step * grid.offset / 100) // grid.step) - 4
        lines = reference_lines(grid, 12, k - k % 2)
        want = reference_nearest(lines, t)
        assert got_exact[i] == pytest.approx(float(want), abs=1e-6)
        assert got_ticks[i] == round_half_up(want)
        assert got_dist[i] == pytest.approx(float(want - t), abs=1e-6)


@pytest.mark.parametrize(
    "text",
    ["1/0", "abc", "1/3", "1/256", "2/16", "", "1/16x", "1/8T.", "16"],
)
def test_bad_grid_names(text):
    with pytest.raises(midi.MidiParameterError, match=r"grid must be a note value .* got"):
        midi.Grid.parse(text, 480)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"swing": 80}, "swing must be in 50..75, got 80"),
        ({"swing": 49.9}, "swing must be in 50..75, got 49.9"),
        ({"offset": 101}, "offset must be in -100..100, got 101"),
        ({"swing": float("nan")}, "swing must be a finite number"),
        ({"triplet": True, "dotted": True}, "triplet and dotted cannot both be set"),
    ],
)
def test_bad_grid_settings(kwargs, message):
    with pytest.raises(midi.MidiParameterError, match=message):
        midi.Grid.parse("1/16", 480, **kwargs)


def test_bad_resolution():
    with pytest.raises(midi.MidiParameterError, match="ticks_per_beat must be in 1..32767, got 0"):
        midi.Grid(0, 16)
    with pytest.raises(midi.MidiParameterError, match="division must be one of"):
        midi.Grid(480, 3)


def _floor_div_kernel():
    """``grid.floor_div`` under numba (it is inlined into the kernels), over arrays."""
    from audioquant.midi import grid
    from audioquant.numba_setup import import_numba

    numba = import_numba()
    floor_div = numba.njit(grid.floor_div.py_func)

    @numba.njit
    def kernel(a, b):
        out = np.empty(a.shape[0], np.int64)
        for i in range(a.shape[0]):
            out[i] = floor_div(a[i], b[i])
        return out

    return kernel


def test_floor_div_is_integer_floor_division_everywhere():
    """The float-multiply division of the lattice kernels equals Python's ``//``: signs,
    exact multiples and one off them, quotients near 2**52, the 2**53 edge where it
    falls back to the integer division, divisors from 1 to near 2**61."""
    rng = np.random.default_rng(11)
    edge = 2**53
    a = [0, 1, -1, edge - 1, -(edge - 1), edge, -edge, 2**62, -(2**62), 2**52 + 7]
    b = [1, 2, 3, 7, 120, 480 * 3, 2**31 - 1, 2**40 + 3, 2**61 - 1]
    pairs = [(x, y) for x in a for y in b]
    for y in (3, 120, 1920, 10_000 * 48, 2**20 + 1):           # multiples and neighbours
        for k in rng.integers(-(edge // y), edge // y, 200):
            pairs += [(int(k) * y + e, y) for e in (-1, 0, 1) if abs(int(k) * y + e) < edge]
    pairs += [(int(x), int(y)) for x, y in zip(rng.integers(-(2**62), 2**62, 2000),
                                               rng.integers(1, 2**40, 2000), strict=True)]
    pairs += [(int(x), int(y)) for x, y in zip(rng.integers(-edge + 1, edge, 2000),
                                               rng.integers(1, 5000, 2000), strict=True)]
    x = np.array([p[0] for p in pairs], np.int64)
    y = np.array([p[1] for p in pairs], np.int64)
    expected = np.array([p[0] // p[1] for p in pairs], np.int64)
    np.testing.assert_array_equal(_floor_div_kernel()(x, y), expected)
