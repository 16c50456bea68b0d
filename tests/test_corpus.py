"""The corpus of odd and broken files (tests/corpus.py), one row per case, through the CLI.

Each row runs the case's command in-process (``audioquant.cli.main``) and checks the
exact outcome the case promises:

- refused: the exit status, one ``error: ...`` line on stderr that contains one of the
  case's fragments, and an output folder left empty (no output, no temporary file);
- ok: exit 0, nothing on stderr, exactly the output file in the output folder, and that
  file complete and correct when read back by an independent reader (soundfile for
  audio: frames, channels, rate, format, samples within the dither's error of the input;
  mido for MIDI: note count and pitches, ticks per beat, every non-note event kept, note
  starts on the grid);

and, in every row, that the input file's bytes are unchanged. ``analyze`` rows run in a
subprocess with a timeout, since a hang (not an exception) is the failure they guard.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from audioquant import cli
from tests import corpus
from tests.corpus import Case, Either, Ok, Refused

ROOT = Path(__file__).resolve().parents[1]

_FORMATS = {".wav": "WAV", ".flac": "FLAC", ".aiff": "AIFF", ".aif": "AIFF", ".caf": "CAF",
            ".w64": "W64", ".rf64": "RF64"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(argv: list[str], capsys) -> tuple[int, str, str, list[warnings.WarningMessage]]:
    """``cli.main(argv)`` in-process: (exit status, stdout, stderr, RuntimeWarnings).

    An exception other than SystemExit propagates: that is a traceback, a failure."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            code = cli.main(argv)
        except SystemExit as exc:     # argparse usage errors (exit 2)
            code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err, [w for w in caught if issubclass(w.category, RuntimeWarning)]


def run_subprocess(argv: list[str], timeout: float = 30) -> tuple[int, str, str]:
    """``python -m audioquant argv`` with a timeout (a hang fails the row, it does not
    hang the suite)."""
    try:
        proc = subprocess.run([sys.executable, "-m", "audioquant", *argv], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"audioquant {' '.join(argv)} hung (no result after {timeout:g} s)")
    return proc.returncode, proc.stdout, proc.stderr


def check_refused(expect: Refused, code: int, err: str, out_dir: Path, label: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == expect.code, f"{label}: exit {code}, expected {expect.code}; stderr {err!r}"
    assert len(lines) == 1 and lines[0].startswith("error: "), \
        f"{label}: stderr must be one 'error: ...' line, got {err!r}"
    assert "Traceback" not in err
    assert any(f.lower() in lines[0].lower() for f in expect.fragments), \
        f"{label}: {lines[0]!r} names none of {expect.fragments}"
    assert sorted(os.listdir(out_dir)) == [], f"{label}: left {os.listdir(out_dir)} behind"


def pick(expect, code: int):
    """The outcome to check: an Either is judged by the exit status it got."""
    if isinstance(expect, Either):
        return expect.ok if code == 0 else expect.refused
    return expect


# --------------------------------------------------------------------------- audio

def output_subtype(fmt: str, args: tuple[str, ...]) -> str:
    bits = int(args[args.index("--bits") + 1]) if "--bits" in args else 16
    size = next(s for s in (8, 16, 24, 32) if bits <= s)
    if size == 8:
        return "PCM_U8" if fmt in ("WAV", "W64", "RF64") else "PCM_S8"
    return f"PCM_{size}"


_SF_COUNT_MAX = 2**63 - 1


def read_blocks(f: sf.SoundFile) -> np.ndarray:
    """Every frame of an open file, read in blocks (works when the length is unknown)."""
    parts = [np.zeros((0, f.channels))]
    while True:
        block = f.read(65536, dtype="float64", always_2d=True)
        if not len(block):
            return np.concatenate(parts)
        parts.append(block)


def check_empty_flac(path: Path, rate: int, channels: int) -> None:
    """A complete FLAC file of no audio frames: its metadata ends with a block marked
    last, nothing follows, and STREAMINFO says 0 samples with the MD5 of nothing."""
    info = corpus.flac_streaminfo(path.read_bytes())
    assert info is not None, "no STREAMINFO"
    assert (info["rate"], info["channels"]) == (rate, channels)
    assert info["total"] == 0 and info["md5"] == hashlib.md5(b"").digest()
    assert info["complete"], "the metadata blocks are cut short"
    assert info["audio_bytes"] == 0, "audio frames after the metadata of an empty FLAC"


def check_audio_ok(case: Case, expect: Ok, src: Path, out: Path, code: int, err: str,
                   warned: list) -> None:
    assert code == 0, f"exit {code}, stderr {err!r}"
    assert err.strip() == "", f"stderr on success: {err!r}"
    assert not warned, f"RuntimeWarnings: {[str(w.message) for w in warned]}"
    assert sorted(os.listdir(out.parent)) == [out.name]
    if case.reference is not None:               # what the input must be read as
        src = out.parent.parent / "reference.wav"
        src.write_bytes(case.reference())
    src_info = sf.info(str(src))
    if src_info.frames == _SF_COUNT_MAX:          # an empty FLAC input (see below)
        src_info.frames = 0
    fmt = _FORMATS[out.suffix.lower()]
    with sf.SoundFile(str(out)) as f:
        assert f.format == (expect.format or fmt)
        assert f.subtype == (expect.subtype or output_subtype(fmt, case.args))
        assert f.channels == (expect.channels or src_info.channels)
        assert f.samplerate == (expect.rate or src_info.samplerate)
        frames = src_info.frames if expect.frames is None else expect.frames
        # A FLAC file's STREAMINFO cannot say "0 samples" (0 means unknown): libsndfile
        # then reports SF_COUNT_MAX frames, for SoX's empty FLAC as for ours.
        # Nor can libsndfile read such a file (SoX's neither: "psf_fseek() failed"), so
        # its STREAMINFO is checked by hand instead.
        if f.format == "FLAC" and frames == 0 and f.frames == _SF_COUNT_MAX:
            check_empty_flac(out, f.samplerate, f.channels)
            return
        assert f.frames == frames
        got = read_blocks(f)
        assert got.shape == (frames, f.channels)           # the whole promised length
        for key, value in expect.tags.items():
            assert getattr(f, key) == value, f"tag {key}: {getattr(f, key)!r} != {value!r}"
    if "--rate" in case.args or frames == 0:
        return
    want = read_blocks(sf.SoundFile(str(src)))
    bits = int(case.args[case.args.index("--bits") + 1]) if "--bits" in case.args else 16
    lsb = 2.0 ** (1 - bits)
    if expect.full_scale:
        # Every sample past full scale: the codes are the extremes, with the input's sign.
        top = 1 - lsb
        assert np.all(np.where(want > 0, got == top, got == -1.0))
        return
    # TPDF dither (+-1 LSB) plus rounding (+-0.5 LSB): within 1.5 LSB of the input, which
    # is itself clipped to the code range first.
    clipped = np.clip(want, -1.0, 1 - lsb)
    assert np.max(np.abs(got - clipped)) <= 1.5 * lsb + 1e-12


def lay_out(case: Case, tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """The case's input in ``in/``, an empty ``out/``: (input, out folder, output path,
    the input's hash, to show it is never modified)."""
    src_dir, out_dir = tmp_path / "in", tmp_path / "out"
    src_dir.mkdir()
    out_dir.mkdir()
    src = src_dir / case.filename
    src.write_bytes(case.data())
    return src, out_dir, out_dir / case.out, sha256(src)


def audio_row(case: Case, tmp_path: Path, capsys) -> None:
    src, out_dir, out, before = lay_out(case, tmp_path)
    if case.command == "analyze":
        code, stdout, err = run_subprocess(["analyze", str(src), *case.args])
        expect = pick(case.expect, code)
        if isinstance(expect, Refused):
            check_refused(expect, code, err, out_dir, "analyze")
        else:
            assert code == 0 and "Traceback" not in err, err
            assert "Warning" not in err, f"warnings printed: {err!r}"
            assert stdout.strip()
    else:
        code, _, err, warned = run_cli(["render", str(src), str(out), *case.args], capsys)
        expect = pick(case.expect, code)
        if isinstance(expect, Refused):
            check_refused(expect, code, err, out_dir, "render")
        else:
            check_audio_ok(case, expect, src, out, code, err, warned)
    assert sha256(src) == before, "the input was modified"


# ---------------------------------------------------------------------------- MIDI

#: Messages a MIDI file cannot hold (mido calls them realtime): the reader skips them.
_REALTIME = {"clock", "start", "continue", "stop", "active_sensing", "reset", "tune_request"}
#: An empty text event: what the writer puts in to bridge a gap longer than a 4-byte delta.
_BRIDGE = (0xFF, 0x01, 0x00)


def mido_view(path: Path):
    """(ticks per beat, Counter of (channel, pitch) of notes, per track the sorted
    (tick, bytes) of every non-note event, end-of-track, realtime messages and empty
    text events left out, note-on ticks)."""
    mid = mido.MidiFile(str(path))
    pitches: Counter = Counter()
    kept = []
    starts = []
    for track in mid.tracks:
        tick = 0
        events = []
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                pitches[(msg.channel, msg.note)] += 1
                starts.append(tick)
            elif msg.type in ("note_on", "note_off", "end_of_track") \
                    or msg.type in _REALTIME or tuple(msg.bytes()) == _BRIDGE:
                continue
            else:
                events.append((tick, tuple(msg.bytes())))
        kept.append(sorted(events))
    return mid.ticks_per_beat, pitches, kept, starts


def check_midi_ok(expect: Ok, src: Path, out: Path, stats: tuple, quant: tuple) -> None:
    code, stdout, err, _ = stats
    assert code == 0, f"midi stats: exit {code}, stderr {err!r}"
    report = json.loads(stdout)
    assert report["notes"] == expect.notes
    assert report["open_notes"] == expect.open_notes
    assert report["ticks_per_beat"] == expect.ticks_per_beat
    assert np.isfinite(report["length_seconds"])

    code, _, err, _ = quant
    assert code == 0, f"midi quantize: exit {code}, stderr {err!r}"
    assert err.strip() == ""
    assert sorted(os.listdir(out.parent)) == [out.name]
    tpb, pitches, kept, starts = mido_view(out)
    assert tpb == expect.ticks_per_beat
    assert sum(pitches.values()) == expect.notes
    step = tpb // 4                       # the default grid, 1/16, at strength 100
    assert all(s % step == 0 for s in starts), f"starts off the 1/16 grid: {starts}"
    try:
        src_view = mido_view(src)
    except Exception:                     # mido cannot read every file we accept
        return
    src_tpb, src_pitches, src_kept, _ = src_view
    assert src_pitches == pitches and src_tpb == tpb
    if len(src_kept) == len(kept):
        assert src_kept == kept, "non-note events changed"


def midi_row(case: Case, tmp_path: Path, capsys) -> None:
    src, out_dir, out, before = lay_out(case, tmp_path)
    stats = run_cli(["midi", "stats", str(src), "--json"], capsys)
    quant = run_cli(["midi", "quantize", str(src), str(out)], capsys)
    expect = pick(case.expect, quant[0])
    if isinstance(case.expect, Either):
        # Either outcome, but the same one from both commands.
        assert (stats[0] == 0) == (quant[0] == 0), (stats, quant)
    if isinstance(expect, Refused):
        check_refused(expect, stats[0], stats[2], out_dir, "midi stats")
        check_refused(expect, quant[0], quant[2], out_dir, "midi quantize")
    else:
        check_midi_ok(expect, src, out, stats, quant)
        # Our own reader reads our output back, with the same notes.
        again = run_cli(["midi", "stats", str(out), "--json"], capsys)
        assert again[0] == 0, again
        assert json.loads(again[1])["notes"] == expect.notes
    assert sha256(src) == before, "the input was modified"


# --------------------------------------------------------------------------- table

def test_case_names_and_files_are_unique():
    assert len({c.name for c in corpus.CASES}) == len(corpus.CASES)
    assert len({c.filename for c in corpus.CASES}) == len(corpus.CASES)


@pytest.mark.parametrize("case", corpus.MIDI, ids=lambda c: c.name)
def test_midi_expectations_agree_with_mido(case):
    """The corpus itself: where mido reads a case, it counts the notes the case says."""
    expect = case.expect.ok if isinstance(case.expect, Either) else case.expect
    if not isinstance(expect, Ok):
        return
    try:
        mid = mido.MidiFile(file=io.BytesIO(case.data()))
    except Exception:
        return
    assert sum(m.type == "note_on" and m.velocity > 0 for t in mid.tracks for m in t) \
        == expect.notes


def test_script_writes_every_case(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "corpus.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path)) == sorted(c.filename for c in corpus.CASES)
    differ = [c.name for c in corpus.CASES if (tmp_path / c.filename).read_bytes() != c.data()]
    assert differ == [], "the script and the module made other bytes"


@pytest.mark.parametrize("case", corpus.CASES, ids=lambda c: c.name)
def test_corpus(case, tmp_path, capsys):
    if case.kind == "midi":
        midi_row(case, tmp_path, capsys)
    else:
        audio_row(case, tmp_path, capsys)
