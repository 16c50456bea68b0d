"""The ``audioquant midi`` commands: ``quantize`` and ``stats``.

``add_commands(subparsers)`` adds them to the main parser; each sets ``func``. The
quantize flags are built from their one definition, :data:`audioquant.spec.QUANTIZE_OPTIONS`
(``stats`` takes the grid's four), by :func:`audioquant.cli.add_options`. Every option
value is checked while the arguments are parsed, by the spec's checks (which use the midi
package's own: ``check_percent``, ``Grid.parse``, ``parse_pitch_range``), so a grid like
``1/0`` or a strength of 150 is a usage error (exit 2) before any file is read, and the
message names the flag: ``--strength must be in 0..100, got 150``. The midi package (and
mido) is imported only by those checks and the command functions, so other commands do
not pay for it at start-up.

``midi quantize --preset NAME|FILE.toml`` starts from a preset's ``[midi]`` table; the
settings are the spec's defaults, then the preset's, then the flags typed.
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
  audioquant midi quantize take.mid clean.mid --preset clean     a gentle cleanup
  audioquant midi quantize take.mid clean.mid --preset clean --strength 100
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

#: The quantize options ``midi stats`` takes too: those of the grid.
STATS_OPTIONS = ("grid", "triplet", "dotted", "swing")


def _given(args: argparse.Namespace) -> dict:
    """The quantize options typed on the command line, by name."""
    from audioquant.cli import GIVEN
    from audioquant.spec import QUANTIZE_OPTIONS

    return {name: getattr(args, QUANTIZE_OPTIONS[name].dest or name)
            for name in getattr(args, GIVEN, None) or () if name in QUANTIZE_OPTIONS}


def quantize_options(args: argparse.Namespace, names=None, *, table_required: bool = True):
    """The :class:`audioquant.spec.QuantizeOptions` of the arguments: the spec's defaults,
    then the preset's ``[midi]`` table (``--preset``), then the flags typed. UsageError
    (exit 2) for a bad preset, a preset with no ``[midi]`` table or options that cannot
    work together, naming each option by its flag (or, from the preset, by its key);
    AudioFileError for a preset file that cannot be read. ``table_required=False``: a
    preset with no ``[midi]`` table adds nothing (``render`` of a MIDI file with ``cd``)."""
    from audioquant.cli import UsageError
    from audioquant.errors import ParameterError
    from audioquant.spec import (
        QUANTIZE_EXCLUSIVE,
        QUANTIZE_OPTIONS,
        QuantizeOptions,
        check_quantize_together,
        load_preset,
        merge_options,
    )

    flags, preset = _given(args), {}
    name = getattr(args, "preset", None)
    try:
        if name is not None:
            loaded = load_preset(name)
            if table_required or loaded.midi:
                preset = dict(loaded.table("midi"))
        merged = merge_options(preset, flags, exclusive=QUANTIZE_EXCLUSIVE)

        def label(key: str) -> str:
            if key in flags or key not in merged:
                return QUANTIZE_OPTIONS[key].flag
            return f"{key} (preset {name})"
        check_quantize_together(merged, label)
        return QuantizeOptions(**merged)
    except ParameterError as exc:
        raise UsageError(str(exc)) from None


def check_quantize(args: argparse.Namespace) -> None:
    """Make ``args.options`` of ``midi quantize``'s preset and flags (exit 2 for a bad
    preset or options that cannot work together)."""
    args.options = quantize_options(args)


def check_grid(args: argparse.Namespace) -> None:
    """Refuse ``midi stats``'s note value whose suffix contradicts --triplet or --dotted."""
    quantize_options(args)


def add_commands(subparsers) -> None:
    """Add ``midi quantize`` and ``midi stats`` to an argparse subparsers object (the
    main CLI's parser class keeps the examples of each epilog as written)."""
    from audioquant.cli import add_options
    from audioquant.spec import QUANTIZE_EXCLUSIVE, QUANTIZE_OPTIONS

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
    add_options(q, QUANTIZE_OPTIONS, QUANTIZE_EXCLUSIVE)
    q.add_argument("--preset", metavar="NAME|FILE.toml",
                   help="start from a preset's [midi] settings (see `audioquant presets`; "
                   "`clean` is a gentle cleanup); flags given as well override it; a "
                   "preset with no [midi] table (a render one) is refused")
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
    add_options(s, {name: QUANTIZE_OPTIONS[name] for name in STATS_OPTIONS},
                QUANTIZE_EXCLUSIVE)
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
    options = getattr(args, "options", None) or quantize_options(args)
    song = midi.read(args.input)
    quantized, report = midi.quantize_song(song, **options.as_dict())
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
