"""Shared fixtures: seeded signals."""

from __future__ import annotations

import numpy as np
import pytest


def sine(freq_hz: float, amplitude: float, frames: int, sample_rate: int = 44100,
         phase: float = 0.3) -> np.ndarray:
    """A float64 sine, ``amplitude`` relative to full scale (1.0)."""
    t = np.arange(frames) / sample_rate
    return amplitude * np.sin(2 * np.pi * freq_hz * t + phase)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261126)
