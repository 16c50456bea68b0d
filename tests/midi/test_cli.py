"""``audioquant midi ...``: the commands' functions through a parser built here, then the
real CLI in a subprocess (exit codes, one-line errors, no output on failure)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from audioquant import midi_cli
from tests.midi.helpers import events_by_track

ROOT = Path(__file__).resolve().parents[2]


def parse(argv):
    parser = argparse.ArgumentParser(prog="audioquant")
    midi_cli.add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_parser_defaults_match_the_api():
    import inspect

    from audioquant import midi

    args = parse(["midi", "quantize", "in.mid", "out.mid"])
    api = inspect.signature(midi.quantize_song).parameters
    for option, name in [
        ("grid", "grid"),
        ("triplet", "triplet"),
        ("dotted", "dotted"),
        ("swing", "swing"),
        ("strength", "strength"),
        ("exclude_within", "exclude_within"),
        ("catch_range", "catch_range"),
        ("mode", "mode"),
        ("offset", "offset"),
        ("tracks", "tracks"),
        ("channels", "channels"),
        ("pitches", "pitch_range"),
    ]:
        assert getattr(args, option) == api[name].default, option
    assert args.func is midi_cli.cmd_quantize
    assert parse(["midi", "stats", "x.mid"]).func is midi_cli.cmd_stats


def test_quantize_function_with_every_option(tmp_path, sample_path, capsys):
    out, report = tmp_path / "q.mid", tmp_path / "q.json"
    args = parse(
        [
            "midi",
            "quantize",
            str(sample_path),
            str(out),
            "--grid",
            "1/8",
            "--triplet",
            "--swing",
            "55",
            "--strength",
            "80",
            "--exclude-within",
            "10",
            "--range",
            "90",
            "--lengths",
            "--offset",
            "5",
            "--tracks",
            "1",
            "Drums",
            "--channels",
            "1",
            "10",
            "--pitches",
            "30-90",
            "--report",
            str(report),
        ]
    )
    assert args.func(args) == 0
    data = json.loads(report.read_text())
    s = data["settings"]
    assert (s["grid"], s["triplet"], s["swing"], s["strength"], s["exclude_within"]) == (
        "1/8",
        True,
        55.0,
        80.0,
        10.0,
    )
    assert (s["catch_range"], s["mode"], s["offset"], s["tracks"], s["channels"]) == (
        90.0,
        "lengths",
        5.0,
        [1, 2],
        [1, 10],
    )
    assert s["pitch_range"] == [30, 90]
    assert "moved" in capsys.readouterr().out


def run(*argv, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "audioquant", *map(str, argv)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture(scope="module")
def cli_available():
    if run("--help").returncode != 0:
        pytest.skip("python -m audioquant is not available")


def test_quantize_and_stats_in_a_subprocess(tmp_path, sample_path, cli_available):
    out, report = tmp_path / "tight.mid", tmp_path / "report.json"
    r = run(
        "midi",
        "quantize",
        sample_path,
        out,
        "--grid",
        "1/16",
        "--strength",
        "80",
        "--exclude-within",
        "10",
        "--report",
        report,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    data = json.loads(report.read_text())
    assert data["moved"] > 0 and f"moved {data['moved']}" in r.stdout
    assert events_by_track(out, notes=False) == events_by_track(sample_path, notes=False)
    s = run("midi", "stats", out, "--grid", "1/16")
    assert s.returncode == 0 and "1/16 = 120 ticks at 480 PPQ" in s.stdout
    j = run("midi", "stats", out, "--json")
    assert json.loads(j.stdout)["notes"] == data["notes"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--grid", "1/0"], 2, "error: audioquant midi quantize: --grid must be a note value"),
        (["--grid", "abc"], 2, "error: audioquant midi quantize: --grid must be a note value"),
        (["--strength", "150"], 2, "error: audioquant midi quantize: --strength must be in "
                                   "0..100, got 150"),
        (["--swing", "80"], 2, "error: audioquant midi quantize: --swing must be in 50..75, "
                               "got 80"),
        (["--channels", "17"], 2, "error: audioquant midi quantize: --channels must be in "
                                  "1..16, got 17"),
        (["--pitches", "x"], 2, "error: audioquant midi quantize: --pitches must be LO-HI"),
        (["--strength", "abc"], 2, "error:"),
        (["--triplet", "--dotted"], 2, "error:"),
        (["--ends", "--lengths"], 2, "error:"),
    ],
)
def test_bad_settings_exit_codes(tmp_path, sample_path, cli_available, args, code, message):
    out = tmp_path / "out.mid"
    r = run("midi", "quantize", sample_path, out, *args)
    assert r.returncode == code
    assert r.stderr.startswith(message)
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not midi at all", "error: cannot read"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x10\x00\x90", "truncated"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x00\x01\xe0", "has no tracks"),
    ],
)
def test_bad_files_exit_1(tmp_path, cli_available, data, message):
    src, out = tmp_path / "in.mid", tmp_path / "out.mid"
    src.write_bytes(data)
    for argv in (["midi", "quantize", src, out], ["midi", "stats", src]):
        r = run(*argv)
        assert r.returncode == 1
        assert message in r.stderr and r.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mid"]


def test_same_input_and_output_refused(tmp_path, sample_path, cli_available):
    src = tmp_path / "take.mid"
    src.write_bytes(sample_path.read_bytes())
    r = run("midi", "quantize", src, src)
    assert r.returncode == 1 and "same file" in r.stderr
    assert src.read_bytes() == sample_path.read_bytes()


def test_usage_errors_exit_2(cli_available):
    assert run("midi").returncode == 2
    assert run("midi", "quantize", "only-one.mid").returncode == 2
