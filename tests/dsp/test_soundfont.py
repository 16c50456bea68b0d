"""The SoundFont instrument: the reader at the edge, zone resolution, the sample player.

Two fonts: small ones built here byte by byte (a sine of known frequency and generators
of known values, so the expected output follows from the SoundFont 2.04 definitions),
and TimGM6mb.sf2 from the pretty_midi wheel (a real General MIDI font).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from fractions import Fraction
from types import SimpleNamespace

import mido
import numpy as np
import pytest

from audioquant import midi
from audioquant.dsp import instrument, sampler
from audioquant.dsp.soundfont import SoundFont, SoundFontError, read_sf2

pretty_midi = pytest.importorskip("pretty_midi")
TIMGM = os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")
RATE = 44100
ACTIVE, CHANNEL, KEY = sampler.I_ACTIVE, sampler.I_CHANNEL, sampler.I_KEY
NOTE_ON, NOTE_OFF, CONTROL, PROGRAM = (instrument.NOTE_ON, instrument.NOTE_OFF,
                                       instrument.CONTROL, instrument.PROGRAM)

# -- a SoundFont writer (independent of the reader: struct, the spec's record layouts) --------

RANGE_GENS = {43, 44}
UNSIGNED_GENS = {41, 53, 54}


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def _gens(zone: list[tuple[int, int | tuple[int, int]]]) -> bytes:
    out = b""
    for oper, amount in zone:
        if oper in RANGE_GENS:
            out += struct.pack("<HBB", oper, *amount)
        else:
            out += struct.pack("<HH" if oper in UNSIGNED_GENS else "<Hh", oper, amount)
    return out


def build_sf2(samples, instruments, presets) -> bytes:
    """``samples``: dicts (data int16, rate, root, loop (start, end) in the sample,
    correction); ``instruments``: lists of zones; ``presets``: (bank, program, zones);
    a zone is a list of (generator, amount)."""
    smpl, shdr = b"", b""
    at = 0
    for i, s in enumerate(samples):
        data = np.asarray(s["data"], dtype="<i2")
        ls, le = s.get("loop", (0, 0))
        shdr += struct.pack("<20sIIIIIBbHH", f"s{i}".encode(), at, at + data.size, at + ls,
                            at + le, s["rate"], s["root"], s.get("correction", 0), 0, 1)
        smpl += data.tobytes() + bytes(2 * 46)
        at += data.size + 46
    shdr += struct.pack("<20sIIIIIBbHH", b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0)

    def hydra(tables, terminal_fmt, terminal_name):
        head, bags, gens = b"", b"", b""
        nbag = ngen = 0
        for name, zones in tables:
            head += struct.pack(terminal_fmt, *name, nbag)
            for zone in zones:
                bags += struct.pack("<HH", ngen, 0)
                gens += _gens(zone)
                nbag += 1
                ngen += len(zone)
        head += struct.pack(terminal_fmt, *terminal_name, nbag)
        bags += struct.pack("<HH", ngen, 0)
        gens += struct.pack("<HH", 0, 0)
        return head, bags, gens

    phdr, pbag, pgen = hydra([((f"p{b}:{p}".encode(), p, b), z) for b, p, z in presets],
                             "<20sHHH", (b"EOP", 0, 0))
    phdr = b"".join(phdr[i:i + 26] + bytes(12) for i in range(0, len(phdr), 26))
    inst, ibag, igen = hydra([((f"i{k}".encode(),), z) for k, z in enumerate(instruments)],
                             "<20sH", (b"EOI",))
    mod = bytes(10)
    pdta = b"".join(_chunk(c, b) for c, b in (
        (b"phdr", phdr), (b"pbag", pbag), (b"pmod", mod), (b"pgen", pgen), (b"inst", inst),
        (b"ibag", ibag), (b"imod", mod), (b"igen", igen), (b"shdr", shdr)))
    info = _chunk(b"ifil", struct.pack("<HH", 2, 4)) + _chunk(b"INAM", b"test font\0")
    body = (b"sfbk" + _chunk(b"LIST", b"INFO" + info) + _chunk(b"LIST", b"sdta" + _chunk(
        b"smpl", smpl)) + _chunk(b"LIST", b"pdta" + pdta))
    return b"RIFF" + struct.pack("<I", len(body)) + body


#: The test sample: a cosine of period 100 frames at 44000 Hz (440 Hz), 200 periods,
#: looped over its last 100 periods (the loop holds whole periods: seamless by design).
PERIOD, SAMPLE_RATE = 100, 44000
COSINE = np.round(16000 * np.cos(2 * np.pi * np.arange(200 * PERIOD) / PERIOD)).astype(np.int16)
SINE_SAMPLE = {"data": COSINE, "rate": SAMPLE_RATE, "root": 69,
               "loop": (100 * PERIOD, 200 * PERIOD)}

# generators
ATTACK, HOLD, DECAY, SUSTAIN, RELEASE = 34, 35, 36, 37, 38
ATTEN, PAN, START_OFS, MODES, EXCL, ROOT, FINE, COARSE = 48, 17, 0, 54, 57, 58, 52, 51
KEYS, VELS, INST, SAMPLE = 43, 44, 41, 53


def font_with(zone_gens=(), preset_gens=(), presets=((0, 0),)) -> SoundFont:
    """A font of one instrument zone (the looped cosine, plus ``zone_gens``) in presets
    ``presets``, each zone with ``preset_gens``."""
    zone = [*zone_gens, (MODES, 1), (SAMPLE, 0)]
    return SoundFont(build_sf2([SINE_SAMPLE], [[zone]],
                               [(b, p, [[*preset_gens, (INST, 0)]]) for b, p in presets]))


def play(events, rate: int = RATE):
    s, k, c, a, b = (np.array(x, dtype=np.int64) for x in zip(*events, strict=True))
    return SimpleNamespace(sample_rate=rate, sample=s, kind=k, channel=c, a=a, b=b)


def render(inst, performance, block: int = 1 << 16) -> np.ndarray:
    inst.prepare(performance)
    parts = []
    while (part := inst.render(block)).shape[1]:
        parts.append(part)
    return np.concatenate(parts, axis=1) if parts else np.zeros((2, 0))


def peak_hz(x: np.ndarray, rate: int) -> float:
    """The strongest frequency of ``x``: Hann window, 8x zero padding, parabolic peak."""
    n = 8 * x.size
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size), n))
    k = int(np.argmax(spec[1:])) + 1
    a, b, c = np.log(spec[k - 1:k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / n


def cents(f: float, ref: float) -> float:
    return 1200 * np.log2(f / ref)


# -- the reader ---------------------------------------------------------------------------

def test_timgm_presets_hold_the_gm_set_and_the_drum_kit():
    font = SoundFont(TIMGM)
    numbers = {(b, p) for b, p, _ in font.presets}
    assert {(0, p) for p in range(128)} <= numbers and (128, 0) in numbers
    assert font.presets == sorted(font.presets)
    assert font.file.data.dtype == np.int16 and font.file.name


@pytest.mark.parametrize("damage", ["half", "header", "random", "wave", "empty", "pdta"])
def test_broken_files_raise_one_clear_line(tmp_path, damage):
    good = open(TIMGM, "rb").read()
    rng = np.random.default_rng(3)
    bad = {"half": good[:len(good) // 2], "header": good[:10],
           "random": rng.integers(0, 256, 5000, dtype=np.uint8).tobytes(),
           "wave": b"RIFF" + struct.pack("<I", 4) + b"WAVE", "empty": b"",
           "pdta": good.replace(b"shdr", b"shdX")}[damage]
    path = tmp_path / "broken.sf2"
    path.write_bytes(bad)
    with pytest.raises(SoundFontError) as err:
        SoundFont(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert isinstance(err.value, ValueError) and isinstance(err.value, OSError)
    with pytest.raises(SoundFontError, match="SoundFont"):
        read_sf2(bad)


def test_a_missing_file_is_a_soundfont_error(tmp_path):
    with pytest.raises(SoundFontError, match="nothere.sf2"):
        SoundFont(tmp_path / "nothere.sf2")


def test_a_sample_outside_the_data_is_refused():
    data = build_sf2([SINE_SAMPLE], [[[(SAMPLE, 0)]]], [(0, 0, [[(INST, 0)]])])
    at = data.index(b"s0\0")                   # the first shdr record: its end field
    broken = data[:at + 24] + struct.pack("<I", 10 ** 8) + data[at + 28:]
    with pytest.raises(SoundFontError, match="sample 0"):
        SoundFont(broken)


# -- resolution ---------------------------------------------------------------------------

def steady_level(font: SoundFont, velocity: int = 127, key: int = 69) -> float:
    """The RMS of a held note after its attack (left channel)."""
    out = render(font, play([(0, NOTE_ON, 0, key, velocity), (RATE // 2, NOTE_OFF, 0, key, 0)]))
    return float(np.sqrt(np.mean(out[0, 4410:RATE // 2] ** 2)))


def test_preset_generators_add_to_the_instrument_s():
    # initialAttenuation: 60 in the instrument zone, 40 more at the preset level: 100,
    # which attenuates 0.4 x 100 = 40 cB (the E-mu scale every player follows), 4 dB
    # below the plain zone (amplitude 10 ** (-cB / 200)).
    plain = steady_level(font_with())
    both = steady_level(font_with([(ATTEN, 60)], [(ATTEN, 40)]))
    assert both / plain == pytest.approx(10 ** (-40 / 200), rel=1e-9)
    # sampleModes and the root key are instrument-only: at the preset level they are
    # ignored (a preset root key of 57 would move the pitch an octave).
    assert steady_level(font_with(preset_gens=[(ROOT, 57), (MODES, 0)])) == \
        pytest.approx(plain, rel=1e-12)


def test_velocity_follows_the_default_modulator():
    # velocity -> attenuation, negative concave over 960 cB: -400 log10(v / 127) cB, so
    # the amplitude goes as (v / 127) ** 2; the low-pass of the default velocity ->
    # cutoff modulator (-2400 (1 - v/127) cents from 13500: 10.2 kHz at 64) passes 440 Hz.
    loud, soft = steady_level(font_with()), steady_level(font_with(), velocity=64)
    # 440 Hz through a Q = 1 biquad at 10 kHz: gain within 0.2 % of DC's.
    assert soft / loud == pytest.approx((64 / 127) ** 2, rel=2e-3)


def test_key_ranges_and_program_fallback():
    zone_a = [(KEYS, (0, 59)), (MODES, 1), (SAMPLE, 0)]
    zone_b = [(KEYS, (60, 127)), (ATTEN, 200), (MODES, 1), (SAMPLE, 0)]
    font = SoundFont(build_sf2([SINE_SAMPLE], [[zone_a, zone_b]],
                               [(0, 0, [[(INST, 0)]]), (0, 5, [[(KEYS, (0, 64)), (INST, 0)]])]))
    assert [p[:2] for p in font.presets] == [(0, 0), (0, 5)]
    low, high = steady_level(font, key=57), steady_level(font, key=69)
    assert high / low == pytest.approx(10 ** (-80 / 200), rel=1e-6)    # 0.4 x 200 cB: -8 dB
    # program 5 holds keys 0..64 only: key 69 is silent there; program 9 falls back to 0.
    events = [(0, PROGRAM, 0, 5, 0), (0, NOTE_ON, 0, 69, 100), (0, PROGRAM, 1, 9, 0),
              (0, NOTE_ON, 1, 69, 100), (4410, NOTE_OFF, 0, 69, 0), (4410, NOTE_OFF, 1, 69, 0)]
    font.prepare(play(events))
    font.render(10)
    assert font._vi[:, ACTIVE].sum() == 1 and font._vi[font._vi[:, ACTIVE] == 1, CHANNEL][0] == 1
    assert font.missing_programs(play(events)) == [(1, 0, 9)]
    # drums: a kit the font lacks falls back to kit 0 when the font has one.
    drums = [(0, PROGRAM, 9, 25, 0), (0, NOTE_ON, 9, 38, 100)]
    assert font.missing_programs(play(drums)) == [(9, 128, 25)]
    kit = font_with(presets=[(0, 0), (128, 0)])
    assert kit.missing_programs(play(drums)) == []
    kit.check(play(drums))
    with pytest.raises(SoundFontError) as err:
        font.check(play(events))
    assert str(err.value) == "<SoundFont bytes>: the SoundFont has no program 9 (bank 0) " \
        "on channel 2"
    font.check(play(events[:2]))                  # program 5 is there: no error


# -- the player, on the cosine font ------------------------------------------------------

def song_with_tempo_changes(path) -> tuple[list[int], list[int]]:
    """A MIDI file (mido) with notes across tempo changes; the notes' expected samples
    from the tempo map in exact fractions; returns (pitches, expected samples)."""
    tpb = 480
    mid = mido.MidiFile(ticks_per_beat=tpb)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    tempos = [500000, 333333, 612345, 250000, 470001]
    events, now = [], 0
    for k, tempo in enumerate(tempos):
        events.append((now, mido.MetaMessage("set_tempo", tempo=tempo)))
        for j in range(3):
            t = now + 97 * j + 13
            events.append((t, mido.Message("note_on", note=60 + k + j, velocity=100)))
            events.append((t + 60, mido.Message("note_off", note=60 + k + j, velocity=0)))
        now += 4 * tpb
    events.sort(key=lambda e: (e[0], e[1].type != "note_off"))
    last = 0
    for t, msg in events:
        track.append(msg.copy(time=t - last))
        last = t
    mid.save(path)
    # seconds(tick) = sum over tempo segments of ticks x tempo / (1e6 x tpb), exactly
    expected, pitches = [], []
    for t, msg in events:
        if msg.type == "note_on":
            k = min(t // (4 * tpb), len(tempos) - 1)
            sec = sum(Fraction(4 * tpb * tempos[i], 10 ** 6 * tpb) for i in range(k)) + \
                Fraction((t - 4 * tpb * k) * tempos[k], 10 ** 6 * tpb)
            expected.append(round(sec * RATE))
            pitches.append(msg.note)
    return pitches, expected


def test_onsets_land_on_the_event_sample_through_tempo_changes(tmp_path):
    pitches, expected = song_with_tempo_changes(tmp_path / "tempo.mid")
    performance = midi.performance(midi.read(tmp_path / "tempo.mid"), RATE)
    on = performance.sample[performance.kind == NOTE_ON]
    assert on.tolist() == expected                        # the performance is exact...
    # ... and so is the player: the cosine starts at +1, the attack's first value is
    # 1 / A (A = round(2 ** (-12000 / 1200) x rate)), so each note's first sample sounds.
    out = render(font_with(), performance)
    assert np.all(out[:, :expected[0]] == 0)
    assert all(out[0, sample] > 0 for sample in expected)
    # Each note alone: silent up to its sample, sounding on it.
    for sample, pitch in zip(expected, pitches, strict=True):
        alone = render(font_with(), play([(sample, NOTE_ON, 0, pitch, 100),
                                          (sample + 500, NOTE_OFF, 0, pitch, 0)]))
        first = int(np.flatnonzero(alone[0])[0])
        assert first == sample


def test_a_start_offset_moves_the_first_frame_and_the_note_plays_the_data():
    # At the root key with the sample at the output rate, frame n of the output is frame
    # start + n of the data times the envelope and the gain: once the attack is done
    # (a hold of 2 s keeps the level), the ratio is one constant.
    offset = 37
    sample = dict(SINE_SAMPLE, rate=RATE)
    zone = [(START_OFS, offset), (HOLD, 1200), (MODES, 1), (SAMPLE, 0)]
    font = SoundFont(build_sf2([sample], [[zone]], [(0, 0, [[(INST, 0)]])]))
    at = 1234
    out = render(font, play([(at, NOTE_ON, 0, 69, 127), (at + 20000, NOTE_OFF, 0, 69, 0)]))
    assert np.all(out[:, :at] == 0) and out[0, at] != 0
    played = out[0, at + 100:at + 5000]
    data = COSINE[offset + 100:offset + 5000].astype(float)
    ratio = played[data != 0] / data[data != 0]
    assert np.allclose(ratio, ratio[0], rtol=1e-12, atol=0)


def test_the_envelope_follows_its_timecents_and_centibels():
    # hold 2 ** (-1200 / 1200) = 0.5 s at full level; decay 0 tc: 100 dB per second toward
    # a sustain 200 cB (-20 dB), so -20 dB is reached 0.2 s after the hold; release
    # 0 tc: -100 dB per second from the sustain level after the note-off at 1.5 s.
    font = font_with([(ATTACK, -12000), (HOLD, -1200), (DECAY, 0), (SUSTAIN, 200),
                      (RELEASE, 0)])
    out = render(font, play([(0, NOTE_ON, 0, 69, 127), (int(1.5 * RATE), NOTE_OFF, 0, 69, 0)]))

    def level_db(t0: float) -> float:        # RMS over 10 ms (4.4 periods ~ whole enough)
        a = int(t0 * RATE)
        x = out[0, a:a + 441]
        return 20 * np.log10(np.sqrt(np.mean(x ** 2)) * np.sqrt(2))

    full = level_db(0.2)
    assert level_db(0.45) == pytest.approx(full, abs=0.05)
    # 0.1 s into the decay: -10 dB (the 10 ms window's own slope averages around it).
    assert level_db(0.595) - full == pytest.approx(-10.0, abs=0.3)
    assert level_db(1.0) - full == pytest.approx(-20.0, abs=0.05)
    assert level_db(1.995) - full == pytest.approx(-70.0, abs=0.5)   # 0.5 s of release
    # the voice ends below -100 dB: the stream ends within 1.1 s of the note-off.
    assert out.shape[1] < int(2.65 * RATE)


def test_loops_are_seamless():
    # A 6 s note at key 70 (a ratio that is no whole number of frames): the cosine loop
    # holds whole periods, so the output is a steady sine; its largest step is at most
    # the sine's own, 2 A sin(pi f / fs), plus the interpolation's tiny ripple.
    font = font_with([(HOLD, 5000)])
    out = render(font, play([(0, NOTE_ON, 0, 70, 127), (6 * RATE, NOTE_OFF, 0, 70, 0)]))
    x = out[0, RATE // 10:6 * RATE - 10]
    f = 440 * 2 ** (1 / 12)
    amplitude = np.max(np.abs(x))
    assert np.max(np.abs(np.diff(x))) <= 2 * amplitude * np.sin(np.pi * f / RATE) * 1.001
    windows = x[:x.size // 4410 * 4410].reshape(-1, 4410)
    rms = np.sqrt(np.mean(windows ** 2, axis=1))
    # A 100 ms window holds 46.6 periods: its mean square of a steady sine is within
    # 1 / (2 pi x 46.6) of its own (the part period), so the RMS within half that.
    assert np.ptp(rms) / rms.mean() < 1 / (2 * np.pi * f * 0.1)
    assert cents(peak_hz(x, RATE), f) == pytest.approx(0, abs=0.2)


def test_pitch_root_key_and_tuning():
    # coarse +1 semitone, fine -30 cents, root 60 instead of the sample's 69:
    # key 69 plays (69 - 60) x 100 + 100 - 30 = 970 cents above 440 Hz.
    font = font_with([(ROOT, 60), (COARSE, 1), (FINE, -30), (HOLD, 1200)])
    out = render(font, play([(0, NOTE_ON, 0, 69, 127), (RATE, NOTE_OFF, 0, 69, 0)]))
    assert cents(peak_hz(out[0, 2000:RATE], RATE), 440) == pytest.approx(970, abs=0.3)


def test_pitch_bend_moves_the_pitch_by_its_range():
    font = font_with([(HOLD, 1200)])
    events = [(0, instrument.PITCH_BEND, 0, 4096, 0), (0, NOTE_ON, 0, 69, 127),
              (RATE, NOTE_OFF, 0, 69, 0)]
    out = render(font, play(events))
    # +4096 of 8192 over the default 2 semitones: +100 cents.
    assert cents(peak_hz(out[0, 2000:RATE], RATE), 440) == pytest.approx(100, abs=0.3)


def test_the_modulation_envelope_moves_the_pitch():
    # modEnvToPitch +1200 cents with the mod envelope held at its peak (attack at the
    # minimum, hold 2 ** (0 / 1200) = 1 s): an octave up during the hold; then a decay of
    # 2 ** (-2400 / 1200) = 0.25 s to a sustain 100 % below the peak: the written pitch.
    font = font_with([(HOLD, 1200), (7, 1200), (26, -12000), (27, 0), (28, -2400),
                      (29, 1000)])
    out = render(font, play([(0, NOTE_ON, 0, 69, 127), (2 * RATE, NOTE_OFF, 0, 69, 0)]))
    assert cents(peak_hz(out[0, 2000:40000], RATE), 880) == pytest.approx(0, abs=0.5)
    assert cents(peak_hz(out[0, 60000:88000], RATE), 440) == pytest.approx(0, abs=0.5)


def test_a_voice_ends_below_the_noise_floor():
    # After its release a voice ends once its loudest possible output (the sample's
    # peak x its gain x the envelope) is below -100 dBFS; the stream then ends on the
    # next 64-sample step.
    from audioquant.dsp.soundfont import NOISE_FLOOR

    font = font_with([(RELEASE, 0)])                 # 100 dB per second
    out = render(font, play([(0, NOTE_ON, 0, 69, 64), (RATE // 2, NOTE_OFF, 0, 69, 0)]))
    level = float(np.max(np.abs(out[0, RATE // 4:RATE // 2])))
    # the release falls from `level` to NOISE_FLOOR at 100 dB/s (+ up to 64 samples)
    expected = RATE // 2 + 20 * np.log10(level / NOISE_FLOOR) / 100 * RATE
    assert expected - 2 <= out.shape[1] <= expected + 64 + 2
    last = int(np.flatnonzero(out[0])[-1])           # the voice's last sample: at the floor
    assert np.abs(out[0, last]) <= NOISE_FLOOR * 1.001 and out.shape[1] - last <= 64 + 2


def test_exclusive_class_chokes_the_earlier_note():
    zone = [(EXCL, 1), (HOLD, 1200), (MODES, 1), (SAMPLE, 0)]
    font = SoundFont(build_sf2([SINE_SAMPLE], [[zone]], [(128, 0, [[(INST, 0)]])]))
    events = [(0, NOTE_ON, 9, 46, 100), (4410, NOTE_ON, 9, 42, 100),
              (20000, NOTE_OFF, 9, 42, 0), (20000, NOTE_OFF, 9, 46, 0)]
    font.prepare(play(events))
    font.render(4410 + 441)                 # 10 ms after the second hit
    keys = font._vi[font._vi[:, ACTIVE] == 1, KEY].tolist()
    assert keys == [42]


def test_voice_stealing_takes_the_quietest_and_is_deterministic():
    font = font_with([(HOLD, 1200)])
    font.polyphony = 3
    events = [(i * 100, NOTE_ON, 0, 60 + i, 20 + 20 * i) for i in range(5)]
    events += [(3000, NOTE_OFF, 0, 60 + i, 0) for i in range(5)]
    font.prepare(play(events))
    font.render(600)
    # velocities 20, 40, 60, 80, 100: the quietest go first, the newest two and 60 stay.
    assert sorted(font._vi[font._vi[:, ACTIVE] == 1, KEY].tolist()) == [62, 63, 64]
    a = render(font, play(events))
    assert np.array_equal(a, render(font, play(events)))


# -- TimGM6mb ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def timgm() -> SoundFont:
    return SoundFont(TIMGM)


def test_every_gm_program_and_the_drum_kit_sounds(timgm):
    for program in range(128):
        events = [(0, PROGRAM, 0, program, 0), (10, NOTE_ON, 0, 60, 100),
                  (RATE // 2, NOTE_OFF, 0, 60, 0)]         # (119, a reverse cymbal, swells)
        timgm.max_tail = 0.2
        out = render(timgm, play(events))
        assert np.all(np.isfinite(out)), program
        assert np.max(np.abs(out)) > 1e-3, program
        assert np.all(out[:, :10] == 0), program
    for key in (35, 38, 42, 46, 49, 56, 81):
        out = render(timgm, play([(0, NOTE_ON, 9, key, 100), (4000, NOTE_OFF, 9, key, 0)]))
        assert np.max(np.abs(out)) > 1e-3, key
    timgm.max_tail = 30.0


@pytest.mark.parametrize("program", [16, 19, 20])
def test_pitch_of_sustained_programs(timgm, program):
    # The fundamental of a held note: the strongest peak within a semitone of
    # 440 x 2 ** ((p - 69) / 12). The font's samples carry their own tuning (TimGM6mb's
    # flute at key 57 is +7.4 cents in FluidSynth too), so within
    # 5 cents for the organs; layered programs (strings, choir: detuned pairs) and
    # the flute (+7 and +13 cents as the font tunes it) are left out.
    for pitch in (57, 69, 76):
        events = [(0, PROGRAM, 0, program, 0), (0, NOTE_ON, 0, pitch, 100),
                  (2 * RATE, NOTE_OFF, 0, pitch, 0)]
        out = render(timgm, play(events))
        x = out[0, RATE // 4:2 * RATE]
        f0 = 440 * 2 ** ((pitch - 69) / 12)
        n = 8 * x.size
        spec = np.abs(np.fft.rfft(x * np.hanning(x.size), n))
        freqs = np.arange(spec.size) * RATE / n
        near = (freqs > f0 * 2 ** (-1 / 12)) & (freqs < f0 * 2 ** (1 / 12))
        k = int(np.flatnonzero(near)[np.argmax(spec[near])])
        a, b, c = np.log(spec[k - 1:k + 2])
        found = (k + 0.5 * (a - c) / (a - 2 * b + c)) * RATE / n
        assert cents(found, f0) == pytest.approx(0, abs=5), (program, pitch, found)


def test_a_looped_organ_note_holds_a_steady_level(timgm):
    events = [(0, PROGRAM, 0, 19, 0), (0, NOTE_ON, 0, 60, 100), (4 * RATE, NOTE_OFF, 0, 60, 0)]
    out = render(timgm, play(events))
    x = out[0, RATE // 2:4 * RATE]
    windows = x[:x.size // 2205 * 2205].reshape(-1, 2205)              # 50 ms
    db = 20 * np.log10(np.sqrt(np.mean(windows ** 2, axis=1)))
    assert np.ptp(db) < 1.0                   # no dropout or jump at the loop points


@pytest.fixture(scope="module")
def busy_performance():
    events = [(0, PROGRAM, 1, 48, 0), (0, CONTROL, 0, 64, 127)]
    rng = np.random.default_rng(11)
    for i in range(40):
        t = int(i * 1103 + rng.integers(0, 500))
        ch = int(rng.integers(0, 2)) if i % 5 else 9
        pitch = int(rng.integers(36, 84))
        events.append((t, NOTE_ON, ch, pitch, int(rng.integers(30, 127))))
        events.append((t + int(rng.integers(100, 9000)), NOTE_OFF, ch, pitch, 0))
    events += [(20000, CONTROL, 0, 64, 0), (21000, instrument.PITCH_BEND, 1, -3000, 0),
               (22000, CONTROL, 1, 7, 60), (23000, CONTROL, 1, 10, 20)]
    events.sort(key=lambda e: (e[0], 0 if e[1] == NOTE_OFF else 2 if e[1] == NOTE_ON else 1))
    return play(events)


def test_block_size_does_not_change_a_bit(timgm, busy_performance):
    whole = render(timgm, busy_performance, 1 << 20)
    assert whole.shape[1] > 50000 and np.max(np.abs(whole)) > 0.01
    for block in (1, 64, 997, 4096):
        assert np.array_equal(render(timgm, busy_performance, block), whole), block
    # the two voice groups in two threads: the same numbers
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as executor:
        timgm.pool = lambda work, parts: executor
        try:
            assert np.array_equal(render(timgm, busy_performance, 4096), whole)
        finally:
            timgm.pool = None


def test_prepare_again_is_fresh(timgm, busy_performance):
    first = render(timgm, busy_performance, 5000)
    assert np.array_equal(render(timgm, busy_performance, 5000), first)


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth is not installed")
def test_pitch_agrees_with_fluidsynth(tmp_path, timgm):
    # FluidSynth as an independent reference: the same note of the same font, the same
    # fundamental within 2 cents.
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track += [mido.Message("program_change", program=19, time=0),
              mido.Message("note_on", note=64, velocity=100, time=0),
              mido.Message("note_off", note=64, velocity=0, time=1920)]
    mid.save(tmp_path / "n.mid")
    wav = tmp_path / "n.wav"
    subprocess.run(["fluidsynth", "-ni", "-q", "-g", "1", "-R", "0", "-C", "0", "-r", str(RATE),
                    "-F", str(wav), TIMGM,
                    str(tmp_path / "n.mid")], check=True, capture_output=True, timeout=60)
    import soundfile

    theirs = soundfile.read(wav)[0][:, 0]
    ours = render(timgm, midi.performance(midi.read(tmp_path / "n.mid"), RATE))[0]
    a, b = theirs[RATE // 4:RATE * 2], ours[RATE // 4:RATE * 2]
    assert cents(peak_hz(b, RATE), peak_hz(a, RATE)) == pytest.approx(0, abs=2)
    # and the level, FluidSynth at gain 1 (its default is 0.2): within 1.5 dB (its pan
    # law and its filter differ a little from ours).
    ratio_db = 20 * np.log10(np.sqrt(np.mean(b ** 2)) / np.sqrt(np.mean(a ** 2)))
    assert ratio_db == pytest.approx(0, abs=1.5)
