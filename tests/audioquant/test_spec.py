"""The render specification: one definition of every option, presets, gain and normalize.

The CLI flags, the API keywords and the TOML presets are all built from
``audioquant.spec``; these tests check that the three agree (same defaults, byte-identical
files), that presets round-trip, that bad presets and values are one clear line with the
right exit status, and the physics of ``--gain`` and ``--normalize``.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle

import numpy as np
import pytest
import soundfile as sf

from audioquant import io
from audioquant.cli import build_parser, main
from audioquant.engine import RenderReport, render, render_one
from audioquant.errors import ParameterError
from audioquant.spec import (
    OPTIONS,
    QUANTIZE_OPTIONS,
    Preset,
    PresetError,
    RenderOptions,
    RenderSpec,
    builtin_presets,
    load_preset,
    merge_options,
)
from tests.conftest import sine

RATE = 48000


def write_float(path, audio: np.ndarray, rate: int = RATE) -> str:
    sf.write(str(path), np.atleast_2d(audio).T.astype(np.float32), rate, subtype="FLOAT")
    return str(path)


@pytest.fixture
def src(tmp_path, rng):
    """0.25 s of stereo float at 48 kHz: two sines and a little noise."""
    n = RATE // 4
    audio = np.vstack([0.5 * sine(997, 1, n, RATE) + 0.01 * rng.standard_normal(n),
                       0.25 * sine(440, 1, n, RATE) + 0.01 * rng.standard_normal(n)])
    return write_float(tmp_path / "src.wav", audio)


def render_subparser():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices["render"]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


# -- one definition ----------------------------------------------------------------------


def test_every_option_has_one_default_in_argparse_the_api_and_the_spec():
    parser = render_subparser()
    signature = inspect.signature(render).parameters
    fresh = RenderOptions()
    dests = {a.dest for a in parser._actions if getattr(a, "option", None) is not None}
    quantize_dests = {option.dest or name for name, option in QUANTIZE_OPTIONS.items()}
    assert dests == set(OPTIONS) | quantize_dests     # (a MIDI input's quantize flags too)
    assert {name for name, p in signature.items()
            if p.kind is p.KEYWORD_ONLY
            and name not in ("processors", "progress", "spectra")} == set(OPTIONS)
    for name, option in OPTIONS.items():
        assert parser.get_default(name) == option.default, name
        assert signature[name].default == option.default, name
        assert getattr(fresh, name) == option.default, name


def test_the_spec_choices_are_the_library_s():
    from audioquant.dsp.dither import DITHER_KINDS
    from audioquant.sampling import MAX_RATE, MIN_RESAMPLE_RATE, QUALITIES

    assert set(OPTIONS["dither"].choices) == set(DITHER_KINDS)
    assert OPTIONS["rate"].allowed() == f"in {MIN_RESAMPLE_RATE}..{MAX_RATE} Hz"
    for quality in QUALITIES:  # every quality is accepted, in its canonical spelling
        assert RenderOptions(quality=quality).quality == quality.replace(" ", "-")


def test_options_check_and_normalise_values():
    assert RenderOptions(shaping=None).shaping == "none"
    assert RenderOptions(quality="VHQ").quality == "very-high"
    with pytest.raises(ParameterError, match=r"^bits must be in 1\.\.32, got 40$"):
        RenderOptions(bits=40)
    with pytest.raises(ParameterError, match=r"^gain_db must be in -120\.\.60 dB, got 61$"):
        RenderOptions(gain_db=61)
    with pytest.raises(ParameterError, match=r"^normalize_dbfs must be in -60\.\.0 dBFS"):
        RenderOptions(normalize_dbfs=0.5)
    with pytest.raises(ParameterError, match="cannot be used together"):
        RenderOptions(gain_db=-3, normalize_dbfs=-1)
    with pytest.raises(ParameterError, match=r"^auto_blank must be true or false"):
        RenderOptions(auto_blank="yes")
    with pytest.raises(ParameterError, match=r"^seed must be in 0\.\.2\*\*64-1"):
        RenderOptions(seed=-1)


def test_api_errors_come_before_any_file_is_opened(tmp_path):
    missing = tmp_path / "missing.wav"  # never looked at: the value is wrong first
    with pytest.raises(ParameterError, match="gain_db must be in"):
        render(missing, tmp_path / "out.wav", gain_db=100)
    with pytest.raises(TypeError, match="unknown render option 'bogus'"):
        render(missing, tmp_path / "out.wav", bogus=1)
    spec = RenderSpec.of(missing, tmp_path / "out.wav")
    with pytest.raises(TypeError, match="takes no output path or options"):
        render(spec, bits=8)
    with pytest.raises(TypeError, match="needs an output path"):
        render(missing)
    assert not list(tmp_path.iterdir())


def test_merge_lets_later_layers_win_and_drops_the_other_of_a_pair():
    assert merge_options({"bits": 8, "rate": 44100}, {"bits": 16}) == {"bits": 16,
                                                                       "rate": 44100}
    assert merge_options({"gain_db": -3.0}, {"normalize_dbfs": -1.0}) == {
        "normalize_dbfs": -1.0}


def test_render_one_and_its_spec_pickle(tmp_path, src):
    spec = RenderSpec.of(src, tmp_path / "a.wav", bits=12, shaping="auto")
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec
    report = pickle.loads(pickle.dumps(render_one))(again)
    assert isinstance(pickle.loads(pickle.dumps(report)), RenderReport)
    render(src, tmp_path / "b.wav", bits=12, shaping="auto")
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


# -- presets: the same bytes as flags and the API ----------------------------------------


def test_builtin_presets_are_what_the_issue_asks_for():
    presets = builtin_presets()
    assert set(presets) == {"cd", "clean", "dvd", "hires", "lofi"}
    assert presets["cd"].options == {"rate": 44100, "quality": "high", "bits": 16,
                                     "dither": "tpdf", "shaping": "auto"}
    assert presets["dvd"].options == {"rate": 48000, "quality": "high", "bits": 24,
                                      "dither": "tpdf"}
    assert presets["hires"].options["rate"] == 96000 and presets["hires"].options["bits"] == 24
    assert presets["lofi"].options == {"hold_rate": 11025, "bits": 8, "dither": "tpdf"}
    # the MIDI cleanup preset sets MIDI quantize options only (tests/audioquant/test_midi_spec.py)
    assert presets["clean"].options == {} and presets["clean"].midi["grid"] == "1/16"
    assert all(not p.midi for name, p in presets.items() if name != "clean")


@pytest.mark.parametrize("name", ["cd", "lofi", "hires"])
def test_a_preset_the_same_flags_and_the_api_give_the_same_bytes(tmp_path, capsys, src,
                                                                 name):
    preset = load_preset(name)
    by_preset, by_flags = tmp_path / "preset.wav", tmp_path / "flags.wav"
    assert run_cli(capsys, "render", "--preset", name, src, by_preset)[0] == 0
    assert run_cli(capsys, "render", src, by_flags, *preset.flags().split())[0] == 0
    by_api, by_spec, by_one = (tmp_path / f"{n}.wav" for n in ("api", "spec", "one"))
    render(src, by_api, **preset.options)
    render(RenderSpec.of(src, by_spec, **preset.options))
    render_one(RenderSpec.of(src, by_one, **preset.options))
    data = by_preset.read_bytes()
    assert all(p.read_bytes() == data for p in (by_flags, by_api, by_spec, by_one))
    assert sf.info(str(by_preset)).samplerate == preset.options.get("rate", RATE)


def test_flags_override_the_preset_even_when_they_say_the_default(tmp_path, capsys, src):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    assert run_cli(capsys, "render", "--preset", "lofi", "--bits", "16", src, a)[0] == 0
    render(src, b, hold_rate=11025, bits=16, dither="tpdf")
    assert a.read_bytes() == b.read_bytes()
    assert sf.info(str(a)).subtype == "PCM_16"


@pytest.mark.parametrize("name", ["cd", "dvd", "hires", "lofi"])
def test_presets_show_round_trips_through_a_toml_file(tmp_path, capsys, src, name):
    status, text, _ = run_cli(capsys, "presets", "show", name)
    assert status == 0
    path = tmp_path / f"my-{name}.toml"
    path.write_text(text)
    assert load_preset(path).options == load_preset(name).options
    a, b = tmp_path / "builtin.wav", tmp_path / "file.wav"
    assert run_cli(capsys, "render", "--preset", name, src, a)[0] == 0
    assert run_cli(capsys, "render", "--preset", path, src, b)[0] == 0
    assert a.read_bytes() == b.read_bytes()


def test_every_kind_of_value_round_trips_through_toml(tmp_path):
    options = {"seed": 2**64 - 1, "auto_blank": False, "gain_db": -3.5, "quality": "low",
               "rate": 44100, "shaping": "designed:7:ath", "block_size": 1000}
    preset = Preset("x", 'say "hi" \\ é', options, "x.toml")
    path = tmp_path / "x.toml"
    path.write_text(preset.to_toml())
    again = load_preset(path)
    assert again.options == options and again.description == preset.description
    (tmp_path / "r.toml").write_text('[render]\nseed = "random"\n')
    assert load_preset(tmp_path / "r.toml").options == {"seed": None}


def test_presets_lists_every_preset_with_its_settings(capsys):
    status, out, _ = run_cli(capsys, "presets")
    assert status == 0
    for preset in builtin_presets().values():
        assert preset.description in out and preset.flags() in out
    status, out, _ = run_cli(capsys, "presets", "--json")
    import json

    assert {p["name"]: p["render"] for p in json.loads(out)} == {
        name: dict(p.options) for name, p in builtin_presets().items()}


# -- bad presets: one line naming the file and the key, exit 2 (1 if unreadable) ---------


BAD_PRESETS = [
    ("[render]\nbitz = 16\n", "unknown key 'bitz' in [render] (did you mean 'bits'?)"),
    ("[render]\nhold-rate = 8000\n", "(did you mean 'hold_rate'?)"),
    ("[render]\nbits = 40\n", "bits must be in 1..32, got 40"),
    ("[render]\nbits = 16.0\n", "bits must be an integer in 1..32, got 16.0"),
    ("[render]\ndither = \"gauss\"\n", "dither must be one of none, rpdf, tpdf, hp-tpdf, "
                                       "got 'gauss'"),
    ("[render]\nrate = 0\n", "rate must be in 8000..384000 Hz, got 0"),
    ("[render]\nshaping = \"bogus\"\n", "shaping: unknown shaping filter 'bogus'"),
    ("[render]\ngain_db = 100\n", "gain_db must be in -120..60 dB, got 100"),
    ("[render]\ngain_db = -3\nnormalize_dbfs = -1\n", "cannot be used together"),
    ("[render]\nauto_blank = 1\n", "auto_blank must be true or false, got 1"),
    ("bits = 16\n", "unknown key 'bits'; a preset has a description and a [render] table"),
    ("render = 3\n", "render must be a table"),
    ("[render\n", "is not a valid TOML file"),
    ("description = 3\n", "description must be text"),
]


@pytest.mark.parametrize(("text", "message"), BAD_PRESETS)
def test_a_bad_preset_file_names_the_file_and_the_key(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(PresetError) as info:
        load_preset(path)
    assert str(info.value).startswith(f"preset {path}") and message in str(info.value)
    out = tmp_path / "out.wav"
    status, _, err = run_cli(capsys, "render", "--preset", path, tmp_path / "none.wav", out)
    assert status == 2 and message in err and str(path) in err and err.count("\n") == 1
    assert run_cli(capsys, "presets", "show", path)[0] == 2
    assert not out.exists()


def test_unknown_and_unreadable_presets(tmp_path, capsys):
    out = tmp_path / "out.wav"
    status, _, err = run_cli(capsys, "render", "--preset", "bogus", tmp_path / "x.wav", out)
    assert status == 2 and "unknown preset 'bogus'; choose one of cd, clean, dvd, hires, lofi" \
        in err
    status, _, err = run_cli(capsys, "render", "--preset", tmp_path / "gone.toml",
                             tmp_path / "x.wav", out)
    assert status == 1 and err.startswith("error: cannot read preset") and \
        err.count("\n") == 1
    (tmp_path / "dir.toml").mkdir()
    status, _, err = run_cli(capsys, "presets", "show", tmp_path / "dir.toml")
    assert status == 1 and "cannot read preset" in err
    (tmp_path / "latin1.toml").write_bytes(b'description = "\xe9"\n')
    assert run_cli(capsys, "presets", "show", tmp_path / "latin1.toml")[0] == 2
    assert not out.exists()


def test_quality_from_a_preset_needs_a_rate(tmp_path, capsys, src):
    path = tmp_path / "q.toml"
    path.write_text('[render]\nquality = "low"\n')
    status, _, err = run_cli(capsys, "render", "--preset", path, src, tmp_path / "o.wav")
    assert status == 2 and "quality needs rate" in err
    # ... unless the command line gives one
    assert run_cli(capsys, "render", "--preset", path, "--rate", "44100", src,
                   tmp_path / "o.wav")[0] == 0


# -- gain and normalize: the physics -----------------------------------------------------


def test_gain_6_02_db_doubles_the_amplitude(tmp_path, capsys, rng):
    x = (0.2 * sine(997, 1, RATE // 10, RATE) + 0.01 * rng.standard_normal(RATE // 10))
    x = x.astype(np.float32).astype(np.float64)   # what the float32 file holds, exactly
    src = write_float(tmp_path / "x.wav", x)
    out = tmp_path / "gain.wav"
    assert run_cli(capsys, "render", src, out, "--gain", "6.02", "--dither", "none")[0] == 0
    codes = io.read_int(out)[0][0] >> 16
    # Without dither a code is the nearest one, halves upward, to x * gain * 2**15.
    gain = 10 ** (6.02 / 20)                        # 20 log10(2) = 6.0206: 2 to 0.01 %
    assert abs(gain - 2) < 2e-4
    assert np.array_equal(codes, np.floor(x * gain * 2**15 + 0.5))
    api = tmp_path / "api.wav"
    assert render(src, api, gain_db=6.02, dither="none").gain_db == 6.02
    assert api.read_bytes() == out.read_bytes()


@pytest.mark.parametrize(("extra", "rate"), [([], RATE), (["--rate", "44100"], 44100)])
@pytest.mark.parametrize("dither", ["none", "tpdf"])
def test_normalize_puts_the_peak_at_its_level(tmp_path, capsys, rng, extra, rate, dither):
    n = RATE // 5
    x = np.vstack([0.3 * sine(997, 1, n, RATE), -0.05 * rng.standard_normal(n)])
    x[1, 1000] = -0.31                   # the peak of the file, and a negative one
    src = write_float(tmp_path / "x.wav", x)
    out = tmp_path / "norm.wav"
    status, text, _ = run_cli(capsys, "render", src, out, "--normalize", "-1",
                              "--dither", dither, *extra)
    assert status == 0 and "gain +" in text
    codes, out_rate = io.read_int(out)
    peak = np.abs(codes >> 16).max()
    assert out_rate == rate
    target = 10 ** (-1 / 20) * 2**15                # 29204.6 LSB
    # The peak sample lands on `target` (measured after the resampler, so also with
    # --rate); rounding gives round(target), TPDF dither (-1..1 LSB) one code either way.
    if dither == "none":
        assert peak == np.floor(target + 0.5)
    else:
        assert abs(peak - round(target)) <= 1


def test_normalizing_silence_leaves_silence(tmp_path):
    src = write_float(tmp_path / "zero.wav", np.zeros((2, 1000)))
    report = render(src, tmp_path / "out.wav", normalize_dbfs=-1)
    assert report.gain_db == 0.0
    assert not io.read_int(tmp_path / "out.wav")[0].any()


BAD_VALUES = [
    (["--gain", "61"], "--gain must be in -120..60 dB, got 61"),
    (["--gain", "-121"], "--gain must be in -120..60 dB, got -121"),
    (["--gain", "x"], "--gain must be a number in -120..60 dB, got 'x'"),
    (["--gain", "nan"], "--gain must be in -120..60 dB, got nan"),
    (["--normalize", "0.5"], "--normalize must be in -60..0 dBFS, got 0.5"),
    (["--normalize", "-61"], "--normalize must be in -60..0 dBFS, got -61"),
    (["--normalize", "inf"], "--normalize must be in -60..0 dBFS, got inf"),
    (["--gain", "1", "--normalize", "-1"], "argument --normalize: not allowed with argument "
                                           "--gain"),
]


@pytest.mark.parametrize(("flags", "message"), BAD_VALUES)
def test_gain_and_normalize_values_are_usage_errors(tmp_path, capsys, flags, message):
    # exit 2 before any file is read: the input does not even exist
    out = tmp_path / "out.wav"
    status, _, err = run_cli(capsys, "render", tmp_path / "missing.wav", out, *flags)
    assert status == 2 and message in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_flag_normalize_replaces_a_preset_gain(tmp_path, capsys, src):
    path = tmp_path / "g.toml"
    path.write_text("[render]\ngain_db = -6.0\n")
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    assert run_cli(capsys, "render", "--preset", path, "--normalize", "-3", src, a)[0] == 0
    render(src, b, normalize_dbfs=-3)
    assert a.read_bytes() == b.read_bytes()


def test_spec_is_frozen():
    spec = RenderSpec.of("a.wav", "b.wav")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.options.bits = 8  # type: ignore[misc]
    changed = dataclasses.replace(spec, options=dataclasses.replace(spec.options, bits=8))
    assert changed.options.changed() == {"bits": 8}


def test_a_render_without_a_preset_loads_no_toml_parser(tmp_path, src):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "audioquant", "render",
                          src, str(tmp_path / "out.wav")], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    modules = {line.split("|")[-1].strip() for line in res.stderr.splitlines()
               if line.startswith("import time:")}
    assert "audioquant.spec" in modules
    assert not modules & {"tomllib", "tomli", "difflib", "audioquant.sampling"}


def test_every_default_passes_its_own_check():
    # (check() takes the default as valid without looking: here it is looked at)
    for name, option in OPTIONS.items():
        if option.default is not None:
            check = getattr(option, f"_check_{option.kind}")
            assert check(option.default, name) == option.default, name
