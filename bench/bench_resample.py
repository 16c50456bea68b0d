"""Benchmark: sample-rate conversion, audioquant against its peers, side by side in one run.

    python bench/bench_resample.py [--seconds 600] [--out bench/RESULTS_resample.md]

For 96 kHz -> 44.1 kHz and 44.1 kHz -> 48 kHz, stereo float64, ``--seconds`` long (10
minutes by default), it times audioquant's "high" and "very high" presets, python-soxr HQ
and VHQ, ``scipy.signal.resample_poly`` (its default Kaiser filter, and audioquant's
very-high prototype handed over as the filter: the same quality), ``sox rate -v`` and
``ffmpeg aresample=resampler=soxr`` (raw float through pipes, so no file I/O is timed, but
process start-up and piping are). Throughput is output samples (all channels) per second,
best of ``--repeat`` runs. audioquant runs its channels in parallel threads (one per core)
on big calls; the "(1 thread)" rows force one thread, like every peer here.

Quality is measured, not quoted, on a separate 1 s signal for each tool: downsampling,
tones between the new and the old Nyquist (everything that comes out is alias); upsampling,
tones up to 0.9 of the input Nyquist (the residual after fitting each tone is image).
"Stopband" is the worst of those, in dB below the input tone.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import audioquant.threads as aq_threads  # noqa: E402
from audioquant.sampling import Resample, _design  # noqa: E402

CASES = [(96000, 44100), (44100, 48000)]


# -- the contenders: f(x (channels, frames) float64, in_rate, out_rate) -> (channels, n) ---


def ours(quality, threads=True):
    def run(x, fi, fo):
        if not threads:
            aq_threads.set_max_threads(1)
        try:
            return Resample(fo, quality=quality)(x, fi)
        finally:
            aq_threads.set_max_threads(None)

    return run


def soxr_run(quality):
    import soxr

    def run(x, fi, fo):
        return soxr.resample(np.ascontiguousarray(x.T), fi, fo, quality=quality).T

    return run


def poly_default(x, fi, fo):
    from scipy.signal import resample_poly

    g = math.gcd(fi, fo)
    return resample_poly(x, fo // g, fi // g, axis=1)


def poly_equal(x, fi, fo):
    """resample_poly with audioquant's very-high prototype as its FIR filter."""
    from scipy.signal import resample_poly

    from audioquant.sampling import QUALITIES

    g = math.gcd(fi, fo)
    up, down = fo // g, fi // g
    design, table = _design(up, down, QUALITIES["very high"])
    taps = design.taps
    times = (np.arange(up)[:, None] / up + (design.half_taps - 1 - np.arange(taps))).ravel()
    h = table.ravel()[np.argsort(times)] / up  # unit DC gain: resample_poly multiplies by L
    return resample_poly(x, up, down, axis=1, window=h)


def pipe_tool(argv_for):
    def run(x, fi, fo):
        data = np.ascontiguousarray(x.T, dtype=np.float32).tobytes()
        res = subprocess.run(argv_for(fi, fo, x.shape[0]), input=data, capture_output=True,
                             check=True)
        return np.frombuffer(res.stdout, dtype=np.float32).reshape(-1, x.shape[0]).T.astype(
            np.float64
        )

    return run


def sox_argv(fi, fo, ch):
    return ["sox", "-t", "f32", "-r", str(fi), "-c", str(ch), "-", "-t", "f32", "-r", str(fo),
            "-c", str(ch), "-", "rate", "-v", str(fo)]


def ffmpeg_argv(fi, fo, ch):
    return ["ffmpeg", "-v", "error", "-f", "f32le", "-ar", str(fi), "-ac", str(ch), "-i", "-",
            "-af", f"aresample={fo}:resampler=soxr:precision=28", "-f", "f32le", "-"]


def contenders():
    out = [
        ("audioquant high", ours("high")),
        ("audioquant very high", ours("very high")),
        ("audioquant high (1 thread)", ours("high", threads=False)),
        ("audioquant very high (1 thread)", ours("very high", threads=False)),
        ("python-soxr HQ", soxr_run("HQ")),
        ("python-soxr VHQ", soxr_run("VHQ")),
        ("scipy resample_poly (default)", poly_default),
        ("scipy resample_poly (same filter as very high)", poly_equal),
    ]
    if shutil.which("sox"):
        out.append(("sox rate -v (float32 pipe)", pipe_tool(sox_argv)))
    if shutil.which("ffmpeg"):
        out.append(("ffmpeg aresample soxr precision=28 (float32 pipe)", pipe_tool(ffmpeg_argv)))
    return out


# -- measurement -----------------------------------------------------------------------


def residual_db(y: np.ndarray, rate: int, freq: float | None, edge: int) -> float:
    """Peak of y (after removing a fitted sine at freq, if given), dB re amplitude 1."""
    y = y[edge:-edge]
    if freq is not None:
        t = np.arange(y.size) / rate
        basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)]).T
        coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
        y = y - basis @ coef
    return 20 * math.log10(max(np.abs(y).max(), 1e-300))


def stopband_db(run, fi: int, fo: int) -> float:
    nyq = min(fi, fo) / 2
    if fo < fi:
        freqs = np.linspace(1.02 * nyq, 0.98 * fi / 2, 6)
    else:
        freqs = np.linspace(0.1 * nyq, 0.9 * nyq, 6)
    worst = -400.0
    t = np.arange(fi) / fi
    for f in freqs:
        x = np.sin(2 * np.pi * f * t)[None, :].repeat(2, axis=0)
        y = run(x, fi, fo)[0]
        worst = max(worst, residual_db(y, fo, None if fo < fi else f, fo // 20))
    return -worst


def throughput(run, x: np.ndarray, fi: int, fo: int, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        y = run(x, fi, fo)
        best = min(best, time.perf_counter() - t0)
    return y.size / best / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_resample.md")))
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    lines = [
        "## Sample-rate conversion (`bench/bench_resample.py`)",
        "",
        f"{args.seconds:g} s of stereo noise, float64 in memory; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        "Msamples/s = output samples (both channels) per second, best of "
        f"{args.repeat}. Stopband = worst alias/image measured on test tones (dB below the "
        "tone). sox/ffmpeg run through float32 pipes (start-up and piping included; their "
        "stopband is then also limited by float32). audioquant runs one thread per channel "
        "(2 cores); its \"(1 thread)\" rows and every peer use one thread.",
        "",
    ]
    ratios = []
    for fi, fo in CASES:
        x = rng.standard_normal((2, int(args.seconds * fi))) * 0.25
        # warm up (numba compile / cache load, designs) outside the timing
        for _, run in contenders()[:2]:
            run(x[:, :fi], fi, fo)
        lines += [
            f"### {fi} Hz -> {fo} Hz",
            "",
            "| tool | Msamples/s | x audioquant high | stopband (dB) |",
            "|---|---:|---:|---:|",
        ]
        rows = []
        for name, run in contenders():
            speed = throughput(run, x, fi, fo, args.repeat)
            stop = stopband_db(run, fi, fo)
            rows.append((name, speed, stop))
            print(f"{fi}->{fo}  {name:55s} {speed:8.2f} Msamples/s  stopband {stop:6.1f} dB",
                  flush=True)
        base = rows[0][1]
        for name, speed, stop in rows:
            lines.append(f"| {name} | {speed:.1f} | {speed / base:.2f} | {stop:.1f} |")
        lines.append("")
        got = {name: (speed, stop) for name, speed, stop in rows}
        for ours_name, peer in (("audioquant high", "python-soxr HQ"),
                                ("audioquant very high", "python-soxr VHQ")):
            for suffix in ("", " (1 thread)"):
                a, b = got[ours_name + suffix], got[peer]
                ratios.append(f"| {fi} -> {fo} | {ours_name + suffix} ({a[1]:.0f} dB) | "
                              f"{peer} ({b[1]:.0f} dB) | {b[0] / a[0]:.2f} |")
    lines += [
        "### Time relative to libsoxr at the matching quality tier",
        "",
        "| case | audioquant (measured stopband) | python-soxr (measured stopband) | "
        "soxr speed / ours (target <= 2) |",
        "|---|---|---|---:|",
        *ratios,
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
