"""Benchmark: rendering a float mix to 16-bit, side by side with SoX and FFmpeg.

Run: ``python bench/bench_render.py [--quick]`` (needs ``sox`` and ``ffmpeg`` on PATH).
Writes ``bench/RESULTS_render.md`` and rebuilds ``bench/RESULTS.md`` from every
``bench/RESULTS_*.md``. Test files are generated into ``bench/data/`` (not committed).

Every whole-process figure is the median of 5 runs of the command as a user types it
(our start-up included), timed with ``/usr/bin/time`` for wall time and peak RSS, after
``sync`` so that earlier runs' writes are not flushed during the timed one. Tools that are
compared take turns within each round, so the machine's drift falls on all of them.
Throughput counts samples = frames x channels. Our numba cache is warmed once first.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
OUT = HERE / "out"
RATE = 44100
AQ = [sys.executable, "-m", "audioquant", "render"]
RUNS = 5


def make_mix(path: Path, seconds: int) -> Path:
    """Stereo 32-bit float: two tones plus noise at about -12 dBFS, written in 10 s chunks."""
    if path.exists() and sf.info(str(path)).frames == seconds * RATE:
        return path
    DATA.mkdir(exist_ok=True)
    rng = np.random.default_rng(seconds)
    chunk = 10 * RATE
    with sf.SoundFile(str(path), "w", RATE, 2, "FLOAT") as f:
        for start in range(0, seconds * RATE, chunk):
            n = min(chunk, seconds * RATE - start)
            t = (np.arange(n) + start) / RATE
            left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)
            right = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(n)
            f.write(np.stack([left, right], axis=1).astype(np.float32))
    return path


def cpu_name() -> str:
    """The processor's model name (Linux's /proc/cpuinfo), else its architecture: the
    ratios to the peers differ between machines of the same architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds (this side's clock), peak RSS (MB, GNU time's %M: the process's own,
    not inherited from this one) and stdout + stderr of one run of ``cmd``."""
    os.sync()            # earlier runs' dirty pages must not be flushed during this one
    with tempfile.NamedTemporaryFile("r") as rss:
        started = time.perf_counter()
        res = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - started
        kilobytes = float(rss.read().split()[-1])
    output = res.stdout.decode(errors="replace")
    if res.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{output[-3000:]}")
    return seconds, kilobytes / 1024, output


def timed_once(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run of ``cmd``."""
    seconds, rss, _ = run_timed(cmd)
    return seconds, rss


def publish(path: str | Path, lines: list[str]) -> None:
    """Write a benchmark's section, print it and rebuild bench/RESULTS.md."""
    text = "\n".join(lines) + "\n"
    Path(path).write_text(text)
    print(text)
    combine()


def timed_rounds(cmds: dict[str, list[str]], runs: int = RUNS) -> dict[str, tuple[float, float]]:
    """name -> (median wall s, max peak RSS MB) over ``runs`` rounds; each round runs every
    command once, in turn, so that drift in the machine's speed (a shared VM) falls on all
    tools alike instead of on whichever ran last."""
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    rss: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(runs):
        for name, cmd in cmds.items():
            wall, mb = timed_once(cmd)
            walls[name].append(wall)
            rss[name].append(mb)
    return {name: (statistics.median(walls[name]), max(rss[name])) for name in cmds}


def timed(cmd: list[str], runs: int = RUNS) -> tuple[float, float]:
    """Median wall seconds and max peak RSS (MB) of ``cmd`` over ``runs`` runs."""
    return timed_rounds({"cmd": cmd}, runs)["cmd"]


def tools(src: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (kind, command) for one input file."""
    o = OUT
    ff = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src)]
    return {
        "audioquant TPDF": ("tpdf", [*AQ, str(src), str(o / "aq_tpdf.wav")]),
        "sox dither (TPDF)": ("tpdf", ["sox", "-V1", str(src), "-b", "16",
                                       str(o / "sox_tpdf.wav"), "dither"]),
        "ffmpeg triangular": ("tpdf", [*ff, "-af", "aresample=osf=s16:dither_method=triangular",
                                       "-c:a", "pcm_s16le", str(o / "ff_tpdf.wav")]),
        "audioquant shibata (20 taps)": ("shaped", [*AQ, str(src), str(o / "aq_shi.wav"),
                                                    "--shaping", "shibata"]),
        "audioquant f-weighted (9 taps)": ("shaped", [*AQ, str(src), str(o / "aq_fw.wav"),
                                                      "--shaping", "f-weighted"]),
        "sox dither -s (shibata)": ("shaped", ["sox", "-V1", str(src), "-b", "16",
                                               str(o / "sox_shi.wav"), "dither", "-s"]),
        "ffmpeg shibata": ("shaped", [*ff, "-af", "aresample=osf=s16:dither_method=shibata",
                                      "-c:a", "pcm_s16le", str(o / "ff_shi.wav")]),
    }


def kernel_throughput(seconds: int = 60) -> dict[str, float]:
    """M samples/s of the requantize kernel alone (in memory, 2**18-frame blocks of
    interleaved float32, as the render reads them; int16 codes out)."""
    from audioquant.processors import Requantize

    block = 1 << 18
    x = (0.3 * np.random.default_rng(0).standard_normal((seconds * RATE, 2))).astype(
        np.float32).T
    result = {}
    for name, shaping in (("TPDF", None), ("lipshitz 5 taps", "lipshitz"),
                          ("f-weighted 9 taps", "f-weighted"), ("gesemann IIR 4+4", "gesemann"),
                          ("shibata 20 taps", "shibata")):
        best = float("inf")
        for _ in range(3):
            proc = Requantize(16, shaping=shaping)
            proc.prepare(RATE, 2)
            proc.process_codes(x[:, :64])
            proc.reset()
            t0 = time.perf_counter()
            for i in range(0, x.shape[1], block):
                proc.process_codes(x[:, i:i + block], dtype=np.int16)
            best = min(best, time.perf_counter() - t0)
        result[name] = x.size / best / 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the 30 and 60 min files")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    lines = ["## Render to 16-bit: audioquant vs SoX and FFmpeg", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}; {time.strftime('%Y-%m-%d')}. Median of {RUNS} "
             "runs, whole process (start-up included), page cache warm. The tools take "
             "turns within each round of runs.", ""]

    short = make_mix(DATA / "mix_5s.wav", 5)
    subprocess.run([*AQ, str(short), str(OUT / "warm.wav")], check=True, capture_output=True)
    for shaping in ("shibata", "f-weighted"):
        subprocess.run([*AQ, str(short), str(OUT / "warm.wav"), "--shaping", shaping],
                       check=True, capture_output=True)
    wall, rss = timed([*AQ, str(short), str(OUT / "aq_short.wav")])
    lines += [f"Start-up (5 s stereo file, numba cache warm): **{wall:.2f} s**, "
              f"peak RSS {rss:.0f} MB.", ""]

    src = make_mix(DATA / "mix_10min.wav", 600)
    samples = 600 * RATE * 2
    lines += ["### 10 min stereo 44.1 kHz float32 -> 16-bit", "",
              "| tool | wall s | M samples/s | peak RSS MB | vs SoX (same kind) |",
              "|---|---|---|---|---|"]
    kinds = {name: kind for name, (kind, _) in tools(src).items()}
    timings = timed_rounds({name: cmd for name, (_, cmd) in tools(src).items()})
    results = {name: (kinds[name], *timings[name]) for name in kinds}
    sox_time = {kind: wall for name, (kind, wall, _) in results.items() if name.startswith("sox")}
    for name, (kind, wall, rss) in results.items():
        lines.append(f"| {name} | {wall:.2f} | {samples / wall / 1e6:.0f} | {rss:.0f} | "
                     f"{wall / sox_time[kind]:.2f}x |")
    lines.append("")

    if not args.quick:
        long30 = make_mix(DATA / "mix_30min.wav", 1800)
        both = timed_rounds({"aq": [*AQ, str(long30), str(OUT / "aq30.wav")],
                             "sox": ["sox", "-V1", str(long30), "-b", "16",
                                     str(OUT / "sox30.wav"), "dither"]})
        aq30, sox30 = both["aq"], both["sox"]
        lines += ["### 30 min stereo float32 -> 16-bit TPDF", "",
                  "| tool | wall s | M samples/s | peak RSS MB |", "|---|---|---|---|",
                  f"| audioquant | {aq30[0]:.2f} | {1800 * RATE * 2 / aq30[0] / 1e6:.0f} | "
                  f"{aq30[1]:.0f} |",
                  f"| sox | {sox30[0]:.2f} | {1800 * RATE * 2 / sox30[0] / 1e6:.0f} | "
                  f"{sox30[1]:.0f} |",
                  f"| ratio | {aq30[0] / sox30[0]:.2f}x | | |", ""]
        rss_rows = []
        for minutes in (1, 60):
            path = make_mix(DATA / f"mix_{minutes}min.wav", 60 * minutes)
            wall, rss = timed([*AQ, str(path), str(OUT / "aq_rss.wav")], runs=1)
            rss_rows.append(f"| {minutes} min | {wall:.2f} | {rss:.0f} |")
            if minutes == 60:
                path.unlink()                  # 1.3 GB: do not keep it around
        lines += ["### Memory is bounded by the block size", "",
                  "| file | wall s | peak RSS MB |", "|---|---|---|", *rss_rows, ""]

    lines += ["### Kernels alone (in memory, stereo, 2**18-frame blocks, best of 3)", "",
              "| kernel | M samples/s |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in kernel_throughput().items()]
    lines.append("")
    (HERE / "RESULTS_render.md").write_text("\n".join(lines))
    combine()
    print("\n".join(lines))


def combine() -> None:
    """Rebuild bench/RESULTS.md from the per-benchmark sections."""
    parts = sorted(HERE.glob("RESULTS_*.md"))
    body = "\n\n".join(p.read_text().strip() for p in parts)
    (HERE / "RESULTS.md").write_text(
        "# Benchmark results\n\nMade by the scripts in bench/ (each writes its "
        "RESULTS_<name>.md section; this page joins them).\n\n" + body + "\n")


if __name__ == "__main__":
    main()
