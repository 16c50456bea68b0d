"""Fixtures for the midi tests (helpers are in tests/midi/helpers.py)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.midi.helpers import SAMPLE


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def sample_path():
    assert SAMPLE.exists(), "run samples/make_midi.py"
    return SAMPLE
