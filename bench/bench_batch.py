"""Benchmark: batch rendering, 1 and 2 jobs and a local Dask cluster, in one run.

    python bench/bench_batch.py [--files 100] [--seconds 60] [--out bench/RESULTS_batch.md]

``--files`` stereo 24-bit 48 kHz files of ``--seconds`` each (seeded noise at -20 dBFS,
made once in a temporary folder) go to CD format (44.1 kHz, 16-bit, TPDF, shaping auto,
resampling quality high: the ``cd`` preset's settings) through
``audioquant.batch.render_batch``: with 1 job (free to use both cores' threads, the
default), with 1 job capped at 1 compute thread, with 2 jobs (a spawned process pool, one
thread each), and on a local Dask cluster of 2 one-thread workers: once started inside the
timed batch (what ``--backend dask`` without a scheduler costs), once already running and
warmed up (a cluster serving many batches). The same total length as ONE long file
rendered by ``audioquant.engine.render`` is the floor: per-file overhead = (batch time -
long-file time) / files, with the long file timed with the same number of workers (1).
Each configuration runs once after a warm-up batch of 4 files (numba cache and the
workers' imports warm), since the 2-core VM moves +-20 % between runs anyway.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from audioquant import batch  # noqa: E402
from audioquant.engine import render  # noqa: E402
from audioquant.threads import set_max_threads  # noqa: E402

CD = {"rate": 44100, "bits": 16, "dither": "tpdf", "shaping": "auto", "quality": "high"}


def make_files(folder: Path, files: int, seconds: float) -> list[str]:
    rng = np.random.default_rng(2026)
    frames = int(48000 * seconds)
    paths = []
    for i in range(files):
        path = folder / f"take{i:03d}.wav"
        sf.write(str(path), 0.1 * rng.standard_normal((frames, 2)), 48000, subtype="PCM_24")
        paths.append(str(path))
    return paths


def timed_batch(paths: list[str], out: Path, **kwargs) -> float:
    out.mkdir()
    started = time.perf_counter()
    report = batch.render_batch(paths, out, **CD, **kwargs)
    seconds = time.perf_counter() - started
    assert not report.failed, report.failed
    return seconds


def timed_dask_warm(paths: list[str], tmp: Path) -> float:
    """A batch on a LocalCluster of 2 one-thread workers that is already running and has
    rendered a warm-up batch (workers' imports and numba kernels loaded)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        timed_batch(paths[:4], tmp / "dask-warm-up", backend="dask", scheduler=address)
        return timed_batch(paths, tmp / "dask-warm", backend="dask", scheduler=address)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--out", default=str(HERE / "RESULTS_batch.md"))
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="aq-batch-") as tmp:
        tmp = Path(tmp)
        (tmp / "in").mkdir()
        paths = make_files(tmp / "in", args.files, args.seconds)
        long = tmp / "long.wav"
        with sf.SoundFile(str(long), "w", 48000, 2, "PCM_24") as f:
            for p in paths:
                f.write(sf.read(p, dtype="int32")[0])
        timed_batch(paths[:4], tmp / "warm1", jobs=1)
        timed_batch(paths[:4], tmp / "warm2", jobs=2)
        started = time.perf_counter()
        render(str(long), str(tmp / "long_out.wav"), **CD)
        t_long = time.perf_counter() - started
        t1 = timed_batch(paths, tmp / "j1", jobs=1)
        set_max_threads(1)
        try:
            t1_single = timed_batch(paths, tmp / "j1t1", jobs=1)
        finally:
            set_max_threads(None)
        t2 = timed_batch(paths, tmp / "j2", jobs=2)
        try:
            td_cold = timed_batch(paths, tmp / "dask", jobs=2, backend="dask")
            td = timed_dask_warm(paths, tmp)
        except ImportError as exc:  # distributed not installed
            td = td_cold = None
            print(f"dask: {exc}")
        same = all((tmp / "j1" / n).read_bytes() == (tmp / other / n).read_bytes()
                   for n in os.listdir(tmp / "j1")
                   for other in ("j2", "j1t1", *(("dask", "dask-warm") if td else ())))
    audio = args.files * args.seconds
    rows = [("one long file (floor), 1 process", t_long), ("batch, 1 job", t1),
            ("batch, 1 job, 1 compute thread", t1_single),
            ("batch, 2 jobs (process pool, 1 thread each)", t2)]
    if td is not None:
        rows += [("batch, Dask LocalCluster, 2 workers, cluster started in the run", td_cold),
                 ("batch, Dask LocalCluster, 2 workers, warm", td)]
    lines = [
        "## Batch rendering (`bench/bench_batch.py`)",
        "",
        f"`python bench/bench_batch.py --files {args.files} --seconds {args.seconds:g}` on "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {load_start:.2f} at the start (above 0.3: other work shared the "
        f"cores), {os.getloadavg()[0]:.2f} at the end (the bench's own workers).",
        "",
        f"{args.files} stereo 24-bit 48 kHz files of {args.seconds:g} s to the cd preset's "
        "settings (44.1 kHz, 16-bit, TPDF, shaping auto, quality high); one run each after "
        "a warm-up batch. Audio seconds per wall second; overhead per file against one "
        "long file of the same total length (the floor).",
        "",
        "A single job already spreads its channels over both cores (the shaped requantizer "
        "and the resampler split channels over threads), so the pool's own scaling is the "
        "2-job row against the 1-job, 1-thread row.",
        "",
        "| how | wall s | files/s | audio s per s | speed-up vs 1 job | vs 1 job, 1 thread "
        "| overhead per file |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t in rows:
        per_file = f"{(t - t_long) / args.files * 1000:+.0f} ms" if name == "batch, 1 job" \
            else ""
        lines.append(f"| {name} | {t:.2f} | {args.files / t:.2f} | {audio / t:.0f} | "
                     f"{t1 / t:.2f}x | {t1_single / t:.2f}x | {per_file} |")
    lines += ["", f"Every configuration wrote the same bytes: {same}.", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    from bench_render import combine

    combine()
    return 0


if __name__ == "__main__":
    sys.exit(main())
