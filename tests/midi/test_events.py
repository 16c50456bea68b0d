"""The event table, the numba reader and the byte writer (midi/smf.py, notes.read/write).

Theory first (bytes by hand: what the writer must keep and what it must change), then
properties (read + write with no change is the identity on bytes; quantize twice equals
once, on bytes; strength 0 is the identity, on bytes), then peers as independent
references (mido reads the same events, notes and bytes; mido and pretty_midi read the
same notes from our output as from the writer before the table, kept in
tests/midi/reference_writer.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest

from audioquant import midi
from audioquant.midi import notes as notes_module
from audioquant.midi import smf
from tests import corpus
from tests.midi import reference_writer
from tests.midi.helpers import events_by_track, pm_notes, random_performance, write_mido

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "samples").glob("*.mid"))
Msg = mido.Message
Meta = mido.MetaMessage


def ok_midi_cases() -> list[corpus.Case]:
    out = []
    for case in corpus.MIDI:
        expect = case.expect.ok if isinstance(case.expect, corpus.Either) else case.expect
        if isinstance(expect, corpus.Ok):
            out.append(case)
    return out


#: Corpus files the reader normalises (midi/smf.py lists what and why): written back
#: once they differ from the input; written back again they do not change.
NORMALISED = {
    "mid_chunk_length_too_long",         # chunk length past the end of the file: corrected
    "mid_unknown_chunk_between_tracks",  # unknown chunk dropped (mido refuses it)
    "mid_type0_two_tracks",              # written as type 1
    "mid_realtime_status_byte",          # realtime byte dropped
    "mid_system_common_bytes",           # tune request (0xF6) dropped
    "mid_trailing_bytes",                # bytes after the last track dropped
    "mid_no_end_of_track",               # end-of-track added
    "mid_rmid_riff",                     # RIFF wrapper removed
}


def vlq(value: int) -> bytes:
    return smf.encode_vlq(value)


def smf_file(*tracks: bytes, fmt: int = 1, ppq: int = 96) -> bytes:
    head = b"MThd" + (6).to_bytes(4, "big") + fmt.to_bytes(2, "big")
    head += len(tracks).to_bytes(2, "big") + ppq.to_bytes(2, "big")
    return head + b"".join(b"MTrk" + len(t).to_bytes(4, "big") + t for t in tracks)


EOT = b"\x00\xff\x2f\x00"


# ------------------------------------------------------------------ round trips, bytes


@pytest.mark.parametrize("case", ok_midi_cases(), ids=lambda c: c.name)
def test_corpus_files_round_trip_byte_for_byte(case):
    data = case.data()
    once = midi.read_bytes(data).to_bytes()
    if case.name in NORMALISED:
        assert once != data
        assert midi.read_bytes(once).to_bytes() == once
        # what was normalised changed no note and no kept event
        a, b = midi.read_bytes(data), midi.read_bytes(once)
        assert a.notes.same_as(b.notes) or _same_notes(a, b)
        assert _kept(a) == _kept(b)
    else:
        assert once == data


def _same_notes(a: midi.Song, b: midi.Song) -> bool:
    fields = ("start", "end", "pitch", "velocity", "channel", "track", "open_end")
    return all(np.array_equal(getattr(a.notes, f), getattr(b.notes, f)) for f in fields)


def _kept(song: midi.Song) -> list:
    t = song.table
    return [(int(t.track[r]), int(t.tick[r]), t.bytes_of(r)) for r in song.kept.tolist()]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_round_trip_byte_for_byte(tmp_path, path):
    out = tmp_path / "out.mid"
    midi.write(midi.read(path), out)
    assert out.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("seed", range(4))
def test_mido_files_round_trip_byte_for_byte(tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = write_mido(tmp_path / "in.mid", random_performance(rng, n_tracks=3,
                                                             overlap_free=seed % 2 == 0))
    assert midi.read(path).to_bytes() == path.read_bytes()


def test_strength_0_and_an_on_grid_file_give_the_same_bytes_from_the_cli(tmp_path):
    src = ROOT / "samples" / "humanized.mid"
    same = tmp_path / "same.mid"
    run = [sys.executable, "-m", "audioquant", "midi", "quantize"]
    r = subprocess.run([*run, str(src), str(same), "--strength", "0"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert same.read_bytes() == src.read_bytes()
    grid = tmp_path / "grid.mid"
    again = tmp_path / "again.mid"
    for a, b in ((src, grid), (grid, again)):
        r = subprocess.run([*run, str(a), str(b), "--grid", "1/16"], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    assert grid.read_bytes() != src.read_bytes()
    assert again.read_bytes() == grid.read_bytes()  # on the grid already: nothing moves


# ------------------------------------------------------------------ the table, by hand


def test_the_table_of_a_track_written_by_hand():
    # offsets: header 14, MTrk header 8: the body starts at 22
    body = (b"\x00\x90\x3c\x64"            # 22: note-on, its own status
            + b"\x10\x3e\x50"              # 26: running status
            + b"\x00\xff\x01\x02hi"        # 29: text "hi", payload at 33
            + b"\x05\xf8"                  # 35: realtime: skipped, its 5 ticks kept
            + b"\x03\x3c\x00"              # 37: running status survives it (tick 24)
            + b"\x00\xf0\x03\x41\x10\xf7"  # 40: sysex, payload at 43
            + b"\x81\x00\xb1\x07\x64"      # 46: CC at 152 (a 2-byte delta)
            + EOT)                         # 51
    data = smf_file(body, fmt=0)
    song = midi.read_bytes(data)
    t = song.table
    assert t.tick.tolist() == [0, 16, 16, 24, 24, 152, 152]
    assert t.status.tolist() == [0x90, 0x90, 0xFF, 0x90, 0xF0, 0xB1, 0xFF]
    assert t.data1.tolist() == [0x3C, 0x3E, 0x01, 0x3C, 0, 0x07, 0x2F]
    assert t.data2.tolist() == [0x64, 0x50, 0, 0, 0, 0x64, 0]
    assert t.offset.tolist() == [23, 27, 30, 38, 41, 48, 52]  # after each delta time
    assert t.size.tolist() == [3, 2, 5, 2, 5, 3, 3]
    assert t.payload.tolist() == [-1, -1, 33, -1, 43, -1, 55]
    assert t.length.tolist() == [0, 0, 2, 0, 3, 0, 0]
    assert t.running.tolist() == [False, True, False, True, False, False, False]
    assert t.order.tolist() == list(range(7)) and t.track.tolist() == [0] * 7
    assert t.payload_of(2) == b"hi" and t.bytes_of(1) == b"\x90\x3e\x50"
    assert song.kept.tolist() == [2, 4, 5]  # note 62 never ends: still a note (open)
    assert (song.notes.start.tolist(), song.notes.end.tolist()) == ([0, 16], [24, 152])
    assert song.notes.open_end.tolist() == [False, True]
    # written back: the realtime byte is gone, every other byte is where it was
    out = song.to_bytes()
    assert out == smf_file(body.replace(b"\x05\xf8", b"").replace(b"\x03\x3c\x00",
                                                                  b"\x08\x3c\x00"), fmt=0)


def test_a_changed_track_keeps_the_bytes_of_its_unchanged_events():
    # running status, a velocity-0 note-off, a 0x80 note-off with its release velocity, a
    # sysex and a text event; 1/4 at 96 PPQ: only the note-on at 100 moves (to 96)
    body = (b"\x00\x90\x3c\x64" + b"\x60\x3c\x00"        # 60: 0..96, off: on vel 0
            + b"\x00\xf0\x03\x41\x10\xf7"                # sysex at 96
            + b"\x04\x90\x3e\x50" + b"\x5c\x80\x3e\x40"  # 62: 100..192, off: 0x80 40
            + b"\x00\xff\x01\x01x"                       # text at 192
            + b"\x00\x90\x40\x30" + b"\x60\x40\x00"      # 64: 192..288, running status
            + EOT)
    song = midi.read_bytes(smf_file(body, fmt=0))
    grid = midi.Grid.parse("1/4", song.ticks_per_beat)
    result = midi.quantize(song.notes, grid)
    assert result.moved.tolist() == [False, True, False]
    out = song.with_notes(result.notes).to_bytes()
    # the moved note-on goes after the events at its new tick (the note-off of 60, the
    # sysex) with its own bytes; only two delta times change: 4 -> 0 and 92 -> 96
    expect = (b"\x00\x90\x3c\x64" + b"\x60\x3c\x00"
              + b"\x00\xf0\x03\x41\x10\xf7"
              + b"\x00\x90\x3e\x50" + b"\x60\x80\x3e\x40"
              + b"\x00\xff\x01\x01x"
              + b"\x00\x90\x40\x30" + b"\x60\x40\x00"
              + EOT)
    assert out == smf_file(expect, fmt=0)


def test_running_status_is_added_only_where_the_new_order_breaks_it():
    # 60 on at 0 (explicit), 62 on at 10 (running), 64 off-grid CC in between: moving
    # note 62 before the CC (0xB0) breaks its running status: its status byte comes back
    body = (b"\x00\x90\x3c\x64" + b"\x05\xb0\x07\x64" + b"\x05\x90\x3e\x50"
            + b"\x00\x3e\x00" + b"\x5a\x3c\x00" + EOT)
    # ticks: 60 on 0, CC 5, 62 on 10 (explicit 0x90 after CC), 62 off 10 (running), 60 off 100
    song = midi.read_bytes(smf_file(body, fmt=0))
    t = song.table
    assert t.running.tolist() == [False, False, False, True, True, False]
    n = song.notes
    moved = song.with_notes(n.replace(start=np.array([0, 2]), end=np.array([100, 10])))
    out = moved.to_bytes()
    # order at each tick: 60 on (0), 62 on moved to 2 (its own bytes, running status
    # valid: the previous status is 0x90), CC at 5, 62 off at 10: running after 0xB0 is
    # not valid any more: 0x90 added; 60 off at 100 keeps running status
    expect = (b"\x00\x90\x3c\x64" + b"\x02\x90\x3e\x50" + b"\x03\xb0\x07\x64"
              + b"\x05\x90\x3e\x00" + b"\x5a\x3c\x00" + EOT)
    assert out == smf_file(expect, fmt=0)
    assert midi.read_bytes(out).notes.end.tolist() == [100, 10]


def test_new_notes_from_the_api_are_written_as_mido_writes_them(tmp_path):
    song = midi.read_bytes(smf_file(b"\x00\xff\x03\x01A" + EOT, fmt=0))
    notes = midi.Notes.from_arrays([0, 0, 48], [48, 96, 96], [60, 64, 67], velocity=90,
                                   release_velocity=[0, 10, 0], channel=2)
    out = song.with_notes(notes).to_bytes()
    ref = tmp_path / "ref.mid"
    reference_writer.write(song.with_notes(notes), ref)
    assert out == ref.read_bytes()


def test_the_writer_bridges_long_gaps_as_the_reference_does(tmp_path):
    song = midi.read_bytes(smf_file(b"\x00\xb0\x07\x64" + b"\x00\x90\x3c\x64\x10\x3c\x00"
                                    + EOT, fmt=0))
    far = 2 * smf.MAX_VLQ + 7
    moved = song.with_notes(song.notes.replace(start=np.array([far]), end=np.array([far + 3])))
    ref, ours = tmp_path / "ref.mid", tmp_path / "ours.mid"
    reference_writer.write(moved, ref)
    midi.write(moved, ours)
    assert events_by_track(ours) == events_by_track(ref)


# ------------------------------------------------------------------ mido as the reference


def every_kind_of_event() -> list[list[tuple[int, object]]]:
    """Events of every kind a file holds, written by mido (running status included)."""
    conductor = [
        (0, Meta("sequence_number", number=7)), (0, Meta("text", text="t")),
        (0, Meta("copyright", text="c")), (0, Meta("track_name", name="Conductor")),
        (0, Meta("instrument_name", name="i")), (0, Meta("lyrics", text="la")),
        (0, Meta("marker", text="m")), (0, Meta("cue_marker", text="q")),
        (0, Meta("device_name", name="d")), (0, Meta("channel_prefix", channel=3)),
        (0, Meta("midi_port", port=1)), (0, Meta("set_tempo", tempo=600_000)),
        (0, Meta("smpte_offset", frame_rate=25, hours=1)),
        (0, Meta("time_signature", numerator=3, denominator=4)),
        (0, Meta("key_signature", key="Eb")),
        (0, Meta("sequencer_specific", data=[1, 2, 3])),
        (960, Meta("set_tempo", tempo=400_000)),
    ]
    player = [(0, Msg("program_change", channel=1, program=5)),
              (0, Msg("sysex", data=[0x41, 0x10, 0x42, 0x12]))]
    for i in range(20):
        tick = i * 48 + (i % 3) * 5
        player += [
            (tick, Msg("note_on", channel=1, note=60 + i % 4, velocity=80)),
            (tick + 2, Msg("control_change", channel=1, control=64, value=i * 6)),
            (tick + 3, Msg("pitchwheel", channel=1, pitch=i * 100 - 1000)),
            (tick + 4, Msg("aftertouch", channel=1, value=i)),
            (tick + 5, Msg("polytouch", channel=1, note=60, value=i)),
            (tick + 30, Msg("note_on", channel=1, note=60 + i % 4, velocity=0)
             if i % 2 else Msg("note_off", channel=1, note=60 + i % 4, velocity=i)),
        ]
    player.append((2000, Msg("note_off", channel=1, note=100)))  # a stray note-off
    return [conductor, player]


def mido_rows(path) -> list[list[tuple[int, int, tuple]]]:
    """Per track, (tick, order in track, bytes as the file holds them) of every event."""
    out = []
    for track in mido.MidiFile(path).tracks:
        tick, rows = 0, []
        for k, msg in enumerate(track):
            tick += msg.time
            raw = tuple(msg.bytes())
            if msg.type == "sysex":
                raw = (0xF0, *smf.encode_vlq(len(msg.data) + 1), *msg.data, 0xF7)
            rows.append((tick, k, raw))
        out.append(rows)
    return out


def test_the_table_holds_what_mido_reads(tmp_path):
    path = write_mido(tmp_path / "all.mid", every_kind_of_event(), ppq=96)
    song = midi.read(path)
    t = song.table
    ours = [[] for _ in range(song.n_tracks)]
    for r in range(len(t)):
        ours[int(t.track[r])].append((int(t.tick[r]), int(t.order[r]), tuple(t.bytes_of(r))))
    assert ours == mido_rows(path)
    assert t.running.any()  # mido wrote running status, and the table says where
    # the kept events: every non-note event and the stray note-off, with track and tick
    kept = [(int(t.track[r]), int(t.tick[r]), int(t.order[r])) for r in song.kept.tolist()]
    theirs = [(k, tick, order) for k, rows in enumerate(mido_rows(path))
              for tick, order, raw in rows if raw[0] & 0xE0 != 0x80 and raw[:2] != (0xFF, 0x2F)]
    theirs.append((1, 2000, len(mido_rows(path)[1]) - 2))
    assert kept == sorted(theirs)
    assert song.track_names == ["Conductor", None]
    assert song.tempo_map.tempos.tolist() == [600_000, 400_000]
    assert song.to_bytes() == path.read_bytes()


def test_notes_and_seconds_as_pretty_midi_reads_them(tmp_path, rng):
    path = write_mido(tmp_path / "p.mid", random_performance(rng, n_tracks=4, tempo_changes=3))
    song = midi.read(path)
    theirs = np.array(pm_notes(path)[0], dtype=np.float64)
    ours = np.array(sorted(zip(song.start_seconds.tolist(), song.end_seconds.tolist(),
                               song.notes.pitch.tolist(), song.notes.velocity.tolist(),
                               strict=True)))  # fmt: skip
    assert ours.shape == theirs.shape
    # pretty_midi rounds its times to 6 digits here (pm_notes); its own tick-to-second
    # table differs from ours by float rounding only
    assert np.abs(ours - theirs).max() <= 1e-6 + 1e-9


@pytest.mark.parametrize("seed", range(5))
def test_pairing_kernel_equals_the_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    status = rng.choice([0x80, 0x90, 0x91, 0xB0, 0xFF], n).astype(np.uint8)
    d1 = rng.integers(60, 63, n).astype(np.uint8)
    d2 = rng.integers(0, 3, n).astype(np.uint8)
    d1[status == 0xFF] = 1
    track = np.sort(rng.integers(0, 3, n)).astype(np.int32)
    tick = np.arange(n, dtype=np.int64)
    z = np.zeros(n, np.int64)
    table = smf.Events(track=track, tick=tick, status=status,
                       data1=d1, data2=d2, payload=z, length=z.astype(np.int32), offset=z,
                       size=z.astype(np.int32), running=z.astype(bool),
                       data=np.zeros(0, np.uint8))  # fmt: skip
    notes, kept = midi.pair_notes(table, np.array([n, n, n]))
    rows = np.flatnonzero((status >= 0x80) & (status < 0xA0))
    is_on = (status[rows] >= 0x90) & (d2[rows] > 0)
    key = ((track[rows].astype(np.int64) << 4 | status[rows] & 15) << 7) | d1[rows]
    ons, offs, stray = notes_module._pair_fifo(key, is_on)
    assert sorted(zip(rows[ons].tolist(), rows[offs].tolist(), strict=True)) == sorted(
        (a, b) for a, b in zip(notes.on_index.tolist(), notes.off_index.tolist(), strict=True)
        if b >= 0)
    assert notes.on_index.tolist() == rows[is_on].tolist()
    assert set(rows[stray].tolist()) == set(kept.tolist()) & set(rows.tolist())


# ------------------------------------------------------------------ against the old writer


@pytest.mark.parametrize("mode", ["starts", "ends", "lengths"])
@pytest.mark.parametrize("seed", range(3))
def test_quantized_output_reads_as_the_reference_writers(tmp_path, mode, seed):
    rng = np.random.default_rng(seed)
    path = write_mido(tmp_path / "in.mid", random_performance(
        rng, n_tracks=4, channels=(0, 5, 9), overlap_free=seed != 1))
    song = midi.read(path)
    quantized, _ = midi.quantize_song(song, grid="1/8", strength=70, mode=mode,
                                      exclude_within=10, tracks=[1, 2])
    ours, ref = tmp_path / "ours.mid", tmp_path / "ref.mid"
    midi.write(quantized, ours)
    reference_writer.write(quantized, ref)
    assert events_by_track(ours) == events_by_track(ref)  # mido: same events, same order
    assert pm_notes(ours)[0] == pm_notes(ref)[0]
    # the tracks nothing moved in are the input's bytes
    back = midi.read(ours)
    for t in (0, 3):
        a = slice(song.smf.chunk_start[t], song.smf.chunk_end[t])
        b = slice(back.smf.chunk_start[t], back.smf.chunk_end[t])
        assert path.read_bytes()[a] == ours.read_bytes()[b]


def test_events_compatibility_view_and_songs_made_of_messages(tmp_path):
    path = write_mido(tmp_path / "all.mid", every_kind_of_event(), ppq=96)
    song = midi.read(path)
    kinds = {m.type for kept in song.events for _, _, m in kept}
    assert {"sysex", "set_tempo", "key_signature", "pitchwheel", "note_off"} <= kinds
    made = midi.Song(96, 1, song.notes.replace(on_index=np.full(len(song.notes), -1),
                                               off_index=np.full(len(song.notes), -1)),
                     song.events, song.track_ends, song.track_names, song.tempo_map)
    out = tmp_path / "made.mid"
    midi.write(made, out)
    assert events_by_track(out) == events_by_track(path)


def test_reading_and_writing_import_no_mido(tmp_path):
    out = tmp_path / "out.mid"
    code = (
        "import sys\n"
        "from audioquant import midi\n"
        f"s = midi.read({str(ROOT / 'samples' / 'humanized.mid')!r})\n"
        "q, _ = midi.quantize_song(s, grid='1/16')\n"
        f"midi.write(q, {str(out)!r})\n"
        "midi.performance(q, 48000); midi.stats_file(" + repr(str(out)) + ")\n"
        "assert not [m for m in sys.modules if m.startswith('mido')]\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("edit", ["reorder", "duplicate", "velocity", "track", "shift"])
@pytest.mark.parametrize("seed", range(3))
def test_notes_edited_with_the_api_read_back_as_from_the_reference_writer(tmp_path, edit,
                                                                           seed):
    rng = np.random.default_rng(seed)
    path = write_mido(tmp_path / "in.mid", random_performance(rng, n_tracks=3,
                                                             overlap_free=seed != 1))
    song = midi.read(path)
    n = song.notes
    k = len(n)
    if edit == "reorder":
        notes = n[rng.permutation(k)]
    elif edit == "duplicate":
        notes = n[np.sort(rng.integers(0, k, k))]
    elif edit == "velocity":  # its note-on's bytes are not the file's any more
        notes = n.replace(velocity=np.where(rng.random(k) < 0.3, 5, n.velocity).astype(np.int16))
    elif edit == "track":  # notes moved to another track
        notes = n.replace(track=np.where(rng.random(k) < 0.2, 1, n.track).astype(np.int32))
    else:
        shift = rng.integers(-3, 4, k)
        start = np.maximum(n.start + shift, 0)
        notes = n.replace(start=start, end=np.maximum(n.end + shift, start))
    ours, ref = tmp_path / "ours.mid", tmp_path / "ref.mid"
    midi.write(song.with_notes(notes), ours)
    reference_writer.write(song.with_notes(notes), ref)
    assert events_by_track(ours) == events_by_track(ref)


@pytest.mark.parametrize("how", ["counted first", "no room for the bound"])
def test_a_file_read_in_two_passes_gives_the_same_table(tmp_path, monkeypatch, how):
    """Files are read in one pass into arrays of the largest possible size; a very large
    file (or one whose bound cannot be mapped) is counted first, then read: the table,
    every column, is the same either way."""
    rng = np.random.default_rng(11)
    path = tmp_path / "take.mid"
    write_mido(path, random_performance(rng), ppq=480)
    raw = path.read_bytes()
    one = smf.parse(raw, "x")
    if how == "counted first":
        monkeypatch.setattr(smf, "_ONE_PASS", 100)
    else:
        columns = smf._columns

        def no_room(rows, tracks):
            if rows == len(raw) // 2 + 1:        # the bound
                raise MemoryError
            return columns(rows, tracks)

        monkeypatch.setattr(smf, "_columns", no_room)
    two = smf.parse(raw, "x")
    for name in ("track", "tick", "order", "status", "data1", "data2", "payload", "length",
                 "offset", "size", "running", "data"):
        assert np.array_equal(getattr(one.events, name), getattr(two.events, name)), name
    for name in ("first_row", "end_tick", "eot_row", "chunk_start", "chunk_end", "clean"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name


@pytest.mark.parametrize(("max_tick", "rows"), [(2_000, 15_000), (2**40 - 1, 2**30)])
@pytest.mark.parametrize("ties", [False, True])
def test_moved_events_sort_as_lexsort_does(max_tick, rows, ties):
    """The writer's order of moved events (track, tick, bucket, order; ties in the order
    given) is numpy's lexsort's: packed into one key (distinct orders, few bits) or not,
    wherever the note-ons end (``ons``: they come first, then the note-offs)."""
    from audioquant.midi.notes import _sort_moved

    rng = np.random.default_rng(5)
    m = 5000
    track = rng.integers(0, 4, m).astype(np.int32)
    tick = np.sort(rng.integers(0, max_tick, m)).astype(np.int64)
    tick[::7] = tick[0]                              # (many at one tick: a chord)
    bucket = rng.integers(0, 3, m).astype(np.int8)
    order = rng.choice(rows, m, replace=False).astype(np.int32)
    if ties:                                         # (ties in everything: given order)
        order[-10:] = order[-20:-10]
        bucket[-10:], tick[-10:], track[-10:] = bucket[-20:-10], tick[-20:-10], track[-20:-10]
    expected = np.lexsort((order, bucket, tick, track))
    for ons in (0, m // 3, m):
        np.testing.assert_array_equal(_sort_moved(track, tick, bucket, order, ons, rows),
                                      expected)
