"""Bad arguments to every command: the exit status, one ``error:`` line, no traceback, and
nothing written. And the rule for standard output: printing cannot undo finished work.

The rule (see ``audioquant.cli``): exit 2 for a malformed or out-of-range option value or a
combination of options that can do nothing, caught before any file is read; exit 1 for a
bad input file, a failed write, or a value only the input shows to be wrong; exit 0 when
the reader of standard output goes away early.

Most cases run ``audioquant.cli.main`` in-process (fast); a few run ``python -m
audioquant`` to see what a shell sees: the real exit status, stderr, and the
interpreter's own flush of stdout at exit.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioquant.cli import main

ROOT = Path(__file__).resolve().parents[1]
MIDI_SAMPLE = ROOT / "samples" / "humanized.mid"  # tracks 'Tempo', 'Piano', 'Drums'

# {in} is an input of the right kind, {out} an output path in the same folder.
R = ["render", "{in}.wav", "{out}.wav"]
Q = ["midi", "quantize", "{in}.mid", "{out}.mid"]
S = ["midi", "stats", "{in}.mid"]

USAGE_ERRORS = [
    # -- audioquant, no command -------------------------------------------------------
    ([], "the following arguments are required: command"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["--bogus"], "the following arguments are required: command"),
    (["midi"], "the following arguments are required: {quantize,stats,beats,tempo}"),
    (["midi", "bogus"], "invalid choice: 'bogus'"),
    # -- render -------------------------------------------------------------------------
    (["render", "{in}.wav"], "the following arguments are required: output"),
    ([*R, "--bogus"], "unrecognized arguments: --bogus"),
    ([*R, "--bits"], "argument --bits: expected one argument"),
    ([*R, "--bits", "0"], "--bits must be in 1..32, got 0"),
    ([*R, "--bits", "33"], "--bits must be in 1..32, got 33"),
    ([*R, "--bits", "16.5"], "--bits must be an integer in 1..32, got '16.5'"),
    ([*R, "--dither", "gauss"], "argument --dither: invalid choice: 'gauss'"),
    ([*R, "--shaping", "bogus"], "--shaping: unknown shaping filter 'bogus'; choose one of"),
    ([*R, "--shaping", "designed:0"], "--shaping: designed shaper taps must be in 1.."),
    ([*R, "--seed", "x"], "--seed must be an integer or 'random', got 'x'"),
    ([*R, "--seed", "-1"], "--seed must be in 0..2**64-1, got -1"),
    ([*R, "--seed", str(2**64)], f"--seed must be in 0..2**64-1, got {2**64}"),
    ([*R, "--rate", "0"], "--rate must be in 8000..384000 Hz, got 0"),
    ([*R, "--rate", "400000"], "--rate must be in 8000..384000 Hz, got 400000"),
    ([*R, "--rate", "44.1k"], "--rate must be an integer in 8000..384000 Hz, got '44.1k'"),
    ([*R, "--rate", "nan"], "--rate must be an integer in 8000..384000 Hz, got nan"),
    ([*R, "--rate", "48000", "--quality", "best"],
     "--quality must be one of quick, low, medium, high, very-high, got 'best'"),
    ([*R, "--quality", "high"], "--quality needs --rate"),
    ([*R, "--quality", "low", "--hold-rate", "8000"], "--quality needs --rate"),
    ([*R, "--hold-rate", "0"], "--hold-rate must be in 1..384000 Hz, got 0"),
    ([*R, "--hold-rate", "1e9"], "--hold-rate must be in 1..384000 Hz, got 1000000000"),
    ([*R, "--hold-rate", "8000.5"],
     "--hold-rate must be an integer in 1..384000 Hz, got 8000.5"),
    ([*R, "--block", "0"], "--block must be at least 1, got 0"),
    ([*R, "--block", "x"], "--block must be an integer at least 1, got 'x'"),
    # -- analyze ------------------------------------------------------------------------
    (["analyze"], "the following arguments are required: FILE"),
    (["analyze", "{in}.wav", "--reference"], "argument --reference: expected one argument"),
    (["analyze", "{in}.wav", "--bits", "16"], "unrecognized arguments: --bits 16"),
    # -- shapers ------------------------------------------------------------------------
    (["shapers", "--rate", "0"], "--rate must be in 1..384000 Hz, got 0"),
    (["shapers", "--rate", "1000000000"], "--rate must be in 1..384000 Hz, got 1000000000"),
    (["shapers", "--rate", "x"], "--rate must be an integer in 1..384000 Hz, got 'x'"),
    (["shapers", "--plot", "{out}.png"], "--plot needs --rate"),
    (["shapers", "extra"], "unrecognized arguments: extra"),
    # -- midi quantize ------------------------------------------------------------------
    (["midi", "quantize", "{in}.mid"], "the following arguments are required: OUT"),
    ([*Q, "--grid", "1/0"], "--grid must be a note value 1/1, 1/2, 1/4 ... 1/128"),
    ([*Q, "--grid", "1/3"], "--grid must be a note value"),
    ([*Q, "--grid", "abc"], "--grid must be a note value"),
    ([*Q, "--grid", "1/8T", "--dotted"], "--grid 1/8T is already a triplet value"),
    ([*Q, "--grid", "1/8.", "--triplet"], "--grid 1/8. is already a dotted value"),
    ([*Q, "--triplet", "--dotted"], "argument --dotted: not allowed with argument --triplet"),
    ([*Q, "--ends", "--lengths"], "argument --lengths: not allowed with argument --ends"),
    ([*Q, "--strength", "nan"], "--strength must be a finite number, got nan"),
    ([*Q, "--strength", "inf"], "--strength must be a finite number, got inf"),
    ([*Q, "--strength", "150"], "--strength must be in 0..100, got 150"),
    ([*Q, "--strength", "-1"], "--strength must be in 0..100, got -1"),
    ([*Q, "--strength", "abc"], "--strength must be a number, got 'abc'"),
    ([*Q, "--swing", "200"], "--swing must be in 50..75, got 200"),
    ([*Q, "--swing", "49"], "--swing must be in 50..75, got 49"),
    ([*Q, "--exclude-within", "101"], "--exclude-within must be in 0..100, got 101"),
    ([*Q, "--range", "-5"], "--range must be in 0..100, got -5"),
    ([*Q, "--offset", "200"], "--offset must be in -100..100, got 200"),
    ([*Q, "--offset"], "argument --offset: expected one argument"),
    # combinations that can move no note
    ([*Q, "--exclude-within", "60", "--range", "40"], "--exclude-within 60 is not below "
                                                      "--range 40"),
    ([*Q, "--exclude-within", "40", "--range", "40"], "--exclude-within 40 is not below "
                                                      "--range 40"),
    ([*Q, "--range", "0"], "--exclude-within 0 is not below --range 0"),
    ([*Q, "--exclude-within", "50"], "at --swing 50 no note is more than 50 % of a step"),
    ([*Q, "--exclude-within", "60", "--swing", "58"],
     "at --swing 58 no note is more than 58 % of a step"),
    ([*Q, "--channels", "17"], "--channels must be in 1..16, got 17"),
    ([*Q, "--channels", "1", "0"], "--channels must be in 1..16, got 0"),
    ([*Q, "--channels", "x"], "--channels must be whole numbers in 1..16, got 'x'"),
    ([*Q, "--channels"], "argument --channels: expected at least one argument"),
    ([*Q, "--pitches", "90-10"], "--pitches must be LO-HI with 0 <= LO <= HI <= 127, "
                                 "got '90-10'"),
    ([*Q, "--pitches", "128"], "--pitches must be LO-HI with 0 <= LO <= HI <= 127"),
    ([*Q, "--pitches", "x"], "--pitches must be LO-HI"),
    ([*Q, "--tracks", "-1"], "--tracks must be >= 0, got -1"),
    ([*Q, "--tracks", ""], "--tracks must be track numbers from 0 or track names, got ''"),
    ([*Q, "--report"], "argument --report: expected one argument"),
    # -- midi stats ---------------------------------------------------------------------
    (["midi", "stats"], "the following arguments are required: IN"),
    ([*S, "--grid", "1/0"], "--grid must be a note value"),
    ([*S, "--grid", "1/8.", "--triplet"], "--grid 1/8. is already a dotted value"),
    ([*S, "--swing", "80"], "--swing must be in 50..75, got 80"),
    ([*S, "--swing", "nan"], "--swing must be a finite number, got nan"),
    ([*S, "--strength", "50"], "unrecognized arguments: --strength 50"),
]

# Values that are well formed but that only the input shows to be wrong: exit 1.
INPUT_ERRORS = [
    ([*Q, "--tracks", "9"], "tracks must be in 0..2, got 9"),
    ([*Q, "--tracks", "Bass"], "no track named 'Bass'"),
    (["analyze", "{in}.wav", "--reference", "{in}-short.wav"], "does not match"),
    ([*R, "--shaping", "lipshitz"], "not designed for 48000 Hz"),
    (["render", "{in}-missing.wav", "{out}.wav"], "{in}-missing.wav"),
    (["midi", "stats", "{in}-missing.mid"], "{in}-missing.mid"),
]


def _inputs(folder: Path) -> None:
    """in.wav (48 kHz stereo), in-short.wav, in.mid in ``folder``."""
    t = np.arange(4800) / 48000
    x = 0.25 * np.sin(2 * np.pi * 997 * t)
    sf.write(str(folder / "in.wav"), np.stack([x, -x], axis=1), 48000, subtype="FLOAT")
    sf.write(str(folder / "in-short.wav"), np.zeros((10, 2)), 48000, subtype="FLOAT")
    (folder / "in.mid").write_bytes(MIDI_SAMPLE.read_bytes())


def _argv(args: list[str], folder: Path, stem: str = "in") -> list[str]:
    return [a.format(**{"in": str(folder / stem), "out": str(folder / "out")}) for a in args]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _one_error_line(err: str, message: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS,
                         ids=[" ".join(a) or "(none)" for a, _ in USAGE_ERRORS])
def test_bad_usage_exits_2_and_writes_nothing(tmp_path, capsys, args, message):
    _inputs(tmp_path)
    before = _files(tmp_path)
    assert main(_argv(args, tmp_path)) == 2
    out, err = capsys.readouterr()
    _one_error_line(err, message)
    assert out == ""
    assert _files(tmp_path) == before               # no output, inputs untouched


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS,
                         ids=[" ".join(a) or "(none)" for a, _ in USAGE_ERRORS])
def test_bad_usage_is_found_before_any_file_is_read(tmp_path, capsys, args, message):
    # the same arguments with inputs that do not exist: still the usage error, exit 2
    assert main(_argv(args, tmp_path, stem="missing")) == 2
    _one_error_line(capsys.readouterr().err, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "message"), INPUT_ERRORS,
                         ids=[" ".join(a) for a, _ in INPUT_ERRORS])
def test_what_only_the_input_refutes_exits_1(tmp_path, capsys, args, message):
    _inputs(tmp_path)
    before = _files(tmp_path)
    assert main(_argv(args, tmp_path)) == 1
    _one_error_line(capsys.readouterr().err, message.format(**{"in": str(tmp_path / "in")}))
    assert _files(tmp_path) == before


@pytest.mark.parametrize("command", [["render"], ["analyze"], ["shapers"], ["midi"],
                                     ["midi", "quantize"], ["midi", "stats"],
                                     ["midi", "beats"], ["midi", "tempo"], []])
def test_every_help_has_a_description_and_an_example(capsys, command):
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    usage, description, *_ = text.split("\n\n")
    assert usage.startswith(f"usage: {' '.join(['audioquant', *command])}")
    assert len(description.split()) >= 5 and not description.startswith(("positional",
                                                                         "options"))
    examples = text[text.index("\nexamples:\n"):].splitlines()[2:]
    assert examples and all(line.strip().startswith("audioquant ") for line in examples
                            if line.strip() and not line.startswith("exit status"))
    assert f"audioquant {' '.join(command)}".strip() in text.split("examples:")[1]


def test_version(capsys):
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"audioquant {version('audioquant')}\n"


# -- standard output: printing cannot undo finished work --------------------------------


class _FullStdout:
    """A stdout whose writes fail as on ``> /dev/full``."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        pass


@pytest.mark.parametrize(("argv", "status", "line"), [
    # the product is the file, in place: the summary's loss is a warning, exit 0
    (R, 0, "warning: the output is written, but its summary could not be printed: "
           "No space left on device"),
    (Q, 0, "warning: the output is written, but its summary could not be printed"),
    # the product is the printed text: its loss is an error, exit 1
    (["analyze", "{in}.wav"], 1, "error: cannot write to standard output: No space left"),
    (["shapers"], 1, "error: cannot write to standard output: No space left"),
    (S, 1, "error: cannot write to standard output: No space left"),
])
def test_a_full_stdout_after_the_work_is_done(tmp_path, capsys, monkeypatch, argv, status,
                                              line):
    _inputs(tmp_path)
    monkeypatch.setattr(sys, "stdout", _FullStdout())
    assert main(_argv(argv, tmp_path)) == status
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1, err
    outputs = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out"))
    assert outputs == ([Path(argv[-1]).name.format(out="out")] if argv in (R, Q) else [])


def test_a_closed_output_pipe_is_not_a_failure(tmp_path, capsys, monkeypatch):
    # our own "cannot write -: Broken pipe" (the reader of `render IN - | head` left) is
    # exit 0 with nothing on stderr, like a BrokenPipeError
    import audioquant.engine
    from audioquant.errors import AudioFileError

    def render(*args, **kwargs):
        try:
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")
        except OSError as exc:
            raise AudioFileError(f"cannot write -: {exc.strerror}") from None

    monkeypatch.setattr(audioquant.engine, "render", render)
    _inputs(tmp_path)
    assert main(["render", str(tmp_path / "in.wav"), str(tmp_path / "out.wav")]) == 0
    assert capsys.readouterr() == ("", "")


# -- in a subprocess: what a shell sees --------------------------------------------------


def _cli(*argv, stdout=subprocess.PIPE, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audioquant", *map(str, argv)],
                          stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT, timeout=120,
                          env={**os.environ, **(env or {})})


def _closed_pipe_run(*argv) -> subprocess.CompletedProcess:
    """Run with stdout a pipe whose reader is already gone (`| head -c0`)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return _cli(*argv, stdout=write)
    finally:
        os.close(write)


@pytest.mark.parametrize(("args", "status", "message"), [
    ([*R, "--hold-rate", "0"], 2, "--hold-rate must be in 1..384000 Hz, got 0"),
    ([*R, "--quality", "very-high"], 2, "--quality needs --rate"),
    ([*Q, "--grid", "1/0"], 2, "--grid must be a note value"),
    ([*Q, "--exclude-within", "60", "--range", "40"], 2, "is not below --range 40"),
    (["shapers", "--rate", "1000000000"], 2, "--rate must be in 1..384000 Hz"),
    (["analyze"], 2, "required: FILE"),
    ([*S, "--swing", "200"], 2, "--swing must be in 50..75, got 200"),
    (["render", "{in}-missing.wav", "{out}.wav"], 1, "in-missing.wav"),
])
def test_exit_status_in_a_subprocess(tmp_path, args, status, message):
    _inputs(tmp_path)
    before = _files(tmp_path)
    r = _cli(*_argv(args, tmp_path))
    assert r.returncode == status
    _one_error_line(r.stderr.decode(), message)
    assert r.stdout == b""
    assert _files(tmp_path) == before


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_render_to_a_full_stdout_keeps_its_output_and_exits_0(tmp_path):
    _inputs(tmp_path)
    with open("/dev/full", "w") as full:
        r = _cli(*_argv(R, tmp_path), stdout=full)
    assert r.returncode == 0
    assert r.stderr.decode().startswith("warning: the output is written")
    assert r.stderr.count(b"\n") == 1
    assert sf.info(str(tmp_path / "out.wav")).frames == 4800


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_shapers_to_a_full_stdout_is_an_error(tmp_path):
    with open("/dev/full", "w") as full:
        r = _cli("shapers", stdout=full)
    assert r.returncode == 1
    assert r.stderr == b"error: cannot write to standard output: No space left on device\n"


@pytest.mark.parametrize("argv", [R, ["shapers"], S])
def test_a_closed_stdout_pipe_exits_0_quietly(tmp_path, argv):
    _inputs(tmp_path)
    r = _closed_pipe_run(*_argv(argv, tmp_path))
    assert r.returncode == 0
    assert r.stderr == b""                        # not even "Exception ignored ..."
    if argv is R:
        assert sf.info(str(tmp_path / "out.wav")).frames == 4800


def test_an_ascii_stdout_escapes_non_ascii_names(tmp_path):
    _inputs(tmp_path)
    src, out = tmp_path / "entrée.wav", tmp_path / "sortie-ö.wav"
    (tmp_path / "in.wav").rename(src)
    r = _cli("render", src, out, env={"PYTHONIOENCODING": "ascii"})
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""
    assert b"sortie-\\xf6.wav" in r.stdout
    assert sf.info(str(out)).frames == 4800
    j = _cli("render", src, out, "--json", env={"PYTHONIOENCODING": "ascii"})
    assert j.returncode == 0 and json.loads(j.stdout)["output"] == str(out)
    # an error naming a non-ASCII file is escaped on stderr too: still one line
    e = _cli("render", tmp_path / "absente-é.wav", out, env={"PYTHONIOENCODING": "ascii"})
    assert e.returncode == 1
    _one_error_line(e.stderr.decode("ascii"), "absente-\\xe9.wav")
