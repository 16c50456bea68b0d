"""The Chain: block-size invariance, reset, latency compensation, list-like use."""

from __future__ import annotations

import numpy as np
import pytest

from audioquant.engine import Chain
from audioquant.processors import Processor, Requantize
from audioquant.sampling import Resample, SampleHold


class Delay(Processor):
    """A plain test processor: delays by ``latency`` samples and reports it."""

    def __init__(self, latency: int) -> None:
        super().__init__()
        self.latency = latency

    def reset(self) -> None:
        self.buffer = np.zeros((self.channels, self.latency))

    def process(self, block):
        joined = np.concatenate([self.buffer, block], axis=1)
        self.buffer = joined[:, joined.shape[1] - self.latency:]
        return joined[:, : joined.shape[1] - self.latency]

    def flush(self):
        return self.buffer


def run_in_blocks(chain: Chain, x: np.ndarray, rate: int, size: int) -> np.ndarray:
    chain.prepare(rate, x.shape[0])
    parts = [chain.process(x[:, i:i + size]) for i in range(0, x.shape[1], size)]
    parts.append(chain.flush())
    return np.concatenate(parts, axis=1)


@pytest.mark.parametrize("size", [1, 64, 65, 8192, 8193])
def test_chain_output_does_not_depend_on_block_size(rng, size):
    x = 0.3 * rng.standard_normal((2, 20000))
    x[:, 12000:] = 0.0
    chain = Chain([SampleHold(11025), Delay(37), Requantize(12, shaping="lipshitz")])
    whole = chain(x, 44100)
    assert whole.shape == x.shape
    assert np.array_equal(run_in_blocks(chain, x, 44100, size), whole)


def test_latency_is_compensated(rng):
    x = 0.3 * rng.standard_normal((1, 5000))
    out = Chain([Delay(100), Delay(23)])(x, 48000)
    np.testing.assert_array_equal(out, x)


def test_reset_equals_fresh(rng):
    x = 0.3 * rng.standard_normal((2, 3000))
    chain = Chain([Resample(48000), Requantize(16)])
    first = chain(x, 44100)
    chain.reset()
    parts = [chain.process(x[:, :1000]), chain.process(x[:, 1000:]), chain.flush()]
    assert np.array_equal(np.concatenate(parts, axis=1), first)
    assert first.shape[1] == (2 * 3000 * 160 + 147) // (2 * 147)  # round(J * 48000 / 44100)


def test_chain_is_list_like_and_reports_its_rate():
    chain = Chain([SampleHold(8000)])
    chain.append(Resample(22050))
    assert len(chain) == 2 and isinstance(chain[1], Resample)
    assert [type(p) for p in chain] == [SampleHold, Resample]
    assert chain.output_rate(44100) == 22050


def test_mono_array_in_mono_array_out():
    x = np.linspace(-0.5, 0.5, 1000)
    y = Requantize(8, dither="none")(x, 8000)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, np.floor(x * 128 + 0.5) / 128)
