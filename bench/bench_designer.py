"""Benchmark: designing noise shapers, and rendering with a designed vs a catalog filter.

Run: ``python bench/bench_designer.py [--seconds 60]``. Writes ``bench/RESULTS_designer.md``.

- Design time per rate: :func:`dsp.design.design_coefficients` (uncached, the whole
  solve from the weighting curve to the coefficients), median and worst of 20 runs, for
  9 taps (both weightings) and 32 taps; plus the one-off import of ``dsp.design``.
- Render speed: ``Requantize(16, shaping=...)`` on an in-memory stereo float mix in
  64k-frame blocks, best of 3, numba cache warm: the designed 9-tap filter against the
  catalog's 9-tap ``f-weighted`` at the same rate, flat TPDF for scale.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from audioquant.dsp import design  # noqa: E402
from audioquant.processors import Requantize, weighted_noise_gain_db  # noqa: E402

RATES = (44100, 48000, 88200, 96000, 176400, 192000)
BLOCK = 1 << 16


def design_times(rate: int, taps: int, weighting: str, runs: int = 20) -> tuple[float, float]:
    """Median and worst seconds of an uncached design."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        design.design_coefficients(rate, taps, weighting)
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times)


def import_time() -> float:
    """Seconds to import dsp.design in a fresh interpreter (numpy and the dsp package,
    which loads numba, already imported)."""
    code = ("import time, numpy, audioquant.dsp; t = time.perf_counter(); "
            "import audioquant.dsp.design; print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=HERE.parent, check=True)
    return float(out.stdout)


def render_rate(audio: np.ndarray, rate: int, shaping: str | None, runs: int = 3) -> float:
    """Best-of-``runs`` million samples per second of a 16-bit render of ``audio``."""
    best = float("inf")
    for _ in range(runs + 1):                       # the first run warms numba's cache
        proc = Requantize(16, shaping=shaping)
        proc.prepare(rate, audio.shape[0])
        t = time.perf_counter()
        for start in range(0, audio.shape[1], BLOCK):
            proc.process_codes(audio[:, start:start + BLOCK], dtype=np.int16)
        proc.process_codes(np.zeros((audio.shape[0], 0)), dtype=np.int16, final=True)
        best = min(best, time.perf_counter() - t)
    return audio.size / best / 1e6


def mix(seconds: float, rate: int) -> np.ndarray:
    """Stereo float32: two tones plus noise at about -12 dBFS."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * rate)) / rate
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size)
    right = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)
    return np.stack([left, right]).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="mix length (default 60)")
    parser.add_argument("--out", default=str(HERE / "RESULTS_designer.md"))
    args = parser.parse_args()

    lines = ["## Designed noise shapers: design time and render speed", "",
             f"Machine: {platform.machine()}, {len(__import__('os').sched_getaffinity(0))} "
             f"cores, Python {platform.python_version()}, numpy {np.__version__}; "
             f"{time.strftime('%Y-%m-%d')}.", "",
             "Import of `dsp.design` (numpy and `dsp` already loaded): "
             f"{import_time() * 1e3:.1f} ms. "
             "No scipy: the solver is numpy only.", "",
             "### Design time (uncached `design_coefficients`, median / worst of 20 runs)", "",
             "| rate Hz | 9 taps, 468 | 9 taps, ath | 32 taps, 468 | 468-weighted vs flat "
             "(9 taps) |", "|---|---|---|---|---|"]
    for rate in RATES:
        cells = []
        for taps, weighting in ((9, "468"), (9, "ath"), (32, "468")):
            med, worst = design_times(rate, taps, weighting)
            cells.append(f"{med * 1e3:.1f} / {worst * 1e3:.1f} ms")
        gain = weighted_noise_gain_db(design.design(rate), rate)
        lines.append(f"| {rate} | {' | '.join(cells)} | {gain:+.2f} dB |")
        print(lines[-1], flush=True)

    lines += ["", f"### Render speed (in memory, stereo float32, {args.seconds:g} s, "
              f"{BLOCK}-frame blocks, best of 3)", "",
              "| rate Hz | shaping | taps | M samples/s |", "|---|---|---|---|"]
    for rate in (44100, 48000):
        audio = mix(args.seconds, rate)
        for shaping in (None, "f-weighted", "designed:9"):
            speed = render_rate(audio, rate, shaping)
            taps = 0 if shaping is None else 9
            lines.append(f"| {rate} | {shaping or 'none (TPDF)'} | {taps} | {speed:.0f} |")
            print(lines[-1], flush=True)
    from audioquant.dsp.quantize import padded_order

    lines += ["", "Both 9-tap filters run through the same kernel with the same history "
              f"length ({padded_order(9)}), so their speed can only differ by noise.", ""]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
