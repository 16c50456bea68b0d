"""The ``audioquant midi`` commands: ``quantize`` and ``stats``.

``add_commands(subparsers)`` adds them to the main parser; each sets ``func``. Every
option value is checked while the arguments are parsed, by the midi package's own checks
(``midi.errors.check_percent`` / ``check_int``, ``Grid.parse``, ``parse_pitch_range``), so
a grid like ``1/0`` or a strength of 150 is a usage error (exit 2) before any file is
read, and the message names the flag: ``--strength must be in 0..100, got 150``. The midi
package (and mido) is imported only by those checks and the command functions, so other
commands do not pay for it at start-up.
"""

from __future__ import annotations

import argparse
import json
import sys

EPILOG_QUANTIZE = """\
examples:
  audioquant midi quantize take.mid tight.mid --grid 1/16
  audioquant midi quantize take.mid tight.mid --grid 1/8T --strength 80 --exclude-within 10
  audioquant midi quantize take.mid groove.mid --grid 1/16 --swing 58 --channels 10
"""

EPILOG_STATS = """\
examples:
  audioquant midi stats take.mid
  audioquant midi stats take.mid --grid 1/8T --json
"""

EPILOG_MIDI = """\
examples:
  audioquant midi quantize take.mid tight.mid --grid 1/16 --strength 80
  audioquant midi stats take.mid --grid 1/16
"""

#: Any valid resolution will do to check a note value's syntax (a grid step of 1/128
#: at 1 PPQ is an exact fraction of a tick): the file's own PPQ is not needed.
_ANY_PPQ = 480


def _flagged(exc: Exception, name: str, flag: str) -> argparse.ArgumentTypeError:
    """A midi package message about ``name``, told about the flag the user typed."""
    text = str(exc)
    if text.startswith(name + " "):
        text = flag + text[len(name):]
    elif not text.startswith(flag):
        text = f"{flag}: {text}"
    return argparse.ArgumentTypeError(text)


def _number(text: str) -> float | str:
    """``text`` as a float, else itself (for the check to name)."""
    try:
        return float(text)
    except ValueError:
        return text


def _percent(flag: str, low: float, high: float):
    """An argparse type: a percentage in low..high, checked by ``check_percent``."""
    def parse(text: str) -> float:
        from audioquant.midi.errors import MidiParameterError, check_percent

        try:
            return float(check_percent(flag, _number(text), low, high))
        except MidiParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = flag
    return parse


def _grid(text: str) -> str:
    """``--grid``: a note value (``1/16``, ``1/8T``, ``1/8.``), checked by ``Grid.parse``."""
    from audioquant.midi import Grid, MidiParameterError

    try:
        Grid.parse(text, _ANY_PPQ)
    except MidiParameterError as exc:
        raise _flagged(exc, "grid", "--grid") from None
    return text


def _channel(text: str) -> int:
    """``--channels``: a MIDI channel 1..16, checked by ``check_int``."""
    from audioquant.midi.errors import MidiParameterError, check_int

    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--channels must be whole numbers in 1..16, got {text!r}") from None
    try:
        return check_int("--channels", number, 1, 16)
    except MidiParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _pitches(text: str) -> tuple[int, int]:
    """``--pitches``: ``LO-HI`` or one note number, checked by ``parse_pitch_range``."""
    from audioquant.midi import MidiParameterError, parse_pitch_range

    try:
        return parse_pitch_range(text)
    except MidiParameterError as exc:
        raise _flagged(exc, "pitches", "--pitches") from None


def _track(text: str) -> int | str:
    """``--tracks``: a track number (0-based) or a track name. Whether the file has that
    track is known only once it is read."""
    from audioquant.midi.errors import MidiParameterError, check_int

    stripped = text.strip()
    if not stripped:
        raise argparse.ArgumentTypeError(
            f"--tracks must be track numbers from 0 or track names, got {text!r}")
    if stripped.lstrip("+-").isdigit():
        try:
            return check_int("--tracks", int(stripped), 0)
        except MidiParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def check_quantize(args: argparse.Namespace) -> None:
    """Refuse ``midi quantize`` options that cannot work together (exit 2)."""
    from fractions import Fraction

    from audioquant.cli import UsageError

    check_grid(args)
    exclude, catch = Fraction(args.exclude_within), Fraction(args.catch_range)
    swing = Fraction(args.swing)
    if exclude >= catch:
        raise UsageError(
            f"--exclude-within {args.exclude_within:g} is not below --range "
            f"{args.catch_range:g}: every note the range catches is excluded, so no note "
            "can move")
    if exclude >= swing:
        # The lines are at most 2 * swing % of a step apart (the longer gap of a swung
        # pair), so no note is farther than swing % of a step from its nearest line.
        raise UsageError(
            f"--exclude-within {args.exclude_within:g} leaves every note where it is: at "
            f"--swing {args.swing:g} no note is more than {args.swing:g} % of a step from "
            "a grid line")


def check_grid(args: argparse.Namespace) -> None:
    """Refuse a note value whose suffix contradicts --triplet or --dotted."""
    from audioquant.cli import UsageError
    from audioquant.midi import Grid

    grid = Grid.parse(args.grid, _ANY_PPQ)
    if (grid.triplet and args.dotted) or (grid.dotted and args.triplet):
        flag = "--dotted" if args.dotted else "--triplet"
        kind = "a triplet" if grid.triplet else "a dotted"
        raise UsageError(f"--grid {args.grid} is already {kind} value; {flag} cannot apply too")


def add_commands(subparsers) -> None:
    """Add ``midi quantize`` and ``midi stats`` to an argparse subparsers object (the
    main CLI's parser class keeps the examples of each epilog as written)."""
    m = subparsers.add_parser(
        "midi",
        help="quantize MIDI performances to a grid, or summarise their timing",
        description="MIDI files: quantize note timing to a grid, or print a timing summary.",
        epilog=EPILOG_MIDI,
    )
    msub = m.add_subparsers(dest="midi_command", required=True, metavar="{quantize,stats}")

    q = msub.add_parser(
        "quantize",
        help="move notes toward a grid; every other event is kept as it is",
        description="Quantize note starts (or ends, or whole notes) of IN to a grid and "
        "write OUT. Percentages are of one grid step, except strength (of the way to the "
        "line) and swing (of a pair of steps). OUT is written whole or not at all; IN is "
        "never changed.",
        epilog=EPILOG_QUANTIZE,
    )
    q.add_argument("input", metavar="IN", help="input MIDI file (type 0 or 1)")
    q.add_argument("output", metavar="OUT", help="output MIDI file (must differ from IN)")
    q.add_argument("--grid", type=_grid, default="1/16", help="note value 1/1 .. 1/128, "
                   "e.g. 1/16, 1/8T, 1/8. (default 1/16)")
    kind = q.add_mutually_exclusive_group()
    kind.add_argument("--triplet", action="store_true", help="triplet grid (step x 2/3)")
    kind.add_argument("--dotted", action="store_true", help="dotted grid (step x 3/2)")
    q.add_argument("--swing", type=_percent("--swing", 50, 75), default=50, metavar="PCT",
                   help="second line of each pair at PCT %% of the pair, 50..75 (default 50)")
    q.add_argument("--strength", type=_percent("--strength", 0, 100), default=100,
                   metavar="PCT", help="how far notes move toward the line, 0..100 "
                   "(default 100)")
    q.add_argument("--exclude-within", type=_percent("--exclude-within", 0, 100), default=0,
                   metavar="PCT",
                   help="leave notes this close to a line, 0..100 %% of a step (default 0)")
    q.add_argument("--range", dest="catch_range", type=_percent("--range", 0, 100),
                   default=100, metavar="PCT",
                   help="only move notes this close to a line, 0..100 %% of a step "
                   "(default 100)")
    mode = q.add_mutually_exclusive_group()
    mode.add_argument("--ends", dest="mode", action="store_const", const="ends",
                      help="quantize note ends too")
    mode.add_argument("--lengths", dest="mode", action="store_const", const="lengths",
                      help="move whole notes, keeping their lengths")
    q.set_defaults(mode="starts")
    q.add_argument("--offset", type=_percent("--offset", -100, 100), default=0,
                   metavar="PCT",
                   help="shift the grid by PCT %% of a step, -100..100 (default 0)")
    q.add_argument("--tracks", nargs="+", type=_track, metavar="TRACK",
                   help="only these tracks: 0-based numbers or track names")
    q.add_argument("--channels", nargs="+", type=_channel, metavar="CH",
                   help="only these channels, 1..16")
    q.add_argument("--pitches", type=_pitches, metavar="LO-HI",
                   help="only these note numbers, e.g. 36-38")
    q.add_argument("--report", metavar="FILE.json", help="also write the report as JSON")
    q.set_defaults(func=cmd_quantize, check=check_quantize, usage_prog=q.prog,
                   writes_file=True)

    s = msub.add_parser(
        "stats",
        help="print how far note starts are from a grid; changes nothing",
        description="Print a summary of IN and the distance of its note starts from a grid.",
        epilog=EPILOG_STATS,
    )
    s.add_argument("input", metavar="IN", help="MIDI file")
    s.add_argument("--grid", type=_grid, default="1/16", help="note value (default 1/16)")
    kind = s.add_mutually_exclusive_group()
    kind.add_argument("--triplet", action="store_true", help="triplet grid")
    kind.add_argument("--dotted", action="store_true", help="dotted grid")
    s.add_argument("--swing", type=_percent("--swing", 50, 75), default=50, metavar="PCT",
                   help="swing 50..75")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=cmd_stats, check=check_grid, usage_prog=s.prog)


def cmd_quantize(args: argparse.Namespace) -> int:
    """``audioquant midi quantize IN OUT ...``"""
    from audioquant import io, midi

    paths = [args.output] + ([args.report] if args.report is not None else [])
    for i, path in enumerate(paths):
        # (two outputs into one device or pipe, /dev/null say, are allowed)
        for other in [args.input, *paths[:i]] if io.is_regular_or_new(path) else [args.input]:
            if io.same_file(path, other):
                what = "OUT" if i == 0 else "--report"
                raise io.AudioFileError(
                    f"{what} {path} is the same file as {other}; choose another path"
                )
    song = midi.read(args.input)
    quantized, report = midi.quantize_song(
        song,
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
    report = {"input": args.input, "output": args.output, **report}
    # Both files are complete (synced temporary files) before either is committed, and
    # committed as one: a failure leaves neither (nor changes a file either replaces).
    outputs: list[io.OutputFile] = []
    try:
        for path in paths:
            outputs.append(io.OutputFile(path))
        try:
            midi.write(quantized, outputs[0].file)
            if args.report is not None:
                outputs[1].file.write((json.dumps(report, indent=2) + "\n").encode())
        except BrokenPipeError:
            raise  # the reader of a pipe went away: the CLI stops quietly
        except OSError as exc:
            raise io.AudioFileError(f"cannot write {args.output}: {exc.strerror}") from None
        io.commit_all(outputs)
    except BaseException:
        for out in outputs:
            out.abort()
        raise
    summary = midi.format_report(report)
    print(summary, file=sys.stderr if io.is_stdout(args.output) else sys.stdout)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """``audioquant midi stats IN [--grid 1/16]``"""
    from audioquant import midi

    report = midi.stats_file(args.input, grid=args.grid, triplet=args.triplet,
                             dotted=args.dotted, swing=args.swing)
    print(json.dumps(report, indent=2) if args.json else midi.format_report(report))
    return 0
