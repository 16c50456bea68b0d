"""The MIDI quantize options in the one specification: flags, presets and the API agree.

``audioquant midi quantize``'s flags and a preset's ``[midi]`` table are built from
``audioquant.spec.QUANTIZE_OPTIONS``; here each path is compared with an independent
one: ``midi.quantize_file`` called with keyword values written out by hand, so a flag or
key that reached the wrong setting (or none) gives different bytes.
"""

from __future__ import annotations

import argparse
import fnmatch
import inspect
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioquant import midi
from audioquant.cli import GIVEN, build_parser, main
from audioquant.errors import ParameterError
from audioquant.spec import (
    MODES,
    QUANTIZE_OPTIONS,
    Preset,
    PresetError,
    QuantizeOptions,
    builtin_presets,
    load_preset,
)
from tests.conftest import sine
from tests.midi.helpers import SAMPLE, run_python

#: What the built-in MIDI cleanup preset says, written out here (not read from the file).
CLEAN = {"grid": "1/16", "strength": 75, "exclude_within": 5, "mode": "lengths"}


def subparser(*path: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def by_hand(tmp_path, name: str, **options) -> bytes:
    """The file midi.quantize_file writes with these keyword values (the independent path)."""
    out = tmp_path / f"{name}.mid"
    midi.quantize_file(SAMPLE, out, **options)
    return out.read_bytes()


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> bytes:
    """The sample quantized with every default (1/16, strength 100)."""
    out = tmp_path_factory.mktemp("plain") / "plain.mid"
    midi.quantize_file(SAMPLE, out)
    return out.read_bytes()


# -- one definition ----------------------------------------------------------------------


def test_every_option_has_one_default_in_argparse_the_api_and_the_spec():
    q, s = subparser("midi", "quantize"), subparser("midi", "stats")
    api = inspect.signature(midi.quantize_song).parameters
    fresh = QuantizeOptions()
    # every keyword of the API but min_length (the API's alone) is an option, and no more
    assert set(QUANTIZE_OPTIONS) == {n for n, p in api.items()
                                     if p.kind is p.KEYWORD_ONLY} - {"min_length"}
    built = {a.option.name: a for a in q._actions if getattr(a, "option", None) is not None}
    assert set(built) == set(QUANTIZE_OPTIONS)
    for name, option in QUANTIZE_OPTIONS.items():
        assert built[name].option is option, name     # the flag is built from the definition
        assert q.get_default(option.dest or name) == option.default, name
        assert api[name].default == option.default, name
        assert getattr(fresh, name) == option.default, name
    stats = {a.option.name for a in s._actions if getattr(a, "option", None) is not None}
    assert stats == {"grid", "triplet", "dotted", "swing"}
    for name in stats:
        assert s.get_default(name) == QUANTIZE_OPTIONS[name].default
    assert MODES == midi.MODES
    # the flags the CLI contract names are the flags built
    flags = {f for a in q._actions for f in a.option_strings}
    assert {"--grid", "--triplet", "--dotted", "--swing", "--strength", "--exclude-within",
            "--range", "--ends", "--lengths", "--offset", "--tracks", "--channels",
            "--pitches", "--preset", "--report"} <= flags


def test_every_default_passes_its_own_check():
    # (check() takes the default as valid without looking: here it is looked at)
    for name, option in QUANTIZE_OPTIONS.items():
        if option.default is not None:
            check = getattr(option, f"_check_{option.kind}")
            assert check(option.default, name) == option.default, name


def test_options_check_and_normalise_values():
    o = QuantizeOptions(strength=80.004, tracks=[1, "Drums", "2"], channels=10,
                        pitch_range="36-38", swing=57.5)
    # percentages are used to 0.01 % (midi.check_percent), and stored so
    assert o.strength == 80.0 and o.swing == 57.5
    assert o.tracks == (1, "Drums", 2) and o.channels == (10,) and o.pitch_range == (36, 38)
    assert QuantizeOptions(pitch_range=[40, 40]).pitch_range == (40, 40)
    assert o.changed() == {"strength": 80.0, "swing": 57.5, "tracks": (1, "Drums", 2),
                           "channels": (10,), "pitch_range": (36, 38)}
    assert pickle.loads(pickle.dumps(o)) == o
    for kwargs, message in [
        ({"strength": 150}, "strength must be in 0..100, got 150"),
        ({"swing": 49}, "swing must be in 50..75, got 49"),
        ({"offset": float("nan")}, "offset must be a finite number"),
        ({"grid": "1/3"}, "grid must be a note value"),
        ({"mode": "both"}, "mode must be one of starts, ends, lengths, got 'both'"),
        ({"channels": [0]}, "channels must be in 1..16, got 0"),
        ({"channels": []}, "channels must name at least one channel"),
        ({"tracks": [-1]}, "tracks must be >= 0, got -1"),
        ({"tracks": [1.5]}, "tracks must be track numbers from 0 or track names"),
        ({"pitch_range": (90, 10)}, "pitch_range must be [LO, HI] with 0 <= LO <= HI"),
        ({"pitch_range": "x"}, "pitch_range must be LO-HI"),
        ({"triplet": 1}, "triplet must be true or false, got 1"),
        ({"triplet": True, "dotted": True}, "triplet and dotted cannot both be set"),
        ({"grid": "1/8.", "triplet": True}, "grid 1/8. is already a dotted value; triplet"),
        ({"exclude_within": 40, "catch_range": 40}, "exclude_within 40 is not below "
                                                    "catch_range 40"),
        ({"exclude_within": 58, "swing": 58}, "at swing 58 no note is more than 58 %"),
    ]:
        with pytest.raises(ParameterError) as info:
            QuantizeOptions(**kwargs)
        assert message in str(info.value), kwargs


def test_the_spec_imports_nothing_of_midi_or_numpy():
    code = ("import sys, audioquant.spec, audioquant.cli\n"
            "audioquant.cli.build_parser()\n"
            "bad = [m for m in sys.modules if m.startswith(('mido', 'numpy', "
            "'audioquant.midi.')) or m == 'audioquant.midi']\n"
            "assert not bad, bad\n")
    r = run_python(code)
    assert r.returncode == 0, r.stderr


# -- flags, presets and the API: the same bytes ------------------------------------------

#: (flags, the same settings as keyword values written by hand)
CASES = [
    (["--grid", "1/8", "--triplet", "--swing", "55", "--strength", "80",
      "--exclude-within", "10", "--range", "90", "--lengths", "--offset", "5",
      "--tracks", "1", "Drums", "--channels", "1", "10", "--pitches", "30-90"],
     {"grid": "1/8", "triplet": True, "swing": 55, "strength": 80, "exclude_within": 10,
      "catch_range": 90, "mode": "lengths", "offset": 5, "tracks": [1, 2],
      "channels": [1, 10], "pitch_range": (30, 90)}),
    (["--grid", "1/16", "--strength", "60", "--ends", "--channels", "10"],
     {"strength": 60, "mode": "ends", "channels": [10]}),
    (["--grid", "1/8", "--dotted", "--offset", "-12.5", "--tracks", "Piano"],
     {"grid": "1/8", "dotted": True, "offset": -12.5, "tracks": [1]}),
]


@pytest.mark.parametrize(("flags", "kwargs"), CASES)
def test_flags_a_preset_and_the_api_give_the_same_bytes(tmp_path, capsys, plain, flags,
                                                         kwargs):
    expected = by_hand(tmp_path, "hand", **kwargs)
    assert expected != plain != SAMPLE.read_bytes()   # the settings do something
    by_flags, by_preset = tmp_path / "flags.mid", tmp_path / "preset.mid"
    assert run_cli(capsys, "midi", "quantize", SAMPLE, by_flags, *flags)[0] == 0
    assert by_flags.read_bytes() == expected
    # the same flags as a preset file: the options the flags set, by name
    args = build_parser().parse_args(["midi", "quantize", "in.mid", "out.mid", *flags])
    options = QuantizeOptions(**{n: getattr(args, QUANTIZE_OPTIONS[n].dest or n)
                                 for n in getattr(args, GIVEN)})
    path = tmp_path / "mine.toml"
    path.write_text(Preset("mine", "test", {}, str(path), midi=options.changed()).to_toml())
    assert run_cli(capsys, "midi", "quantize", "--preset", path, SAMPLE, by_preset)[0] == 0
    assert by_preset.read_bytes() == expected
    # the API: the options' keywords, to the file and the song functions
    assert by_hand(tmp_path, "api", **options.as_dict()) == expected
    song, _ = midi.quantize_song(midi.read(SAMPLE), **options.as_dict())
    out = tmp_path / "song.mid"
    midi.write(song, out)
    assert out.read_bytes() == expected


def test_the_clean_preset_its_flags_and_the_api_give_the_same_bytes(tmp_path, capsys,
                                                                    plain):
    preset = load_preset("clean")
    assert preset.midi == CLEAN and preset.options == {}
    expected = by_hand(tmp_path, "hand", **CLEAN)
    assert expected != plain
    by_preset, by_flags = tmp_path / "preset.mid", tmp_path / "flags.mid"
    report = tmp_path / "report.json"
    assert run_cli(capsys, "midi", "quantize", "--preset", "clean", SAMPLE, by_preset,
                   "--report", report)[0] == 0
    assert run_cli(capsys, "midi", "quantize", SAMPLE, by_flags,
                   *preset.midi_flags().split())[0] == 0
    assert by_preset.read_bytes() == expected and by_flags.read_bytes() == expected
    assert by_hand(tmp_path, "api", **QuantizeOptions(**preset.midi).as_dict()) == expected
    hand = midi.quantize_file(SAMPLE, tmp_path / "again.mid", **CLEAN)
    assert json.loads(report.read_text())["settings"] == json.loads(
        json.dumps(hand["settings"]))
    # what the cleanup does, measured on the notes themselves (midi.quantize's masks):
    song = midi.read(SAMPLE)
    grid = midi.Grid.parse("1/16", song.ticks_per_beat)
    result = midi.quantize(song.notes, grid, strength=75, exclude_within=5, mode="lengths")
    old, new = song.notes, result.notes
    before = np.abs(grid.distance(old.start))
    after = np.abs(grid.distance(new.start))
    moved = result.moved & ~result.nudged
    # a moved start ends a quarter of its distance from the line (to a tick: rounding)
    assert moved.any() and np.all(np.abs(4 * after[moved] - before[moved]) <= 4)
    # starts within 5 % of a step (6 ticks of 120) stay where they were played
    near = before * 100 <= 5 * 120
    assert near.any() and np.array_equal(new.start[near & ~result.nudged],
                                         old.start[near & ~result.nudged])
    # whole notes move: lengths are kept, except where the clean-up trims an overlap
    kept = ~result.trimmed & ~old.open_end
    assert np.array_equal((new.end - new.start)[kept], (old.end - old.start)[kept])


def test_flags_typed_override_the_preset(tmp_path, capsys):
    out = tmp_path / "out.mid"
    assert run_cli(capsys, "midi", "quantize", "--preset", "clean", "--strength", "100",
                   "--ends", SAMPLE, out)[0] == 0
    assert out.read_bytes() == by_hand(tmp_path, "hand", **{**CLEAN, "strength": 100,
                                                             "mode": "ends"})
    # a flag that says the default still overrides the preset
    assert run_cli(capsys, "midi", "quantize", "--preset", "clean", "--exclude-within",
                   "0", SAMPLE, out)[0] == 0
    assert out.read_bytes() == by_hand(tmp_path, "hand0", **{**CLEAN, "exclude_within": 0})
    # a typed --dotted replaces the preset's triplet (one of an exclusive pair)
    path = tmp_path / "triplet.toml"
    path.write_text('[midi]\ngrid = "1/8"\ntriplet = true\n')
    assert run_cli(capsys, "midi", "quantize", "--preset", path, "--dotted", SAMPLE,
                   out)[0] == 0
    assert out.read_bytes() == by_hand(tmp_path, "dotted", grid="1/8", dotted=True)


def test_a_preset_with_both_tables_serves_both_commands(tmp_path, capsys):
    path = tmp_path / "both.toml"
    path.write_text('description = "both"\n[render]\nbits = 8\n[midi]\nstrength = 50\n')
    out = tmp_path / "out.mid"
    assert run_cli(capsys, "midi", "quantize", "--preset", path, SAMPLE, out)[0] == 0
    assert out.read_bytes() == by_hand(tmp_path, "hand", strength=50)
    wav = tmp_path / "in.wav"
    sf.write(str(wav), (0.5 * sine(997, 1, 4800, 48000)).astype(np.float32), 48000,
             subtype="FLOAT")
    assert run_cli(capsys, "render", "--preset", path, wav, tmp_path / "o.wav")[0] == 0
    assert sf.info(str(tmp_path / "o.wav")).subtype == "PCM_U8"


@pytest.mark.parametrize(("argv", "message"), [
    (["midi", "quantize", "--preset", "cd", SAMPLE, "{out}.mid"],
     "preset cd sets no MIDI quantize options (no [midi] table); it is a preset for "
     "`audioquant render`"),
    (["render", "--preset", "clean", "{out}-in.wav", "{out}.wav"],
     "preset clean sets no render options (no [render] table); it is a preset for "
     "`audioquant midi quantize`"),
    (["midi", "quantize", "--preset", "{out}-empty.toml", SAMPLE, "{out}.mid"],
     "empty.toml sets no MIDI quantize options (no [midi] table)"),
    (["render", "--preset", "{out}-empty.toml", "{out}-in.wav", "{out}.wav"],
     "empty.toml sets no render options (no [render] table)"),
    (["midi", "quantize", "--preset", "clean", "--range", "3", SAMPLE, "{out}.mid"],
     "exclude_within (preset clean) 5 is not below --range 3"),
    (["midi", "quantize", "--preset", "bogus", SAMPLE, "{out}.mid"],
     "unknown preset 'bogus'; choose one of cd, clean, dvd, hires, lofi"),
])
def test_a_preset_for_the_other_command_is_one_clear_line(tmp_path, capsys, argv, message):
    base = str(tmp_path / "x")
    (tmp_path / "x-empty.toml").write_text('description = "nothing"\n')
    status, out, err = run_cli(capsys, *[str(a).format(out=base) for a in argv])
    assert status == 2 and message in err and err.count("\n") == 1 and out == ""
    assert "it is a preset for" not in err or "empty" not in message
    assert not (tmp_path / "x.mid").exists() and not (tmp_path / "x.wav").exists()


# -- bad [midi] tables: one line naming the file and the key, exit 2 ----------------------


BAD_PRESETS = [
    ("[midi]\nstrenght = 80\n", "unknown key 'strenght' in [midi] (did you mean "
                                "'strength'?)"),
    ("[midi]\nexclude-within = 5\n", "(did you mean 'exclude_within'?)"),
    ("[midi]\nbits = 16\n", "unknown key 'bits' in [midi]"),
    ("[render]\nstrength = 80\n", "unknown key 'strength' in [render]"),
    ("[midi]\nstrength = 150\n", "strength must be in 0..100, got 150"),
    ("[midi]\nswing = \"55\"\n", "swing must be a number, got '55'"),
    ("[midi]\ngrid = \"1/3\"\n", "grid must be a note value"),
    ("[midi]\ngrid = 16\n", "grid must be a note value"),
    ("[midi]\nmode = \"both\"\n", "mode must be one of starts, ends, lengths, got 'both'"),
    ("[midi]\nchannels = [1, 17]\n", "channels must be in 1..16, got 17"),
    ("[midi]\nchannels = [\"x\"]\n", "channels must be whole numbers in 1..16, got 'x'"),
    ("[midi]\ntracks = [-1]\n", "tracks must be >= 0, got -1"),
    ("[midi]\ntracks = []\n", "tracks must name at least one track"),
    ("[midi]\npitch_range = [90, 10]\n", "pitch_range must be [LO, HI] with 0 <= LO <= HI"),
    ("[midi]\npitch_range = \"x\"\n", "pitch_range must be LO-HI"),
    ("[midi]\ntriplet = 1\n", "triplet must be true or false, got 1"),
    ("[midi]\nexclude_within = 60\ncatch_range = 40\n", "exclude_within 60 is not below "
                                                        "catch_range 40"),
    ("[midi]\ngrid = \"1/8T\"\ndotted = true\n", "grid 1/8T is already a triplet value; "
                                                 "dotted cannot apply too"),
    ("midi = 3\n", "midi must be a table"),
    ("strength = 80\n", "unknown key 'strength'; a preset has a description and a [render] "
                        "table, a [midi] table or both"),
]


@pytest.mark.parametrize(("text", "message"), BAD_PRESETS)
def test_a_bad_midi_preset_names_the_file_and_the_key(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PresetError) as info:
        load_preset(path)
    assert str(info.value).startswith(f"preset {path}: ") and message in str(info.value)
    out = tmp_path / "out.mid"
    status, _, err = run_cli(capsys, "midi", "quantize", "--preset", path, SAMPLE, out)
    assert status == 2 and message in err and str(path) in err and err.count("\n") == 1
    assert run_cli(capsys, "presets", "show", path)[0] == 2
    assert not out.exists()


# -- presets and presets show ------------------------------------------------------------


def test_presets_show_clean_round_trips(tmp_path, capsys):
    status, text, _ = run_cli(capsys, "presets", "show", "clean")
    assert status == 0 and "[midi]" in text and "[render]" not in text
    path = tmp_path / "my-clean.toml"
    path.write_text(text)
    again, builtin = load_preset(path), load_preset("clean")
    assert (again.midi, again.options, again.description) == (
        builtin.midi, builtin.options, builtin.description)
    a, b = tmp_path / "builtin.mid", tmp_path / "file.mid"
    assert run_cli(capsys, "midi", "quantize", "--preset", "clean", SAMPLE, a)[0] == 0
    assert run_cli(capsys, "midi", "quantize", "--preset", path, SAMPLE, b)[0] == 0
    assert a.read_bytes() == b.read_bytes() == by_hand(tmp_path, "hand", **CLEAN)


def test_every_kind_of_midi_value_round_trips_through_toml(tmp_path):
    midi_options = {"grid": "1/8T", "triplet": True, "swing": 57.5, "strength": 80.0,
                    "exclude_within": 2.5, "catch_range": 90.0, "mode": "ends",
                    "offset": -12.5, "tracks": (1, "Drums \"kit\""), "channels": (1, 10),
                    "pitch_range": (36, 38)}
    preset = Preset("x", "all", {"bits": 8}, "x.toml", midi=midi_options)
    path = tmp_path / "x.toml"
    path.write_text(preset.to_toml())
    again = load_preset(path)
    assert again.midi == midi_options and again.options == {"bits": 8}
    assert QuantizeOptions(**again.midi) == QuantizeOptions(**midi_options)


def test_presets_lists_the_clean_preset_with_its_flags(capsys):
    status, out, _ = run_cli(capsys, "presets")
    presets = builtin_presets()
    assert status == 0 and "midi quantize --preset" in out
    for preset in presets.values():
        assert preset.description in out
        if preset.options:
            assert f"render {preset.flags()}" in out
        if preset.midi:
            assert f"midi quantize {preset.midi_flags()}" in out
    assert "midi quantize --grid 1/16 --strength 75 --exclude-within 5 --lengths" in out
    status, out, _ = run_cli(capsys, "presets", "--json")
    listed = {p["name"]: p for p in json.loads(out)}
    assert listed["clean"]["midi"] == CLEAN and listed["clean"]["render"] == {}
    assert listed["cd"]["midi"] == {}


def test_the_clean_preset_ships_with_the_package():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    root = Path(__file__).resolve().parents[2]
    data = tomllib.loads((root / "pyproject.toml").read_text())
    shipped = data["tool"]["setuptools"]["package-data"]["audioquant"]
    assert any(fnmatch.fnmatch("presets/clean.toml", pattern) for pattern in shipped)
    assert (root / "audioquant" / "presets" / "clean.toml").is_file()
