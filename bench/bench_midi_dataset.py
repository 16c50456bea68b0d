"""Benchmark: MIDI at dataset scale, audioquant beside symusic, mido and pretty_midi.

    pip install symusic pretty_midi
    python bench/bench_midi_dataset.py [--data ../shared/data/asap-dev] [--notes 1000000]

Two inputs, the same for every tool, in one run:

- a folder of real performances: every performance of the ASAP development set (its
  ``midi_score.mid`` score files left out), copied into a temporary folder (never into
  the repository: see the data's licence);
- one performance of ``--notes`` notes made with mido (bench_midi.make_file: a tempo
  track and four humanized instrument tracks at 480 PPQ).

Each tool runs as its own process, start-up included, timed from outside (wall time, and
peak RSS from GNU time): symusic ``Score(path)`` + ``dump_midi``, mido ``MidiFile`` +
``save``, pretty_midi ``PrettyMIDI`` + ``write`` (each a load and a save of every file,
no change), and ``audioquant midi quantize DIR --recursive --out-dir OUT --grid 1/16``
(one process, the whole folder: read, quantize, write every file atomically, on the
cores' threads; the same on one thread, ``AUDIOQUANT_THREADS=1``; and with ``--jobs 2``,
two forked workers: ``--jobs``). Each is run
twice, the faster kept (the first run warms the page cache and numba's cache). Then
``--rounds`` interleaved rounds of audioquant (threads) and symusic on the folder give the
ratio within each round: the machine's speed drifts by tens of percent in minutes, and
the disk's file creation slows after a few delete-and-write cycles, which moves two
best-of runs minutes apart far more than two runs side by side. Notes are note-ons with
velocity above 0 as counted by our reader.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
sys.path.insert(0, str(HERE))

from bench_render import cpu_name, publish, run_timed  # noqa: E402

#: Load + save of every file given on the command line into the folder argv[1]; the
#: loops each peer runs (no change to the music).
PEERS = {
    "symusic": ("import sys, os\nfrom symusic import Score\nout = sys.argv[1]\n"
                "for i, p in enumerate(sys.argv[2:]):\n"
                "    Score(p).dump_midi(os.path.join(out, f'{i}.mid'))\n"),
    "mido": ("import sys, os, mido\nout = sys.argv[1]\n"
             "for i, p in enumerate(sys.argv[2:]):\n"
             "    mido.MidiFile(p).save(os.path.join(out, f'{i}.mid'))\n"),
    "pretty_midi": ("import sys, os, warnings\nwarnings.simplefilter('ignore')\n"
                    "import pretty_midi\nout = sys.argv[1]\n"
                    "for i, p in enumerate(sys.argv[2:]):\n"
                    "    pretty_midi.PrettyMIDI(p).write(os.path.join(out, f'{i}.mid'))\n"),
}


def run_into(cmd: list[str], fresh: Path) -> tuple[float, float, str]:
    """``run_timed(cmd)`` with the folder ``fresh`` emptied first."""
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    return run_timed(cmd)


def best(cmd: list[str], fresh: Path) -> tuple[float, float] | str:
    """The faster of two runs, each into an empty ``fresh`` folder; the tool's last line
    of output when it refuses the input."""
    results = []
    for _ in range(2):
        try:
            results.append(run_into(cmd, fresh)[:2])
        except SystemExit as exc:          # (pretty_midi refuses ticks past 10 M)
            return str(exc).strip().splitlines()[-1][:120]
    return min(results)


def interleaved(ours: list[str], theirs: list[str], out: Path, rounds: int
                ) -> tuple[list[float], list[float]]:
    """``rounds`` runs of each command, alternating (the first of each pair swapped every
    round), each into an empty ``out``: their wall times [s]. On a machine whose speed
    moves by tens of percent from one minute to the next, the ratio within a round says
    more than two best-of runs minutes apart."""
    a: list[float] = []
    b: list[float] = []
    for k in range(rounds):
        for cmd in ((ours, theirs) if k % 2 == 0 else (theirs, ours)):
            (a if cmd is ours else b).append(run_into(cmd, out)[0])
    return a, b


def count_notes(paths: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    from audioquant import midi

    return sum(len(midi.read(p).notes) for p in paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "asap-dev"))
    parser.add_argument("--notes", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(HERE / "RESULTS_midi_dataset.md"))
    parser.add_argument("--peers", default=",".join(PEERS),
                        help="the peers to run, comma-separated (default: all)")
    parser.add_argument("--note", default="", help="a line added under the table")
    parser.add_argument("--rounds", type=int, default=10,
                        help="interleaved rounds of audioquant (threads) and symusic on the "
                             "folder (0: none)")
    parser.add_argument("--jobs", default="1,2",
                        help="audioquant's --jobs values for the folder, comma-separated "
                             "(1 also runs with one thread: AUDIOQUANT_THREADS=1)")
    args = parser.parse_args()
    peers = {name: PEERS[name] for name in args.peers.split(",")}
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = tmp / "performances"
        sources = sorted(p for p in Path(args.data).rglob("*.mid") if p.name != "midi_score.mid")
        for src in sources:
            dst = folder / src.relative_to(args.data)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        files = sorted(str(p) for p in folder.rglob("*.mid"))
        from bench_midi import make_file

        big = tmp / "big.mid"
        make_file(big, args.notes)
        inputs = {"folder": (files, count_notes(files)),
                  "one file": ([str(big)], count_notes([str(big)]))}
        ours = [PY, "-m", "audioquant", "midi", "quantize"]
        for label, (paths, notes) in inputs.items():
            out = tmp / "out"
            if label == "folder":
                for jobs in args.jobs.split(","):
                    cmd = [*ours, str(folder), "--recursive", "--out-dir", str(out),
                           "--grid", "1/16", "--quiet", "--jobs", jobs]
                    tool = "audioquant midi quantize" + (f" --jobs {jobs}" if jobs != "1"
                                                         else "")
                    rows.append((label, len(paths), notes, tool, best(cmd, out)))
                    if jobs == "1":
                        rows.append((label, len(paths), notes, f"{tool}, one thread",
                                     best(["env", "AUDIOQUANT_THREADS=1", *cmd], out)))
            else:
                cmd = [*ours, str(big), str(out / "big.mid"), "--grid", "1/16"]
                rows.append((label, len(paths), notes, "audioquant midi quantize",
                             best(cmd, out)))
            for tool, code in peers.items():
                rows.append((label, len(paths), notes, f"{tool} load + save",
                             best([PY, "-c", code, str(out), *paths], out)))
            if label == "folder" and args.rounds and "symusic" in peers:
                ab = interleaved([*ours, str(folder), "--recursive", "--out-dir", str(out),
                                  "--grid", "1/16", "--quiet"],
                                 [PY, "-c", PEERS["symusic"], str(out), *paths], out,
                                 args.rounds)
    by = {(r[0], r[3]): r for r in rows}
    lines = [
        "## MIDI at dataset scale: audioquant beside symusic, mido, pretty_midi",
        "",
        f"`python bench/bench_midi_dataset.py` on {cpu_name()} ({platform.machine()}), "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; symusic "
        f"{version('symusic')}, mido {version('mido')}, pretty_midi "
        f"{version('pretty_midi')}. Load average at the start: {load:.2f}.",
        "",
        "Each tool is one process over all the files, start-up included (wall time, best "
        "of 2; peak RSS of the process). Peers load and save every file unchanged; "
        "audioquant reads, quantizes to 1/16 (strength 100) and writes every file "
        "atomically (synced, then renamed into place). Its one process runs the files on "
        f"as many threads as there are cores ({os.cpu_count()} here; the kernel of a file "
        "releases the GIL); `, one thread` is the same with `AUDIOQUANT_THREADS=1`; "
        "`--jobs 2` runs two forked worker processes (one thread each), its peak RSS is "
        "the largest process's.",
        "",
        "| input | files | notes | tool | time | notes/s | peak RSS |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for label, n_files, notes, tool, result in rows:
        if isinstance(result, str):
            lines.append(f"| {label} | {n_files} | {notes:,} | {tool} | refused: {result} "
                         "| | |")
            continue
        seconds, rss = result
        lines.append(f"| {label} | {n_files} | {notes:,} | {tool} | {seconds:.2f} s | "
                     f"{notes / seconds:,.0f} | {rss:,.0f} MB |")
    lines.append("")
    for label, _, _, ours_tool, result in rows:
        if not ours_tool.startswith("audioquant"):
            continue
        seconds, rss = result
        ratios = ", ".join(
            f"{by[(label, f'{tool} load + save')][4][0] / seconds:.2f}x {tool}"
            for tool in peers if not isinstance(by[(label, f"{tool} load + save")][4], str))
        lines.append(f"- {label}, `{ours_tool}`: {seconds:.2f} s in {rss:,.0f} MB; speed "
                     f"against each peer's load + save (its time / ours): {ratios}.")
    if args.rounds and "symusic" in peers:
        import statistics

        ratios = sorted(s / a for a, s in zip(*ab, strict=True))
        lines += ["", f"Interleaved, {args.rounds} rounds on the folder (audioquant on "
                  "threads, then symusic, the order swapped every round): audioquant "
                  f"median {statistics.median(ab[0]):.2f} s (fastest {min(ab[0]):.2f} s), "
                  f"symusic median {statistics.median(ab[1]):.2f} s (fastest "
                  f"{min(ab[1]):.2f} s); symusic's time / ours within a round: median "
                  f"{statistics.median(ratios):.2f}x, from {ratios[0]:.2f}x to "
                  f"{ratios[-1]:.2f}x; {sum(r > 1 for r in ratios)} of {len(ratios)} rounds "
                  "faster than symusic."]
    if args.note:
        lines += ["", args.note]
    publish(args.out, lines)


if __name__ == "__main__":
    main()
