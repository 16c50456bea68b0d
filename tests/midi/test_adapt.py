"""``midi tempo`` and ``quantize --follow-beats``: a performance recorded without a click
(placeholder 120 BPM) given a tempo map that follows the player. The performance is built
here from a score and a tempo curve, so the true beats, and where every note belongs, are
known; mido and pretty_midi read the results."""

from __future__ import annotations

import io
import json

import mido
import numpy as np
import pretty_midi
import pytest

from audioquant.cli import main
from audioquant.midi import adapt

PPQ = 480
TICKS_PER_S = 960            # at the placeholder 120 BPM


def beat_times(n_beats: int, first: float, start_s: float, end_s: float) -> np.ndarray:
    """An accelerando: beat intervals from ``start_s`` to ``end_s`` seconds."""
    intervals = np.linspace(start_s, end_s, n_beats - 1)
    return first + np.concatenate(([0.0], np.cumsum(intervals)))


def performance(path, beats: np.ndarray, meter: int = 4, pickup: int = 0, rng=None):
    """A piano performance of a score in ``meter``: on every beat a chord (bass and two
    notes, the melody 15 ms early as pianists play it), an eighth note between beats,
    sustain pedal down on each downbeat and up before the next, a volume CC and a program
    change; ``pickup`` beats before the first downbeat. Timing noise (sd 8 ms) if ``rng``.
    Returns the score positions (beats) of the notes, in file order of their note-ons."""
    def at(position: float) -> float:
        return float(np.interp(position, np.arange(beats.size), beats))

    events = [(0, mido.MetaMessage("set_tempo", tempo=500_000)),
              (0, mido.MetaMessage("time_signature", numerator=4, denominator=4)),
              (0, mido.Message("program_change", program=0)),
              (0, mido.Message("control_change", control=7, value=100))]
    positions = []

    def play(position, pitch, velocity, length, early=0.0):
        t = at(position) - early + (rng.normal(0, 0.008) if rng is not None else 0.0)
        on = max(int(round(t * TICKS_PER_S)), 0)
        off = int(round((at(position + length)) * TICKS_PER_S))
        events.append((on, mido.Message("note_on", note=pitch, velocity=velocity)))
        events.append((off, mido.Message("note_off", note=pitch, velocity=0)))
        positions.append((on, position))

    for k in range(beats.size - 1):
        downbeat = (k - pickup) % meter == 0
        play(k, 36 + k % 12, 90 if downbeat else 70, 0.9)
        play(k, 60 + k % 5, 70, 0.45)
        play(k, 67 + k % 7, 80, 0.45, early=0.015)
        play(k + 0.5, 72 + k % 3, 60, 0.4)
        if downbeat:
            events.append((int(round(at(k) * TICKS_PER_S)) + 5,
                           mido.Message("control_change", control=64, value=127)))
            events.append((int(round(at(k + meter - 0.1) * TICKS_PER_S)) if k + meter <
                           beats.size else int(round(at(k + 0.9) * TICKS_PER_S)),
                           mido.Message("control_change", control=64, value=0)))
    mid = mido.MidiFile(type=0, ticks_per_beat=PPQ)
    track = mido.MidiTrack()
    now = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        track.append(msg.copy(time=tick - now))
        now = tick
    mid.tracks.append(track)
    mid.save(path)
    return [p for _, p in sorted(positions, key=lambda e: e[0])]


def write_beats(path, beats: np.ndarray, meter: int, pickup: int) -> None:
    lines = [f"{t:.6f}\t{t:.6f}\t{'db' if (k - pickup) % meter == 0 else 'b'}"
             for k, t in enumerate(beats)]
    path.write_text("\n".join(lines) + "\n")


def timed(path) -> list[tuple[float, str, tuple]]:
    """Every channel event of the file (notes, CCs, programs) as (seconds, type, values),
    read by mido through its tempo map, in file order."""
    out = []
    now = 0.0
    for msg in mido.MidiFile(path):                       # mido plays the tempo map
        now += msg.time
        if not msg.is_meta:
            values = tuple(v for k, v in vars(msg).items() if k not in ("time", "type"))
            out.append((now, msg.type, values))
    return out


@pytest.mark.parametrize(("meter", "pickup"), [(4, 0), (3, 1)])
def test_midi_tempo_keeps_every_event_in_time_and_puts_the_beats_on_quarter_notes(
        tmp_path, meter, pickup):
    beats = beat_times(4 * meter + 2, 0.8, 0.62, 0.42)
    take = tmp_path / "take.mid"
    performance(take, beats, meter, pickup)
    given = tmp_path / "beats.txt"
    write_beats(given, beats, meter, pickup)
    out = tmp_path / "mapped.mid"
    assert main(["midi", "tempo", str(take), str(out), "--beats", str(given)]) == 0
    before, after = timed(take), timed(out)
    assert [e[1:] for e in before] == [e[1:] for e in after]      # nothing lost, same order
    assert max(abs(a[0] - b[0]) for a, b in zip(before, after, strict=True)) < 1e-3
    pm = pretty_midi.PrettyMIDI(str(out))
    pm_before = pretty_midi.PrettyMIDI(str(take))
    for new, old in zip(pm.instruments, pm_before.instruments, strict=True):   # notes and
        a = np.array([(n.start, n.end, n.pitch, n.velocity) for n in new.notes])  # pedal,
        b = np.array([(n.start, n.end, n.pitch, n.velocity) for n in old.notes])  # read by
        assert a.shape == b.shape and np.max(np.abs(a - b)) < 1e-3          # pretty_midi
        c = np.array([(x.time, x.number, x.value) for x in new.control_changes])
        d = np.array([(x.time, x.number, x.value) for x in old.control_changes])
        assert c.shape == d.shape and np.max(np.abs(c - d)) < 1e-3
    mid = mido.MidiFile(out)
    ppq = mid.ticks_per_beat
    # the beats on consecutive quarter notes: the time of quarter note k is beat k - lead
    quarters = pm.get_beats()
    lead = int(np.argmin(np.abs(quarters - beats[0])))
    shown = quarters[lead:lead + beats.size]               # (up to the file's end)
    assert shown.size >= beats.size - 1
    assert np.max(np.abs(shown - beats[:shown.size])) < 1e-5
    assert ppq % PPQ == 0
    # bar lines on the downbeats: the time signature from the first downbeat on
    sigs = pm.time_signature_changes
    assert sigs[-1].numerator == meter and sigs[-1].denominator == 4
    assert sigs[-1].time == pytest.approx(beats[pickup], abs=1e-5)
    downbeats = pm.get_downbeats()
    assert np.min(np.abs(downbeats - beats[pickup])) < 1e-5          # a bar line there
    bars = downbeats[downbeats > beats[pickup] - 1e-5]
    assert np.allclose(bars[:3], beats[pickup::meter][:3], atol=1e-5)


def test_follow_beats_then_quantize_puts_the_notes_on_their_score_positions(tmp_path):
    rng = np.random.default_rng(5)
    beats = beat_times(18, 1.0, 0.6, 0.45)
    take = tmp_path / "take.mid"
    positions = performance(take, beats, 4, 0, rng)
    given = tmp_path / "beats.txt"
    write_beats(given, beats, 4, 0)
    out = tmp_path / "tight.mid"
    assert main(["midi", "quantize", str(take), str(out), "--grid", "1/8",
                 "--follow-beats", "--beats", str(given)]) == 0
    mid = mido.MidiFile(out)
    ppq = mid.ticks_per_beat
    pm = pretty_midi.PrettyMIDI(str(out))
    lead = int(np.argmin(np.abs(pm.get_beats() - beats[0])))
    ticks, now = [], 0
    for msg in mid.tracks[0]:
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            ticks.append(now)
    want = sorted(int(round((p + lead) * ppq)) for p in positions)
    assert sorted(ticks) == want


def test_midi_beats_on_a_steady_performance(tmp_path, capsys):
    """The beats of a steady take (the meter, which this take marks only by a louder bass
    on the downbeats, is tested on real-sounding scores in test_beats.py)."""
    beats = beat_times(33, 0.5, 0.5, 0.5)                    # 120 BPM, 8 bars of 4/4
    take = tmp_path / "take.mid"
    performance(take, beats, 4, 0)
    assert main(["midi", "beats", str(take), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    b = np.array(found["beats"])
    near = np.abs(b[:, None] - beats[None, :-1]).min(axis=0)
    assert np.all(near < 0.05) and set(found) >= {"downbeats", "meter", "bar_bpm",
                                                  "confidence"}
    assert main(["midi", "beats", str(take), "--meter", "3"]) == 0
    assert "of 3/4" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "fragment"), [
    (["--meter", "3"], "--meter needs --follow-beats"),
    (["--follow-beats", "--meter", "0"], "--meter must be beats per bar"),
    (["--follow-beats", "--tempo-range", "200-100"], "10 <= LO < HI"),
    (["--follow-beats", "--double", "--half"], "not allowed with"),
])
def test_beat_flags_are_checked_before_anything_is_read(tmp_path, capsys, args, fragment):
    assert main(["midi", "quantize", "no-such.mid", str(tmp_path / "o.mid"), *args]) == 2
    assert fragment in capsys.readouterr().err


def test_a_bad_beats_file_is_one_clear_error(tmp_path, capsys):
    take = tmp_path / "take.mid"
    performance(take, beat_times(6, 0.5, 0.5, 0.5))
    bad = tmp_path / "beats.txt"
    bad.write_text("0.5\nsoon\n")
    assert main(["midi", "tempo", str(take), str(tmp_path / "o.mid"), "--beats",
                 str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 2" in err
    assert not (tmp_path / "o.mid").exists()


def test_beat_map_keeps_beat_times_to_half_a_microsecond_over_many_beats():
    rng = np.random.default_rng(1)
    beats = np.cumsum(rng.uniform(0.3, 0.9, 5000)) + 0.25
    bm = adapt.beat_map(beats, beats[::4], 4, 480)
    tempos = bm.tempos()
    assert tempos.dtype == np.int64 and tempos.min() > 0
    rebuilt = np.cumsum(np.concatenate(([0], tempos)))       # what the file's tempos say
    assert np.max(np.abs(rebuilt[bm.lead:] - beats * 1e6)) <= 0.5
    # 0.9 s beats at 480 PPQ would make 1.9 ms ticks: the resolution stays, or doubles
    assert bm.ticks_per_beat in (480, 960)
    assert tempos.max() / 1000 / bm.ticks_per_beat <= adapt.MAX_TICK_MS


def test_adapt_reads_back_with_every_byte_of_the_other_events(tmp_path):
    beats = beat_times(10, 0.7, 0.55, 0.5)
    take = tmp_path / "take.mid"
    performance(take, beats)
    data, _ = adapt.adapt(take.read_bytes(), beats, beats[::4], 4)
    kinds = [m.type for m in mido.MidiFile(file=io.BytesIO(data)).tracks[0] if m.is_meta]
    assert kinds.count("set_tempo") >= beats.size - 1 and kinds[-1] == "end_of_track"


def test_follow_beats_with_the_tracker_puts_a_played_score_back_on_its_grid(tmp_path):
    """No beats given: the tracker finds them in a performance with timing noise and a
    tempo that drifts, and at strength 100 on a 1/8 grid every note lands on its score
    position (up to where the count starts: a whole number of beats)."""
    rng = np.random.default_rng(11)
    beats = beat_times(41, 0.6, 0.58, 0.5)
    take = tmp_path / "take.mid"
    positions = performance(take, beats, 4, 0, rng)
    out = tmp_path / "tight.mid"
    assert main(["midi", "quantize", str(take), str(out), "--grid", "1/8",
                 "--follow-beats"]) == 0
    mid = mido.MidiFile(out)
    ticks, now = [], 0
    for msg in mid.tracks[0]:
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            ticks.append(now)
    found = np.array(sorted(ticks)) / mid.ticks_per_beat       # quarter notes
    offset = found - np.array(sorted(positions))
    whole = np.round(np.median(offset))
    assert np.mean(np.abs(offset - whole) < 1e-9) >= 0.95
