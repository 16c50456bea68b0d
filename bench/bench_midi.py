"""Benchmark MIDI quantize: our end-to-end file job and its parts, against a plain mido
read/write and music21's quantize, on the same 100,000-note file, in the same run.

    pip install music21          # the `bench` extra
    python bench/bench_midi.py   # writes bench/RESULTS_midi.md

The file (bench/data/perf_100k.mid, not committed) is a type 1 performance at 480 PPQ:
a tempo track and four instrument tracks, notes on a 1/16 grid with Gaussian timing
jitter (sd 15 ticks), a CC every beat per track. Times are the best of ``--repeat`` runs
(the quantize step: the best of 20). music21 has no strength or windows; its
``Stream.quantize((4,))`` snaps offsets and durations to sixteenths, which we compare with
our strength 100 on starts and ends. music21 parses a file only into a Score (measures,
voices), so its parse is timed apart from its quantize.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import mido
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import midi  # noqa: E402

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
            import music21
            from music21 import converter
        except ImportError:
            print("music21 not installed: pip install music21", flush=True)
        else:
            print("music21 parse (slow) ...", flush=True)
            t0 = time.perf_counter()
            score = converter.parse(str(src), quantizePost=False)
            t_m21_parse = time.perf_counter() - t0
            m21_notes = len(score.recurse().notes)
            t0 = time.perf_counter()
            score.quantize(
                (4,), processOffsets=True, processDurations=True, inPlace=True, recurse=True
            )
            t_m21_q = time.perf_counter() - t0
            m21 = (music21.__version__, t_m21_parse, t_m21_q, m21_notes)
            print(f"music21 parse {t_m21_parse:.1f} s, quantize {t_m21_q:.2f} s", flush=True)

    def rate(seconds: float, count: int = n) -> str:
        return f"{count / seconds:,.0f}"

    rows.append(("ours: quantize_file end to end (read + quantize + write)", t_e2e, rate(t_e2e)))
    rows.append(("ours: read (mido parse + note pairing into arrays)", t_read, rate(t_read)))
    rows.append(("ours: quantize step (starts, strength 100)", t_q, rate(t_q)))
    rows.append(("ours: quantize step (ends, strength 80, windows)", t_q_ends, rate(t_q_ends)))
    rows.append(("ours: write (rebuild tracks + mido save, atomic)", t_write, rate(t_write)))
    rows.append((f"ours: quantize step on {reps * n:,} notes", t_big, rate(t_big, reps * n)))
    rows.append(("mido: MidiFile(path) read", t_mido_read, rate(t_mido_read)))
    rows.append(("mido: MidiFile.save write", t_mido_write, rate(t_mido_write)))
    if m21:
        rows.append(
            (f"music21 {m21[0]}: converter.parse (quantizePost=False)", m21[1], rate(m21[1]))
        )
        rows.append(
            (f"music21 {m21[0]}: Stream.quantize((4,)) offsets + durations", m21[2], rate(m21[2]))
        )

    parts = t_read + t_q + t_write
    lines = [
        "## MIDI quantize",
        "",
        f"`python bench/bench_midi.py` on {platform.processor() or platform.machine()},"
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
        shown = f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"
        lines.append(f"| {name} | {shown} | {r} |")
    lines += [
        "",
        f"Time split of our file job (parts timed apart): read {t_read / parts:.1%},"
        f" quantize {t_q / parts:.1%}, write {t_write / parts:.1%}."
        f" Notes moved: {report['moved']:,}; mean distance from the grid"
        f" {report['before']['mean_ticks']:.2f} -> {report['after']['mean_ticks']:.2f} ticks.",
    ]
    if m21:
        lines.append(
            f"music21 made {m21[3]:,} notes of the file's {n:,} (it splits notes at barlines"
            " into tied notes); its quantize alone took"
            f" {m21[2] / t_q:,.0f}x our quantize step, and parse + quantize"
            f" {(m21[1] + m21[2]) / t_e2e:,.0f}x our whole file job."
        )
    lines.append("")
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
