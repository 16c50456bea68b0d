"""Grid: a note value turned into ticks, with triplets, dotted values, swing and an offset.

The grid lives in the file's ticks, so a tempo map never moves it. A step is
``4 * ticks_per_beat / division`` ticks (a beat is a quarter note), times 2/3 for a
triplet and 3/2 for a dotted value. Steps that are not a whole number of ticks (1/16T at
100 PPQ is 16.67 ticks, 1/64 at 12 PPQ 0.75) are kept as exact fractions: line ``k`` lies at exactly
``offset + k * step`` and is rounded to the nearest tick only when a note is put on it, so
there is no drift however long the file.

Swing (the MPC / Logic convention)
----------------------------------
Grid steps go in pairs counted from the grid's origin; ``swing`` is where the second line
of each pair falls, in percent of the pair: 50 % is straight, 66.67 % a triplet feel,
75 % a dotted-eighth feel (the most allowed). The first line of each pair never moves.

Offset
------
``offset`` shifts every line later (or earlier, if negative) by a percentage of one step:
``offset=10`` with 1/16 at 480 PPQ puts the lines at 12, 132, 252, ... ticks.

Percent settings are used to a hundredth of a percent.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ._jit import njit
from .errors import MidiParameterError, check_int, check_percent

__all__ = ["DIVISIONS", "Grid"]

DIVISIONS = (1, 2, 4, 8, 16, 32, 64, 128)
"""Allowed note values: 1/1 (whole) to 1/128."""

_GRID_RE = re.compile(r"^\s*1\s*/\s*(\d+)\s*([tT.]?)\s*$")
_LIMIT = 2**62


def _lcm(*values: int) -> int:
    out = 1
    for v in values:
        out = out * v // math.gcd(out, v)
    return out


@dataclass(frozen=True)
class Grid:
    """Grid lines in ticks.

    Parameters
    ----------
    ticks_per_beat : int
        The file's resolution (PPQ), 1..32767.
    division : int
        Note value denominator: 16 for sixteenths. One of 1, 2, 4, ... 128.
    triplet, dotted : bool
        Step times 2/3 or 3/2 (not both).
    swing : float [percent of a pair of steps, 50..75]
    offset : float [percent of a step, -100..100]
    """

    ticks_per_beat: int
    division: int = 16
    triplet: bool = False
    dotted: bool = False
    swing: Fraction = Fraction(50)
    offset: Fraction = Fraction(0)
    # exact lattice, every quantity scaled by `_d` so it is a whole number
    _d: int = field(init=False, repr=False, compare=False)
    _step: int = field(init=False, repr=False, compare=False)
    _pair: int = field(init=False, repr=False, compare=False)
    _second: int = field(init=False, repr=False, compare=False)
    _origin: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tpb = check_int("ticks_per_beat", self.ticks_per_beat, 1, 32767)
        if self.division not in DIVISIONS:
            raise MidiParameterError(
                f"division must be one of {', '.join(map(str, DIVISIONS))}, got {self.division}"
            )
        if self.triplet and self.dotted:
            raise MidiParameterError("triplet and dotted cannot both be set")
        swing = check_percent("swing", self.swing, 50, 75)
        offset = check_percent("offset", self.offset, -100, 100)
        object.__setattr__(self, "ticks_per_beat", tpb)
        object.__setattr__(self, "swing", swing)
        object.__setattr__(self, "offset", offset)
        step = self.step
        origin = step * offset / 100
        second = 2 * step * swing / 100
        d = _lcm(step.denominator, origin.denominator, second.denominator)
        object.__setattr__(self, "_d", d)
        object.__setattr__(self, "_step", int(step * d))
        object.__setattr__(self, "_pair", int(2 * step * d))
        object.__setattr__(self, "_second", int(second * d))
        object.__setattr__(self, "_origin", int(origin * d))

    @classmethod
    def parse(
        cls,
        text: str,
        ticks_per_beat: int,
        *,
        triplet: bool = False,
        dotted: bool = False,
        swing: float = 50,
        offset: float = 0,
    ) -> Grid:
        """A grid from a note value: ``"1/16"``, ``"1/8T"`` (triplet), ``"1/8."`` (dotted).

        Grids are immutable, so one made before is given again (a batch parses the same
        grid for every file)."""
        key = tuple((type(v), v) for v in (text, ticks_per_beat, triplet, dotted, swing,
                                           offset))
        try:
            return _PARSED[key]
        except (KeyError, TypeError):    # (TypeError: an unhashable argument, refused below)
            pass
        grid = cls._parse(text, ticks_per_beat, triplet=triplet, dotted=dotted, swing=swing,
                          offset=offset)
        if len(_PARSED) < 4096:
            _PARSED[key] = grid
        return grid

    @classmethod
    def _parse(cls, text: str, ticks_per_beat: int, *, triplet: bool, dotted: bool,
               swing: float, offset: float) -> Grid:
        m = _GRID_RE.match(text) if isinstance(text, str) else None
        if m is None or int(m.group(1)) not in DIVISIONS:
            raise MidiParameterError(
                "grid must be a note value 1/1, 1/2, 1/4 ... 1/128, optionally followed by"
                f" T (triplet) or . (dotted), got {text!r}"
            )
        suffix = m.group(2)
        return cls(
            ticks_per_beat,
            int(m.group(1)),
            triplet=triplet or suffix in ("t", "T"),
            dotted=dotted or suffix == ".",
            swing=swing,
            offset=offset,
        )

    @property
    def step(self) -> Fraction:
        """One grid step in ticks, exactly."""
        step = Fraction(4 * self.ticks_per_beat, self.division)
        if self.triplet:
            step *= Fraction(2, 3)
        if self.dotted:
            step *= Fraction(3, 2)
        return step

    @property
    def name(self) -> str:
        return f"1/{self.division}" + ("T" if self.triplet else "." if self.dotted else "")

    def describe(self) -> str:
        """``1/16 = 120 ticks at 480 PPQ, swing 58 %``."""
        step = self.step
        ticks = f"{float(step):.6g}" if step.denominator != 1 else str(step.numerator)
        text = f"{self.name} = {ticks} ticks at {self.ticks_per_beat} PPQ"
        if self.swing != 50:
            text += f", swing {float(self.swing):g} %"
        if self.offset:
            text += f", offset {float(self.offset):+g} %"
        return text

    # --- exact lattice ---------------------------------------------------------------------

    def _scaled(self, ticks: np.ndarray) -> np.ndarray:
        t = np.asarray(ticks, dtype=np.int64)
        self._check_range(t)
        return t * self._d

    @property
    def _limit(self) -> int:
        """Ticks [int64] below this (in magnitude, less one) stay exact times ``_d``."""
        return (_LIMIT - abs(self._origin)) // self._d

    def _check_range(self, ticks: np.ndarray) -> None:
        """MidiParameterError unless every tick [int64] times ``_d`` stays exact."""
        if ticks.size and int(np.abs(ticks).max()) + 1 > self._limit:
            raise MidiParameterError(
                f"ticks up to {int(np.abs(ticks).max())} are too large for the grid "
                f"{self.name} at this resolution"
            )

    def _locate(self, ticks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest line (scaled) and signed distance ``line - tick`` (scaled) per tick.

        A tick exactly half way between two lines goes to the later one.
        """
        scaled = np.ascontiguousarray(self._scaled(ticks)).reshape(-1)
        line, dist = _locate_kernel(scaled, np.int64(self._origin), np.int64(self._pair),
                                    np.int64(self._second))
        shape = np.shape(ticks)
        return line.reshape(shape), dist.reshape(shape)

    def _next_line(self, line: np.ndarray) -> np.ndarray:
        """The line after each (exact, scaled) line."""
        on_first = (line - self._origin) % self._pair == 0
        return line + np.where(on_first, self._second, self._pair - self._second)

    def _to_ticks(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled positions rounded to the nearest tick (half a tick rounds up)."""
        return (2 * scaled + self._d) // (2 * self._d)

    # --- public helpers ----------------------------------------------------------------------

    def nearest(self, ticks) -> np.ndarray:
        """The nearest grid line of each tick, rounded to a tick [int64 ticks]."""
        line, _ = self._locate(ticks)
        return self._to_ticks(line)

    def line_of(self, ticks) -> np.ndarray:
        """The exact nearest grid line of each tick [float64 ticks]."""
        line, _ = self._locate(ticks)
        return line / self._d

    def distance(self, ticks) -> np.ndarray:
        """Signed distance from each tick to its exact nearest line, ``line - tick``
        [float64 ticks]."""
        _, dist = self._locate(ticks)
        return dist / self._d

    def lines(self, start: int, stop: int) -> np.ndarray:
        """Every grid line in ``start <= line < stop``, rounded to ticks [int64 ticks]."""
        lo = (int(start) * self._d - self._origin) // self._pair - 1
        hi = (int(stop) * self._d - self._origin) // self._pair + 1
        base = self._origin + np.arange(lo, hi + 1, dtype=np.int64) * self._pair
        exact = np.sort(np.concatenate((base, base + self._second)))
        ticks = np.unique(self._to_ticks(exact))
        return ticks[(ticks >= start) & (ticks < stop)]


_PARSED: dict[tuple, Grid] = {}


@njit(inline="always")
def floor_div(a, b):
    """``a // b`` of int64 ``a`` and ``b`` > 0. Where ``|a| < 2**53`` through a float
    multiply, which is quicker than a 64-bit integer division (``1.0 / b`` is
    loop-invariant where ``b`` is, so the compiler can hoist it): the float quotient is
    then within 1 of the true one (relative error below 2**-52, and exact for b = 1), so
    one correction step makes it exact."""
    if -(1 << 53) < a < (1 << 53):
        q = np.int64(np.floor(a * (1.0 / b)))
        r = a - q * b
        if r < 0:
            q -= 1
        elif r >= b:
            q += 1
        return q
    return a // b


@njit(inline="always")
def nearest_line(scaled, origin, pair, second):
    """The nearest line of one scaled tick (see ``Grid._locate``): within each pair of
    steps ``[0, pair)`` from ``origin`` the lines are at 0, ``second`` and ``pair``; a
    tick half way between two goes to the later one."""
    rel = scaled - origin
    period = floor_div(rel, pair)
    r = rel - period * pair                      # 0 <= r < pair
    if r < second:
        target = second if second - r <= r else 0
    else:
        target = second if r - second < pair - r else pair
    return origin + period * pair + target


@njit
def _locate_kernel(scaled, origin, pair, second):
    """The nearest line of each scaled tick and ``line - tick`` (``nearest_line``)."""
    n = scaled.shape[0]
    line = np.empty(n, np.int64)
    dist = np.empty(n, np.int64)
    for i in range(n):
        line[i] = nearest_line(scaled[i], origin, pair, second)
        dist[i] = line[i] - scaled[i]
    return line, dist
