"""MIDI in the engine: a MIDI file is a source like an audio file (read, quantized if
asked, played by an instrument, requantized, written), for one file or a batch; bad MIDI
input is one clear line and no file.

The instrument here is a test one (a constant level while a key is down), so that every
onset is visible to the sample in the written file; the built-in synth and the SoundFont
player have their own tests in tests/dsp."""

from __future__ import annotations

import os
from fractions import Fraction

import mido
import numpy as np
import pytest
import soundfile as sf

from audioquant import batch, bounce, render
from audioquant.dsp.instrument import Instrument
from audioquant.engine import RenderSpec, render_one


class Organ(Instrument):
    """Each key down adds velocity/127 / 4 to both channels; key up silences it."""

    def prepare_voices(self, sample_rate):
        self.voices = {}

    def start_note(self, channel, pitch, velocity):
        self.voices[channel, pitch] = velocity / 127 / 4

    def release_note(self, channel, pitch):
        self.voices.pop((channel, pitch), None)

    def stop_channel(self, channel):
        self.voices = {k: v for k, v in self.voices.items() if k[0] != channel}

    def render_voices(self, out):
        out += sum(self.voices.values(), 0.0)

    def sounding(self):
        return bool(self.voices)


@pytest.fixture(autouse=True)
def organ(monkeypatch):
    monkeypatch.setattr(bounce, "make_instrument", lambda name: Organ())


def write_take(path, notes, tempos=((0, 500_000),), ppq=480) -> None:
    """A type-1 file: a tempo track, and ``notes`` as (start tick, end tick, pitch, vel)."""
    mid = mido.MidiFile(type=1, ticks_per_beat=ppq)
    conductor = mido.MidiTrack()
    last = 0
    for tick, tempo in tempos:
        conductor.append(mido.MetaMessage("set_tempo", tempo=tempo, time=tick - last))
        last = tick
    events = sorted([(s, 1, mido.Message("note_on", note=p, velocity=v)) for s, _, p, v in notes]
                    + [(e, 0, mido.Message("note_off", note=p)) for _, e, p, _ in notes],
                    key=lambda x: (x[0], x[1]))
    track, last = mido.MidiTrack(), 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    mid.tracks += [conductor, track]
    mid.save(path)


def exact_sample(tick: int, tempos, ppq: int, rate: int) -> int:
    seconds, prev_tick, tempo = Fraction(0), 0, 500_000
    for at, value in tempos:
        if at > tick:
            break
        seconds += Fraction((at - prev_tick) * tempo, 10**6 * ppq)
        prev_tick, tempo = at, value
    seconds += Fraction((tick - prev_tick) * tempo, 10**6 * ppq)
    return int(seconds * rate + Fraction(1, 2))


def onsets(path) -> np.ndarray:
    x, _ = sf.read(path, always_2d=True)
    on = np.abs(x[:, 0]) > 0.05
    return np.flatnonzero(on[1:] & ~on[:-1]) + 1


def test_a_midi_file_renders_with_its_notes_on_their_samples(tmp_path):
    tempos = [(0, 500_000), (700, 350_000), (1500, 910_000)]
    notes = [(100, 300, 60, 100), (900, 1000, 62, 100), (2000, 2400, 64, 100)]
    take, out = str(tmp_path / "take.mid"), str(tmp_path / "take.wav")
    write_take(take, notes, tempos)
    report = render(take, out, bits=24, rate=48000, dither="none")
    assert report.sample_rate == 48000 and report.channels == 2
    want = [exact_sample(s, tempos, 480, 48000) for s, _, _, _ in notes]
    assert onsets(out).tolist() == want
    # Ends when the last note does (the tail is silent), on the next 64-sample step.
    end = exact_sample(2400, tempos, 480, 48000)
    assert end <= report.frames < end + 64


def test_quantize_options_apply_before_the_instrument(tmp_path):
    take, out = str(tmp_path / "take.mid"), str(tmp_path / "tight.wav")
    write_take(take, [(130, 300, 60, 100), (470, 700, 62, 100)])   # near 120 and 480
    render_one(RenderSpec.of(take, out, quantize={"grid": "1/16"}, dither="none",
                             rate=44100))
    # 1/16 at 480 PPQ is 120 ticks: 130 -> 120, 470 -> 480; 120 BPM: 1 tick = 1/960 s.
    assert onsets(out).tolist() == [exact_sample(120, [], 480, 44100),
                                    exact_sample(480, [], 480, 44100)]


def test_quantize_on_an_audio_input_is_refused(tmp_path):
    wav = str(tmp_path / "a.wav")
    sf.write(wav, np.zeros((100, 1)), 44100)
    with pytest.raises(ValueError, match="MIDI input"):
        render_one(RenderSpec.of(wav, str(tmp_path / "b.wav"), quantize={"grid": "1/8"}))


def test_block_size_does_not_change_a_byte(tmp_path):
    take = str(tmp_path / "take.mid")
    write_take(take, [(0, 50, 60, 90), (60, 900, 64, 30), (61, 62, 67, 127)])
    outs = []
    for block in (1, 77, 4096, None):
        out = str(tmp_path / f"b{block}.wav")
        render(take, out, bits=16, shaping="auto", block_size=block)
        outs.append(open(out, "rb").read())
    assert all(o == outs[0] for o in outs)


def test_a_batch_of_midi_files_writes_wav(tmp_path):
    folder = tmp_path / "takes"
    folder.mkdir()
    for i in range(3):
        write_take(str(folder / f"take{i}.mid"), [(0, 480 * (i + 1), 60 + i, 100)])
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00")
    out = tmp_path / "bounced"
    out.mkdir()
    paths = sorted(str(p) for p in folder.iterdir())
    report = batch.render_batch(paths, out, ext=".wav", bits=16)
    assert [os.path.basename(f.input) for f in report.failed] == ["broken.mid"]
    assert sorted(os.listdir(out)) == ["take0.wav", "take1.wav", "take2.wav"]
    seconds = sorted(f.duration for f in report.files if f.status == "written")
    assert seconds == pytest.approx([0.5, 1.0, 1.5], abs=64 / 44100)


def test_cli_midi_errors_are_one_line(tmp_path, capsys):
    from audioquant.cli import main

    wav = str(tmp_path / "a.wav")
    sf.write(wav, np.zeros((100, 1)), 44100)
    take = str(tmp_path / "take.mid")
    write_take(take, [(0, 480, 60, 100)])
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    cases = [
        (["render", wav, str(tmp_path / "o.wav"), "--grid", "1/8"], 2, "needs a MIDI input"),
        (["render", wav, str(tmp_path / "o.wav"), "--instrument", "x.sf2"], 2,
         "plays a MIDI input"),
        (["render", take, str(tmp_path / "o.wav"), "--instrument", "piano"], 2,
         "--instrument must be synth or a SoundFont file"),
        (["render", str(broken), str(tmp_path / "o.wav")], 1, "broken.mid"),
    ]
    for args, status, message in cases:
        assert main(args) == status, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "o.wav").exists()


def test_cli_render_of_a_midi_file_with_the_clean_preset(tmp_path, capsys):
    from audioquant.cli import main

    take, out = str(tmp_path / "take.mid"), str(tmp_path / "take.wav")
    write_take(take, [(130, 300, 60, 100)])
    # clean: 1/16 at strength 75: 130 -> 120 + 10 * 0.25 = 122.5 ticks (a whole tick).
    assert main(["render", "--preset", "clean", take, out, "--dither", "none"]) == 0
    assert onsets(out).tolist()[0] in (exact_sample(122, [], 480, 44100),
                                       exact_sample(123, [], 480, 44100))
    assert main(["render", "--preset", "cd", take, str(tmp_path / "cd.wav")]) == 0
    capsys.readouterr()


def test_cli_batch_quantizes_every_midi_input(tmp_path, capsys):
    from audioquant.cli import main

    folder, out = tmp_path / "takes", tmp_path / "bounced"
    folder.mkdir()
    out.mkdir()
    for i in range(2):
        write_take(str(folder / f"t{i}.mid"), [(130 + i, 300, 60, 100)])
    assert main(["render", *sorted(map(str, folder.iterdir())), "--out-dir", str(out),
                 "--grid", "1/16", "--dither", "none"]) == 0
    capsys.readouterr()
    for name in ("t0.wav", "t1.wav"):
        assert onsets(str(out / name)).tolist() == [exact_sample(120, [], 480, 44100)]
