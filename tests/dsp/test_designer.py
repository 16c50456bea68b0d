"""Designed noise shapers (dsp/design.py): the solver against independent references, the
designs' properties, and what they do in a real 16-bit TPDF render."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import linalg, optimize, signal

from audioquant import analysis
from audioquant.cli import main
from audioquant.dsp import design
from audioquant.errors import ParameterError
from audioquant.processors import Requantize, best_shaper, weighted_noise_gain_db
from tests.conftest import sine

BOUND = 10 ** (24 / 20)                     # sum |h| <= 24 dB, h_0 = 1 included

# The floor for 9 taps (dB of ITU-R 468-weighted noise below flat TPDF).
TARGETS = {44100: 9.0, 48000: 11.0, 88200: 28.0, 96000: 30.0, 176400: 50.0, 192000: 50.0}


def roots_radius(b: np.ndarray) -> float:
    """Largest |zero| of H(z) = 1 - sum b_k z^-k."""
    return float(np.max(np.abs(np.roots(np.concatenate([[1.0], -b])))))


# --- weightings ---------------------------------------------------------------------------

def test_ath_is_terhardts_formula():
    # By hand from 3.64 k^-0.8 - 6.5 exp(-0.6 (k - 3.3)^2) + 1e-3 k^4 (k = f / kHz).
    assert design.ath_db(1000.0) == pytest.approx(3.64 - 6.5 * np.exp(-0.6 * 2.3**2) + 1e-3)
    assert design.ath_db(4000.0) == pytest.approx(-3.39, abs=0.01)     # the ear's best
    assert design.ath_db(100.0) == pytest.approx(22.9, abs=0.1)
    assert design.ath_power(1000.0) == pytest.approx(1.0)
    f = np.linspace(1000, 20000, 2000)
    assert 3000 < f[np.argmax(design.ath_power(f))] < 4000


# --- the solver against independent references ---------------------------------------------

def quadratic(rate: int, taps: int, weighting: str):
    r = design.weighted_autocorrelation(rate, taps, weighting)
    return linalg.toeplitz(r[:taps]), r[1:], r[0]


@pytest.mark.parametrize(("rate", "taps", "weighting"),
                         [(22050, 9, "468"), (44100, 5, "468"), (44100, 9, "468"),
                          (48000, 9, "ath"), (96000, 9, "468"), (192000, 5, "ath")])
def test_solver_matches_scipy(rate, taps, weighting):
    # Unconstrained: Levinson on the Toeplitz normal equations (scipy). Constrained:
    # SLSQP on the split variables c = u - v, u, v >= 0, sum(u + v) <= bound - 1.
    q, p, r0 = quadratic(rate, taps, weighting)
    ours = design.design_coefficients(rate, taps, weighting)
    free = linalg.solve_toeplitz(q[:, 0], p)
    if np.sum(np.abs(free)) <= BOUND - 1:
        np.testing.assert_allclose(ours, free, atol=1e-9)
        return

    def cost(x):
        c = x[:taps] - x[taps:]
        return (c @ q @ c - 2 * p @ c + r0) * 1e4

    def grad(x):
        g = 2e4 * (q @ (x[:taps] - x[taps:]) - p)
        return np.concatenate([g, -g])

    ref = optimize.minimize(cost, np.zeros(2 * taps), jac=grad, method="SLSQP",
                            bounds=[(0, None)] * (2 * taps),
                            constraints=[{"type": "ineq", "fun": lambda x: BOUND - 1 - x.sum(),
                                          "jac": lambda x: -np.ones(2 * taps)}],
                            options={"ftol": 1e-15, "maxiter": 2000})
    ref_c = ref.x[:taps] - ref.x[taps:]
    # Ours is at least as good (to 0.01 dB) and on the bound, like the reference.
    assert 10 * np.log10(cost(np.concatenate([np.maximum(ours, 0), np.maximum(-ours, 0)]))
                         / cost(ref.x)) < 0.01
    assert np.sum(np.abs(ours)) == pytest.approx(BOUND - 1, abs=1e-9)
    np.testing.assert_allclose(ours, ref_c, atol=2e-3)


# --- properties of every design -------------------------------------------------------------

@pytest.mark.parametrize("weighting", design.WEIGHTINGS)
@pytest.mark.parametrize("taps", [1, 2, 5, 9, 16, 32])
@pytest.mark.parametrize("rate", [8000, 22050, 32000, 44100, 48000, 50000, 88200, 96000,
                                  176400, 192000, 384000])
def test_designs_are_minimum_phase_and_within_the_bound(rate, taps, weighting):
    shaper = design.design(rate, taps, weighting)
    assert shaper.name == f"designed:{taps}:{weighting}" and shaper.rates == (rate,)
    assert shaper.taps == taps and len(shaper.a) == 0
    assert 1 + np.sum(np.abs(shaper.b)) <= BOUND + 1e-9
    assert roots_radius(shaper.b) < 1.0                     # all zeros inside the circle
    # The peak of |H| can never exceed sum |h|.
    assert design.peak_gain_db(shaper, rate) <= 24 + 1e-6
    # Never worse than flat: c = 0 is feasible, and the solver starts from it.
    assert design.weighted_gain_db(shaper, rate, weighting) < 0


def test_more_taps_never_hurt():
    for rate in (44100, 96000):
        gains = [design.weighted_gain_db(design.design(rate, n), rate) for n in (1, 5, 9, 16)]
        assert all(b <= a + 1e-9 for a, b in zip(gains, gains[1:], strict=False))


def test_stored_designs_are_what_the_designer_makes():
    # The JSON file (read at render time, no solver) is in step with the code.
    stored = design._stored_designs()
    assert set(stored) == {f"{r}:9:{w}" for r in design.COMMON_RATES for w in design.WEIGHTINGS}
    for key, coefs in stored.items():
        rate, taps, weighting = key.split(":")
        np.testing.assert_allclose(coefs, design.design_coefficients(int(rate), int(taps),
                                                                     weighting), atol=1e-9)


def test_design_is_deterministic_and_cached():
    fresh = design.design_coefficients(50000, 9)
    assert np.array_equal(fresh, design.design_coefficients(50000, 9))
    assert design.design(50000) is design.design(50000)
    assert np.array_equal(design.design(50000).b, fresh)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"sample_rate": 500}, "in 1000..768000 Hz"),
    ({"sample_rate": 10_000_000}, "in 1000..768000 Hz"),     # singular normal equations
    ({"sample_rate": 48000, "taps": 0}, "taps must be in 1..32"),
    ({"sample_rate": 48000, "taps": 33}, "taps must be in 1..32"),
    ({"sample_rate": 48000, "weighting": "A"}, "weighting must be one of 468, ath"),
    ({"sample_rate": 48000, "max_gain_db": -1.0}, "max_gain_db"),
])
def test_design_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        design.design(**kwargs)


# --- simulation: a real 16-bit TPDF render ----------------------------------------------------

def render_error(rate: int, shaping: str | None, x: np.ndarray, seed: int = 0):
    proc = Requantize(16, dither="tpdf", shaping=shaping, seed=seed, auto_blank=False)
    proc.prepare(rate, 1)
    return proc.process_codes(x[np.newaxis], final=True)[0] - x * 32768, proc


@pytest.mark.parametrize("rate", sorted(TARGETS))
def test_rendered_468_noise_beats_flat_tpdf_by_the_target(rate):
    # A -40 dBFS tone (327 LSB: busy, never near a rail) rendered flat and with the
    # designed 9-tap filter; error = output - input, spectrum by Welch (Hann, 2^19 frames
    # in 2^13-2^14-sample segments: 64+ averages over hundreds of weighted bins, so the
    # estimate's own spread is ~0.02 dB), weighted by ITU-R 468 over 20 Hz..20 kHz.
    frames = 1 << 19
    x = sine(997, 10 ** (-40 / 20), frames, rate)
    flat, _ = render_error(rate, None, x)
    shaped, proc = render_error(rate, "designed:9", x)
    nper = 8192 if rate < 100000 else 16384
    f, p_flat = signal.welch(flat, rate, nperseg=nper)
    _, p_shaped = signal.welch(shaped, rate, nperseg=nper)
    band = (f >= 20) & (f <= 20000)
    w = analysis.itu468_weighting(f[band])
    measured = 10 * np.log10(np.sum(w * p_shaped[band]) / np.sum(w * p_flat[band]))
    predicted = weighted_noise_gain_db(proc.shaper, rate)
    assert proc.shaper.name == "designed:9:468"
    assert 1 + np.sum(np.abs(proc.shaper.b)) <= BOUND + 1e-9
    assert -measured >= TARGETS[rate]
    assert abs(measured - predicted) < 0.3
    assert proc.clips[0] == 0


@pytest.mark.parametrize(("rate", "taps", "weighting"),
                         [(44100, 9, "468"), (48000, 9, "ath"), (96000, 16, "468"),
                          (192000, 9, "468"), (50000, 5, "ath")])
def test_designed_loop_is_bounded_at_full_scale(rng, rate, taps, weighting):
    # The fed-back error is under 1.5 LSB (0.5 rounding + 1 TPDF peak) and taken from the
    # unclipped code, so away from the rails |output - input| <= 1.5 * sum|h| LSB, whatever
    # the signal. A -0.1 dBFS sine (373 LSB of headroom, more than 1.5 * 15.85) never
    # clips; full-scale noise (a tenth of it at +-1.0, and +1.0 is one past the top code)
    # does, and every clip is counted at a rail.
    x_sine = sine(997, 10 ** (-0.1 / 20), 1 << 16, rate)
    noise = np.clip(1.1 * rng.uniform(-1, 1, 1 << 16), -1, 1)
    name = f"designed:{taps}:{weighting}"
    for x in (x_sine, noise):
        proc = Requantize(16, shaping=name, auto_blank=False)
        proc.prepare(rate, 1)
        out = proc.process_codes(x[np.newaxis], final=True)[0]
        bound = 1.5 * (1 + np.sum(np.abs(proc.shaper.b)))
        at_rail = (out == -32768) | (out == 32767)
        assert np.max(np.abs(out - x * 32768)[~at_rail]) <= bound
        assert proc.clips[0] <= np.count_nonzero(at_rail)
        if x is x_sine:
            assert proc.clips[0] == 0 and not at_rail.any()
        else:
            assert proc.clips[0] > 0


@pytest.mark.parametrize(("rate", "shaping"), [(96000, "designed"), (50000, "designed:7:ath")])
def test_streamed_blocks_equal_one_shot_and_are_deterministic(rng, rate, shaping):
    x = 0.2 * rng.standard_normal((2, 3001))
    x[:, 1000:1500] = 0.0
    one = Requantize(16, shaping=shaping)
    one.prepare(rate, 2)
    whole = one.process_codes(x, final=True)
    for size in (1, 7, 64, 4096):
        proc = Requantize(16, shaping=shaping)
        proc.prepare(rate, 2)
        parts = [proc.process_codes(x[:, i:i + size], final=i + size >= 3001)
                 for i in range(0, 3001, size)]
        assert np.array_equal(np.concatenate(parts, axis=1), whole), size
        proc.reset()
        assert np.array_equal(proc.process_codes(x, final=True), whole)   # reset == fresh
    other = Requantize(16, shaping=shaping, seed=1)
    other.prepare(rate, 2)
    assert not np.array_equal(other.process_codes(x, final=True), whole)


# --- auto, API and CLI ------------------------------------------------------------------------

def test_auto_picks_the_designed_filter_where_it_beats_the_catalog(monkeypatch):
    for rate in (22050, 44100, 48000, 96000, 192000):
        catalog = best_shaper(rate, designed=False)
        chosen = best_shaper(rate)
        assert chosen.name == "designed:9:468"
        assert weighted_noise_gain_db(chosen, rate) < weighted_noise_gain_db(catalog, rate)
    # Where the design cannot win (here: made to lose), auto keeps the catalog's best.
    flat = design.Shaper("designed:9:468", (44100,), np.zeros(9), np.zeros(0), "test")
    monkeypatch.setattr(design, "design", lambda *a, **k: flat)
    assert best_shaper(44100).name == "low-shibata"
    assert best_shaper(800).name == best_shaper(800, designed=False).name


def test_api_names():
    proc = Requantize(16, shaping="designed:5")
    proc.prepare(88200, 1)
    assert proc.shaper.name == "designed:5:468" and proc.shaper.taps == 5
    proc = Requantize(16, shaping="designed:12:ath")
    proc.prepare(44100, 1)
    assert proc.shaper.name == "designed:12:ath"
    for bad, message in (("designed:0", "1..32"), ("designed:x", "integer"),
                         ("designed:9:A", "468, ath"), ("designed:9:468:1", "designed"),
                         ("designedx", "unknown shaping")):
        with pytest.raises(ParameterError, match=message):
            Requantize(16, shaping=bad)
    for rate in (800, 10_000_000):
        with pytest.raises(ParameterError, match=r"in 1000\.\.768000 Hz"):
            Requantize(16, shaping="designed").prepare(rate, 1)


def test_cli_lists_designed_filters_with_their_figures(capsys):
    import json

    assert main(["shapers", "--rate", "96000", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    ours = rows["designed:9:468"]
    assert ours["itu468_noise_db"] <= -30 and ours["peak_gain_db"] <= 24
    assert ours["total_noise_db"] > 0 and "designed:9:ath" in rows and "highpass" in rows
    assert main(["shapers", "--rate", "44100"]) == 0
    assert "auto at 44100 Hz: designed:9:468" in capsys.readouterr().out
    assert main(["render", "a.wav", "b.wav", "--shaping", "designed:99"]) == 2  # usage
    assert "1..32" in capsys.readouterr().err


def test_cli_plot(tmp_path, capsys, monkeypatch):
    out = tmp_path / "ntf.png"
    assert main(["shapers", "--rate", "48000", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["shapers", "--rate", "48000", "--plot", str(tmp_path / "no" / "x.png")]) == 1
    assert "cannot write plot" in capsys.readouterr().err
    assert main(["shapers", "--plot", str(out)]) == 2                    # needs --rate
    assert "--plot needs --rate" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "matplotlib", None)                  # not installed
    assert main(["shapers", "--rate", "48000", "--plot", str(out)]) == 1
    assert "pip install 'audioquant[plot]'" in capsys.readouterr().err


def test_render_path_imports_no_scipy_signal_or_optimize(tmp_path):
    import soundfile as sf

    src = tmp_path / "in.wav"
    sf.write(str(src), sine(997, 0.25, 9600, 96000), 96000, subtype="FLOAT")
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "audioquant", "render",
                          str(src), str(tmp_path / "out.wav"), "--shaping", "auto"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    modules = {line.split("|")[-1].strip() for line in res.stderr.splitlines()
               if line.startswith("import time:")}
    assert "audioquant.dsp.design" in modules
    assert not {m for m in modules if m.startswith(("scipy.signal", "scipy.optimize",
                                                    "matplotlib"))}
