"""`audioquant render take.mid ...` end to end with the real instruments: the built-in
synth and a General MIDI SoundFont (TimGM6mb.sf2, shipped in the pretty_midi wheel)."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import mido
import numpy as np
import pretty_midi
import pytest
import soundfile as sf

FONT = os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audioquant", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def take(tmp_path) -> str:
    """Two bars at 100 BPM then 140 BPM: a played-late melody on a piano and a drum hit."""
    mid = mido.MidiFile(type=0, ticks_per_beat=480)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=600_000, time=0))
    track.append(mido.Message("program_change", program=0, time=0))
    events, tick = [], 0
    for i, pitch in enumerate((60, 64, 67, 72)):
        start = i * 480 + 17                           # 17 ticks late on every beat
        events += [(start, mido.Message("note_on", note=pitch, velocity=90)),
                   (start + 400, mido.Message("note_off", note=pitch))]
    events += [(960, mido.MetaMessage("set_tempo", tempo=428_571)),
               (1920, mido.Message("note_on", channel=9, note=38, velocity=110)),
               (2000, mido.Message("note_off", channel=9, note=38))]
    for at, msg in sorted(events, key=lambda e: e[0]):
        track.append(msg.copy(time=at - tick))
        tick = at
    mid.tracks.append(track)
    path = str(tmp_path / "take.mid")
    mid.save(path)
    return path


def seconds(tick: int) -> Fraction:
    """The take's tempo map: 600000 us/beat to tick 960, then 428571."""
    first = min(tick, 960)
    return Fraction(first * 600_000 + max(tick - 960, 0) * 428_571, 480 * 10**6)


def test_render_a_take_quantized_by_the_synth(tmp_path, take):
    out = str(tmp_path / "take.wav")
    r = cli("render", take, out, "--grid", "1/4", "--strength", "100", "--bits", "16")
    assert r.returncode == 0, r.stderr
    info = sf.info(out)
    assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_16")
    x, _ = sf.read(out)
    # Quantized to the beat: the first note starts at tick 0, the second at 480 (not 497).
    second = int(seconds(480) * 44100 + Fraction(1, 2))
    late = int(seconds(497) * 44100 + Fraction(1, 2))
    before = np.abs(x[second - 200:second - 2, 0]).max()
    assert np.abs(x[second + 1:second + 60]).max() > 2 * before or before == 0
    assert len(x) > int(seconds(2000) * 44100)            # the drum hit and its tail
    assert late > second


def test_render_with_a_soundfont_at_48k_24_bit(tmp_path, take):
    out = str(tmp_path / "take.flac")
    r = cli("render", take, out, "--instrument", FONT, "--rate", "48000", "--bits", "24")
    assert r.returncode == 0, r.stderr
    info = sf.info(out)
    assert (info.samplerate, info.subtype) == (48000, "PCM_24")
    x, _ = sf.read(out)
    first = np.flatnonzero(np.abs(x[:, 0]) > 1e-4)[0]
    exact = int(seconds(17) * 48000 + Fraction(1, 2))
    assert exact <= first < exact + 48000 // 20      # the piano sample's own lead-in only


def test_a_preset_names_the_instrument(tmp_path, take):
    preset = tmp_path / "bounce.toml"
    preset.write_text(f'description = "GM bounce"\n[render]\ninstrument = "{FONT}"\n'
                      'bits = 16\n[midi]\ngrid = "1/8"\n')
    a, b = str(tmp_path / "a.wav"), str(tmp_path / "b.wav")
    assert cli("render", "--preset", str(preset), take, a).returncode == 0
    r = cli("render", take, b, "--instrument", FONT, "--bits", "16", "--grid", "1/8")
    assert r.returncode == 0, r.stderr
    assert open(a, "rb").read() == open(b, "rb").read()


@pytest.mark.parametrize("font", ["missing.sf2", "broken.sf2"])
def test_a_bad_soundfont_is_one_line_and_no_file(tmp_path, take, font):
    path = tmp_path / font
    if font == "broken.sf2":
        path.write_bytes(open(FONT, "rb").read(5000))
    out = tmp_path / "take.wav"
    r = cli("render", take, str(out), "--instrument", str(path))
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert font in r.stderr and "Traceback" not in r.stderr
    left = {"take.mid"} | ({font} if path.exists() else set())
    assert set(os.listdir(tmp_path)) == left        # no output, no temporary file
