"""mido messages for the event table, and back: conveniences, never on the hot path.

``Song.events`` (a list per track of ``(tick, row, mido message)``) is built here, on
request, from the event table; a Song made from such lists (``Song(..., events, ...)``)
gets its table here too. The event table itself (``smf.Events``) never holds mido
objects, and reading, quantizing, writing and playing a file do not import mido.
"""

from __future__ import annotations

import numpy as np

from . import smf

__all__ = ["RawEvent", "events_from_messages", "messages"]


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
        return [self.status, *smf.encode_vlq(len(self.data)), *self.data]

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


def _meta(mt: int, data: bytes, delta: int):
    """A mido meta message for ``data``, or an UnknownMetaMessage holding the bytes when
    mido cannot decode them or would not write them back the same."""
    import mido
    from mido.midifiles.meta import UnknownMetaMessage, build_meta_message

    payload = list(data)
    if mt == 0x51 and len(payload) == 3:
        return mido.MetaMessage("set_tempo", tempo=int.from_bytes(data, "big"), time=delta)
    try:
        msg = build_meta_message(mt, payload, delta)
        if msg.bytes() == [0xFF, mt, *smf.encode_vlq(len(payload)), *payload]:
            return msg
    except Exception:  # mido raises IndexError, KeyError, ValueError on odd data
        pass
    return UnknownMetaMessage(mt, payload, time=delta)


def _message(events: smf.Events, row: int, delta: int):
    """The mido message (or RawEvent) of table row ``row``, ``time=delta``."""
    import mido

    s = int(events.status[row])
    if s < 0xF0 or s in (0xF1, 0xF2, 0xF3):
        raw = events.bytes_of(row)
        return mido.Message.from_bytes(list(raw), time=delta)
    payload = events.payload_of(row)
    if s == 0xFF:
        return _meta(int(events.data1[row]), payload, delta)
    body = payload[:-1]
    if s == 0xF0 and payload[-1:] == b"\xf7" and all(x < 0x80 for x in body):
        return mido.Message("sysex", data=body, time=delta)
    return RawEvent(s, payload, delta)


def messages(events: smf.Events, rows: np.ndarray, n_tracks: int) -> list[list[tuple]]:
    """Per track, ``(tick, row, message)`` of the table rows ``rows`` (ascending); each
    message's ``time`` is its delta from the event before it in the file."""
    out: list[list[tuple]] = [[] for _ in range(n_tracks)]
    tick = events.tick
    order = events.order
    for r in rows.tolist():
        delta = int(tick[r] - tick[r - 1]) if order[r] > 0 else int(tick[r])
        out[int(events.track[r])].append((int(tick[r]), r, _message(events, r, delta)))
    return out


def _message_bytes(msg) -> bytes:
    """The bytes of a mido message (or RawEvent) as a MIDI file holds it after a delta."""
    if getattr(msg, "type", None) == "sysex":
        data = bytes(msg.data) + b"\xf7"
        return b"\xf0" + smf.encode_vlq(len(data)) + data
    return bytes(msg.bytes())


def events_from_messages(tracks: list[list[tuple]], ticks_per_beat: int) -> smf.SmfFile:
    """The event table of per-track ``(tick, index, message)`` lists (in tick, then index
    order), through the reader: every message's bytes, as a file would hold them."""
    chunks = []
    for kept in tracks:
        body = bytearray()
        last = 0
        for tick, _, msg in sorted(kept, key=lambda e: (e[0], e[1])):
            body += smf.encode_vlq(int(tick) - last) + _message_bytes(msg)
            last = int(tick)
        body += b"\x00\xff\x2f\x00"
        chunks.append(b"MTrk" + len(body).to_bytes(4, "big") + bytes(body))
    head = b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big")
    head += len(tracks).to_bytes(2, "big") + int(ticks_per_beat).to_bytes(2, "big")
    return smf.parse(head + b"".join(chunks), "<messages>")
