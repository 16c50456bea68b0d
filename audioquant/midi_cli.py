"""The ``audioquant midi`` commands: ``quantize`` and ``stats``.

``add_commands(subparsers)`` adds them to the main parser; each sets ``func``. The midi
package (and mido) is imported inside the command functions, so other commands do not pay
for it at start-up. Bad values (a grid like ``1/0``, strength 150) raise ``MidiError``,
which the main CLI prints as ``error: ...`` with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os


def _track(text: str) -> int | str:
    """A track index (0-based) or a track name."""
    return int(text) if text.strip().isdigit() else text


def add_commands(subparsers) -> None:
    """Add ``midi quantize`` and ``midi stats`` to an argparse subparsers object."""
    m = subparsers.add_parser(
        "midi",
        help="quantize MIDI performances to a grid, or summarise their timing",
        description="MIDI files: quantize note timing to a grid, or print a timing summary.",
    )
    msub = m.add_subparsers(dest="midi_command", required=True, metavar="{quantize,stats}")

    q = msub.add_parser(
        "quantize",
        help="move notes toward a grid; every other event is kept as it is",
        description="Quantize note starts (or ends, or whole notes) of IN to a grid and "
        "write OUT. Percentages are of one grid step, except strength (of the way to the "
        "line) and swing (of a pair of steps).",
    )
    q.add_argument("input", metavar="IN", help="input MIDI file (type 0 or 1)")
    q.add_argument("output", metavar="OUT", help="output MIDI file (must differ from IN)")
    q.add_argument("--grid", default="1/16", help="note value 1/1 .. 1/128, e.g. 1/16, 1/8T, "
                   "1/8. (default 1/16)")
    kind = q.add_mutually_exclusive_group()
    kind.add_argument("--triplet", action="store_true", help="triplet grid (step x 2/3)")
    kind.add_argument("--dotted", action="store_true", help="dotted grid (step x 3/2)")
    q.add_argument("--swing", type=float, default=50, metavar="PCT",
                   help="second line of each pair at PCT %% of the pair, 50..75 (default 50)")
    q.add_argument("--strength", type=float, default=100, metavar="PCT",
                   help="how far notes move toward the line, 0..100 (default 100)")
    q.add_argument("--exclude-within", type=float, default=0, metavar="PCT",
                   help="leave notes this close to a line, 0..100 %% of a step (default 0)")
    q.add_argument("--range", dest="catch_range", type=float, default=100, metavar="PCT",
                   help="only move notes this close to a line, 0..100 %% of a step "
                   "(default 100)")
    mode = q.add_mutually_exclusive_group()
    mode.add_argument("--ends", dest="mode", action="store_const", const="ends",
                      help="quantize note ends too")
    mode.add_argument("--lengths", dest="mode", action="store_const", const="lengths",
                      help="move whole notes, keeping their lengths")
    q.set_defaults(mode="starts")
    q.add_argument("--offset", type=float, default=0, metavar="PCT",
                   help="shift the grid by PCT %% of a step, -100..100 (default 0)")
    q.add_argument("--tracks", nargs="+", type=_track, metavar="TRACK",
                   help="only these tracks: 0-based numbers or track names")
    q.add_argument("--channels", nargs="+", type=int, metavar="CH",
                   help="only these channels, 1..16")
    q.add_argument("--pitches", metavar="LO-HI", help="only these note numbers, e.g. 36-38")
    q.add_argument("--report", metavar="FILE.json", help="also write the report as JSON")
    q.set_defaults(func=cmd_quantize)

    s = msub.add_parser(
        "stats",
        help="print how far note starts are from a grid; changes nothing",
        description="Print a summary of IN and the distance of its note starts from a grid.",
    )
    s.add_argument("input", metavar="IN", help="MIDI file")
    s.add_argument("--grid", default="1/16", help="note value (default 1/16)")
    kind = s.add_mutually_exclusive_group()
    kind.add_argument("--triplet", action="store_true", help="triplet grid")
    kind.add_argument("--dotted", action="store_true", help="dotted grid")
    s.add_argument("--swing", type=float, default=50, metavar="PCT", help="swing 50..75")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=cmd_stats)


def _write_json(path: str, data: dict) -> None:
    """Write JSON atomically (temporary file beside the target, then rename)."""
    from midi.notes import atomic_write

    text = json.dumps(data, indent=2) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def cmd_quantize(args: argparse.Namespace) -> int:
    """``audioquant midi quantize IN OUT ...``"""
    import midi

    if args.report is not None:
        report_dir = os.path.dirname(os.path.abspath(args.report))
        if not os.path.isdir(report_dir):
            raise midi.MidiFileError(f"cannot write report {args.report!r}: no such folder")
        for other in (args.input, args.output):
            if os.path.abspath(args.report) == os.path.abspath(other):
                raise midi.MidiParameterError(
                    f"report must differ from IN and OUT, got {args.report!r}"
                )
    report = midi.quantize_file(
        args.input,
        args.output,
        grid=args.grid,
        triplet=args.triplet,
        dotted=args.dotted,
        swing=args.swing,
        strength=args.strength,
        exclude_within=args.exclude_within,
        catch_range=args.catch_range,
        mode=args.mode,
        offset=args.offset,
        tracks=args.tracks,
        channels=args.channels,
        pitch_range=args.pitches,
    )
    if args.report is not None:
        _write_json(args.report, report)
    print(midi.format_report(report))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """``audioquant midi stats IN [--grid 1/16]``"""
    import midi

    report = midi.stats_file(args.input, grid=args.grid, triplet=args.triplet,
                             dotted=args.dotted, swing=args.swing)
    print(json.dumps(report, indent=2) if args.json else midi.format_report(report))
    return 0
