"""pytest plugin: audio test signals and a folder of renders as fixtures.

Loaded by pytest through the ``pytest11`` entry point wherever audioquant is installed
(``-p no:audioquant`` turns it off). It imports nothing heavy at start-up: numpy and
:mod:`audioquant.testing` load only when a test asks for one of these fixtures.

Fixtures (signals are float64 ``(channels, frames)``, full scale 1.0, 1 s long):

``audio_rate``       44100 (Hz)   } override either (a fixture of the same name in your
``audio_channels``   2            } conftest, or parametrize) and every signal follows
``sine_signal``      997 Hz sine at -1 dBFS (peak 10**(-1/20))
``aes17_signal``     the AES17 dynamic-range tone: 997 Hz at -60 dBFS
``sweep_signal``     logarithmic sweep 20 Hz - 20 kHz (capped at Nyquist), -6 dBFS peak
``noise_signal``     white Gaussian noise, -20 dBFS RMS, seed 0, independent per channel
``silence_signal``   zeros
``rendered``         a :class:`audioquant.testing.RenderFolder` in ``tmp_path``:
                     ``rendered(audio, audio_rate, bits=8).audio`` is the render read back
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from audioquant.testing import RenderFolder

#: Length of every signal fixture, s.
SIGNAL_SECONDS = 1.0


@pytest.fixture
def audio_rate() -> int:
    """Sample rate of the signal fixtures, Hz."""
    return 44100


@pytest.fixture
def audio_channels() -> int:
    """Channel count of the signal fixtures."""
    return 2


@pytest.fixture
def sine_signal(audio_rate: int, audio_channels: int) -> np.ndarray:
    """A 997 Hz sine at -1 dBFS, 1 s, float64 ``(audio_channels, frames)``."""
    from audioquant.testing import AES17_FREQ_HZ, sine

    return sine(AES17_FREQ_HZ, -1.0, seconds=SIGNAL_SECONDS, sample_rate=audio_rate,
                channels=audio_channels)


@pytest.fixture
def aes17_signal(audio_rate: int, audio_channels: int) -> np.ndarray:
    """The AES17 dynamic-range tone (997 Hz, -60 dBFS), 1 s."""
    from audioquant.testing import aes17_tone

    return aes17_tone(seconds=SIGNAL_SECONDS, sample_rate=audio_rate, channels=audio_channels)


@pytest.fixture
def sweep_signal(audio_rate: int, audio_channels: int) -> np.ndarray:
    """A logarithmic sweep from 20 Hz to 20 kHz (or Nyquist, if lower), -6 dBFS peak, 1 s."""
    from audioquant.testing import log_sweep

    return log_sweep(20.0, min(20000.0, audio_rate / 2), seconds=SIGNAL_SECONDS,
                     sample_rate=audio_rate, channels=audio_channels)


@pytest.fixture
def noise_signal(audio_rate: int, audio_channels: int) -> np.ndarray:
    """White Gaussian noise at -20 dBFS RMS (re a full-scale sine), seed 0, 1 s."""
    from audioquant.testing import noise

    return noise(-20.0, seconds=SIGNAL_SECONDS, sample_rate=audio_rate,
                 channels=audio_channels, seed=0)


@pytest.fixture
def silence_signal(audio_rate: int, audio_channels: int) -> np.ndarray:
    """Digital silence, 1 s."""
    from audioquant.testing import silence

    return silence(seconds=SIGNAL_SECONDS, sample_rate=audio_rate, channels=audio_channels)


@pytest.fixture
def rendered(tmp_path: Path) -> RenderFolder:
    """Render into ``tmp_path``: ``rendered(audio, rate, **render_options)`` returns an
    :class:`audioquant.testing.Rendered` (``.audio``, ``.path``, ``.report``)."""
    from audioquant.testing import RenderFolder

    return RenderFolder(tmp_path)
