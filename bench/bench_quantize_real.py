"""Benchmark: quantizing real performances (played without a click), before and after
``--follow-beats``, on the held-out part of the ASAP development set.

    python bench/bench_quantize_real.py [--data ../shared/data/asap-dev] [--limit N]

For each held-out performance (the split of bench/bench_beats.py: by piece, never tuned
on), a 1/16 quantize at strength 100 in four ways:

- ``old``: the file's own (placeholder) grid, note starts only, each note on its own
  (what ``midi quantize`` did before this issue: ``--starts-only --chord-ms 0``);
- ``new``: the file's grid with the new defaults (whole notes, chords together);
- ``follow``: ``--follow-beats`` with the beats our tracker finds;
- ``follow (annotated)``: ``--follow-beats --beats`` with ASAP's hand-checked beats (the
  best a tracker could give).

Figures (notes-weighted over the files): the mean distance of the onsets from their line
before quantizing, in grid steps (0.25 is what onsets spread evenly over the step give:
no relation to the grid), how many files' grids ``grid_fit`` finds do not fit, the median
distance a moved note travels (ms), chords torn (notes of one track and channel starting
within 30 ms of the first, put on more than one line), and notes cut to 5 ms or less.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_beats import held_out  # noqa: E402
from bench_render import publish  # noqa: E402

from audioquant import midi  # noqa: E402

CONFIGS = {
    "old": (None, {"mode": "starts", "chord_ms": 0}),
    "new": (None, {}),
    "follow": ({}, {}),
    "follow (annotated)": ("annotated", {}),
}


def measure(song, follow, options: dict, annotations: Path) -> dict:
    """The figures of one quantize of ``song``."""
    if follow == "annotated":
        follow = {"beats_file": str(annotations)}
    work, _ = midi.followed_song(song, follow)
    quantized, report = midi.quantize_song(work, grid="1/16", **options)
    before, after = work.notes, quantized.notes
    tm = work.tempo_map
    moved = before.start != after.start
    travel = np.abs(tm.seconds(after.start) - tm.seconds(before.start))[moved] * 1000
    chords = midi.chord_groups(before, tm, 30.0)
    _, inverse, counts = np.unique(chords, return_inverse=True, return_counts=True)
    multi = counts[inverse] > 1
    key = np.unique(np.stack([chords[multi], after.start[multi]]), axis=1)
    lines_per_chord = np.bincount(np.searchsorted(np.unique(chords[multi]), key[0]))
    step = work.ticks_per_beat / 4
    return {
        "notes": len(before),
        "deviation_steps": report["before"]["mean_ticks"] / step,
        "fits": bool(report["grid_fit"]["fits"]),
        "travel": travel,
        "chords": int(np.count_nonzero(counts > 1)),
        "torn": int(np.count_nonzero(lines_per_chord > 1)),
        "short": int(report["short_notes"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data" /
                                              "asap-dev"))
    parser.add_argument("--limit", type=int, default=0, help="first N held-out files only")
    parser.add_argument("--out", default=str(HERE / "RESULTS_quantize_real.md"))
    args = parser.parse_args()
    data = Path(args.data)
    files = sorted(p for p in data.rglob("*.mid") if p.name != "midi_score.mid"
                   and held_out(str(p.parent.relative_to(data))))
    if args.limit:
        files = files[: args.limit]
    load = os.getloadavg()[0]
    totals = {name: [] for name in CONFIGS}
    seconds = {name: 0.0 for name in CONFIGS}
    for path in files:
        song = midi.read(path)
        annotations = path.with_name(path.stem + "_annotations.txt")
        for name, (follow, options) in CONFIGS.items():
            started = time.perf_counter()
            totals[name].append(measure(song, follow, options, annotations))
            seconds[name] += time.perf_counter() - started
    lines = [
        "## Quantizing real performances: the file's grid against --follow-beats",
        "",
        f"`python bench/bench_quantize_real.py` on {platform.machine()}, {os.cpu_count()} "
        f"cores, Python {platform.python_version()}; load average at the start "
        f"{load:.2f}. {len(files)} held-out ASAP performances (the split of "
        "bench_beats.py), 1/16 grid, strength 100.",
        "",
        "| quantize | onsets off the grid before (steps; 0.25 = no relation) | files whose "
        "grid does not fit | median move of a moved note | chords torn | notes cut to "
        "<= 5 ms | time |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, rows in totals.items():
        notes = sum(r["notes"] for r in rows)
        dev = sum(r["deviation_steps"] * r["notes"] for r in rows) / max(notes, 1)
        unfit = sum(not r["fits"] for r in rows)
        travel = np.concatenate([r["travel"] for r in rows]) if rows else np.zeros(0)
        chords = sum(r["chords"] for r in rows)
        torn = sum(r["torn"] for r in rows)
        short = sum(r["short"] for r in rows)
        lines.append(f"| {name} | {dev:.3f} | {unfit} of {len(rows)} | "
                     f"{np.median(travel) if travel.size else 0:.1f} ms | {torn} of {chords} "
                     f"| {short} | {seconds[name]:.2f} s |")
    publish(args.out, lines)


if __name__ == "__main__":
    main()
