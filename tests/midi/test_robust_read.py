"""Reading odd and broken MIDI files byte by byte (midi/smf.py): every file gives either a
correct parse (checked against hand-computed notes from the bytes, or against mido on
valid files) or one MidiFileError that says what is wrong and where (track, byte)."""

from __future__ import annotations

import struct

import mido
import numpy as np
import pytest

from audioquant import midi
from audioquant.midi import smf
from tests.midi.helpers import random_performance, write_mido

# ------------------------------------------------------------------ bytes, by hand


def vlq(value: int, width: int = 0) -> bytes:
    """SMF variable-length quantity, from the definition (7 bits a byte, high bit = more);
    ``width`` pads with leading 0x80 bytes (a 5-byte number the format forbids)."""
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(value & 0x7F)
        value >>= 7
    groups += [0] * (width - len(groups))
    groups.reverse()
    return bytes([g | 0x80 for g in groups[:-1]] + [groups[-1]])


EOT = b"\x00\xff\x2f\x00"


def mtrk(body: bytes, *, size: int | None = None, end: bool = True) -> bytes:
    body = body + (EOT if end else b"")
    return b"MTrk" + struct.pack(">I", len(body) if size is None else size) + body


def smf_bytes(*chunks: bytes, fmt=1, ntracks=None, division=480, head_size=6, extra=b""):
    count = sum(c[:4] == b"MTrk" for c in chunks) if ntracks is None else ntracks
    head = b"MThd" + struct.pack(">IHHH", head_size, fmt, count, division) + extra
    return head + b"".join(chunks)


def on(delta, pitch, vel=100, ch=0):
    return vlq(delta) + bytes([0x90 | ch, pitch, vel])


def off(delta, pitch, vel=0, ch=0):
    return vlq(delta) + bytes([0x80 | ch, pitch, vel])


HEAD = 14  # MThd chunk: 8 + 6 bytes; the first MTrk header follows, its body at 22
BODY = HEAD + 8


def read_bytes(tmp_path, data: bytes, name="x.mid"):
    path = tmp_path / name
    path.write_bytes(data)
    return midi.read(path)


def notes_of(song):
    n = song.notes
    return list(
        zip(
            n.track.tolist(), n.start.tolist(), n.end.tolist(), n.pitch.tolist(),
            n.velocity.tolist(), n.channel.tolist(), n.open_end.tolist(), strict=True,
        )
    )  # fmt: skip


# ------------------------------------------------------------------ valid, odd files


def test_running_status_and_velocity_zero_note_offs(tmp_path):
    # one status byte 0x91; every later message uses running status; note-on velocity 0
    # ends a note. Ticks by hand: 60 at 0..120, 62 at 128..240, CC at 240 (its own status)
    body = b"\x00\x91\x3c\x50" + b"\x78\x3c\x00" + b"\x08\x3e\x51" + b"\x70\x3e\x00"
    body += b"\x00\xb1\x07\x64" + b"\x10\x07\x60"  # two CCs in running status (0xB1)
    song = read_bytes(tmp_path, smf_bytes(mtrk(body), fmt=0))
    assert notes_of(song) == [(0, 0, 120, 60, 80, 1, False), (0, 128, 240, 62, 81, 1, False)]
    assert song.notes.off_is_note_on.tolist() == [True, True]
    assert [(t, m.type, m.value) for t, _, m in song.events[0]] == [
        (240, "control_change", 100),
        (256, "control_change", 96),
    ]


def test_running_status_continues_after_meta_and_sysex(tmp_path):
    body = on(0, 60) + b"\x00\xff\x01\x02hi" + b"\x10\x3c\x00"  # meta, then 3c 00 (90)
    body += b"\x00\xf0\x03\x7e\x01\xf7" + b"\x20\x3e\x40" + off(5, 62)
    song = read_bytes(tmp_path, smf_bytes(mtrk(body), fmt=0))
    assert notes_of(song) == [(0, 0, 16, 60, 100, 0, False), (0, 48, 53, 62, 64, 0, False)]


def test_unknown_chunks_are_skipped(tmp_path):
    tracks = [mtrk(on(0, 60) + off(96, 60)), mtrk(on(10, 64) + off(50, 64))]
    plain = read_bytes(tmp_path, smf_bytes(*tracks), "plain.mid")
    odd = smf_bytes(
        b"XFIH" + struct.pack(">I", 10) + b"0123456789",
        tracks[0],
        b"junk" + struct.pack(">I", 0),
        tracks[1],
        b"MTrx" + struct.pack(">I", 3) + b"\xff\xff\xff",
    )
    song = read_bytes(tmp_path, odd, "odd.mid")
    assert notes_of(song) == notes_of(plain) == [
        (0, 0, 96, 60, 100, 0, False),
        (1, 10, 60, 64, 100, 0, False),
    ]


def test_a_longer_header_is_read_and_its_rest_skipped(tmp_path):
    data = smf_bytes(mtrk(on(0, 60) + off(7, 60)), fmt=0, head_size=8, extra=b"\xab\xcd")
    assert notes_of(read_bytes(tmp_path, data)) == [(0, 0, 7, 60, 100, 0, False)]


def test_type_0_with_two_tracks_is_read_as_type_1(tmp_path):
    data = smf_bytes(mtrk(on(0, 60) + off(10, 60)), mtrk(on(5, 70) + off(10, 70)), fmt=0)
    src = tmp_path / "two.mid"
    src.write_bytes(data)
    song = midi.read(src)
    assert song.type == 1 and song.n_tracks == 2
    assert notes_of(song) == [(0, 0, 10, 60, 100, 0, False), (1, 5, 15, 70, 100, 0, False)]
    out = tmp_path / "out.mid"
    midi.quantize_file(src, out, grid="1/4", strength=0)
    back = mido.MidiFile(out)  # a valid type-1 file (mido refuses to save type 0 x 2)
    assert back.type == 1 and len(back.tracks) == 2


def test_realtime_bytes_are_skipped_and_their_delta_kept(tmp_path):
    # F8 (clock) after 30 ticks, FE (active sensing) and F6 (tune request) 5 and 2 ticks
    # later: the note-off that follows 10 ticks later is at 47; running status (0x90)
    # survives them.
    body = on(0, 60) + b"\x1e\xf8" + b"\x05\xfe" + b"\x02\xf6" + b"\x0a\x3c\x00"
    body += on(3, 62) + off(4, 62)
    src = tmp_path / "rt.mid"
    src.write_bytes(smf_bytes(mtrk(body), fmt=0))
    song = midi.read(src)
    assert notes_of(song) == [(0, 0, 47, 60, 100, 0, False), (0, 50, 54, 62, 100, 0, False)]
    assert song.events == [[]]
    out = tmp_path / "out.mid"
    midi.quantize_file(src, out, strength=0)  # mido's writer refuses realtime messages
    kinds = [(m.type, getattr(m, "velocity", None)) for m in mido.MidiFile(out).tracks[0]]
    assert kinds == [("note_on", 100), ("note_on", 0), ("note_on", 100), ("note_off", 0),
                     ("end_of_track", None)]  # fmt: skip


def test_system_common_messages_are_kept(tmp_path):
    body = on(0, 60) + b"\x10\xf2\x05\x01" + off(4, 60)  # song position pointer
    src = tmp_path / "sc.mid"
    src.write_bytes(smf_bytes(mtrk(body), fmt=0))
    song = midi.read(src)
    assert [(t, m.type, m.pos) for t, _, m in song.events[0]] == [(16, "songpos", 0x85)]
    out = tmp_path / "out.mid"
    midi.quantize_file(src, out, strength=0)
    assert b"\x10\xf2\x05\x01" in out.read_bytes()


def test_sysex_without_end_and_escapes_are_kept_byte_for_byte(tmp_path):
    packet = b"\x00\xf0\x05\x7e\x7f\x09\x01\x00"  # F0 with no final F7 (a first packet)
    escape = b"\x00\xf7\x02\xf3\x01"  # an escape carrying song select
    full = b"\x00\xf0\x03\x41\x10\xf7"  # a complete sysex
    body = packet + escape + full + on(0, 60) + off(96, 60)
    src = tmp_path / "sx.mid"
    src.write_bytes(smf_bytes(mtrk(body), fmt=0))
    song = midi.read(src)
    kinds = [m.type for _, _, m in song.events[0]]
    assert kinds == ["sysex_packet", "escape", "sysex"]
    assert song.events[0][0][2].bytes() == list(packet[1:])
    out = tmp_path / "out.mid"
    midi.quantize_file(src, out, strength=0)
    assert packet + escape + full in out.read_bytes()


def test_meta_events_mido_cannot_decode_are_kept_byte_for_byte(tmp_path):
    odd_key = b"\x00\xff\x59\x02\x09\x00"  # key signature with 9 sharps: out of range
    long_sig = b"\x00\xff\x58\x05\x04\x02\x18\x08\x00"  # time signature of 5 bytes
    src = tmp_path / "meta.mid"
    src.write_bytes(smf_bytes(mtrk(odd_key + long_sig + on(0, 60) + off(10, 60)), fmt=0))
    song = midi.read(src)
    assert [m.type for _, _, m in song.events[0]] == ["unknown_meta", "unknown_meta"]
    out = tmp_path / "out.mid"
    midi.quantize_file(src, out, strength=0)
    assert odd_key + long_sig in out.read_bytes()


def test_tempo_zero_is_kept_but_sets_no_tempo(tmp_path):
    body = b"\x00\xff\x51\x03\x07\xa1\x20" + on(0, 60) + b"\x00\xff\x51\x03\x00\x00\x00"
    body += off(960, 60)
    src = tmp_path / "t0.mid"
    src.write_bytes(smf_bytes(mtrk(body), fmt=0))
    song = midi.read(src)
    assert song.tempo_map.tempos.tolist() == [500_000]  # the 0 is left out
    report = midi.stats_file(src)
    assert report["bpm_at_start"] == 120.0
    assert report["length_seconds"] == pytest.approx(1.0)  # 960 ticks at 120 BPM, 480 PPQ
    assert "120 BPM" in midi.format_report(report)
    out = tmp_path / "out.mid"
    midi.quantize_file(src, out)
    assert b"\xff\x51\x03\x00\x00\x00" in out.read_bytes()  # the event is still there


def test_a_chunk_longer_than_the_file_is_read_when_its_end_of_track_is_there(tmp_path):
    body = on(0, 60) + off(10, 60) + EOT
    data = smf_bytes(b"MTrk" + struct.pack(">I", len(body) + 300) + body, fmt=0)
    assert notes_of(read_bytes(tmp_path, data)) == [(0, 0, 10, 60, 100, 0, False)]


def test_bytes_after_end_of_track_and_after_the_last_track_are_ignored(tmp_path):
    body = on(0, 60) + off(10, 60) + EOT + b"\x00\x00\x99"  # inside the chunk, after EOT
    data = smf_bytes(mtrk(body, end=False), fmt=0) + b"\0\0\0\0garbage"
    song = read_bytes(tmp_path, data)
    assert notes_of(song) == [(0, 0, 10, 60, 100, 0, False)]
    assert song.track_ends.tolist() == [10]


def test_a_track_without_end_of_track_ends_at_its_last_event(tmp_path):
    song = read_bytes(tmp_path, smf_bytes(mtrk(on(0, 60) + off(10, 60) + on(5, 62), end=False)))
    assert notes_of(song) == [(0, 0, 10, 60, 100, 0, False), (0, 15, 15, 62, 100, 0, True)]
    assert song.track_ends.tolist() == [15]


def test_note_ons_that_never_end_close_at_the_end_of_track(tmp_path):
    body = on(0, 60) + on(96, 64) + off(10, 30) + b"\x81\x00\xff\x2f\x00"  # EOT at 234
    song = read_bytes(tmp_path, smf_bytes(mtrk(body, end=False)))
    assert notes_of(song) == [(0, 0, 234, 60, 100, 0, True), (0, 96, 234, 64, 100, 0, True)]
    assert song.stray_offs.tolist() == [[0, 0, 30, 106]]


def test_four_byte_deltas_up_to_the_limit(tmp_path):
    assert vlq(smf.MAX_VLQ) == b"\xff\xff\xff\x7f"
    body = on(0, 60) + vlq(smf.MAX_VLQ) + b"\x80\x3c\x00" + b"\x80\x80\x80\x01\x90\x3e\x40"
    body += off(1, 62)
    song = read_bytes(tmp_path, smf_bytes(mtrk(body), fmt=0))
    # 80 80 80 01 is a non-minimal but legal 4-byte 1
    assert notes_of(song) == [
        (0, 0, smf.MAX_VLQ, 60, 100, 0, False),
        (0, smf.MAX_VLQ + 1, smf.MAX_VLQ + 2, 62, 64, 0, False),
    ]


def test_a_gap_too_long_for_one_delta_after_quantize_is_bridged(tmp_path):
    # 96 PPQ, 1/16 = 24 ticks: the note-on at 0x0FFFFFFF (= 15 mod 24) snaps up to
    # 0x0FFFFFFF + 9, one delta of 0x10000008 from the CC at 0: more than 4 bytes hold.
    body = b"\x00\xb0\x07\x64" + vlq(smf.MAX_VLQ) + b"\x90\x3c\x64" + off(24, 60)
    src = tmp_path / "gap.mid"
    src.write_bytes(smf_bytes(mtrk(body), fmt=0, division=96))
    out = tmp_path / "out.mid"
    midi.quantize_file(src, out, grid="1/16", mode="starts")
    song = midi.read(out)  # our reader refuses 5-byte numbers: so none were written
    assert notes_of(song)[0][1] == smf.MAX_VLQ + 9
    ticks = [(t, m.type) for t, _, m in song.events[0]]
    assert ticks == [(0, "control_change"), (smf.MAX_VLQ, "text")]
    tick = 0
    for msg in mido.MidiFile(out).tracks[0]:
        tick += msg.time
        assert msg.time <= smf.MAX_VLQ
    assert tick == smf.MAX_VLQ + 9 + 24 - 9  # the note-off kept its tick (starts mode)


def test_the_writer_bridges_any_gap_of_notes_from_the_api(tmp_path):
    song = read_bytes(tmp_path, smf_bytes(mtrk(on(0, 60) + off(10, 60)), fmt=0))
    far = 3 * smf.MAX_VLQ + 5
    moved = song.with_notes(song.notes.replace(start=np.array([far]), end=np.array([far + 1])))
    out = tmp_path / "far.mid"
    midi.write(moved, out)
    back = midi.read(out)
    assert notes_of(back) == [(0, far, far + 1, 60, 100, 0, False)]
    assert [t for t, _, _ in back.events[0]] == [smf.MAX_VLQ, 2 * smf.MAX_VLQ, 3 * smf.MAX_VLQ]


def test_rmid_files_are_read(tmp_path):
    inner = smf_bytes(mtrk(on(0, 60) + off(10, 60)), fmt=0)
    data_chunk = b"data" + struct.pack("<I", len(inner)) + inner
    rmid = b"RIFF" + struct.pack("<I", 4 + len(data_chunk)) + b"RMID" + data_chunk
    assert notes_of(read_bytes(tmp_path, rmid)) == [(0, 0, 10, 60, 100, 0, False)]


@pytest.mark.parametrize("seed", range(6))
def test_random_valid_files_read_as_mido_reads_them(tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = write_mido(
        tmp_path / "r.mid",
        random_performance(rng, n_tracks=int(rng.integers(1, 5)), overlap_free=seed % 2 == 0),
    )
    song = midi.read(path)
    ours = sorted(zip(song.notes.track.tolist(), song.notes.start.tolist(),
                      song.notes.end.tolist(), song.notes.pitch.tolist(),
                      song.notes.velocity.tolist(), strict=True))  # fmt: skip
    theirs = []
    for t, track in enumerate(mido.MidiFile(path).tracks):
        tick, kept, sounding = 0, [], {}
        for msg in track:
            tick += msg.time
            if msg.type == "note_on" and msg.velocity:
                sounding.setdefault((msg.channel, msg.note), []).append((tick, msg.velocity))
            elif msg.type in ("note_on", "note_off") and sounding.get((msg.channel, msg.note)):
                start, vel = sounding[(msg.channel, msg.note)].pop(0)  # first in, first out
                theirs.append((t, start, tick, msg.note, vel))
            elif msg.type != "end_of_track":
                kept.append((tick, msg))
        assert [(tick, m) for tick, _, m in song.events[t]] == kept
    assert ours == sorted(theirs)


# ------------------------------------------------------------------ refused, clearly

# each: bytes, then the fragments the one-line message must hold (what and where)
_NOTES = on(0, 60) + off(96, 60)  # 8 bytes: the first event of a track body is at 22
REFUSED = {
    "empty": (b"", ["not a MIDI file", "empty"]),
    "wav": (b"RIFF\x24\0\0\0WAVEfmt ", ["not a MIDI file", "MThd"]),
    "short header": (b"MThd\0\0\0\x06\0\0\0", ["truncated", "header"]),
    "header of 4": (b"MThd\0\0\0\x04\0\0\0\x01" + mtrk(_NOTES), ["header", "4 bytes"]),
    "zero tracks": (smf_bytes(), ["no tracks"]),
    "type 2": (smf_bytes(mtrk(_NOTES), mtrk(_NOTES), fmt=2), ["type 2"]),
    "type 7": (smf_bytes(mtrk(_NOTES), fmt=7), ["type 7"]),
    "smpte": (smf_bytes(mtrk(_NOTES), division=0xE728), ["SMPTE", "25 frames"]),
    "ppq 0": (smf_bytes(mtrk(_NOTES), division=0), ["0 ticks per beat"]),
    "missing track": (smf_bytes(mtrk(_NOTES), ntracks=2), ["truncated", "announces 2 tracks"]),
    "truncated in event": (
        smf_bytes(mtrk(_NOTES))[:-6],
        ["track 0 at byte 26", "runs past the end", "truncated"],
    ),
    "truncated at event": (
        smf_bytes(mtrk(_NOTES))[:-4],
        ["track 0 at byte 30", "no end-of-track", "truncated"],
    ),
    "truncated in chunk header": (smf_bytes(mtrk(_NOTES), ntracks=2) + b"MTr", ["truncated"]),
    "chunk too short": (
        smf_bytes(mtrk(_NOTES, size=6), mtrk(_NOTES)),
        ["track 0 at byte 26", "runs past the end of the track chunk", "chunk length"],
    ),
    "chunk too short at an event": (
        smf_bytes(mtrk(_NOTES, size=8), mtrk(_NOTES)),
        ["at byte 30 after track 0", "expected a chunk", "00 ff 2f 00", "chunk length"],
    ),
    "chunk too long": (
        smf_bytes(mtrk(_NOTES, size=20), mtrk(_NOTES)),
        ["at byte 42 after track 0", "expected a chunk", "chunk length of track 0"],
    ),
    "vlq 5 bytes delta": (
        smf_bytes(mtrk(_NOTES + vlq(0, 5) + b"\x90\x48\x40")),
        ["track 0 at byte 30", "longer than 4 bytes", "80 80 80 80 00"],
    ),
    "vlq 5 bytes meta length": (
        smf_bytes(mtrk(b"\x00\xff\x01" + vlq(3, 5) + b"abc" + _NOTES)),
        ["track 0 at byte 25", "meta event's length", "longer than 4 bytes"],
    ),
    "meta length lies": (
        smf_bytes(mtrk(b"\x00\xff\x01" + vlq(500) + b"hello" + _NOTES)),
        ["track 0 at byte 23", "text meta event (0x01) says 500 data bytes", "17 are left"],
    ),
    "meta length past the file": (
        smf_bytes(mtrk(b"\x00\xff\x01\x7f" + b"hi", end=False, size=200)),
        ["track 0 at byte 23", "says 127 data bytes", "truncated"],
    ),
    "set_tempo of 2 bytes": (
        smf_bytes(mtrk(b"\x00\xff\x51\x02\x07\xa1" + _NOTES)),
        ["track 0 at byte 23", "set_tempo", "2 data bytes"],
    ),
    "sysex past the end": (
        smf_bytes(mtrk(_NOTES + b"\x00\xf0" + vlq(4000) + b"\x7e\xf7")),
        ["track 0 at byte 31", "sysex event says 4000 data bytes"],
    ),
    "running status first": (
        smf_bytes(mtrk(b"\x00\x3c\x40" + _NOTES)),
        ["track 0 at byte 23", "running status with no previous status byte"],
    ),
    "data byte above 127": (
        smf_bytes(mtrk(b"\x00\x90\x3c\xc8" + _NOTES)),
        ["track 0 at byte 25", "note-on", "0xC8"],
    ),
    "status inside a message": (
        smf_bytes(mtrk(_NOTES + b"\x00\xb0\xf8\x10")),
        ["track 0 at byte 32", "control change", "0xF8"],
    ),
    "undefined status": (
        smf_bytes(mtrk(_NOTES + b"\x00\xf4\x01")),
        ["track 0 at byte 31", "undefined status byte 0xF4"],
    ),
    "second track broken": (
        smf_bytes(mtrk(_NOTES), mtrk(b"\x00\xc0\x05" + b"\x00\x90\x3c", end=False)),
        ["track 1 at byte 45", "runs past the end", "chunk length is wrong"],
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_broken_files_give_one_clear_error_naming_what_and_where(tmp_path, case):
    data, fragments = REFUSED[case]
    src = tmp_path / "bad.mid"
    src.write_bytes(data)
    with pytest.raises(midi.MidiFileError) as info:
        midi.read(src)
    message = str(info.value)
    assert message.startswith(f"cannot read {str(src)!r}")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    # the same error from the file jobs, and no output
    with pytest.raises(midi.MidiFileError):
        midi.stats_file(src)
    with pytest.raises(midi.MidiFileError):
        midi.quantize_file(src, tmp_path / "out.mid")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mid"]


def test_event_times_beyond_the_limit_are_refused(tmp_path):
    body = (vlq(smf.MAX_VLQ) + b"\xb0\x07\x64") * 4097  # 4097 * (2**28 - 1) >= 2**40
    with pytest.raises(midi.MidiFileError, match="track 0 has event times beyond"):
        read_bytes(tmp_path, smf_bytes(mtrk(body), fmt=0))


def test_unreadable_paths(tmp_path):
    with pytest.raises(midi.MidiFileError, match="no such file"):
        midi.read(tmp_path / "nothing.mid")
    with pytest.raises(midi.MidiFileError, match="it is a directory"):
        midi.read(tmp_path)


# ------------------------------------------------------------------ pieces


def test_encode_vlq_refuses_what_needs_5_bytes():
    for value in (0, 127, 128, 16383, 16384, smf.MAX_VLQ):
        assert smf.encode_vlq(value) == vlq(value)
    with pytest.raises(midi.MidiFileError, match="0..268435455"):
        smf.encode_vlq(smf.MAX_VLQ + 1)


def test_tempo_map_leaves_out_tempo_zero_and_refuses_it_directly():
    tm = midi.TempoMap.from_changes(480, [(0, 400_000), (480, 0), (960, 250_000)])
    assert tm.ticks.tolist() == [0, 960] and tm.tempos.tolist() == [400_000, 250_000]
    assert tm.bpm_at(500) == 150.0
    with pytest.raises(midi.MidiParameterError, match="tempos must be > 0"):
        midi.TempoMap(480, np.array([0]), np.array([0]))


def test_read_all_reads_to_the_end_whatever_size_was_expected():
    """``_read_all`` reads a regular file's size in one call, and goes on to the end
    when the size was wrong (a file that grew or shrank) or unknown (a pipe)."""
    import os

    from audioquant.midi.notes import _read_all

    data = bytes(range(256)) * 300      # (75 kB: more than a pipe holds, read in parts)
    for size in (-1, 0, 100, len(data) - 1, len(data), len(data) + 5):
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:                    # (the child writes; the pipe may be smaller)
            os.close(reader)
            os.write(writer, data)
            os._exit(0)
        os.close(writer)
        try:
            assert _read_all(reader, size) == data, size
        finally:
            os.close(reader)
            os.waitpid(pid, 0)
