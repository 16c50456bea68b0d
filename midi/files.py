"""File-level jobs: quantize a MIDI file, summarise its timing, and print a report."""

from __future__ import annotations

import inspect
import math
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from .errors import MidiParameterError
from .grid import Grid
from .notes import _MAX_TICK, Song, _encode, _load, atomic_write, read, read_bytes
from .quantize import (
    COUNTED,
    FILE_COUNTS,
    _quantize_smf,
    _timing_and_fit,
    _timing_dicts,
    chord_groups,
    hundredths,
    quantize,
)
from .smf import read_header
from .tempo import DEFAULT_TEMPO

if TYPE_CHECKING:
    from audioquant.atomic import BackgroundCommits

__all__ = ["format_dataset", "format_report", "parse_pitch_range", "quantize_file",
           "quantize_song", "stats_file", "stats_files"]

_PITCHES_RE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_pitch_range(text: str) -> tuple[int, int]:
    """``"36-38"`` -> ``(36, 38)``; ``"36"`` -> ``(36, 36)``."""
    m = _PITCHES_RE.match(text) if isinstance(text, str) else None
    if m is None:
        raise MidiParameterError(f"pitches must be LO-HI with notes 0..127, got {text!r}")
    lo = int(m.group(1))
    hi = int(m.group(2)) if m.group(2) is not None else lo
    if not (0 <= lo <= hi <= 127):
        raise MidiParameterError(f"pitches must be LO-HI with 0 <= LO <= HI <= 127, got {text!r}")
    return lo, hi


def _resolve_tracks(song: Song, tracks: Iterable[int | str] | None) -> list[int] | None:
    """Track indices (0-based) from indices or track names."""
    if tracks is None:
        return None
    if isinstance(tracks, (str, int)):
        tracks = [tracks]
    out: list[int] = []
    last = song.n_tracks - 1
    for item in tracks:
        if isinstance(item, str) and item.strip().isdigit():
            item = int(item)
        if isinstance(item, str):
            hits = [i for i, name in enumerate(song.track_names) if name == item]
            if not hits:
                names = ", ".join(repr(n) for n in song.track_names if n) or "none"
                raise MidiParameterError(f"tracks: no track named {item!r} (track names: {names})")
            out.extend(hits)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not (0 <= item <= last):
                raise MidiParameterError(f"tracks must be in 0..{last}, got {item}")
            out.append(int(item))
        else:
            raise MidiParameterError(f"tracks must be track numbers or names, got {item!r}")
    return out


def _same_file(a: str, b: str, a_stat: os.stat_result | None = None) -> bool:
    """True when two paths name the same file (existing or not): ``audioquant.atomic``'s
    rule, the one of every audioquant command (a standard-library leaf midi may load)."""
    global _same_file
    from audioquant.atomic import same_file

    _same_file = same_file      # (loaded once: a batch asks for every file)
    return same_file(a, b, a_stat)


def _summary(song: Song) -> dict:
    notes = song.notes
    tracks = []
    kept = song.kept_counts()
    for t in range(song.n_tracks):
        mask = notes.track == t
        tracks.append(
            {
                "track": t,
                "name": song.track_names[t],
                "notes": int(np.count_nonzero(mask)),
                "channels": sorted({int(c) + 1 for c in np.unique(notes.channel[mask])}),
                "events": int(kept[t]),
            }
        )
    end = int(song.track_ends.max()) if song.track_ends.size else 0
    return {
        "ticks_per_beat": song.ticks_per_beat,
        "type": song.type,
        "notes": len(notes),
        "open_notes": int(np.count_nonzero(notes.open_end)),
        "length_ticks": end,
        "length_seconds": float(song.tempo_map.seconds(end)),
        "tempo_changes": int(song.tempo_map.ticks.size) - 1,
        "bpm_at_start": round(song.tempo_map.bpm_at(0), 3),
        "tracks": tracks,
    }


def stats_file(path: str | os.PathLike, grid: str = "1/16", **grid_options) -> dict:
    """Timing summary of a MIDI file against a grid; changes nothing.

    ``grid_options`` are ``triplet``, ``dotted``, ``swing``, ``offset`` as in ``Grid.parse``.
    Returns a dict: file facts, per-track counts, and ``timing`` (distance of note
    starts from the grid: count, mean/max in ticks and ms, notes on the grid).
    """
    song = read(path)
    g = Grid.parse(grid, song.ticks_per_beat, **grid_options)
    report = {"file": os.fspath(path), "grid": g.name, "grid_description": g.describe()}
    report.update(_summary(song))
    report["timing"], report["grid_fit"] = _timing_and_fit(song.notes.start, g,
                                                           song.tempo_map)
    return report


def stats_files(paths: Iterable[str | os.PathLike], grid: str = "1/16", **grid_options
                ) -> dict:
    """Timing summary of many MIDI files (a dataset) against a grid; changes nothing.

    Returns a dict: ``files`` (per file: type, PPQ, notes, length in seconds, tempo
    changes, BPM at start, ``timing`` as in :func:`stats_file`), ``failed`` (file and
    error of each file that could not be read) and ``summary``: counts, total notes and
    length, files per PPQ, tempo-map statistics (files with tempo changes, BPM at start
    min / median / max), the onset deviation from the grid (the median over files of
    their mean in ms, the note-weighted mean in ms, the share of onsets on the grid) and
    how many files' grids do not fit their playing (:func:`midi.grid_fit`).
    """
    from .errors import MidiError

    rows, failed = [], []
    for path in paths:
        name = os.fspath(path)
        try:
            song = read(name)
            g = Grid.parse(grid, song.ticks_per_beat, **grid_options)
        except MidiError as exc:
            failed.append({"file": name, "error": str(exc)})
            continue
        info = _summary(song)
        del info["tracks"]
        info["tracks"] = song.n_tracks
        timing, fit = _timing_and_fit(song.notes.start, g, song.tempo_map)
        rows.append({"file": name, **info, "timing": timing, "grid_fits": bool(fit["fits"])})
    counted = [r for r in rows if r["timing"]["count"]]
    onsets = sum(r["timing"]["count"] for r in counted)
    ppq: dict[str, int] = {}
    for r in rows:
        ppq[str(r["ticks_per_beat"])] = ppq.get(str(r["ticks_per_beat"]), 0) + 1
    bpm = np.array([r["bpm_at_start"] for r in rows], dtype=float)
    means = np.array([r["timing"]["mean_ms"] for r in counted], dtype=float)
    summary = {
        "files": len(rows) + len(failed),
        "read": len(rows),
        "failed": len(failed),
        "notes": int(sum(r["notes"] for r in rows)),
        "length_seconds": float(sum(r["length_seconds"] for r in rows)),
        "files_per_ppq": dict(sorted(ppq.items(), key=lambda kv: -kv[1])),
        "files_with_tempo_changes": int(sum(r["tempo_changes"] > 0 for r in rows)),
        "bpm_at_start": None if not rows else {
            "min": float(bpm.min()), "median": float(np.median(bpm)),
            "max": float(bpm.max())},
        "onset_mean_ms_median": float(np.median(means)) if means.size else None,
        "onset_mean_ms": None if not onsets else
            float(sum(r["timing"]["mean_ms"] * r["timing"]["count"] for r in counted)
                  / onsets),
        "on_grid_share": None if not onsets else
            float(sum(r["timing"]["on_grid"] for r in counted) / onsets),
        "grid_does_not_fit": int(sum(not r["grid_fits"] for r in rows)),
    }
    g_name = Grid.parse(grid, 480, **grid_options).name
    return {"grid": g_name, "files": rows, "failed": failed, "summary": summary}


def format_dataset(report: dict) -> str:
    """Human-readable text for a :func:`stats_files` report: a row per file, the totals."""
    rows = report["files"]
    width = min(60, max([24] + [len(os.path.basename(r["file"])) for r in rows[:1000]]))
    lines = [f"{'file':<{width}} {'type':>4} {'PPQ':>5} {'notes':>7} {'seconds':>8} "
             f"{'tempos':>6} {'BPM':>7} {'mean ms':>8} {'on grid':>8}"]
    for r in rows:
        t = r["timing"]
        share = f"{100 * t['on_grid'] / t['count']:.1f} %" if t["count"] else "-"
        mean = f"{t['mean_ms']:.2f}" if t["count"] else "-"
        lines.append(f"{os.path.basename(r['file']):<{width}} {r['type']:>4} "
                     f"{r['ticks_per_beat']:>5} {r['notes']:>7} {r['length_seconds']:>8.1f} "
                     f"{r['tempo_changes'] + 1:>6} {r['bpm_at_start']:>7.1f} {mean:>8} "
                     f"{share:>8}")
    s = report["summary"]
    lines.append(f"{s['files']} files: {s['read']} read, {s['failed']} failed; "
                 f"{s['notes']} notes, {s['length_seconds'] / 60:.1f} min")
    ppq = ", ".join(f"{k} ({v})" for k, v in s["files_per_ppq"].items()) or "-"
    lines.append(f"PPQ: {ppq}")
    if s["bpm_at_start"] is not None:
        b = s["bpm_at_start"]
        lines.append(f"tempo: {s['files_with_tempo_changes']} files with tempo changes; BPM "
                     f"at start {b['min']:g} .. {b['max']:g} (median {b['median']:g})")
    if s["onset_mean_ms"] is not None:
        lines.append(f"onsets from the {report['grid']} grid: mean {s['onset_mean_ms']:.2f} "
                     f"ms (median of the files' means {s['onset_mean_ms_median']:.2f} ms), "
                     f"{100 * s['on_grid_share']:.1f} % on the grid")
    if s["grid_does_not_fit"]:
        lines.append(f"warning: in {s['grid_does_not_fit']} of {s['read']} files the note "
                     "starts are spread evenly over the grid: their tempo maps do not follow "
                     "the playing (recorded without a click?); --follow-beats finds the beat")
    return "\n".join(lines)


def quantize_file(in_path: str | os.PathLike, out_path: str | os.PathLike, *,
                  follow: dict | None = None, commits: BackgroundCommits | None = None,
                  **options) -> dict:
    """Quantize a MIDI file and write the result; returns the report.

    ``follow``: first give the file a tempo map that follows the player (the beat
    tracker's overrides, e.g. ``{"meter": "3/4"}``; ``{}`` for none), so the grid is the
    music's (``--follow-beats``); the report's ``follow_beats`` says what was found.

    Only note timing changes; every other event keeps its track, tick and content. The
    output is written atomically; ``out_path`` must differ from ``in_path``, which is
    never modified. ``options`` are those of :func:`quantize_song`; ``commits``: see
    :func:`midi.write`.

    Raises
    ------
    MidiParameterError, MidiFileError
        Before anything is written.
    """
    parts, report = quantized_parts(in_path, out_path, follow=follow, **options)

    def put(f: BinaryIO) -> None:
        for part in parts:
            f.write(memoryview(part))

    atomic_write(report["output"], put, commits=commits)
    return report


def quantized_parts(in_path: str | os.PathLike, out_path: str | os.PathLike, *,
                    follow: dict | None = None, **options) -> tuple[list, dict]:
    """:func:`quantize_file` up to the writing: the bytes of the output file (a list of
    buffers, to write in order) and the report (which names ``out_path``, refused when
    it is ``in_path``), for a caller that writes them."""
    src, dst = os.fspath(in_path), os.fspath(out_path)
    try:
        known: os.stat_result | None = os.stat(src)     # (one stat for both uses)
    except (OSError, ValueError):
        known = None                                    # (_load says what is wrong)
    if _same_file(src, dst, known):
        raise MidiParameterError(f"out_path must differ from in_path, got {dst!r} for both")
    raw, name = _load(src, known)
    done = _quantize_bytes(raw, name, options) if follow is None else None
    if done is not None:            # (the usual case, in one kernel call)
        data, report = done
        return [data], {"input": src, "output": dst, **report}
    song, followed = followed_song(read_bytes(raw, name), follow)
    quantized, report = quantize_song(song, **options)
    del song                        # (its notes, before the writer's arrays are made)
    if followed is not None:
        report["follow_beats"] = followed
    return _encode(quantized), {"input": src, "output": dst, **report}


#: Files up to this size [bytes] are quantized in one kernel call. What that call saves
#: is the Python between the kernels, a fixed cost per file: a performance of a few
#: thousand notes (50 kB) takes 1.2 ms instead of 1.7 ms. A larger file does not need
#: it, and the arrays' way, with numpy's sorts and its arrays freed as it goes, is the
#: faster one there (a 1,000,000-note file, 10 MB: 0.35 s against 0.42-0.47 s).
ONE_CALL_BYTES = 1 << 20


def _one_call_settings(options: dict) -> tuple[dict | None, tuple | None]:
    """:func:`quantize_song`'s keywords (``options`` with the defaults) where the one
    kernel call applies to them, else None (see :func:`_quantize_bytes`), and the key
    they are kept under for the next file with the same options (a batch gives every
    file the same; None: not kept, a value is unhashable)."""
    key: tuple | None = tuple(sorted((k, type(v), v) for k, v in options.items()))
    try:
        return _ONE_CALL_SETTINGS[key], key
    except KeyError:
        pass
    except TypeError:
        key = None
    try:
        bound = inspect.signature(quantize_song).bind(None, **options)
    except TypeError:
        return None, None
    bound.apply_defaults()
    o = bound.arguments
    if (o["mode"] not in ("starts", "lengths") or o["tracks"] is not None
            or o["channels"] is not None or o["pitch_range"] is not None
            or type(o["min_length"]) is not int or o["min_length"] != 1
            or not isinstance(o["chord_ms"], (int, float))):
        o = None
    if key is not None and len(_ONE_CALL_SETTINGS) < 64:
        _ONE_CALL_SETTINGS[key] = o
    return o, key


_ONE_CALL_SETTINGS: dict[tuple, dict | None] = {}


def _one_call_grid(o: dict, key: tuple | None, division: int) -> tuple[Grid, tuple]:
    """The grid of the settings ``o`` at ``division`` PPQ and the kernel's arguments that
    follow from them (``_quantize_smf``'s from ``origin`` to ``short_ms``); kept, as the
    settings are, per (options, PPQ). MidiParameterError for a setting out of range."""
    try:
        return _ONE_CALL_GRIDS[key, division]
    except KeyError:
        pass
    g = Grid.parse(o["grid"], division, triplet=o["triplet"], dotted=o["dotted"],
                   swing=o["swing"], offset=o["offset"])
    k, exclude, catch = hundredths(o["strength"], o["exclude_within"], o["catch_range"])
    constants = (g._origin, g._pair, g._second, g._d, g._step, g._limit, k, exclude, catch,
                 o["mode"] == "lengths", float(o["chord_ms"]) / 1000.0, g._step / g._d / 4,
                 2 * math.pi / g._step, float(SHORT_MS))
    if key is not None and len(_ONE_CALL_GRIDS) < 256:
        _ONE_CALL_GRIDS[key, division] = g, constants
    return g, constants


_ONE_CALL_GRIDS: dict[tuple, tuple[Grid, tuple]] = {}


def _quantize_bytes(raw: bytes, name: str, options: dict) -> tuple[np.ndarray, dict] | None:
    """:func:`quantize_file`'s work on the bytes of a file in one kernel call
    (``quantize._quantize_smf``): the bytes to write and the report, the same as
    :func:`read_bytes`, :func:`quantize_song` and :func:`write` give; None where that
    call does not apply (a selection of notes, mode "ends", a minimum length, a file
    over :data:`ONE_CALL_BYTES`, an error: the caller takes the usual way, which
    reports it)."""
    o, key = _one_call_settings(options)
    if o is None:
        return None
    smf_bytes, _, fmt, announced, division, head_len = read_header(raw, name)
    if len(smf_bytes) > ONE_CALL_BYTES:
        return None
    g, constants = _one_call_grid(o, key, division)
    counts = np.zeros(len(FILE_COUNTS), np.int64)
    sums = np.zeros(6)
    data = _quantize_smf(np.frombuffer(smf_bytes, np.uint8), 8 + head_len, announced, fmt,
                         _MAX_TICK, division, DEFAULT_TEMPO, *constants, counts, sums)
    if data is None:
        return None
    c = dict(zip(FILE_COUNTS, counts.tolist(), strict=True))
    sums = sums.tolist()
    n = c["notes"]
    before, fit = _timing_dicts(n, g, c["before_sum"], c["before_max"], sums[0], sums[1],
                                c["before_on_grid"], sums[2], sums[3])
    after, _ = _timing_dicts(n, g, c["after_sum"], c["after_max"], sums[4], sums[5],
                             c["after_on_grid"])
    # (every note selected: COUNTED[0]; the ends are not quantized in this path)
    counts_dict = {"notes": n, "selected": n, **{name: c.get(name, 0) for name in COUNTED[1:]}}
    return data, _report(g, o, None, division, c["open_notes"], counts_dict, before, fit,
                         after, c["short_notes"])


def followed_song(song: Song, follow: dict | None) -> tuple[Song, dict | None]:
    """``song`` with a tempo map that follows its beats (``follow``: the keywords of
    :func:`midi.adapt.find_beats`), and what was found; ``(song, None)`` for None."""
    if follow is None:
        return song, None
    from .adapt import find_beats, follow_beats

    beats = find_beats(song, **follow)
    new, bm = follow_beats(song, beats)
    return new, {"beats": int(len(beats.beats)), "time_signature": beats.time_signature,
                 "confidence": float(beats.confidence), "ticks_per_beat": bm.ticks_per_beat,
                 "bpm_median": float(np.median(beats.bpm)) if len(beats.bpm) else 0.0}


def quantize_song(
    song: Song,
    *,
    grid: str = "1/16",
    triplet: bool = False,
    dotted: bool = False,
    swing: float = 50,
    strength: float = 100,
    exclude_within: float = 0,
    catch_range: float = 100,
    mode: str = "lengths",
    chord_ms: float = 30,
    offset: float = 0,
    tracks: Iterable[int | str] | None = None,
    channels: Iterable[int] | None = None,
    pitch_range: tuple[int, int] | str | None = None,
    min_length: int = 1,
) -> tuple[Song, dict]:
    """Quantize a song in memory: the quantized song and the report (no files).

    ``tracks`` are 0-based indices or track names, ``channels`` 1..16, ``pitch_range``
    ``(lo, hi)`` or ``"lo-hi"``. ``mode="lengths"`` (the default, as in Logic, Cubase and
    Ableton) moves each note whole, keeping its length; ``"starts"`` moves only starts.
    Notes of one track and channel starting within ``chord_ms`` ms of a chord's first note
    (at most a quarter step) move together to one line (:func:`midi.chord_groups`; 0:
    each on its own). See ``midi.quantize`` for the rest.

    The report adds ``short_notes`` (notes that were longer than :data:`SHORT_MS` ms and
    are now that short or shorter) and ``grid_fit`` (:func:`midi.grid_fit` of the starts
    before: False when the file's grid does not follow the playing).
    """
    g = Grid.parse(
        grid, song.ticks_per_beat, triplet=triplet, dotted=dotted, swing=swing, offset=offset
    )
    if isinstance(pitch_range, str):
        pitch_range = parse_pitch_range(pitch_range)
    track_ids = _resolve_tracks(song, tracks)
    tempo_map = song.tempo_map
    notes = song.notes
    onset_s = tempo_map.seconds(notes.start)     # [s], for the chords and the report
    chords = chord_groups(notes, tempo_map, float(chord_ms), g._step / g._d,
                          start_seconds=onset_s)
    result = quantize(
        song.notes,
        g,
        strength=strength,
        exclude_within=exclude_within,
        catch_range=catch_range,
        mode=mode,
        tracks=track_ids,
        channels=channels,
        pitch_range=pitch_range,
        min_length=min_length,
        stray_offs=song.stray_offs,
        chords=chords,
    )
    sel = result.selected
    sel = slice(None) if sel.all() else sel      # (all selected: views, not copies)
    before, after = notes.start[sel], result.notes.start[sel]
    timing, fit = _timing_and_fit(before, g, tempo_map, onset_s[sel])
    after_s = tempo_map.seconds(after)
    was = tempo_map.seconds(notes.end[sel]) - onset_s[sel]
    now = tempo_map.seconds(result.notes.end[sel]) - after_s
    short = int(np.count_nonzero((was * 1000 > SHORT_MS) & (now * 1000 <= SHORT_MS)))
    settings = {"grid": grid, "strength": strength, "exclude_within": exclude_within,
                "catch_range": catch_range, "mode": mode, "chord_ms": chord_ms,
                "channels": channels, "pitch_range": pitch_range, "min_length": min_length}
    return song.with_notes(result.notes), _report(
        g, settings, track_ids, song.ticks_per_beat,
        int(np.count_nonzero(song.notes.open_end)), result.counts(), timing, fit,
        _timing_and_fit(after, g, tempo_map, after_s, fit=False)[0], short)


def _describe(g: Grid) -> str:
    """``g.describe()``, kept for the next file on the same grid object (grids are
    immutable; hashing one, Fractions and all, costs more than describing it)."""
    kept = _DESCRIBED.get(id(g))
    if kept is None or kept[0] is not g:
        kept = g, g.describe()
        if len(_DESCRIBED) < 256:
            _DESCRIBED[id(g)] = kept    # (holds the grid: its id is not reused)
    return kept[1]


_DESCRIBED: dict[int, tuple[Grid, str]] = {}


def _report(g: Grid, o: dict, track_ids: list[int] | None, ticks_per_beat: int,
            open_notes: int, counts: dict, before: dict, fit: dict, after: dict,
            short: int) -> dict:
    """:func:`quantize_song`'s report: the grid, the settings ``o`` (its keywords),
    ``counts`` (``QuantizeResult.counts``), the timing before and after, the grid fit
    and the notes made short."""
    channels, pitch_range = o["channels"], o["pitch_range"]
    return {
        "grid": g.name,
        "grid_description": _describe(g),
        "settings": {
            "grid": o["grid"],
            "triplet": g.triplet,
            "dotted": g.dotted,
            "swing": float(g.swing),
            "offset": float(g.offset),
            "strength": float(o["strength"]),
            "exclude_within": float(o["exclude_within"]),
            "catch_range": float(o["catch_range"]),
            "mode": o["mode"],
            "chord_ms": float(o["chord_ms"]),
            "tracks": track_ids,
            "channels": None if channels is None else [int(c) for c in channels],
            "pitch_range": None if pitch_range is None else list(pitch_range),
            "min_length": o["min_length"],
        },
        "ticks_per_beat": ticks_per_beat,
        "open_notes": open_notes,
        **counts,
        "before": before,
        "grid_fit": fit,
        "after": after,
        "short_notes": short,
    }


#: A note this short (ms) or shorter is reported when quantize made it so.
SHORT_MS = 5.0


def _fit_warning(fit: dict, grid_name: str) -> str | None:
    """The report's line when the grid does not follow the playing."""
    if fit.get("fits", True):
        return None
    return (f"warning: the note starts are spread evenly over the {grid_name} grid "
            f"(concentration {fit['concentration']:.2f}, 1 = on the lines, 0 = even): the "
            "file's tempo map does not follow the playing (recorded without a click?), so "
            "this grid is arbitrary; --follow-beats finds the beat first")


def _timing_line(label: str, t: dict) -> str:
    return (
        f"  {label:<8} {t['mean_ticks']:8.2f} {t['max_ticks']:8.2f}"
        f" {t['mean_ms']:9.2f} {t['max_ms']:9.2f}   {t['on_grid']}/{t['count']}"
    )


_HEAD = "  onsets   mean(tk)  max(tk)  mean(ms)   max(ms)   on grid"


def format_report(report: dict) -> str:
    """Human-readable text for a ``quantize_file`` or ``stats_file`` report."""
    lines: list[str] = []
    if "output" in report:
        s = report["settings"]
        lines.append(f"{report['input']} -> {report['output']}")
        f = report.get("follow_beats")
        if f is not None:
            lines.append(f"beats followed: {f['beats']} beats in {f['time_signature']}, "
                         f"{f['bpm_median']:.1f} BPM (median), confidence "
                         f"{f['confidence']:.2f}; a new tempo map at {f['ticks_per_beat']} "
                         "PPQ puts each beat on a quarter note")
        lines.append(f"grid {report['grid_description']}")
        extra = f"strength {s['strength']:g} %, exclude within {s['exclude_within']:g} %,"
        extra += f" catch range {s['catch_range']:g} %, {s['mode']}"
        if s.get("chord_ms"):
            extra += f", chords within {s['chord_ms']:g} ms move together"
        lines.append(extra)
        picked = [f"{k} {s[k]}" for k in ("tracks", "channels", "pitch_range") if s[k] is not None]
        if picked:
            lines.append("selection: " + ", ".join(picked))
        lines.append(
            f"notes {report['notes']}, selected {report['selected']}, moved {report['moved']}"
        )
        lines.append(
            f"left by exclude-within {report['kept_by_exclude']},"
            f" left by catch range {report['kept_by_range']}"
        )
        if s["mode"] == "ends":
            lines.append(
                f"ends left by exclude-within {report['ends_kept_by_exclude']},"
                f" ends left by catch range {report['ends_kept_by_range']}"
            )
        lines.append(f"trimmed {report['trimmed']}, nudged {report['nudged']}")
        if report["open_notes"]:
            lines.append(f"notes with no note-off (end at track end): {report['open_notes']}")
        lines.append(_HEAD)
        lines.append(_timing_line("before", report["before"]))
        lines.append(_timing_line("after", report["after"]))
        if report.get("short_notes"):
            n = report["short_notes"]
            tries = ("the default mode (whole notes), " if s["mode"] != "lengths" else ""
                     ) + "--exclude-within, a finer grid or a lower --strength"
            lines.append(f"warning: {n} {'note is' if n == 1 else 'notes are'} now "
                         f"{SHORT_MS:g} ms or shorter (longer before): try {tries}")
    else:
        lines.append(
            f"{report['file']}: type {report['type']}, {report['ticks_per_beat']} PPQ,"
            f" {len(report['tracks'])} tracks, {report['notes']} notes,"
            f" {report['length_seconds']:.2f} s"
        )
        lines.append(
            f"tempo {report['bpm_at_start']:g} BPM at start,"
            f" {report['tempo_changes']} tempo change(s)"
        )
        for t in report["tracks"]:
            chans = ",".join(map(str, t["channels"])) or "-"
            name = t["name"] if t["name"] is not None else ""
            lines.append(
                f"  track {t['track']} {name!r}: {t['notes']} notes, channels {chans},"
                f" {t['events']} other events"
            )
        if report["open_notes"]:
            lines.append(f"notes with no note-off (end at track end): {report['open_notes']}")
        lines.append(f"grid {report['grid_description']}")
        lines.append(_HEAD)
        lines.append(_timing_line("", report["timing"]))
    name = report.get("grid", "")
    warning = _fit_warning(report.get("grid_fit", {}), name)
    if warning is not None:
        lines.append(warning)
    return "\n".join(lines)
