"""The compiled sums of the sine fit against the same sums in plain numpy (np.cos and
np.sin per sample, a dense design matrix)."""

from __future__ import annotations

import numpy as np
import pytest

from audioquant.dsp.sinefit import RESTART, fit_sums, residual_power


@pytest.mark.parametrize("n", [1, 7, RESTART, RESTART + 1, 100_003])
@pytest.mark.parametrize("cols", [3, 4])
def test_fit_sums_and_residual_match_numpy(n, cols):
    rng = np.random.default_rng(n)
    x = 0.7 * np.cos(0.0913 * np.arange(n) + 0.4) + 1e-3 * rng.standard_normal(n)
    omega, centre, a, b = 0.0913, 0.5 * (n - 1), 0.3, -0.6
    t = np.arange(n) - centre
    c, s = np.cos(omega * t), np.sin(omega * t)
    design = np.stack([c, s, np.ones(n), t * (b * c - a * s)][:cols])
    ata, aty = fit_sums(x, omega, centre, a, b, cols)
    scale = np.sqrt(np.outer(np.diag(design @ design.T), np.diag(design @ design.T))) + 1e-300
    assert np.max(np.abs(ata - design @ design.T) / scale) < 1e-12
    # rounding relative to the sum of the magnitudes (the sums cancel)
    assert np.all(np.abs(aty - design @ x) <= 1e-12 * (np.abs(design) @ np.abs(x)))
    want = np.mean((x - (a * c + b * s + 0.01)) ** 2)
    assert residual_power(x, omega, centre, a, b, 0.01) == pytest.approx(want, rel=1e-11)
