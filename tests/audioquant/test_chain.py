"""The processor interface and the engine's source -> chain -> sink.

Every processor declares its output rate, channels, latency and length; these tests hold
each declaration against what the processor actually does (its own ``process`` and
``flush``, not the engine's cut), check that a chain may change the channel count, and that
a source other than an audio file goes through the same chain and sink unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from audioquant import io
from audioquant.engine import AudioFileSource, Chain, PcmFileSink, Sink, Source, run
from audioquant.errors import ParameterError
from audioquant.processors import Mix, Pan, Processor, Requantize
from audioquant.sampling import Resample, SampleHold
from tests.audioquant.test_engine import Delay

LENGTHS = [0, 1, 2, 7, 100, 4097]
BLOCKS = [1, 64, 4096]




# (name, factory, input rate, input channels)
PROCESSORS = [
    ("requantize", lambda: Requantize(16), 44100, 2),
    ("requantize-shaped", lambda: Requantize(8, shaping="lipshitz", blank_run=5), 44100, 1),
    ("resample-up", lambda: Resample(48000), 44100, 2),
    ("resample-down", lambda: Resample(8000, quality="quick"), 96000, 1),
    ("resample-same", lambda: Resample(44100), 44100, 1),
    ("hold", lambda: SampleHold(11025), 44100, 2),
    ("hold-at-rate", lambda: SampleHold(7000, at_hold_rate=True), 44100, 1),
    ("delay", lambda: Delay(37), 48000, 2),
    ("pan", lambda: Pan(0.25), 48000, 1),
    ("mix-down", lambda: Mix([[0.5, 0.5]]), 48000, 2),
    ("mix-up", lambda: Mix([[1.0, 0.0], [0.3, -0.7], [0.0, 1.0]]), 48000, 2),
]
IDS = [p[0] for p in PROCESSORS]


def signal(channels: int, frames: int, seed: int = 5) -> np.ndarray:
    return 0.3 * np.random.default_rng(seed).standard_normal((channels, frames))


def raw_stream(proc: Processor, x: np.ndarray, rate: int, size: int) -> np.ndarray:
    """What the processor itself returns, block by block and its flush, nothing cut."""
    proc.prepare(rate, x.shape[0])
    parts = [proc.process(x[:, i:i + size]) for i in range(0, x.shape[1], size)]
    parts.append(proc.flush())
    return np.concatenate(parts, axis=1)


def run_in_blocks(chain: Processor, x: np.ndarray, rate: int, size: int) -> np.ndarray:
    chain.prepare(rate, x.shape[0])
    parts = [chain.process(x[:, i:i + size]) for i in range(0, x.shape[1], size)]
    parts.append(chain.flush())
    return np.concatenate(parts, axis=1)


# -- each processor's declarations hold ----------------------------------------------


@pytest.mark.parametrize("name,make,rate,channels", PROCESSORS, ids=IDS)
@pytest.mark.parametrize("size", BLOCKS)
def test_declared_length_is_what_the_processor_produces(name, make, rate, channels, size):
    # The processor's own stream (no engine cut) is its latency plus output_frames(n)
    # long, with output_channels(c) rows, for every length and block size.
    proc = make()
    for n in LENGTHS:
        out = raw_stream(proc, signal(channels, n), rate, size)
        assert out.shape == (proc.output_channels(channels),
                             proc.latency + proc.output_frames(n)), (n, size)


@pytest.mark.parametrize("name,make,rate,channels", PROCESSORS, ids=IDS)
def test_whole_array_call_and_chain_give_the_declared_length(name, make, rate, channels):
    for n in LENGTHS:
        x = signal(channels, n)
        proc = make()
        whole = proc(x, rate)
        assert whole.shape == (proc.output_channels(channels), proc.output_frames(n))
        chain = Chain([make()])
        for size in BLOCKS:
            out = run_in_blocks(chain, x, rate, size)
            assert out.shape == (chain.output_channels(channels), chain.output_frames(n))
            assert np.array_equal(out, whole), (n, size)


def test_declared_lengths_follow_theory():
    # Independent of the code: J * L / M rounded (Resample), ceil(J * h / fs) at the hold
    # rate, unchanged for the rest.
    up = Resample(48000)
    up.prepare(44100, 1)
    assert [up.output_frames(n) for n in (0, 1, 147, 4097)] == \
        [0, 1, 160, round(4097 * 160 / 147)]
    hold = SampleHold(11025, at_hold_rate=True)
    hold.prepare(44100, 1)
    assert [hold.output_frames(n) for n in (0, 1, 4, 5, 4097)] == [0, 1, 1, 2, 1025]
    for proc in (Requantize(16), SampleHold(11025), Pan(0.0), Delay(5)):
        proc.prepare(44100, 1)
        assert proc.output_frames(4097) == 4097
        assert proc.output_rate(44100) == 44100


def test_processors_declare_rate_and_channels():
    assert Resample(22050).output_rate(44100) == 22050
    assert SampleHold(8000, at_hold_rate=True).output_rate(44100) == 8000
    assert SampleHold(8000).output_rate(44100) == 44100
    assert Pan(0.5).output_channels(1) == 2
    assert Mix(np.ones((3, 2))).output_channels(2) == 3
    for proc in (Requantize(16), Resample(48000), SampleHold(8000), Processor()):
        assert proc.output_channels(5) == 5
        assert proc.latency == 0          # before prepare: nothing known, nothing added


def test_chain_composes_the_declarations():
    chain = Chain([SampleHold(11025, at_hold_rate=True), Pan(0.0), Resample(22050)])
    chain.prepare(44100, 1)
    assert chain.output_rate(44100) == 22050
    assert chain.output_channels(1) == 2
    assert chain.latency == 0
    # 4 input samples per held value, then exactly twice the rate
    assert [chain.output_frames(n) for n in (0, 1, 4, 5, 4097)] == [0, 2, 2, 4, 2050]


class Decimate(Processor):
    """A user's processor that only declares: every other sample (no filter), at half
    the rate; the stream's even-indexed samples whatever the blocks."""

    def reset(self) -> None:
        self.position = 0

    def output_rate(self, sample_rate: int) -> int:
        return sample_rate // 2

    def output_frames(self, input_frames: int) -> int:
        return (input_frames + 1) // 2

    def process(self, block):
        out = block[:, self.position % 2::2]
        self.position += block.shape[1]
        return out


@pytest.mark.parametrize("size", [1, 7, 64])
def test_a_processor_that_only_declares_plugs_into_the_chain(size):
    x = signal(1, 1001, seed=6)
    chain = Chain([Decimate(), Pan(0.0)])
    assert chain.output_rate(44100) == 22050 and chain.output_channels(1) == 2
    out = run_in_blocks(chain, x, 44100, size)
    assert out.shape == (2, chain.output_frames(1001)) == (2, 501)
    np.testing.assert_array_equal(out, Pan(0.0).gains * x[:, ::2])


# -- channels: a chain may change them -----------------------------------------------


@pytest.mark.parametrize("size", [1, 64, 65, 4096, 8193])
def test_channel_changing_chain_is_bit_identical_whatever_the_block_size(size):
    # mono -> stereo (pan), through a resampler and a shaped requantizer on two channels;
    # then stereo -> three channels (a matrix whose rows sum two inputs).
    x = signal(1, 9000)
    x[:, 6000:] = 0.0                  # a silent end, where auto-blank acts
    chain = Chain([Pan(-0.4), Resample(48000),
                   Mix([[1.0, 0.0], [0.6, 0.4], [0.0, 1.0]]), Requantize(12, shaping="designed")])
    whole = chain(x, 44100)
    assert whole.shape == (3, chain.output_frames(9000)) == (3, round(9000 * 160 / 147))
    assert np.array_equal(run_in_blocks(chain, x, 44100, size), whole)


def test_chain_prepares_each_processor_with_its_predecessors_channels():
    pan, hold, req = Pan(0.0), SampleHold(8000), Requantize(16)
    chain = Chain([pan, hold, req])
    chain.prepare(44100, 1)
    assert (pan.channels, hold.channels, req.channels) == (1, 2, 2)
    with pytest.raises(ParameterError, match="takes 1 input channels, got 2"):
        Chain([Pan(0.0)]).prepare(44100, 2)


@pytest.mark.parametrize("procs", [
    [Pan(0.3)],
    [Pan(0.3), Requantize(16)],
    [Pan(0.3), Resample(48000)],
    [Mix([[1.0, 1.0]])],
], ids=["pan", "pan-requantize", "pan-resample", "mix"])
def test_flush_of_an_empty_stream_has_the_output_channels(procs):
    chain = Chain(procs)
    channels = procs[0].gains.shape[1]
    chain.prepare(44100, channels)
    tail = chain.flush()
    assert tail.shape == (chain.output_channels(channels), 0)
    assert chain.process(np.zeros((channels, 0))).shape[0] == chain.output_channels(channels)


def test_pan_is_constant_power_with_exact_ends():
    # The textbook law: theta = (p + 1) pi / 4, left cos(theta), right sin(theta).
    for p in np.linspace(-1, 1, 41):
        left, right = Pan(p).gains[:, 0]
        theta = (p + 1) * np.pi / 4
        assert left == pytest.approx(np.cos(theta), abs=1e-15)
        assert right == pytest.approx(np.sin(theta), abs=1e-15)
        assert left**2 + right**2 == pytest.approx(1.0, abs=4e-16)  # a few ulp of 1
    assert Pan(-1).gains[:, 0].tolist() == [1.0, 0.0]
    assert Pan(1).gains[:, 0].tolist() == [0.0, 1.0]
    centre = Pan(0).gains[:, 0]
    assert centre[0] == centre[1]                                # the law is symmetric
    assert centre[0] == pytest.approx(np.sqrt(0.5), abs=2e-16)  # sin of a rounded pi/4
    assert 20 * math.log10(centre[0]) == pytest.approx(-3.0103, abs=1e-4)


def test_pan_of_a_mono_array_is_stereo():
    x = np.linspace(-0.5, 0.5, 100)
    y = Pan(0.5)(x, 44100)
    assert y.shape == (2, 100)
    np.testing.assert_array_equal(y, Pan(0.5).gains * x)       # one product each: exact
    yt = Pan(0.5)(x[:, np.newaxis], 44100)                    # soundfile's layout ...
    assert yt.shape == (100, 2)                                # ... is kept
    np.testing.assert_array_equal(yt, y.T)


def test_mix_matches_a_matrix_product():
    x = signal(3, 1000, seed=9)
    gains = np.array([[0.2, -0.5, 0.3], [1.0, 0.25, 0.0]])
    np.testing.assert_allclose(Mix(gains)(x, 48000), gains @ x, rtol=0, atol=1e-15)
    assert Mix(gains)(x.astype(np.float32), 48000).dtype == np.float64


@pytest.mark.parametrize("bad", [[1.0, 2.0], [[]], [[np.nan]], np.ones((2, 2, 2))])
def test_mix_refuses_a_bad_matrix(bad):
    with pytest.raises(ParameterError):
        Mix(bad)


@pytest.mark.parametrize("bad", [1.5, -2, "left", True, float("nan")])
def test_pan_refuses_a_bad_position(bad):
    with pytest.raises(ParameterError, match="position must be in -1..1"):
        Pan(bad)


# -- reset equals fresh ---------------------------------------------------------------


@pytest.mark.parametrize("name,make,rate,channels", PROCESSORS, ids=IDS)
def test_reset_equals_fresh(name, make, rate, channels):
    x = signal(channels, 3000, seed=3)
    proc = make()
    fresh = raw_stream(proc, x, rate, 4096)
    proc.process(x[:, :1234])                   # leave state behind
    proc.reset()
    parts = [proc.process(x[:, :1000]), proc.process(x[:, 1000:]), proc.flush()]
    assert np.array_equal(np.concatenate(parts, axis=1), fresh)


def test_chain_reset_equals_fresh():
    x = signal(1, 3000, seed=4)
    chain = Chain([Pan(0.7), Resample(48000), Requantize(16, shaping="designed")])
    first = chain(x, 44100)
    chain.process(x[:, :777])           # leave state behind
    chain.reset()
    parts = [chain.process(x[:, :500]), chain.process(x[:, 500:]), chain.flush()]
    assert np.array_equal(np.concatenate(parts, axis=1), first)


# -- latency is compensated -----------------------------------------------------------


@pytest.mark.parametrize("size", BLOCKS)
def test_an_impulse_comes_out_at_its_own_index(size):
    x = np.zeros((2, 3000))
    x[:, 1000] = 1.0
    delays = [Delay(37), Delay(100)]
    raw = raw_stream(Delay(37), x, 48000, size)
    assert np.argmax(raw[0]) == 1037                        # the delay is real ...
    out = run_in_blocks(Chain(delays), x, 48000, size)
    assert np.argmax(out[0]) == 1000                        # ... and compensated
    np.testing.assert_array_equal(out, x)


@pytest.mark.parametrize("in_rate,out_rate,t", [
    (44100, 48000, 147 * 7),       # t * 160 / 147 = 1120
    (44100, 88200, 1000),          # 2000
    (96000, 48000, 2001),          # 1000.5: the peak splits between 1000 and 1001
    (48000, 44100, 160 * 9),       # 1323
])
@pytest.mark.parametrize("size", BLOCKS)
def test_resampled_impulse_comes_out_at_the_rate_scaled_index(in_rate, out_rate, t, size):
    # The resampler is a linear-phase (symmetric) low-pass: an impulse at input t peaks at
    # output t * L / M once its latency is dropped. The raw stream peaks `latency` later.
    x = np.zeros((1, 4000))
    x[0, t] = 0.5
    proc = Resample(out_rate)
    raw = raw_stream(proc, x, in_rate, size)
    assert proc.latency > 0
    out = run_in_blocks(Chain([Resample(out_rate)]), x, in_rate, size)
    where = t * out_rate / in_rate
    peak = int(np.argmax(out[0]))
    assert int(np.argmax(raw[0])) == peak + proc.latency
    assert abs(peak - where) <= 0.5
    if where == int(where):
        assert peak == where
    else:                       # an exact half: the two neighbours are equal, by symmetry
        lo = int(where)
        assert out[0, lo] == pytest.approx(out[0, lo + 1], rel=1e-9)


# -- sources and sinks ----------------------------------------------------------------


@pytest.fixture
def stereo_file(tmp_path):
    x = signal(2, 10007, seed=8).T
    path = tmp_path / "in.wav"
    sf.write(str(path), x, 44100, subtype="PCM_24")
    return str(path)


@pytest.mark.parametrize("size", [1, 64, 4096, 10007, 20000])
def test_audio_file_source_streams_what_io_read_reads(stereo_file, size):
    source = AudioFileSource(stereo_file)
    whole, rate = io.read(stereo_file)
    assert (source.sample_rate, source.channels, source.frames) == (rate, 2, 10007)
    if size > 64:                       # (block size 1 would take a while for nothing new)
        blocks = list(source.blocks(size))
        assert all(b.shape == (2, size) for b in blocks[:-1])
        assert 0 < blocks[-1].shape[1] <= size
        assert all(b.dtype == source.dtype for b in blocks)
        assert np.array_equal(np.concatenate(blocks, axis=1), whole)
    else:
        got = np.concatenate(list(source.blocks(size)), axis=1)
        assert np.array_equal(got, whole)
    # read twice: a source starts from the beginning each time
    assert np.array_equal(np.concatenate(list(source.blocks(size)), axis=1), whole)


def test_audio_file_source_of_an_empty_file(tmp_path):
    path = str(tmp_path / "empty.wav")
    sf.write(path, np.zeros((0, 3)), 8000, subtype="PCM_16")
    source = AudioFileSource(path)
    assert (source.channels, source.frames) == (3, 0)
    assert list(source.blocks(64)) == []


class Tone(Source):
    """A source that is not a file (as a MIDI instrument will be): a mono sine computed
    block by block, its length unknown to the engine (``frames`` None)."""

    def __init__(self, frames: int, sample_rate: int = 22050) -> None:
        self.sample_rate, self.channels, self.frames, self.total = sample_rate, 1, None, frames
        self.tags = {"title": "tone"}

    def blocks(self, block_size):
        for start in range(0, self.total, block_size):
            n = np.arange(start, min(start + block_size, self.total))
            yield 0.5 * np.sin(2 * np.pi * 1000 * n / self.sample_rate)[np.newaxis, :]


class Collect(Sink):
    """A sink that keeps what it is given, to look at."""

    def consume(self, blocks, *, frames=None, tags=None):
        self.frames_told, self.tags = frames, tags
        self.audio = np.concatenate(list(blocks), axis=1)
        return self.audio.shape[1]


@pytest.mark.parametrize("size", [1, 100, None])
def test_any_source_through_a_chain_that_changes_channels_into_a_pcm_file(tmp_path, size):
    # A computed mono source, panned to stereo and requantized to 24 bits undithered: the
    # file holds round(gain * x * 2**23) in each channel, whatever the block size.
    path = str(tmp_path / "out.wav")
    requantizer = Requantize(24, dither="none")
    sink = PcmFileSink(path, requantizer)
    frames = run(Tone(3001), Chain([Pan(-0.5)]), sink, block_size=size)
    assert frames == 3001
    assert (sink.sample_rate, sink.channels, sink.format, sink.subtype) == \
        (22050, 2, "WAV", "PCM_24")
    codes, rate = io.read_int(path)
    assert rate == 22050 and codes.shape == (2, 3001)
    n = np.arange(3001)
    x = 0.5 * np.sin(2 * np.pi * 1000 * n / 22050)
    want = np.floor(Pan(-0.5).gains * x * 2**23 + 0.5).astype(np.int64) << 8
    np.testing.assert_array_equal(codes, want)
    assert sf.info(path).channels == 2


def test_run_tells_the_sink_the_planned_length_and_tags(stereo_file):
    sink = Collect()
    chain = Chain([Resample(48000), Mix([[0.5, 0.5]])])
    frames = run(AudioFileSource(stereo_file), chain, sink, block_size=999)
    assert sink.frames_told == frames == round(10007 * 160 / 147)
    assert (sink.sample_rate, sink.channels) == (48000, 1)
    assert sink.audio.shape == (1, frames)
    whole, _ = io.read(stereo_file)
    ref = Mix([[0.5, 0.5]])(Resample(48000)(whole, 44100), 48000)
    assert np.array_equal(sink.audio, ref)
    unknown = Collect()
    run(Tone(10), Chain([]), unknown)
    assert unknown.frames_told is None and unknown.tags == {"title": "tone"}


def test_run_refuses_a_bad_block_size(stereo_file):
    with pytest.raises(ParameterError, match="block size must be at least 1"):
        run(AudioFileSource(stereo_file), Chain([]), Collect(), block_size=0)


def test_render_with_a_channel_changing_processor(tmp_path):
    from audioquant.engine import render

    src = str(tmp_path / "mono.wav")
    x = np.round(signal(1, 5000, seed=2)[0] * 2**13) / 2**15      # exact 16-bit values
    sf.write(src, x, 44100, subtype="PCM_16")
    out = str(tmp_path / "stereo.wav")
    report = render(src, out, bits=24, dither="none", processors=[Pan(0.25)])
    assert report.channels == 2 and report.frames == 5000
    codes, _ = io.read_int(out)
    want = np.floor(Pan(0.25).gains * x * 2**23 + 0.5).astype(np.int64) << 8
    np.testing.assert_array_equal(codes, want)
