"""The render engine: a :class:`Source` streamed through a :class:`Chain` into a :class:`Sink`.

Each processor in the chain is wrapped in a stage that drops the processor's own latency
(output samples of delay) from the start of its output and, at the end of the stream,
appends its flushed tail and cuts the output to the processor's declared length
(``output_frames(input_frames)``). So the output lines up with the input sample for
sample, and rendering in blocks of any size gives identical output. The chain is planned
from what each processor declares (``output_rate``, ``output_channels``,
``output_frames``, ``latency``), so a render knows its rate, channels and length before it
starts.

A source (:class:`AudioFileSource`: a file read in blocks) gives blocks at a rate; a sink
(:class:`PcmFileSink`) takes the chain's output: it requantizes to integer codes, written
straight into the container's top bits by the atomic writer. :func:`render` runs one file
through them. Memory stays bounded by the block size, however long the file.
"""

from __future__ import annotations

import inspect
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audioquant import io
from audioquant.dsp import held_signals
from audioquant.errors import AudioFileError, ParameterError
from audioquant.processors import Gain, Processor, Requantize, fit_frames, non_finite_error
from audioquant.spec import OPTIONS, RenderSpec

#: Samples (frames x channels) per block when no block size is given: 4 MB of float64,
#: large enough that per-block overhead (kernel dispatch, thread hand-offs) is noise.
DEFAULT_BLOCK_SAMPLES = 1 << 19


class _Stage:
    """One processor in a stream: trims its latency, flushes and cuts its tail."""

    def __init__(self, proc: Processor) -> None:
        self.proc = proc
        self.to_drop = int(proc.latency)
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
        """The tail: what ``flush`` returns, cut or padded with zeros so that the whole
        output is ``output_frames(frames_in)`` long."""
        tail = self._emit(self.proc.flush())
        before = self.frames_out - tail.shape[1]
        return fit_frames(tail, self.proc.output_frames(self.frames_in) - before)


class Chain(Processor):
    """Processors in series, list-like: ``Chain([Resample(44100), Requantize(16)])``.

    ``prepare`` gives each processor the rate and channel count its predecessor outputs,
    so a chain may change both (``Chain([Pan(-0.5), Resample(48000)])`` makes stereo of a
    mono source). ``latency`` of a chain is 0: every stage's own delay is compensated
    inside; ``output_rate``, ``output_channels`` and ``output_frames`` are those of the
    processors in turn.
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

    def __repr__(self) -> str:
        return f"Chain({self.processors!r})"

    def append(self, proc: Processor) -> None:
        """Add a processor at the end (before ``prepare``)."""
        self.processors.append(proc)

    def prepare(self, sample_rate: int, channels: int) -> None:
        """Prepare every processor at the rate and channel count its predecessor outputs."""
        rate, count = sample_rate, channels
        for proc in self.processors:
            proc.prepare(rate, count)
            rate, count = proc.output_rate(rate), proc.output_channels(count)
        super().prepare(sample_rate, channels)

    def reset(self) -> None:
        for proc in self.processors:
            proc.reset()
        self._stages = [_Stage(p) for p in self.processors]

    def output_rate(self, sample_rate: int) -> int:
        for proc in self.processors:
            sample_rate = proc.output_rate(sample_rate)
        return sample_rate

    def output_channels(self, channels: int) -> int:
        for proc in self.processors:
            channels = proc.output_channels(channels)
        return channels

    def output_frames(self, input_frames: int) -> int:
        """The chain's output length for ``input_frames`` input frames (after
        ``prepare``: a processor's length can depend on its rate)."""
        for proc in self.processors:
            input_frames = proc.output_frames(input_frames)
        return int(input_frames)

    def process(self, block: np.ndarray) -> np.ndarray:
        for stage in self._stages:
            block = stage.process(block)
        return block

    def flush(self) -> np.ndarray:
        """Drain every stage in order: each tail runs through the stages after it."""
        out = np.zeros((self.output_channels(self.channels), 0))
        for i, stage in enumerate(self._stages):
            tail = stage.flush()
            for later in self._stages[i + 1:]:
                tail = later.process(tail)
            out = np.concatenate([out, tail], axis=1) if out.shape[1] else tail
        return out


def _put(items: queue.Queue, item: object) -> None:
    """``items.put(item)`` from the main thread, safe from Ctrl-C: a KeyboardInterrupt
    raised inside the queue's ``with lock:`` can leave the lock held (CPython raises
    signals between a lock's ``__enter__`` and its ``try``) and every later put or get
    then hangs. So each try holds the signals (:func:`audioquant.dsp.held_signals`) and
    waits at most 0.1 s; a signal is raised between tries."""
    while True:
        with held_signals():
            try:
                items.put(item, timeout=0.1)
                return
            except queue.Full:
                pass


def _get(items: queue.Queue) -> object:
    """``items.get()`` from the main thread, safe from Ctrl-C (see :func:`_put`)."""
    while True:
        with held_signals():
            try:
                return items.get(timeout=0.1)
            except queue.Empty:
                pass


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
            item = _get(items)
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()

        def drain() -> None:            # unblock a reader waiting on a full queue
            with held_signals():
                try:
                    items.get(timeout=0.01)
                except queue.Empty:
                    thread.join(0.01)
        _until_ended(thread, drain)


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
            _put(items, block)
            frames += block.shape[1]
    finally:
        ended = []

        def hand_over() -> None:
            if not ended:
                _put(items, None)
                ended.append(True)
            thread.join(0.1)
        _until_ended(thread, hand_over)
    if failure:
        raise failure[0]
    return frames


def _until_ended(thread: threading.Thread, step) -> None:
    """Call ``step()`` until ``thread`` has ended, even if Ctrl-C comes meanwhile (it is
    raised once the thread is done): a reader or writer thread still inside libsndfile
    when its file is closed, or when the interpreter exits, crashes the process."""
    interrupted: BaseException | None = None
    while thread.is_alive():
        try:
            step()
        except KeyboardInterrupt as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted


class Source:
    """Where a render's audio comes from: blocks ``(channels, n)`` at ``sample_rate`` Hz.

    ``frames`` is the length to come (None when not known until the end), ``tags`` the
    text tags to pass on (title, artist, ...), ``dtype`` the float dtype of the blocks,
    ``name`` what error messages and reports call it. A source is read once per render,
    from its start: :meth:`blocks` yields blocks of ``block_size`` frames (the last may be
    shorter). An audio file (:class:`AudioFileSource`) is one; a MIDI performance played
    by an instrument is another: the chain and the sink take either unchanged.
    """

    name: str = ""
    sample_rate: int = 0
    channels: int = 0
    frames: int | None = None
    dtype: str = "float64"
    tags: dict[str, str] = {}

    def blocks(self, block_size: int) -> Iterator[np.ndarray]:
        """Yield the audio as ``(channels, n)`` float blocks of ``block_size`` frames."""
        raise NotImplementedError


class AudioFileSource(Source):
    """An audio file, streamed in blocks: ``path`` (``-`` for standard input) or the
    :class:`~audioquant.io.AudioInfo` that describes it. The blocks are of the dtype that
    holds the file's samples exactly; AudioFileError if it is missing, not audio or
    shorter than its header says."""

    def __init__(self, path: str | os.PathLike | io.AudioInfo) -> None:
        self.info = path if isinstance(path, io.AudioInfo) else io.info(path)
        self.name = self.info.path
        self.sample_rate = self.info.sample_rate
        self.channels = self.info.channels
        self.frames = self.info.frames if self.info.frames >= 0 else None
        self.dtype = self.info.read_dtype
        self.tags = self.info.tags

    def __repr__(self) -> str:
        return f"AudioFileSource({self.name!r})"

    def blocks(self, block_size: int) -> Iterator[np.ndarray]:
        return io.blocks(self.info, block_size)


class Sink:
    """Where a render's audio goes: :meth:`prepare` with the chain's output rate and
    channel count, then :meth:`consume` the whole stream (which returns the frames
    written). A sink sees the end of the stream as the end of the iterator."""

    sample_rate: int = 0
    channels: int = 0

    def prepare(self, sample_rate: int, channels: int) -> None:
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)

    def consume(self, blocks: Iterable[np.ndarray], *, frames: int | None = None,
                tags: dict[str, str] | None = None) -> int:
        """Take every block ``(channels, n)`` of the stream; ``frames``: its length, where
        known. Return the frames taken."""
        raise NotImplementedError


class PcmFileSink(Sink):
    """A PCM file: ``requantizer`` turns the stream into integer codes, written straight
    into the top bits of the container the output's extension names (WAV when in doubt)
    by an :class:`~audioquant.io.AtomicWriter` (a temporary file renamed into place when
    complete) on a writer thread. After :meth:`prepare`: ``format`` and ``subtype``; after
    :meth:`consume`: ``peak_dbfs``, the largest magnitude written (dB re full scale; -inf
    for digital silence). ``compare``: a :class:`SourceComparison` told every level
    written, for the SNR against the source."""

    def __init__(self, path: str | os.PathLike, requantizer: Requantize, *,
                 compare: SourceComparison | None = None) -> None:
        self.path = path
        self.requantizer = requantizer
        self.compare = compare
        self.format = ""
        self.subtype = ""
        self.peak_dbfs = -math.inf

    def __repr__(self) -> str:
        return f"PcmFileSink({os.fspath(self.path)!r}, bits={self.requantizer.bits})"

    def prepare(self, sample_rate: int, channels: int) -> None:
        """Prepare the requantizer, then check the format (ParameterError for an output
        name no PCM format goes by)."""
        self.requantizer.prepare(sample_rate, channels)
        super().prepare(sample_rate, channels)
        self.format = io.output_format(self.path)
        self.subtype, self._dtype, self._shift = io.pcm_layout(self.format,
                                                               self.requantizer.bits)

    def consume(self, blocks: Iterable[np.ndarray], *, frames: int | None = None,
                tags: dict[str, str] | None = None) -> int:
        with io.AtomicWriter(self.path, self.sample_rate, self.channels, self.subtype,
                             self.format, tags=tags, frames=frames) as writer:
            return _write_behind(writer, self._codes(blocks))

    def _codes(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Codes of every block, then, at the end of the stream, of the requantizer's
        held-back look-ahead."""
        codes = self.requantizer.process_codes
        dtype = np.float64
        top = 0                        # the largest |code| written
        for block in blocks:
            dtype = block.dtype        # (the end alike: no second compiled kernel variant)
            out = codes(block, dtype=self._dtype, shift=self._shift)
            top = max(top, _largest_code(out))
            self._compare(out)
            yield out
        end = np.zeros((self.channels, 0), dtype)
        out = codes(end, dtype=self._dtype, shift=self._shift, final=True)
        top = max(top, _largest_code(out))
        self._compare(out)
        yield out
        full_scale = 2 ** (self.requantizer.bits - 1 + self._shift)
        self.peak_dbfs = 20 * math.log10(top / full_scale) if top else -math.inf


    def _compare(self, codes: np.ndarray) -> None:
        if self.compare is not None and codes.shape[1]:
            self.compare.output(codes, 2.0 ** (self.requantizer.bits - 1 + self._shift))


class SourceComparison:
    """The signal-to-error ratio of a render against its source, streamed: the source's
    blocks go in (:meth:`source`) as they are read, the levels written (:meth:`output`)
    as they are made, frame n of one against frame n of the other. For renders that keep
    the rate and channel count (the chain's latency is trimmed, so frames line up). The
    reference is the source times ``gain`` (the level change asked for, linear), so the
    error is everything else the render changed: rate reduction, clipping, requantizing.

    ``aligned=False`` (the rate or channels change): no comparison, only the spectra.
    ``spectra``: a :class:`RenderSpectra` given the source (times ``gain``), the output
    and, when aligned, the error, as they stream.
    """

    def __init__(self, gain: float = 1.0, *, aligned: bool = True,
                 spectra: RenderSpectra | None = None) -> None:
        self.gain = float(gain)
        self.aligned = aligned
        self.spectra = spectra
        self._pending: list[np.ndarray] = []
        self._offset = 0            # frames of _pending[0] already compared
        self.signal = 0.0           # sum of source**2
        self.error = 0.0            # sum of (output - source)**2

    def source(self, block: np.ndarray) -> None:
        if not block.shape[1]:
            return
        if self.aligned:
            self._pending.append(block)
        if self.spectra is not None:
            self.spectra.source.add(block * self.gain)

    def output(self, codes: np.ndarray, full_scale: float) -> None:
        """Compare integer ``codes`` (full scale ``full_scale``) with the next source frames."""
        if self.spectra is not None:
            self.spectra.output.add(codes / full_scale)
        done = 0
        while done < codes.shape[1] and self._pending:
            head = self._pending[0]
            n = min(head.shape[1] - self._offset, codes.shape[1] - done)
            x = head[:, self._offset:self._offset + n] * self.gain
            y = codes[:, done:done + n] / full_scale
            self.signal += float(np.vdot(x, x))
            e = y - x
            self.error += float(np.vdot(e, e))
            if self.spectra is not None:
                self.spectra.error.add(e)
            done += n
            self._offset += n
            if self._offset == head.shape[1]:
                self._pending.pop(0)
                self._offset = 0

    @property
    def snr_db(self) -> float | None:
        """``10 log10(signal / error)`` [dB]; inf for an exact copy (or no signal); None
        when not aligned."""
        if not self.aligned:
            return None
        if self.error == 0:
            return math.inf
        return 10 * math.log10(max(self.signal, 1e-300) / self.error)


class RenderSpectra:
    """Welch spectra of one render, collected as it streams (``audioquant render
    --plot``): the source times the gain asked for (at the source rate), the output, and
    the error (output minus that source, where frames line up). Each is mean square per
    bin, full scale 1.0, channels averaged (:class:`audioquant.analysis_stream._Welch`)."""

    def __init__(self) -> None:
        self.source_rate = self.output_rate = 0

    def prepare(self, source_rate: int, source_channels: int, output_rate: int,
                output_channels: int) -> None:
        from audioquant.analysis_stream import _Welch

        self.source_rate, self.output_rate = source_rate, output_rate
        self.source = _Welch(source_channels)
        self.output = _Welch(output_channels)
        self.error = _Welch(output_channels)

    def curves(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{"source" | "output" | "error": (freqs Hz, mean square per bin)}``: those
        with at least 2 frames."""
        out = {}
        for name, welch, rate in (("source", self.source, self.source_rate),
                                  ("output", self.output, self.output_rate),
                                  ("error", self.error, self.output_rate)):
            spec = welch.spectrum(rate)
            if spec is not None:
                out[name] = spec
        return out


class _Tapped(Source):
    """``source``, its blocks also handed to ``compare`` as they are read."""

    def __init__(self, source: Source, compare: SourceComparison) -> None:
        self.inner, self.compare = source, compare
        for name in ("name", "sample_rate", "channels", "frames", "dtype", "tags"):
            setattr(self, name, getattr(source, name))

    def blocks(self, block_size: int) -> Iterator[np.ndarray]:
        for block in self.inner.blocks(block_size):
            self.compare.source(block)
            yield block


def _largest_code(codes: np.ndarray) -> int:
    """The largest magnitude among integer ``codes`` (in Python ints: no overflow at the
    most negative code)."""
    return max(int(codes.max()), -int(codes.min())) if codes.size else 0


#: ``progress(frames_done, frames_total)``: called as a render takes in each block of its
#: source (``frames_total`` None where the source does not know its length).
Progress = Callable[[int, "int | None"], None]


def _stream(source: Source, chain: Chain, block_size: int,
            progress: Progress | None = None) -> Iterator[np.ndarray]:
    """``source`` through the prepared ``chain``, block by block, then the chain's tail
    (the source is read ahead on a thread)."""
    read = 0
    for block in _prefetch(source.blocks(block_size)):
        taken = block.shape[1]
        if chain.processors:
            # Check the input itself: a filter would smear a NaN over its
            # neighbours and the requantizer would name the wrong sample.
            if not np.isfinite(block).all():
                raise non_finite_error(block, read)
            block = chain.process(block)
        read += taken
        if progress is not None:
            progress(read, source.frames)
        yield block
    if chain.processors:
        yield chain.flush()


def run(source: Source, chain: Chain, sink: Sink, block_size: int | None = None, *,
        progress: Progress | None = None) -> int:
    """Stream ``source`` through ``chain`` into ``sink`` in blocks of ``block_size`` frames
    (default: 2**19 samples' worth); return the frames the sink took. ``progress(done,
    total)`` is told the source frames taken in after each block.

    The chain is prepared at the source's rate and channel count, the sink at the chain's
    output rate and channel count, and told the output's length where the source knows
    its own (``chain.output_frames(source.frames)``). Any source, any sink.
    """
    if block_size is not None and block_size < 1:
        raise ParameterError(f"block size must be at least 1 frame, got {block_size}")
    block_size = block_size or max(1, DEFAULT_BLOCK_SAMPLES // source.channels)
    chain.prepare(source.sample_rate, source.channels)
    sink.prepare(chain.output_rate(source.sample_rate), chain.output_channels(source.channels))
    coming = None if source.frames is None else chain.output_frames(source.frames)
    return sink.consume(_stream(source, chain, block_size, progress), frames=coming,
                        tags=source.tags)


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
    #: The output frame of the first saturated sample (any channel); None if none clipped.
    first_clip: int | None = None
    #: The largest magnitude written, dB re full scale (-inf for digital silence).
    peak_dbfs: float = -math.inf
    #: The requantizer alone: its input against its output, all channels [dB].
    snr_db: float = float("inf")
    #: The whole render: the source (times the gain asked for) against the file written,
    #: all channels [dB]; None when the rate or the channel count changed (no
    #: frame-for-frame comparison).
    source_snr_db: float | None = None
    #: What the noise shaper does to the ITU-R 468-weighted noise against flat dither of
    #: the same kind, predicted from its filter [dB; negative is quieter]; 0 unshaped.
    shaping_gain_db: float = 0.0
    #: The gain applied before requantizing (``gain_db``, or what ``normalize_dbfs`` found).
    gain_db: float = 0.0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """Plain JSON-ready values."""
        return dict(self.__dict__)


def render(input_path: RenderSpec | str | os.PathLike,
           output_path: str | os.PathLike | None = None, *,
           processors: Iterable[Processor] = (), progress: Progress | None = None,
           spectra: RenderSpectra | None = None, **options: Any) -> RenderReport:
    """Render ``input_path`` to a ``bits``-bit PCM file at ``output_path``; or render a
    :class:`~audioquant.spec.RenderSpec`: ``render(spec)``.

    The options and their defaults are those of :class:`~audioquant.spec.RenderOptions`
    (the same as the command line's and the presets'; listed below). The audio streams
    in blocks of ``block_size`` frames (default: 2**19 samples' worth, 262144 frames for
    stereo) through ``processors``, then a sample-and-hold at ``hold_rate`` Hz (lo-fi
    rate reduction, no filter) and a band-limited resampler to ``rate`` Hz at
    ``quality`` where asked, then the gain (``gain_db``, or the gain that puts the peak
    sample at ``normalize_dbfs``, found by a first pass through the same chain), then a
    :class:`Requantize` with the given dither, shaping, seed and auto-blank. The output
    format follows the output's extension (WAV when in doubt); a depth that is not a
    container size fills the top bits of the next one.
    Output is written to a temporary file and renamed into place only when complete; the
    input is never written. ``progress(done, total)`` is called as blocks are taken in.
    ``spectra``: a :class:`RenderSpectra` to fill (what ``render --plot`` draws).
    ``snr_db`` in the report is the requantizer's signal-to-error
    ratio (its input against its output, all channels). An unknown option is a
    TypeError, a bad value a ParameterError naming it, before any file is opened.
    """
    if isinstance(input_path, RenderSpec):
        if output_path is not None or options:
            raise TypeError("render(spec) takes no output path or options: the spec holds "
                            "them (dataclasses.replace makes a changed copy)")
        spec = input_path
    else:
        if output_path is None:
            raise TypeError("render() needs an output path: render(input, output, ...) or "
                            "render(spec)")
        spec = RenderSpec.of(input_path, output_path, **options)
    return _render(spec, processors, progress, spectra)


def _render_signature() -> inspect.Signature:
    """``render``'s signature, with every option's default from the spec."""
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter("input_path", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter("output_path", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          default=None),
        inspect.Parameter("processors", kw, default=()),
        inspect.Parameter("progress", kw, default=None),
        inspect.Parameter("spectra", kw, default=None),
        *(inspect.Parameter(name, kw, default=option.default)
          for name, option in OPTIONS.items()),
    ]
    return inspect.Signature(params, return_annotation=RenderReport)


def _options_doc() -> str:
    lines = ["", "    Options", "    -------"]
    for name, option in OPTIONS.items():
        unit = f" [{option.unit}]" if option.unit else ""
        lines.append(f"    {name} : default {option.default!r}{unit}")
        lines.append(f"        {option.help} (flag {option.flag}).")
    return "\n".join(lines) + "\n"


render.__signature__ = _render_signature()  # type: ignore[attr-defined]
render.__doc__ = (render.__doc__ or "") + _options_doc()


def render_one(spec: RenderSpec, progress: Progress | None = None) -> RenderReport:
    """Run one render job: what every batch backend calls (a process pool, a Dask
    worker). A top-level function of the spec alone, so it pickles; the result is a
    plain dataclass, so it pickles back. ``progress(done, total)``: fractions of the job
    in any unit (source frames; a normalizing render counts its two passes)."""
    if not isinstance(spec, RenderSpec):
        raise TypeError(f"render_one takes a RenderSpec, got {type(spec).__name__}")
    return _render(spec, (), progress)


def _render(spec: RenderSpec, processors: Iterable[Processor],
            progress: Progress | None = None, spectra: RenderSpectra | None = None
            ) -> RenderReport:
    """The render itself (see :func:`render`)."""
    opts = spec.options
    input_path, output_path = spec.source, spec.output
    bits, dither, rate, hold_rate = opts.bits, opts.dither, opts.rate, opts.hold_rate
    started = time.perf_counter()
    source = open_source(spec)
    if io.same_file(input_path, output_path):
        raise AudioFileError(f"output {output_path} is the input file; "
                             "choose another output path")
    requantizer = Requantize(bits, dither=dither, shaping=opts.shaping, seed=opts.seed,
                             auto_blank=opts.auto_blank)
    chain = Chain(processors)
    if hold_rate is not None or rate is not None:
        from audioquant.sampling import Resample, SampleHold

        if hold_rate is not None:
            chain.append(SampleHold(hold_rate))
        if rate is not None and rate != source.sample_rate:
            chain.append(Resample(rate, quality=opts.quality))
    gain_db = opts.gain_db
    if opts.normalize_dbfs is not None:     # a first pass: the peak the requantizer gets
        chain.prepare(source.sample_rate, source.channels)
        block_size = opts.block_size or max(1, DEFAULT_BLOCK_SAMPLES // source.channels)
        first_pass, progress = _two_passes(progress, source.frames)
        peak = _peak(_stream(source, chain, block_size, first_pass))
        gain_db = opts.normalize_dbfs - 20 * math.log10(peak) if peak > 0 else 0.0
    if gain_db:
        chain.append(Gain(gain_db))
    compare = None
    out_rate = chain.output_rate(source.sample_rate)
    out_channels = chain.output_channels(source.channels)
    # Frames line up: measure against the source (at the level asked for).
    aligned = (out_rate, out_channels) == (source.sample_rate, source.channels)
    if spectra is not None:
        spectra.prepare(source.sample_rate, source.channels, out_rate, out_channels)
    if aligned or spectra is not None:
        compare = SourceComparison(10 ** (gain_db / 20), aligned=aligned, spectra=spectra)
        source = _Tapped(source, compare)
    sink = PcmFileSink(output_path, requantizer, compare=compare)
    frames = run(source, chain, sink, opts.block_size, progress=progress)

    signal, error = requantizer.energy.sum(axis=0)
    snr = float("inf") if error == 0 else float(10 * np.log10(max(signal, 1e-300) / error))
    return RenderReport(
        output=os.fspath(output_path), input=os.fspath(input_path),
        sample_rate=sink.sample_rate, channels=sink.channels, frames=frames, bits=bits,
        subtype=sink.subtype, format=sink.format,
        dither=dither, shaping=requantizer.shaper.name if requantizer.shaper else "none",
        seed=requantizer.seed, clips=[int(c) for c in requantizer.clips],
        first_clip=requantizer.first_clip, peak_dbfs=sink.peak_dbfs, snr_db=snr,
        source_snr_db=None if compare is None else compare.snr_db,
        shaping_gain_db=_shaping_gain_db(requantizer, sink.sample_rate),
        gain_db=gain_db, seconds=time.perf_counter() - started)


def _shaping_gain_db(requantizer: Requantize, sample_rate: int) -> float:
    """The 468-weighted noise change of ``requantizer``'s shaper at ``sample_rate`` [dB]."""
    if requantizer.shaper is None:
        return 0.0
    from audioquant.processors import weighted_noise_gain_db

    return float(weighted_noise_gain_db(requantizer.shaper, sample_rate))


def open_source(spec: RenderSpec) -> Source:
    """The source of ``spec``: a MIDI file (by its header, or its name ending where it
    cannot be read) played by ``spec.options.instrument`` at ``spec.options.rate`` (default
    44.1 kHz) after ``spec.quantize``; otherwise an audio file. ParameterError for quantize
    settings on an audio file."""
    from audioquant import bounce

    opts = spec.options
    if spec.source != "-" and bounce.is_midi(spec.source):
        return bounce.MidiSource(spec.source, bounce.make_instrument(opts.instrument),
                                 sample_rate=opts.rate or bounce.DEFAULT_MIDI_RATE,
                                 quantize=spec.quantize)
    if spec.quantize is not None:
        raise ParameterError(f"quantize settings apply to a MIDI input; {spec.source} is "
                             "read as audio")
    return AudioFileSource(spec.source)


def _two_passes(progress: Progress | None, frames: int | None
                ) -> tuple[Progress | None, Progress | None]:
    """The progress callbacks of a normalizing render's two passes over ``frames`` source
    frames, reported as one job of ``2 * frames``."""
    if progress is None or not frames:
        return None, None

    def first(done: int, total: int | None) -> None:
        progress(done, 2 * frames)

    def second(done: int, total: int | None) -> None:
        progress(frames + done, 2 * frames)

    return first, second


def _peak(blocks: Iterable[np.ndarray]) -> float:
    """The largest magnitude in ``blocks`` (NonFiniteSampleError at the first NaN/Inf)."""
    peak, done = 0.0, 0
    for block in blocks:
        if block.size:
            top = float(np.max(np.abs(block)))
            if not math.isfinite(top):
                raise non_finite_error(block, done)
            peak = max(peak, top)
        done += block.shape[1]
    return peak
