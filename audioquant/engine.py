"""The render engine: a :class:`Chain` of processors, streamed block by block.

Each processor in the chain is wrapped in a stage that drops the processor's own latency
(output samples of delay) from the start of its output and, at the end of the stream,
appends its flushed tail and cuts the output to the processor's documented length
(``output_frames(input_frames)`` where it defines one). So the output lines up with the
input sample for sample, and rendering in blocks of any size gives identical output.

:func:`render` streams a file through the chain into a PCM file: the last processor, a
:class:`~audioquant.processors.Requantize`, writes integer codes straight into the
container's top bits. Memory stays bounded by the block size, however long the file.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from audioquant import io
from audioquant.errors import AudioFileError, ParameterError
from audioquant.processors import Processor, Requantize, non_finite_error

#: Samples (frames x channels) per block when no block size is given: 4 MB of float64,
#: large enough that per-block overhead (kernel dispatch, thread hand-offs) is noise.
DEFAULT_BLOCK_SAMPLES = 1 << 19


class _Stage:
    """One processor in a stream: trims its latency, flushes and cuts its tail."""

    def __init__(self, proc: Processor) -> None:
        self.proc = proc
        self.to_drop = int(getattr(proc, "latency", 0))
        self.frames_in = 0
        self.frames_out = 0

    def _emit(self, out: np.ndarray) -> np.ndarray:
        if self.to_drop:
            drop = min(self.to_drop, out.shape[1])
            out = out[:, drop:]
            self.to_drop -= drop
        self.frames_out += out.shape[1]
        return out

    def process(self, block: np.ndarray) -> np.ndarray:
        self.frames_in += block.shape[1]
        return self._emit(self.proc.process(block))

    def flush(self) -> np.ndarray:
        tail = self._emit(self.proc.flush())
        target = getattr(self.proc, "output_frames", None)
        if target is not None:
            wanted = target(self.frames_in) - (self.frames_out - tail.shape[1])
            if tail.shape[1] > wanted:
                tail = tail[:, :max(wanted, 0)]
            elif tail.shape[1] < wanted:
                tail = np.concatenate(
                    [tail, np.zeros((tail.shape[0], wanted - tail.shape[1]), tail.dtype)], 1)
        return tail


class Chain(Processor):
    """Processors in series, list-like: ``Chain([Resample(44100), Requantize(16)])``.

    ``latency`` of a chain is 0: every stage's own delay is compensated inside.
    """

    def __init__(self, processors: Iterable[Processor] = ()) -> None:
        super().__init__()
        self.processors = list(processors)
        self._stages: list[_Stage] = []

    def __len__(self) -> int:
        return len(self.processors)

    def __getitem__(self, index: int) -> Processor:
        return self.processors[index]

    def __iter__(self) -> Iterator[Processor]:
        return iter(self.processors)

    def append(self, proc: Processor) -> None:
        """Add a processor at the end (before ``prepare``)."""
        self.processors.append(proc)

    def prepare(self, sample_rate: int, channels: int) -> None:
        """Prepare every processor at the rate its predecessor outputs."""
        rate = sample_rate
        for proc in self.processors:
            proc.prepare(rate, channels)
            rate = proc.output_rate(rate)
        super().prepare(sample_rate, channels)

    def reset(self) -> None:
        for proc in self.processors:
            proc.reset()
        self._stages = [_Stage(p) for p in self.processors]

    def output_rate(self, sample_rate: int) -> int:
        for proc in self.processors:
            sample_rate = proc.output_rate(sample_rate)
        return sample_rate

    def process(self, block: np.ndarray) -> np.ndarray:
        for stage in self._stages:
            block = stage.process(block)
        return block

    def flush(self) -> np.ndarray:
        """Drain every stage in order: each tail runs through the stages after it."""
        out = np.zeros((self.channels, 0))
        for i, stage in enumerate(self._stages):
            tail = stage.flush()
            for later in self._stages[i + 1:]:
                tail = later.process(tail)
            out = np.concatenate([out, tail], axis=1) if out.shape[1] else tail
        return out


def _prefetch(blocks: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """Iterate ``blocks`` with a reader thread running up to ``depth`` blocks ahead
    (libsndfile releases the GIL, so reading overlaps the numba kernel)."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def read() -> None:
        try:
            for block in blocks:
                if stop.is_set():
                    return
                items.put(block)
            items.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            items.put(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():        # unblock a reader waiting on a full queue
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(0.01)


def _write_behind(writer: io.AtomicWriter, blocks: Iterator[np.ndarray],
                  depth: int = 2) -> int:
    """Write ``(channels, n)`` code blocks on a writer thread while the next ones are
    computed; return the frames written. A failure on either side stops both."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    failure: list[BaseException] = []

    def write() -> None:
        while True:
            block = items.get()
            if block is None:
                return
            if not failure:
                try:
                    writer.write(block)
                except BaseException as exc:
                    failure.append(exc)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    frames = 0
    try:
        for block in blocks:
            if failure:
                break
            items.put(block)
            frames += block.shape[1]
    finally:
        items.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return frames


@dataclass
class RenderReport:
    """What :func:`render` did: where, at what depth, what it measured."""

    output: str
    input: str
    sample_rate: int
    channels: int
    frames: int
    bits: int
    subtype: str
    format: str
    dither: str
    shaping: str
    seed: int
    clips: list[int] = field(default_factory=list)
    snr_db: float = float("inf")
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """Plain JSON-ready values."""
        return dict(self.__dict__)


def render(input_path: str | os.PathLike, output_path: str | os.PathLike, *, bits: int = 16,
           dither: str = "tpdf", shaping: str | None = None, seed: int | None = 0,
           auto_blank: bool = True, rate: int | None = None, quality: str = "high",
           hold_rate: int | None = None, processors: Iterable[Processor] = (),
           block_size: int | None = None) -> RenderReport:
    """Render ``input_path`` to a ``bits``-bit PCM file at ``output_path``.

    The audio streams in blocks of ``block_size`` frames (default: 2**19 samples' worth,
    262144 frames for stereo) through ``processors``, then a
    sample-and-hold at ``hold_rate`` Hz (lo-fi rate reduction, no filter) and a
    band-limited resampler to ``rate`` Hz at ``quality`` where asked, then a
    :class:`Requantize` with the given dither, shaping, seed and auto-blank. The output
    format follows the output's extension (WAV when in doubt); a depth that is not a
    container size fills the top bits of the next one.
    Output is written to a temporary file and renamed into place only when complete; the
    input is never written. ``snr_db`` in the report is the requantizer's signal-to-error
    ratio (its input against its output, all channels).
    """
    started = time.perf_counter()
    if block_size is not None and block_size < 1:
        raise ParameterError(f"block size must be at least 1 frame, got {block_size}")
    meta = io.info(input_path)
    block_size = block_size or max(1, DEFAULT_BLOCK_SAMPLES // meta.channels)
    if io.same_file(input_path, output_path):
        raise AudioFileError(f"output {output_path} is the input file; "
                             "choose another output path")
    requantizer = Requantize(bits, dither=dither, shaping=shaping, seed=seed,
                             auto_blank=auto_blank)
    chain = Chain(processors)
    if hold_rate is not None or rate is not None or quality != "high":
        from audioquant.sampling import Resample, SampleHold, check_rate, parse_quality

        parse_quality(quality)
        if hold_rate is not None:
            chain.append(SampleHold(hold_rate))
        if rate is not None and check_rate("rate", rate) != meta.sample_rate:
            chain.append(Resample(rate, quality=quality))
    chain.prepare(meta.sample_rate, meta.channels)
    out_rate = chain.output_rate(meta.sample_rate)
    requantizer.prepare(out_rate, meta.channels)
    fmt = io.output_format(output_path)
    subtype, dtype, shift = io.pcm_layout(fmt, bits)

    coming = meta.frames if meta.frames >= 0 else None      # the output's length to come
    for proc in chain.processors:
        length = getattr(proc, "output_frames", None)
        coming = length(coming) if length is not None and coming is not None else coming
    with io.AtomicWriter(output_path, out_rate, meta.channels, subtype, fmt,
                         tags=meta.tags, frames=coming) as writer:
        def requantized() -> Iterator[np.ndarray]:
            read = 0
            for block in _prefetch(io.blocks(meta, block_size)):
                if chain.processors:
                    # Check the input itself: a filter would smear a NaN over its
                    # neighbours and the requantizer would name the wrong sample.
                    if not np.isfinite(block).all():
                        raise non_finite_error(block, read)
                    read += block.shape[1]
                    block = chain.process(block)
                yield requantizer.process_codes(block, dtype=dtype, shift=shift)
            # (An empty tail of the reader's dtype: the kernel then needs no second
            # compiled variant, which would cost a cache load at start-up.)
            tail = chain.flush() if chain.processors \
                else np.zeros((meta.channels, 0), meta.read_dtype)
            yield requantizer.process_codes(tail, dtype=dtype, shift=shift, final=True)

        frames = _write_behind(writer, requantized())

    signal, error = requantizer.energy.sum(axis=0)
    snr = float("inf") if error == 0 else float(10 * np.log10(max(signal, 1e-300) / error))
    return RenderReport(
        output=os.fspath(output_path), input=os.fspath(input_path), sample_rate=out_rate,
        channels=meta.channels, frames=frames, bits=bits, subtype=subtype, format=fmt,
        dither=dither, shaping=requantizer.shaper.name if requantizer.shaper else "none",
        seed=requantizer.seed, clips=[int(c) for c in requantizer.clips], snr_db=snr,
        seconds=time.perf_counter() - started)
