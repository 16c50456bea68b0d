"""Standard MIDI File reader: bytes in, checked tracks of events out. Pure Python.

This is the one place that parses MIDI file bytes (``notes.read`` turns its output into
note arrays). It validates the header and every chunk, skips unknown chunks (as the
standard says), decodes variable-length quantities (at most 4 bytes, as the format
allows), running status, meta, sysex and escape events, and names the track and the
byte offset in the file in every error: every error is a ``MidiFileError`` such as
``cannot read 'x.mid' as a MIDI file: track 2 at byte 1234: running status with no
previous status byte``. mido is imported only to build the message objects of the
events that are kept (the writer writes them back).

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
- A sysex event whose data does not end with 0xF7 (the first packet of a divided
  sysex, or a sysex without its end) and every 0xF7 escape event are kept byte for
  byte as ``RawEvent``; a complete sysex becomes mido's ``sysex`` message.
- A meta event whose data mido cannot decode exactly (wrong length for its type,
  out-of-range values) is kept byte for byte as mido's ``UnknownMetaMessage``, except
  ``set_tempo``, which sets the time line: one whose length is not 3 is refused (the
  tempo is unknown, and the length is probably wrong, putting every later byte out of
  step). A tempo of 0 microseconds per beat is kept as an event but sets no tempo
  (see ``TempoMap.from_changes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import MidiFileError

__all__ = ["MAX_VLQ", "RawEvent", "SmfFile", "Track", "encode_vlq", "parse"]

MAX_VLQ = 0x0FFFFFFF
"""Largest variable-length quantity (4 bytes of 7 bits): the longest delta time, and the
longest meta or sysex length, a MIDI file can hold."""

_META_NAMES = {
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


class RawEvent:
    """A sysex packet (0xF0 without a final 0xF7) or an escape (0xF7), kept byte for byte.

    It quacks like a mido meta message for mido's writer: ``is_meta`` is True, so
    ``MidiFile.save`` copies ``bytes()`` after the delta time verbatim and ends running
    status, as the standard asks after a sysex event.
    """

    is_meta = True
    is_realtime = False

    def __init__(self, status: int, data: bytes, time: int = 0) -> None:
        vars(self).update(
            type="sysex_packet" if status == 0xF0 else "escape",
            status=status,
            data=bytes(data),
            time=time,
        )

    def bytes(self) -> list[int]:
        """The event as written after its delta time: status, length, data."""
        return [self.status, *encode_vlq(len(self.data)), *self.data]

    def copy(self, skip_checks: bool = False, **overrides) -> RawEvent:
        new = RawEvent.__new__(RawEvent)
        vars(new).update(vars(self))
        vars(new).update(overrides)
        return new

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawEvent) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RawEvent(status=0x{self.status:02X}, data={self.data!r}, time={self.time})"


@dataclass
class Track:
    """One track chunk, decoded.

    Attributes
    ----------
    notes : list[int]
        Note-on and note-off messages, flat: ``tick, index, status, pitch, velocity`` per
        message (``index``: the message's position in the whole file, in file order).
    events : list[tuple[int, int, object]]
        Every other kept event as ``(tick, index, message)`` (mido messages or RawEvent).
    end_tick : int
        Tick of the end-of-track event (of the last event when there is none).
    end_index : int
        File index of the end-of-track event, -1 when there is none.
    last_tick : int
        Tick of the last message of the track.
    tempos : list[tuple[int, int]]
        ``(tick, microseconds per beat)`` of each set_tempo event.
    name : str | None
        Text of the first track_name meta event.
    """

    notes: list[int] = field(default_factory=list)
    events: list[tuple[int, int, object]] = field(default_factory=list)
    end_tick: int = 0
    end_index: int = -1
    last_tick: int = 0
    tempos: list[tuple[int, int]] = field(default_factory=list)
    name: str | None = None


@dataclass
class SmfFile:
    """A parsed MIDI file: ``type`` is what it is read as (0 or 1; ``header_type`` is
    what its header says), ``messages`` the number of file indices used."""

    type: int
    header_type: int
    ticks_per_beat: int
    tracks: list[Track]
    messages: int


class _Bad(Exception):
    """A fault inside a track: ``at`` is the offset in the track chunk's body."""

    def __init__(self, at: int, what: str) -> None:
        super().__init__(what)
        self.at = at
        self.what = what


def _vlq(trk: bytes, i: int, what: str) -> tuple[int, int]:
    """Decode a variable-length quantity at ``trk[i]``; returns (value, next offset)."""
    value = 0
    for k in range(4):
        b = trk[i + k]
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, i + k + 1
    raise _Bad(
        i,
        f"{what} is a variable-length quantity longer than 4 bytes"
        f" (starting {trk[i:i + 5].hex(' ')}); the format allows at most 4 bytes"
        f" (0..{MAX_VLQ})",
    )


_TOOLS: tuple | None = None


def _tools() -> tuple:
    global _TOOLS
    if _TOOLS is None:
        _TOOLS = _makers()
    return _TOOLS


def _makers() -> tuple:
    """Constructors for mido messages from bytes already checked (mido's own constructor
    validates every field, ~5 us a message). Probed against ``Message.from_bytes`` once;
    if they ever disagree, mido's constructor is used."""
    import mido
    from mido.midifiles.meta import UnknownMetaMessage, build_meta_message

    message = mido.Message
    new = message.__new__
    names = {
        0x80: ("note_off", "note", "velocity"),
        0x90: ("note_on", "note", "velocity"),
        0xA0: ("polytouch", "note", "value"),
        0xB0: ("control_change", "control", "value"),
        0xC0: ("program_change", "program", None),
        0xD0: ("aftertouch", "value", None),
    }

    def channel_message(s: int, d1: int, d2: int, time: int):
        msg = new(message)
        hi = s & 0xF0
        if hi == 0xE0:
            vars(msg).update(type="pitchwheel", time=time, channel=s & 15,
                             pitch=(d2 << 7 | d1) - 8192)  # fmt: skip
        else:
            kind, a, b = names[hi]
            if b is None:
                vars(msg).update({"type": kind, "time": time, a: d1, "channel": s & 15})
            else:
                vars(msg).update({"type": kind, "time": time, a: d1, b: d2, "channel": s & 15})
        return msg

    def slow(s: int, d1: int, d2: int, time: int):
        size = 2 if (s & 0xF0) in (0xC0, 0xD0) else 3
        return message.from_bytes([s, d1, d2][:size], time=time)

    try:
        ok = all(
            channel_message(s, 5, 100, 7) == slow(s, 5, 100, 7)
            and channel_message(s, 5, 100, 7).bytes() == slow(s, 5, 100, 7).bytes()
            for s in (0x83, 0x94, 0xA5, 0xB6, 0xC7, 0xD8, 0xE9)
        )
    except Exception:  # pragma: no cover - a mido whose messages are built differently
        ok = False
    return (channel_message if ok else slow), build_meta_message, UnknownMetaMessage, mido


def _meta(mt: int, data: bytes, delta: int, build, unknown):
    """A mido meta message for ``data``, or an UnknownMetaMessage holding the bytes when
    mido cannot decode them or would not write them back the same."""
    payload = list(data)
    try:
        msg = build(mt, payload, delta)
        if msg.bytes() == [0xFF, mt, *encode_vlq(len(payload)), *payload]:
            return msg
    except Exception:  # mido raises IndexError, KeyError, ValueError on odd data
        pass
    return unknown(mt, payload, time=delta)


def _track(
    data: bytes, start: int, end: int, t: int, index: int, where: str, tools, chunk_len: int,
    base: int,
) -> tuple[Track, int]:
    """Decode the track chunk body ``data[start:end]`` (``end`` is cut short by the end
    of the file when ``start + chunk_len > end``). ``base``: offset of ``data`` in the
    file, for messages."""
    channel_message, build_meta, unknown, mido = tools
    trk = data[start:end]
    n = len(trk)
    track = Track()
    add_note = track.notes.extend
    add_event = track.events.append
    tick = 0
    status = 0
    i = 0
    ev = 0
    try:
        while i < n:
            ev = i
            b = trk[i]
            i += 1
            if b < 0x80:
                delta = b
            else:
                c = trk[i]
                if c < 0x80:
                    delta = ((b & 0x7F) << 7) | c
                    i += 1
                else:
                    delta, i = _vlq(trk, i - 1, "the delta time")
            tick += delta
            s = trk[i]
            if s < 0x80:
                if not status:
                    raise _Bad(
                        i,
                        f"running status with no previous status byte (data byte 0x{s:02X}"
                        " where an event should start)",
                    )
                s = status
            else:
                i += 1
                if s < 0xF0:
                    status = s
            if s < 0xF0:
                if s < 0xC0 or s >= 0xE0:
                    d1 = trk[i]
                    d2 = trk[i + 1]
                    i += 2
                else:
                    d1 = trk[i]
                    d2 = 0
                    i += 1
                if (d1 | d2) > 127:
                    raise _bad_data(trk, i, s)
                if s < 0xA0:
                    add_note((tick, index, s, d1, d2))
                else:
                    add_event((tick, index, channel_message(s, d1, d2, delta)))
            elif s == 0xFF:
                at = i - 1
                mt = trk[i]
                length, i = _vlq(trk, i + 1, "the meta event's length")
                kind = _META_NAMES.get(mt, f"type 0x{mt:02X}")
                if i + length > n:
                    raise _Bad(at, f"a {kind} meta event (0x{mt:02X}) says {length} data"
                               f" bytes, but {n - i} are left in the track chunk"
                               + _chunk_note(start, end, chunk_len, len(data), base)
                               + ("" if start + chunk_len > len(data)
                                  else ": its length or the chunk's is wrong"))  # fmt: skip
                payload = trk[i : i + length]
                i += length
                if mt == 0x2F:
                    track.end_tick = track.last_tick = tick
                    track.end_index = index
                    return track, index + 1
                if mt == 0x51:
                    if length != 3:
                        raise _Bad(
                            at,
                            f"a set_tempo meta event with {length} data bytes; a tempo has 3"
                            " (microseconds per beat), so its length is wrong",
                        )
                    tempo = int.from_bytes(payload, "big")
                    track.tempos.append((tick, tempo))
                    msg = mido.MetaMessage("set_tempo", tempo=tempo, time=delta)
                else:
                    msg = _meta(mt, payload, delta, build_meta, unknown)
                    if mt == 0x03 and track.name is None and msg.type == "track_name":
                        track.name = msg.name
                add_event((tick, index, msg))
            elif s == 0xF0 or s == 0xF7:
                at = i - 1
                length, i = _vlq(trk, i, "the sysex event's length")
                kind = "sysex" if s == 0xF0 else "escape (0xF7)"
                if i + length > n:
                    raise _Bad(at, f"a {kind} event says {length} data bytes, but {n - i}"
                               " are left in the track chunk"
                               + _chunk_note(start, end, chunk_len, len(data), base)
                               + ("" if start + chunk_len > len(data)
                                  else ": its length or the chunk's is wrong"))  # fmt: skip
                payload = trk[i : i + length]
                i += length
                body = payload[:-1]
                if s == 0xF0 and payload[-1:] == b"\xf7" and all(x < 0x80 for x in body):
                    msg = mido.Message("sysex", data=body, time=delta)
                else:
                    msg = RawEvent(s, payload, delta)
                add_event((tick, index, msg))
            elif s >= 0xF8 or s == 0xF6:
                continue  # realtime or tune request: skipped, its delta kept (see above)
            elif s in _SYSTEM_COMMON_LENGTH:
                size = _SYSTEM_COMMON_LENGTH[s]
                raw = list(trk[i : i + size])
                if len(raw) < size:
                    raise IndexError
                i += size
                if any(x > 127 for x in raw):
                    raise _bad_data(trk, i, s)
                add_event((tick, index, mido.Message.from_bytes([s, *raw], time=delta)))
            else:
                raise _Bad(
                    i - 1,
                    f"undefined status byte 0x{s:02X} (the MIDI standard gives it no meaning"
                    " and no length)",
                )
            index += 1
        if start + chunk_len > len(data):
            raise _Bad(
                n,
                "no end-of-track event"
                + _chunk_note(start, end, chunk_len, len(data), base),
            )
    except IndexError:
        bad = _Bad(
            ev,
            "the event starting here runs past the end of the track chunk"
            + _chunk_note(start, end, chunk_len, len(data), base)
            + ("" if start + chunk_len > len(data) else ": the chunk length is wrong"),
        )
    except _Bad as exc:
        bad = exc
    else:
        track.end_tick = track.last_tick = tick
        return track, index
    raise MidiFileError(f"{where}: track {t} at byte {base + start + bad.at}: {bad.what}")


def _bad_data(trk: bytes, i: int, s: int) -> _Bad:
    """The first byte >= 0x80 among the data bytes of the message with status ``s``."""
    hi = s & 0xF0
    size = _SYSTEM_COMMON_LENGTH.get(s, 1 if hi in (0xC0, 0xD0) else 2)
    first = i - size
    at = next(k for k in range(first, i) if trk[k] > 127)
    kinds = {0x80: "note-off", 0x90: "note-on", 0xA0: "polyphonic aftertouch",
             0xB0: "control change", 0xC0: "program change", 0xD0: "channel aftertouch",
             0xE0: "pitch bend"}  # fmt: skip
    kind = kinds.get(hi, f"system message 0x{s:02X}")
    return _Bad(
        at,
        f"a {kind} (status 0x{s:02X}) needs {size} data byte{'s' if size > 1 else ''}"
        f" in 0..127, found 0x{trk[at]:02X}",
    )


def _chunk_note(start: int, end: int, chunk_len: int, size: int, base: int) -> str:
    """Where the track chunk ends: cut short by the end of the file, or by its length."""
    if start + chunk_len > size:
        return (
            f"; the file is truncated: it ends {end - start} bytes into this track chunk of"
            f" {chunk_len} bytes"
        )
    return f" (the chunk holds {chunk_len} bytes from byte {base + start})"


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


def _is_chunk_id(cid: bytes) -> bool:
    return len(cid) == 4 and all(0x20 <= c <= 0x7E for c in cid)


def parse(data: bytes, name: str) -> SmfFile:
    """Parse the bytes of a MIDI file (``name`` is used in messages)."""
    fail = f"cannot read {name!r}"
    if not data:
        raise MidiFileError(f"{fail}: not a MIDI file (it is empty)")
    data, base = _unwrap_rmid(data)
    if data[:4] != b"MThd":
        raise MidiFileError(
            f"{fail}: not a MIDI file (it starts with {data[:4]!r}, a MIDI file with 'MThd')"
        )
    if len(data) < 14:
        raise MidiFileError(f"{fail}: the MIDI file is truncated inside its header")
    head_len = int.from_bytes(data[4:8], "big")
    if head_len < 6:
        raise MidiFileError(
            f"{fail} as a MIDI file: the header chunk (MThd) is {head_len} bytes long;"
            " it needs 6"
        )
    fmt = int.from_bytes(data[8:10], "big")
    announced = int.from_bytes(data[10:12], "big")
    division = int.from_bytes(data[12:14], "big")
    if fmt not in (0, 1):
        raise MidiFileError(
            f"{fail}: MIDI file type {fmt} is not supported (types 0 and 1 are)"
        )
    if division & 0x8000:
        fps = 256 - (division >> 8)
        raise MidiFileError(
            f"{fail}: SMPTE time division ({fps} frames per second, {division & 0xFF}"
            " ticks per frame) is not supported; the grid needs ticks per beat"
        )
    if division == 0:
        raise MidiFileError(f"{fail}: the header gives 0 ticks per beat")

    tools = _tools()
    where = f"{fail} as a MIDI file"
    tracks: list[Track] = []
    index = 0
    pos = 8 + head_len
    ended = True  # the last track read ended with its end-of-track
    size = len(data)
    while pos < size:
        head = data[pos : pos + 8]
        if len(head) < 8 or not _is_chunk_id(head[:4]):
            if len(tracks) >= announced and ended:
                break  # trailing bytes after a complete file: ignored
            if len(head) < 8:
                raise MidiFileError(
                    f"{fail}: the MIDI file is truncated: it ends inside a chunk header"
                    f" at byte {base + pos}"
                )
            after = f" after track {len(tracks) - 1}" if tracks else ""
            hint = f"; the chunk length of track {len(tracks) - 1} is probably wrong"
            raise MidiFileError(
                f"{where}: at byte {base + pos}{after}: expected a chunk (MTrk), found the"
                f" bytes {head[:4].hex(' ')}{hint if tracks else ''}"
            )
        length = int.from_bytes(head[4:8], "big")
        body = pos + 8
        pos = body + length
        if head[:4] != b"MTrk":
            continue  # an unknown chunk: skipped, as the standard says
        track, index = _track(
            data, body, min(pos, size), len(tracks), index, where, tools, length, base
        )
        ended = track.end_index >= 0
        tracks.append(track)
    if len(tracks) < announced:
        raise MidiFileError(
            f"{fail}: the MIDI file is truncated: the header announces {announced} tracks,"
            f" the file holds {len(tracks)}"
        )
    if not tracks:
        raise MidiFileError(f"{fail}: the MIDI file has no tracks")
    kind = fmt if len(tracks) == 1 or fmt == 1 else 1
    return SmfFile(kind, fmt, division, tracks, index)
