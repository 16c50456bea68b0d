"""Audio file I/O through soundfile (libsndfile): reading, block streaming, atomic writing.

In memory audio is ``(channels, frames)``; soundfile's ``(frames, channels)`` is converted
here. PCM output is written from integer codes (never floats: libsndfile rounds floats
down on conversion), placed in the top bits of the container: an N-bit depth goes into
the next container of 8, 16, 24 or 32 bits with its low bits zero. 8-bit WAV is unsigned
on disk (PCM_U8); soundfile writes it from int16 codes holding the value in the top byte.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from audioquant.errors import AudioFileError, ParameterError

#: Output formats by file extension; anything else is written as WAV.
FORMATS_BY_EXTENSION = {".wav": "WAV", ".wave": "WAV", ".aif": "AIFF", ".aiff": "AIFF",
                        ".aifc": "AIFF", ".flac": "FLAC", ".w64": "W64", ".rf64": "RF64"}

# libsndfile's header log says "data : 200000 (should be 99960)" (WAV, W64, RF64) or
# "SSND : 100008 (should be 49981)" (AIFF) when the file is shorter than its header says.
# A length of 0 or 0xFFFFFFFF is a streaming writer's "unknown", not a truncation.
_TRUNCATED = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)

_EXACT_IN_FLOAT32 = {"PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "FLOAT", "ULAW", "ALAW",
                     "VORBIS", "OPUS", "DPCM_8", "DPCM_16", "MPEG_LAYER_III"}


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds: rate (Hz), channels, frames, container format and subtype."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def read_dtype(self) -> str:
        """The float dtype that holds every sample of this file exactly."""
        return "float32" if self.subtype in _EXACT_IN_FLOAT32 else "float64"


def info(path: str | os.PathLike) -> AudioInfo:
    """Describe the audio file at ``path``; AudioFileError when it is missing or not audio."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise AudioFileError(f"no such file: {path}")
    if os.path.isdir(path):
        raise AudioFileError(f"{path} is a folder, not an audio file")
    try:
        with sf.SoundFile(path) as f:
            meta = AudioInfo(path, int(f.samplerate), int(f.channels), int(f.frames),
                             f.format, f.subtype)
            log = f.extra_info
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"cannot read {path} as audio: {_reason(exc)}") from None
    if meta.frames < 0 or meta.sample_rate <= 0 or meta.channels <= 0:
        raise AudioFileError(f"cannot read {path} as audio: bad header")
    short = _TRUNCATED.search(log)
    if short and int(short.group(1)) not in (0, 0xFFFFFFFF):
        raise AudioFileError(f"{path} is truncated: its header promises {short.group(1)} "
                             f"bytes of audio, the file holds {short.group(2)}")
    return meta


def read(path: str | os.PathLike, dtype: str | None = None) -> tuple[np.ndarray, int]:
    """Read a whole file as ``(channels, frames)`` float (exact dtype by default) and its
    sample rate in Hz."""
    meta = info(path)
    dtype = dtype or meta.read_dtype
    try:
        data, rate = sf.read(meta.path, dtype=dtype, always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"cannot read {meta.path}: {_reason(exc)}") from None
    return np.ascontiguousarray(data.T), int(rate)


def read_int(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read PCM as ``(channels, frames)`` int32 (values in the top bits, as libsndfile
    gives them) and the sample rate; for checking the exact codes a file holds."""
    data, rate = sf.read(os.fspath(path), dtype="int32", always_2d=True)
    return np.ascontiguousarray(data.T), int(rate)


def blocks(meta: AudioInfo, block_size: int) -> Iterator[np.ndarray]:
    """Yield the file as ``(channels, n)`` float blocks of ``block_size`` frames (the last
    may be shorter): transposed views of soundfile's interleaved buffers, not copies.
    Raises AudioFileError if the file ends before its header says."""
    done = 0
    try:
        with sf.SoundFile(meta.path) as f:
            while True:
                data = f.read(block_size, dtype=meta.read_dtype, always_2d=True)
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
    """The container format for an output path, from its extension (WAV when in doubt).

    A lossy format's extension is refused: its decoder would not give back the codes."""
    suffix = Path(path).suffix.lower()
    if suffix in LOSSY_EXTENSIONS:
        raise ParameterError(f"cannot write PCM codes to a lossy {suffix} file {path}; "
                             "use .wav, .aiff or .flac")
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


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when two paths name the same file (existing or not)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


class AtomicWriter:
    """Write a sound file through a temporary file beside the target, renamed into place
    only by :meth:`commit`; :meth:`abort` (or leaving the ``with`` block on an error)
    removes it, so no partial output is ever left.
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int,
                 subtype: str, fmt: str | None = None) -> None:
        self.path = os.fspath(path)
        if os.path.isdir(self.path):
            raise AudioFileError(f"cannot write {self.path}: it is a folder; "
                                 "give a file name")
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise AudioFileError(f"cannot write {self.path}: folder {folder} does not exist")
        fmt = fmt or output_format(self.path)
        try:
            fd, self.tmp = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.",
                                            suffix=".tmp", dir=folder)
            os.close(fd)
        except OSError as exc:
            raise AudioFileError(f"cannot write {self.path}: {exc.strerror}") from None
        try:
            # mkstemp makes the file private (0600); give it the mode a plain open()
            # would, so the renamed output is readable as the user's umask allows.
            umask = os.umask(0o077)   # read it (a file made meanwhile is only more private)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)
            self.file = sf.SoundFile(self.tmp, "w", samplerate=sample_rate,
                                     channels=channels, subtype=subtype, format=fmt)
        except (OSError, sf.LibsndfileError, RuntimeError, ValueError) as exc:
            os.unlink(self.tmp)
            raise AudioFileError(f"cannot write {self.path}: {_reason(exc)}") from None

    def write(self, block: np.ndarray) -> None:
        """Append ``(channels, frames)`` data (integer codes or float)."""
        try:
            self.file.write(block.T)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            raise AudioFileError(f"cannot write {self.path}: {_reason(exc)}") from None

    def commit(self) -> None:
        """Close and move the finished file into place."""
        self.file.close()
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.abort()
            raise AudioFileError(f"cannot write {self.path}: {exc.strerror}") from None

    def abort(self) -> None:
        """Close and remove the temporary file."""
        if not self.file.closed:
            self.file.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)

    def __enter__(self) -> AtomicWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def write(path: str | os.PathLike, audio: np.ndarray, sample_rate: int,
          subtype: str | None = None) -> None:
    """Write ``(channels, frames)`` audio atomically. Integer arrays are written as they
    are (codes in the top bits); float arrays as FLOAT unless ``subtype`` says otherwise."""
    audio = np.atleast_2d(audio)
    if subtype is None:
        subtype = "FLOAT" if audio.dtype.kind == "f" else {2: "PCM_16", 4: "PCM_32"}[
            audio.dtype.itemsize]
    with AtomicWriter(path, sample_rate, audio.shape[0], subtype) as writer:
        writer.write(audio)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    text = text.split(": ", 1)[-1] if text.startswith("Error opening") else text
    return re.sub(r"^Error\s*:\s*", "", text)     # libsndfile's "Error : flac decoder ..."
