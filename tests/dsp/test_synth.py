"""The built-in synth: notes on their exact samples through tempo maps, pitches, the GM
controllers' laws, band-limited waves, bit-exact output for any block split."""

from __future__ import annotations

import math
from fractions import Fraction

import mido
import numpy as np
import pytest

from audioquant import midi
from audioquant.dsp import synth
from audioquant.dsp.synth import Synth

# Programs (0-based GM numbers) of each kind of wave, from the table in dsp/synth.py.
PIANO, ORGAN, SAW_LEAD, SQUARE_LEAD, FLUTE, SOUND_FX = 0, 16, 81, 80, 73, 120
DRUMS = 9


def make_song(start, end, pitch, *, velocity=100, channel=0, events=(), tempo=(),
              ppq=480) -> midi.Song:
    """A one-track song from note arrays [ticks], kept events ``(tick, message)`` and
    tempo changes ``(tick, microseconds per beat)``."""
    notes = midi.Notes.from_arrays(start=start, end=end, pitch=pitch, velocity=velocity,
                                   channel=channel)
    kept = [(int(t), 10**6 + i, msg) for i, (t, msg) in enumerate(events)]
    last = max([int(np.max(end))] + [t for t, _, _ in kept])
    return midi.Song(ppq, 1, notes, [kept], np.array([last]), [None],
                     midi.TempoMap.from_changes(ppq, list(tempo)))


def program(p: int, channel: int = 0) -> tuple[int, mido.Message]:
    return 0, mido.Message("program_change", channel=channel, program=p)


def cc(tick: int, control: int, value: int, channel: int = 0) -> tuple[int, mido.Message]:
    return tick, mido.Message("control_change", channel=channel, control=control, value=value)


def render(song: midi.Song, rate: int, block: int = 1 << 20, **options) -> np.ndarray:
    """The whole stream (2, frames), rendered ``block`` frames at a time."""
    inst = Synth(**options)
    inst.prepare(midi.performance(song, rate))
    parts = []
    while (part := inst.render(block)).shape[1]:
        assert part.shape[1] <= block
        parts.append(part)
    return np.concatenate(parts, axis=1)


def exact_sample(tempo_map: midi.TempoMap, tick: int, rate: int) -> int:
    """round(seconds(tick) x rate), halves up, in Fractions: the tempo segments summed
    (independent of TempoMap.samples)."""
    edges, tempos = tempo_map.ticks.tolist(), tempo_map.tempos.tolist()
    seconds = Fraction(0)
    for i, start in enumerate(edges):
        stop = edges[i + 1] if i + 1 < len(edges) and edges[i + 1] < tick else tick
        seconds += Fraction((stop - start) * tempos[i], 10**6 * tempo_map.ticks_per_beat)
        if stop == tick:
            break
    return math.floor(seconds * rate + Fraction(1, 2))


def first_sound(out: np.ndarray, start: int) -> int:
    """The first sample at or after ``start`` where either channel is not exactly 0."""
    loud = np.flatnonzero(np.any(out[:, start:] != 0, axis=0))
    return start + int(loud[0]) if loud.size else -1


def peak_hz(x: np.ndarray, rate: int) -> float:
    """The strongest frequency of ``x``: Hann window, 16x zero padding, and the peak
    refined by a parabola through the log magnitudes (Gaussian interpolation)."""
    size = 16 * x.size
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), size))
    k = int(np.argmax(spectrum[1:])) + 1
    a, b, c = np.log(spectrum[k - 1:k + 2] + 1e-300)
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / size


def cents(f: float, ref: float) -> float:
    return 1200 * math.log2(f / ref)


def midi_hz(pitch: float) -> float:
    return 440.0 * 2 ** ((pitch - 69) / 12)


# -- timing -------------------------------------------------------------------------------

def test_each_note_starts_on_its_exact_sample_through_tempo_changes():
    ppq, rate = 480, 44100
    tempo = [(1920, 300_000), (3000, 1_250_000), (7777, 411_111), (9001, 640_123)]
    starts = np.arange(12) * 1000 + 7 * np.arange(12) ** 2        # irregular ticks
    song = make_song(starts, starts + 120, 60 + np.arange(12), tempo=tempo, ppq=ppq,
                     events=[program(SQUARE_LEAD)])
    out = render(song, rate)
    for tick in starts.tolist():
        s0 = exact_sample(song.tempo_map, tick, rate)
        # The previous note has died away (>= 0.3 s of rest); the square wave starts at
        # phase 0, sin(0) = 0, so its first non-zero sample is the one after the onset.
        lo = max(s0 - 2000, 0)
        assert np.all(out[:, lo:s0 + 1] == 0), tick
        assert first_sound(out, lo) == s0 + 1, tick


def test_drum_hits_sound_on_their_exact_sample():
    rate = 48000
    starts = np.array([0, 777, 2000, 3333])
    song = make_song(starts, starts + 10, [42, 42, 38, 42], channel=DRUMS, ppq=96,
                     tempo=[(500, 523_456)])
    out = render(song, rate)
    for tick in starts.tolist():
        s0 = exact_sample(song.tempo_map, tick, rate)
        assert first_sound(out, max(s0 - 1000, 0)) == s0   # noise is non-zero at once


def test_200_tempo_changes_do_not_drift():
    rng = np.random.default_rng(200)
    ppq, rate = 960, 8000
    change_ticks = np.sort(rng.choice(np.arange(1, 600_000), 200, replace=False))
    tempos = rng.integers(150_000, 2_000_000, 200)
    tempo = [(int(t), int(v)) for t, v in zip(change_ticks, tempos, strict=True)]
    starts = np.array([300_007, 600_017])                           # the last, long after
    song = make_song(starts, starts + 200, [69, 72], tempo=tempo, ppq=ppq,
                     events=[program(SOUND_FX)])
    out = render(song, rate)
    for tick in starts.tolist():
        s0 = exact_sample(song.tempo_map, tick, rate)
        assert s0 > 5 * 60 * rate or tick != starts[-1]            # minutes into the file
        assert first_sound(out, s0 - 4000) == s0 + 1


# -- pitch --------------------------------------------------------------------------------

@pytest.mark.parametrize("prog", [PIANO, ORGAN, SAW_LEAD, SQUARE_LEAD, FLUTE, SOUND_FX])
@pytest.mark.parametrize("pitch", [45, 69, 88])
def test_each_note_sounds_at_its_midi_pitch(prog, pitch):
    rate = 44100
    song = make_song([0], [1200], [pitch], events=[program(prog)], ppq=480)
    out = render(song, rate)
    # 1 s after the attacks (at most 0.04 s here), away from the release.
    segment = out[0, rate // 10: rate // 10 + rate]
    # Hann main lobe is 2 Hz wide here; the interpolated peak is good to far below 1
    # cent for a steady sine (the piano's decay widens the peak, not its centre).
    assert abs(cents(peak_hz(segment, rate), midi_hz(pitch))) < 2


def test_a_melody_through_a_tempo_map_has_each_notes_pitch():
    rate, ppq = 48000, 480
    pitches = [48, 55, 60, 64, 67, 71, 74, 79, 84, 91]
    starts = np.arange(len(pitches)) * 480
    tempo = [(960, 400_000), (2400, 700_000), (3400, 550_000)]
    song = make_song(starts, starts + 470, pitches, tempo=tempo, ppq=ppq,
                     events=[program(ORGAN)])
    out = render(song, rate)
    for tick, pitch in zip(starts.tolist(), pitches, strict=True):
        s0 = exact_sample(song.tempo_map, tick, rate)
        s1 = exact_sample(song.tempo_map, tick + 470, rate)
        # From just after the 5 ms attack to the key-up (0.2 s at least).
        segment = out[0, s0 + rate // 100:s1]
        assert abs(cents(peak_hz(segment, rate), midi_hz(pitch))) < 3, pitch


@pytest.mark.parametrize("prog", [ORGAN, SAW_LEAD])
@pytest.mark.parametrize(("bend", "bend_range", "semitones"),
                         [(4096, None, 1.0), (-8192, 12, -12.0), (8191, None, 2 * 8191 / 8192)])
def test_pitch_bend_moves_the_pitch_by_its_semitones(prog, bend, bend_range, semitones):
    rate, ppq = 44100, 480
    events = [program(prog)]
    if bend_range is not None:                    # RPN 0 (pitch bend range)
        events += [cc(0, 101, 0), cc(0, 100, 0), cc(0, 6, bend_range)]
    events.append((960, mido.Message("pitchwheel", channel=0, pitch=bend)))
    song = make_song([0], [1920], [69], events=events, ppq=ppq)   # 120 BPM: 1 s per 960
    out = render(song, rate)
    before = peak_hz(out[0, rate // 10: rate], rate)
    after = peak_hz(out[0, rate + 10: 2 * rate - 10], rate)
    assert abs(cents(before, 440.0)) < 2
    assert abs(cents(after, 440.0) - 100 * semitones) < 2


def test_a_note_above_nyquist_is_silent():
    for prog in (PIANO, ORGAN, SAW_LEAD, SQUARE_LEAD, FLUTE, SOUND_FX):
        song = make_song([0], [480], [127], events=[program(prog)])   # 12.5 kHz
        assert not render(song, 8000).any()                          # Nyquist 4 kHz


# -- band limiting ------------------------------------------------------------------------

def inharmonic_fraction(x: np.ndarray, f0: float, rate: int) -> float:
    """The share of ``x``'s energy more than 12 Hz from every multiple of ``f0`` (DC
    included), under a Blackman-Harris window (sidelobes below -92 dB)."""
    n = x.size
    t = np.arange(n) / n
    window = (0.35875 - 0.48829 * np.cos(2 * np.pi * t) + 0.14128 * np.cos(4 * np.pi * t)
              - 0.01168 * np.cos(6 * np.pi * t))
    power = np.abs(np.fft.rfft(x * window)) ** 2
    hz = np.fft.rfftfreq(n, 1 / rate)
    near = np.abs(hz - np.round(hz / f0) * f0) <= 12.0
    return float(power[~near].sum() / power.sum())


@pytest.mark.parametrize("prog", [SAW_LEAD, SQUARE_LEAD, FLUTE])
def test_saw_square_and_triangle_do_not_alias_at_a_high_note(prog):
    rate, pitch = 44100, 96                              # 2093 Hz: 10 harmonics fit
    f0 = midi_hz(pitch)
    out = render(make_song([0], [1200], [pitch], events=[program(prog)]), rate)
    segment = out[0, rate // 10: rate // 10 + rate]
    # Aliases of a naive wave land between the harmonics (44100 / 2093 is not whole);
    # ours has none, so what is left is window leakage (below -92 dB).
    assert inharmonic_fraction(segment, f0, rate) < 1e-9
    # The measure sees aliasing: the naive (not band-limited) wave fails it by far.
    phase = (f0 * np.arange(rate) / rate) % 1.0
    naive = {SAW_LEAD: 2 * ((phase + 0.5) % 1.0) - 1, SQUARE_LEAD: np.where(phase < 0.5, 1.0, -1.0),
             FLUTE: 1 - 4 * np.abs(((phase - 0.25) % 1.0) - 0.5)}[prog]
    assert inharmonic_fraction(naive, f0, rate) > 1e-6


def test_a_bent_saw_stays_band_limited():
    rate, ppq = 44100, 480
    events = [program(SAW_LEAD), cc(0, 101, 0), cc(0, 100, 0), cc(0, 6, 12),
              (960, mido.Message("pitchwheel", channel=0, pitch=8191))]
    out = render(make_song([0], [2880], [84], events=events, ppq=ppq), rate)
    f1 = midi_hz(84 + 12 * 8191 / 8192)                  # 2093 Hz after the bend at 1 s
    assert inharmonic_fraction(out[0, rate + 100:2 * rate + 100], f1, rate) < 1e-9


def test_the_additive_waves_follow_their_fourier_series():
    # A low saw: its first harmonics in the ratio 1/k (the series 2/pi (-1)^(k+1) sin kx / k).
    rate, pitch = 44100, 45                              # 110 Hz
    out = render(make_song([0], [1200], [pitch], events=[program(SAW_LEAD)]), rate)
    segment = out[0, rate // 10: rate // 10 + rate]      # 1 s: bins of 1 Hz
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(rate)))
    levels = [spectrum[110 * k - 2:110 * k + 3].max() for k in range(1, 6)]
    assert np.allclose(np.array(levels) / levels[0], 1 / np.arange(1, 6), rtol=1e-3)


def channel_level(velocity: int = 100) -> float:
    """A centred voice's left gain at GM defaults: gain 0.2 x (v/127)^2 x (CC7 100 /
    127)^2 x cos(pi/4)."""
    return 0.2 * (velocity / 127) ** 2 * (100 / 127) ** 2 * math.cos(math.pi / 4)


def linear_attack(n: int, seconds: float, rate: int) -> np.ndarray:
    """The envelope's first ``n`` samples: (i + 1) / (seconds x rate), held at 1."""
    return np.minimum((np.arange(n) + 1) / max(seconds * rate, 1.0), 1.0)


@pytest.mark.parametrize(("prog", "attack"), [(SAW_LEAD, 0.005), (SQUARE_LEAD, 0.005),
                                              (FLUTE, 0.04)])
@pytest.mark.parametrize("pitch", [57, 93])
def test_the_additive_waves_are_their_fourier_series(prog, attack, pitch):
    rate, frames = 44100, 8000
    f = midi_hz(pitch)
    out = render(make_song([0], [480], [pitch], events=[program(prog)]), rate)[0, :frames]
    # Every harmonic below Nyquist, at most 64 (220 Hz: 64 of them; 1760 Hz: 12).
    k = np.arange(1, 65)
    k = k[k * f < rate / 2]
    if prog == SAW_LEAD:
        weights = 2 / np.pi * (-1.0) ** (k + 1) / k
    elif prog == SQUARE_LEAD:
        weights = np.where(k % 2 == 1, 4 / np.pi / k, 0.0)
    else:
        weights = np.where(k % 2 == 1, 8 / np.pi**2 * (-1.0) ** ((k - 1) // 2) / k**2, 0.0)
    n = np.arange(frames)
    wave = np.sin(2 * np.pi * np.outer(n * f / rate % 1.0, k)) @ weights
    expected = channel_level() * linear_attack(frames, attack, rate) * wave
    # The phase accumulates in float64 (an error of ~1e-16 x n cycles) and sin(kx) comes
    # from a recurrence: both far below 1e-9 of full scale here.
    assert np.allclose(out, expected, rtol=0, atol=1e-9)


def test_the_piano_tone_is_its_decaying_partials():
    rate, frames, pitch, velocity = 44100, 13000, 60, 100
    out = render(make_song([0], [960], [pitch], velocity=velocity), rate)[0, :frames]
    f, inharmonicity = midi_hz(pitch), 0.0004
    m = np.arange(1, 9)
    ratio = m * np.sqrt(1 + inharmonicity * m**2) / math.sqrt(1 + inharmonicity)
    bright = 0.25 + 0.5 * velocity / 127
    t60 = 20 * 2 ** (-(pitch - 21) / 18) / m                 # seconds, per partial
    n = np.arange(frames)[:, None]
    partials = (bright ** (m - 1) / m) * 10 ** (-3 * n / (t60 * rate)) \
        * np.sin(2 * np.pi * (ratio * f / rate) * n)
    expected = channel_level(velocity) * linear_attack(frames, 0.002, rate) * partials.sum(1)
    # The resonators' rounding grows with n, to ~1e-12 of full scale here.
    assert np.allclose(out, expected, rtol=0, atol=1e-9)


# -- envelopes and controllers ------------------------------------------------------------

def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x)))


def test_the_sustain_pedal_holds_notes_until_it_lifts():
    # 440 Hz at 44000 Hz: 100 samples a period, so a 1000-sample window holds 10 periods.
    rate, ppq = 44000, 480                               # 120 BPM: 960 ticks a second
    events = [program(SOUND_FX), cc(96, 64, 127), cc(960, 64, 0)]
    pedal = render(make_song([0], [192], [69], events=events, ppq=ppq), rate)
    free = render(make_song([0], [192], [69], events=[program(SOUND_FX)], ppq=ppq), rate)
    off, lift = int(0.2 * rate), rate
    held = rms(pedal[0, lift - 1000:lift])
    # Held at the sustain level (1) through the key-up: the same level as before it.
    assert held == pytest.approx(rms(pedal[0, off - 1000:off]), rel=1e-6)
    # Without the pedal the release starts at the key-up and the note has ended long
    # before the pedal's lift time.
    assert not free[:, lift - 1000:].any()
    # After the lift: the exponential release, 60 dB in 0.5 s: -12 dB 0.1 s later (the
    # window's own decay, 2.6 dB across it, biases its RMS by under 0.1 dB).
    later = rms(pedal[0, lift + 4400 - 500:lift + 4400 + 500])
    assert 20 * math.log10(later / held) == pytest.approx(-12.0, abs=0.15)
    assert pedal.shape[1] < lift + rate                  # and it ends


def test_attack_is_linear_and_release_exponential():
    rate = 48000
    # Program 96 (synth effects): triangle, a 0.3 s linear attack, sustain 1, release
    # 60 dB in 1.5 s.
    song = make_song([0], [960], [81], events=[program(96)], ppq=480)      # 1 s, 880 Hz
    out = render(song, rate)
    env_at = {t: np.abs(out[0, int(t * rate) - 30:int(t * rate) + 30]).max()
              for t in (0.05, 0.1, 0.15, 1.0, 1.5)}
    # The triangle's peak over 60 samples (more than its 54.5-sample period) follows the
    # envelope; in the attack the envelope moves by 30 / (0.3 x 48000) = 0.2 % of full
    # scale across the window (1.3 % of its value at 0.05 s).
    assert env_at[0.1] / env_at[0.05] == pytest.approx(2.0, rel=0.03)
    assert env_at[0.15] / env_at[0.05] == pytest.approx(3.0, rel=0.03)
    assert 20 * math.log10(env_at[1.5] / env_at[1.0]) == pytest.approx(-20.0, abs=0.3)


def test_velocity_volume_expression_and_pan_follow_the_gm_laws():
    rate = 44100
    base = render(make_song([0], [480], [69], velocity=100, events=[program(SOUND_FX)]), rate)
    soft = render(make_song([0], [480], [69], velocity=50, events=[program(SOUND_FX)]), rate)
    quiet = render(make_song([0], [480], [69], velocity=100,
                             events=[program(SOUND_FX), cc(0, 7, 64), cc(0, 11, 90)]), rate)
    hard_left = render(make_song([0], [480], [69], events=[program(SOUND_FX), cc(0, 10, 0)]),
                       rate)
    panned = render(make_song([0], [480], [69], events=[program(SOUND_FX), cc(0, 10, 32)]),
                    rate)
    # Compared up to the key-up (0.5 s): a softer note's tail ends sooner (at -90 dBFS).
    base, soft, quiet, hard_left, panned = (x[:, :rate // 2] for x in
                                            (base, soft, quiet, hard_left, panned))
    on = base[0] != 0
    # Velocity: amplitude (v/127)^2.
    assert np.allclose(soft[0][on] / base[0][on], (50 / 100) ** 2, rtol=1e-12)
    # Volume and expression: (CC7/127)^2 (CC11/127)^2, against the default CC7 100.
    assert np.allclose(quiet[0][on] / base[0][on], (64 / 100) ** 2 * (90 / 127) ** 2,
                       rtol=1e-12)
    # Pan: constant power, cos/sin of (CC10 - 1)/126 x pi/2; centre (64) is equal power.
    assert np.allclose(base[0], base[1]) and not hard_left[1].any()
    assert np.allclose(hard_left[0][on] / base[0][on], 1 / math.cos(math.pi / 4), rtol=1e-12)
    angle = 31 / 126 * math.pi / 2
    assert np.allclose(panned[0][on] / base[0][on], math.cos(angle) / math.cos(math.pi / 4),
                       rtol=1e-12)
    assert np.allclose(panned[1][on] / base[1][on], math.sin(angle) / math.sin(math.pi / 4),
                       rtol=1e-12)


def test_a_volume_change_applies_at_its_sample():
    rate = 48000
    song = make_song([0], [960], [69], events=[program(SOUND_FX), cc(480, 7, 50)], ppq=480)
    out = render(song, rate)
    ref = render(make_song([0], [960], [69], events=[program(SOUND_FX)], ppq=480), rate)
    at = rate // 2                                        # tick 480 at 120 BPM
    assert np.array_equal(out[:, :at], ref[:, :at])
    on = ref[0, at:rate] != 0
    assert np.allclose(out[0, at:rate][on] / ref[0, at:rate][on], (50 / 100) ** 2, rtol=1e-12)


def test_piano_decays_and_is_brighter_when_louder():
    rate = 44100
    loud = render(make_song([0], [2880], [60], velocity=120), rate)[0]
    soft = render(make_song([0], [2880], [60], velocity=40), rate)[0]
    # Decays while the key is held (no sustain stage of its own).
    assert rms(loud[2 * rate:int(2.1 * rate)]) < 0.5 * rms(loud[rate // 10:rate // 5])

    def second_over_first(x):
        s = np.abs(np.fft.rfft(x[rate // 10:rate // 10 + rate] * np.hanning(rate)))
        f = midi_hz(60)
        return s[int(2 * f) - 3:int(2 * f) + 4].max() / s[int(f) - 3:int(f) + 4].max()

    assert second_over_first(loud) > 1.5 * second_over_first(soft)


# -- every program, the drums, rates, blocks ----------------------------------------------

def test_every_gm_program_renders_and_sounds():
    rate = 16000
    for prog in range(128):
        out = render(make_song([0], [240], [60], events=[program(prog)]), rate)
        assert np.all(np.isfinite(out)) and np.abs(out).max() > 1e-3, prog


def test_every_gm_drum_note_renders_and_sounds():
    rate = 22050
    for note in range(35, 82):
        out = render(make_song([0], [10], [note], channel=DRUMS), rate)
        assert np.all(np.isfinite(out)) and np.abs(out).max() > 1e-3, note
        assert first_sound(out, 0) in (0, 1), note         # noise at once; a tone: sin(0)
        assert out.shape[1] < 3 * rate, note              # one-shots that end
    # Outside the GM kit: nothing.
    assert not render(make_song([0], [10], [20], channel=DRUMS), rate).any()


def busy_song() -> midi.Song:
    """Several programs, drums, pedal, bend, volume and pan changes, overlapping notes."""
    rng = np.random.default_rng(7)
    n = 60
    start = np.sort(rng.integers(0, 4800, n))
    end = start + rng.integers(10, 600, n)
    channel = rng.choice([0, 1, 2, 9], n)
    pitch = np.where(channel == 9, rng.integers(35, 82, n), rng.integers(30, 100, n))
    events = [program(PIANO, 0), program(SAW_LEAD, 1), program(ORGAN, 2),
              cc(300, 64, 127), cc(2000, 64, 0), cc(1000, 10, 20, 1), cc(1500, 7, 80, 2),
              (1200, mido.Message("pitchwheel", channel=1, pitch=3000)),
              (2500, mido.Message("pitchwheel", channel=2, pitch=-5000))]
    return make_song(start, end, pitch, velocity=rng.integers(1, 128, n), channel=channel,
                     events=events, tempo=[(2400, 300_000)])


@pytest.mark.parametrize("rate", [8000, 44100])
def test_output_is_bit_identical_for_any_block_size(rate):
    song = busy_song()
    whole = render(song, rate, 10**6)
    assert np.abs(whole).max() > 0.01 and whole.shape[1] < 10**6    # in one block
    for block in (1, 37, 4096):
        if block == 1 and rate > 8000:
            continue                                       # (slow, and 8 kHz covers it)
        assert np.array_equal(render(song, rate, block), whole), block
    assert np.array_equal(render(song, rate), whole)       # deterministic


@pytest.mark.parametrize("rate", [8000, 384000])
def test_extreme_rates_work(rate):
    starts = np.array([0, 480, 960])
    song = make_song(np.r_[starts, 1440], np.r_[starts + 400, 1450], [60, 64, 67, 38],
                     channel=[0, 0, 0, 9], events=[program(SAW_LEAD)])
    out = render(song, rate, block=10000)
    assert np.all(np.isfinite(out)) and np.abs(out).max() > 0.01
    assert first_sound(out, 0) == 1                       # the first note's sin(0) = 0
    segment = out[0, int(0.1 * rate):int(0.1 * rate) + rate // 4]
    assert abs(cents(peak_hz(segment, rate), midi_hz(60))) < 5


def test_voices_are_stolen_oldest_released_first():
    inst = Synth(polyphony=2)
    # Program 88 (pad): a release of 1.5 s. At 1000 Hz and 120 BPM, tick t is sample
    # round(t x 1000 / 960): note-ons at 0, 10, 417 and 427.
    song = make_song([0, 10, 400, 410], [5, 2000, 2000, 2000], [60, 62, 64, 65],
                     events=[program(88)])
    inst.prepare(midi.performance(song, 1000))
    inst.render(401)                                      # 60 released, 62 held
    assert inst.active_notes() == [(0, 60), (0, 62)]      # 60 still in its release
    inst.render(30)                                       # past both later note-ons
    # 64 took the released 60's voice; 65 took the oldest (62).
    assert inst.active_notes() == [(0, 64), (0, 65)]


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="polyphony"):
        Synth(polyphony=0)
    with pytest.raises(ValueError, match="gain"):
        Synth(gain=-1.0)
    with pytest.raises(ValueError, match="max_tail"):
        Synth(max_tail=-1.0)
    with pytest.raises(ValueError, match="sample_rate"):
        Synth().prepare(midi.performance(make_song([0], [10], [60]), 0))


def test_a_second_prepare_plays_like_a_fresh_synth():
    song, rate = busy_song(), 16000
    inst = Synth()
    outs = []
    for _ in range(2):
        inst.prepare(midi.performance(song, rate))
        outs.append(inst.render(10**6))
    assert outs[0].shape[1] < 10**6 and np.array_equal(outs[0], outs[1])
    assert np.array_equal(outs[0], render(song, rate))


def test_the_program_table_covers_every_program():
    assert synth.PROGRAMS.shape == (128, 5)
    assert set(synth.PROGRAMS[:, 0].astype(int)) <= set(synth.WAVES.values())
    assert synth.PROGRAMS[0, 0] == synth.PIANO and synth.PROGRAMS[16, 0] == synth.ORGAN
    assert np.all(synth.DRUM_KITS[35:82].any(axis=1))
