"""Files whose notes interact with what is kept around them: stray note-offs, notes with
no note-off, ends on the line a start moved to. Each output is read back with mido's
messages paired first-in, first-out (test_files.mido_notes), independently of our reader."""

from __future__ import annotations

import mido
import pytest

from audioquant import midi
from tests.midi.helpers import write_mido
from tests.midi.test_files import mido_notes

Msg = mido.Message
Meta = mido.MetaMessage


def count_offs(path):
    return sum(
        1
        for track in mido.MidiFile(path).tracks
        for m in track
        if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0)
    )


def test_a_moved_note_never_sounds_across_a_stray_note_off(tmp_path):
    # a doubled note-off at 125 ends no note (a stray, kept as an event). The next note
    # of that pitch starts at 130 and snaps to 120 (1/16 at 480 PPQ): written as it is,
    # the stray at 125 would end it there, not its own note-off at 300.
    path = write_mido(
        tmp_path / "stray.mid",
        [
            [
                (0, Msg("note_on", note=60, velocity=80)),
                (100, Msg("note_off", note=60)),
                (125, Msg("note_off", note=60)),  # stray
                (130, Msg("note_on", note=60, velocity=90)),
                (300, Msg("note_off", note=60)),
            ]
        ],
    )
    song = midi.read(path)
    assert song.stray_offs.tolist() == [[0, 0, 60, 125]]
    out = tmp_path / "out.mid"
    report = midi.quantize_file(path, out, grid="1/16")
    # the note ends where a player (and mido) ends it: at the stray note-off
    assert mido_notes(out) == [(0, 0, 100, 0, 60, 80), (0, 120, 125, 0, 60, 90)]
    assert report["trimmed"] == 1
    assert count_offs(out) == count_offs(path)  # the stray is still there, at 125
    # what quantize returned is what the file holds
    back = midi.read(out).notes
    assert back.start.tolist() == [0, 120] and back.end.tolist() == [100, 125]


def test_open_note_is_trimmed_when_the_next_moves_past_the_track_end(tmp_path):
    # two notes of one pitch without note-offs; the second snaps from 470 to 480, past
    # the marker at 475 that ends the track. The first must get a note-off at 480, or
    # both would sound together until the end.
    path = write_mido(
        tmp_path / "open.mid",
        [
            [
                (10, Msg("note_on", note=60, velocity=70)),
                (470, Msg("note_on", note=60, velocity=71)),
                (475, Meta("marker", text="end")),
            ]
        ],
    )
    out = tmp_path / "out.mid"
    report = midi.quantize_file(path, out, grid="1/4")
    assert report["trimmed"] == 1
    assert mido_notes(out) == [(0, 0, 480, 0, 60, 70)]  # the second has no note-off
    back = midi.read(out).notes
    assert back.start.tolist() == [0, 480] and back.open_end.tolist() == [False, True]


@pytest.mark.parametrize("exclude", [0, 10])
def test_an_end_on_the_line_its_start_moves_to_goes_to_the_next_line(exclude):
    # 1/16 at 480 PPQ: the start 100 snaps to 120, and the end 120 lies exactly on that
    # line. Ends go to the nearest line after the new start (240), so exclude-within
    # (distance 0 from *a* line) must not keep it at 120 and leave a 1-tick note.
    grid = midi.Grid.parse("1/16", 480)
    notes = midi.Notes.from_arrays([100], [120], [60])
    result = midi.quantize(notes, grid, mode="ends", exclude_within=exclude)
    assert result.notes.start.tolist() == [120]
    assert result.notes.end.tolist() == [240]
    twice = midi.quantize(result.notes, grid, mode="ends", exclude_within=exclude)
    assert twice.notes.same_as(result.notes)


def test_zero_ticks_per_beat_is_a_clear_error(tmp_path):
    track = bytes([0, 0x90, 60, 100, 96, 0x80, 60, 0, 0, 0xFF, 0x2F, 0])
    data = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 0, 0, 1, 0, 0])
    path = tmp_path / "zero.mid"
    path.write_bytes(data + b"MTrk" + len(track).to_bytes(4, "big") + track)
    with pytest.raises(midi.MidiFileError, match="0 ticks per beat"):
        midi.read(path)
