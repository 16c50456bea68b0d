"""Make the example audio files in samples/ (run from anywhere: ``python samples/make_samples.py``).

- ``sweep_24bit.wav``: 1.5 s mono logarithmic sine sweep 20 Hz -> 20 kHz at -3 dBFS,
  44.1 kHz, 24-bit PCM (float64 math, rounded once to 24-bit codes).
- ``decay_float32.wav``: 1.5 s stereo 32-bit float at 44.1 kHz: a 440 Hz + 660 Hz tone with
  an exponential decay (-60 dB over 1 s, a touch of stereo detune) that ends in 0.5 s of
  exact digital silence. The Quick start renders it to 16-bit.
- ``tone_48k_float32.wav``: 0.5 s mono 997 Hz at -20 dBFS, 48 kHz, 32-bit float, for trying
  rate-specific shapers (``--shaping auto`` picks a 48 kHz filter).

Everything is a closed-form function of time: the files are the same on any machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent


def sweep(rate: int = 44100, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    f0, f1 = 20.0, 20000.0
    k = np.log(f1 / f0)
    phase = 2 * np.pi * f0 * seconds / k * (np.exp(t / seconds * k) - 1)
    return 10 ** (-3 / 20) * np.sin(phase)


def decay(rate: int = 44100, seconds: float = 1.5, silent: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    envelope = 10 ** (-60 / 20 * t)                       # -60 dB per second
    left = 0.45 * np.sin(2 * np.pi * 440 * t) + 0.25 * np.sin(2 * np.pi * 660 * t)
    right = 0.45 * np.sin(2 * np.pi * 440.7 * t) + 0.25 * np.sin(2 * np.pi * 659.2 * t)
    audio = np.vstack([left, right]) * envelope
    fade = np.clip((seconds - silent - t) / 0.05, 0, 1)   # 50 ms fade into exact zeros
    return audio * fade


def main() -> None:
    codes = np.round(sweep() * 2**23).astype(np.int32) << 8
    sf.write(HERE / "sweep_24bit.wav", codes, 44100, subtype="PCM_24")
    sf.write(HERE / "decay_float32.wav", decay().T.astype(np.float32), 44100,
             subtype="FLOAT")
    t = np.arange(24000) / 48000
    tone = 0.1 * np.sin(2 * np.pi * 997 * t)
    sf.write(HERE / "tone_48k_float32.wav", tone.astype(np.float32), 48000, subtype="FLOAT")
    for name in ("sweep_24bit.wav", "decay_float32.wav", "tone_48k_float32.wav"):
        print(f"{name}: {(HERE / name).stat().st_size} bytes")


if __name__ == "__main__":
    main()
