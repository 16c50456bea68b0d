"""quantize_file / stats_file end to end, checked with mido and pretty_midi as readers."""

from __future__ import annotations

import json

import mido
import numpy as np
import pytest

from audioquant import midi
from tests.midi.helpers import (
    events_by_track,
    our_notes_in_pm_seconds,
    pm_notes,
    random_performance,
    ref_nearest,
    write_mido,
)


def mido_notes(path):
    """(track, start, end, channel, pitch, velocity) of every note, FIFO-paired with mido."""
    rows = []
    for t, track in enumerate(mido.MidiFile(path).tracks):
        tick = 0
        sounding: dict = {}
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                sounding.setdefault((msg.channel, msg.note), []).append((tick, msg.velocity))
            elif msg.type in ("note_on", "note_off") and sounding.get((msg.channel, msg.note)):
                start, vel = sounding[(msg.channel, msg.note)].pop(0)
                rows.append((t, start, tick, msg.channel, msg.note, vel))
    return sorted(rows)


@pytest.fixture
def performance(tmp_path, rng):
    return write_mido(
        tmp_path / "take.mid", random_performance(rng, n_tracks=4, channels=(0, 9, 3))
    )


@pytest.mark.parametrize("mode", ["starts", "ends", "lengths"])
@pytest.mark.parametrize("swing", [50, 62])
def test_only_note_timing_changes(tmp_path, performance, mode, swing):
    out = tmp_path / "tight.mid"
    before = performance.read_bytes()
    report = midi.quantize_file(
        performance, out, grid="1/16", swing=swing, mode=mode, strength=90, exclude_within=5
    )
    assert performance.read_bytes() == before  # the input is never modified
    # every non-note event: same count, tick, content, track
    assert events_by_track(out, notes=False) == events_by_track(performance, notes=False)
    old, new = mido_notes(performance), mido_notes(out)
    assert len(new) == len(old) == report["notes"]
    # pitch, velocity, channel and track of each note are kept (compare as multisets)
    assert sorted(r[3:] + (r[0],) for r in new) == sorted(r[3:] + (r[0],) for r in old)
    starts = np.array([r[1] for r in new])
    ends = np.array([r[2] for r in new])
    assert (ends > starts).all()
    # no same-pitch overlaps in the output, as mido pairs them
    by_key: dict = {}
    for t, s, e, ch, p, _ in new:
        by_key.setdefault((t, ch, p), []).append((s, e))
    for spans in by_key.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans[:-1], spans[1:], strict=True))
    # pretty_midi reads the same notes we wrote
    theirs, pm = pm_notes(out)
    assert our_notes_in_pm_seconds(midi.read(out), pm) == theirs
    assert report["moved"] > 0


def test_strength_0_writes_the_same_events(tmp_path, performance):
    out = tmp_path / "same.mid"
    report = midi.quantize_file(performance, out, strength=0, swing=66, mode="ends")
    assert events_by_track(out) == events_by_track(performance)
    assert report["moved"] == 0


def test_strength_100_starts_on_the_grid_and_twice_equals_once(tmp_path, performance):
    once, twice = tmp_path / "once.mid", tmp_path / "twice.mid"
    report = midi.quantize_file(performance, once, grid="1/8T", swing=58)
    midi.quantize_file(once, twice, grid="1/8T", swing=58)
    assert events_by_track(twice) == events_by_track(once)
    starts = np.array([r[1] for r in mido_notes(once)])
    line = ref_nearest(starts, 160.0, 58.0)
    nudged = report["nudged"]
    assert np.count_nonzero(starts != np.floor(line + 0.5)) == nudged
    assert report["after"]["on_grid"] == report["after"]["count"] - nudged


def test_report_distances_against_an_independent_reference(tmp_path, performance):
    report = midi.quantize_file(performance, tmp_path / "q.mid", grid="1/16", strength=100)
    rows = mido_notes(performance)
    starts = np.array([r[1] for r in rows])
    line = ref_nearest(starts, 120.0)  # whole ticks at 480 PPQ
    dist = np.abs(line - starts)
    assert report["before"]["mean_ticks"] == pytest.approx(dist.mean())
    assert report["before"]["max_ticks"] == pytest.approx(dist.max())
    # milliseconds through the tempo map, with pretty_midi's tick -> time
    _, pm = pm_notes(performance)
    ms = [
        abs(pm.tick_to_time(int(a)) - pm.tick_to_time(int(b))) * 1000
        for a, b in zip(line, starts, strict=True)
    ]
    assert report["before"]["mean_ms"] == pytest.approx(np.mean(ms), abs=1e-6)
    assert report["before"]["max_ms"] == pytest.approx(np.max(ms), abs=1e-6)
    assert report["after"]["max_ticks"] <= 1 or report["nudged"]
    json.dumps(report)  # plain types only
    text = midi.format_report(report)
    assert "moved" in text and "before" in text and "after" in text


def test_selection_by_track_name_channel_and_pitch(tmp_path, sample_path):
    out = tmp_path / "drums.mid"
    report = midi.quantize_file(
        sample_path, out, tracks=["Drums"], channels=[10], pitch_range="36-38", swing=58
    )
    old, new = mido_notes(sample_path), mido_notes(out)
    # only kick (36) and snare (38) notes of track 2 moved
    changed = {r[0:1] + r[3:5] for r in set(new) - set(old)}
    assert changed and all(t == 2 and p in (36, 38) for t, _, p in changed)
    assert report["selected"] == sum(1 for r in old if r[0] == 2 and r[4] in (36, 38))


def test_stats_changes_nothing_and_counts(sample_path):
    before = sample_path.read_bytes()
    stats = midi.stats_file(sample_path, grid="1/16")
    assert sample_path.read_bytes() == before
    rows = mido_notes(sample_path)
    assert stats["notes"] == len(rows)
    assert [t["notes"] for t in stats["tracks"]] == [
        sum(1 for r in rows if r[0] == t) for t in range(3)
    ]
    assert stats["tracks"][2]["channels"] == [10]
    assert stats["bpm_at_start"] == pytest.approx(100)
    assert stats["tempo_changes"] == 1  # 100 -> 112 BPM at bar 9 (samples/make_midi.py)
    assert stats["length_seconds"] == pytest.approx(mido.MidiFile(sample_path).length)
    assert "1/16 = 120 ticks at 480 PPQ" in midi.format_report(stats)


def test_notes_held_across_the_end(tmp_path):
    path = write_mido(
        tmp_path / "held.mid",
        [
            [
                (0, mido.Message("note_on", note=60, velocity=64)),
                (5, mido.Message("note_on", note=64, velocity=64)),
                (470, mido.Message("note_off", note=64)),
                (1000, mido.MetaMessage("marker", text="end")),
            ]
        ],
    )
    out = tmp_path / "out.mid"
    report = midi.quantize_file(path, out, grid="1/4", mode="ends")
    assert report["open_notes"] == 1
    assert mido_notes(out) == [(0, 0, 480, 0, 64, 64)]  # 60 still has no note-off
    assert events_by_track(out, notes=False) == events_by_track(path, notes=False)
    assert "no note-off" in midi.format_report(report)


def test_output_equal_to_input_is_refused(tmp_path, performance):
    before = performance.read_bytes()
    with pytest.raises(midi.MidiParameterError, match="out_path must differ from in_path"):
        midi.quantize_file(performance, performance)
    link = tmp_path / "link.mid"
    link.symlink_to(performance)
    with pytest.raises(midi.MidiParameterError):
        midi.quantize_file(performance, link)
    assert performance.read_bytes() == before


def _smf(tracks: list[bytes], *, ppq=480, type=1, raw_division=None) -> bytes:
    division = raw_division if raw_division is not None else ppq.to_bytes(2, "big")
    head = b"MThd" + (6).to_bytes(4, "big") + type.to_bytes(2, "big")
    head += len(tracks).to_bytes(2, "big") + division
    return head + b"".join(b"MTrk" + len(t).to_bytes(4, "big") + t for t in tracks)


_TRACK = bytes([0, 0x90, 60, 100, 96, 0x80, 60, 0, 0, 0xFF, 0x2F, 0])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"RIFF....WAVEfmt ", "not a MIDI file"),
        (b"", "truncated|not a MIDI file"),
        (_smf([_TRACK])[:-5], "truncated"),
        (_smf([]), "has no tracks"),
        (_smf([_TRACK], raw_division=bytes([0xE7, 40])), "SMPTE"),  # -25 fps, 40 per frame
        (_smf([_TRACK, _TRACK], type=2), "type 2"),
        (_smf([bytes([0, 0x90, 60, 200, 0, 0xFF, 0x2F, 0])]), "as a MIDI file"),  # byte > 127
    ],
)
def test_bad_files_give_one_clear_error_and_no_output(tmp_path, data, message):
    src = tmp_path / "bad.mid"
    src.write_bytes(data)
    out = tmp_path / "out.mid"
    with pytest.raises(midi.MidiFileError, match=message) as info:
        midi.quantize_file(src, out)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mid"]
    with pytest.raises(midi.MidiFileError):
        midi.stats_file(src)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strength": 150}, "strength must be in 0..100, got 150"),
        ({"exclude_within": -1}, "exclude_within must be in 0..100, got -1"),
        ({"catch_range": 101}, "catch_range must be in 0..100, got 101"),
        ({"swing": 90}, "swing must be in 50..75, got 90"),
        ({"grid": "1/0"}, "grid must be a note value"),
        ({"grid": "abc"}, "grid must be a note value"),
        ({"mode": "middles"}, "mode must be one of starts, ends, lengths, got 'middles'"),
        ({"channels": [0]}, "channels must be in 1..16, got 0"),
        ({"tracks": [7]}, r"tracks must be in 0..2, got 7"),
        ({"tracks": ["Bass"]}, "no track named 'Bass'"),
        ({"pitch_range": "60-40"}, "pitches must be LO-HI"),
        ({"pitch_range": (0, 128)}, "pitch_range high must be in 0..127, got 128"),
        ({"min_length": 0}, "min_length must be >= 1, got 0"),
        ({"strength": "abc"}, "strength must be a number"),
    ],
)
def test_bad_settings_give_one_clear_error_and_no_output(tmp_path, sample_path, kwargs, message):
    out = tmp_path / "out.mid"
    with pytest.raises(midi.MidiParameterError, match=message):
        midi.quantize_file(sample_path, out, **kwargs)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_a_file_error(tmp_path, sample_path):
    with pytest.raises(midi.MidiFileError, match="cannot write"):
        midi.quantize_file(sample_path, tmp_path / "no" / "such" / "dir.mid")
