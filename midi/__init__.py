"""MIDI quantize on arrays: an event table and note arrays in numpy, files through numba.

Cheat-sheet::

    from audioquant import midi

    # whole files (the output is written atomically; the input is never touched)
    report = midi.quantize_file("take.mid", "tight.mid", grid="1/16", strength=80,
                                exclude_within=10)        # -> dict
    print(midi.format_report(report))
    print(midi.format_report(midi.stats_file("take.mid", grid="1/16")))
    song, report = midi.quantize_song(midi.read("take.mid"), grid="1/16")  # no files
    # other options: triplet, dotted, swing (50..75 %), catch_range, offset,
    # mode="lengths" (default: whole notes) | "starts" | "ends", chord_ms (30: chords
    # move together), tracks (0-based or names), channels (1..16),
    # pitch_range=(lo, hi) or "36-38", min_length (ticks)
    midi.quantize_file("take.mid", "tight.mid", follow={})   # --follow-beats first
    report = midi.stats_files(paths, grid="1/16")             # a dataset; format_dataset

    # performances played without a click
    beats = midi.beats.track(onsets_s, pitches, velocities)   # .beats, .downbeats, .meter,
                                                              # .bar_bpm, .confidence
    mapped, found = midi.followed_song(song, {})              # tempo map of the beats
    data, beat_map = midi.adapt.adapt(raw, beats.beats, beats.downbeats, beats.meter)

    # arrays
    song = midi.read("take.mid")          # Song: .notes, .table, .tempo_map, ...
    song = midi.read_bytes(data)          # the same from bytes in memory
    notes = song.notes                    # Notes: start, end (ticks), pitch, velocity,
                                          # release_velocity, channel (0..15), track
    song.start_seconds, song.end_seconds  # note times in seconds (tempo map)
    table = song.table                    # Events: every event of the file, one row each:
                                          # track, tick, order, status, data1, data2,
                                          # payload/length, offset/size (bytes), running
    song.kept                             # rows of the non-note events (stray offs too)
    notes, kept = midi.pair_notes(table, song.track_ends)  # the pairing, a pure function
    grid = midi.Grid.parse("1/8T", song.ticks_per_beat, swing=58)
    result = midi.quantize(notes, grid, strength=100, exclude_within=0, catch_range=100,
                           mode="starts", stray_offs=song.stray_offs)
                                          # -> QuantizeResult: .notes + masks, .counts()
                                          # stray_offs: note-offs that end no note
    midi.write(song.with_notes(result.notes), "tight.mid")  # only what moved is encoded
    data = song.to_bytes()                # read + to_bytes with no change: the same bytes
    song.events                           # per track (tick, row, mido message), built
                                          # with mido on request (never on the hot path)
    midi.timing_stats(notes, grid, song.tempo_map)  # mean / max distance from the grid
    midi.grid_fit(notes, grid)            # do the starts follow the grid at all?
    midi.chord_groups(notes, song.tempo_map, 30)  # chord numbers, for quantize(chords=)
    play = midi.performance(song, 48000)  # every channel event at its exact sample, for
                                          # instruments: .sample, .kind, .channel, .a, .b

    # errors
    midi.MidiError                        # root
    midi.MidiParameterError               # also ValueError: "strength must be in 0..100, got 150"
    midi.MidiFileError                    # also OSError: not MIDI, truncated, SMPTE, ...

Conventions: times are integer ticks of the file's PPQ (seconds only through the tempo
map); percent settings are percent of
one grid step (strength: percent of the way to the line). Overlapping notes of one pitch
and channel pair first-in, first-out when read. Swing is the MPC / Logic convention: the
second line of each pair of steps at ``swing`` percent of the pair.
"""

from .errors import MidiError, MidiFileError, MidiParameterError
from .files import (
    followed_song,
    format_dataset,
    format_report,
    parse_pitch_range,
    quantize_file,
    quantize_song,
    stats_file,
    stats_files,
)
from .grid import DIVISIONS, Grid
from .notes import Notes, Song, pair_notes, read, read_bytes, write
from .playback import Performance, performance
from .quantize import MODES, QuantizeResult, chord_groups, grid_fit, quantize, select, timing_stats
from .smf import Events
from .tempo import TempoMap


def __getattr__(name: str):
    """``midi.beats`` (the beat tracker) and ``midi.adapt`` (tempo maps that follow the
    player), imported on first use."""
    if name in ("adapt", "beats"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DIVISIONS",
    "Events",
    "Grid",
    "MODES",
    "MidiError",
    "MidiFileError",
    "MidiParameterError",
    "Notes",
    "Performance",
    "QuantizeResult",
    "Song",
    "TempoMap",
    "chord_groups",
    "followed_song",
    "format_dataset",
    "format_report",
    "grid_fit",
    "pair_notes",
    "parse_pitch_range",
    "performance",
    "quantize",
    "quantize_file",
    "quantize_song",
    "read",
    "read_bytes",
    "select",
    "stats_file",
    "stats_files",
    "timing_stats",
    "write",
]
