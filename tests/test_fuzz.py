"""Fuzzing: byte mutations of a valid small WAV and a valid small MIDI file, through the CLI.

Each example flips bits, flips, sets, inserts or deletes bytes, overwrites a 32-bit field with an
interesting number, or truncates the file, then runs ``audioquant render`` (WAV) or
``audioquant midi stats`` and ``midi quantize`` (MIDI) in-process through
``audioquant.cli.main``, and checks the promises of the CLI contract:

- no exception escapes ``cli.main`` (ours become exit 1 and one ``error:`` line; anything
  else is a traceback), and no RuntimeWarning is printed;
- on error: exit 1, one ``error: ...`` line, and nothing in the output folder (no output,
  no temporary file);
- on success: exactly the output file; audio holds the frames, channels and rate that
  libsndfile reads from the mutated input, every PCM code within the depth (its low
  container bits zero) and within the dither's error of the input; MIDI output is read
  back by us, and by mido where mido reads the input as we do, with the same notes;
- the input's bytes are never changed.

The budget is fixed (``derandomize=True``: the same examples on every run, about half a
minute each here). ``bench/fuzz_long.py`` runs the same checks on many more mutations and
the findings of its runs are pinned below as regression tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import struct
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioquant import cli
from tests import corpus

# ----------------------------------------------------------------------------- seeds


def seed_wav() -> bytes:
    """200 frames of 16-bit stereo WAV with a LIST/INFO tag: 876 bytes."""
    info = b"INFO" + corpus.chunk(b"INAM", b"fuzz\0")
    return corpus.riff(corpus.fmt_chunk(2, 44100, 16), corpus.chunk(b"LIST", info),
                       corpus.chunk(b"data", corpus.pcm16(200, 2)))


def seed_wav_float() -> bytes:
    """100 frames of float32 mono WAVE_FORMAT_EXTENSIBLE, written by libsndfile."""
    return corpus.sf_bytes(100, 1, fmt="WAVEX", subtype="FLOAT")


def seed_midi() -> bytes:
    """A type-1 file: tempo track; a track with running status, velocity-0 note-offs,
    a controller, a sysex and a text event."""
    notes = b"".join(corpus.vlq(d) + bytes(b) for d, b in [
        (0, (0x90, 60, 90)), (110, (60, 0)), (10, (64, 80)), (113, (64, 0)),
        (0, (0xB0, 64, 127)), (7, (0xF0, 3, 0x41, 0x10, 0xF7)), (0, (0x91, 67, 70)),
        (0, (0xFF, 0x01, 2, 0x68, 0x69)), (233, (0x81, 67, 0)), (5, (0x90, 72, 99)),
        (470, (0x80, 72, 64))])
    return corpus.smf(corpus.mtrk(corpus.TEMPO_TRACK), corpus.mtrk(notes))


SEEDS: dict[str, Callable[[], bytes]] = {"wav": seed_wav, "wav_float": seed_wav_float,
                                         "midi": seed_midi}

# ------------------------------------------------------------------------- mutations

_INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0xF0, 0xF7, 0xF8)
_INTERESTING_U32 = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF,
                    0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)


def mutate(data: bytes, ops: list[tuple]) -> bytes:
    """Apply mutation ``ops`` in order; positions wrap around the current length."""
    buf = bytearray(data)
    for op, pos, arg in ops:
        n = len(buf)
        if op == "truncate":
            del buf[pos % (n + 1):]
            continue
        if n == 0:
            buf += bytes(arg) if op == "insert" else b""
            continue
        i = pos % n
        if op == "flip":
            buf[i] ^= arg
        elif op == "bit":
            buf[i] ^= 1 << arg
        elif op == "set":
            buf[i] = arg
        elif op == "insert":
            buf[i:i] = bytes(arg)
        elif op == "delete":
            del buf[i:i + arg]
        elif op == "u32le":
            buf[i:i + 4] = struct.pack("<I", arg)
        elif op == "u32be":
            buf[i:i + 4] = struct.pack(">I", arg)
    return bytes(buf)


# A position: anywhere, or (more often than chance) in the first 64 bytes (headers).
_pos = st.one_of(st.integers(0, 63), st.integers(0, 1 << 16))
_op = st.one_of(
    st.tuples(st.just("bit"), _pos, st.integers(0, 7)),
    st.tuples(st.just("flip"), _pos, st.integers(1, 255)),
    st.tuples(st.just("set"), _pos, st.sampled_from(_INTERESTING_BYTES)),
    st.tuples(st.just("insert"), _pos, st.lists(st.integers(0, 255), min_size=1,
                                                max_size=8)),
    st.tuples(st.just("delete"), _pos, st.integers(1, 16)),
    st.tuples(st.just("u32le"), _pos, st.sampled_from(_INTERESTING_U32)),
    st.tuples(st.just("u32be"), _pos, st.sampled_from(_INTERESTING_U32)),
    st.tuples(st.just("truncate"), _pos, st.just(0)),
)
mutations = st.lists(_op, min_size=1, max_size=4)

# ---------------------------------------------------------------------------- checks


def _run(argv: list[str]) -> tuple[int, str, str]:
    """``cli.main(argv)`` in-process: (status, stdout, stderr). Any exception escaping it
    (a traceback) and any RuntimeWarning propagate as failures."""
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else -1
    return code, out.getvalue(), err.getvalue()


def _check_error(label: str, code: int, err: str, out_dir: Path) -> None:
    lines = err.strip().splitlines()
    assert code == 1, f"{label}: exit {code} (stderr {err!r})"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{label}: {err!r}"
    assert os.listdir(out_dir) == [], f"{label}: left {os.listdir(out_dir)}"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def _folders(suffix: str, data: bytes):
    top = Path(tempfile.mkdtemp(prefix="aq-fuzz-"))
    try:
        (top / "in").mkdir()
        (top / "out").mkdir()
        src = top / "in" / f"input{suffix}"
        src.write_bytes(data)
        yield src, top / "out"
    finally:
        shutil.rmtree(top, ignore_errors=True)


#: Option sets the fuzzing renders with, besides the plain render: the resampler, the
#: sample-and-hold, noise shaping and odd block sizes see odd files too.
OPTIONS: tuple[tuple[str, ...], ...] = (
    (), ("--rate", "48000"), ("--rate", "8000", "--quality", "quick"),
    ("--hold-rate", "11025"), ("--shaping", "auto"), ("--shaping", "designed:5"),
    ("--block", "7"), ("--dither", "none"), ("--dither", "hp-tpdf", "--block", "1"),
)


def check_render(data: bytes, bits: int = 16, suffix: str = ".wav",
                 options: tuple[str, ...] = ()) -> str:
    """Render mutated audio bytes; assert the CLI contract. Returns 'ok' or 'refused'.

    ``options``: more render flags (one of OPTIONS). The output is compared sample for
    sample with the input only for the plain requantizer (no resampling, no shaping,
    which moves the error by more than 1.5 LSB)."""
    with _folders(suffix, data) as (src, out_dir):
        before = _digest(src)
        out = out_dir / "out.wav"
        code, _, err = _run(["render", str(src), str(out), "--bits", str(bits), *options])
        assert _digest(src) == before, "the input was modified"
        if code != 0:
            _check_error("render", code, err, out_dir)
            return "refused"
        assert err == "", err
        assert os.listdir(out_dir) == ["out.wav"]
        got, out_rate = sf.read(str(out), dtype="float64", always_2d=True)
        try:
            want, rate = sf.read(str(src), dtype="float64", always_2d=True)
        except sf.LibsndfileError:
            # libsndfile cannot read a FLAC file of 0 frames at all; anything else it
            # cannot read, we must not have rendered.
            flac = corpus.flac_streaminfo(data)
            assert flac and flac["complete"] and not flac["audio_bytes"], \
                "rendered an input libsndfile cannot read"
            assert got.shape[0] == 0
            return "ok"
        codes, _ = sf.read(str(out), dtype="int32", always_2d=True)
        # The N-bit code sits in the top bits of the 32-bit value libsndfile gives back.
        assert not np.any(codes & ((1 << (32 - bits)) - 1)), "codes finer than the depth"
        assert got.shape[1] == want.shape[1], "channels changed"
        assert np.isfinite(want).all(), "a non-finite input was rendered"
        if "--rate" in options:
            # soxr's length: the input's duration at the new rate, to the nearest frame
            new_rate = int(options[options.index("--rate") + 1])
            assert out_rate == new_rate
            assert abs(got.shape[0] - want.shape[0] * new_rate / rate) <= 1, \
                (got.shape, want.shape, rate)
            return "ok"
        assert out_rate == rate and got.shape == want.shape, (got.shape, want.shape)
        if any(o in options for o in ("--shaping", "--hold-rate")):
            return "ok"
        lsb = 2.0 ** (1 - bits)
        # TPDF dither (+-1 LSB) plus rounding (+-0.5 LSB) of the input clipped to the
        # code range (a finite input: a NaN or Inf must have been refused).
        assert np.max(np.abs(got - np.clip(want, -1, 1 - lsb)), initial=0) <= 1.5 * lsb + 1e-9
        return "ok"


def check_analyze(data: bytes, suffix: str = ".wav") -> str:
    """``audioquant analyze`` on audio bytes: a report or one error line, no warnings."""
    with _folders(suffix, data) as (src, out_dir):
        before = _digest(src)
        code, out, err = _run(["analyze", str(src), "--json"])
        assert _digest(src) == before, "the input was modified"
        if code != 0:
            _check_error("analyze", code, err, out_dir)
            return "refused"
        assert err == "", err
        json.loads(out)            # strict JSON: no NaN or Infinity
        return "ok"


def float_wav(values: list[float], channels: int) -> bytes:
    """A float64 WAV holding ``values`` (padded with zeros to whole frames)."""
    x = np.array(values + [0.0] * (-len(values) % channels), dtype=np.float64)
    return corpus.sf_bytes(data=x.reshape(-1, channels), subtype="DOUBLE")


def _mido_view(path: Path) -> tuple[int, int]:
    """(tracks, notes) as mido reads the file."""
    mid = mido.MidiFile(str(path))
    return len(mid.tracks), sum(m.type == "note_on" and m.velocity > 0
                                for t in mid.tracks for m in t)


def check_midi(data: bytes) -> str:
    """``midi stats`` and ``midi quantize`` on mutated MIDI bytes; assert the contract."""
    with _folders(".mid", data) as (src, out_dir):
        before = _digest(src)
        out = out_dir / "out.mid"
        s_code, s_out, s_err = _run(["midi", "stats", str(src), "--json"])
        q_code, _, q_err = _run(["midi", "quantize", str(src), str(out)])
        assert _digest(src) == before, "the input was modified"
        assert (s_code == 0) == (q_code == 0), \
            f"stats exit {s_code} ({s_err!r}) but quantize exit {q_code} ({q_err!r})"
        if q_code != 0:
            _check_error("midi stats", s_code, s_err, out_dir)
            _check_error("midi quantize", q_code, q_err, out_dir)
            return "refused"
        assert q_err == "" and os.listdir(out_dir) == ["out.mid"]
        stats = json.loads(s_out)
        notes = stats["notes"]
        try:
            theirs = _mido_view(src)
        except Exception:        # mido cannot read the input: we must, below
            theirs = None
        if theirs == (len(stats["tracks"]), notes):
            # mido reads the input as we do: it reads our output too, with those notes
            assert _mido_view(out)[1] == notes, "mido reads other notes back"
        code, again, err = _run(["midi", "stats", str(out), "--json"])
        assert code == 0, err
        assert json.loads(again)["notes"] == notes
        return "ok"


# ----------------------------------------------------------------------------- tests

_SETTINGS = dict(deadline=None, derandomize=True, database=None, print_blob=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_seeds_are_valid():
    assert check_render(seed_wav()) == "ok"
    assert check_render(seed_wav_float(), bits=24) == "ok"
    assert check_midi(seed_midi()) == "ok"


@settings(max_examples=1500, **_SETTINGS)
@given(ops=mutations, bits=st.sampled_from([16, 12, 8, 24]),
       options=st.sampled_from(OPTIONS))
def test_fuzz_wav(ops, bits, options):
    check_render(mutate(seed_wav(), ops), bits, options=options)


@settings(max_examples=400, **_SETTINGS)
@given(ops=mutations)
def test_fuzz_wav_float(ops):
    check_render(mutate(seed_wav_float(), ops), 16)


@settings(max_examples=1500, **_SETTINGS)
@given(ops=mutations)
def test_fuzz_midi(ops):
    check_midi(mutate(seed_midi(), ops))


@settings(max_examples=150, **_SETTINGS)
@given(ops=mutations)
def test_fuzz_analyze(ops):
    check_analyze(mutate(seed_wav_float(), ops))


_EXTREMES = st.sampled_from([1e300, -1e300, 1e200, -1e160, 1e-310, -5e-324, 1.0, -1.0,
                             0.9999999, 65536.0, float("nan"), float("inf"), -float("inf")])


@settings(max_examples=300, **_SETTINGS)
@given(values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                 _EXTREMES, st.floats(-1, 1)), min_size=0, max_size=64),
       channels=st.sampled_from([1, 2]))
def test_fuzz_float_values(values, channels):
    """Any float64 samples (NaN, Inf, 1e300, subnormals): render codes in range or one
    error, and analyze a report or one error, never a warning or a hang."""
    data = float_wav(values, channels)
    check_render(data, 16)
    check_analyze(data)


# ------------------------------------------------------- findings of bench/fuzz_long.py

#: Minimal inputs found by the long campaign (see bench/RESULTS_failures.md), each with
#: the check it failed. They run with the suite and must pass once fixed.
REGRESSIONS: list[tuple[str, str, bytes, tuple[str, ...]]] = [
    # Trial run (600 inputs): a sysex whose data holds 0xFF was written back as it came;
    # mido could not read the output (it cannot read the input either: the check now
    # asks mido only about files it reads as we do).
    ("midi", "sysex_data_byte_ff", bytes.fromhex(
        "4d546864000000060001000201e04d54726b0000001300ff510307a12000ff58040402180800ff2f"
        "004d54726b000000330090400000407f07f003ff7f0000436969430005486356484000ff2f00"), ()),
    # Run 1 (25,000 inputs): a tune-request status byte (F6) read into a track; the writer
    # (mido) then raised "ValueError: realtime messages are not allowed in MIDI files"
    # out of `midi quantize` (a traceback) in midi/notes.py:write.
    ("midi", "f6_tune_request_in_track", bytes.fromhex(
        "4d546864000000060001000200604d54726b0000001800ff51030927c000ff0309436f6e647563"
        "746f7200ff2f004d54726b000000ce00c00500f6040a00ff2f00"), ()),
    # Run 2 (40,000 inputs): a FLAC file cut short after a STREAMINFO block that is not
    # marked last was rendered as an empty file (exit 0) at its garbage rate; SoX and
    # FFmpeg refuse it. audioquant/io.py:_flac_has_frames takes "metadata cut short"
    # for "no audio frames". (Also the corpus row flac_metadata_cut_short.) Run 3 found
    # it again.
    ("audio", "flac_metadata_cut_short_fuzzed", bytes.fromhex(
        "664c61430000002210001000000132000132e0c442f00000000080003d5ee06c0532b2000000"
        "80282000"), ()),
    # Run 3 (60,000 inputs): an RF64 file whose header says 8,388,608 Hz (no frames) rendered with
    # --shaping auto: numpy.linalg.LinAlgError "Singular matrix" from
    # dsp/design.py:l1_bounded_least_squares (processors.best_shaper -> design.design),
    # a traceback. Plain WAVs at 10 MHz, 100 MHz, 2**31-1 Hz do the same; with
    # --shaping designed:9 the error is caught but says only "error: Singular matrix".
    # (Also the corpus rows wav_10mhz_shaping_auto, wav_10mhz_shaping_designed.)
    ("audio", "rf64_8mhz_shaping_auto", bytes.fromhex(
        "52463634ffffffff57415645647336341c000000b80200000000000058020000000000009600"
        "00000000000000000000666d742028000000feff02000000800010b1ff000000100016001000"
        "030000000100000000001000800000aa00389b716461746116"), ("--shaping", "auto")),
]


@pytest.mark.parametrize(("kind", "name", "data", "options"), REGRESSIONS,
                         ids=[row[1] for row in REGRESSIONS])
def test_fuzz_regression(kind, name, data, options):
    if kind == "midi":
        check_midi(data)
    elif kind == "analyze":
        check_analyze(data)
    else:
        suffix = {b"fLaC": ".flac", b"RF64": ".rf64"}.get(data[:4], ".wav")
        check_render(data, suffix=suffix, options=options)
