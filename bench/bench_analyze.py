"""Benchmark: ``audioquant analyze`` beside ``sox FILE -n stats`` and ``ffmpeg -af astats``.

    python bench/bench_analyze.py [--minutes 30] [--out bench/RESULTS_analyze.md]

Each command runs as its own process on the same files, one after the other, in one run;
wall time and peak resident memory (``bench_render.run_timed``) are those of the process
itself, start-up included. Files (made once in a temporary
folder, float32, seeded): a -6 dBFS 997 Hz sine plus -40 dBFS white noise (so every
figure is computed: the sine fit, the notched noise floor, weighted noise, ENOB), stereo
44.1 kHz of 1 minute and ``--minutes`` (default 30) and twice that (memory must not grow
with the length), and 10 minutes of 8 channels at 96 kHz. ``analyze --reference`` (two
files side by side) and ``render`` of the long file to 16-bit (the speed analyze is
compared with) are timed too. Each command is run twice and the faster kept (the first
run also warms the page cache and numba's cache).

The levels are cross-checked: SoX's "RMS lev dB" and FFmpeg's "RMS level dB" are RMS
re a full-scale square, our ``rms_dbfs_square``; peaks are sample peaks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
PY = sys.executable

from bench_render import publish, run_timed  # noqa: E402


def make_file(path: Path, minutes: float, rate: int, channels: int) -> Path:
    """Write the test signal block by block (memory stays small whatever the length)."""
    rng = np.random.default_rng(2026)
    frames = int(minutes * 60 * rate)
    block = 1 << 20
    w = 2 * np.pi * 997 / rate
    with sf.SoundFile(path, "w", rate, channels, subtype="FLOAT") as f:
        for start in range(0, frames, block):
            n = min(block, frames - start)
            t = np.arange(start, start + n)
            tone = 10 ** (-6 / 20) * np.sin(w * t)
            noise = 10 ** (-40 / 20) * np.sqrt(2) * rng.standard_normal((n, channels))
            f.write((tone[:, None] + noise).astype(np.float32))
    return path


def best(cmd: list[str], runs: int = 2) -> tuple[float, float, str]:
    results = [run_timed(cmd) for _ in range(runs)]
    return min(results, key=lambda r: r[0])


def sox_levels(text: str) -> dict[str, float]:
    """SoX stats' "Overall" column: peak and RMS level, dB."""
    out = {}
    for key, name in (("Pk lev dB", "peak"), ("RMS lev dB", "rms")):
        m = re.search(rf"^{re.escape(key)}\s+(-?[\d.]+)", text, re.M)
        out[name] = float(m.group(1))
    return out


def ffmpeg_levels(text: str) -> dict[str, float]:
    """FFmpeg astats' "Overall" section: peak and RMS level, dB."""
    overall = text[text.rindex("Overall"):]
    out = {}
    for key, name in (("Peak level dB", "peak"), ("RMS level dB", "rms")):
        out[name] = float(re.search(rf"{key}: (-?[\d.]+)", overall).group(1))
    return out


def version(cmd: list[str]) -> str:
    try:
        text = subprocess.run(cmd, capture_output=True, text=True).stdout
    except OSError:
        return "missing"
    return text.splitlines()[0] if text else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--out", default=str(HERE / "RESULTS_analyze.md"))
    args = parser.parse_args()
    for tool in ("sox", "ffmpeg", "/usr/bin/time"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed: apt-get install sox ffmpeg time")
    load = os.getloadavg()[0]
    rows = []
    checks = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {
            "1 min stereo 44.1 kHz": make_file(folder / "short.wav", 1, 44100, 2),
            f"{args.minutes:g} min stereo 44.1 kHz": make_file(folder / "long.wav",
                                                               args.minutes, 44100, 2),
            f"{2 * args.minutes:g} min stereo 44.1 kHz": make_file(
                folder / "longer.wav", 2 * args.minutes, 44100, 2),
            "10 min 8 ch 96 kHz": make_file(folder / "eight.wav", 10, 96000, 8),
        }
        long_name = f"{args.minutes:g} min stereo 44.1 kHz"
        long = files[long_name]
        ref = folder / "long16.wav"
        ours = [PY, "-m", "audioquant"]
        render_cmd = ours + ["render", str(long), str(ref), "--bits", "16"]
        run_timed(render_cmd)                               # numba cache, page cache
        for name, path in files.items():
            audio_s = sf.info(str(path)).duration
            size_mb = path.stat().st_size / 1e6
            cmds = [("audioquant analyze", ours + ["analyze", str(path), "--json"])]
            if name == long_name:
                cmds += [
                    ("audioquant analyze --levels", ours + ["analyze", str(path), "--levels",
                                                            "--json"]),
                    ("sox -n stats", ["sox", str(path), "-n", "stats"]),
                    ("ffmpeg -af astats", ["ffmpeg", "-hide_banner", "-nostats", "-i",
                                           str(path), "-af", "astats", "-f", "null", "-"]),
                    ("audioquant analyze --reference", ours + [
                        "analyze", str(ref), "--reference", str(path), "--json"]),
                    ("audioquant render (to 16-bit)", render_cmd),
                ]
            for label, cmd in cmds:
                seconds, rss, text = best(cmd)
                rows.append((name, f"{size_mb:,.0f}", label, seconds, audio_s / seconds, rss))
                if label == "audioquant analyze" and name == long_name:
                    result = json.loads(text[text.index("{"):])
                    checks.append(("audioquant", result["peak_dbfs"],
                                   result["rms_dbfs_square"]))
                elif label.startswith("sox"):
                    lv = sox_levels(text)
                    checks.append(("SoX", lv["peak"], lv["rms"]))
                elif label.startswith("ffmpeg"):
                    lv = ffmpeg_levels(text)
                    checks.append(("FFmpeg", lv["peak"], lv["rms"]))
    by = {(r[0], r[2]): r for r in rows}
    ours_long = by[(long_name, "audioquant analyze")]
    sox = by[(long_name, "sox -n stats")]
    ffmpeg = by[(long_name, "ffmpeg -af astats")]
    render_row = by[(long_name, "audioquant render (to 16-bit)")]
    levels = by[(long_name, "audioquant analyze --levels")]
    lines = [
        "## analyze: streaming measurements beside SoX and FFmpeg",
        "",
        f"`python bench/bench_analyze.py --minutes {args.minutes:g}` on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{version(['sox', '--version'])}; {version(['ffmpeg', '-version'])}. "
        f"Load average at the start: {load:.2f}.",
        "",
        "Float32 WAV files: a -6 dBFS 997 Hz sine plus -40 dBFS white noise. Each command "
        "is its own process (start-up included), best of 2 runs; peak RSS of that process.",
        "",
        "| file | MB | command | time | audio s/s | peak RSS |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name, size, label, seconds, speed, rss in rows:
        lines.append(f"| {name} | {size} | {label} | {seconds:.2f} s | {speed:,.0f} | "
                     f"{rss:,.0f} MB |")
    short = by[("1 min stereo 44.1 kHz", "audioquant analyze")]
    longer = by[(f"{2 * args.minutes:g} min stereo 44.1 kHz", "audioquant analyze")]
    lines += [
        "",
        f"On the {long_name} file: audioquant analyze takes {ours_long[3] / sox[3]:.2f}x "
        f"SoX's time and {ours_long[3] / ffmpeg[3]:.2f}x FFmpeg's "
        f"(target: no slower than SoX), and {ours_long[3] / render_row[3]:.2f}x a render "
        f"of the same file to 16-bit; `analyze --levels` (the levels alone, the figures "
        f"SoX stats and FFmpeg astats give) takes {levels[3] / sox[3]:.2f}x SoX's time and "
        f"{levels[3] / ffmpeg[3]:.2f}x FFmpeg's. Peak RSS {short[5]:,.0f} MB for 1 minute, "
        f"{ours_long[5]:,.0f} MB for {args.minutes:g} and {longer[5]:,.0f} MB for "
        f"{2 * args.minutes:g} (target: under 300 MB and flat). SoX stats and FFmpeg "
        "astats compute levels only (peak, RMS, DC, crest factor, bit depth); analyze "
        "also fits the sine, notches it and measures the noise spectrum (Welch), SINAD, "
        "ENOB, the A/468-weighted noise and the AES17 dynamic range.",
        "",
        "Levels of the long file (dB; RMS re a full-scale square, the SoX/FFmpeg "
        "convention, our `rms_dbfs_square`):",
        "",
        "| tool | peak | RMS |",
        "|---|---:|---:|",
    ]
    lines += [f"| {tool} | {peak:.2f} | {rms:.2f} |" for tool, peak, rms in checks]
    publish(args.out, lines)


if __name__ == "__main__":
    main()
