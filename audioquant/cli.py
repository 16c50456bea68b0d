"""The ``audioquant`` command line: render, analyze, shapers, midi.

Exit status
-----------
- 0: success, including when the reader of standard output goes away early
  (``audioquant shapers | head -1``).
- 2: bad usage: an unknown option, a malformed or out-of-range value, or a combination of
  options that can do nothing (``--quality`` without ``--rate``). Every value is checked
  here, with the library's own range checks, before any file is opened; messages name the
  flag as it is typed: ``--hold-rate must be in 1..384000 Hz, got 0``. A preset
  (``--preset``) that is unknown, not TOML, or has an unknown key or a bad value is a bad
  option value too; its message names the file and the key.
- 1: a bad input file, a failed write, a preset file that cannot be read, or a value that
  only the input shows to be wrong (a catalog shaper not made for the file's rate, a track
  number the file does not have).

``render``'s flags are built from :data:`audioquant.spec.OPTIONS` (and ``midi
quantize``'s from :data:`audioquant.spec.QUANTIZE_OPTIONS`, by :func:`add_options`), each
option's one definition (default, range, unit, help); the settings are the spec's
defaults, then the preset's, then the flags typed.

Every failure is one ``error: ...`` line on stderr, with no traceback unless ``--debug``.

Standard output
---------------
What a command prints is collected while it runs and written once it has finished, so a
failure to print cannot undo work that is done: when the output file of ``render`` or
``midi quantize`` is in place, a summary that cannot be printed (``> /dev/full``) is a
``warning:`` on stderr and the exit status stays 0. For ``analyze``, ``shapers`` and
``midi stats`` the printed text is the product, so failing to print it is an error (1).
Characters the terminal's encoding cannot show are printed as backslash escapes.

Heavy modules are imported inside each command (or inside the value check of the option
that needs them), so ``render`` does not pay for scipy.signal or mido at start-up.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from io import StringIO

EPILOG_MAIN = """\
examples:
  audioquant render mix.wav cd.wav --bits 16 --shaping auto
  audioquant analyze cd.wav --reference mix.wav
  audioquant midi quantize take.mid tight.mid --grid 1/16 --strength 80

exit status: 0 success, 1 bad input file or failed write, 2 bad usage.
"""

EPILOG_RENDER = """\
examples:
  audioquant render mix.wav cd.wav                      16-bit TPDF, no shaping
  audioquant render mix.wav cd.wav --shaping auto       best noise shaper for the rate
  audioquant render hires.wav cd.flac --rate 44100 --quality very-high --bits 16
  audioquant render loop.wav crushed.wav --bits 6 --hold-rate 8000
  audioquant render --preset cd master96k.wav cd.wav   a preset (see `audioquant presets`)
  audioquant render --preset cd mix.wav cd.wav --normalize -1   flags override a preset
"""

EPILOG_PRESETS = """\
examples:
  audioquant presets
  audioquant presets show cd > my.toml         edit it, then:
  audioquant render --preset my.toml mix.wav out.wav
"""

EPILOG_ANALYZE = """\
examples:
  audioquant analyze cd.wav
  audioquant analyze cd.wav --reference mix.wav --json
"""

EPILOG_SHAPERS = """\
examples:
  audioquant shapers
  audioquant shapers --rate 48000 --plot ntf.png
"""


class UsageError(Exception):
    """Options that are each valid but cannot work together (exit 2, like argparse)."""


def _usage_error(prog: str, message: str) -> None:
    """Print one usage error line and exit 2."""
    _say_error(f"error: {prog}: {message} (see {prog} --help)")
    raise SystemExit(2)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help text as written where it is laid out in lines (the examples of an epilog);
    a one-line description is wrapped to the terminal as usual."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return super()._fill_text(text, width, indent)
        return argparse.HelpFormatter._fill_text(self, text, width, indent)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) and examples kept as written."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse puts "argument --rate: " before a type check's message; ours already
        # start with the flag, so say it once.
        head, _, rest = message.partition(": ")
        if head.startswith("argument ") and rest.startswith(head[len("argument "):]):
            message = rest
        _usage_error(self.prog, message)


class _Version(argparse.Action):
    """``--version``: looked up only when asked for (importlib.metadata is not free)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print the version and exit") -> None:  # noqa: A002 - argparse's name
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        sys.stdout.write(f"audioquant {version()}\n")
        parser.exit()


def version() -> str:
    """The installed distribution's version (the package's own when not installed)."""
    from importlib import metadata

    try:
        return metadata.version("audioquant")
    except metadata.PackageNotFoundError:
        from audioquant import __version__

        return __version__


# -- option values: each checked by the library's own check, named by its flag ------------


def _number(text: str) -> int | float | str:
    """``text`` as an int, else a float, else itself (for the checks to name)."""
    from audioquant.spec import _number as number  # one definition

    return number(text)


def _jobs(text: str) -> int:
    """``--jobs``: a whole number of worker processes, at least 1."""
    value = _number(text)
    if not isinstance(value, int) or value < 1:
        raise argparse.ArgumentTypeError(f"--jobs must be a whole number >= 1, got {text!r}")
    return value


def _rate(flag: str, low: int | None = None):
    """An argparse type: a sample rate in Hz, checked by ``sampling.check_rate`` (its
    range: ``low`` or the resampler's lowest rate, up to the highest rate audioquant
    handles)."""
    def parse(text: str) -> int:
        from audioquant.errors import ParameterError
        from audioquant.sampling import check_rate

        try:
            if low is None:
                return check_rate(flag, _number(text))
            return check_rate(flag, _number(text), low)
        except ParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = flag
    return parse


# -- render's options: built from their one definition in audioquant.spec ----------------

#: The namespace attribute that lists the render options given on the command line.
GIVEN = "given_options"


def _option_type(option):
    """An argparse type: ``option.parse``, its ParameterError as argparse's error."""
    def parse(text: str):
        from audioquant.errors import ParameterError

        try:
            return option.parse(text, option.flag)
        except ParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = option.flag
    return parse


class _SetOption(argparse.Action):
    """Store an option's value and note (by the option's name) that it was given: flags
    override a preset, and only the flags that are typed (``--preset lofi --bits 16`` is
    16-bit). A bool option's flag sets the opposite of its default; a flag with a
    ``const`` (``--ends``) sets that."""

    def __init__(self, option_strings, dest, option=None, **kwargs) -> None:
        if option.kind == "bool" or kwargs.get("const") is not None:
            kwargs["nargs"] = 0
        self.option = option
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if self.const is not None:
            values = self.const
        elif self.option.kind == "bool":
            values = not self.option.default
        setattr(namespace, self.dest, values)
        given = getattr(namespace, GIVEN, None)
        if given is None:
            given = []
            setattr(namespace, GIVEN, given)
        if self.option.name not in given:
            given.append(self.option.name)


def _add_render_options(parser: argparse.ArgumentParser) -> None:
    """One flag per option of :data:`audioquant.spec.OPTIONS` (see :func:`add_options`)."""
    from audioquant.spec import EXCLUSIVE, OPTIONS

    add_options(parser, OPTIONS, EXCLUSIVE)


def add_options(parser, options, exclusive=()) -> None:
    """One flag per option of ``options`` (name -> :class:`audioquant.spec.Option`), with
    its default, help and check; the options of an ``exclusive`` group, and the flags of
    one option that sets values (``--ends``, ``--lengths``), in a mutually exclusive
    group. The namespace attribute is the option's ``dest`` or name; :data:`GIVEN` lists
    the names of the options typed."""
    from audioquant.spec import LIST_KINDS

    groups = {}
    for names in exclusive:
        group = parser.add_mutually_exclusive_group()
        groups.update(dict.fromkeys(names, group))
    for name, option in options.items():
        kwargs: dict = {"dest": option.dest or name, "default": option.default,
                        "action": _SetOption, "option": option}
        if option.const_flags:
            group = parser.add_mutually_exclusive_group()
            for flag, const, text in option.const_flags:
                group.add_argument(flag, const=const, help=text.replace("%", "%%"), **kwargs)
            continue
        text = option.flag_help or option.help
        if option.kind == "choice":
            kwargs["choices"] = option.choices
        elif option.kind != "bool":
            kwargs["type"] = _option_type(option)
            kwargs["metavar"] = option.metavar
        if option.kind in LIST_KINDS:
            kwargs["nargs"] = "+"
        notes = [option.allowed()[3:]] if option.kind in ("int", "float", "percent") and \
            option.low is not None and option.high is not None else []
        if option.kind != "bool" and option.default is not None:
            notes.append(f"default {option.default_text()}")
        if notes:
            text += f" ({'; '.join(notes)})"
        kwargs["help"] = text.replace("%", "%%")
        groups.get(name, parser).add_argument(option.flag, **kwargs)


def _render_spec(args: argparse.Namespace):
    """The RenderSpec of ``render``'s arguments: the spec's defaults, then the preset's
    settings, then the flags given. UsageError for a bad preset or a combination that
    can do nothing; AudioFileError for a preset file that cannot be read."""
    from audioquant.errors import ParameterError
    from audioquant.midi_cli import quantize_options
    from audioquant.spec import (
        OPTIONS,
        QUANTIZE_OPTIONS,
        RenderOptions,
        RenderSpec,
        load_preset,
        merge_options,
    )

    given = getattr(args, GIVEN, None) or ()
    flags = {name: getattr(args, name) for name in given if name in OPTIONS}
    midi_flags = [QUANTIZE_OPTIONS[name].flag or name for name in given
                  if name in QUANTIZE_OPTIONS]
    midi_input = _midi_inputs(args)
    preset, loaded = {}, None
    if args.preset is not None:
        try:
            loaded = load_preset(args.preset)
            if not (midi_input and loaded.midi and not loaded.options):
                preset = dict(loaded.table("render"))
        except ParameterError as exc:
            raise UsageError(str(exc)) from None
    if midi_flags and not midi_input:
        raise UsageError(f"{midi_flags[0]} is a MIDI quantize option: it needs a MIDI input")
    if not midi_input and "instrument" in flags:
        raise UsageError("--instrument plays a MIDI input; the input is audio")
    quantize = None
    if midi_input and (midi_flags or (loaded is not None and loaded.midi)):
        quantize = quantize_options(args, table_required=False)
    merged = merge_options(preset, flags)
    if merged.get("quality") is not None and merged.get("rate") is None:
        if "quality" in flags:
            raise UsageError("--quality needs --rate: it is the resampler's quality, and "
                             "only --rate resamples (--hold-rate has no filter)")
        raise UsageError(f"preset {args.preset}: quality needs rate (in the preset or "
                         "--rate): only a rate change resamples")
    try:
        return RenderSpec(args.input, args.output, RenderOptions(**merged), quantize)
    except ParameterError as exc:
        raise UsageError(str(exc)) from None


def _midi_inputs(args: argparse.Namespace) -> bool:
    """Whether ``render``'s input (any of a batch's inputs) is a MIDI file."""
    from audioquant.bounce import is_midi

    paths = args.paths if args.out_dir is not None else [args.input]
    return any(path != "-" and is_midi(path) for path in paths)


def _json(data: object) -> str:
    """Strict JSON: infinite or NaN floats (SNR of identical signals) become null."""
    def clean(value: object) -> object:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value
    return json.dumps(clean(data), allow_nan=False)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    from audioquant.spec import QUANTIZE_EXCLUSIVE, QUANTIZE_OPTIONS

    parser = _Parser(prog="audioquant", description="Render audio at reduced bit depth, "
                     "resample, quantize MIDI, and measure the result.", epilog=EPILOG_MAIN)
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser(
        "render", help="render an audio file at reduced bit depth",
        description="Render IN (audio, or a MIDI file quantized if asked and played by "
        "--instrument) at a reduced bit depth into OUT, with dither and optional "
        "noise shaping, after an optional sample-rate change (--rate) or sample-and-hold "
        "(--hold-rate). OUT is written whole or not at all; IN is never changed.",
        epilog=EPILOG_RENDER)
    r.add_argument("paths", nargs="+", metavar="IN [OUT]",
                   help="input audio file (anything libsndfile reads) and output file (its "
                   "extension gives the format); with --out-dir, any number of inputs")
    _add_render_options(r)
    m = r.add_argument_group("MIDI input (quantized, then played by --instrument)")
    add_options(m, QUANTIZE_OPTIONS, QUANTIZE_EXCLUSIVE)
    b = r.add_argument_group("batch (several inputs into one folder)")
    b.add_argument("--out-dir", metavar="DIR", help="render every IN into DIR, named "
                   "after it; exit 1 if any file fails, the others are still written")
    b.add_argument("--format", choices=BATCH_FORMATS, help="the outputs' format (default: "
                   "the input's own extension, or wav)")
    add_batch_flags(b)
    b.add_argument("--report", metavar="FILE.json", help="write the batch report as JSON")
    r.add_argument("--preset", metavar="NAME|FILE.toml",
                   help="start from a preset's [render] settings, and for a MIDI input its "
                   "[midi] quantize settings (see `audioquant presets`); flags given as well "
                   "override it; a preset with none of the settings the input needs is "
                   "refused")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.add_argument("--plot", metavar="FILE.png", help="also draw the spectra of the source "
                   "(at the gain asked for), the output and the error between them, with "
                   "the A and ITU-R 468 weighting curves, so noise shaping shows (.png, "
                   ".svg or .pdf; needs matplotlib: pip install 'audioquant[plot]')")
    r.set_defaults(func=cmd_render, check=check_render, usage_prog=r.prog, writes_file=True)

    a = sub.add_parser(
        "analyze", help="measure levels, noise, SINAD, dynamic range, SNR of an audio file",
        description="Measure FILE, streamed in blocks (memory stays flat however long it "
        "is): sample peak; RMS relative to a full-scale sine (AES17) and to a full-scale "
        "square (SoX/FFmpeg, 3.01 dB lower); DC offset. When one sine dominates: its "
        "frequency and level, SINAD and THD+N (unweighted), the noise floor (what the "
        "notched tone leaves), that noise A- and ITU-R 468-weighted, ENOB (corrected to "
        "full scale per IEEE 1241 for a quieter tone) and, for a -60 dBFS tone, the AES17 "
        "dynamic range (unweighted and A). Otherwise the A- and 468-weighted level and no "
        "noise floor (it means nothing without a tone to notch, except for digital "
        "silence). With --reference, the SNR of FILE against it, frame for frame.",
        epilog=EPILOG_ANALYZE)
    a.add_argument("file", metavar="FILE", help="audio file to measure (- for standard "
                   "input)")
    a.add_argument("--reference", help="reference file for SNR (same rate, channels and "
                   "length)")
    a.add_argument("--json", action="store_true", help="print JSON (keys name their "
                   "convention: rms_dbfs_aes17, rms_dbfs_square, noise_floor_of, ...)")
    a.add_argument("--quiet", action="store_true", help="no progress bar on stderr (there "
                   "is none when stderr is not a terminal)")
    a.add_argument("--levels", action="store_true", help="only the levels (sample peak, RMS "
                   "in both conventions, DC offset; with --reference the SNR): what SoX "
                   "stats and FFmpeg astats measure, without the spectrum and the sine fit, "
                   "several times faster")
    a.add_argument("--plot", metavar="FILE.png", help="also draw the spectrum of FILE (and, "
                   "with --reference, of the error FILE - REFERENCE) with the A and ITU-R "
                   "468 weighting curves (.png, .svg or .pdf; needs matplotlib: pip install "
                   "'audioquant[plot]')")
    a.set_defaults(func=cmd_analyze, check=check_analyze, usage_prog=a.prog)

    p = sub.add_parser(
        "presets", help="list the presets, or show one as TOML",
        description="List the built-in presets with their settings, as the flags of the "
        "command that uses them ([render]: `render`, [midi]: `midi quantize`); `presets "
        "show NAME` prints one as a TOML file, which `--preset FILE.toml` reads.",
        epilog=EPILOG_PRESETS)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_presets, usage_prog=p.prog)
    psub = p.add_subparsers(dest="presets_command", parser_class=_Parser, metavar="show")
    show = psub.add_parser("show", help="print a preset as TOML",
                           description="Print a preset (built in, or a TOML file, checked) "
                           "as TOML.")
    show.add_argument("preset", metavar="NAME|FILE.toml", help="a preset name or file")
    show.set_defaults(func=cmd_presets_show, check=check_presets_show, usage_prog=show.prog)

    s = sub.add_parser(
        "shapers", help="list the noise-shaping filters and their rates",
        description="List the noise-shaping filters (the catalog and the designed ones) "
        "with their predicted noise figures; with --rate, only those usable at that rate "
        "and the one --shaping auto picks.",
        epilog=EPILOG_SHAPERS)
    s.add_argument("--rate", type=_rate("--rate", 1), metavar="HZ",
                   help="only filters usable at this rate (Hz)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.add_argument("--plot", metavar="FILE.png",
                   help="with --rate: draw |H(f)|^2 of the filters against the weighting "
                        "curves (needs matplotlib: pip install 'audioquant[plot]')")
    s.set_defaults(func=cmd_shapers, check=check_shapers, usage_prog=s.prog)

    try:
        from audioquant import midi_cli
    except ImportError:  # pragma: no cover - while the MIDI commands are being built
        pass
    else:
        midi_cli.add_commands(sub)
    return parser


#: Output formats a batch can write (``--format``), by extension.
BATCH_FORMATS = ("wav", "flac", "aiff", "aifc", "caf", "w64", "rf64", "au")


def add_batch_flags(group: argparse._ArgumentGroup) -> None:
    """The flags of every batch (``render`` and ``midi quantize`` with ``--out-dir``):
    --jobs, --skip-existing, --backend, --scheduler, --quiet."""
    group.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                       help="files done at once, each in its own process (default 1)")
    group.add_argument("--skip-existing", action="store_true",
                       help="leave outputs that already exist (resume a batch)")
    group.add_argument("--backend", choices=("process", "dask"), default="process",
                       help="process pool (default) or a Dask cluster (pip install "
                       "'audioquant[dask]')")
    group.add_argument("--scheduler", metavar="ADDR", help="with --backend dask: the "
                       "scheduler (tcp://host:8786); without it a local cluster of --jobs "
                       "workers")
    group.add_argument("--quiet", action="store_true", help="no progress bars on stderr "
                       "(there are none when stderr is not a terminal)")


def check_batch_flags(args: argparse.Namespace, batch_reports: bool = False) -> None:
    """Refuse batch flags without --out-dir, and --scheduler without --backend dask.
    ``batch_reports``: --report is a batch flag too (``render``)."""
    batch_only = [flag for flag, given in (
        ("--jobs", args.jobs != 1), ("--skip-existing", args.skip_existing),
        ("--backend", args.backend != "process"), ("--scheduler", args.scheduler is not None),
        ("--report", batch_reports and args.report is not None),
        ("--format", getattr(args, "format", None) is not None)) if given]
    if args.out_dir is None and batch_only:
        raise UsageError(f"{batch_only[0]} needs --out-dir: it is a batch option")
    if args.scheduler is not None and args.backend != "dask":
        raise UsageError("--scheduler needs --backend dask")


def check_render(args: argparse.Namespace) -> None:
    """Make ``args.spec`` of the preset and the flags; sort the paths into IN and OUT or
    a batch's inputs; refuse options that cannot work together."""
    check_batch_flags(args, batch_reports=True)
    if args.out_dir is None:
        if len(args.paths) == 1:
            raise UsageError("the following arguments are required: output")
        if len(args.paths) > 2:
            raise UsageError(f"give one IN and one OUT, or several IN with --out-dir "
                             f"(got {len(args.paths)} paths)")
        args.input, args.output = args.paths
    else:
        if args.plot is not None:
            raise UsageError("--plot draws one render: give IN and OUT, not --out-dir")
        args.input, args.output = args.paths[0], os.devnull   # the options' check only
        args.writes_file = False
    args.spec = _render_spec(args)


def check_presets_show(args: argparse.Namespace) -> None:
    """Load the preset to show (exit 2 for an unknown one or a bad file)."""
    from audioquant.errors import ParameterError
    from audioquant.spec import load_preset

    try:
        args.loaded = load_preset(args.preset)
    except ParameterError as exc:
        raise UsageError(str(exc)) from None


def check_analyze(args: argparse.Namespace) -> None:
    """Refuse ``analyze`` options that cannot work together."""
    if args.levels and args.plot is not None:
        raise UsageError("--plot draws the spectrum, which --levels does not compute")


def check_shapers(args: argparse.Namespace) -> None:
    """Refuse ``shapers`` options that cannot work together."""
    if args.plot and args.rate is None:
        raise UsageError("--plot needs --rate: the filters' responses depend on it")


def _summary_file(output: str) -> object:
    """Where a command that writes ``output`` prints its summary: stdout, unless the
    output itself goes there (``-``, ``/dev/stdout``), and then stderr."""
    from audioquant.atomic import is_stdout

    return sys.stderr if is_stdout(output) else sys.stdout


def cmd_render_batch(args: argparse.Namespace) -> int:
    """``audioquant render IN... --out-dir DIR``: every input into DIR, a summary table,
    one ``error:`` line per failed file and exit 1 if any failed."""
    from audioquant import batch, io

    options = args.spec.options.as_dict()
    seed = options.pop("seed")
    if args.spec.quantize is not None:      # MIDI inputs: quantized before they are played
        options["quantize"] = args.spec.quantize
    ext = None if args.format is None else f".{args.format}"
    if ext is None:
        own = {os.path.splitext(p)[1].lower() for p in args.paths}
        ext = None if own <= set(io.FORMATS_BY_EXTENSION) else ".wav"
    if args.report is not None:
        io.output_target(args.report)   # a report that cannot be written: before the batch
    bars = None
    if not args.quiet and sys.stderr is not None and sys.stderr.isatty():
        bars = batch.ProgressBars(args.paths)
    try:
        report = batch.render_batch(
            args.paths, args.out_dir, jobs=args.jobs, ext=ext,
            skip_existing=args.skip_existing, seed=seed, backend=args.backend,
            scheduler=args.scheduler, progress=bars and bars.finished,
            file_progress=bars and bars.file, **options)
    finally:
        if bars is not None:
            bars.close()
    if args.report is not None:
        with io.OutputFile(args.report) as out:
            out.file.write((json.dumps(json.loads(_json(report.as_dict())), indent=2)
                            + "\n").encode())
    print(_json(report.as_dict()) if args.json else batch.format_summary(report))
    for failed in report.failed:
        _say_error(f"error: {failed.error}")
    return 1 if report.failed else 0


def cmd_render(args: argparse.Namespace) -> int:
    """``audioquant render``: stream IN through the chain into OUT."""
    from audioquant.engine import render

    if args.out_dir is not None:
        return cmd_render_batch(args)
    spectra = None
    if args.plot is not None:
        from audioquant.engine import RenderSpectra
        from audioquant.plot import require_matplotlib

        require_matplotlib(args.plot)       # before the render: nothing written if not
        spectra = RenderSpectra()
    report = render(args.spec, spectra=spectra)
    out = _summary_file(args.output)
    if spectra is not None:
        _plot_render(args.plot, report, spectra)
    if args.json:
        print(_json(report.as_dict()), file=out)
        return 0
    seconds = report.frames / report.sample_rate if report.sample_rate else 0.0
    print(f"wrote {report.output}: {report.bits}-bit {report.format} ({report.subtype}), "
          f"{report.sample_rate} Hz, {report.channels} ch, {seconds:.2f} s", file=out)
    gain = f"gain {report.gain_db:+.2f} dB, " if report.gain_db else ""
    shaping = report.shaping
    if report.shaping_gain_db:
        shaping += (f" (ITU-R 468-weighted noise {report.shaping_gain_db:+.2f} dB against "
                    f"flat {report.dither}, from its filter)")
    if report.source_snr_db is not None:
        snr = f"SNR {report.source_snr_db:.2f} dB against the source (unweighted)"
    else:
        snr = (f"SNR {report.snr_db:.2f} dB of the requantizer alone (unweighted; the "
               "rate or channels changed, so not against the source)")
    clipped = f"clipped samples {sum(report.clips)}"
    if report.first_clip is not None:
        clipped += f" (the first at {report.first_clip / report.sample_rate:.3f} s)"
    print(f"{gain}dither {report.dither}, shaping {shaping}, seed {report.seed}", file=out)
    print(f"peak {report.peak_dbfs:.2f} dBFS; {snr}; {clipped}", file=out)
    if args.plot is not None:
        print(f"wrote plot {args.plot}", file=out)
    return 0


def _plot_render(path: str, report: object, spectra: object) -> None:
    """Draw ``render --plot``: the source, output and error spectra of the render."""
    from audioquant.plot import Curve, plot_spectra

    curves = spectra.curves()
    labels = {"source": f"source {report.input}" + (
                  f" ({report.gain_db:+.2f} dB)" if report.gain_db else ""),
              "output": f"output {report.output}",
              "error": "error: output - source"}
    snr = "" if report.source_snr_db is None else \
        f", SNR {report.source_snr_db:.2f} dB against the source"
    shaping = report.shaping if not report.shaping_gain_db else \
        f"{report.shaping} (468-weighted noise {report.shaping_gain_db:+.2f} dB)"
    plot_spectra(path, [Curve(labels[k], *curves[k]) for k in labels if k in curves],
                 f"render to {report.bits}-bit at {report.sample_rate} Hz, dither "
                 f"{report.dither}, shaping {shaping}{snr}")


def cmd_presets(args: argparse.Namespace) -> int:
    """``audioquant presets``: the built-in presets and their settings."""
    from audioquant.spec import builtin_presets

    presets = builtin_presets()
    if args.json:
        print(_json([{"name": p.name, "description": p.description,
                      "render": dict(p.options), "midi": dict(p.midi)}
                     for p in presets.values()]))
        return 0
    width = max(len(name) for name in presets)
    for preset in presets.values():
        print(f"{preset.name:<{width}}  {preset.description}")
        for settings, command, flags in ((preset.options, "render", preset.flags),
                                         (preset.midi, "midi quantize", preset.midi_flags)):
            if settings:
                print(f"{'':<{width}}  {command} {flags()}")
    print("`audioquant presets show NAME` prints one as TOML; `audioquant render --preset "
          "NAME|FILE.toml IN OUT`\nor `audioquant midi quantize --preset NAME|FILE.toml IN "
          "OUT` uses one (flags given as well\noverride it).")
    return 0


def cmd_presets_show(args: argparse.Namespace) -> int:
    """``audioquant presets show NAME|FILE.toml``: the preset as TOML."""
    print(args.loaded.to_toml(), end="")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """``audioquant analyze``: print measurements of FILE, streamed in blocks (with a
    progress bar on a terminal for files over a minute long)."""
    from audioquant import analysis
    from audioquant.analysis_stream import stream_file

    if args.plot is not None:
        from audioquant.plot import require_matplotlib

        require_matplotlib(args.plot)       # before the work
    bar = None
    progress = None
    if not args.quiet and sys.stderr is not None and sys.stderr.isatty():
        from tqdm import tqdm

        def progress(done: int, total: int | None) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, desc="analyze", unit="frame", unit_scale=True,
                           file=sys.stderr, leave=False, delay=1.0, dynamic_ncols=True)
            bar.update(done - bar.n)
    try:
        analyzer = stream_file(args.file, args.reference, progress=progress,
                               error_spectrum=args.plot is not None,
                               levels_only=args.levels)
        result = analyzer.result()
    finally:
        if bar is not None:
            bar.close()
    if args.plot is not None:
        _plot_analysis(args, analyzer, result)
    print(_json(result) if args.json else analysis.format_summary(result))
    if args.plot is not None and not args.json:
        print(f"wrote plot {args.plot}")
    return 0


def _plot_analysis(args: argparse.Namespace, analyzer: object, result: dict) -> None:
    """Draw ``analyze --plot``: FILE's spectrum, and the error's against --reference."""
    from audioquant.errors import ParameterError
    from audioquant.plot import Curve, plot_spectra

    spectra = analyzer.spectra()
    if "signal" not in spectra:
        raise ParameterError(f"cannot plot {args.file}: it has fewer than 2 frames")
    curves = [Curve(args.file, *spectra["signal"])]
    title = f"{args.file}: {result['sample_rate_hz']:g} Hz, {result['channels']} ch"
    if "error" in spectra:
        curves.append(Curve(f"error: {args.file} - {args.reference}", *spectra["error"]))
        title += f", SNR {result['snr_db']:.2f} dB against {args.reference}"
    plot_spectra(args.plot, curves, title)



def cmd_shapers(args: argparse.Namespace) -> int:
    """``audioquant shapers``: the catalog and the designed filters, with predicted noise
    figures per rate (``--plot``: their noise transfer functions, drawn)."""
    from audioquant.dsp import design, shaping
    from audioquant.processors import auto_shaper, weighted_noise_gain_db

    candidates = []
    for shaper in shaping.CATALOG:
        rates = list(shaper.rates) or ([args.rate] if args.rate else [44100, 48000, 96000])
        candidates += [(shaper, rate) for rate in rates if not args.rate or rate == args.rate]
    if not args.rate:
        candidates += [(design.design(rate), rate) for rate in design.COMMON_RATES]
    elif design.MIN_RATE <= args.rate <= design.MAX_RATE:
        candidates += [(design.design(args.rate, design.DEFAULT_TAPS, w), args.rate)
                       for w in design.WEIGHTINGS]
    rows = [{"name": shaper.name, "rate": rate, "taps": shaper.taps,
             "type": "IIR" if len(shaper.a) else "FIR",
             "total_noise_db": round(10 * math.log10(shaper.power_gain()), 2),
             "itu468_noise_db": round(weighted_noise_gain_db(shaper, rate), 2),
             "peak_gain_db": round(design.peak_gain_db(shaper, rate), 2),
             "source": shaper.source} for shaper, rate in candidates]
    if args.plot:
        from audioquant.plot import plot_ntf

        plot_ntf(args.plot, args.rate, [shaper for shaper, _ in candidates])
    if args.json:
        print(_json(rows))
        return 0
    print(f"{'name':<20} {'rate Hz':>8} {'taps':>4} {'type':>4} {'total dB':>9} "
          f"{'468 dB':>8} {'peak dB':>8}  source")
    for row in rows:
        print(f"{row['name']:<20} {row['rate']:>8} {row['taps']:>4} {row['type']:>4} "
              f"{row['total_noise_db']:>+9.2f} {row['itu468_noise_db']:>+8.2f} "
              f"{row['peak_gain_db']:>+8.2f}  {row['source']}")
    print("total dB: error power vs flat TPDF; 468 dB: ITU-R 468-weighted noise vs flat "
          "TPDF, 20 Hz-20 kHz (negative is quieter); peak dB: max |H(f)|.")
    print("designed[:N[:468|ath]] designs an N-tap filter (default 9) for any rate in "
          f"{design.MIN_RATE}..{design.MAX_RATE} Hz.")
    if args.plot:
        print(f"wrote {args.plot}")
    if args.rate:
        best = auto_shaper(args.rate)
        print(f"auto at {args.rate} Hz: {best.name if best else 'none'}")
    return 0


# -- running a command: exit status, one-line errors, and standard output -----------------


def _say_error(line: str) -> None:
    """One line on stderr; a stderr that cannot take it is not worth a traceback."""
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _silence_stdout() -> None:
    """Point stdout's file descriptor at /dev/null, so that nothing left in its buffer
    fails again when the interpreter flushes it at exit ("Exception ignored ...
    BrokenPipeError"), as the docs of Python's signal module advise. A stdout that is not
    a file descriptor (a test's capture) is left alone."""
    try:
        fd = sys.stdout.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        return
    try:
        os.dup2(devnull, fd)
    except OSError:
        pass
    finally:
        os.close(devnull)


def _emit(text: str) -> None:
    """Write ``text`` to stdout and flush it; characters stdout's encoding cannot show are
    written as backslash escapes (``\\xe9``) instead of failing."""
    stdout = sys.stdout
    if stdout is None:  # started with stdout closed
        return
    if text:
        try:
            stdout.write(text)
        except UnicodeEncodeError:  # the whole text is encoded before any of it is written
            encoding = getattr(stdout, "encoding", None) or "utf-8"
            stdout.write(text.encode(encoding, "backslashreplace").decode(encoding))
    stdout.flush()


def _deliver(text: str, status: int, product: bool) -> int:
    """Print what a finished command wrote to stdout; return the exit status.

    A closed pipe is not an error (the reader has what it wanted). Any other failure to
    write is an error when the printed text is the product (``analyze``, ``shapers``),
    and a warning when it only describes an output file already in place (``render``).
    """
    try:
        _emit(text)
    except BrokenPipeError:
        _silence_stdout()
    except (OSError, ValueError) as exc:  # ValueError: stdout closed by someone
        _silence_stdout()
        reason = getattr(exc, "strerror", None) or str(exc)
        if product or status:
            _say_error(f"error: cannot write to standard output: {reason}")
            return status or 1
        _say_error(f"warning: the output is written, but its summary could not be "
                   f"printed: {reason}")
    return status


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else 1


def _writes_stdout(args: argparse.Namespace) -> bool:
    """Whether the command's output file is standard output itself."""
    output = getattr(args, "output", None) if getattr(args, "writes_file", False) else None
    return isinstance(output, str) and _summary_file(output) is sys.stderr


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse and check the arguments; raises SystemExit(2) on bad usage."""
    args = build_parser().parse_args(argv)
    check = getattr(args, "check", None)
    if check is not None:
        from audioquant.errors import AudioquantError

        try:
            check(args)
        except UsageError as exc:
            _usage_error(args.usage_prog, str(exc))
        except AudioquantError as exc:  # a file the options name (a preset) cannot be read
            if args.debug:
                raise
            _say_error(f"error: {exc}")
            raise SystemExit(1) from None
    return args


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; our errors become one line and status 1."""
    from audioquant.errors import AudioquantError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        # The writers have removed their temporary outputs; one made just as Ctrl-C came
        # is only in atomic's list.
        from audioquant.atomic import remove_pending

        remove_pending()
        _say_error("error: interrupted")
        return 128 + 2  # as if killed by SIGINT, like SIGTERM (143) and SIGHUP (129)
    except BrokenPipeError:
        # The reader of an output stream went away (`audioquant render x.wav - | head`).
        _silence_stdout()
        return 0
    except Exception as exc:
        if args.debug or not isinstance(exc, AudioquantError):  # (MIDI errors are ours too)
            raise
        if _closed_pipe(exc):  # our "cannot write -: Broken pipe": the same as above
            _silence_stdout()
            return 0
        _say_error(f"error: {exc}")
        return 1


def _closed_pipe(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised while handling, a write into a closed pipe."""
    import errno

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, BrokenPipeError) or (
                isinstance(exc, OSError) and exc.errno == errno.EPIPE):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default ``sys.argv[1:]``); return the exit status.

    What the command prints goes to a buffer and is written once the command has
    finished (see the module docstring); the real stdout is untouched while the command
    runs only when the command writes its output file there (``render IN -``).
    """
    real_stdout = sys.stdout
    captured = StringIO()
    sys.stdout = captured
    try:
        args = _parse(argv)
    except SystemExit as exc:  # --help, --version, or bad usage (already on stderr)
        sys.stdout = real_stdout
        return _deliver(captured.getvalue(), _exit_code(exc), product=True)
    except KeyboardInterrupt:  # Ctrl-C while the options are checked: nothing written yet
        sys.stdout = real_stdout
        _say_error("error: interrupted")
        return 128 + 2
    finally:
        sys.stdout = real_stdout
    if _writes_stdout(args):
        return _run(args)
    sys.stdout = captured
    try:
        status = _run(args)
    except BaseException:  # a bug (or --debug): what was printed comes before the traceback
        sys.stdout = real_stdout
        _deliver(captured.getvalue(), 1, product=True)
        raise
    finally:
        sys.stdout = real_stdout
    return _deliver(captured.getvalue(), status,
                    product=not getattr(args, "writes_file", False))


def run() -> None:
    """The ``audioquant`` program (console script and ``python -m audioquant``).

    Once the command is done, every object is moved out of the garbage collector's sight
    (``gc.freeze``): the interpreter's teardown then skips tracing numba's large object
    graph again, which took 0.1-0.2 s of a render's wall time. Nothing is left to collect
    that matters: the process is about to end.
    """
    import gc

    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    run()
