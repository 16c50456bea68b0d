"""Standard MIDI File reader and writer: bytes in, an event table of numpy arrays out,
and back. The per-byte work is two numba kernels (``_scan`` and ``_encode``).

This is the one place that parses and writes MIDI file bytes (``notes.read`` pairs the
table's note messages into note arrays; ``notes.write`` orders the events to write).
It validates the header and every chunk, skips unknown chunks (as the standard says),
decodes variable-length quantities (at most 4 bytes, as the format
allows), running status, meta, sysex and escape events, and names the track and the
byte offset in the file in every error: every error is a ``MidiFileError`` such as
``cannot read 'x.mid' as a MIDI file: track 2 at byte 1234: running status with no
previous status byte`` (the kernel returns an error code and the offset; Python words
the message). mido is not imported (``compat`` builds mido messages on request).

What the reader accepts, refuses and decides (the standard is silent or files break it):

- The file is an SMF (``MThd`` first) or an RMID file (an SMF in a RIFF ``data``
  chunk). A header longer than 6 bytes is read and the rest skipped. Types 0 and 1 are
  read; type 2, SMPTE time division and 0 ticks per beat are refused.
- Chunks are read up to the end of the file: ``MTrk`` chunks are tracks, chunks with
  any other 4-character ASCII name are skipped. Fewer tracks than the header announces
  is a truncated file. More ``MTrk`` chunks than announced are all read (nothing in the
  file is dropped); a type-0 file with more than one track is read as type 1 (the
  tracks play together, which is what type 1 means), so it is written back as a valid
  type-1 file. After the announced tracks, bytes that do not form a chunk are ignored
  when the last track ended with its end-of-track (trailing padding or garbage).
- A track ends at its end-of-track event; bytes after it inside the chunk are ignored.
  A track without one ends after its last event (one is written back). A chunk whose
  length runs past the end of the file is read when its end-of-track is inside the file
  (nothing is missing); otherwise the file is truncated. An event that crosses the end
  of its chunk (a chunk length that is too short) is refused.
- Running status is accepted after channel messages; it also survives meta, sysex and
  system events (the standard cancels it there, but continuing it is the only possible
  reading of such a file, and mido does the same after a meta event).
- Note-on with velocity 0 is a note-off (for ``notes.read``).
- Realtime status bytes (0xF8..0xFE: clock, start, stop, active sensing, ...) and the
  tune request (0xF6) are not SMF events. They are skipped, and the delta time before
  them is kept, so every later event keeps its tick (these one-byte messages carry no
  data and have no meaning in a stored sequence; mido reads them and then refuses to
  write them). The other system common messages (0xF1 MTC quarter frame, 0xF2 song
  position, 0xF3 song select) are kept as events and written back as they were; 0xF4
  and 0xF5 (undefined, no known length) are refused.
- Every event is kept byte for byte (its span in the file is in the table), sysex
  packets without a final 0xF7, 0xF7 escapes and meta events of odd lengths included.
  (``compat``, for ``Song.events``, shows a complete sysex as mido's ``sysex``, the
  others as ``RawEvent``, and a meta event mido cannot decode exactly as mido's
  ``UnknownMetaMessage``.) ``set_tempo`` sets the time line: one whose length is not 3
  is refused (the tempo is unknown, and the length is probably wrong, putting every later
  byte out of step). A tempo of 0 microseconds per beat is kept as an event but sets no
  tempo (see ``TempoMap.from_changes``).

What the writer keeps and what it normalises:

- A track in which no event moved or changed (same events, same ticks, same order, same
  end) is copied byte for byte from the input chunk, when that chunk is *clean*: complete
  in the file, ending with its end-of-track, with no realtime byte skipped.
- In any other track every event keeps its bytes and its encoding choices (running
  status where it is still valid in the new order, a note-off as 0x80 or as a note-on of
  velocity 0); delta times are written anew (4 bytes at most, in the shortest form).
  Events that are new (notes from the API) use running status as mido does.
- The header chunk is copied when the type and the track count written are those of the
  file's header; otherwise a 6-byte header is written.
- Normalised on the way (a file written back once, then read and written again, comes
  back byte-identical): an RMID wrapper is removed, unknown chunks and bytes after the
  last track are dropped (mido refuses unknown chunks between tracks), realtime and tune
  request bytes are dropped, a missing end-of-track is added, bytes after an
  end-of-track inside its chunk are dropped, a chunk length past the end of the file is
  corrected, non-shortest delta times are shortened in a track that is re-encoded, and
  a type-0 file with several tracks is written as type 1 with its real track count.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._jit import njit
from .errors import MidiFileError

__all__ = ["MAX_VLQ", "Events", "SmfFile", "encode_tracks", "encode_vlq", "parse"]

MAX_VLQ = 0x0FFFFFFF
"""Largest variable-length quantity (4 bytes of 7 bits): the longest delta time, and the
longest meta or sysex length, a MIDI file can hold."""

META_NAMES = {
    0x00: "sequence_number", 0x01: "text", 0x02: "copyright", 0x03: "track_name",
    0x04: "instrument_name", 0x05: "lyrics", 0x06: "marker", 0x07: "cue_marker",
    0x09: "device_name", 0x20: "channel_prefix", 0x21: "midi_port", 0x2F: "end_of_track",
    0x51: "set_tempo", 0x54: "smpte_offset", 0x58: "time_signature",
    0x59: "key_signature", 0x7F: "sequencer_specific",
}  # fmt: skip
_SYSTEM_COMMON_LENGTH = {0xF1: 1, 0xF2: 2, 0xF3: 1}


def encode_vlq(value: int) -> bytes:
    """The variable-length quantity of ``value`` (0..MAX_VLQ), 1 to 4 bytes.

    Raises MidiFileError for a value the format cannot hold (it would need 5 bytes).
    """
    if not 0 <= value <= MAX_VLQ:
        raise MidiFileError(
            f"a MIDI file cannot hold the number {value}: variable-length quantities are"
            f" 0..{MAX_VLQ} (4 bytes)"
        )
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


@dataclass(eq=False)
class Events:
    """Every event of a MIDI file, one row each, in file order (track by track), as
    parallel numpy arrays. Realtime bytes, which are not SMF events, have no row; each
    track's end-of-track has one (``status`` 0xFF, ``data1`` 0x2F).

    Attributes
    ----------
    track : np.ndarray [int32]
        0-based track (chunk) number.
    tick : np.ndarray [int64, ticks]
        Absolute time in the file's ticks.
    order : np.ndarray [int32]
        Position of the event in its track (0-based); computed from ``track`` when asked
        for (a property: one column less to hold for every event).
    status : np.ndarray [uint8]
        The effective status byte, running status resolved: 0x80..0xEF channel messages,
        0xFF meta, 0xF0 sysex, 0xF7 escape, 0xF1..0xF3 system common.
    data1, data2 : np.ndarray [uint8]
        The data bytes of channel and system common messages (0 where there is none);
        for a meta event ``data1`` is its type.
    payload : np.ndarray [int32, bytes], length : np.ndarray [int32, bytes]
        Where the data of a meta or sysex event starts in ``data`` and how long it is
        (-1 and 0 for other events).
    offset : np.ndarray [int32, bytes], size : np.ndarray [int32, bytes]
        The event's bytes in ``data`` after its delta time: ``data[offset:offset+size]``
        (with running status they start with the first data byte).
    running : np.ndarray [bool]
        The event was written with running status (no status byte of its own).
    data : np.ndarray [uint8]
        The bytes the offsets point into (the file's bytes, an RMID wrapper removed).
    """

    track: np.ndarray
    tick: np.ndarray
    status: np.ndarray
    data1: np.ndarray
    data2: np.ndarray
    payload: np.ndarray
    length: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    running: np.ndarray
    data: np.ndarray

    def __len__(self) -> int:
        return int(self.tick.shape[0])

    @property
    def order(self) -> np.ndarray:
        """Position of each event in its track (0-based) [int32]: rows are in file order,
        track by track."""
        t = self.track
        n = t.shape[0]
        first = np.flatnonzero(np.concatenate(([True], t[1:] != t[:-1]))) if n else t[:0]
        return (np.arange(n, dtype=np.int32)
                - np.repeat(first.astype(np.int32), np.diff(np.append(first, n))))

    def bytes_of(self, row: int) -> bytes:
        """The bytes of event ``row`` after its delta time, status byte included (added
        back when it was written with running status)."""
        raw = self.data[self.offset[row] : self.offset[row] + self.size[row]].tobytes()
        return bytes([int(self.status[row])]) + raw if self.running[row] else raw

    def payload_of(self, row: int) -> bytes:
        """The data bytes of a meta or sysex event (b"" for others)."""
        p = int(self.payload[row])
        return b"" if p < 0 else self.data[p : p + int(self.length[row])].tobytes()


@dataclass(eq=False)
class SmfFile:
    """A parsed MIDI file.

    ``type`` is what it is read as (0 or 1; ``header_type`` is what its header says,
    ``announced`` its track count); ``header`` the byte span of the header chunk in
    ``events.data``. Per track (arrays of shape ``(tracks,)``): ``first_row`` (its first
    row in ``events``; ``first_row[-1]`` after the last track is the row count), ``end_tick``
    [ticks] (the end-of-track, or the last event when it has none), ``eot_row`` (-1: none),
    ``chunk_start``, ``chunk_end`` [bytes] (the chunk header to the end of its body as
    found in the file) and ``clean`` (see the module: such a chunk is copied as it is).
    """

    type: int
    header_type: int
    announced: int
    ticks_per_beat: int
    header: tuple[int, int]
    events: Events
    first_row: np.ndarray
    end_tick: np.ndarray
    eot_row: np.ndarray
    chunk_start: np.ndarray
    chunk_end: np.ndarray
    clean: np.ndarray

    @property
    def n_tracks(self) -> int:
        return int(self.end_tick.shape[0])


# ---------------------------------------------------------------------------- reader

# error codes of the reader kernel (err[0]); err[1] track, err[2] byte, err[3..5] the
# track chunk (body start, body end, chunk length), err[6..8] details
_E_VLQ, _E_RUNNING, _E_DATA, _E_META, _E_TEMPO, _E_SYSEX, _E_STATUS, _E_PAST, _E_NO_EOT = (
    range(1, 10))
_E_CHUNK_HEAD, _E_NOT_CHUNK = 20, 21
_T_COLS = 9  # track info: chunk start, body start, body end, chunk length, first row,
#              end tick, eot row, eot end (-1), skipped bytes


@njit
def _vlq(data, i, n):
    """(value, next offset, 0) of the quantity at ``data[i]``; code 1: longer than 4
    bytes, 2: runs past ``n``."""
    value = 0
    for k in range(4):
        if i + k >= n:
            return 0, i, 2
        b = data[i + k]
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, i + k + 1, 0
    return 0, i, 1


@njit
def _fail(err, code, t, at, start, end, chunk_len, a, b, c):
    err[0] = code
    err[1] = t
    err[2] = at
    err[3] = start
    err[4] = end
    err[5] = chunk_len
    err[6] = a
    err[7] = b
    err[8] = c


@njit
def _scan(data, pos, announced, fill, tick_out, status_out, d1_out, d2_out, payload_out,
          length_out, offset_out, size_out, running_out, tracks, err, counts):
    """Walk the chunks of an SMF from ``pos`` (after the header) and decode every track.

    With ``fill`` False only counts (rows, tracks) into ``counts`` and checks; with
    ``fill`` the row arrays and ``tracks`` [tracks, _T_COLS] are written. On a fault,
    ``err`` is set (see the codes above) and the walk stops.
    """
    size = data.shape[0]
    row = 0
    t = 0
    ended = True
    while pos < size:
        ok_id = pos + 8 <= size
        if ok_id:
            for k in range(4):
                if data[pos + k] < 0x20 or data[pos + k] > 0x7E:
                    ok_id = False
        if not ok_id:
            if t >= announced and ended:
                break
            if pos + 8 > size:
                _fail(err, _E_CHUNK_HEAD, t, pos, 0, 0, 0, 0, 0, 0)
            else:
                _fail(err, _E_NOT_CHUNK, t, pos, 0, 0, 0, 0, 0, 0)
            return
        chunk_len = (np.int64(data[pos + 4]) << 24) | (np.int64(data[pos + 5]) << 16) | (
            np.int64(data[pos + 6]) << 8) | np.int64(data[pos + 7])
        is_track = data[pos] == 77 and data[pos + 1] == 84 and data[pos + 2] == 114 \
            and data[pos + 3] == 107  # MTrk
        head = pos
        start = pos + 8
        pos = start + chunk_len
        if not is_track:
            continue
        n = min(pos, size)
        truncated = pos > size
        if fill:
            tracks[t, 0] = head
            tracks[t, 1] = start
            tracks[t, 2] = n
            tracks[t, 3] = chunk_len
            tracks[t, 4] = row
            tracks[t, 6] = -1
            tracks[t, 7] = -1
        tick = np.int64(0)
        status = 0
        skipped = 0
        i = start
        eot = False
        while i < n:
            ev = i
            delta, i, code = _vlq(data, i, n)
            if code == 2:
                _fail(err, _E_PAST, t, ev, start, n, chunk_len, 0, 0, 0)
                return
            if code == 1:
                _fail(err, _E_VLQ, t, ev, start, n, chunk_len, 0, 0, 0)
                return
            tick += delta
            if i >= n:
                _fail(err, _E_PAST, t, ev, start, n, chunk_len, 0, 0, 0)
                return
            first = i
            s = np.int64(data[i])
            running = False
            if s < 0x80:
                if status == 0:
                    _fail(err, _E_RUNNING, t, i, start, n, chunk_len, s, 0, 0)
                    return
                s = status
                running = True
            else:
                i += 1
                if s < 0xF0:
                    status = s
            d1 = 0
            d2 = 0
            payload = -1
            length = 0
            if s < 0xF0:
                hi = s & 0xF0
                if hi == 0xC0 or hi == 0xD0:
                    if i >= n:
                        _fail(err, _E_PAST, t, ev, start, n, chunk_len, 0, 0, 0)
                        return
                    d1 = np.int64(data[i])
                    i += 1
                    if d1 > 127:
                        _fail(err, _E_DATA, t, i - 1, start, n, chunk_len, s, 0, 0)
                        return
                else:
                    if i + 1 >= n:
                        _fail(err, _E_PAST, t, ev, start, n, chunk_len, 0, 0, 0)
                        return
                    d1 = np.int64(data[i])
                    d2 = np.int64(data[i + 1])
                    i += 2
                    if d1 > 127:
                        _fail(err, _E_DATA, t, i - 2, start, n, chunk_len, s, 0, 0)
                        return
                    if d2 > 127:
                        _fail(err, _E_DATA, t, i - 1, start, n, chunk_len, s, 0, 0)
                        return
            elif s == 0xFF:
                at = i - 1
                if i >= n:
                    _fail(err, _E_PAST, t, ev, start, n, chunk_len, 0, 0, 0)
                    return
                d1 = np.int64(data[i])
                length, j, code = _vlq(data, i + 1, n)
                if code == 2:
                    _fail(err, _E_PAST, t, ev, start, n, chunk_len, 0, 0, 0)
                    return
                if code == 1:
                    _fail(err, _E_VLQ, t, i + 1, start, n, chunk_len, 1, 0, 0)
                    return
                i = j
                if i + length > n:
                    _fail(err, _E_META, t, at, start, n, chunk_len, d1, length, n - i)
                    return
                payload = i
                i += length
                if d1 == 0x51 and length != 3:
                    _fail(err, _E_TEMPO, t, at, start, n, chunk_len, d1, length, 0)
                    return
                if d1 == 0x2F:
                    eot = True
            elif s == 0xF0 or s == 0xF7:
                at = i - 1
                length, j, code = _vlq(data, i, n)
                if code == 2:
                    _fail(err, _E_PAST, t, ev, start, n, chunk_len, 0, 0, 0)
                    return
                if code == 1:
                    _fail(err, _E_VLQ, t, i, start, n, chunk_len, 2, 0, 0)
                    return
                i = j
                if i + length > n:
                    _fail(err, _E_SYSEX, t, at, start, n, chunk_len, s, length, n - i)
                    return
                payload = i
                i += length
            elif s >= 0xF8 or s == 0xF6:
                skipped += 1  # realtime or tune request: no event, its delta kept
                continue
            elif s == 0xF1 or s == 0xF2 or s == 0xF3:
                m = 2 if s == 0xF2 else 1
                if i + m > n:
                    _fail(err, _E_PAST, t, ev, start, n, chunk_len, 0, 0, 0)
                    return
                d1 = np.int64(data[i])
                if m == 2:
                    d2 = np.int64(data[i + 1])
                i += m
                if d1 > 127:
                    _fail(err, _E_DATA, t, i - m, start, n, chunk_len, s, 0, 0)
                    return
                if d2 > 127:
                    _fail(err, _E_DATA, t, i - 1, start, n, chunk_len, s, 0, 0)
                    return
            else:
                _fail(err, _E_STATUS, t, i - 1, start, n, chunk_len, s, 0, 0)
                return
            if fill:
                tick_out[row] = tick
                status_out[row] = s
                d1_out[row] = d1
                d2_out[row] = d2
                payload_out[row] = payload
                length_out[row] = length
                offset_out[row] = first
                size_out[row] = i - first
                running_out[row] = running
                if eot:
                    tracks[t, 6] = row
                    tracks[t, 7] = i
            row += 1
            if eot:
                break
        if not eot and truncated:
            _fail(err, _E_NO_EOT, t, n, start, n, chunk_len, 0, 0, 0)
            return
        if fill:
            tracks[t, 5] = tick
            tracks[t, 8] = skipped
        ended = eot
        t += 1
    counts[0] = row
    counts[1] = t


def _unwrap_rmid(data: bytes) -> tuple[bytes, int]:
    """The SMF inside an RMID file and its offset, or ``(data, 0)``."""
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":
        pos = 12
        while pos + 8 <= len(data):
            cid = data[pos : pos + 4]
            size = int.from_bytes(data[pos + 4 : pos + 8], "little")
            if cid == b"data":
                return data[pos + 8 : pos + 8 + size], pos + 8
            pos += 8 + size + (size & 1)
    return data, 0


def _chunk_note(err: np.ndarray, size: int, base: int) -> str:
    """Where the track chunk ends: cut short by the end of the file, or by its length."""
    start, end, chunk_len = int(err[3]), int(err[4]), int(err[5])
    if start + chunk_len > size:
        return (
            f"; the file is truncated: it ends {end - start} bytes into this track chunk of"
            f" {chunk_len} bytes"
        )
    return f" (the chunk holds {chunk_len} bytes from byte {base + start})"


_KINDS = {0x80: "note-off", 0x90: "note-on", 0xA0: "polyphonic aftertouch",
          0xB0: "control change", 0xC0: "program change", 0xD0: "channel aftertouch",
          0xE0: "pitch bend"}  # fmt: skip


def _track_error(err: np.ndarray, data: np.ndarray, base: int, where: str) -> MidiFileError:
    """The message of a fault inside a track (the codes of ``_scan``)."""
    code, t, at = int(err[0]), int(err[1]), int(err[2])
    a, b, c = int(err[6]), int(err[7]), int(err[8])
    size = data.shape[0]
    truncated = int(err[3]) + int(err[5]) > size
    wrong = "" if truncated else ": its length or the chunk's is wrong"
    if code == _E_VLQ:
        what = ("the delta time", "the meta event's length", "the sysex event's length")[a]
        what = (f"{what} is a variable-length quantity longer than 4 bytes"
                f" (starting {data[at:at + 5].tobytes().hex(' ')}); the format allows at"
                f" most 4 bytes (0..{MAX_VLQ})")  # fmt: skip
    elif code == _E_RUNNING:
        what = (f"running status with no previous status byte (data byte 0x{a:02X}"
                " where an event should start)")  # fmt: skip
    elif code == _E_DATA:
        hi = a & 0xF0
        need = _SYSTEM_COMMON_LENGTH.get(a, 1 if hi in (0xC0, 0xD0) else 2)
        kind = _KINDS.get(hi, f"system message 0x{a:02X}")
        what = (f"a {kind} (status 0x{a:02X}) needs {need} data byte{'s' if need > 1 else ''}"
                f" in 0..127, found 0x{int(data[at]):02X}")  # fmt: skip
    elif code == _E_META:
        kind = META_NAMES.get(a, f"type 0x{a:02X}")
        what = (f"a {kind} meta event (0x{a:02X}) says {b} data bytes, but {c} are left in"
                f" the track chunk" + _chunk_note(err, size, base) + wrong)  # fmt: skip
    elif code == _E_TEMPO:
        what = (f"a set_tempo meta event with {b} data bytes; a tempo has 3"
                " (microseconds per beat), so its length is wrong")  # fmt: skip
    elif code == _E_SYSEX:
        kind = "sysex" if a == 0xF0 else "escape (0xF7)"
        what = (f"a {kind} event says {b} data bytes, but {c} are left in the track chunk"
                + _chunk_note(err, size, base) + wrong)  # fmt: skip
    elif code == _E_STATUS:
        what = (f"undefined status byte 0x{a:02X} (the MIDI standard gives it no meaning"
                " and no length)")  # fmt: skip
    elif code == _E_PAST:
        what = ("the event starting here runs past the end of the track chunk"
                + _chunk_note(err, size, base)
                + ("" if truncated else ": the chunk length is wrong"))  # fmt: skip
    else:  # _E_NO_EOT
        what = "no end-of-track event" + _chunk_note(err, size, base)
    return MidiFileError(f"{where}: track {t} at byte {base + at}: {what}")


_ONE_PASS = 1 << 26  # bytes: files up to this size are read in one pass


def _columns(rows: int, tracks: int) -> tuple[np.ndarray, ...]:
    """Empty row arrays for ``_scan`` (tick, status, data1, data2, payload, length,
    offset, size, running) and its track array."""
    return (np.empty(rows, np.int64), np.empty(rows, np.uint8), np.empty(rows, np.uint8),
            np.empty(rows, np.uint8), np.empty(rows, np.int32), np.empty(rows, np.int32),
            np.empty(rows, np.int32), np.empty(rows, np.int32), np.empty(rows, np.bool_),
            np.zeros((tracks, _T_COLS), np.int64))  # fmt: skip


def read_header(raw: bytes, name: str) -> tuple[bytes, int, int, int, int, int]:
    """The checks of :func:`parse` on a file's header (MidiFileError for a refused one):
    the SMF's bytes (an RMID wrapper removed), their offset in ``raw``, the file type,
    the tracks the header announces, the ticks per beat and the header's length."""
    fail = f"cannot read {name!r}"
    if not raw:
        raise MidiFileError(f"{fail}: not a MIDI file (it is empty)")
    smf, base = _unwrap_rmid(raw)
    if smf[:4] != b"MThd":
        raise MidiFileError(
            f"{fail}: not a MIDI file (it starts with {smf[:4]!r}, a MIDI file with 'MThd')"
        )
    if len(smf) < 14:
        raise MidiFileError(f"{fail}: the MIDI file is truncated inside its header")
    head_len = int.from_bytes(smf[4:8], "big")
    if head_len < 6:
        raise MidiFileError(
            f"{fail} as a MIDI file: the header chunk (MThd) is {head_len} bytes long;"
            " it needs 6"
        )
    fmt = int.from_bytes(smf[8:10], "big")
    announced = int.from_bytes(smf[10:12], "big")
    division = int.from_bytes(smf[12:14], "big")
    if fmt not in (0, 1):
        raise MidiFileError(f"{fail}: MIDI file type {fmt} is not supported (types 0 and 1 are)")
    if division & 0x8000:
        fps = 256 - (division >> 8)
        raise MidiFileError(
            f"{fail}: SMPTE time division ({fps} frames per second, {division & 0xFF}"
            " ticks per frame) is not supported; the grid needs ticks per beat"
        )
    if division == 0:
        raise MidiFileError(f"{fail}: the header gives 0 ticks per beat")
    if len(smf) >= 2**31:           # (the table's byte offsets are 32-bit)
        raise MidiFileError(f"{fail}: the file is {len(smf)} bytes long; MIDI files of 2 GiB"
                            " or more are not read")
    return smf, base, fmt, announced, division, head_len


def parse(raw: bytes, name: str) -> SmfFile:
    """Parse the bytes of a MIDI file into its event table (``name`` is used in messages).

    Raises MidiFileError for everything the module's docstring says is refused.
    """
    smf, base, fmt, announced, division, head_len = read_header(raw, name)
    fail = f"cannot read {name!r}"
    data = np.frombuffer(smf, dtype=np.uint8)
    where = f"{fail} as a MIDI file"
    pos = 8 + head_len
    err = np.zeros(9, np.int64)
    counts = np.zeros(2, np.int64)
    size = data.shape[0]
    # every event takes 2 bytes or more, every chunk 8: a file is read in one pass into
    # arrays of that bound, of which only the rows used are ever touched (so only those
    # take memory: the rest is address space); a very large one (or one whose bound the
    # system will not map) is counted first, then read into arrays of its size
    one_pass = size <= _ONE_PASS
    try:
        columns = _columns(size // 2 + 1, size // 8 + 1) if one_pass else _columns(0, 0)
    except MemoryError:
        one_pass, columns = False, _columns(0, 0)
    _scan(data, pos, announced, one_pass, *columns, err, counts)
    if err[0]:
        code, t, at = int(err[0]), int(err[1]), int(err[2])
        if code == _E_CHUNK_HEAD:
            raise MidiFileError(
                f"{fail}: the MIDI file is truncated: it ends inside a chunk header"
                f" at byte {base + at}"
            )
        if code == _E_NOT_CHUNK:
            after = f" after track {t - 1}" if t else ""
            hint = f"; the chunk length of track {t - 1} is probably wrong" if t else ""
            raise MidiFileError(
                f"{where}: at byte {base + at}{after}: expected a chunk (MTrk), found the"
                f" bytes {smf[at:at + 4].hex(' ')}{hint}"
            )
        raise _track_error(err, data, base, where)
    rows, n_tracks = int(counts[0]), int(counts[1])
    if n_tracks < announced:
        raise MidiFileError(
            f"{fail}: the MIDI file is truncated: the header announces {announced} tracks,"
            f" the file holds {n_tracks}"
        )
    if not n_tracks:
        raise MidiFileError(f"{fail}: the MIDI file has no tracks")
    if one_pass:
        columns = tuple(c[:n_tracks] if c.ndim == 2 else c[:rows] for c in columns)
    else:
        columns = _columns(rows, n_tracks)
        _scan(data, pos, announced, True, *columns, err, counts)
    tick, status, d1, d2, payload, length, offset, size, running, tracks = columns
    first_row = np.append(tracks[:, 4], rows)
    per_track = np.diff(first_row)
    track_of = np.repeat(np.arange(n_tracks, dtype=np.int32), per_track)
    events = Events(track=track_of, tick=tick, status=status, data1=d1,
                    data2=d2, payload=payload, length=length, offset=offset, size=size,
                    running=running, data=data)  # fmt: skip
    complete = tracks[:, 1] + tracks[:, 3] <= data.shape[0]
    clean = complete & (tracks[:, 6] >= 0) & (tracks[:, 7] == tracks[:, 2]) & (tracks[:, 8] == 0)
    kind = fmt if n_tracks == 1 or fmt == 1 else 1
    return SmfFile(
        type=kind, header_type=fmt, announced=announced, ticks_per_beat=division,
        header=(0, 8 + head_len), events=events, first_row=first_row,
        end_tick=tracks[:, 5].copy(), eot_row=tracks[:, 6].copy(),
        chunk_start=tracks[:, 0].copy(), chunk_end=tracks[:, 2].copy(), clean=clean,
    )  # fmt: skip


# ---------------------------------------------------------------------------- writer


@njit(inline="always")
def _put_vlq(out, o, value, fill):
    """Write ``value`` (0..MAX_VLQ) as a shortest variable-length quantity at ``out[o]``;
    returns the next offset."""
    k = 1
    v = value >> 7
    while v:
        k += 1
        v >>= 7
    if fill:
        for j in range(k):
            b = (value >> (7 * (k - 1 - j))) & 0x7F
            out[o + j] = b | 0x80 if j < k - 1 else b
    return o + k


@njit(inline="always")
def put_chunk_head(out, head, body):
    """Write an ``MTrk`` chunk header at ``out[head]`` for a body of ``body`` bytes."""
    out[head] = 77              # M
    out[head + 1] = 84          # T
    out[head + 2] = 114         # r
    out[head + 3] = 107         # k
    out[head + 4] = (body >> 24) & 0xFF
    out[head + 5] = (body >> 16) & 0xFF
    out[head + 6] = (body >> 8) & 0xFF
    out[head + 7] = body & 0xFF


@njit(inline="always")
def put_delta(out, o, d, fill):
    """A delta time of ``d`` ticks, longer gaps bridged by empty text events of MAX_VLQ
    ticks; returns (next offset, True when a bridge was written)."""
    bridged = False
    while d > 0x0FFFFFFF:
        o = _put_vlq(out, o, 0x0FFFFFFF, fill)
        if fill:
            out[o] = 0xFF
            out[o + 1] = 0x01
            out[o + 2] = 0x00
        o += 3
        d -= 0x0FFFFFFF
        bridged = True
    return _put_vlq(out, o, d, fill), bridged


@njit
def _encode(data, tick, status, offset, size, running, first_row, eot_row, clean, end_file,
            a_code, b_track, b_tick, b_bucket, b_order, b_src, b_code, perm, ends, out,
            spans):
    """Write every track chunk that changed into ``out``; returns the bytes used.

    A track's events are the merge of two sequences in (tick, bucket, order) order: its
    table rows that stay at their place (``a_code``: -1 none, -2 its own bytes, else a new
    message code), which are in that order already, and the moved or new events ``b_*``
    taken through ``perm`` (sorted by track, tick, bucket, order). A row is copied with
    its bytes, a status byte added where its running status is no longer valid; a new
    message gets running status as mido writes it. Then the end-of-track at the latest
    of ``ends[t]`` and the last event (the bytes of ``eot_row[t]``, or FF 2F 00). Gaps
    longer than MAX_VLQ ticks are bridged by empty text events.

    A track whose rows all stay with their bytes, with nothing moved in, the same end
    and a clean chunk is not written: ``spans[t]`` is (-1, -1) (copied by the caller).
    Otherwise ``spans[t]`` is the chunk's start and end in ``out``.
    """
    o = 0
    pb = 0
    m = perm.shape[0]
    for t in range(first_row.shape[0] - 1):
        r0 = first_row[t]
        r1 = first_row[t + 1]
        qb = pb
        while qb < m and b_track[perm[qb]] == t:
            qb += 1
        same = qb == pb and clean[t]
        last = np.int64(0)
        for r in range(r0, r1):
            if r == eot_row[t]:
                continue
            if a_code[r] != -2:
                same = False
                break
            last = tick[r]
        if same and max(ends[t], last) == end_file[t]:
            spans[t, 0] = -1
            spans[t, 1] = -1
            continue
        head = o
        o += 8
        prev = np.int64(0)
        ours = 0   # running status as our reader keeps it (survives meta and sysex)
        std = 0    # running status as the standard keeps it (cancelled by them)
        r = r0
        while True:
            while r < r1 and a_code[r] == -1:
                r += 1
            take_a = r < r1
            e = perm[pb] if pb < qb else 0
            if pb < qb:
                if take_a:
                    ta = tick[r]
                    tb = b_tick[e]
                    take_a = ta < tb or (ta == tb and (1 < b_bucket[e] or (
                        1 == b_bucket[e] and r <= b_order[e])))
            elif not take_a:
                break
            if take_a:
                now = tick[r]
            else:
                now = b_tick[e]
            d = now - prev
            if d < 0x80:  # the usual case: a one-byte delta time
                out[o] = d
                o += 1
            else:
                o, bridged = put_delta(out, o, d, True)
                if bridged:
                    std = 0
            prev = now
            src = -1
            code = np.int64(0)
            if take_a:
                if a_code[r] == -2:
                    src = r
                else:
                    code = np.int64(a_code[r])
                r += 1
            else:
                src = np.int64(b_src[e])
                code = np.int64(b_code[e])
                pb += 1
            if src >= 0:  # the event's own bytes
                s = np.int64(status[src])
                if s < 0xF0:
                    if running[src] and ours != s:
                        out[o] = s
                        o += 1
                    ours = s
                    std = s
                else:
                    std = 0
                p = offset[src]
                n = size[src]
                if n == 2:          # (the usual: a controller in running status)
                    out[o] = data[p]
                    out[o + 1] = data[p + 1]
                elif n == 3:
                    out[o] = data[p]
                    out[o + 1] = data[p + 1]
                    out[o + 2] = data[p + 2]
                else:
                    for j in range(n):
                        out[o + j] = data[p + j]
                o += n
            else:  # a new channel message, running status as mido writes it
                s = code >> 16
                if std != s:
                    out[o] = s
                    o += 1
                out[o] = (code >> 8) & 0x7F
                o += 1
                hi = s & 0xF0
                if hi != 0xC0 and hi != 0xD0:
                    out[o] = code & 0x7F
                    o += 1
                ours = s
                std = s
        o, bridged = put_delta(out, o, max(ends[t], prev) - prev, True)
        r = eot_row[t]
        if r >= 0:
            p = offset[r]
            for j in range(size[r]):
                out[o + j] = data[p + j]
            o += size[r]
        else:
            out[o] = 0xFF
            out[o + 1] = 0x2F
            out[o + 2] = 0
            o += 3
        put_chunk_head(out, head, o - head - 8)
        spans[t, 0] = head
        spans[t, 1] = o
        pb = qb
    return o


@njit
def encode_room(size, ends, end_tick, b_tick):
    """The bytes ``_encode`` may need: every event of the file (``size``: their bytes), a
    status byte and a 4-byte delta each, the moved or new events (``b_tick``), and the
    bridges of the longest gaps (``ends``, ``end_tick``: per track [ticks])."""
    n_tracks = ends.shape[0]
    bridges = 0
    for t in range(n_tracks):
        bridges += max(ends[t], end_tick[t]) // MAX_VLQ + 2
    if b_tick.shape[0]:
        bridges += (b_tick.max() // MAX_VLQ + 2) * n_tracks
    return (size.sum() + 5 * size.shape[0] + 8 * b_tick.shape[0] + 16 * n_tracks
            + 7 * bridges)


def encode_tracks(
    mid: SmfFile, a_code: np.ndarray, b_track: np.ndarray, b_tick: np.ndarray,
    b_bucket: np.ndarray, b_order: np.ndarray, b_src: np.ndarray, b_code: np.ndarray,
    perm: np.ndarray, ends: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The track chunks that changed (see ``_encode``): the bytes [uint8] and, per track,
    its ``(start, end)`` in them [bytes], ``(-1, -1)`` for a track to copy from the file.

    ``a_code`` [int32, one per table row], ``b_*`` [one per moved or new event], ``perm``
    [int32] (the order of the ``b_*`` events), ``ends`` [ticks, one per track]: see
    ``_encode``.
    """
    t = mid.events
    n_tracks = mid.n_tracks
    out = np.empty(encode_room(t.size, ends, mid.end_tick, b_tick), np.uint8)
    spans = np.zeros((n_tracks, 2), np.int64)
    used = _encode(t.data, t.tick, t.status, t.offset, t.size, t.running, mid.first_row,
                   mid.eot_row, mid.clean, mid.end_tick, a_code, b_track, b_tick, b_bucket,
                   b_order, b_src, b_code, perm, ends, out, spans)  # fmt: skip
    return out[:used], spans
