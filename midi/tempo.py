"""Tempo map: ticks to seconds through a file's set_tempo events (pure conversions, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .errors import MidiParameterError

__all__ = ["DEFAULT_TEMPO", "TempoMap"]

DEFAULT_TEMPO = 500_000
"""Microseconds per beat before the first set_tempo event (120 BPM, as the SMF spec says)."""


@dataclass(frozen=True, eq=False)
class TempoMap:
    """Piecewise-constant tempo over ticks.

    Parameters
    ----------
    ticks_per_beat : int
        The file's resolution (PPQ).
    ticks : np.ndarray [shape=(n,), int64, ticks]
        Where each tempo starts, ascending; the first is 0.
    tempos : np.ndarray [shape=(n,), int64, microseconds per beat]
    """

    ticks_per_beat: int
    ticks: np.ndarray
    tempos: np.ndarray

    def __post_init__(self) -> None:
        if self.ticks_per_beat < 1:
            raise MidiParameterError(
                f"ticks_per_beat must be >= 1, got {self.ticks_per_beat}"
            )
        if self.tempos.size and self.tempos.min() <= 0:
            raise MidiParameterError(
                f"tempos must be > 0 microseconds per beat, got {self.tempos.min()}"
            )

    @classmethod
    def from_changes(cls, ticks_per_beat: int, changes: list[tuple[int, int]]) -> TempoMap:
        """Build from ``(tick, microseconds_per_beat)`` pairs in file order.

        Several changes at one tick: the last one wins (it is the one a player ends on).
        A tempo of 0 (or less) microseconds per beat is no tempo (an infinitely fast beat,
        no duration to convert to): it is left out, and the tempo before it goes on.
        ``midi.read`` keeps such a set_tempo event in the file, unchanged.
        """
        last: dict[int, int] = {0: DEFAULT_TEMPO}
        for tick, tempo in changes:
            if int(tempo) > 0:
                last[int(tick)] = int(tempo)
        ticks = np.array(sorted(last), dtype=np.int64)
        tempos = np.array([last[t] for t in ticks.tolist()], dtype=np.int64)
        return cls(ticks_per_beat, ticks, tempos)

    @cached_property
    def _segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per tempo: its start tick (float), start second and seconds per tick."""
        per_tick = self.tempos / (1e6 * self.ticks_per_beat)
        starts = np.concatenate(([0.0], np.cumsum(np.diff(self.ticks) * per_tick[:-1])))
        return self.ticks.astype(np.float64), starts, per_tick

    def seconds(self, ticks: np.ndarray | float) -> np.ndarray:
        """Seconds from tick 0 to ``ticks`` (any real tick, fractional lines included)."""
        t = np.asarray(ticks, dtype=np.float64)
        at, starts, per_tick = self._segments
        if at.size == 1:                    # one tempo (most files): no search
            return t * per_tick[0]
        i = np.maximum(np.searchsorted(at, t, side="right") - 1, 0)
        return starts[i] + (t - at[i]) * per_tick[i]

    def samples(self, ticks: np.ndarray, sample_rate: int) -> np.ndarray:
        """The sample ``round(seconds(tick) * sample_rate)`` of each integer tick, in exact
        integer arithmetic (halves round up): the microsecond-ticks of every tempo segment
        are summed as integers, never accumulated in floating point, so hundreds of tempo
        changes do not drift [int64, samples]."""
        t = np.asarray(ticks, dtype=np.int64)
        if t.size and t.min() < 0:
            raise MidiParameterError(f"ticks must be >= 0, got {t.min()}")
        den = 1_000_000 * self.ticks_per_beat           # us x ticks per second
        seg_micro = np.diff(self.ticks) * self.tempos[:-1]  # us x ticks of each segment
        starts = np.concatenate(([0], np.cumsum(seg_micro))).astype(np.int64)
        i = np.clip(np.searchsorted(self.ticks, t, side="right") - 1, 0, len(self.ticks) - 1)
        micro = starts[i] + (t - self.ticks[i]) * self.tempos[i]
        # round(micro / den * rate) without overflow: whole seconds apart from the rest.
        whole, rest = np.divmod(micro, den)
        rate = np.int64(sample_rate)
        return whole * rate + (2 * rest * rate + den) // (2 * den)

    def bpm_at(self, tick: int) -> float:
        """Tempo in beats per minute at ``tick``."""
        i = max(int(np.searchsorted(self.ticks, tick, side="right")) - 1, 0)
        return 60e6 / float(self.tempos[i])
