"""The ``audioquant`` command line: render, analyze, shapers, midi.

Exit status: 0 on success, 2 on bad usage, 1 on bad input (one ``error: ...`` line on
stderr, no traceback unless ``--debug``). Heavy modules are imported inside each command,
so ``render`` does not pay for scipy.signal or mido at start-up.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {self.prog}: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def _int_in(name: str, low: int, high: int | None = None):
    """An argparse type: an integer in low..high (no upper bound when high is None)."""
    def parse(text: str) -> int:
        allowed = f"in {low}..{high}" if high is not None else f"at least {low}"
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be an integer {allowed}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{name} must be {allowed}, got {value}")
        return value
    return parse


def _seed(text: str) -> int | None:
    if text == "random":
        return None
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"seed must be an integer or 'random', got {text!r}") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"seed must be in 0..2**64-1, got {value}")
    return value


def _shaping(text: str) -> str:
    from audioquant.errors import ParameterError
    from audioquant.processors import check_shaping

    try:
        check_shaping(text)
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


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
    parser = _Parser(prog="audioquant", description="Render audio at reduced bit depth, "
                     "quantize MIDI, and measure the result.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("render", help="render an audio file at reduced bit depth")
    r.add_argument("input", help="input audio file (anything libsndfile reads)")
    r.add_argument("output", help="output file; WAV, AIFF or FLAC by extension")
    r.add_argument("--bits", type=_int_in("bits", 1, 32), default=16,
                   help="target depth 1..32 (default 16)")
    r.add_argument("--dither", choices=("none", "rpdf", "tpdf", "hp-tpdf"), default="tpdf",
                   help="dither (default tpdf: 2 LSB peak to peak)")
    r.add_argument("--shaping", type=_shaping, default="none",
                   help="noise shaper: a catalog name, designed[:N[:468|ath]], 'auto' or "
                   "'none' (default; see `audioquant shapers`)")
    r.add_argument("--seed", type=_seed, default=0, help="dither seed, or 'random' (default 0)")
    r.add_argument("--rate", type=int, metavar="HZ",
                   help="resample to HZ (band-limited) before requantizing")
    r.add_argument("--quality", default="high",
                   help="resampler quality: quick, low, medium, high, very-high (default high)")
    r.add_argument("--hold-rate", type=int, metavar="HZ",
                   help="sample-and-hold rate reduction to HZ, no filter (lo-fi)")
    r.add_argument("--no-auto-blank", dest="auto_blank", action="store_false",
                   help="dither every sample, even runs that are already exact")
    r.add_argument("--block", type=_int_in("block", 1), default=None,
                   help="frames per processing block (default 2**19 samples' worth; the "
                   "output is identical for any size)")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.set_defaults(func=cmd_render)

    a = sub.add_parser("analyze", help="measure levels, noise, SINAD, SNR of an audio file")
    a.add_argument("file")
    a.add_argument("--reference", help="reference file for SNR (same length and rate)")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(func=cmd_analyze)

    s = sub.add_parser("shapers", help="list the noise-shaping filters and their rates")
    s.add_argument("--rate", type=_int_in("rate", 1), help="only filters usable at this rate (Hz)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.add_argument("--plot", metavar="FILE.png",
                   help="with --rate: draw |H(f)|^2 of the filters against the weighting "
                        "curves (needs matplotlib: pip install 'audioquant[plot]')")
    s.set_defaults(func=cmd_shapers)

    try:
        from audioquant import midi_cli
    except ImportError:  # pragma: no cover - while the MIDI commands are being built
        pass
    else:
        midi_cli.add_commands(sub)
    return parser


def cmd_render(args: argparse.Namespace) -> int:
    """``audioquant render``: stream IN through the chain into OUT."""
    from audioquant.engine import render

    report = render(args.input, args.output, bits=args.bits, dither=args.dither,
                    shaping=args.shaping, seed=args.seed, auto_blank=args.auto_blank,
                    rate=args.rate, quality=args.quality, hold_rate=args.hold_rate,
                    block_size=args.block)
    if args.json:
        print(_json(report.as_dict()))
        return 0
    seconds = report.frames / report.sample_rate if report.sample_rate else 0.0
    print(f"wrote {report.output}: {report.bits}-bit {report.format} ({report.subtype}), "
          f"{report.sample_rate} Hz, {report.channels} ch, {seconds:.2f} s")
    print(f"dither {report.dither}, shaping {report.shaping}, seed {report.seed}; "
          f"SNR {report.snr_db:.2f} dB vs input; clipped samples {sum(report.clips)}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """``audioquant analyze``: print measurements of FILE."""
    from audioquant import analysis, io

    audio, rate = io.read(args.file, dtype="float64")
    reference = None
    if args.reference:
        reference, ref_rate = io.read(args.reference, dtype="float64")
        if ref_rate != rate or reference.shape != audio.shape:
            from audioquant.errors import ParameterError

            raise ParameterError(
                f"reference {args.reference} ({reference.shape[0]} ch, "
                f"{reference.shape[1]} frames at {ref_rate} Hz) does not match "
                f"{args.file} ({audio.shape[0]} ch, {audio.shape[1]} frames at {rate} Hz)")
    result = analysis.summary(audio, rate, reference=reference)
    print(_json(result) if args.json else analysis.format_summary(result))
    return 0


def cmd_shapers(args: argparse.Namespace) -> int:
    """``audioquant shapers``: the catalog and the designed filters, with predicted noise
    figures per rate (``--plot``: their noise transfer functions, drawn)."""
    from audioquant.processors import auto_shaper, weighted_noise_gain_db
    from dsp import design, shaping

    if args.plot and not args.rate:
        from audioquant.errors import ParameterError

        raise ParameterError("--plot needs --rate: the filters' responses depend on it")
    candidates = []
    for shaper in shaping.CATALOG:
        rates = list(shaper.rates) or ([args.rate] if args.rate else [44100, 48000, 96000])
        candidates += [(shaper, rate) for rate in rates if not args.rate or rate == args.rate]
    if not args.rate:
        candidates += [(design.design(rate), rate) for rate in design.COMMON_RATES]
    elif args.rate >= design.MIN_RATE:
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
    print("designed[:N[:468|ath]] designs an N-tap filter (default 9) for any rate >= "
          f"{design.MIN_RATE} Hz.")
    if args.plot:
        print(f"wrote {args.plot}")
    if args.rate:
        best = auto_shaper(args.rate)
        print(f"auto at {args.rate} Hz: {best.name if best else 'none'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from audioquant.errors import AudioquantError

    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 1
    except BrokenPipeError:
        # The reader went away (`audioquant ... | head`): stop quietly, as the docs of
        # Python's signal module advise, with stdout pointed at /dev/null for the exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        midi = sys.modules.get("midi")  # a MIDI error can only come once midi is loaded
        ours = isinstance(exc, AudioquantError) or (
            midi is not None and isinstance(exc, getattr(midi, "MidiError", ())))
        if args.debug or not ours:
            raise
        sys.stderr.write(f"error: {exc}\n")
        return 1


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
