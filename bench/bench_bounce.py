"""Benchmark the MIDI bounce: a real piano performance played by our SoundFont player
(and the built-in synth, when ``audioquant.dsp.synth`` is there), side by side with
FluidSynth on the same SoundFonts, in the same run.

    apt-get install fluidsynth fluid-soundfont-gm     # the peer and FluidR3_GM.sf2
    python bench/bench_bounce.py                      # writes bench/RESULTS_bounce.md

The performance is picked at run time from ``../shared/data/asap-dev`` (ASAP, CC BY-NC-SA
4.0: read there, never copied into the repository): among the 120 files nearest in size
to a 4,000-note one, the one nearest 506 s and 4,000 notes. Fonts: TimGM6mb.sf2 (from
the pretty_midi wheel) and /usr/share/sounds/sf2/FluidR3_GM.sf2 when installed.

- Speed: real-time factor = audio seconds / wall seconds for the whole bounce to float
  audio in memory (ours: font parse + render, after one warm-up render that loads the
  numba kernels; one thread, and with ``pool=audioquant.threads.pool``, which renders
  the two voice groups of long spans in two threads; FluidSynth:
  ``fluidsynth -ni -q -r 44100 -g 0.5 -F out.wav FONT in.mid``, its whole process
  including the WAV write, reverb and chorus on as by default). The players take turns
  within each of ``--repeat`` rounds; the best run of each counts.
- Onsets: a probe file of notes of the performance taken one at a time (each starts at
  least 2 s after the previous one taken ends; same ticks, same pitches and velocities,
  same tempo map), rendered by both with reverb and chorus off; a note's onset is the
  first sample within [-64, +2048) samples of its event whose magnitude passes 1e-4
  (-80 dBFS) in silence. "Lateness" is onset minus the
  event's sample round(seconds(tick) x rate); it includes the sample's own lead-in (the
  frames before the recorded attack), which is the same for both players on the same
  font, so the column "FluidSynth - ours" isolates where FluidSynth puts its events.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mido
import numpy as np
import soundfile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from audioquant import midi, threads  # noqa: E402
from audioquant.dsp.soundfont import SoundFont  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data" / "asap-dev"
RATE = 44100
TARGET_SECONDS, TARGET_NOTES = 506.0, 4000
THRESHOLD = 1e-4


def fonts() -> list[tuple[str, str]]:
    import pretty_midi

    out = [("TimGM6mb", os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2"))]
    r3 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
    if os.path.exists(r3):
        out.append(("FluidR3_GM", r3))
    return out


def pick_performance() -> Path:
    """Among the 120 ASAP performances nearest in size to a 4,000-note file (the bytes per
    note measured on a median-size file), the one nearest 506 s and 4,000 notes."""
    files = sorted(p for p in DATA.rglob("*.mid") if p.name != "midi_score.mid")
    sizes = np.array([p.stat().st_size for p in files])
    probe = files[int(np.argsort(sizes)[len(files) // 2])]
    per_note = probe.stat().st_size / max(len(midi.read(probe).notes), 1)
    near = np.argsort(np.abs(sizes - per_note * TARGET_NOTES), kind="stable")[:120]

    def distance(path: Path) -> float:
        song = midi.read(path)
        seconds = float(song.tempo_map.seconds(np.array([song.notes.end.max()]))[0])
        return abs(seconds / TARGET_SECONDS - 1) + abs(len(song.notes) / TARGET_NOTES - 1)

    return min((files[i] for i in near), key=distance)


def bounce(inst, play, block: int = 65536) -> np.ndarray:
    inst.prepare(play)
    parts = []
    while (part := inst.render(block)).shape[1]:
        parts.append(part)
    return np.concatenate(parts, axis=1)


def time_ours(make, play, repeat: int) -> tuple[float, float, np.ndarray]:
    """(best wall seconds incl. construction, audio seconds, the audio)."""
    warm = make()
    bounce(warm, _head(play, 2 * RATE))               # load the kernels
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        inst = make()
        out = bounce(inst, play)
        best = min(best, time.perf_counter() - t)
    return best, out.shape[1] / RATE, out


def _head(play, samples: int):
    keep = play.sample < samples
    return midi.Performance(play.sample_rate, play.sample[keep], play.kind[keep],
                            play.channel[keep], play.a[keep], play.b[keep])


def run_fluidsynth(font: str, mid: Path, wav: Path, *extra: str) -> float:
    t = time.perf_counter()
    subprocess.run(["fluidsynth", "-ni", "-q", "-r", str(RATE), "-g", "0.5", *extra,
                    "-F", str(wav), font, str(mid)], check=True, capture_output=True,
                   timeout=600)
    return time.perf_counter() - t


def isolated_probe(song: midi.Song, path: Path) -> np.ndarray:
    """Write a MIDI file holding only the isolated notes of ``song`` (same ticks and tempo
    map, program 0, channel 0); return their event samples at RATE."""
    notes = song.notes
    start_s = song.tempo_map.seconds(notes.start)
    end_s = song.tempo_map.seconds(notes.end)
    order = np.argsort(start_s, kind="stable")
    keep, free_at = [], -1.0
    for i in order.tolist():               # each note alone: 2 s after the last one ends
        if start_s[i] >= free_at:
            keep.append(i)
            free_at = end_s[i] + 2.0
    keep = np.array(keep[:300], dtype=np.int64)
    mid = mido.MidiFile(ticks_per_beat=song.ticks_per_beat)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    rows = [(int(t), 0, mido.MetaMessage("set_tempo", tempo=int(tempo)))
            for t, tempo in zip(song.tempo_map.ticks, song.tempo_map.tempos, strict=True)]
    for i in keep:
        rows.append((int(notes.start[i]), 2, mido.Message(
            "note_on", note=int(notes.pitch[i]), velocity=int(notes.velocity[i]))))
        rows.append((int(notes.end[i]), 1, mido.Message("note_off", note=int(notes.pitch[i]))))
    rows.sort(key=lambda r: (r[0], r[1]))
    last = 0
    for t, _, msg in rows:
        track.append(msg.copy(time=t - last))
        last = t
    mid.save(path)
    return np.sort(song.tempo_map.samples(notes.start[keep], RATE))


def onsets(x: np.ndarray, events: np.ndarray) -> np.ndarray:
    """Lateness [samples] of the first |x| >= THRESHOLD in [e - 64, e + 2048) per event."""
    late = []
    for e in events.tolist():
        w = np.abs(x[max(e - 64, 0):e + 2048]) >= THRESHOLD
        late.append(int(np.argmax(w)) + max(e - 64, 0) - e if w.any() else np.nan)
    return np.array(late, dtype=float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    load = os.getloadavg()
    path = pick_performance()
    song = midi.read(path)
    play = midi.performance(song, RATE)
    seconds = play.end / RATE
    print(f"{path.relative_to(DATA)}: {play.notes()} notes, {seconds:.1f} s, load {load}")
    have_fluid = shutil.which("fluidsynth") is not None
    rows, onset_rows = [], []
    tmp = Path(tempfile.mkdtemp(prefix="bench_bounce_"))
    try:
        try:
            from audioquant.dsp.synth import Synth
        except ImportError:
            Synth = None
        if Synth is not None:
            wall, audio, _ = time_ours(Synth, play, args.repeat)
            rows.append(("audioquant Synth", "-", audio, wall))
            print(rows[-1])
        probe_mid = tmp / "probe.mid"
        events = isolated_probe(song, probe_mid)
        probe_play = midi.performance(midi.read(probe_mid), RATE)
        for label, font in fonts():
            t = time.perf_counter()
            SoundFont(font)
            parse = time.perf_counter() - t
            # The players take turns, run after run, so a busy moment of the machine
            # costs each of them alike; the best run of each counts.
            makers = {f"audioquant SoundFont (parse {parse * 1000:.0f} ms)":
                      lambda font=font: SoundFont(font),
                      "audioquant SoundFont, pool=threads.pool":
                      lambda font=font: SoundFont(font, pool=threads.pool)}
            for make in makers.values():
                bounce(make(), _head(play, 2 * RATE))         # load the kernels
            best = dict.fromkeys([*makers, "fluidsynth"], np.inf)
            audio = {}
            for _ in range(args.repeat):
                for name, make in makers.items():
                    t = time.perf_counter()
                    out = bounce(make(), play)
                    best[name] = min(best[name], time.perf_counter() - t)
                    audio[name] = out.shape[1] / RATE
                if have_fluid:
                    best["fluidsynth"] = min(best["fluidsynth"],
                                             run_fluidsynth(font, path, tmp / "out.wav"))
                    audio["fluidsynth"] = soundfile.info(str(tmp / "out.wav")).frames / RATE
            for name in makers:
                rows.append((name, label, audio[name], best[name]))
                print(rows[-1])
            ours = bounce(SoundFont(font), probe_play)[0]
            ours_late = onsets(ours, events)
            fluid_late = None
            if have_fluid:
                rows.append(("fluidsynth " + subprocess.run(
                    ["fluidsynth", "--version"], capture_output=True, text=True
                ).stdout.split()[3], label, audio["fluidsynth"], best["fluidsynth"]))
                print(rows[-1])
                run_fluidsynth(font, probe_mid, tmp / "probe.wav", "-R", "0", "-C", "0",
                               "-O", "float")
                theirs = soundfile.read(str(tmp / "probe.wav"))[0][:, 0]
                fluid_late = onsets(theirs, events)
            onset_rows.append((label, events.size, ours_late, fluid_late))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_results(path, play, seconds, load, rows, onset_rows)
    from bench_render import combine

    combine()


def _stats(x: np.ndarray | None) -> str:
    if x is None:
        return "- | -"
    x = x[np.isfinite(x)]
    return f"{np.median(x):.0f} | {np.min(x):.0f}..{np.max(x):.0f}"


def write_results(path, play, seconds, load, rows, onset_rows) -> None:
    lines = [
        "## MIDI bounce (bench_bounce.py)",
        "",
        f"Performance: ASAP `{path.relative_to(DATA)}` ({play.notes()} notes, "
        f"{seconds:.0f} s), at {RATE} Hz, stereo float. Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load[0]:.2f} at the start "
        f"({'quiet' if load[0] < 0.5 else 'NOT quiet: other work was running'}). "
        "Best of the runs; ours includes parsing the font, FluidSynth its whole process.",
        "",
        "| player | font | audio [s] | wall [s] | real-time factor |",
        "|---|---|---:|---:|---:|",
    ]
    for name, font, audio, wall in rows:
        lines.append(f"| {name} | {font} | {audio:.1f} | {wall:.2f} | {audio / wall:.0f}x |")
    lines += [
        "",
        "Onsets of notes of the performance played one at a time (a probe file), "
        "lateness in samples after round(seconds(tick) x rate), first sample past -80 dBFS; "
        "it includes the sample's own lead-in, the same for both players on one font:",
        "",
        "| font | notes | ours median | ours range | FluidSynth median | FluidSynth range |"
        " FluidSynth - ours median | range |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, n, ours, fluid in onset_rows:
        diff = None if fluid is None else fluid - ours
        lines.append(f"| {label} | {n} | {_stats(ours)} | {_stats(fluid)} | {_stats(diff)} |")
    (HERE / "RESULTS_bounce.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
