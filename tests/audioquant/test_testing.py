"""audioquant.testing and its pytest plugin: signals, assertions, fixtures.

Expected values come from theory (each tolerance is explained where it is used); the
plugin is exercised through its installed ``pytest11`` entry point by inner test runs
(``pytester``) that pass on a correct render and fail, naming the value and the bound, on
a wrong bit depth, on dither turned off and on a processor that depends on the block size.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from importlib.metadata import entry_points

import numpy as np
import pytest

from audioquant import Requantize, analysis
from audioquant import testing as aqt
from audioquant.errors import ParameterError
from audioquant.processors import Processor

pytest_plugins = ["pytester"]

RATE = 44100


# --------------------------------------------------------------------------- signals


def test_sine_level_shape_and_channels() -> None:
    x = aqt.sine(441.0, -20.0, seconds=0.5, sample_rate=RATE, channels=3)
    assert x.shape == (3, 22050) and x.dtype == np.float64 and x.flags.c_contiguous
    assert np.array_equal(x[0], x[2])
    # 441 Hz over 0.5 s is 220.5 periods; over the first 220 the mean square is A**2/2 exactly
    whole = 220 * RATE // 441
    assert analysis.rms_dbfs(x[:, :whole]) == pytest.approx(-20.0, abs=1e-9)
    assert np.max(np.abs(x)) <= 10 ** (-20 / 20)


def test_sine_amplitude_and_phase() -> None:
    x = aqt.sine(1000.0, amplitude=0.25, seconds=0.01, sample_rate=48000,
                 phase_rad=math.pi / 2)
    # a cosine: frame 0 is the peak, frame 12 (a quarter period at 48 kHz) crosses zero
    assert x[0, 0] == pytest.approx(0.25, abs=1e-15)
    assert x[0, 12] == pytest.approx(0.0, abs=1e-15)


def test_sine_refuses_bad_arguments() -> None:
    with pytest.raises(ParameterError, match="not both"):
        aqt.sine(1000.0, -6.0, amplitude=0.5)
    with pytest.raises(ParameterError, match="Nyquist"):
        aqt.sine(30000.0, sample_rate=44100)
    with pytest.raises(ParameterError, match="seconds"):
        aqt.sine(1000.0, seconds=-1.0)
    with pytest.raises(ParameterError, match="channels"):
        aqt.sine(1000.0, channels=0)


def test_aes17_tone_is_997_hz_at_minus_60_dbfs() -> None:
    x = aqt.aes17_tone(seconds=1.0, sample_rate=RATE, channels=2)
    n = np.arange(RATE)
    # the two ways of writing the phase round apart by about 1e-12 rad at the end of 1 s
    assert np.allclose(x, 1e-3 * np.sin(2 * np.pi * 997 * n / RATE), rtol=0, atol=1e-14)
    # 997 whole periods in 1 s: the mean square is exactly A**2/2, -60 dBFS
    assert analysis.rms_dbfs(x) == pytest.approx(-60.0, abs=1e-9)


def test_log_sweep_holds_the_theoretical_number_of_cycles() -> None:
    f0, f1, seconds = 20.0, 2000.0, 1.0
    x = aqt.log_sweep(f0, f1, seconds=seconds, sample_rate=RATE)[0]
    # T (f1 - f0) / ln(f1/f0) cycles = 429.95; two sign changes per cycle, +-2 at the ends
    cycles = seconds * (f1 - f0) / math.log(f1 / f0)
    crossings = int(np.count_nonzero(np.diff(np.signbit(x))))
    assert abs(crossings - 2 * cycles) <= 2
    # the peak level is -6 dBFS
    assert np.max(np.abs(x)) == pytest.approx(10 ** (-6 / 20), rel=1e-3)


def test_noise_level_seed_and_independent_channels() -> None:
    x = aqt.noise(-20.0, seconds=1.0, sample_rate=RATE, channels=2, seed=7)
    # 88200 samples: the mean-square estimate has a relative spread sqrt(2/N) = 0.48 %
    # (0.02 dB); 0.1 dB is five of those
    assert analysis.rms_dbfs(x) == pytest.approx(-20.0, abs=0.1)
    assert np.array_equal(x, aqt.noise(-20.0, sample_rate=RATE, channels=2, seed=7))
    assert not np.array_equal(x, aqt.noise(-20.0, sample_rate=RATE, channels=2, seed=8))
    # independent channels: correlation within 5 / sqrt(N) of zero
    assert abs(np.corrcoef(x)[0, 1]) < 5 / math.sqrt(RATE)


def test_silence() -> None:
    x = aqt.silence(seconds=0.25, sample_rate=48000, channels=2)
    assert x.shape == (2, 12000) and not x.any()


# --------------------------------------------------------------------------- assertions


def test_assert_snr_value_and_message() -> None:
    ref = aqt.sine(997.0, 0.0, seconds=1.0, sample_rate=RATE, channels=2)  # 997 whole periods
    test = ref + np.array([[1e-3], [2e-3]])       # a DC error of 1e-3 and 2e-3
    # all channels: 10*log10((0.5 + 0.5) / (1e-6 + 4e-6)) = 53.01 dB; per channel
    # 10*log10(0.5 / 1e-6) = 56.99 and 10*log10(0.5 / 4e-6) = 50.97 dB
    assert aqt.assert_snr(ref, test, at_least=52.9) == pytest.approx(53.0103, abs=1e-3)
    with pytest.raises(AssertionError, match=r"^shapes differ: reference \(2, 44100\), test"):
        aqt.assert_snr(ref, test[:, 1:], at_least=0.0)
    with pytest.raises(AssertionError) as info:
        aqt.assert_snr(ref, test, at_least=60.0)
    assert str(info.value) == ("SNR 53.01 dB < at_least 60.00 dB (all channels; per channel "
                               "56.99, 50.97 dB; error = test - reference)")


def test_assert_dynamic_range_of_a_tone_in_known_noise() -> None:
    tone = aqt.aes17_tone(seconds=1.0, sample_rate=RATE)
    hiss = aqt.noise(-80.0, seconds=1.0, sample_rate=RATE, seed=3)
    # white noise at -80 dBFS over 0..22050 Hz; AES17 counts 20 Hz-20 kHz of it:
    # DR = 80 - 10*log10(19980 / 22050) = 80.43 dB (estimate spread about 0.03 dB)
    expected = 80.0 - 10 * math.log10(19980 / 22050)
    value = aqt.assert_dynamic_range(tone + hiss, RATE, at_least=80.0)
    assert value == pytest.approx(expected, abs=0.15)
    with pytest.raises(AssertionError, match=r"^dynamic range 80\.\d\d dB < at_least 90\.00 dB "
                       r"\(AES17, unweighted"):
        aqt.assert_dynamic_range(tone + hiss, RATE, at_least=90.0)
    with pytest.raises(AssertionError, match=r"AES17, A-weighted, dB\(A\)"):
        aqt.assert_dynamic_range(tone + hiss, RATE, at_least=120.0, weighting="A")
    with pytest.raises(ParameterError, match="weighting"):
        aqt.assert_dynamic_range(tone, RATE, at_least=0.0, weighting="B")


def test_assert_noise_floor_bounds() -> None:
    lsb = np.full((2, 1000), 2.0**-15)
    # mean square 2**-30 re a full-scale sine's 0.5: 10*log10(2**-29) = -87.30 dBFS
    assert aqt.assert_noise_floor(lsb, at_most=-87.0, at_least=-88.0) == pytest.approx(
        10 * math.log10(2.0**-29))
    with pytest.raises(AssertionError) as info:
        aqt.assert_noise_floor(lsb, at_most=-90.0)
    assert str(info.value) == ("noise floor -87.30 dBFS > at_most -90.00 dBFS "
                               "(RMS of all channels re a full-scale sine, AES17)")
    with pytest.raises(AssertionError, match=r"-87\.30 dBFS < at_least -80\.00 dBFS"):
        aqt.assert_noise_floor(lsb, at_least=-80.0)
    with pytest.raises(AssertionError, match=r"noise floor -inf dBFS < at_least"):
        aqt.assert_noise_floor(np.zeros(10), at_least=-200.0)
    with pytest.raises(ParameterError):
        aqt.assert_noise_floor(lsb)


def test_assert_bit_exact_names_the_first_differing_sample() -> None:
    a = np.zeros((2, 10))
    b = a.copy()
    b[1, 3], b[0, 7] = 0.5, 1.0
    aqt.assert_bit_exact(a, a.copy())
    with pytest.raises(AssertionError) as info:
        aqt.assert_bit_exact(a, b)
    assert str(info.value) == ("a and b differ first at frame 3, channel 1: a=0.0 b=0.5 "
                               "(difference 0.5); 2 of 20 samples differ")
    with pytest.raises(AssertionError, match=r"^x and y differ first at frame 2: x=1 y=2"):
        aqt.assert_bit_exact(np.array([0, 0, 1]), np.array([0, 0, 2]), names=("x", "y"))


def test_assert_bit_exact_shapes_dtypes_signs_and_nan() -> None:
    a = np.arange(12.0).reshape(2, 6)
    with pytest.raises(AssertionError, match=r"^shapes differ: a \(2, 6\), b \(2, 4\) "
                       r".*the first 4 frames are identical"):
        aqt.assert_bit_exact(a, a[:, :4])
    with pytest.raises(AssertionError, match=r"^dtypes differ: a float64, b float32"):
        aqt.assert_bit_exact(a, a.astype(np.float32))
    with pytest.raises(AssertionError, match=r"a=0\.0 b=-0\.0"):  # equal by ==, not in bits
        aqt.assert_bit_exact(np.zeros(3), -np.zeros(3))
    aqt.assert_bit_exact(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))


class Delay(Processor):
    """Delays by ``latency`` samples, its state carried across blocks (a correct one)."""

    latency = 3

    def reset(self) -> None:
        self.held = np.zeros((self.channels, self.latency))

    def process(self, block: np.ndarray) -> np.ndarray:
        joined = np.concatenate([self.held, block], axis=1)
        self.held = joined[:, joined.shape[1] - self.latency:]
        return joined[:, :block.shape[1]]

    def flush(self) -> np.ndarray:
        return self.held


class ForgetfulDifference(Processor):
    """``y[n] = x[n] - x[n-1]`` that forgets the previous block's last sample (a bug)."""

    def process(self, block: np.ndarray) -> np.ndarray:
        return np.diff(block, axis=1, prepend=0.0)


def test_stream_compensates_latency() -> None:
    x = aqt.noise(-10.0, seconds=0.01, sample_rate=RATE, channels=2)
    for size in (None, 1, 2, 5, 441):
        aqt.assert_bit_exact(aqt.stream(Delay(), x, RATE, size), x)
    with pytest.raises(ParameterError, match="block_size"):
        aqt.stream(Delay(), x, RATE, 0)


def test_block_size_invariance_of_requantize_and_of_a_bad_processor() -> None:
    x = aqt.noise(-20.0, seconds=0.4, sample_rate=RATE, channels=2)
    out = aqt.assert_block_size_invariant(Requantize(16), x, RATE)
    # 16-bit levels: every sample is a whole number of 2**-15
    assert np.array_equal(out * 2**15, np.round(out * 2**15))
    with pytest.raises(AssertionError) as info:
        aqt.assert_block_size_invariant(ForgetfulDifference(), x, RATE, sizes=(64,))
    # the first block boundary is frame 64: the whole-array output there is x[64] - x[63],
    # the second 64-frame block starts afresh with x[64] - 0
    text = str(info.value)
    assert text.startswith("ForgetfulDifference() depends on the block size: block size 64 "
                           "differs from the whole-array call: ")
    assert (f"first at frame 64, channel 0: whole-array={float(x[0, 64] - x[0, 63])!r} "
            f"block size 64={float(x[0, 64])!r}") in text


# --------------------------------------------------------------------------- the plugin


def test_plugin_is_registered_with_pytest11() -> None:
    plugins = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugins.get("audioquant") == "audioquant.pytest_plugin"


def test_plugin_imports_without_numpy() -> None:
    code = ("import sys, audioquant.pytest_plugin; "
            "print(sorted(m for m in ('numpy', 'numba', 'scipy', 'soundfile') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_fixtures_here(sine_signal: np.ndarray, aes17_signal: np.ndarray,
                       sweep_signal: np.ndarray, noise_signal: np.ndarray,
                       silence_signal: np.ndarray, audio_rate: int, audio_channels: int,
                       rendered: aqt.RenderFolder, tmp_path) -> None:
    for x in (sine_signal, aes17_signal, sweep_signal, noise_signal, silence_signal):
        assert x.shape == (audio_channels, audio_rate) and x.dtype == np.float64
    assert analysis.peak_dbfs(sine_signal) == pytest.approx(-1.0, abs=1e-3)
    out = rendered(sine_signal, audio_rate, bits=8)
    assert out.path.parent == tmp_path and out.path.exists() and out.report.bits == 8
    assert out.sample_rate == audio_rate and out.audio.shape == sine_signal.shape
    # 8-bit codes read back: every sample a whole number of 2**-7
    assert np.array_equal(out.audio * 128, np.round(out.audio * 128))


@pytest.mark.parametrize("audio_rate", [48000])
def test_rate_fixture_overrides_every_signal(aes17_signal: np.ndarray) -> None:
    assert aes17_signal.shape == (2, 48000)


INNER = '''
import numpy as np

from audioquant.processors import Processor
from audioquant.testing import (assert_block_size_invariant, assert_dynamic_range,
                                assert_noise_floor, assert_snr)

BITS, DITHER = {bits}, {dither!r}


def test_sine_snr(sine_signal, audio_rate, rendered):
    out = rendered(sine_signal, audio_rate, bits=BITS, dither=DITHER)
    # 16-bit TPDF: 6.02 N + 1.76 - 4.77 dB at full scale, 1 dB less at -1 dBFS, 0.1 dB of
    # margin for the estimate (its spread is about 0.02 dB over 88200 samples)
    assert_snr(sine_signal, out.audio, at_least=6.02 * 16 + 1.76 - 4.77 - 1.0 - 0.1)


def test_dynamic_range(aes17_signal, audio_rate, rendered):
    out = rendered(aes17_signal, audio_rate, bits=BITS, dither=DITHER)
    assert_dynamic_range(out.audio, audio_rate, at_least=93.75 - 0.15)   # AES17 16-bit TPDF


def test_error_is_tpdf_noise(aes17_signal, audio_rate, rendered):
    out = rendered(aes17_signal, audio_rate, bits=BITS, dither=DITHER)
    # TPDF error power is LSB**2/4 whatever the signal: 10*log10(2**-32 / 0.5) = -93.32 dBFS
    assert_noise_floor(out.audio - aes17_signal, at_least=-93.32 - 0.15, at_most=-93.32 + 0.15)


class Difference(Processor):
    """y[n] = x[n] - x[n-1]"""

    def reset(self):
        self.last = np.zeros((self.channels, 1))

    def process(self, block):
        out = np.diff(block, axis=1, prepend=self.last)
        if block.shape[1]:
            self.last = block[:, -1:].copy()
        return out


class ForgetfulDifference(Difference):
    def process(self, block):
        return np.diff(block, axis=1, prepend=0.0)


def test_block_size(noise_signal, audio_rate):
    assert_block_size_invariant({processor}(), noise_signal[:, :20000], audio_rate)
'''


def run_inner(pytester: pytest.Pytester, bits: int = 16, dither: str = "tpdf",
              processor: str = "Difference") -> pytest.RunResult:
    """Run the inner test file with the plugin loaded from its entry point."""
    pytester.makepyfile(test_inner=INNER.format(bits=bits, dither=dither, processor=processor))
    return pytester.runpytest("-p", "no:cacheprovider")


def reported(result: pytest.RunResult, pattern: str) -> float:
    """The number captured by ``pattern`` in the run's output (it must be there)."""
    found = re.search(pattern, result.stdout.str())
    assert found, f"{pattern!r} not in the output:\n{result.stdout.str()}"
    return float(found.group(1))


def test_inner_suite_passes_on_a_correct_render(pytester: pytest.Pytester) -> None:
    run_inner(pytester).assert_outcomes(passed=4)


def test_inner_suite_fails_on_the_wrong_bit_depth(pytester: pytest.Pytester) -> None:
    result = run_inner(pytester, bits=8)
    result.assert_outcomes(passed=1, failed=3)
    # 8 bits instead of 16 loses 6.02 * 8 = 48.16 dB everywhere (0.1 dB: estimate spread)
    snr = reported(result, r"SNR (\d+\.\d\d) dB < at_least 92\.21 dB \(all channels")
    assert snr == pytest.approx(6.02 * 8 + 1.76 - 4.77 - 1.0, abs=0.1)
    dr = reported(result, r"dynamic range (\d+\.\d\d) dB < at_least 93\.60 dB \(AES17")
    assert dr == pytest.approx(93.75 - 6.02 * 8, abs=0.1)
    floor = reported(result, r"noise floor (-\d+\.\d\d) dBFS > at_most -93\.17 dBFS")
    assert floor == pytest.approx(-93.32 + 6.02 * 8, abs=0.1)


def test_inner_suite_fails_with_dither_off(pytester: pytest.Pytester) -> None:
    result = run_inner(pytester, dither="none")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*test_error_is_tpdf_noise*"])
    # undithered rounding of a tone 33 LSB high leaves an error near uniform over one LSB:
    # LSB**2/12, 4.77 dB under TPDF's LSB**2/4 (0.3 dB: a tone is not quite a busy signal)
    floor = reported(result, r"noise floor (-\d+\.\d\d) dBFS < at_least -93\.47 dBFS")
    assert floor == pytest.approx(-93.32 - 10 * math.log10(3), abs=0.3)


def test_inner_suite_fails_on_a_block_size_dependent_processor(
        pytester: pytest.Pytester) -> None:
    result = run_inner(pytester, processor="ForgetfulDifference")
    result.assert_outcomes(passed=3, failed=1)
    x = aqt.noise(-20.0, seconds=1.0, sample_rate=RATE, channels=2, seed=0)
    # at block size 1 every frame starts afresh: frame 1 is x[1] - x[0] whole, x[1] in blocks
    result.stdout.fnmatch_lines([
        "*ForgetfulDifference() depends on the block size: block size 1 differs from the "
        f"whole-array call: whole-array and block size 1 differ first at frame 1, channel 0: "
        f"whole-array={float(x[0, 1] - x[0, 0])!r} block size 1={float(x[0, 1])!r}*"])
