"""Quantize note arrays to a grid: strength, exclude-within, catch range, starts/ends/lengths.

All settings are in percent of one grid step (``Grid.step``) and are used to 0.01 %.

- ``strength``: ``new = old + strength * (line - old)``, rounded to a tick (half a tick
  rounds later), with ``line`` the exact nearest grid line. 100 snaps, 0 leaves.
- ``catch_range``: only notes at most this far from their nearest line move (Logic's
  Q-Range, Reaper's window); the others keep their timing.
- ``exclude_within``: notes at most this far from their nearest line stay where they are.
- no note moves before tick 0 (a grid offset can put a line there): it stops at 0;
- ``mode="starts"`` moves note-ons; ``"ends"`` also moves note-offs by the same rules,
  each end to the nearest line *after its note's new start*; an end at or before its
  note's new start moves whatever the windows say (staying would leave no length);
  ``"lengths"`` moves each note as a whole, keeping its duration.

Clean-up, in every (track, channel, pitch) in which some note moved:

- no two notes start less than ``min_length`` ticks apart: a later note that would is
  pushed to ``min_length`` ticks after the earlier one (counted as ``nudged``; in
  ``"lengths"`` mode its end goes along);
- every note lasts at least ``min_length`` ticks (default 1): this is the minimum length;
- a note that would still sound when the next one of its pitch starts ends there
  (counted as ``trimmed``), so a note-off never ends the wrong note; a note with no
  note-off (``open_end``) counts as sounding for ever here, so it is trimmed too;
- a note that would sound across a *stray note-off* of its pitch (``stray_offs``: a
  note-off in the file that ends no note, kept at its tick like any other event) ends
  at that note-off (counted as ``trimmed``): that is where a player would end it, so the
  file read back has exactly the notes quantize returned.

Notes of a (track, channel, pitch) in which nothing moved are left exactly as they were
(so strength 0 changes nothing). Open notes (no note-off in the file) keep their end.

Chords (``chords``: a group number per note, from :func:`chord_groups`) move together:
every note of a group goes toward the line nearest the group's mean start, and the
windows are judged on that mean, so a chord played a little spread is never torn onto
two lines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ._jit import njit
from .errors import MidiParameterError, check_int, check_percent
from .grid import Grid, floor_div, nearest_line
from .notes import Notes, _claim, _moved, _moved_order, _pair
from .smf import _encode, _scan, encode_room
from .tempo import TempoMap

__all__ = ["MODES", "QuantizeResult", "chord_groups", "grid_fit", "quantize", "select",
           "timing_stats"]

MODES = ("starts", "ends", "lengths")


#: The note categories a quantize counts (:meth:`QuantizeResult.counts`, the report's).
COUNTED = ("selected", "moved", "kept_by_exclude", "kept_by_range", "ends_kept_by_exclude",
           "ends_kept_by_range", "nudged", "trimmed")


@dataclass(eq=False)
class QuantizeResult:
    """What ``quantize`` made and why; every mask has one entry per note.

    Attributes
    ----------
    notes : Notes
        The quantized notes, in the order of the input.
    selected : np.ndarray [bool]
        The note was in the selection (tracks, channels, pitch range).
    moved : np.ndarray [bool]
        Its start or end changed.
    kept_by_exclude, kept_by_range : np.ndarray [bool]
        Its start would have moved but exclude-within / the catch range kept it.
    ends_kept_by_exclude, ends_kept_by_range : np.ndarray [bool]
        The same for note ends (mode ``"ends"`` only).
    nudged : np.ndarray [bool]
        Its start was pushed later to keep ``min_length`` after a note of its pitch.
    trimmed : np.ndarray [bool]
        Its end was pulled in to where the next note of its pitch starts.
    """

    notes: Notes
    selected: np.ndarray
    moved: np.ndarray
    kept_by_exclude: np.ndarray
    kept_by_range: np.ndarray
    ends_kept_by_exclude: np.ndarray
    ends_kept_by_range: np.ndarray
    nudged: np.ndarray
    trimmed: np.ndarray

    def counts(self) -> dict[str, int]:
        """How many notes are in each category (``notes``, then :data:`COUNTED`)."""
        return {"notes": len(self.notes),
                **{name: int(np.count_nonzero(getattr(self, name))) for name in COUNTED}}


def select(
    notes: Notes,
    *,
    tracks: Iterable[int] | None = None,
    channels: Iterable[int] | None = None,
    pitch_range: tuple[int, int] | None = None,
) -> np.ndarray:
    """Mask of the notes in the given tracks (0-based), channels (1..16) and pitch range.

    ``None`` selects everything; ``pitch_range=(lo, hi)`` is inclusive, 0..127.
    """
    mask = np.ones(len(notes), dtype=bool)
    if tracks is not None:
        wanted = [check_int("tracks", t, 0) for t in tracks]
        mask &= np.isin(notes.track, np.array(wanted, dtype=np.int64))
    if channels is not None:
        wanted = [check_int("channels", c, 1, 16) - 1 for c in channels]
        mask &= np.isin(notes.channel, np.array(wanted, dtype=np.int64))
    if pitch_range is not None:
        try:
            lo, hi = pitch_range
        except (TypeError, ValueError):
            raise MidiParameterError(
                f"pitch_range must be a pair (low, high), got {pitch_range!r}"
            ) from None
        lo = check_int("pitch_range low", lo, 0, 127)
        hi = check_int("pitch_range high", hi, 0, 127)
        if lo > hi:
            raise MidiParameterError(f"pitch_range must have low <= high, got {lo}-{hi}")
        mask &= (notes.pitch >= lo) & (notes.pitch <= hi)
    return mask


def _windows(grid: Grid, dist: np.ndarray, exclude: int, catch: int):
    """(inside catch range, inside exclude-within) for scaled distances.

    ``exclude`` / ``catch`` are in hundredths of a percent of a step; integer maths, so a
    note exactly at the limit is inside it.
    """
    limit = np.abs(dist) * 10_000
    return limit <= catch * grid._step, limit <= exclude * grid._step


def _round_div(num: np.ndarray, den: int) -> np.ndarray:
    """num / den rounded to the nearest integer, halves up (den > 0)."""
    return (2 * num + den) // (2 * den)


def _pull(old: np.ndarray, dist: np.ndarray, grid: Grid, strength: int) -> np.ndarray:
    """old + strength * dist, in ticks, rounded (strength in hundredths of a percent)."""
    return old + _round_div(strength * dist, 10_000 * grid._d)


def quantize(
    notes: Notes,
    grid: Grid,
    *,
    strength: float = 100,
    exclude_within: float = 0,
    catch_range: float = 100,
    mode: str = "starts",
    tracks: Iterable[int] | None = None,
    channels: Iterable[int] | None = None,
    pitch_range: tuple[int, int] | None = None,
    min_length: int = 1,
    stray_offs: np.ndarray | None = None,
    chords: np.ndarray | None = None,
) -> QuantizeResult:
    """Move notes toward the grid.

    Parameters
    ----------
    notes : Notes
    grid : Grid
        In the notes' ticks (same ticks_per_beat).
    strength : float [percent, 0..100]
    exclude_within : float [percent of a step, 0..100]
    catch_range : float [percent of a step, 0..100]
    mode : {"starts", "ends", "lengths"}
    tracks, channels, pitch_range
        Selection, as in ``select`` (channels are 1..16). Other notes are untouched.
    min_length : int [ticks, >= 1]
    stray_offs : np.ndarray [shape=(k, 4), int64: track, channel 0..15, pitch, tick] or None
        Note-offs of the file that end no note (``Song.stray_offs``). A moved note is
        trimmed where one of its pitch would end it. Pass them when the notes come from
        a file that will be written back.
    chords : np.ndarray [shape=(n,), int64] or None
        A group number per note (:func:`chord_groups`): the notes of a group move toward
        the line nearest their mean start, together. None: each note on its own.

    Returns
    -------
    QuantizeResult
    """
    if not isinstance(notes, Notes):
        raise MidiParameterError(f"notes must be a midi.Notes, got {type(notes).__name__}")
    if not isinstance(grid, Grid):
        raise MidiParameterError(f"grid must be a midi.Grid, got {type(grid).__name__}")
    k, exclude, catch = hundredths(strength, exclude_within, catch_range)
    if mode not in MODES:
        raise MidiParameterError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    min_length = check_int("min_length", min_length, 1)
    sel = select(notes, tracks=tracks, channels=channels, pitch_range=pitch_range)
    n = len(notes)
    none = np.zeros(n, dtype=bool)

    start = notes.start
    end = notes.end
    idx = np.flatnonzero(sel)
    grid._check_range(start[idx] if idx.size < n else start)
    group, n_groups = np.zeros(0, np.int64), 0
    if chords is not None:
        group = _check_chords(chords, n)[idx]
        if group.size and (group.min() < 0 or group.max() >= 4 * group.size + 64):
            _, group = np.unique(group, return_inverse=True)  # (not chord_groups' numbers)
        n_groups = int(group.max()) + 1 if group.size else 0
    new_start = start.copy()
    new_end = end.copy()
    kept_by_range = none.copy()
    kept_by_exclude = none.copy()
    _move_starts(start, end, notes.open_end, idx, group, n_groups, np.int64(grid._origin),
                 np.int64(grid._pair), np.int64(grid._second), np.int64(grid._d),
                 np.int64(grid._step), np.int64(k), np.int64(exclude), np.int64(catch),
                 mode == "lengths", new_start, new_end, kept_by_range, kept_by_exclude)
    ends_kept_by_exclude = none.copy()
    ends_kept_by_range = none.copy()
    if mode == "ends":
        eidx = idx[~notes.open_end[idx]]
        e_old = end[eidx]
        e_line, e_dist = grid._locate(e_old)
        e_in_range, e_in_exclude = _windows(grid, e_dist, exclude, catch)
        # an end goes to the nearest line after its note's new start
        floor = new_start[eidx] * grid._d
        for _ in range(64):  # a few rounds at most: lines can round onto the same tick
            early = grid._to_ticks(e_line) * grid._d <= floor
            if not early.any():
                break
            e_line = np.where(early, grid._next_line(e_line), e_line)
        e_cand = _pull(e_old, e_line - e_old * grid._d, grid, k)
        e_would = e_cand != e_old
        # the windows (distance to the nearest line) keep an end only where it still
        # leaves its note some length: an end at or before the note's new start (on the
        # line the start moved to, say) goes to the line after it whatever the windows say
        forced = e_old <= new_start[eidx]
        e_apply = (e_in_range & ~e_in_exclude) | forced
        new_end[eidx] = np.where(e_apply, e_cand, e_old)
        ends_kept_by_range[eidx] = e_would & ~forced & ~e_in_range
        ends_kept_by_exclude[eidx] = e_would & ~forced & e_in_range & e_in_exclude

    open_end = notes.open_end.copy()
    nudged = none.copy()
    trimmed = none.copy()
    changed = (new_start != start) | (new_end != end)
    if changed.any():
        _clean_up(
            notes,
            idx,
            new_start,
            new_end,
            open_end,
            nudged,
            trimmed,
            min_length,
            keep_lengths=mode == "lengths",
            stray_offs=stray_offs,
        )
    moved = (new_start != start) | (new_end != end)
    out = notes.replace(start=new_start, end=new_end, open_end=open_end)
    return QuantizeResult(
        notes=out,
        selected=sel,
        moved=moved,
        kept_by_exclude=kept_by_exclude,
        kept_by_range=kept_by_range,
        ends_kept_by_exclude=ends_kept_by_exclude,
        ends_kept_by_range=ends_kept_by_range,
        nudged=nudged,
        trimmed=trimmed,
    )


def hundredths(strength: float, exclude_within: float, catch_range: float
               ) -> tuple[int, int, int]:
    """The settings [percent, checked in 0..100] in hundredths of a percent, as the
    kernels take them."""
    return (int(check_percent("strength", strength, 0, 100) * 100),
            int(check_percent("exclude_within", exclude_within, 0, 100) * 100),
            int(check_percent("catch_range", catch_range, 0, 100) * 100))


def _check_chords(chords: object, n: int) -> np.ndarray:
    c = np.asarray(chords)
    if c.shape != (n,) or c.dtype.kind not in "iu":
        raise MidiParameterError(f"chords must be one integer group per note ({n}), got "
                                 f"{c.dtype} {c.shape}")
    return c.astype(np.int64, copy=False)


@njit
def _move_starts(start, end, open_end, idx, group, n_groups, origin, pair, second, d, step,
                 strength, exclude, catch, keep_lengths, new_start, new_end, kept_by_range,
                 kept_by_exclude):
    """Pull the starts of the notes ``idx`` toward their lines, in place in ``new_start``
    (and, with ``keep_lengths``, ``new_end`` of the closed notes along), as the module
    docstring says; ``kept_by_range`` / ``kept_by_exclude`` mark the notes the windows
    kept. All in exact integer arithmetic on the grid's scaled lattice (``Grid._d``);
    ``strength``, ``exclude`` and ``catch`` in hundredths of a percent.

    ``group`` (one per note of ``idx``, ``0..n_groups-1``; empty: each note on its own):
    a chord's notes go toward the line nearest the group's mean start (ticks, halves
    rounding later), and the windows judge that mean's distance to it."""
    mean = np.zeros(n_groups, np.int64)
    if n_groups:
        total = np.zeros(n_groups, np.float64)
        count = np.zeros(n_groups, np.int64)
        for j in range(idx.shape[0]):
            total[group[j]] += start[idx[j]]
            count[group[j]] += 1
        for g in range(n_groups):
            if count[g]:
                mean[g] = np.int64(np.floor(total[g] / count[g] + 0.5))
    for j in range(idx.shape[0]):
        i = idx[j]
        old = start[i]
        scaled = old * d
        if n_groups:
            at = mean[group[j]] * d
            line = nearest_line(at, origin, pair, second)
            judged = line - at
        else:
            line = nearest_line(scaled, origin, pair, second)
            judged = line - scaled
        dist = line - scaled
        limit = abs(judged) * 10_000
        in_range = limit <= catch * step
        in_exclude = limit <= exclude * step
        den = 10_000 * d
        # (halves round later; never before tick 0)
        moved = max(old + floor_div(2 * strength * dist + den, 2 * den), 0)
        would = moved != old
        if in_range and not in_exclude:
            new_start[i] = moved
            if keep_lengths and not open_end[i]:
                new_end[i] = end[i] + (moved - old)
        kept_by_range[i] = would and not in_range
        kept_by_exclude[i] = would and in_range and in_exclude


@njit
def _chord_kernel(key: np.ndarray, onset: np.ndarray, window: np.ndarray,
                  order: np.ndarray) -> np.ndarray:
    """Group numbers: in ``order`` (by key, then onset), a note joins the current group
    when it has the same key and starts at most ``window`` after the group's first note."""
    group = np.empty(order.shape[0], np.int64)
    current = -1
    first = 0.0
    last_key = -1
    for j in range(order.shape[0]):
        i = order[j]
        if current < 0 or key[i] != last_key or onset[i] - first > window[i]:
            current += 1
            first = onset[i]
            last_key = key[i]
        group[i] = current
    return group


def chord_groups(notes: Notes, tempo_map: TempoMap, window_ms: float,
                 step_ticks: float | None = None, *,
                 start_seconds: np.ndarray | None = None) -> np.ndarray:
    """A group number per note: notes of one track and channel that start within
    ``window_ms`` ms (in the file's time, through ``tempo_map``) of their group's first
    note are one chord. The window is at most a quarter of ``step_ticks`` (a grid step)
    at each note, so a fine grid never merges notes meant for neighbouring lines.
    ``window_ms=0`` gives every note its own group. ``start_seconds``:
    ``tempo_map.seconds(notes.start)``, if the caller has it."""
    n = len(notes)
    if n == 0 or window_ms <= 0:
        return np.arange(n, dtype=np.int64)
    onset = tempo_map.seconds(notes.start) if start_seconds is None else start_seconds
    window = np.full(n, window_ms / 1000.0)
    if step_ticks is not None:
        quarter = tempo_map.seconds(notes.start + step_ticks / 4) - onset
        window = np.minimum(window, quarter)
    key = notes.track.astype(np.int64) << 4 | notes.channel.astype(np.int64)
    # by (track, channel, start tick): the order of the onsets, with one integer sort
    # (none for the notes of a file, one track and channel at a time, as read)
    return _chord_kernel(key, onset, window, _stable_order(key << 41 | notes.start))


def _stable_order(key: np.ndarray) -> np.ndarray:
    """The stable sort order of ``key`` [int64]: ``arange`` when it is already sorted."""
    if key.size < 2 or bool((key[1:] >= key[:-1]).all()):
        return np.arange(key.size, dtype=np.int64)
    return np.argsort(key, kind="stable")


def grid_fit(notes: Notes, grid: Grid, mask: np.ndarray | None = None
             ) -> dict[str, float | int | bool]:
    """Whether the note starts follow the grid at all: the Rayleigh test of their phase
    within a grid step (distance to the nearest line, as an angle: a step is a turn).

    ``concentration`` is the mean resultant length R (1: every start on a line, 0: spread
    evenly over the step); ``p_uniform`` the chance that starts spread evenly over the
    step would look at least this concentrated (``exp(-n R**2)``). ``fits`` is False when
    there are at least 50 starts and evenness cannot be ruled out (p > 0.01) or R < 0.1:
    the grid of the file's tempo map has nothing to do with the playing (a performance
    recorded without a click), and quantizing to it moves notes toward arbitrary lines.
    """
    start = notes.start if mask is None else notes.start[mask]
    return _timing_and_fit(start, grid, TempoMap.from_changes(grid.ticks_per_beat, []))[1]


def _timing_and_fit(start: np.ndarray, grid: Grid, tempo_map: TempoMap,
                    start_seconds: np.ndarray | None = None, fit: bool = True
                    ) -> tuple[dict, dict | None]:
    """:func:`timing_stats` and (``fit``) :func:`grid_fit` of the starts ``start``
    [ticks] in one pass (``_timing_sums``); ``start_seconds``: their
    ``tempo_map.seconds``, if known."""
    start = np.ascontiguousarray(start, dtype=np.int64).reshape(-1)
    n = int(start.size)
    if n == 0:
        return _timing_dicts(0, grid, 0, 0, 0.0, 0.0, 0, *((0.0, 0.0) if fit else ()))
    grid._check_range(start)
    if start_seconds is None:
        start_seconds = tempo_map.seconds(start)
    at, starts, per_tick = tempo_map._segments
    sums = _timing_sums(
        start, np.ascontiguousarray(start_seconds, dtype=np.float64), np.int64(grid._origin),
        np.int64(grid._pair), np.int64(grid._second), np.int64(grid._d), at, starts,
        per_tick, 2 * np.pi / grid._step if fit else 0.0)    # (a step is a turn)
    return _timing_dicts(n, grid, *(sums if fit else sums[:5]))


def _timing_dicts(n: int, grid: Grid, sum_d: int, max_d: int, sum_ms: float, max_ms: float,
                  on_grid: int, c: float | None = None, s: float | None = None
                  ) -> tuple[dict, dict | None]:
    """:func:`timing_stats` and (given the cos and sin sums ``c``, ``s``) :func:`grid_fit`
    of ``n`` starts from ``_timing_sums``'s figures."""
    if n == 0:
        return ({"count": 0, "mean_ticks": 0.0, "max_ticks": 0.0, "mean_ms": 0.0,
                 "max_ms": 0.0, "on_grid": 0},
                None if c is None else
                {"count": 0, "concentration": 0.0, "p_uniform": 1.0, "fits": True})
    timing = {"count": n, "mean_ticks": sum_d / grid._d / n, "max_ticks": max_d / grid._d,
              "mean_ms": sum_ms / n, "max_ms": max_ms, "on_grid": int(on_grid)}
    if c is None:
        return timing, None
    r = math.hypot(c / n, s / n)
    p = math.exp(-n * r * r)
    fits = not (n >= 50 and (p > 0.01 or r < 0.1))
    return timing, {"count": n, "concentration": r, "p_uniform": p, "fits": fits}


@njit
def _timing_sums(start, start_seconds, origin, pair, second, d, at, starts, per_tick,
                 radians_per_unit):
    """One pass over the starts [ticks] to their nearest lines (``grid.nearest_line``):
    the sum and the largest of the distances (scaled ticks), of the distances in ms
    (through the tempo segments ``at`` [ticks], ``starts`` [s], ``per_tick`` [s], as
    ``TempoMap.seconds``), the count of starts on their line's tick, and the sums of
    cos and sin of distance x ``radians_per_unit`` (0: not computed). A distance is an
    integer within half a pair of steps of 0, so where there are fewer such values than
    starts, their cos and sin come from a table."""
    n = start.shape[0]
    half = pair // 2 + 1
    table = radians_per_unit != 0.0 and 2 * half + 1 <= n
    cos_of = np.empty(2 * half + 1 if table else 0)
    sin_of = np.empty(2 * half + 1 if table else 0)
    for k in range(cos_of.shape[0]):
        cos_of[k] = np.cos((k - half) * radians_per_unit)
        sin_of[k] = np.sin((k - half) * radians_per_unit)
    sum_d = np.int64(0)
    max_d = np.int64(0)
    sum_ms = 0.0
    max_ms = 0.0
    on_grid = 0
    c = 0.0
    s = 0.0
    segment = 0
    for i in range(n):
        scaled = start[i] * d
        line = nearest_line(scaled, origin, pair, second)
        dist = line - scaled
        a = abs(dist)
        sum_d += a
        max_d = max(max_d, a)
        x = line / d
        if at.shape[0] == 1:
            seconds = x * per_tick[0]
        else:                   # (starts mostly ascend: walk from the last segment)
            while segment + 1 < at.shape[0] and at[segment + 1] <= x:
                segment += 1
            while segment > 0 and at[segment] > x:
                segment -= 1
            seconds = starts[segment] + (x - at[segment]) * per_tick[segment]
        ms = abs(seconds - start_seconds[i]) * 1000.0
        sum_ms += ms
        max_ms = max(max_ms, ms)
        if -d <= 2 * dist < d:  # (the line rounds, half a tick up, to the start's tick)
            on_grid += 1
        if table:
            c += cos_of[dist + half]
            s += sin_of[dist + half]
        elif radians_per_unit != 0.0:
            c += np.cos(dist * radians_per_unit)
            s += np.sin(dist * radians_per_unit)
    return sum_d, max_d, sum_ms, max_ms, on_grid, c, s


def _clean_up(
    notes, idx, new_start, new_end, open_end, nudged, trimmed, min_length, keep_lengths,
    stray_offs=None,
) -> None:
    """Minimum gap, minimum length and no same-pitch overlap, in groups where a note moved.

    Works in place on ``new_start``, ``new_end``, ``open_end``, ``nudged``, ``trimmed``.
    Selections are whole (track, channel, pitch) groups, so ``idx`` holds whole groups.
    With ``keep_lengths`` a nudged note takes its end along. The notes are sorted by
    (group, start) here; :func:`_clean_kernel` walks each group once.
    """
    group = _group_key(notes.track[idx], notes.channel[idx], notes.pitch[idx])
    order = _group_order(group, new_start[idx])
    ids, gkey = idx[order], group[order]
    del order, group
    stray = np.zeros((0, 4), np.int64) if stray_offs is None else \
        np.asarray(stray_offs, dtype=np.int64).reshape(-1, 4)
    s_key = _group_key(stray[:, 0], stray[:, 1], stray[:, 2])
    by = np.lexsort((stray[:, 3], s_key))
    _clean_kernel(ids, gkey, notes.start, notes.end, new_start, new_end, open_end, nudged, trimmed,
                  np.int64(min_length), bool(keep_lengths), s_key[by],
                  np.ascontiguousarray(stray[by, 3]))


def _group_order(group: np.ndarray, start: np.ndarray) -> np.ndarray:
    """The order that sorts notes by (``group``, ``start``), stable: a radix sort by group
    when the keys fit 16 bits and the starts then come in order (as they do, but for a
    few notes moved past a neighbour, in a quantized file), else a sort of both."""
    if int(group.max()) < 2**16:
        order = np.argsort(group.astype(np.uint16), kind="stable")
        g, t = group[order], start[order]
        if bool(((g[1:] != g[:-1]) | (t[1:] >= t[:-1])).all()):
            return order
    lo = int(start.min())
    if int(start.max()) - lo < 2**31 and int(group.max()) < 2**31:
        return _stable_order(group << 32 | (start - lo))
    return np.lexsort((start, group))


@njit
def _clean_kernel(ids, gkey, start, end, new_start, new_end, open_end, nudged, trimmed,
                  min_length, keep_lengths, stray_key, stray_tick):
    """Each group of sorted notes (``ids``, ``gkey`` its group key) in which a note moved:
    starts at least ``min_length`` apart (later notes pushed later), every note at least
    ``min_length`` long, a note cut where the next one of its group starts or at the first
    stray note-off of its group after its start. In place."""
    forever = np.int64(2**62)   # an open note sounds until the (possibly later) track end
    n = ids.shape[0]
    a = 0
    while a < n:
        b = a + 1
        while b < n and gkey[b] == gkey[a]:
            b += 1
        active = False
        for j in range(a, b):
            i = ids[j]
            if new_start[i] != start[i] or new_end[i] != end[i]:
                active = True
                break
        if active:
            old = np.empty(b - a, np.int64)
            prev = np.int64(0)
            for j in range(a, b):            # pass 1: the starts
                i = ids[j]
                old[j - a] = new_start[i]
                s2 = new_start[i]
                if j > a and prev + min_length > s2:
                    s2 = prev + min_length
                new_start[i] = s2
                prev = s2
            p = np.searchsorted(stray_key, gkey[a], side="left")
            stop_at = np.searchsorted(stray_key, gkey[a], side="right")
            for j in range(a, b):            # pass 2: the ends
                i = ids[j]
                s2 = new_start[i]
                is_open = open_end[i]
                e = new_end[i]
                if keep_lengths and not is_open:
                    e += s2 - old[j - a]
                e2 = max(e, s2 + min_length)
                cut = False
                e3 = e2
                if j + 1 < b:
                    nxt = new_start[ids[j + 1]]
                    if is_open or e2 > nxt:
                        cut = True
                        e3 = nxt
                while p < stop_at and stray_tick[p] <= s2:
                    p += 1
                stop = stray_tick[p] if p < stop_at else forever
                limit = forever if (is_open and not cut) else e3
                cut_stray = stop < limit
                if cut_stray:
                    e3 = stop
                new_end[i] = e3
                nudged[i] = s2 != old[j - a]
                trimmed[i] = cut or cut_stray
                open_end[i] = is_open and not cut and not cut_stray
        a = b


def _group_key(track, channel, pitch) -> np.ndarray:
    return (
        np.asarray(track, dtype=np.int64) << 11
        | np.asarray(channel, dtype=np.int64) << 7
        | np.asarray(pitch, dtype=np.int64)
    )


def timing_stats(
    notes: Notes,
    grid: Grid,
    tempo_map: TempoMap | None = None,
    mask: np.ndarray | None = None,
) -> dict[str, float | int]:
    """Distance of note starts from their nearest grid line: count, mean and largest.

    Ticks are measured to the exact line; milliseconds go through ``tempo_map``
    (120 BPM when it is None). Empty selections give zeros.
    """
    if tempo_map is None:
        tempo_map = TempoMap.from_changes(grid.ticks_per_beat, [])
    start = notes.start if mask is None else notes.start[mask]
    return _timing_and_fit(start, grid, tempo_map, fit=False)[0]



# ------------------------------------------------------------------ one file in one call

#: What ``_quantize_smf`` counts, in order, in its ``counts`` array.
FILE_COUNTS = ("notes", "open_notes", "moved", "kept_by_exclude", "kept_by_range",
               "nudged", "trimmed", "short_notes", "before_sum", "before_max",
               "before_on_grid", "after_sum", "after_max", "after_on_grid")


@njit
def _sorted_order(key):
    """:func:`_stable_order` inside a kernel."""
    for i in range(1, key.shape[0]):
        if key[i] < key[i - 1]:
            return np.argsort(key, kind="mergesort")
    return np.arange(key.shape[0])


@njit
def _bucket_order(key, buckets):
    """The stable sort order of ``key`` (integers in ``0..buckets-1``), by counting."""
    count = np.zeros(buckets + 1, np.int64)
    for i in range(key.shape[0]):
        count[key[i] + 1] += 1
    for b in range(buckets):
        count[b + 1] += count[b]
    order = np.empty(key.shape[0], np.int64)
    for i in range(key.shape[0]):
        order[count[key[i]]] = i
        count[key[i]] += 1
    return order


@njit
def _by_key_then(key, buckets, then):
    """The stable order by (``key`` in ``0..buckets-1``, ``then``): by counting when
    ``then`` ascends within each key in index order (as the notes of a file do), else a
    merge sort of both (and when there are many more buckets than keys)."""
    if buckets > 4 * key.shape[0] + 65536:
        return _by_two(key, then)
    order = _bucket_order(key, buckets)
    for j in range(1, order.shape[0]):
        if key[order[j]] == key[order[j - 1]] and then[order[j]] < then[order[j - 1]]:
            return _by_two(key, then)
    return order


@njit
def _by_two(primary, secondary):
    """The stable order by (``primary``, ``secondary``), as ``np.lexsort((secondary,
    primary))``."""
    first = np.argsort(secondary, kind="mergesort")
    return first[np.argsort(primary[first], kind="mergesort")]


@njit(inline="always")
def _second_of(x, at, starts, per_tick):
    """``TempoMap.seconds`` of one tick ``x`` [float64 ticks], through its ``_segments``
    (``at`` [ticks], ``starts`` [s], ``per_tick`` [s])."""
    if at.shape[0] == 1:
        return x * per_tick[0]
    k = max(np.searchsorted(at, x, side="right") - 1, 0)
    return starts[k] + (x - at[k]) * per_tick[k]


@njit
def _seconds(ticks, at, starts, per_tick):
    """``TempoMap.seconds`` of ``ticks`` [float64 ticks], through its ``_segments``."""
    out = np.empty(ticks.shape[0])
    for i in range(ticks.shape[0]):
        out[i] = _second_of(ticks[i], at, starts, per_tick)
    return out


@njit
def _read_table(data, pos, announced, max_tick):
    """``smf.parse`` after the header, in one call: the table's columns and the tracks'
    (first row, end tick, end-of-track row, chunk start and end, clean), or None for
    anything ``parse`` would refuse (or ``read_bytes``: a tick of ``max_tick`` or more)."""
    size = data.shape[0]
    cap = size // 2 + 1
    tick = np.empty(cap, np.int64)
    status = np.empty(cap, np.uint8)
    d1 = np.empty(cap, np.uint8)
    d2 = np.empty(cap, np.uint8)
    payload = np.empty(cap, np.int32)
    length = np.empty(cap, np.int32)
    offset = np.empty(cap, np.int32)
    nbytes = np.empty(cap, np.int32)
    running = np.empty(cap, np.bool_)
    info = np.empty((size // 8 + 1, 9), np.int64)   # (_scan fills the rows it uses)
    err = np.zeros(9, np.int64)
    found = np.zeros(2, np.int64)
    _scan(data, pos, announced, True, tick, status, d1, d2, payload, length, offset, nbytes,
          running, info, err, found)
    rows, n_tracks = found[0], found[1]
    if err[0] != 0 or n_tracks < announced or n_tracks == 0:
        return None
    first_row = np.empty(n_tracks + 1, np.int64)
    clean = np.empty(n_tracks, np.bool_)
    track = np.empty(rows, np.int32)
    first_row[n_tracks] = rows
    for t in range(n_tracks):
        first_row[t] = info[t, 4]
        clean[t] = (info[t, 1] + info[t, 3] <= size and info[t, 6] >= 0
                    and info[t, 7] == info[t, 2] and info[t, 8] == 0)
        if info[t, 5] >= max_tick:
            return None
    for t in range(n_tracks):
        track[first_row[t]:first_row[t + 1]] = t
    return (track, tick[:rows], status[:rows], d1[:rows], d2[:rows], payload[:rows],
            length[:rows], offset[:rows], nbytes[:rows], running[:rows], first_row,
            info[:n_tracks, 5].copy(), info[:n_tracks, 6].copy(),
            info[:n_tracks, 0].copy(), info[:n_tracks, 2].copy(), clean)


@njit
def _tempo_segments(data, tick, status, d1, payload, length, ticks_per_beat, default_tempo):
    """``TempoMap.from_changes(...)._segments`` of the table's set_tempo events (in file
    order, the last one above 0 at a tick wins, ``default_tempo`` at tick 0 before any):
    each segment's start tick (float), start second and seconds per tick."""
    rows = tick.shape[0]
    k = 1
    for r in range(rows):
        if status[r] == 0xFF and d1[r] == 0x51 and length[r] == 3:
            k += 1
    t_tick = np.empty(k, np.int64)
    t_value = np.empty(k, np.int64)
    t_tick[0] = 0
    t_value[0] = default_tempo
    k = 1
    for r in range(rows):
        if status[r] == 0xFF and d1[r] == 0x51 and length[r] == 3:
            p = payload[r]
            value = (np.int64(data[p]) << 16 | np.int64(data[p + 1]) << 8
                     | np.int64(data[p + 2]))
            if value > 0:
                t_tick[k] = tick[r]
                t_value[k] = value
                k += 1
    by = _sorted_order(t_tick[:k])
    keep = np.empty(k, np.bool_)
    for j in range(k):
        keep[j] = j + 1 == k or t_tick[by[j + 1]] != t_tick[by[j]]
    rows_kept = by[keep]
    ticks = t_tick[rows_kept]
    per_tick = t_value[rows_kept] / (1e6 * ticks_per_beat)
    starts = np.zeros(ticks.shape[0])
    total = 0.0
    for j in range(1, ticks.shape[0]):
        total += (ticks[j] - ticks[j - 1]) * per_tick[j - 1]
        starts[j] = total
    return ticks.astype(np.float64), starts, per_tick


@njit
def _quantize_smf(data, pos, announced, fmt, max_tick, ticks_per_beat, default_tempo,
                  origin, pair, second, d, step, limit, strength, exclude, catch,
                  keep_lengths, chord_s, quarter, radians, short_ms, counts, sums):
    """Read, quantize and write one MIDI file in one call: what ``notes.read_bytes``,
    ``files.quantize_song`` (every note selected, mode "starts" or, with
    ``keep_lengths``, "lengths", minimum length 1 tick) and ``notes.write`` do, through
    the same kernels, for the bytes ``data`` of a plain SMF whose header the caller has
    read (type ``fmt``, ``announced`` tracks, which start at byte ``pos``).

    The grid is ``Grid``'s lattice (``origin``, ``pair``, ``second``, ``d``, ``step``;
    ``limit``: ``Grid._limit``), the settings are as ``quantize`` takes them,
    ``chord_s`` is the chord window [s], ``quarter`` a quarter step [ticks],
    ``radians`` the grid fit's angle per scaled tick, ``short_ms``
    :data:`files.SHORT_MS` [ms].

    Returns the bytes of the output file, and fills ``counts`` (:data:`FILE_COUNTS`) and
    ``sums`` (before: the ms sum and max, cos and sin sums; after: the ms sum and max)
    for the report; None, with ``counts`` untouched, for anything that path refuses or
    takes another way: the caller then runs it (so that an error gets its message
    there)."""
    table = _read_table(data, pos, announced, max_tick)
    if table is None:
        return None
    (track, tick, status, d1, d2, payload, length, offset, nbytes, running, first_row,
     end_tick, eot_row, chunk_start, chunk_end, clean) = table
    rows = tick.shape[0]
    n_tracks = end_tick.shape[0]

    # the notes (notes.pair_notes)
    n = 0
    for r in range(rows):
        if status[r] & 0xF0 == 0x90 and d2[r] > 0:
            n += 1
    start = np.empty(n, np.int64)
    end = np.empty(n, np.int64)
    pitch = np.empty(n, np.int16)
    velocity = np.empty(n, np.int16)
    release = np.empty(n, np.int16)
    channel = np.empty(n, np.int16)
    note_track = np.empty(n, np.int32)
    open_end = np.empty(n, np.bool_)
    off_is_on = np.empty(n, np.bool_)
    on_index = np.empty(n, np.int64)
    off_index = np.empty(n, np.int64)
    keep = np.empty(rows, np.bool_)
    _pair(status, d1, d2, track, tick, end_tick, n, start, end, pitch, velocity, release,
          channel, note_track, open_end, off_is_on, on_index, off_index, keep)
    kept = np.flatnonzero(keep)
    for i in range(n):
        if abs(start[i]) + 1 > limit:
            return None                 # (Grid._check_range)
    at, starts, per_tick = _tempo_segments(data, tick, status, d1, payload, length,
                                           ticks_per_beat, default_tempo)

    # the chords (chord_groups)
    onset = _seconds(start.astype(np.float64), at, starts, per_tick)
    if n == 0 or chord_s <= 0:
        group = np.arange(n)
    else:
        window = _seconds(start + quarter, at, starts, per_tick) - onset
        for i in range(n):
            window[i] = min(chord_s, window[i])
        key = np.empty(n, np.int64)
        for i in range(n):
            key[i] = np.int64(note_track[i]) << 4 | np.int64(channel[i])
        group = _chord_kernel(key, onset, window, _by_key_then(key, 16 * n_tracks, start))
    n_groups = group.max() + 1 if n else 0

    # the move and the clean-up (quantize, _clean_up)
    idx = np.arange(n)
    new_start = start.copy()
    new_end = end.copy()
    kept_by_range = np.zeros(n, np.bool_)
    kept_by_exclude = np.zeros(n, np.bool_)
    _move_starts(start, end, open_end, idx, group, n_groups, origin, pair, second, d, step,
                 strength, exclude, catch, keep_lengths, new_start, new_end, kept_by_range,
                 kept_by_exclude)
    new_open = open_end.copy()
    nudged = np.zeros(n, np.bool_)
    trimmed = np.zeros(n, np.bool_)
    changed = False
    for i in range(n):
        if new_start[i] != start[i] or new_end[i] != end[i]:
            changed = True
            break
    if changed:
        gkey = np.empty(n, np.int64)
        for i in range(n):
            gkey[i] = (np.int64(note_track[i]) << 11 | np.int64(channel[i]) << 7
                       | np.int64(pitch[i]))
        order = _by_key_then(gkey, 2048 * n_tracks, new_start)    # (_group_order)
        n_stray = 0
        for r in kept:
            if 0x80 <= status[r] < 0xA0:
                n_stray += 1
        s_key = np.empty(n_stray, np.int64)
        s_tick = np.empty(n_stray, np.int64)
        j = 0
        for r in kept:
            if 0x80 <= status[r] < 0xA0:
                s_key[j] = (np.int64(track[r]) << 11 | (np.int64(status[r]) & 15) << 7
                            | np.int64(d1[r]))
                s_tick[j] = tick[r]
                j += 1
        by = _by_two(s_key, s_tick)
        _clean_kernel(order, gkey[order], start, end, new_start, new_end, new_open, nudged,
                      trimmed, np.int64(1), keep_lengths, s_key[by], s_tick[by])
    for i in range(n):
        if abs(new_start[i]) + 1 > limit:
            return None

    # the report's figures (quantize_song)
    after = _seconds(new_start.astype(np.float64), at, starts, per_tick)
    b_d, b_max, b_ms, b_max_ms, b_on, b_c, b_s = _timing_sums(
        start, onset, origin, pair, second, d, at, starts, per_tick, radians)
    a_d, a_max, a_ms, a_max_ms, a_on, _, _ = _timing_sums(
        new_start, after, origin, pair, second, d, at, starts, per_tick, 0.0)
    short = 0
    moved = 0
    for i in range(n):
        if new_start[i] != start[i] or new_end[i] != end[i]:   # (else its length stays)
            moved += 1
            was = _second_of(np.float64(end[i]), at, starts, per_tick) - onset[i]
            now = _second_of(np.float64(new_end[i]), at, starts, per_tick) - after[i]
            if was * 1000 > short_ms and now * 1000 <= short_ms:
                short += 1

    # the output (notes._encode, smf.encode_tracks)
    ends = end_tick.copy()
    a_code = np.full(rows, -1, np.int32)
    on_b = np.empty(n, np.bool_)
    off_b = np.empty(n, np.bool_)
    m = _claim(tick, status, d1, d2, track, kept, new_start, new_end, pitch, velocity,
               release, channel, note_track, new_open, off_is_on, on_index, off_index,
               a_code, on_b, off_b, ends)
    b_track = np.empty(m, np.int32)
    b_tick = np.empty(m, np.int64)
    b_bucket = np.empty(m, np.int8)
    b_order = np.empty(m, np.int32)
    b_src = np.empty(m, np.int32)
    b_code = np.empty(m, np.int32)
    _moved(tick, status, d1, d2, track, new_start, new_end, pitch, velocity, release,
           channel, note_track, off_is_on, on_index, off_index, on_b, off_b, b_track, b_tick,
           b_bucket, b_order, b_src, b_code)
    fits, perm = _moved_order(b_track, b_tick, b_bucket, b_order, np.count_nonzero(on_b),
                              rows + n)
    if not fits:
        return None
    body = np.empty(encode_room(nbytes, ends, end_tick, b_tick), np.uint8)
    spans = np.zeros((n_tracks, 2), np.int64)
    _encode(data, tick, status, offset, nbytes, running, first_row, eot_row, clean,
            end_tick, a_code, b_track, b_tick, b_bucket, b_order, b_src, b_code, perm, ends,
            body, spans)
    kind = fmt if n_tracks == 1 or fmt == 1 else 1      # (type 0 with tracks: type 1)
    header_same = kind == fmt and announced == n_tracks
    total = pos if header_same else 14
    for t in range(n_tracks):
        total += (chunk_end[t] - chunk_start[t]) if spans[t, 0] < 0 else \
            (spans[t, 1] - spans[t, 0])
    out = np.empty(total, np.uint8)
    if header_same:
        out[:pos] = data[:pos]
        o = pos
    else:                     # MThd, 6, type, tracks, ticks per beat
        head = (0x4D, 0x54, 0x68, 0x64, 0, 0, 0, 6, kind >> 8, kind & 0xFF, n_tracks >> 8,
                n_tracks & 0xFF, ticks_per_beat >> 8, ticks_per_beat & 0xFF)
        for j in range(14):
            out[j] = head[j]
        o = 14
    for t in range(n_tracks):
        if spans[t, 0] < 0:
            a, b = chunk_start[t], chunk_end[t]
            out[o:o + b - a] = data[a:b]
        else:
            a, b = spans[t, 0], spans[t, 1]
            out[o:o + b - a] = body[a:b]
        o += b - a

    c = counts
    c[0], c[1], c[2] = n, np.count_nonzero(open_end), moved
    c[3], c[4] = np.count_nonzero(kept_by_exclude), np.count_nonzero(kept_by_range)
    c[5], c[6], c[7] = np.count_nonzero(nudged), np.count_nonzero(trimmed), short
    c[8], c[9], c[10], c[11], c[12], c[13] = b_d, b_max, b_on, a_d, a_max, a_on
    sums[0], sums[1], sums[2], sums[3] = b_ms, b_max_ms, b_c, b_s
    sums[4], sums[5] = a_ms, a_max_ms
    return out
