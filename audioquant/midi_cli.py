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
  audioquant midi quantize takes/*.mid --out-dir tight/ --grid 1/16
  audioquant midi quantize dataset/ --recursive --out-dir clean/ --preset clean --jobs 2
"""

EPILOG_STATS = """\
examples:
  audioquant midi stats take.mid
  audioquant midi stats take.mid --grid 1/8T --json
  audioquant midi stats dataset/ --recursive          one row per file, and totals
"""

EPILOG_MIDI = """\
examples:
  audioquant midi quantize take.mid tight.mid --grid 1/16 --strength 80
  audioquant midi stats take.mid --grid 1/16
  audioquant midi beats take.mid
  audioquant midi tempo take.mid mapped.mid
  audioquant midi quantize take.mid tight.mid --grid 1/16 --follow-beats
"""

EPILOG_BEATS = """\
examples:
  audioquant midi beats take.mid
  audioquant midi beats take.mid --json
  audioquant midi beats waltz.mid --meter 3/4 --tempo-range 80-200
"""

EPILOG_TEMPO = """\
examples:
  audioquant midi tempo take.mid mapped.mid
  audioquant midi tempo take.mid mapped.mid --half          the beat is twice as slow
  audioquant midi tempo take.mid mapped.mid --beats my_beats.txt
"""

#: The quantize options ``midi stats`` takes too: those of the grid.
STATS_OPTIONS = ("grid", "triplet", "dotted", "swing")


def _tempo_range(text: str) -> tuple[float, float]:
    """``--tempo-range LO-HI`` in BPM, 10 <= LO < HI <= 1000."""
    try:
        lo, hi = (float(v) for v in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--tempo-range must be LO-HI in BPM, e.g. 60-180, "
                                         f"got {text!r}") from None
    if not 10 <= lo < hi <= 1000:
        raise argparse.ArgumentTypeError(f"--tempo-range must have 10 <= LO < HI <= 1000 BPM,"
                                         f" got {text!r}")
    return lo, hi


def _meter(text: str) -> str:
    """``--meter N`` or ``N/D``: 1..32 beats per bar, D a power of two up to 32."""
    head, _, tail = text.partition("/")
    ok = head.isdigit() and 1 <= int(head) <= 32 and (
        not tail or (tail.isdigit() and int(tail) in (1, 2, 4, 8, 16, 32)))
    if not ok:
        raise argparse.ArgumentTypeError(f"--meter must be beats per bar (1..32) or N/D, "
                                         f"e.g. 3 or 6/8, got {text!r}")
    return text


def add_beat_flags(parser) -> None:
    """The flags of the beat tracker (``midi beats``, ``midi tempo``, ``quantize
    --follow-beats``): overrides where the music is ambiguous."""
    g = parser.add_argument_group("beat finding (when the music is ambiguous)")
    g.add_argument("--tempo-range", type=_tempo_range, metavar="LO-HI",
                   help="the tempo the beat may take, BPM (default 40-240)")
    g.add_argument("--meter", type=_meter, metavar="N[/D]",
                   help="beats per bar, e.g. 3 or 3/4 (default: found among 2, 3, 4)")
    octave = g.add_mutually_exclusive_group()
    octave.add_argument("--double", action="store_true", help="twice as many beats as "
                        "found (the tempo octave above)")
    octave.add_argument("--half", action="store_true", help="half as many beats as found")
    g.add_argument("--beats", metavar="FILE", dest="beats_file",
                   help="use these beats instead: a text file, one beat time in seconds per "
                   "line, `db` after it on a downbeat")


def beat_options(args: argparse.Namespace) -> dict:
    """The keywords of ``midi.adapt.find_beats`` from the beat flags."""
    out: dict = {"tempo_scale": 2.0 if args.double else 0.5 if args.half else 1.0}
    if args.tempo_range is not None:
        out["tempo_range"] = args.tempo_range
    if args.meter is not None:
        out["meter"] = args.meter
    if args.beats_file is not None:
        out["beats_file"] = args.beats_file
    return out


def _beat_flags_given(args: argparse.Namespace) -> list[str]:
    return [flag for flag, given in (
        ("--tempo-range", args.tempo_range is not None), ("--meter", args.meter is not None),
        ("--double", args.double), ("--half", args.half),
        ("--beats", args.beats_file is not None)) if given]


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
    preset or options that cannot work together); sort the paths into IN and OUT or a
    batch's inputs."""
    from audioquant.cli import UsageError, check_batch_flags

    check_batch_flags(args)
    if args.out_dir is None:
        if args.recursive:
            raise UsageError("--recursive needs --out-dir: it is a batch option")
        if len(args.paths) == 1:
            raise UsageError("the following arguments are required: OUT (or give "
                             "--out-dir DIR for a batch)")
        if len(args.paths) > 2:
            raise UsageError(f"give one IN and one OUT, or several IN with --out-dir "
                             f"(got {len(args.paths)} paths)")
        args.input, args.output = args.paths
    else:
        args.writes_file = False
    given = _beat_flags_given(args)
    if given and not args.follow_beats:
        raise UsageError(f"{given[0]} needs --follow-beats: it tells the beat finder")
    args.follow = beat_options(args) if args.follow_beats else None
    args.options = quantize_options(args)


def check_grid(args: argparse.Namespace) -> None:
    """Refuse ``midi stats``'s note value whose suffix contradicts --triplet or --dotted."""
    quantize_options(args)


def add_commands(subparsers) -> None:
    """Add ``midi quantize`` and ``midi stats`` to an argparse subparsers object (the
    main CLI's parser class keeps the examples of each epilog as written)."""
    from audioquant.cli import add_batch_flags, add_options
    from audioquant.spec import QUANTIZE_EXCLUSIVE, QUANTIZE_OPTIONS

    m = subparsers.add_parser(
        "midi",
        help="quantize MIDI performances to a grid, or summarise their timing",
        description="MIDI files: quantize note timing to a grid, or print a timing summary.",
        epilog=EPILOG_MIDI,
    )
    msub = m.add_subparsers(dest="midi_command", required=True,
                            metavar="{quantize,stats,beats,tempo}")

    q = msub.add_parser(
        "quantize",
        help="move notes toward a grid; every other event is kept as it is",
        description="Quantize note starts (or ends, or whole notes) of IN to a grid and "
        "write OUT. Percentages are of one grid step, except strength (of the way to the "
        "line) and swing (of a pair of steps). OUT is written whole or not at all; IN is "
        "never changed.",
        epilog=EPILOG_QUANTIZE,
    )
    q.add_argument("paths", nargs="+", metavar="IN [OUT]",
                   help="input MIDI file (type 0 or 1) and output MIDI file (must differ "
                   "from IN); with --out-dir, any number of inputs: files and folders")
    add_options(q, QUANTIZE_OPTIONS, QUANTIZE_EXCLUSIVE)
    q.add_argument("--follow-beats", action="store_true", help="first find the beat and "
                   "give the file a tempo map that follows the player (as `midi tempo`), "
                   "so the grid is the music's: for performances played without a click")
    q.add_argument("--preset", metavar="NAME|FILE.toml",
                   help="start from a preset's [midi] settings (see `audioquant presets`; "
                   "`clean` is a gentle cleanup); flags given as well override it; a "
                   "preset with no [midi] table (a render one) is refused")
    q.add_argument("--report", metavar="FILE.json", help="also write the report as JSON "
                   "(with --out-dir: the batch's, every file's report in it)")
    b = q.add_argument_group("batch (several inputs into one folder)")
    b.add_argument("--out-dir", metavar="DIR", help="write every IN into DIR under its own "
                   "name; exit 1 if any file fails, the others are still written")
    b.add_argument("--recursive", action="store_true", help="take the MIDI files (.mid, "
                   ".midi, .kar, .rmi, .smf) of the subfolders of a folder IN too, keeping "
                   "their paths under DIR")
    add_batch_flags(b)
    add_beat_flags(q)
    q.set_defaults(func=cmd_quantize, check=check_quantize, usage_prog=q.prog,
                   writes_file=True)

    s = msub.add_parser(
        "stats",
        help="print how far note starts are from a grid; changes nothing",
        description="Print a summary of IN and the distance of its note starts from a grid.",
        epilog=EPILOG_STATS,
    )
    s.add_argument("paths", nargs="+", metavar="IN", help="MIDI files or folders: one file "
                   "gives its summary, several (or a folder) a row per file and totals")
    s.add_argument("--recursive", action="store_true", help="take the MIDI files of the "
                   "subfolders of a folder IN too")
    add_options(s, {name: QUANTIZE_OPTIONS[name] for name in STATS_OPTIONS},
                QUANTIZE_EXCLUSIVE)
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=cmd_stats, check=check_grid, usage_prog=s.prog)

    b = msub.add_parser(
        "beats", help="find the beats, downbeats, meter and tempo of a performance",
        description="Find the beat of IN from its notes (for performances played without "
        "a click): the beats and downbeats in seconds, the meter, the tempo of each bar and "
        "a confidence (0..1: how well the beats and the played onsets agree). Changes "
        "nothing.", epilog=EPILOG_BEATS)
    b.add_argument("input", metavar="IN", help="MIDI file")
    b.add_argument("--json", action="store_true", help="print JSON (every beat)")
    add_beat_flags(b)
    b.set_defaults(func=cmd_beats, usage_prog=b.prog)

    t = msub.add_parser(
        "tempo", help="write the performance with a tempo map that follows the player",
        description="Write IN to OUT with a tempo map that follows the player (Logic's "
        "Adapt): each beat found falls on a quarter-note tick, bar lines (time signatures) "
        "on the downbeats, and every note, pedal and controller event sounds when it did "
        "(within 1 ms). The file's own tempo and time-signature events are replaced; "
        "nothing else changes. OUT is written whole or not at all; IN is never changed.",
        epilog=EPILOG_TEMPO)
    t.add_argument("input", metavar="IN", help="MIDI file")
    t.add_argument("output", metavar="OUT", help="output MIDI file (must differ from IN)")
    add_beat_flags(t)
    t.set_defaults(func=cmd_tempo, usage_prog=t.prog, writes_file=True)


def tune_memory() -> None:
    """Set this process up for MIDI work, whose arrays live for milliseconds.

    - numpy's large arrays go on ordinary pages (what ``NUMPY_MADVISE_HUGEPAGE=0``
      does): numpy asks for transparent huge pages for arrays of 4 MB and more, and
      where the kernel then compacts memory on each fault (``defrag`` set to
      ``madvise``, the default on this machine) the faults cost more than the work: the
      1,000,000-note file took 0.47-0.56 s of system time instead of 0.23-0.27 s, and
      291 MB instead of 282 MB (a huge page is resident whole, though the reader's row
      arrays are only partly used).
    - glibc keeps up to 32 MB of freed memory instead of handing it back at once
      (``M_TRIM_THRESHOLD``), and takes arrays of up to 8 MiB (a million int64s) from
      its heap instead of mapping each afresh (``M_MMAP_THRESHOLD``; setting the first
      fixes the second at 128 kB otherwise), so the next arrays reuse pages already
      mapped. A batch of the 806 ASAP files took 8,800 page faults instead of 58,000
      (12,300 with the first setting alone); the 1,000,000-note file 86,000 instead of
      157,000, and 0.83 s instead of 1.00 s (medians of 4 interleaved runs), at a peak
      of 274 MB instead of 264 MB (keeping more, or bigger arrays from the heap, was
      faster still but peaked at 284-291 MB, near the 300 MB we promise).
    - numpy's BLAS runs one thread (``OPENBLAS_NUM_THREADS=1`` unless set; only where
      numpy is not loaded yet, as in these commands): the beat tracker's matrix
      products are small, and a second thread took 70 % more CPU time for the same wall
      time (a 20-minute performance: 1.6 s of CPU against 2.8 s).
    """
    import os

    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    import numpy as np

    multiarray = getattr(getattr(np, "_core", None), "multiarray", None) \
        or getattr(getattr(np, "core", None), "multiarray", None)
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    if setter is not None:
        setter(False)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None)
            libc.mallopt(-1, 32 << 20)      # M_TRIM_THRESHOLD (glibc)
            libc.mallopt(-3, 8 << 20)       # M_MMAP_THRESHOLD
        except (OSError, AttributeError):
            pass                                         # (another C library)


def cmd_quantize_batch(args: argparse.Namespace) -> int:
    """``audioquant midi quantize IN... --out-dir DIR``: every input into DIR, a summary
    table, one ``error:`` line per failed file and exit 1 if any failed (called by
    :func:`cmd_quantize`, which has set the process up: :func:`tune_memory`)."""
    from audioquant import atomic, batch
    from audioquant.cli import _say_error

    if args.report is not None:
        atomic.output_target(args.report)   # one that cannot be written: before the batch
    batch.check_batch_options(args.out_dir, args.jobs, args.backend)
    plan = batch.plan_quantize(args.paths, args.out_dir, recursive=args.recursive,
                               follow=args.follow, **args.options.as_dict())
    bars = None
    if not args.quiet and sys.stderr is not None and sys.stderr.isatty():
        bars = batch.ProgressBars([job.source for job in plan])
    try:
        report = batch.run_quantize(plan, jobs=args.jobs, skip_existing=args.skip_existing,
                                    backend=args.backend, scheduler=args.scheduler,
                                    progress=bars and bars.finished)
    finally:
        if bars is not None:
            bars.close()
    if args.report is not None:
        with atomic.OutputFile(args.report) as out:
            out.file.write((json.dumps(report.as_dict(), indent=2) + "\n").encode())
    print(batch.format_midi_summary(report))
    for failed in report.failed:
        _say_error(f"error: {failed.error}")
    return 1 if report.failed else 0


def cmd_quantize(args: argparse.Namespace) -> int:
    """``audioquant midi quantize IN OUT ...``"""
    tune_memory()
    from audioquant import atomic, midi  # (atomic: stdlib only, no soundfile for MIDI)
    from audioquant.errors import AudioFileError
    from audioquant.midi.files import quantized_parts

    if getattr(args, "options", None) is None:    # parsed without the checks
        check_quantize(args)
    if args.out_dir is not None:
        return cmd_quantize_batch(args)

    paths = [args.output] + ([args.report] if args.report is not None else [])
    for i, path in enumerate(paths):
        # (two outputs into one device or pipe, /dev/null say, are allowed)
        for other in [args.input, *paths[:i]] if atomic.is_regular_or_new(path) else [args.input]:
            if atomic.same_file(path, other):
                what = "OUT" if i == 0 else "--report"
                raise AudioFileError(
                    f"{what} {path} is the same file as {other}; choose another path"
                )
    parts, report = quantized_parts(args.input, args.output, follow=args.follow,
                                    **args.options.as_dict())
    # Both files are complete (synced temporary files) before either is committed, and
    # committed as one: a failure leaves neither (nor changes a file either replaces).
    outputs: list[atomic.OutputFile] = []
    try:
        for path in paths:
            outputs.append(atomic.OutputFile(path))
        try:
            for part in parts:
                outputs[0].file.write(memoryview(part))
            if args.report is not None:
                outputs[1].file.write((json.dumps(report, indent=2) + "\n").encode())
        except BrokenPipeError:
            raise  # the reader of a pipe went away: the CLI stops quietly
        except OSError as exc:
            raise AudioFileError(f"cannot write {args.output}: {exc.strerror}") from None
        atomic.commit_all(outputs)
    except BaseException:
        for out in outputs:
            out.abort()
        raise
    summary = midi.format_report(report)
    print(summary, file=sys.stderr if atomic.is_stdout(args.output) else sys.stdout)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """``audioquant midi stats IN... [--grid 1/16]``: one file's summary, or a dataset's
    (a row per file and the totals; exit 1 if any file could not be read)."""
    tune_memory()
    import os

    from audioquant import batch, midi
    from audioquant.cli import _say_error

    grid = {"grid": args.grid, "triplet": args.triplet, "dotted": args.dotted,
            "swing": args.swing}
    if len(args.paths) == 1 and not os.path.isdir(args.paths[0]):
        report = midi.stats_file(args.paths[0], **grid)
        print(json.dumps(report, indent=2) if args.json else midi.format_report(report))
        return 0
    inputs = [src for src, _ in batch.midi_inputs(args.paths, recursive=args.recursive)]
    report = midi.stats_files(inputs, **grid)
    print(json.dumps(report, indent=2) if args.json else midi.format_dataset(report))
    for failed in report["failed"]:
        _say_error(f"error: {failed['error']}")
    return 1 if report["failed"] else 0


def cmd_beats(args: argparse.Namespace) -> int:
    """``audioquant midi beats IN``: the beats found."""
    tune_memory()
    from audioquant import midi
    from audioquant.midi import adapt

    song = midi.read(args.input)
    report = adapt.beats_report(adapt.find_beats(song, **beat_options(args)))
    print(json.dumps({"file": args.input, **report}, indent=2) if args.json
          else adapt.format_beats(report, args.input))
    return 0


def cmd_tempo(args: argparse.Namespace) -> int:
    """``audioquant midi tempo IN OUT``: IN with a tempo map that follows the player."""
    tune_memory()
    from audioquant import atomic, midi
    from audioquant.errors import AudioFileError
    from audioquant.midi import adapt

    if atomic.same_file(args.input, args.output):
        raise AudioFileError(f"OUT {args.output} is the same file as {args.input}; choose "
                             "another path")
    song = midi.read(args.input)
    beats = adapt.find_beats(song, **beat_options(args))
    data, bm = adapt.adapt(song.to_bytes(), beats.beats, beats.downbeats, beats.meter,
                           args.input)
    with atomic.OutputFile(args.output) as out:
        out.file.write(data)
    report = adapt.beats_report(beats)
    summary = (f"{args.input} -> {args.output}: {len(beats.beats)} beats on quarter notes "
               f"at {bm.ticks_per_beat} PPQ, {len(beats.downbeats)} bars of "
               f"{beats.time_signature}, tempo {report['bpm_median']:.1f} BPM (median), "
               f"confidence {beats.confidence:.2f}")
    print(summary, file=sys.stderr if atomic.is_stdout(args.output) else sys.stdout)
    return 0
