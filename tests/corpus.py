"""A corpus of odd and broken audio and MIDI files, made from bytes (nothing downloaded).

Each :class:`Case` has a name, the file name it is written under (the extension matters:
readers look at it), a maker that returns the file's bytes, the command it is run
through, and the outcome audioquant promises for it (:class:`Ok`, :class:`Refused`, or
:class:`Either` where the issue leaves the choice open). ``tests/test_corpus.py`` runs
every case through the CLI; ``bench/bench_failures.py`` runs them through SoX and FFmpeg
too.

As a script it writes every case into a folder::

    python tests/corpus.py DIR          # DIR/<name>.<ext> for each case; lists them

Audio files are built with soundfile where libsndfile writes the layout asked for, and
byte by byte (``riff``, ``chunk``, ``fmt_chunk``) where the point is a header that lies.
MIDI files are built byte by byte (``smf``, ``mtrk``, ``vlq``) so that running status,
lying lengths and 5-byte numbers are exactly what the case says; mido is used only for
the ordinary files.
"""

from __future__ import annotations

import io
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

__all__ = ["AUDIO", "CASES", "MIDI", "Case", "Either", "Ok", "Refused", "by_name", "write_all"]


# ---------------------------------------------------------------------------- outcomes

@dataclass(frozen=True)
class Ok:
    """Exit 0 and a complete, correct output.

    Audio (``render``): the output has ``frames`` frames (None: as many as libsndfile
    reads from the input), ``channels`` and ``rate`` (None: the input's), and the
    container ``format``/``subtype``; ``tags`` must be found in the output;
    ``full_scale``: every output sample is at plus or minus full scale (clipped input).
    MIDI (``midi stats`` and ``midi quantize``): ``notes`` notes (note-ons with velocity
    above 0), ``open_notes`` of them with no note-off, ``ticks_per_beat``.
    """

    frames: int | None = None
    channels: int | None = None
    rate: int | None = None
    format: str | None = None
    subtype: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    full_scale: bool = False
    notes: int | None = None
    open_notes: int = 0
    ticks_per_beat: int | None = None


@dataclass(frozen=True)
class Refused:
    """Exit ``code`` with one ``error: ...`` line on stderr containing at least one of
    ``fragments`` (case-insensitive), and nothing written."""

    fragments: tuple[str, ...]
    code: int = 1


@dataclass(frozen=True)
class Either:
    """The issue leaves the choice open: either outcome is correct, nothing else is."""

    ok: Ok
    refused: Refused


Outcome = Ok | Refused | Either


@dataclass(frozen=True)
class Case:
    """One file of the corpus and what audioquant must do with it.

    ``command``: ``render`` (to ``out`` with ``args``), ``analyze`` or ``midi`` (both
    ``midi stats`` and ``midi quantize`` to ``out``).
    """

    name: str
    filename: str
    make: Callable[[], bytes]
    expect: Outcome
    command: str = "render"
    args: tuple[str, ...] = ()
    out: str = "out.wav"
    note: str = ""
    #: bytes of a well-formed file with the same audio, where libsndfile does not read
    #: this one's audio as the case says it must be read (the test compares with it)
    reference: Callable[[], bytes] | None = None

    @property
    def kind(self) -> str:
        return "midi" if self.command == "midi" else "audio"

    def data(self) -> bytes:
        return self.make()


# ------------------------------------------------------------------------ audio bytes

def signal(frames: int, channels: int = 1, amplitude: float = 0.5) -> np.ndarray:
    """A deterministic test signal, ``(frames, channels)`` float64 (soundfile's layout):
    a different sine per channel."""
    n = np.arange(frames)[:, None]
    k = np.arange(1, channels + 1)[None, :]
    return amplitude * np.sin(2 * np.pi * 0.01 * k * n + 0.3)


def sf_bytes(frames: int = 1000, channels: int = 1, rate: int = 44100, fmt: str = "WAV",
             subtype: str = "PCM_16", data: np.ndarray | None = None,
             tags: dict[str, str] | None = None) -> bytes:
    """A file written by libsndfile into memory."""
    buf = io.BytesIO()
    buf.name = f"x.{fmt.lower()}"
    audio = signal(frames, channels) if data is None else data
    with sf.SoundFile(buf, "w", samplerate=rate, channels=audio.shape[1], format=fmt,
                      subtype=subtype) as f:
        for key, value in (tags or {}).items():
            setattr(f, key, value)
        f.write(audio)
    return _unstamped(buf.getvalue())


def _unstamped(data: bytes) -> bytes:
    """``data`` with the time in its PEAK chunk set to 0: libsndfile stamps a float file's
    PEAK chunk (WAV, AIFF) with the second it was written, so the same case made a second
    later had other bytes. The chunk heads the file: id, size, version, then the time."""
    at = data.find(b"PEAK", 0, 256)
    return data if at < 0 else data[:at + 12] + bytes(4) + data[at + 16:]


def chunk(cid: bytes, payload: bytes, size: int | None = None, big: bool = False) -> bytes:
    """A RIFF/IFF chunk: id, size (``size`` to lie about it), payload, pad byte if odd."""
    n = len(payload) if size is None else size
    head = cid + struct.pack(">I" if big else "<I", n & 0xFFFFFFFF)
    return head + payload + (b"\0" if len(payload) % 2 else b"")


def riff(*chunks: bytes, size: int | None = None, form: bytes = b"WAVE") -> bytes:
    """A RIFF file of ``chunks`` (``size``: a lying RIFF size)."""
    body = form + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", (len(body) if size is None else size) & 0xFFFFFFFF) + body


def fmt_chunk(channels: int = 1, rate: int = 44100, bits: int = 16, tag: int = 1,
              block_align: int | None = None) -> bytes:
    """A plain ``fmt `` chunk (WAVE_FORMAT_PCM = 1, IEEE float = 3)."""
    align = channels * ((bits + 7) // 8) if block_align is None else block_align
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align,
                                      bits))


def pcm16(frames: int, channels: int = 1) -> bytes:
    """Interleaved little-endian 16-bit samples of :func:`signal`."""
    return (np.round(signal(frames, channels) * 32767).astype("<i2")).tobytes()


def wav16(frames: int = 1000, channels: int = 1, rate: int = 44100) -> bytes:
    """A plain 16-bit WAV built byte by byte."""
    return riff(fmt_chunk(channels, rate), chunk(b"data", pcm16(frames, channels)))


def _truncated() -> bytes:
    # The header promises 1000 frames; the file holds 600 of them.
    full = wav16(1000)
    return full[: 44 + 600 * 2]


def _truncated_mid_frame() -> bytes:
    # Stereo 16-bit: 1000 frames promised, the file stops 1 byte into frame 601.
    full = wav16(1000, channels=2)
    return full[: 44 + 600 * 4 + 1]


def _odd_data() -> bytes:
    # 16-bit mono with a data chunk of 2001 bytes (a stray half sample) and its pad byte.
    return riff(fmt_chunk(), chunk(b"data", pcm16(1000) + b"\x7f"))


def _odd_data_24_stereo() -> bytes:
    # 24-bit stereo: 100 whole frames and 2 bytes of a 101st.
    raw = sf_bytes(100, 2, subtype="PCM_24")
    body = raw[raw.index(b"data") + 8:]
    return riff(fmt_chunk(2, 44100, 24), chunk(b"data", body + b"\x01\x02"))


def _riff_size(size: int) -> Callable[[], bytes]:
    return lambda: riff(fmt_chunk(), chunk(b"data", pcm16(1000)), size=size)


def _data_size(size: int) -> Callable[[], bytes]:
    return lambda: riff(fmt_chunk(), chunk(b"data", pcm16(1000), size=size))


def _data_before_fmt() -> bytes:
    return riff(chunk(b"data", pcm16(1000)), fmt_chunk())


def _no_fmt() -> bytes:
    return riff(chunk(b"data", pcm16(1000)))


def _fmt_zero_channels() -> bytes:
    return riff(fmt_chunk(channels=0, block_align=2), chunk(b"data", pcm16(1000)))


def _fmt_zero_rate() -> bytes:
    return riff(fmt_chunk(rate=0), chunk(b"data", pcm16(1000)))


def _list_info() -> bytes:
    # LIST/INFO tags (INAM title, IART artist, ICMT comment with an odd length) before the
    # data, and a JUNK chunk as some recorders leave one.
    info = b"INFO" + chunk(b"INAM", b"Corpus tone\0") + chunk(b"IART", b"audioquant\0") \
        + chunk(b"ICMT", b"odd\0\0")
    return riff(chunk(b"JUNK", b"\0" * 28), fmt_chunk(), chunk(b"LIST", info),
                chunk(b"data", pcm16(1000)))


def _list_after_data() -> bytes:
    # Tags after the audio (as many editors write them) and an unknown chunk.
    info = b"INFO" + chunk(b"INAM", b"After\0")
    return riff(fmt_chunk(), chunk(b"data", pcm16(1000)), chunk(b"LIST", info),
                chunk(b"zzzz", b"\1\2\3"))


def _trailing_garbage() -> bytes:
    return wav16(1000) + b"\xde\xad\xbe\xef" * 3


def _rifx() -> bytes:
    # Big-endian RIFX (libsndfile reads it).
    body = (np.round(signal(1000, 1) * 32767).astype(">i2")).tobytes()
    fmt = struct.pack(">HHIIHH", 1, 1, 44100, 88200, 2, 16)
    return (b"RIFX" + struct.pack(">I", 4 + 8 + len(fmt) + 8 + len(body)) + b"WAVE"
            + chunk(b"fmt ", fmt, big=True) + chunk(b"data", body, big=True))


def _aifc_sowt() -> bytes:
    # AIFF-C with 'sowt' (little-endian 16-bit, as Apple writes it), built by hand.
    frames, channels, rate = 1000, 2, 48000
    # 80-bit IEEE extended sample rate
    exponent = 16383 + int(np.floor(np.log2(rate)))
    mantissa = int(rate * 2 ** (63 - (exponent - 16383)))
    rate80 = struct.pack(">HQ", exponent, mantissa)
    name = bytes([14]) + b"not compressed"    # pascal string: 15 bytes, padded to 16
    name += b"\0" * (len(name) % 2)
    comm = struct.pack(">hIh", channels, frames, 16) + rate80 + b"sowt" + name
    body = (np.round(signal(frames, channels) * 32767).astype("<i2")).tobytes()
    ssnd = struct.pack(">II", 0, 0) + body
    form = b"AIFC" + chunk(b"FVER", struct.pack(">I", 0xA2805140), big=True) \
        + chunk(b"COMM", comm, big=True) + chunk(b"SSND", ssnd, big=True)
    return b"FORM" + struct.pack(">I", len(form)) + form


def _extreme_floats() -> bytes:
    x = signal(1000, 2)
    x[::2, 0] = 1e300
    x[1::2, 0] = -1e300
    x[:, 1] = np.where(np.arange(1000) % 3 == 0, 1e300, -1e300)
    return sf_bytes(data=x, subtype="DOUBLE")


def _floats_1e160() -> bytes:
    # +-1e160: squares overflow to inf (printed RuntimeWarnings and "peak 3200.00 dBFS").
    x = signal(1000, 1)
    x[::3, 0] = 1e160
    x[1::3, 0] = -1e160
    return sf_bytes(data=x, subtype="DOUBLE")


def _with_nan() -> bytes:
    x = signal(1000, 1)
    x[400, 0] = np.nan
    return sf_bytes(data=x, subtype="FLOAT")


def _with_inf() -> bytes:
    x = signal(1000, 2)
    x[10, 1] = np.inf
    return sf_bytes(data=x, subtype="DOUBLE")


def _mp3() -> bytes:
    return sf_bytes(4410, 1, fmt="MP3", subtype="MPEG_LAYER_III")


def flac_streaminfo(data: bytes) -> dict | None:
    """What a FLAC file's metadata says, read by hand (libsndfile cannot read a FLAC
    file of 0 frames at all, SoX's or anyone's): ``rate``, ``channels``, ``bits``,
    ``total`` samples (0: unknown or none), ``md5``, ``complete`` (the metadata blocks
    run to one marked last, inside the file) and ``audio_bytes`` after them. None when
    the file does not start with a STREAMINFO block."""
    if data[:4] != b"fLaC" or len(data) < 42 or data[4] & 0x7F != 0 \
            or int.from_bytes(data[5:8], "big") != 34:
        return None
    info = data[8:42]
    bits = int.from_bytes(info[10:18], "big")
    pos, last = 8 + 34, data[4] & 0x80
    while not last and pos + 4 <= len(data):
        last = data[pos] & 0x80
        pos += 4 + int.from_bytes(data[pos + 1:pos + 4], "big")
    return {"rate": bits >> 44, "channels": (bits >> 41 & 0x7) + 1,
            "bits": (bits >> 36 & 0x1F) + 1, "total": bits & ((1 << 36) - 1),
            "md5": info[18:34], "complete": bool(last) and pos <= len(data),
            "audio_bytes": max(0, len(data) - pos)}


def _flac_empty(last: bool = True, cut: int = 0) -> Callable[[], bytes]:
    """A FLAC file of no audio: fLaC + STREAMINFO (44.1 kHz stereo 16-bit, 0 samples,
    the MD5 of nothing); ``last=False`` does not mark it the last block (and nothing
    follows: the metadata is cut short); ``cut`` drops bytes from the end."""
    def make() -> bytes:
        import hashlib

        fields = (44100 << 44) | (1 << 41) | (15 << 36) | 0
        info = struct.pack(">HH", 4096, 4096) + b"\0" * 6 + fields.to_bytes(8, "big") \
            + hashlib.md5(b"").digest()
        data = b"fLaC" + bytes([0x80 if last else 0x00]) + (34).to_bytes(3, "big") + info
        return data[:len(data) - cut]
    return make


_TEXT = b"This is not audio.\nJust text that someone named .wav by mistake.\n" * 4


# -------------------------------------------------------------------------- MIDI bytes

def vlq(value: int, width: int | None = None) -> bytes:
    """A variable-length quantity; ``width`` forces that many bytes (leading 0x80s), so
    ``vlq(0, 5)`` is the 5-byte number the format does not allow."""
    groups = []
    while True:
        groups.append(value & 0x7F)
        value >>= 7
        if not value:
            break
    while width is not None and len(groups) < width:
        groups.append(0)
    groups.reverse()
    return bytes([g | 0x80 for g in groups[:-1]] + [groups[-1]])


def mthd(fmt: int = 1, ntracks: int = 1, division: int = 480, size: int = 6,
         extra: bytes = b"") -> bytes:
    """The header chunk (``division`` as the raw 16-bit field: negative for SMPTE)."""
    return b"MThd" + struct.pack(">IHHh", size, fmt, ntracks, division) + extra


def mtrk(events: bytes, size: int | None = None, end: bool = True) -> bytes:
    """A track chunk of raw ``events`` (delta + message bytes) and an end-of-track."""
    body = events + (b"\x00\xff\x2f\x00" if end else b"")
    return b"MTrk" + struct.pack(">I", len(body) if size is None else size) + body


def smf(*tracks: bytes, fmt: int = 1, division: int = 480, ntracks: int | None = None,
        header: bytes | None = None) -> bytes:
    """A standard MIDI file of track chunks (``ntracks``: a lying track count)."""
    count = len(tracks) if ntracks is None else ntracks
    return (header or mthd(fmt, count, division)) + b"".join(tracks)


TEMPO_TRACK = b"\x00\xff\x51\x03\x07\xa1\x20" + b"\x00\xff\x58\x04\x04\x02\x18\x08"


def notes_events(count: int = 8, pitch: int = 60, step: int = 480, length: int = 200,
                 jitter: int = 13, channel: int = 0) -> bytes:
    """``count`` notes, each ``jitter`` ticks off a 1/4 line, written without running
    status (note-on ... note-off ...)."""
    out = b""
    last = 0
    for i in range(count):
        on = i * step + (jitter if i % 2 else -jitter if i else 0)
        off = on + length
        out += vlq(on - last) + bytes([0x90 | channel, pitch + i % 5, 90])
        out += vlq(off - on) + bytes([0x80 | channel, pitch + i % 5, 40])
        last = off
    return out


def _basic() -> bytes:
    return smf(mtrk(TEMPO_TRACK), mtrk(notes_events()))


def _running_status() -> bytes:
    # One status byte, then note-ons with velocity 0 as note-offs, all in running status;
    # a controller change in running status too.
    ev = b"\x00\x90\x3c\x50" + b"\x78\x3c\x00" + b"\x08\x3e\x50" + b"\x70\x3e\x00" \
        + b"\x00\xb0\x07\x64" + b"\x10\x07\x60" + b"\x05\x90\x40\x50" + b"\x83\x60\x40\x00"
    return smf(mtrk(TEMPO_TRACK), mtrk(ev))


def _velocity_zero() -> bytes:
    ev = b"".join(vlq(d) + bytes([0x91, p, v]) for d, p, v in
                  [(0, 60, 100), (7, 64, 100), (233, 60, 0), (3, 64, 0), (7, 67, 80),
                   (470, 67, 0)])
    return smf(mtrk(ev), fmt=0)


def _truncated_track() -> bytes:
    return _basic()[:-9]


def _chunk_too_long() -> bytes:
    # The last track says 400 bytes; the file ends 300 bytes short of that.
    tracks = [mtrk(TEMPO_TRACK), mtrk(notes_events())]
    body = tracks[1][8:]
    return smf(tracks[0], b"MTrk" + struct.pack(">I", len(body) + 300) + body)


def _chunk_too_short() -> bytes:
    # The first track's length stops 5 bytes before its end-of-track: the parser must not
    # read the rest as the next chunk silently.
    tempo = mtrk(TEMPO_TRACK)
    body = tempo[8:]
    return smf(b"MTrk" + struct.pack(">I", len(body) - 5) + body, mtrk(notes_events()))


def _zero_tracks() -> bytes:
    return smf()


def _smpte() -> bytes:
    # -25 frames per second, 40 ticks per frame: the 16-bit field 0xE728.
    return smf(mtrk(notes_events()), fmt=0, division=struct.unpack(">h", b"\xe7\x28")[0])


def _type2() -> bytes:
    return smf(mtrk(notes_events(4)), mtrk(notes_events(4, pitch=70)), fmt=2)


def _never_end() -> bytes:
    # Three note-ons without note-offs (one has a matching off for another pitch only).
    ev = b"\x00\x90\x3c\x64" + b"\x60\x90\x40\x64" + b"\x60\x90\x43\x64" \
        + b"\x60\x80\x30\x00" + b"\x83\x60\x90\x48\x64" + b"\x81\x70\x80\x48\x00"
    return smf(mtrk(TEMPO_TRACK), mtrk(ev))


def _sysex_no_end() -> bytes:
    # A sysex event whose data does not end with F7 (a first packet of a split sysex).
    ev = b"\x00\xf0" + vlq(5) + b"\x7e\x7f\x09\x01\x00" + notes_events(4)
    return smf(mtrk(ev), fmt=0)


def _sysex_past_end() -> bytes:
    # The sysex length runs past the end of the track and of the file.
    ev = notes_events(2) + b"\x00\xf0" + vlq(4000) + b"\x7e\x7f\x09\x01\xf7"
    return smf(mtrk(ev, end=False))


def _meta_past_end() -> bytes:
    # A text meta event that claims 500 bytes in a track of 40.
    ev = b"\x00\xff\x01" + vlq(500) + b"hello" + notes_events(2)
    return smf(mtrk(ev), fmt=0)


def _meta_short_tempo() -> bytes:
    # set_tempo must carry 3 bytes; this one says (and holds) 2.
    ev = b"\x00\xff\x51\x02\x07\xa1" + notes_events(4)
    return smf(mtrk(ev), fmt=0)


def _tempo_zero() -> bytes:
    ev = b"\x00\xff\x51\x03\x00\x00\x00" + notes_events(6)
    return smf(mtrk(ev), fmt=0)


def _unknown_chunk() -> bytes:
    # An unknown chunk between two tracks; the standard says skip it. ntracks counts MTrk
    # chunks only.
    return smf(mtrk(TEMPO_TRACK), b"XFIH" + struct.pack(">I", 10) + b"0123456789",
               mtrk(notes_events()), ntracks=2)


def _vlq5() -> bytes:
    # A delta written in 5 bytes (80 80 80 80 00): the format caps numbers at 4 bytes.
    ev = notes_events(2) + vlq(0, 5) + b"\x90\x48\x40" + b"\x10\x80\x48\x00"
    return smf(mtrk(ev), fmt=0)


def _type0_two_tracks() -> bytes:
    return smf(mtrk(notes_events(4)), mtrk(notes_events(4, pitch=70)), fmt=0)


def _realtime_byte() -> bytes:
    # A MIDI clock (F8) status byte among the events: not allowed in a file.
    ev = notes_events(2) + b"\x00\xf8" + notes_events(2, pitch=70)
    return smf(mtrk(ev), fmt=0)


def _system_common() -> bytes:
    # System common messages (song select F3 05, tune request F6) among the events: not
    # file events either; a fuzz run found F6 making the writer raise.
    ev = notes_events(2) + b"\x00\xf3\x05" + b"\x00\xf6" + notes_events(2, pitch=70)
    return smf(mtrk(ev), fmt=0)


def _huge_delta() -> bytes:
    # The largest 4-byte delta (0x0FFFFFFF ticks, about 6.5 days at 120 BPM / 480 PPQ)
    # between two notes.
    ev = notes_events(2) + vlq(0x0FFFFFFF) + b"\x90\x48\x40" + b"\x81\x00\x80\x48\x00"
    return smf(mtrk(ev), fmt=0)


def _ppq_zero() -> bytes:
    return smf(mtrk(notes_events()), fmt=0, division=0)


def _long_header() -> bytes:
    # MThd of length 8: the standard says read 6 and skip the rest.
    return smf(mtrk(notes_events()), header=mthd(0, 1, 480, size=8, extra=b"\0\0"))


def _trailing_bytes() -> bytes:
    return _basic() + b"\0\0\0\0garbage after the last track"


def _missing_track() -> bytes:
    # The header counts 3 tracks; the file holds 2.
    return smf(mtrk(TEMPO_TRACK), mtrk(notes_events()), ntracks=3)


def _no_end_of_track() -> bytes:
    # The chunk length is right but the end-of-track meta event is missing.
    return smf(mtrk(notes_events(), end=False), fmt=0)


def _data_byte_high() -> bytes:
    # A note-on with velocity 0xC8 (data bytes must be below 0x80).
    ev = notes_events(2) + b"\x00\x90\x48\xc8" + b"\x10\x80\x48\x00"
    return smf(mtrk(ev), fmt=0)


def _undefined_status() -> bytes:
    ev = notes_events(2) + b"\x00\xf4\x01" + notes_events(2)
    return smf(mtrk(ev), fmt=0)


def _running_status_first() -> bytes:
    # A data byte where the first status byte should be: no running status to use.
    return smf(mtrk(b"\x00\x3c\x40" + notes_events(2)), fmt=0)


def _stray_and_overlap() -> bytes:
    # A note-off with no note, and two overlapping notes of one pitch (FIFO pairing).
    ev = b"\x00\x80\x30\x00" + b"\x00\x90\x3c\x64" + b"\x78\x90\x3c\x50" + b"\x78\x80\x3c\x00" \
        + b"\x78\x80\x3c\x00"
    return smf(mtrk(ev), fmt=0)


def _rmid() -> bytes:
    # An RMID file: a standard MIDI file inside a RIFF 'data' chunk.
    return riff(chunk(b"data", _basic()), form=b"RMID")


def _mido_file() -> bytes:
    # An ordinary type-1 file written by mido, with CC, pitch bend, program and sysex.
    import mido

    mid = mido.MidiFile(type=1, ticks_per_beat=96)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=600_000),
                           mido.MetaMessage("track_name", name="Conductor")])
    track = mido.MidiTrack([mido.Message("program_change", program=5),
                            mido.Message("sysex", data=[0x41, 0x10, 0x42])])
    for i in range(12):
        track.append(mido.Message("note_on", note=50 + i, velocity=80, time=0 if i == 0
                                  else 21 + (i % 3)))
        track.append(mido.Message("control_change", control=64, value=i * 10, time=2))
        track.append(mido.Message("pitchwheel", pitch=i * 100, time=1))
        track.append(mido.Message("note_off", note=50 + i, velocity=0, time=10))
    mid.tracks += [meta, track]
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


# ------------------------------------------------------------------------------ cases

def _c(name: str, make: Callable[[], bytes], expect: Outcome, ext: str = ".wav",
       **kw) -> Case:
    return Case(name=name, filename=name + ext, make=make, expect=expect, **kw)


_NOT_AUDIO = ("cannot read", "not audio", "not an audio", "unknown format",
              "format not recognised", "not a ")
_TRUNC = ("truncated",)
_NOT_FINITE = ("not a finite", "nan", "inf")

AUDIO: list[Case] = [
    _c("wav_pcm16_stereo", lambda: sf_bytes(1000, 2), Ok(1000, 2, 44100, "WAV", "PCM_16")),
    _c("wav_truncated_data", _truncated, Refused(_TRUNC),
       note="header promises 1000 frames, file holds 600"),
    _c("wav_truncated_mid_frame", _truncated_mid_frame, Refused(_TRUNC)),
    _c("wav_riff_size_huge", _riff_size(0x7FFFFFF0), Ok(1000, 1, 44100),
       note="RIFF size larger than the file; the data chunk is right"),
    _c("wav_riff_size_zero", _riff_size(0), Ok(1000, 1, 44100)),
    _c("wav_data_size_ffffffff", _data_size(0xFFFFFFFF), Ok(1000, 1, 44100),
       note="a streaming writer's 'unknown length' (FFmpeg to a pipe)"),
    _c("wav_data_size_zero", _data_size(0),
       Ok(1000, 1, 44100),
       note="data length 0 with 1000 frames after it (a header never finished): "
            "libsndfile and SoX read 0 frames; we read 1000, as FFmpeg does",
       reference=wav16),
    _c("wav_odd_length_data", _odd_data, Ok(1000, 1, 44100),
       note="2001 data bytes: the stray byte is not a sample"),
    _c("wav_odd_length_24bit_stereo", _odd_data_24_stereo, Ok(100, 2, 44100),
       note="100 frames and 2 bytes of a 101st"),
    _c("wav_data_before_fmt", _data_before_fmt, Refused(_NOT_AUDIO)),
    _c("wav_no_fmt", _no_fmt, Refused(_NOT_AUDIO)),
    _c("wav_zero_channels", _fmt_zero_channels, Refused(_NOT_AUDIO + ("channel",))),
    _c("wav_zero_rate", _fmt_zero_rate, Refused(_NOT_AUDIO + ("rate",))),
    _c("wav_bits_0", lambda: riff(fmt_chunk(bits=0, block_align=2), chunk(b"data", pcm16(1000))),
       Refused(_NOT_AUDIO + ("unimplemented",))),
    _c("wav_unknown_format_tag", lambda: riff(fmt_chunk(tag=0x1234),
                                              chunk(b"data", pcm16(1000))),
       Refused(_NOT_AUDIO + ("malformed",))),
    _c("wav_float_tag_16bit", lambda: riff(fmt_chunk(tag=3, bits=16),
                                           chunk(b"data", pcm16(1000))),
       Refused(_NOT_AUDIO), note="IEEE float with 16-bit samples"),
    _c("wav_block_align_lies", lambda: riff(fmt_chunk(block_align=3),
                                            chunk(b"data", pcm16(1000))),
       Ok(1000, 1, 44100), note="block align 3 for 16-bit mono: libsndfile uses the bits"),
    _c("wav_two_data_chunks", lambda: riff(fmt_chunk(), chunk(b"data", pcm16(500)),
                                           chunk(b"data", pcm16(500))), Refused(_NOT_AUDIO)),
    _c("wav_1024_channels", lambda: riff(fmt_chunk(channels=1024), chunk(b"data", pcm16(2048))),
       Ok(2, 1024, 44100), note="libsndfile's channel limit"),
    _c("wav_2000_channels", lambda: riff(fmt_chunk(channels=2000), chunk(b"data", pcm16(4000))),
       Refused(_NOT_AUDIO + ("channels",))),
    _c("wav_rate_1hz", lambda: riff(fmt_chunk(rate=1), chunk(b"data", pcm16(1000))),
       Ok(1000, 1, 1)),
    _c("wav_rate_2147483647", lambda: riff(fmt_chunk(rate=0x7FFFFFFF),
                                           chunk(b"data", pcm16(1000))),
       Ok(1000, 1, 0x7FFFFFFF)),
    _c("wav_10mhz_shaping_auto", lambda: riff(fmt_chunk(rate=10_000_000),
                                              chunk(b"data", pcm16(100))),
       Ok(100, 1, 10_000_000),
       args=("--shaping", "auto"), note="LinAlgError traceback in dsp/design.py (fuzz run 3); "
       "auto now picks from the catalog above 768 kHz"),
    _c("wav_10mhz_shaping_designed", lambda: riff(fmt_chunk(rate=10_000_000),
                                                  chunk(b"data", pcm16(100))),
       Refused(("in 1000..768000 Hz, got 10000000",)),
       args=("--shaping", "designed:9"), note="said only 'error: Singular matrix'"),
    _c("wav_extensible_6ch_24bit", lambda: sf_bytes(500, 6, fmt="WAVEX", subtype="PCM_24"),
       Ok(500, 6, 44100)),
    _c("wav_u8", lambda: sf_bytes(1000, 1, subtype="PCM_U8"),
       Ok(1000, 1, 44100, "WAV", "PCM_U8"), args=("--bits", "8")),
    _c("wav_pcm24", lambda: sf_bytes(1000, 2, subtype="PCM_24"),
       Ok(1000, 2, 44100, "WAV", "PCM_24"), args=("--bits", "24")),
    _c("wav_pcm32", lambda: sf_bytes(1000, 2, subtype="PCM_32"),
       Ok(1000, 2, 44100, "WAV", "PCM_32"), args=("--bits", "32")),
    _c("wav_float32", lambda: sf_bytes(1000, 1, subtype="FLOAT"), Ok(1000, 1, 44100)),
    _c("wav_float64", lambda: sf_bytes(1000, 1, subtype="DOUBLE"), Ok(1000, 1, 44100)),
    _c("wav_alaw", lambda: sf_bytes(800, 1, 8000, subtype="ALAW"), Ok(800, 1, 8000)),
    _c("wav_rifx_big_endian", _rifx, Ok(1000, 1, 44100)),
    _c("rf64_pcm16", lambda: sf_bytes(1000, 2, fmt="RF64"), Ok(1000, 2, 44100), ext=".rf64"),
    _c("w64_float", lambda: sf_bytes(1000, 2, fmt="W64", subtype="FLOAT"),
       Ok(1000, 2, 44100), ext=".w64"),
    _c("aiff_pcm16", lambda: sf_bytes(1000, 2, fmt="AIFF"), Ok(1000, 2, 44100),
       ext=".aiff"),
    _c("aifc_float", lambda: sf_bytes(1000, 1, fmt="AIFF", subtype="FLOAT"),
       Ok(1000, 1, 44100), ext=".aifc"),
    _c("aifc_sowt", _aifc_sowt, Ok(1000, 2, 48000), ext=".aifc"),
    _c("flac_16", lambda: sf_bytes(1000, 2, fmt="FLAC"), Ok(1000, 2, 44100), ext=".flac"),
    _c("flac_24_8k", lambda: sf_bytes(800, 1, 8000, fmt="FLAC", subtype="PCM_24"),
       Ok(800, 1, 8000), ext=".flac"),
    _c("flac_empty", _flac_empty(), Ok(0, 2, 44100), ext=".flac",
       note="STREAMINFO only, marked last: a valid FLAC of 0 frames (as SoX writes one)"),
    _c("flac_metadata_cut_short", _flac_empty(last=False), Refused(_TRUNC + _NOT_AUDIO),
       ext=".flac", note="STREAMINFO not marked last and nothing after it (fuzz run 2)"),
    _c("flac_streaminfo_cut", _flac_empty(cut=10), Refused(_TRUNC + _NOT_AUDIO),
       ext=".flac"),
    _c("caf_pcm16", lambda: sf_bytes(1000, 2, fmt="CAF"), Ok(1000, 2, 44100), ext=".caf"),
    _c("wav_0_frames", lambda: sf_bytes(0, 2), Ok(0, 2, 44100)),
    _c("wav_0_frames_to_flac", lambda: sf_bytes(0, 2), Ok(0, 2, 44100, "FLAC"),
       out="out.flac", note="an empty FLAC must be a valid FLAC, not 0 bytes"),
    _c("wav_0_frames_to_aiff", lambda: sf_bytes(0, 1), Ok(0, 1, 44100, "AIFF"),
       out="out.aiff"),
    _c("wav_1_frame", lambda: sf_bytes(1, 1), Ok(1, 1, 44100)),
    _c("flac_1_frame", lambda: sf_bytes(1, 2, fmt="FLAC"), Ok(1, 2, 44100), ext=".flac"),
    _c("wav_mono", lambda: sf_bytes(1000, 1), Ok(1000, 1, 44100)),
    _c("wav_8ch", lambda: sf_bytes(700, 8), Ok(700, 8, 44100)),
    _c("wav_8k", lambda: sf_bytes(800, 1, 8000), Ok(800, 1, 8000)),
    _c("wav_384k", lambda: sf_bytes(3840, 2, 384000, subtype="PCM_24"),
       Ok(3840, 2, 384000), args=("--bits", "24")),
    _c("wav_384k_to_48k", lambda: sf_bytes(3840, 1, 384000), Ok(480, 1, 48000),
       args=("--rate", "48000"), note="soxr's length: ceil(3840 * 48000 / 384000)"),
    _c("wav_list_info_tags", _list_info,
       Ok(1000, 1, 44100, tags={"title": "Corpus tone", "artist": "audioquant"}),
       note="LIST/INFO before the data; tags are kept where the format has them"),
    _c("wav_sf_tags_to_flac", lambda: sf_bytes(1000, 1, tags={"title": "T", "artist": "A"}),
       Ok(1000, 1, 44100, "FLAC", tags={"title": "T", "artist": "A"}), out="out.flac"),
    _c("wav_list_after_data", _list_after_data, Ok(1000, 1, 44100)),
    _c("wav_trailing_garbage", _trailing_garbage, Ok(1000, 1, 44100)),
    _c("mp3_named_wav", _mp3, Ok(None, 1, 44100),
       note="libsndfile reads the content, not the name: decoded as MP3"),
    _c("text_named_wav", lambda: _TEXT, Refused(_NOT_AUDIO)),
    _c("empty_wav", lambda: b"", Refused(_NOT_AUDIO + ("empty",))),
    _c("riff_header_only", lambda: b"RIFF\x04\0\0\0WAVE", Refused(_NOT_AUDIO)),
    _c("float64_pm_1e300", _extreme_floats, Ok(1000, 2, 44100, full_scale=True),
       note="finite but absurd: clips to full scale, counted"),
    _c("float64_pm_1e300_analyze", _extreme_floats,
       Refused(("sample 1e+300 at frame 0 of channel 0 is beyond the analysable range",)),
       command="analyze", note="hung in numpy.linalg.lstsq"),
    _c("float64_pm_1e160_analyze", _floats_1e160,
       Refused(("sample 1e+160 at frame 0 of channel 0 is beyond the analysable range",)),
       command="analyze", note="printed RuntimeWarnings and 'peak 3200.00 dBFS'"),
    _c("float32_nan_analyze", _with_nan, Refused(_NOT_FINITE),
       command="analyze"),
    _c("wav_truncated_analyze", _truncated, Refused(_TRUNC), command="analyze"),
    _c("float32_nan", _with_nan, Refused(_NOT_FINITE)),
    _c("float64_inf", _with_inf, Refused(_NOT_FINITE)),
    _c("out_caf", lambda: sf_bytes(500, 2), Ok(500, 2, 44100, "CAF", "PCM_16"),
       out="out.caf"),
    _c("out_w64", lambda: sf_bytes(500, 2), Ok(500, 2, 44100, "W64", "PCM_16"),
       out="out.w64"),
    _c("out_rf64", lambda: sf_bytes(500, 2), Ok(500, 2, 44100, "RF64", "PCM_16"),
       out="out.rf64"),
    _c("out_aiff_8bit", lambda: sf_bytes(500, 1), Ok(500, 1, 44100, "AIFF", "PCM_S8"),
       out="out.aiff", args=("--bits", "8")),
    _c("out_txt_refused", lambda: sf_bytes(500, 1), Refused((".txt", "extension", "format")),
       out="out.txt", note="nothing gets WAV data under another format's name"),
]

_BAD_MIDI = ("cannot read", "not a midi", "not a standard midi", "mthd")

MIDI: list[Case] = [
    _c("mid_basic_type1", _basic, Ok(notes=8, ticks_per_beat=480), ext=".mid",
       command="midi", out="out.mid"),
    _c("mid_mido_type1_96ppq", _mido_file, Ok(notes=12, ticks_per_beat=96), ext=".mid",
       command="midi", out="out.mid", note="CC, pitch bend, program, sysex kept"),
    _c("mid_running_status", _running_status, Ok(notes=3, ticks_per_beat=480), ext=".mid",
       command="midi", out="out.mid"),
    _c("mid_velocity_zero_off", _velocity_zero, Ok(notes=3, ticks_per_beat=480), ext=".mid",
       command="midi", out="out.mid"),
    _c("mid_truncated_track", _truncated_track, Refused(_TRUNC), ext=".mid",
       command="midi", out="out.mid"),
    _c("mid_chunk_length_too_long", _chunk_too_long, Ok(notes=8, ticks_per_beat=480),
       ext=".mid", command="midi", out="out.mid",
       note="the last track's length runs past the file, but its end-of-track is there"),
    _c("mid_chunk_length_too_short", _chunk_too_short,
       Refused(("length", "track 0", "end-of-track", "end of track", "chunk")),
       ext=".mid", command="midi", out="out.mid"),
    _c("mid_zero_tracks", _zero_tracks, Refused(("no tracks", "0 tracks", "zero tracks")),
       ext=".mid", command="midi", out="out.mid"),
    _c("mid_smpte_division", _smpte, Refused(("smpte",)), ext=".mid", command="midi",
       out="out.mid"),
    _c("mid_type2", _type2, Refused(("type 2",)), ext=".mid", command="midi", out="out.mid"),
    _c("mid_note_on_never_ends", _never_end, Ok(notes=4, open_notes=3, ticks_per_beat=480),
       ext=".mid", command="midi", out="out.mid"),
    _c("mid_sysex_without_end", _sysex_no_end, Ok(notes=4, ticks_per_beat=480), ext=".mid",
       command="midi", out="out.mid"),
    _c("mid_sysex_past_end", _sysex_past_end, Refused(_TRUNC + ("sysex", "length")),
       ext=".mid", command="midi", out="out.mid"),
    _c("mid_meta_length_lies", _meta_past_end, Refused(_TRUNC + ("meta", "length")),
       ext=".mid", command="midi", out="out.mid"),
    _c("mid_meta_short_tempo", _meta_short_tempo, Refused(("tempo",)), ext=".mid",
       command="midi", out="out.mid", note="set_tempo with 2 data bytes"),
    _c("mid_tempo_zero", _tempo_zero,
       Ok(notes=6, ticks_per_beat=480), ext=".mid", command="midi", out="out.mid",
       note="kept, sets no tempo; midi stats divided by zero"),
    _c("mid_unknown_chunk_between_tracks", _unknown_chunk, Ok(notes=8, ticks_per_beat=480),
       ext=".mid", command="midi", out="out.mid", note="the standard says skip it"),
    _c("mid_vlq_5_bytes", _vlq5,
       Refused(("variable-length", "4 bytes", "delta", "vlq", "too long")), ext=".mid",
       command="midi", out="out.mid"),
    _c("mid_type0_two_tracks", _type0_two_tracks,
       Ok(notes=8, ticks_per_beat=480), ext=".mid", command="midi", out="out.mid",
       note="read (and written) as type 1"),
    _c("mid_realtime_status_byte", _realtime_byte,
       Ok(notes=4, ticks_per_beat=480), ext=".mid", command="midi", out="out.mid",
       note="skipped (a file cannot hold it), its delta kept"),
    _c("mid_system_common_bytes", _system_common,
       Ok(notes=4, ticks_per_beat=480), ext=".mid", command="midi", out="out.mid",
       note="song select kept, tune request skipped"),
    _c("mid_huge_delta", _huge_delta, Ok(notes=3, ticks_per_beat=480), ext=".mid",
       command="midi", out="out.mid"),
    _c("mid_ppq_zero", _ppq_zero, Refused(("ticks per beat", "division", "ppq")),
       ext=".mid", command="midi", out="out.mid"),
    _c("mid_header_length_8", _long_header, Ok(notes=8, ticks_per_beat=480), ext=".mid",
       command="midi", out="out.mid"),
    _c("mid_trailing_bytes", _trailing_bytes, Ok(notes=8, ticks_per_beat=480), ext=".mid",
       command="midi", out="out.mid"),
    _c("mid_missing_track", _missing_track, Refused(_TRUNC + ("track", "tracks")),
       ext=".mid", command="midi", out="out.mid"),
    _c("mid_no_end_of_track", _no_end_of_track, Ok(notes=8, ticks_per_beat=480),
       ext=".mid", command="midi", out="out.mid"),
    _c("mid_data_byte_high", _data_byte_high, Refused(("data byte", "0..127", "0xc8")),
       ext=".mid", command="midi", out="out.mid"),
    _c("mid_undefined_status", _undefined_status, Refused(("status",)), ext=".mid",
       command="midi", out="out.mid"),
    _c("mid_running_status_first", _running_status_first, Refused(("running status",
       "status")), ext=".mid", command="midi", out="out.mid"),
    _c("mid_stray_off_overlap", _stray_and_overlap, Ok(notes=2, ticks_per_beat=480),
       ext=".mid", command="midi", out="out.mid"),
    _c("mid_rmid_riff", _rmid, Ok(notes=8, ticks_per_beat=480), ext=".mid",
       command="midi", out="out.mid"),
    _c("mid_text", lambda: _TEXT, Refused(_BAD_MIDI), ext=".mid", command="midi",
       out="out.mid"),
    _c("mid_empty", lambda: b"", Refused(_BAD_MIDI + ("empty",)), ext=".mid",
       command="midi", out="out.mid"),
]

CASES: list[Case] = AUDIO + MIDI


def by_name(name: str) -> Case:
    """The case called ``name``."""
    for case in CASES:
        if case.name == name:
            return case
    raise KeyError(name)


def write_all(folder: str | Path) -> list[Path]:
    """Write every case's file into ``folder`` (made if needed); return the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in CASES:
        path = folder / case.filename
        path.write_bytes(case.data())
        paths.append(path)
    return paths


def _describe(expect: Outcome) -> str:
    if isinstance(expect, Ok):
        return "ok"
    if isinstance(expect, Refused):
        return f"refused (exit {expect.code})"
    return "ok or refused"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        sys.stderr.write("usage: python tests/corpus.py DIR\n")
        return 2
    names = {c.filename for c in CASES}
    assert len(names) == len(CASES), "two cases share a file name"
    for case, path in zip(CASES, write_all(argv[0]), strict=True):
        print(f"{path}  {path.stat().st_size:>6} B  {case.command:<7} "
              f"{_describe(case.expect)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
