"""Reading and writing: notes against mido and pretty_midi, round trips, odd but valid files."""

from __future__ import annotations

import mido
import numpy as np
import pytest

from audioquant import midi
from tests.midi.helpers import (
    events_by_track,
    our_notes_in_pm_seconds,
    pm_notes,
    random_performance,
    write_mido,
)

Msg = mido.Message
Meta = mido.MetaMessage


def test_pairs_note_on_velocity_zero_and_keeps_other_events(tmp_path):
    path = write_mido(
        tmp_path / "a.mid",
        [
            [
                (0, Meta("set_tempo", tempo=400_000)),
                (0, Msg("control_change", control=64, value=127)),
                (0, Msg("note_on", note=60, velocity=90)),
                (100, Msg("note_on", note=60, velocity=0)),  # a note-off
                (100, Msg("note_on", note=62, velocity=80, channel=3)),
                (250, Msg("note_off", note=62, velocity=33, channel=3)),
                (300, Msg("pitchwheel", pitch=100)),
            ]
        ],
        type=0,
    )
    song = midi.read(path)
    n = song.notes
    assert n.start.tolist() == [0, 100]
    assert n.end.tolist() == [100, 250]
    assert n.pitch.tolist() == [60, 62]
    assert n.velocity.tolist() == [90, 80]
    assert n.release_velocity.tolist() == [0, 33]
    assert n.channel.tolist() == [0, 3]
    assert n.off_is_note_on.tolist() == [True, False]
    kinds = [(tick, msg.type) for tick, _, msg in song.events[0]]
    assert kinds == [(0, "set_tempo"), (0, "control_change"), (300, "pitchwheel")]
    assert song.type == 0 and song.ticks_per_beat == 480
    assert song.tempo_map.tempos.tolist() == [400_000]


def test_overlapping_same_pitch_pairs_first_in_first_out(tmp_path):
    path = write_mido(
        tmp_path / "fifo.mid",
        [
            [
                (0, Msg("note_on", note=60, velocity=10)),
                (50, Msg("note_on", note=60, velocity=20)),
                (100, Msg("note_off", note=60)),
                (200, Msg("note_off", note=60)),
            ]
        ],
    )
    n = midi.read(path).notes
    # the first note-off ends the first note (FIFO), the second the second
    assert list(zip(n.start.tolist(), n.end.tolist(), n.velocity.tolist(), strict=True)) == [
        (0, 100, 10),
        (50, 200, 20),
    ]


def test_note_without_note_off_ends_at_track_end(tmp_path):
    path = write_mido(
        tmp_path / "held.mid",
        [
            [
                (0, Msg("note_on", note=60, velocity=64)),
                (10, Msg("note_off", note=61)),  # off with no note: an ordinary event
                (480, Msg("control_change", control=1, value=5)),
            ]
        ],
    )
    song = midi.read(path)
    assert song.notes.open_end.tolist() == [True]
    assert song.notes.end.tolist() == [480]
    assert [m.type for _, _, m in song.events[0]] == ["note_off", "control_change"]
    out = tmp_path / "held_out.mid"
    midi.write(song, out)
    # no note-off invented: the file has the same events
    assert events_by_track(out) == events_by_track(path)


@pytest.mark.parametrize("ppq", [96, 480, 960])
def test_round_trip_same_events_and_pretty_midi_notes(tmp_path, rng, ppq):
    tracks = random_performance(rng, ppq=ppq, n_tracks=4, channels=(0, 5, 9))
    path = write_mido(tmp_path / "in.mid", tracks, ppq=ppq)
    song = midi.read(path)
    out = tmp_path / "out.mid"
    midi.write(song, out)
    assert events_by_track(out) == events_by_track(path)
    theirs, pm = pm_notes(path)
    assert our_notes_in_pm_seconds(song, pm) == theirs


def test_round_trip_keeps_file_order_at_equal_ticks(tmp_path):
    # a note-on before a CC and a note-off after a note-on, all at one tick: not the
    # writer's own order, but a file read and written unchanged must come back the same
    path = write_mido(
        tmp_path / "order.mid",
        [
            [
                (0, Msg("note_on", note=60, velocity=64)),
                (0, Msg("program_change", program=5)),
                (96, Msg("note_on", note=64, velocity=64)),
                (96, Msg("note_off", note=60)),
                (96, Msg("control_change", control=7, value=100)),
                (200, Msg("note_off", note=64)),
            ]
        ],
        ppq=96,
    )
    out = tmp_path / "out.mid"
    midi.write(midi.read(path), out)
    assert events_by_track(out) == events_by_track(path)


def _smf(tracks: list[bytes], *, ppq=96, type=1) -> bytes:
    """A standard MIDI file assembled byte by byte (independent of any MIDI library)."""
    head = b"MThd" + (6).to_bytes(4, "big") + type.to_bytes(2, "big")
    head += len(tracks).to_bytes(2, "big") + ppq.to_bytes(2, "big", signed=ppq < 0)
    return head + b"".join(b"MTrk" + len(t).to_bytes(4, "big") + t for t in tracks)


def test_running_status(tmp_path):
    # delta 0 note-on 60; then running status: delta 48 "60 0" (off), delta 0 "62 80",
    # delta 0x81 0x00 (=128, a two-byte delta) "62 0"; end of track
    track = bytes(
        [0x00, 0x90, 60, 100, 48, 60, 0, 0, 62, 80, 0x81, 0x00, 62, 0, 0x00, 0xFF, 0x2F, 0x00]
    )
    path = tmp_path / "rs.mid"
    path.write_bytes(_smf([track]))
    n = midi.read(path).notes
    assert n.start.tolist() == [0, 48]
    assert n.end.tolist() == [48, 176]
    assert n.pitch.tolist() == [60, 62]
    assert n.velocity.tolist() == [100, 80]


def test_all_channels_many_tracks(tmp_path):
    events = []
    for ch in range(16):
        for k in range(4):
            events.append((k * 120 + ch, Msg("note_on", channel=ch, note=40 + k, velocity=50)))
            events.append((k * 120 + ch + 60, Msg("note_on", channel=ch, note=40 + k, velocity=0)))
    events.sort(key=lambda e: e[0])
    tracks = [events] + [
        [(i, Msg("note_on", note=70, velocity=1)), (i + 5, Msg("note_off", note=70))]
        for i in range(40)
    ]
    path = write_mido(tmp_path / "many.mid", tracks)
    song = midi.read(path)
    assert len(song.notes) == 16 * 4 + 40
    assert sorted(np.unique(song.notes.channel).tolist()) == list(range(16))
    assert song.n_tracks == 41
    out = tmp_path / "out.mid"
    midi.write(song, out)
    assert events_by_track(out) == events_by_track(path)


def test_tempo_map_seconds_against_mido(tmp_path, rng):
    tracks = random_performance(rng, tempo_changes=3)
    path = write_mido(tmp_path / "t.mid", tracks)
    song = midi.read(path)
    mid = mido.MidiFile(path)
    # mido's merged playback gives seconds per message; compare at every message tick
    merged_ticks = np.cumsum([m.time for m in mido.merge_tracks(mid.tracks)])
    seconds = np.cumsum([m.time for m in mid])
    ours = song.tempo_map.seconds(merged_ticks)
    assert np.allclose(ours, seconds, atol=1e-9)


def test_write_is_atomic_and_leaves_no_temporary(tmp_path, sample_path):
    song = midi.read(sample_path)
    target = tmp_path / "out.mid"
    target.write_bytes(b"old contents")
    bad = song.with_notes(song.notes.replace(track=np.full(len(song.notes), 99, np.int32)))
    with pytest.raises(midi.MidiParameterError):
        midi.write(bad, target)
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mid"]
    midi.write(song, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mid"]
    assert events_by_track(target) == events_by_track(sample_path)


def test_notes_from_arrays_and_subsets():
    n = midi.Notes.from_arrays(
        [0, 10, 20], [5, 15, 25], [60, 61, 62], velocity=[1, 2, 3], channel=9, track=2
    )
    assert len(n) == 3
    assert n.channel.tolist() == [9, 9, 9]
    sub = n[np.array([True, False, True])]
    assert sub.pitch.tolist() == [60, 62]
    with pytest.raises(midi.MidiParameterError, match="pitch must be in 0..127, got 200"):
        midi.Notes.from_arrays([0], [1], [200])
    with pytest.raises(midi.MidiParameterError, match="end must be >= start"):
        midi.Notes.from_arrays([5], [1], [60])
