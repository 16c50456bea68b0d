"""Benchmark MIDI quantize: our end-to-end file job and its parts, against a plain mido
read/write and music21's quantize, on the same 100,000-note file, in the same run.

    pip install music21          # the `bench` extra
    python bench/bench_midi.py   # writes bench/RESULTS_midi.md

The file (bench/data/perf_100k.mid, not committed) is a type 1 performance at 480 PPQ:
a tempo track and four instrument tracks, notes on a 1/16 grid with Gaussian timing
jitter (sd 15 ticks), a CC every beat per track. Times are the best of ``--repeat`` runs
(the quantize step: the best of 20). music21 has no strength or windows; its
``Stream.quantize((4,))`` snaps offsets and durations to sixteenths (our strength 100).
It runs on a Stream built from the same 100,000 notes; music21's MIDI import (which builds
a whole Score: measures, ties, voices) is timed apart, in a subprocess with a time limit,
on 5,000- and 20,000-note files from the same generator and on the full file, with
``forceSource=True`` (music21 otherwise reloads a pickle it cached on an earlier run).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import mido
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_render import cpu_name  # noqa: E402

from audioquant import midi  # noqa: E402

PPQ = 480
STEP = PPQ // 4


def make_file(path: Path, n_notes: int, seed: int = 7) -> None:
    """A humanized multi-track performance written with mido (not with our writer)."""
    rng = np.random.default_rng(seed)
    mid = mido.MidiFile(type=1, ticks_per_beat=PPQ)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0))
    conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    mid.tracks.append(conductor)
    per_track = n_notes // 4
    for t in range(4):
        count = per_track if t < 3 else n_notes - 3 * per_track
        slots = np.sort(rng.choice(count * 2, count, replace=False))
        start = np.maximum(np.rint(slots * STEP + rng.normal(0, 15, count)), 0).astype(int)
        pitch = rng.integers(36 + 12 * t, 48 + 12 * t, count)
        # each pitch's notes end before its next start (a monophonic line per pitch)
        end = start + rng.integers(30, 2 * STEP, count)
        for p in np.unique(pitch):
            ids = np.flatnonzero(pitch == p)
            ids = ids[np.argsort(start[ids], kind="stable")]
            end[ids[:-1]] = np.minimum(
                end[ids[:-1]], np.maximum(start[ids[1:]], start[ids[:-1]] + 1)
            )
        vel = rng.integers(40, 120, count)
        events = []
        for s, e, p, v in zip(
            start.tolist(), end.tolist(), pitch.tolist(), vel.tolist(), strict=True
        ):
            events.append((s, 1, mido.Message("note_on", channel=t, note=p, velocity=v)))
            events.append((e, 0, mido.Message("note_off", channel=t, note=p, velocity=64)))
        for beat in range(0, int(start.max()) // PPQ + 1):
            events.append(
                (
                    beat * PPQ,
                    0,
                    mido.Message("control_change", channel=t, control=1, value=beat % 128),
                )
            )
        events.sort(key=lambda e: (e[0], e[1]))
        track = mido.MidiTrack()
        last = 0
        for tick, _, msg in events:
            track.append(msg.copy(time=tick - last))
            last = tick
        mid.tracks.append(track)
    mid.save(path)


_M21_PARSE = """
import json, sys, time
from music21 import converter
t0 = time.perf_counter()
converter.parse(sys.argv[1], quantizePost=False, forceSource=True)  # no pickle cache
print(json.dumps(time.perf_counter() - t0))
"""


def run_music21(song, src: Path, data: Path, timeout: float) -> dict:
    """music21 on the same notes: build a Stream, quantize it; and parse files in a
    subprocess with a time limit (its MIDI import is far slower than its quantize)."""
    import music21
    from music21 import note, stream

    n = song.notes
    tpb = song.ticks_per_beat
    t0 = time.perf_counter()
    part = stream.Part()
    for s, d, p in zip(
        (n.start / tpb).tolist(), ((n.end - n.start) / tpb).tolist(), n.pitch.tolist(), strict=True
    ):
        part.coreInsert(s, note.Note(p, quarterLength=d))
    part.coreElementsChanged()
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    part.quantize((4,), processOffsets=True, processDurations=True, inPlace=True)
    t_quantize = time.perf_counter() - t0
    print(f"music21 build {t_build:.2f} s, quantize {t_quantize:.2f} s", flush=True)
    parses = []
    for count in (5_000, 20_000, len(n)):
        path = src if count == len(n) else data / f"perf_{count // 1000}k.mid"
        if not path.exists():
            make_file(path, count)
        print(f"music21 parse of {count} notes (limit {timeout:.0f} s) ...", flush=True)
        try:
            r = subprocess.run(
                [sys.executable, "-c", _M21_PARSE, str(path)],
                timeout=timeout,
                capture_output=True,
                text=True,
                check=True,
            )
            parses.append((count, float(r.stdout.strip().splitlines()[-1])))
        except subprocess.TimeoutExpired:
            parses.append((count, None))
            break
        print(f"  {parses[-1][1]:.1f} s", flush=True)
    return {
        "version": music21.__version__,
        "build": t_build,
        "quantize": t_quantize,
        "parse": parses,
    }


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notes", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-music21", action="store_true")
    ap.add_argument(
        "--music21-timeout",
        type=float,
        default=240,
        help="seconds allowed for each music21 file parse (default 240)",
    )
    ap.add_argument("--out", default=str(HERE / "RESULTS_midi.md"))
    args = ap.parse_args(argv)

    data = HERE / "data"
    out_dir = HERE / "out"
    data.mkdir(exist_ok=True)
    out_dir.mkdir(exist_ok=True)
    src = data / f"perf_{args.notes // 1000}k.mid"
    if not src.exists():
        print(f"making {src} ...", flush=True)
        make_file(src, args.notes)
    size_kb = src.stat().st_size / 1024
    dst = out_dir / "perf_q.mid"
    settings = dict(strength=100, exclude_within=0, catch_range=100, mode="starts")

    rows: list[tuple[str, float, str]] = []

    # ours, end to end
    t_e2e, report = best(lambda: midi.quantize_file(src, dst, grid="1/16", **settings), args.repeat)
    n = report["notes"]
    print(f"ours end to end: {t_e2e:.3f} s", flush=True)
    # ours, the parts
    t_read, song = best(lambda: midi.read(src), args.repeat)
    grid = midi.Grid.parse("1/16", song.ticks_per_beat)
    t_q, result = best(lambda: midi.quantize(song.notes, grid, **settings), 20)
    ends = dict(strength=80, exclude_within=10, catch_range=90, mode="ends")
    t_q_ends, _ = best(lambda: midi.quantize(song.notes, grid, **ends), 20)
    t_write, _ = best(lambda: midi.write(song.with_notes(result.notes), dst), args.repeat)
    print(
        f"ours read {t_read:.3f} s, quantize {t_q * 1e3:.2f} ms, write {t_write:.3f} s", flush=True
    )
    # the quantize step on a million notes (tiled copies of the file's notes)
    reps = max(1, 1_000_000 // n)
    big = midi.Notes.from_arrays(
        np.concatenate(
            [song.notes.start + i * (int(song.notes.end.max()) + PPQ) for i in range(reps)]
        ),
        np.concatenate(
            [song.notes.end + i * (int(song.notes.end.max()) + PPQ) for i in range(reps)]
        ),
        np.tile(song.notes.pitch, reps),
        np.tile(song.notes.velocity, reps),
        channel=np.tile(song.notes.channel, reps),
        track=np.tile(song.notes.track, reps),
    )
    t_big, _ = best(lambda: midi.quantize(big, grid, **settings), 5)

    # plain mido
    t_mido_read, mf = best(lambda: mido.MidiFile(src), args.repeat)
    t_mido_write, _ = best(lambda: mf.save(out_dir / "perf_mido.mid"), args.repeat)
    print(f"mido read {t_mido_read:.3f} s, write {t_mido_write:.3f} s", flush=True)

    m21 = None
    if not args.skip_music21:
        try:
            import music21  # noqa: F401
        except ImportError:
            print("music21 not installed: pip install music21", flush=True)
        else:
            m21 = run_music21(song, src, data, args.music21_timeout)

    def rate(seconds: float, count: int = n) -> str:
        return f"{count / seconds:,.0f}"

    rows.append(("ours: quantize_file end to end (read + quantize + write)", t_e2e, rate(t_e2e)))
    rows.append(("ours: read (numba SMF reader, event table, note pairing)", t_read, rate(t_read)))
    rows.append(("ours: quantize step (starts, strength 100)", t_q, rate(t_q)))
    rows.append(("ours: quantize step (ends, strength 80, windows)", t_q_ends, rate(t_q_ends)))
    rows.append(("ours: write (numba encoder of what moved, atomic)", t_write, rate(t_write)))
    rows.append((f"ours: quantize step on {reps * n:,} notes", t_big, rate(t_big, reps * n)))
    rows.append(("mido: MidiFile(path) read", t_mido_read, rate(t_mido_read)))
    rows.append(("mido: MidiFile.save write", t_mido_write, rate(t_mido_write)))
    if m21:
        rows.append(
            (
                f"music21 {m21['version']}: build a Stream of the same notes",
                m21["build"],
                rate(m21["build"]),
            )
        )
        rows.append(
            (
                f"music21 {m21['version']}: Stream.quantize((4,)) offsets + durations",
                m21["quantize"],
                rate(m21["quantize"]),
            )
        )
        for count, parse in m21["parse"]:
            if parse is None:
                rows.append(
                    (
                        f"music21: converter.parse of the {count:,}-note file",
                        float("nan"),
                        f"did not finish in {args.music21_timeout:.0f} s",
                    )
                )
            else:
                rows.append(
                    (
                        f"music21: converter.parse of a {count:,}-note file (same generator)",
                        parse,
                        rate(parse, count),
                    )
                )

    parts = t_read + t_q + t_write
    lines = [
        "## MIDI quantize",
        "",
        f"`python bench/bench_midi.py` on {cpu_name()},"
        f" {os.cpu_count()} cores (shared), Python {platform.python_version()},"
        f" numpy {np.__version__}, mido {version('mido')}.",
        "",
        f"File: {n:,} notes, 5 tracks, 480 PPQ, {size_kb:.0f} KB (made by the script with"
        " mido: 1/16 grid + Gaussian jitter, sd 15 ticks). Grid 1/16, strength 100, starts"
        " unless noted. Best of"
        f" {args.repeat} runs (quantize step: best of 20).",
        "",
        "| what | time | notes/s |",
        "|---|---:|---:|",
    ]
    for name, seconds, r in rows:
        if seconds != seconds:  # nan: did not finish
            shown = "-"
        else:
            shown = f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"
        lines.append(f"| {name} | {shown} | {r} |")
    lines += [
        "",
        f"Time split of our file job (parts timed apart): read {t_read / parts:.1%},"
        f" quantize {t_q / parts:.1%}, write {t_write / parts:.1%}."
        f" Notes moved: {report['moved']:,}; mean distance from the grid"
        f" {report['before']['mean_ticks']:.2f} -> {report['after']['mean_ticks']:.2f} ticks."
        f" A plain mido read + write of the file takes {t_mido_read + t_mido_write:.2f} s;"
        f" our whole job takes {t_e2e / (t_mido_read + t_mido_write):.2f}x that"
        f" (our reader is {t_mido_read / t_read:.1f}x mido's read, our writer"
        f" {t_mido_write / t_write:.1f}x mido's save).",
    ]
    if m21:
        lines.append(
            f"music21's quantize took {m21['quantize'] / t_q:,.0f}x our quantize step on the"
            " same notes. Its MIDI import is the slow part: it builds a full Score (measures,"
            " ties, voices); parse times for smaller files of the same kind are in the table."
        )
    lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
