"""Analysis of absurdly loud float files: a clear error or a right answer, never a hang.

``audioquant analyze`` of a 64-bit float file holding +-1e300 once hung in LAPACK (the
sine fit's normal equations were Inf/NaN) and +-1e160 printed RuntimeWarnings. The
analysis measures every value a 32-bit float file can hold (up to 3.4e38, +770.6 dBFS)
and refuses larger samples, naming the first one in time, as it names NaN and Inf.
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from audioquant import analysis
from audioquant.errors import ParameterError

RATE = 44100
F32_MAX = float(np.finfo(np.float32).max)


def write(path, data: np.ndarray, subtype: str) -> str:
    import soundfile as sf

    sf.write(str(path), np.asarray(data).T, RATE, subtype=subtype)
    return str(path)


def sine(amplitude: float, frames: int = RATE, freq: float = 997.0) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(frames) / RATE + 0.3)


@pytest.mark.parametrize("value", [1e300, 1e200])
def test_cli_analyze_huge_double_file_ends_with_one_line(tmp_path, value):
    # the hang case, so in a subprocess with a timeout: exit 1, one `error:` line naming
    # the first sample (frame 0), no traceback and no warning
    data = np.where(np.arange(RATE) % 2 == 0, value, -value)
    path = write(tmp_path / "huge.wav", data, "DOUBLE")
    done = subprocess.run([sys.executable, "-W", "error", "-m", "audioquant", "analyze", path],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    assert f"sample {value!r} at frame 0 " in done.stderr
    assert "+-3.4028234663852886e+38 (+770.6 dBFS" in done.stderr


@pytest.mark.parametrize("value,first", [(1e160, 3), (1e39, 3), (-1e300, 3)])
def test_cli_analyze_names_the_first_huge_sample(tmp_path, capsys, value, first):
    from audioquant.cli import main

    data = np.zeros((2, 1000))
    data[1, first] = value          # channel 1 goes wrong first in time ...
    data[0, first + 4] = value      # ... channel 0 later
    path = write(tmp_path / "huge.wav", data, "DOUBLE")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["analyze", path]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (f"error: audio sample {value!r} at frame {first} of channel 1 is "
                       "beyond the analysable range +-3.4028234663852886e+38 (+770.6 dBFS, "
                       "the largest 32-bit float)\n")


def test_cli_analyze_loudest_float32_file_is_measured(tmp_path, capsys):
    # A float32 file can hold up to 3.4e38 (+770.6 dBFS): all of it is measured, with no
    # warning. A sine of that amplitude has its peak and RMS level at 20*log10(amplitude)
    # dBFS (AES17: RMS re a full-scale sine); 44100 frames of 997 Hz hold 997 whole cycles
    # to within 0.04 of one, and the sampled peak is within 1 - cos(pi*997/44100) of 1.
    from audioquant.cli import main

    amp = float(np.float32(F32_MAX * 0.999))
    path = write(tmp_path / "loud.wav", sine(amp).astype(np.float32), "FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["analyze", path, "--json"]) == 0
    import json

    got = json.loads(capsys.readouterr().out)
    level = 20 * math.log10(amp)
    assert abs(got["peak_dbfs"] - level) < 0.01
    assert abs(got["rms_dbfs_aes17"] - level) < 0.01
    assert abs(got["tone_dbfs"] - level) < 1e-6
    assert abs(got["frequency_hz"] - 997.0) < 1e-6
    # float32 keeps 24 significant bits: SINAD of a float32 sine is about 6.02*24 + 1.76
    # = 146 dB, more with the rounding's spread over the mantissa's exponents
    assert got["sinad_db"] > 140


def test_measurements_scale_exactly_up_to_the_top_of_the_range():
    # Theory: scaling by a power of two is exact in binary floating point, so every level
    # (dBFS) moves by exactly 20*log10(2**k) and every ratio (SINAD, SNR, THD+N) stays.
    # Tolerances are for the rounding of the logs and sums only.
    rng = np.random.default_rng(71)
    x = np.stack([sine(0.5), sine(0.25, freq=997.0)]) + 1e-4 * rng.standard_normal((2, RATE))
    y = x + 1e-5 * rng.standard_normal(x.shape)
    k = 127                                       # max |x| * 2**127 < 2**127 < 3.4e38
    big_x, big_y = np.ldexp(x, k), np.ldexp(y, k)
    assert np.max(np.abs(big_x)) <= F32_MAX
    shift = 20 * math.log10(2.0**k)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small, big = analysis.summary(y, RATE, x), analysis.summary(big_y, RATE, big_x)
        for key in ("peak_dbfs", "rms_dbfs_aes17", "noise_floor_dbfs", "tone_dbfs"):
            assert abs(big[key] - small[key] - shift) < 1e-9, key
        for key in ("sinad_db", "thd_n_db", "snr_db", "frequency_hz"):
            assert abs(big[key] - small[key]) < 1e-9, key
        # ENOB corrected to full scale (IEEE 1241) counts the tone's level: -shift / 6.02
        assert abs(big["enob_full_scale_bits"] - small["enob_full_scale_bits"]
                   + shift / 6.02) < 1e-9
        assert abs(analysis.sinad(big_y[0], RATE) - analysis.sinad(y[0], RATE)) < 1e-9
        assert abs(analysis.weighted_noise_power(big_y, RATE, "468")
                   / analysis.weighted_noise_power(y, RATE, "468") / 4.0**k - 1) < 1e-9
        assert np.allclose(analysis.notch(big_y[0], RATE), np.ldexp(analysis.notch(y[0], RATE),
                                                                     k), rtol=0, atol=2.0**k
                           * 1e-12)


@pytest.mark.parametrize("func", [
    lambda a: analysis.peak_dbfs(a),
    lambda a: analysis.rms_dbfs(a),
    lambda a: analysis.sinad(a, RATE),
    lambda a: analysis.thd_n(a, RATE),
    lambda a: analysis.sine_fit(a[0], RATE),
    lambda a: analysis.dynamic_range(a, RATE),
    lambda a: analysis.power_spectrum(a, RATE),
    lambda a: analysis.summary(a, RATE),
    lambda a: analysis.snr(np.zeros_like(a), a),
])
def test_every_measure_refuses_samples_past_the_bound(func):
    a = np.vstack([sine(0.5, 4096), sine(0.5, 4096)])
    a[0, 100] = np.nextafter(F32_MAX, math.inf)        # just past the largest float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ParameterError, match="sample 3.402823466385289e\\+38 at frame "
                                                 "100( of channel 0)? is beyond the "
                                                 "analysable range"):
            func(a)
        a[0, 100] = -F32_MAX                           # the largest float32 itself is fine
        a[1, 200] = F32_MAX
        func(a)                                        # a number, and no warning


def test_nan_and_huge_the_earliest_in_time_is_named():
    a = np.zeros((2, 100))
    a[0, 40] = np.nan
    a[1, 30] = 1e300
    with pytest.raises(ParameterError, match="sample 1e\\+300 at frame 30 of channel 1"):
        analysis.rms_dbfs(a)
    a[1, 50] = 1e300
    a[1, 30] = 0.0
    with pytest.raises(ParameterError, match="must be finite, got nan at frame 40 of channel 0"):
        analysis.rms_dbfs(a)
    with pytest.raises(ParameterError, match="reference sample -1e\\+200 at frame 2 "):
        analysis.snr(np.array([0.0, 0.0, -1e200]), np.zeros(3))


def test_sine_fit_refuses_a_non_finite_system_instead_of_hanging():
    # the guard in front of LAPACK (bounded input never reaches it)
    with pytest.raises(ParameterError, match="not finite"):
        analysis._normal_solve(np.full((3, 3), np.inf), np.ones(3))


# -- the resampler, the one processor whose sums could overflow -----------------------


def test_resample_scales_exactly_up_to_the_largest_float32():
    # Theory: the resampler is linear and scaling by a power of two is exact in binary
    # floating point, so resampling x * 2**127 gives exactly (==) the resampled x times
    # 2**127, with no overflow and no warning, at the top of the accepted range.
    from audioquant.sampling import Resample

    rng = np.random.default_rng(72)
    x = rng.uniform(-0.99, 0.99, (2, 5000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = Resample(48000)(np.ldexp(x, 127), RATE)
    assert np.max(np.abs(np.ldexp(x, 127))) <= F32_MAX
    assert np.array_equal(big, np.ldexp(Resample(48000)(x, RATE), 127))


def test_resample_refuses_samples_it_cannot_filter_and_names_them():
    from audioquant.processors import NonFiniteSampleError
    from audioquant.sampling import Resample

    x = np.zeros((2, 5000))
    x[1, 3210] = 1.7e308                 # finite, but its filtered sums would overflow
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ParameterError, match=r"input sample 1\.7e\+308 at frame 3210 "
                                                 r"\(channel 1\) is too large to resample"):
            Resample(48000)(x, RATE)
        # streamed: the frame is counted from the start of the stream
        r = Resample(48000)
        r.prepare(RATE, 2)
        r.process(x[:, :3000])
        with pytest.raises(ParameterError, match="at frame 3210 "):
            r.process(x[:, 3000:])
        x[1, 3210] = 0.0
        x[0, 4000] = np.nan                  # named where it is, not where a filter smeared it
        with pytest.raises(NonFiniteSampleError, match="nan at frame 4000 "):
            Resample(48000)(x, RATE)


def test_cli_render_of_a_huge_file_resampled_is_one_line(tmp_path, capsys):
    from audioquant.cli import main

    src = write(tmp_path / "huge.wav", np.full(4410, 1.7e308), "DOUBLE")
    out = tmp_path / "out.wav"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["render", src, str(out), "--rate", "48000"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: input sample 1.7e+308 at frame 0")
    assert not out.exists()
