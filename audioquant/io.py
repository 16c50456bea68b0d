"""Audio file I/O through soundfile (libsndfile): reading, block streaming, atomic writing.

In memory audio is ``(channels, frames)``; soundfile's ``(frames, channels)`` is converted
here. PCM output is written from integer codes (never floats: libsndfile rounds floats
down on conversion), placed in the top bits of the container: an N-bit depth goes into
the next container of 8, 16, 24 or 32 bits with its low bits zero. 8-bit WAV is unsigned
on disk (PCM_U8); soundfile writes it from int16 codes holding the value in the top byte.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import struct
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from audioquant.atomic import (  # noqa: F401  (the writers' API, also through io)
    TEMP_PREFIX,
    OutputFile,
    OutputTarget,
    commit_all,
    is_regular_or_new,
    is_stdout,
    output_target,
    same_file,
)
from audioquant.atomic import Committed as _Committed
from audioquant.atomic import strerror as _strerror
from audioquant.errors import AudioFileError, ParameterError

#: Output formats by file extension. A name with no extension (``-``, ``/dev/null``) is
#: written as WAV; any other extension is refused rather than given WAV data.
FORMATS_BY_EXTENSION = {".wav": "WAV", ".wave": "WAV", ".bwf": "WAV", ".aif": "AIFF",
                        ".aiff": "AIFF", ".aifc": "AIFF", ".flac": "FLAC", ".w64": "W64",
                        ".rf64": "RF64", ".caf": "CAF", ".au": "AU", ".snd": "AU"}

# libsndfile's header log says "data : 200000 (should be 99960)" (WAV, W64, RF64) or
# "SSND : 100008 (should be 49981)" (AIFF) when the file is shorter than its header says.
# A length of 0 or 0xFFFFFFFF is a streaming writer's "unknown", not a truncation.
_TRUNCATED = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)

_EXACT_IN_FLOAT32 = {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "FLOAT", "ULAW", "ALAW",
                     "VORBIS", "OPUS", "DPCM_8", "DPCM_16", "MPEG_LAYER_III"}


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds: rate (Hz), channels, frames, container format and subtype.

    ``path`` is the name the user gave (``-`` for standard input); ``tags`` are its text
    tags (title, artist, ...). ``frames`` is -1 when the header does not say (a FLAC
    stream of unknown length): it is then read to its end.
    """

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str
    tags: dict[str, str] = field(default_factory=dict, compare=False)
    #: The readable copy of an input that cannot be read twice (a pipe, a FIFO).
    spool: object = field(default=None, compare=False, repr=False)

    @property
    def read_dtype(self) -> str:
        """The float dtype that holds every sample of this file exactly."""
        return "float32" if self.subtype in _EXACT_IN_FLOAT32 else "float64"

    def open(self) -> sf.SoundFile:
        """Open the file for reading (AudioFileError if it cannot be)."""
        return _open_sound(self.path, self.spool)


def _spool_input(name: str) -> BinaryIO:
    """Copy an input that can be read only once (``-``, a FIFO, a socket) into an unnamed
    temporary file and return it, rewound."""
    try:
        if name == "-":
            if sys.stdin is None or sys.stdin.isatty():
                raise AudioFileError("standard input is a terminal: pipe audio into it, "
                                     "or give an input file name")
            source: BinaryIO = os.fdopen(os.dup(0), "rb")
        else:
            source = open(name, "rb")
        spool = tempfile.TemporaryFile(prefix=TEMP_PREFIX, suffix=".tmp")
        with source:
            shutil.copyfileobj(source, spool, 1 << 20)
        spool.seek(0)
        return spool
    except OSError as exc:
        raise AudioFileError(f"cannot read {name}: {_strerror(exc)}") from None


def _input_spool(name: str) -> BinaryIO | None:
    """None for an input that is a regular file; its spooled copy for standard input, a
    FIFO or a socket; AudioFileError for a folder, a device or a missing file."""
    if name == "-":
        return _spool_input(name)
    try:
        st = os.stat(name)
    except FileNotFoundError:
        raise AudioFileError(f"no such file: {name}") from None
    except OSError as exc:
        raise AudioFileError(f"cannot read {name}: {_strerror(exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioFileError(f"{name} is a folder, not an audio file")
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        return _spool_input(name)
    raise AudioFileError(f"{name} is a device, not an audio file")


def _open_fd(name: str, spool: object = None) -> int:
    """A new descriptor on an input, at its start: on its spooled copy when it has one,
    else on the file (by descriptor, any name works, even one that is not valid UTF-8)."""
    if spool is None:
        return os.open(name, os.O_RDONLY)
    fd = os.dup(spool.fileno())                                # type: ignore[attr-defined]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _open_sound(name: str, spool: object = None) -> sf.SoundFile:
    """A SoundFile for reading, opened from a descriptor (soundfile never encodes the
    name)."""
    try:
        fd = _open_fd(name, spool)
    except OSError as exc:
        raise AudioFileError(f"cannot read {name}: {_strerror(exc)}") from None
    try:
        return sf.SoundFile(fd, closefd=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        with contextlib.suppress(OSError):      # soundfile may have closed it already
            os.close(fd)
        raise AudioFileError(f"cannot read {name} as audio: {_reason(exc)}") from None


#: libsndfile's frame count for a stream whose length its header does not give.
_UNKNOWN_FRAMES = 2**63 - 1


def _flac_has_frames(name: str, spool: object = None) -> bool:
    """True when any bytes follow a FLAC file's metadata blocks (its audio frames);
    AudioFileError when the file ends inside them."""
    with os.fdopen(_open_fd(name, spool), "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(4)                                      # "fLaC"
        while True:
            header = f.read(4)
            end = f.tell() + int.from_bytes(header[1:], "big")
            if len(header) < 4 or end > size:
                raise AudioFileError(f"{name} is truncated: it ends inside its FLAC "
                                     "metadata, before any audio")
            f.seek(end)
            if header[0] & 0x80:                       # the last metadata block
                return end < size


#: libsndfile's log of a WAV whose data chunk says 0 bytes (a writer that never went back
#: to fill in the length, as some recorders and streaming writers leave it).
_ZERO_DATA = re.compile(r"^data\s*:\s*0\s*$", re.M)


def _wav_with_data_length(name: str, spool: object = None) -> BinaryIO | None:
    """A copy of a WAV file whose data chunk length is 0 but audio follows it, with the
    length of the bytes that do follow (whole frames) written in, as FFmpeg reads such a
    file; None when nothing follows the chunk header (the file is really empty)."""
    with os.fdopen(_open_fd(name, spool), "rb") as f:
        data = bytearray(f.read())
    pos, align = 12, 1
    while pos + 8 <= len(data):
        chunk, size = bytes(data[pos:pos + 4]), int.from_bytes(data[pos + 4:pos + 8], "little")
        if chunk == b"fmt " and size >= 14:
            align = max(1, int.from_bytes(data[pos + 20:pos + 22], "little"))
        if chunk == b"data":
            length = (len(data) - pos - 8) // align * align
            if size != 0 or length == 0:
                return None
            data[pos + 4:pos + 8] = length.to_bytes(4, "little")
            data[4:8] = min(len(data) - 8, 0xFFFFFFFF).to_bytes(4, "little")
            copy = tempfile.TemporaryFile(prefix=TEMP_PREFIX, suffix=".tmp")
            copy.write(data)
            copy.seek(0)
            return copy
        pos += 8 + size + (size & 1)
    return None


def _info_of_copy(name: str, spool: BinaryIO) -> AudioInfo:
    """:func:`info` of a readable copy of ``name``."""
    with _open_sound(name, spool) as f:
        return AudioInfo(name, int(f.samplerate), int(f.channels), int(f.frames),
                         f.format, f.subtype, {}, spool)


def info(path: str | os.PathLike) -> AudioInfo:
    """Describe the audio file at ``path`` (``-``: standard input); AudioFileError when it
    is missing or not audio."""
    name = os.fspath(path)
    spool = _input_spool(name)
    with _open_sound(name, spool) as f:
        if f.frames == 0 and f.format == "WAV" and _ZERO_DATA.search(f.extra_info):
            spool = _wav_with_data_length(name, spool)      # a header never finished
            if spool is not None:
                return _info_of_copy(name, spool)
        frames = -1 if f.frames == _UNKNOWN_FRAMES else int(f.frames)
        if frames == -1 and f.format == "FLAC" and not _flac_has_frames(name, spool):
            frames = 0              # (libsndfile cannot read an empty FLAC: it fails a seek)
        tags = {}
        for key in sf._str_types:          # the text tags libsndfile knows
            with contextlib.suppress(RuntimeError, sf.LibsndfileError):
                value = getattr(f, key)
                if value:
                    tags[key] = value
        meta = AudioInfo(name, int(f.samplerate), int(f.channels), frames, f.format,
                         f.subtype, tags, spool)
        log = f.extra_info
    if meta.frames < -1 or meta.sample_rate <= 0 or meta.channels <= 0:
        raise AudioFileError(f"cannot read {name} as audio: bad header")
    short = _TRUNCATED.search(log)
    if short and int(short.group(1)) not in (0, 0xFFFFFFFF):
        raise AudioFileError(f"{name} is truncated: its header promises {short.group(1)} "
                             f"bytes of audio, the file holds {short.group(2)}")
    return meta


def read(path: str | os.PathLike, dtype: str | None = None) -> tuple[np.ndarray, int]:
    """Read a whole file as ``(channels, frames)`` float (exact dtype by default) and its
    sample rate in Hz."""
    meta = info(path)
    parts = list(blocks(meta, 1 << 18, dtype=dtype))
    data = np.concatenate(parts, axis=1) if parts else \
        np.zeros((meta.channels, 0), dtype or meta.read_dtype)
    return np.ascontiguousarray(data), meta.sample_rate


def read_int(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read PCM as ``(channels, frames)`` int32 (values in the top bits, as libsndfile
    gives them) and the sample rate; for checking the exact codes a file holds."""
    meta = info(path)
    return np.ascontiguousarray(np.concatenate(
        [np.zeros((meta.channels, 0), np.int32),
         *blocks(meta, 1 << 18, dtype="int32")], axis=1)), meta.sample_rate


def blocks(meta: AudioInfo, block_size: int, dtype: str | None = None
           ) -> Iterator[np.ndarray]:
    """Yield the file as ``(channels, n)`` blocks of ``block_size`` frames (the last may
    be shorter), float of the exact dtype unless ``dtype`` says: transposed views of
    soundfile's interleaved buffers, not copies. Raises AudioFileError if the file ends
    before its header says."""
    done = 0
    if meta.frames == 0:
        return
    try:
        with meta.open() as f:
            while True:
                data = f.read(block_size, dtype=dtype or meta.read_dtype, always_2d=True)
                if data.shape[0] == 0:
                    break
                done += data.shape[0]
                yield data.T
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"cannot read {meta.path} (truncated or damaged?): "
                             f"{_reason(exc)}") from None
    if done < meta.frames:
        raise AudioFileError(f"{meta.path} is truncated: its header promises {meta.frames} "
                             f"frames, it holds {done}")


#: Lossy formats: they cannot hold the integer codes a render computes.
LOSSY_EXTENSIONS = (".ogg", ".oga", ".opus", ".mp3")


def output_format(path: str | os.PathLike) -> str:
    """The container format for an output path, from its extension (WAV for a name
    without one). A lossy format's extension, or one no PCM format goes by, is refused:
    a file never gets data of another format than its name says."""
    name = os.fspath(path)
    suffix = Path(name).suffix.lower() if name != "-" else ""
    if suffix in LOSSY_EXTENSIONS:
        raise ParameterError(f"cannot write PCM codes to a lossy {suffix} file {name}; "
                             "use .wav, .aiff or .flac")
    if suffix and suffix not in FORMATS_BY_EXTENSION:
        known = " ".join(sorted(FORMATS_BY_EXTENSION))
        raise ParameterError(f"cannot tell an audio format from the extension {suffix} "
                             f"of {name}; use one of {known}")
    return FORMATS_BY_EXTENSION.get(suffix, "WAV")


def container_bits(bits: int) -> int:
    """The container size (8, 16, 24 or 32 bits) that holds an N-bit depth."""
    for size in (8, 16, 24, 32):
        if bits <= size:
            return size
    raise ParameterError(f"bits must be in 1..32, got {bits}")


def pcm_layout(fmt: str, bits: int) -> tuple[str, type, int]:
    """For an N-bit render in ``fmt``: the soundfile subtype, the integer dtype handed to
    soundfile, and the left shift that puts the N-bit code in the top bits of that dtype."""
    size = container_bits(bits)
    if size == 8:
        subtype = "PCM_U8" if fmt in ("WAV", "W64", "RF64") else "PCM_S8"
    else:
        subtype = f"PCM_{size}"
    if not sf.check_format(fmt, subtype):
        raise ParameterError(f"{fmt} files cannot hold {bits}-bit audio "
                             f"(no {subtype} subtype)")
    dtype = np.int16 if size <= 16 else np.int32
    return subtype, dtype, (16 if size <= 16 else 32) - bits


class AtomicWriter(_Committed):
    """Write a sound file that ends complete or not at all (see :class:`OutputFile`).

    Into a stream that cannot seek (a pipe, ``-``), WAV is written as it comes, its header
    first: with the exact sizes when ``frames`` (the length to come) is given, as SoX
    does, else with a streaming writer's 0xFFFFFFFF ("until the end", as FFmpeg writes).
    Other formats, whose headers must be finished after the data, are rendered into a
    temporary file and copied into the stream once complete. ``tags`` (title, artist, ...)
    are written where the format holds them.
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int,
                 subtype: str, fmt: str | None = None,
                 tags: dict[str, str] | None = None, frames: int | None = None) -> None:
        fmt = fmt or output_format(path)
        self.out = OutputFile(path)
        self.path = self.out.path
        self.spool: BinaryIO | None = None
        try:
            if self.out.target.seekable:
                sink = self.out.file
            elif fmt == "WAV" and subtype.startswith("PCM"):
                self.file: sf.SoundFile | _StreamingWav = _StreamingWav(
                    self.out.file, sample_rate, channels, subtype, frames)
                return
            else:
                self.spool = tempfile.TemporaryFile(prefix=TEMP_PREFIX, suffix=".tmp")
                sink = self.spool
            self.file = sf.SoundFile(sink.fileno(), "w", samplerate=sample_rate,
                                     channels=channels, subtype=subtype, format=fmt,
                                     closefd=False)
            for key, value in (tags or {}).items():
                with contextlib.suppress(RuntimeError, sf.LibsndfileError):
                    setattr(self.file, key, value)
        except (OSError, sf.LibsndfileError, RuntimeError, ValueError) as exc:
            self.abort()
            raise AudioFileError(f"cannot write {self.path}: {self._why(exc)}") from None

    def write(self, block: np.ndarray) -> None:
        """Append ``(channels, frames)`` data (integer codes or float)."""
        try:
            self.file.write(block.T)
        except BrokenPipeError:
            raise
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise AudioFileError(f"cannot write {self.path}: {self._why(exc)}") from None

    def commit(self) -> None:
        """Finish the file and move it into place."""
        try:
            empty_flac = isinstance(self.file, sf.SoundFile) and self.file.frames == 0 \
                and self.file.format == "FLAC"
            self.file.close()
            if empty_flac:
                _write_empty_flac(self.spool or self.out.file, self.file)
            if self.spool is not None:
                self.spool.seek(0)
                shutil.copyfileobj(self.spool, self.out.file, 1 << 20)
                self.spool.close()
        except BrokenPipeError:
            self.abort()
            raise
        except (OSError, sf.LibsndfileError, RuntimeError) as exc:
            self.abort()
            raise AudioFileError(f"cannot write {self.path}: {self._why(exc)}") from None
        self.out.commit()

    def abort(self) -> None:
        """Close and remove the temporary file."""
        file = getattr(self, "file", None)
        if file is not None and not file.closed:
            with contextlib.suppress(OSError, sf.LibsndfileError, RuntimeError):
                file.close()
        if self.spool is not None:
            self.spool.close()
        self.out.abort()

    def _why(self, exc: BaseException) -> str:
        """libsndfile says only "System error." when the disk is full: say what it is."""
        reason = _reason(exc)
        if isinstance(exc, OSError) or "System error" not in reason:
            return _strerror(exc) if isinstance(exc, OSError) else reason
        with contextlib.suppress(OSError, ValueError):
            folder = os.path.dirname(self.out.target.real) or "."
            if os.statvfs(folder).f_bavail == 0:
                return "no space left on device"
        return "the system refused the write (libsndfile gives no detail)"


class _StreamingWav:
    """A PCM WAV writer for streams that cannot seek: the header, with the sizes for
    ``frames`` frames, or 0xFFFFFFFF when the length is not known or too long for WAV
    (libsndfile, SoX and FFmpeg read that as "until the end of the stream"), then the
    interleaved little-endian samples, written as they come.

    Takes the same integer codes as the soundfile writer: int16 holding 8- or 16-bit
    containers (8-bit in the top byte; WAV's 8-bit is unsigned), int32 holding 24- or
    32-bit containers in the top bits.
    """

    _WIDTH = {"PCM_U8": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4}

    def __init__(self, file: BinaryIO, sample_rate: int, channels: int,
                 subtype: str, frames: int | None = None) -> None:
        if subtype not in self._WIDTH:
            raise AudioFileError(f"cannot stream {subtype} WAV")
        self.file = file
        self.subtype = subtype
        self.width = self._WIDTH[subtype]
        self.frames = 0
        self.closed = False
        align = channels * self.width
        fmt = struct.pack("<HHIIHH", 1, channels, sample_rate, sample_rate * align, align,
                          8 * self.width)
        data = None if frames is None else frames * align
        riff = None if data is None else 4 + 8 + len(fmt) + 8 + data + (data & 1)
        if riff is not None and riff > 0xFFFFFFFF:
            data = riff = None
        self.promised = None if data is None else frames
        file.write(b"RIFF" + struct.pack("<I", 0xFFFFFFFF if riff is None else riff)
                   + b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data"
                   + struct.pack("<I", 0xFFFFFFFF if data is None else data))
        self.pad = bool(data is not None and data & 1)

    def write(self, frames: np.ndarray) -> None:
        """Append ``(frames, channels)`` integer codes."""
        codes = np.ascontiguousarray(frames)
        if self.subtype == "PCM_U8":
            data = ((codes.astype(np.int16) >> 8) + 128).astype(np.uint8)
        elif self.subtype == "PCM_16":
            data = codes.astype("<i2")
        elif self.subtype == "PCM_24":
            data = (codes.astype(np.int32) >> 8).astype("<i4").view(np.uint8)
            data = data.reshape(-1, 4)[:, :3]
        else:
            data = codes.astype("<i4")
        self.file.write(np.ascontiguousarray(data).tobytes())
        self.frames += codes.shape[0]

    def close(self) -> None:
        """End the data (a pad byte after an odd-sized chunk, as RIFF wants)."""
        self.closed = True
        if self.promised is not None and self.frames != self.promised:
            raise AudioFileError(f"wrote {self.frames} frames into a stream whose header "
                                 f"promised {self.promised}")
        if self.pad:
            self.file.write(b"\0")


def _write_empty_flac(out: BinaryIO, written: sf.SoundFile) -> None:
    """libsndfile leaves a FLAC file of 0 frames empty (0 bytes, unreadable): write the
    stream marker and a STREAMINFO block of 0 samples (the MD5 of no data), as SoX does."""
    import hashlib
    bits = {"PCM_S8": 8, "PCM_16": 16, "PCM_24": 24}[written.subtype]
    fields = (written.samplerate << 44) | ((written.channels - 1) << 41) | ((bits - 1) << 36)
    info = struct.pack(">HH", 4096, 4096) + bytes(6) + fields.to_bytes(8, "big") \
        + hashlib.md5(b"").digest()
    out.seek(0)
    out.truncate()
    out.write(b"fLaC" + bytes([0x80, 0, 0, len(info)]) + info)


def write(path: str | os.PathLike, audio: np.ndarray, sample_rate: int,
          subtype: str | None = None) -> None:
    """Write ``(channels, frames)`` audio atomically. Integer arrays are written as they
    are (codes in the top bits); float arrays as FLOAT unless ``subtype`` says otherwise."""
    audio = np.atleast_2d(audio)
    if subtype is None:
        subtype = "FLOAT" if audio.dtype.kind == "f" else {2: "PCM_16", 4: "PCM_32"}[
            audio.dtype.itemsize]
    with AtomicWriter(path, sample_rate, audio.shape[0], subtype,
                      frames=audio.shape[1]) as writer:
        writer.write(audio)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    text = text.split(": ", 1)[-1] if text.startswith("Error opening") else text
    return re.sub(r"^Error\s*:\s*", "", text)     # libsndfile's "Error : flac decoder ..."
