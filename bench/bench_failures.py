"""Failure handling side by side: audioquant, SoX and FFmpeg on broken files and faults.

Run: ``python bench/bench_failures.py [--timeout S] [--work DIR]`` as root (it mounts
small tmpfs folders for the full-disk and read-only cases and makes stand-in device nodes
with mknod; without root those rows are skipped). Needs ``sox`` and ``ffmpeg`` on PATH.
Writes ``bench/RESULTS_failures.md``.

Every run is a whole process, as a user types it, with a timeout (no answer = a hang):

- ``audioquant render IN OUT`` / ``sox IN -b 16 OUT`` / ``ffmpeg -nostdin -y -i IN OUT``
  (``--bits`` and ``--rate`` of a corpus case become ``-b``/``rate`` for SoX and a PCM
  codec/``-ar`` for FFmpeg; ``analyze`` becomes ``sox IN -n stats`` and FFmpeg's
  ``astats`` filter);
- on every case of ``tests/corpus.py`` (audio; the MIDI cases have no peer here and run
  through ``audioquant midi quantize`` alone), then on file-system faults: output =
  input (by name, by symlink, by hard link), a read-only folder, a full disk (64 KB
  tmpfs, empty and holding an older output), an older output and a bad input, output
  paths that are a symlink, a dangling symlink, a FIFO, a stand-in ``/dev/null`` and
  ``/dev/full`` (mknod), a symlink to ``/proc/self/fd/1``, ``-`` (standard output), a
  folder, a missing folder, a 250-byte name; a FIFO as input; SIGINT, SIGTERM and
  SIGHUP in the middle of a 5-minute render over an older output.

Each run gets labels: ``ok`` (did what the case needs), ``refused`` (non-zero exit,
nothing written: right for broken input and impossible writes), ``refused-valid`` (a
refusal of a file the corpus says is valid), ``accepted`` (exit 0 on a file the corpus
refuses: truncated, NaN, ...; what it wrote is noted), ``garbage`` (exit 0 with an
unreadable, empty or wrong output, or claimed success where nothing could be written,
or a failed run that left a partial output), ``destroyed`` (the input or an older
output changed or removed by a failed run, or a special file replaced), ``traceback``,
``hang``, ``crash`` (killed by a signal it did not get from us), ``leftover`` (a file
besides the output left in its folder).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tests import corpus  # noqa: E402  (the corpus lives with the tests)

TOOLS = ("audioquant", "sox", "ffmpeg")
LABELS = ("ok", "refused", "refused-valid", "accepted", "garbage", "destroyed", "traceback",
          "hang", "crash", "leftover")
TIMEOUT = 30.0


# ------------------------------------------------------------------------- commands

def _bits_rate(args: tuple[str, ...]) -> tuple[int, int | None]:
    bits = int(args[args.index("--bits") + 1]) if "--bits" in args else 16
    rate = int(args[args.index("--rate") + 1]) if "--rate" in args else None
    return bits, rate


def render_cmd(tool: str, src: str, out: str, args: tuple[str, ...] = ()) -> list[str]:
    """The command that renders ``src`` to ``out`` with each tool."""
    bits, rate = _bits_rate(args)
    if tool == "audioquant":
        return [sys.executable, "-m", "audioquant", "render", src, out, *args]
    if tool == "sox":
        cmd = ["sox", src, "-b", str(bits)]
        if out == "-":
            cmd += ["-t", "wav"]
        cmd.append(out)
        return cmd + (["rate", str(rate)] if rate else [])
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", src]
    if Path(out).suffix.lower() in (".wav", ".w64", ".rf64", ".caf", "") or out == "-":
        codec = {8: "pcm_u8", 16: "pcm_s16le", 24: "pcm_s24le", 32: "pcm_s32le"}.get(bits)
        cmd += ["-c:a", codec] if codec else []
    cmd += ["-ar", str(rate)] if rate else []
    return cmd + (["-f", "wav", "pipe:1"] if out == "-" else [out])


def analyze_cmd(tool: str, src: str) -> list[str]:
    if tool == "audioquant":
        return [sys.executable, "-m", "audioquant", "analyze", src]
    if tool == "sox":
        return ["sox", src, "-n", "stats"]
    return ["ffmpeg", "-nostdin", "-hide_banner", "-i", src, "-af", "astats", "-f", "null",
            "-"]


@dataclass
class Run:
    code: int | None          # None: hang
    stderr: str
    stdout: bytes = b""
    seconds: float = 0.0


def _default_signals() -> None:
    """In the child: SIGINT, SIGTERM and SIGHUP at their defaults, as in a terminal. A
    bench started in the background (``cmd &``) would hand its children SIGINT ignored,
    and a Python program then keeps ignoring it, as POSIX asks."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def run(cmd: list[str], timeout: float, cwd: Path | None = None,
        stdin: int | None = subprocess.DEVNULL) -> Run:
    """Run ``cmd`` in its own session; kill the session on timeout."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd or ROOT, start_new_session=True,
                            preexec_fn=_default_signals)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Run(None, err.decode(errors="replace"), out, time.monotonic() - started)
    return Run(proc.returncode, err.decode(errors="replace"), out, time.monotonic() - started)


# ---------------------------------------------------------------------------- helpers

def digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def readable(path: Path | bytes) -> tuple[int, int, int] | None:
    """(frames, channels, rate) as soundfile reads the whole file (in blocks: the length
    may be unknown), or None. libsndfile cannot read a FLAC file of 0 frames (SoX's
    neither): that one is checked from its STREAMINFO."""
    import io

    from tests.test_corpus import _SF_COUNT_MAX, read_blocks

    try:
        f = sf.SoundFile(io.BytesIO(path) if isinstance(path, bytes) else str(path))
    except Exception:
        return None
    with f:
        try:
            return len(read_blocks(f)), f.channels, f.samplerate
        except Exception:
            if f.format == "FLAC" and f.frames == _SF_COUNT_MAX and isinstance(path, Path):
                info = corpus.flac_streaminfo(path.read_bytes())
                if info and info["complete"] and not info["audio_bytes"] and not info["total"]:
                    return 0, f.channels, f.samplerate
            return None


def base_labels(r: Run) -> list[str]:
    labels = []
    if r.code is None:
        labels.append("hang")
    elif r.code < 0:
        labels.append("crash")
    if "Traceback (most recent call last)" in r.stderr:
        labels.append("traceback")
    return labels


_WORK: list[str] = []       # the work folder, cut out of messages


def first_line(text: str) -> str:
    """The last non-empty line of stderr (where the tools put the reason), paths cut to
    their file names."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[-1] if lines else ""
    for work in _WORK:
        line = re.sub(re.escape(work) + r"/(?:[^/\s']+/)*", "", line)
    return line[:100]


def good_wav(path: Path, seconds: float = 2.0, channels: int = 2) -> Path:
    """A valid float32 WAV: noise plus a sine, well inside full scale."""
    n = int(seconds * 44100)
    rng = np.random.default_rng(7)
    t = np.arange(n) / 44100
    x = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None] + 0.05 * rng.standard_normal((n, channels))
    sf.write(str(path), x.astype(np.float32), 44100, subtype="FLOAT")
    return path


def long_wav(path: Path, seconds: int) -> Path:
    if path.exists() and sf.info(str(path)).frames == seconds * 44100:
        return path
    rng = np.random.default_rng(1)
    with sf.SoundFile(str(path), "w", 44100, 2, "FLOAT") as f:
        for _ in range(seconds // 10):
            f.write((0.2 * rng.standard_normal((441000, 2))).astype(np.float32))
    return path


@dataclass
class Cell:
    labels: list[str]
    note: str = ""

    def text(self) -> str:
        main = ", ".join(self.labels)
        return f"{main}: {self.note}" if self.note else main


@dataclass
class Row:
    name: str
    group: str
    cells: dict[str, Cell] = field(default_factory=dict)
    want: str = ""


# ----------------------------------------------------------------------- corpus rows

def corpus_row(case: corpus.Case, tool: str, work: Path, timeout: float) -> Cell:
    folder = work / f"{case.name}-{tool}"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "in").mkdir(parents=True)
    (folder / "out").mkdir()
    src = folder / "in" / case.filename
    src.write_bytes(case.data())
    before = digest(src)
    out = folder / "out" / case.out
    if case.command == "analyze":
        r = run(analyze_cmd(tool, str(src)), timeout)
    else:
        r = run(render_cmd(tool, str(src), str(out), case.args), timeout)
    labels = base_labels(r)
    if digest(src) != before:
        labels.append("destroyed")
    files = sorted(os.listdir(folder / "out"))
    extra = [f for f in files if f != out.name]
    expect = case.expect.ok if isinstance(case.expect, corpus.Either) else case.expect
    valid = isinstance(expect, corpus.Ok)
    note = ""
    if "hang" in labels:
        pass
    elif case.command == "analyze":
        labels.append("ok" if r.code == 0 else "refused")
        note = "" if r.code == 0 else first_line(r.stderr)
    elif r.code != 0:
        if out.name in files:
            labels.append("garbage")
            note = "failed but left an output"
        else:
            labels.append("refused-valid" if valid and not isinstance(
                case.expect, corpus.Either) else "refused")
        note = note or first_line(r.stderr)
    elif out.name not in files:
        labels.append("garbage")
        note = "exit 0, no output"
    else:
        got = readable(out)
        want_frames = expect.frames if valid and expect.frames is not None else None
        if valid and want_frames is None:
            info = readable(src)
            want_frames = info[0] if info else None
        if got is None:
            labels.append("garbage")
            note = "output unreadable"
        elif valid:
            want = (want_frames, expect.channels or got[1], expect.rate or got[2])
            if got == want:
                labels.append("ok")
            else:
                labels.append("garbage")
                note = (f"wrote {got[0]} fr/{got[1]} ch/{got[2]} Hz, "
                        f"want {want[0]}/{want[1]}/{want[2]}")
        else:
            labels.append("accepted")
            note = f"wrote {got[0]} frames"
            if case.name in ("float32_nan", "float64_inf"):
                data, _ = sf.read(str(out), always_2d=True)
                at = data[400 if "nan" in case.name else 10].round(3).tolist()
                note += f", the NaN/Inf frame became {at}"
    if extra:
        labels.append("leftover")
        note += f" (left {extra})"
    return Cell(labels, note.strip())


def midi_row(case: corpus.Case, work: Path, timeout: float) -> Cell:
    folder = work / f"{case.name}-audioquant"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "in").mkdir(parents=True)
    (folder / "out").mkdir()
    src = folder / "in" / case.filename
    src.write_bytes(case.data())
    before = digest(src)
    out = folder / "out" / case.out
    r = run([sys.executable, "-m", "audioquant", "midi", "quantize", str(src), str(out)],
            timeout)
    labels = base_labels(r)
    if digest(src) != before:
        labels.append("destroyed")
    files = sorted(os.listdir(folder / "out"))
    expect = case.expect
    if "hang" in labels:
        return Cell(labels)
    if r.code != 0:
        if files:
            labels.append("garbage")
        elif isinstance(expect, corpus.Ok):
            labels.append("refused-valid")
        else:
            labels.append("refused")
        return Cell(labels, first_line(r.stderr))
    try:
        import mido

        mido.MidiFile(str(out))
    except Exception as exc:
        labels.append("garbage")
        return Cell(labels, f"mido cannot read the output: {exc}")
    labels.append("ok" if not isinstance(expect, corpus.Refused) else "accepted")
    return Cell(labels)


# ---------------------------------------------------------------------------- faults

@dataclass
class Fault:
    name: str
    want: str
    fn: Callable[[str, Path, float], Cell]
    needs_root: bool = False


def _fresh(work: Path, name: str, tool: str) -> Path:
    folder = work / f"fault-{name}-{tool}"
    if folder.exists():
        subprocess.run(["umount", "-l", str(folder / "mnt")], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _outcome(r: Run, labels: list[str], out: Path, want_frames: int | None) -> str:
    """Add ok/garbage/refused for a run that should succeed; return a note."""
    if r.code is None:
        return ""
    if r.code != 0:
        labels.append("refused-valid")
        return first_line(r.stderr)
    got = readable(out)
    if got is None or (want_frames is not None and got[0] != want_frames):
        labels.append("garbage")
        return "output unreadable" if got is None else f"wrote {got[0]} frames"
    labels.append("ok")
    return ""


def _refusal(r: Run, labels: list[str], wrote: bool) -> str:
    """Add refused/garbage for a run that cannot succeed."""
    if r.code is None:
        return ""
    if r.code != 0:
        labels.append("garbage" if wrote else "refused")
        return ("failed but left an output; " if wrote else "") + first_line(r.stderr)
    labels.append("garbage")
    return "exit 0: " + ("claimed success" if not wrote else "wrote something")


def f_same(tool: str, work: Path, timeout: float) -> Cell:
    d = _fresh(work, "same", tool)
    src = good_wav(d / "in.wav")
    before = digest(src)
    r = run(render_cmd(tool, str(src), str(src)), timeout)
    labels = base_labels(r)
    changed = digest(src) != before
    note = _refusal(r, labels, changed)
    if changed:
        labels.append("destroyed")
        info = readable(src)
        note += f"; input now {info[0] if info else 'unreadable'} frames"
    return Cell(labels, note)


def _same_via(kind: str):
    def fn(tool: str, work: Path, timeout: float) -> Cell:
        d = _fresh(work, f"same-{kind}", tool)
        src = good_wav(d / "in.wav")
        before = digest(src)
        link = d / "alias.wav"
        if kind == "symlink":
            link.symlink_to(src)
        else:
            os.link(src, link)
        r = run(render_cmd(tool, str(src), str(link)), timeout)
        labels = base_labels(r)
        changed = digest(src) != before
        note = _refusal(r, labels, changed)
        if changed:
            labels.append("destroyed")
            info = readable(src)
            note += f"; input now {info[0] if info else 'unreadable'} frames"
        if kind == "symlink" and not link.is_symlink():
            labels.append("destroyed")
            note += "; the symlink was replaced"
        return Cell(labels, note)
    return fn


def _mount(folder: Path, size: str, ro: bool = False) -> bool:
    folder.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                       capture_output=True)
    return r.returncode == 0


def _umount(folder: Path) -> None:
    subprocess.run(["umount", str(folder)], capture_output=True)


def _full(old: bool):
    def fn(tool: str, work: Path, timeout: float) -> Cell:
        d = _fresh(work, f"full-{old}", tool)
        src = good_wav(d / "in.wav")
        mnt = d / "mnt"
        if not _mount(mnt, "64k"):
            return Cell(["skipped"], "cannot mount tmpfs")
        try:
            out = mnt / "out.wav"
            if old:
                good_wav(out, seconds=0.05)       # an older output, 17 KB
            before = digest(out)
            r = run(render_cmd(tool, str(src), str(out)), timeout)
            labels = base_labels(r)
            files = sorted(os.listdir(mnt))
            wrote = out.exists() and digest(out) != before
            note = _refusal(r, labels, wrote and not old)
            if old and digest(out) != before:
                labels.append("destroyed")
                info = readable(out)
                note += "; older output " + ("removed" if not out.exists() else
                                             f"now {info[0] if info else 'unreadable'} fr")
            if [f for f in files if f != "out.wav"]:
                labels.append("leftover")
                note += f" (left {[f for f in files if f != 'out.wav']})"
            return Cell(labels, note)
        finally:
            _umount(mnt)
    return fn


def f_readonly(tool: str, work: Path, timeout: float) -> Cell:
    d = _fresh(work, "readonly", tool)
    src = good_wav(d / "in.wav")
    mnt = d / "mnt"
    if not _mount(mnt, "1m"):
        return Cell(["skipped"], "cannot mount tmpfs")
    try:
        good_wav(mnt / "out.wav", seconds=0.05)
        before = digest(mnt / "out.wav")
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        r = run(render_cmd(tool, str(src), str(mnt / "out.wav")), timeout)
        labels = base_labels(r)
        note = _refusal(r, labels, False)
        if digest(mnt / "out.wav") != before:
            labels.append("destroyed")
        return Cell(labels, note)
    finally:
        _umount(mnt)


def _old_output_bad_input(which: str):
    def fn(tool: str, work: Path, timeout: float) -> Cell:
        d = _fresh(work, f"old-{which}", tool)
        src = d / f"in-{which}.wav"
        src.write_bytes(corpus.by_name(which).data())
        out = d / "out.wav"
        good_wav(out, seconds=0.1)
        before = digest(out)
        r = run(render_cmd(tool, str(src), str(out)), timeout)
        labels = base_labels(r)
        changed = digest(out) != before
        if r.code == 0:
            labels.append("accepted")
            info = readable(out)
            note = f"older output replaced by {info[0] if info else 'unreadable'} frames"
        else:
            note = first_line(r.stderr)
            if changed:
                labels.append("destroyed")
                note = "older output " + ("removed" if not out.exists() else "overwritten") \
                    + "; " + note
            else:
                labels.append("refused")
        extra = [f for f in os.listdir(d) if f not in (src.name, out.name)]
        if extra:
            labels.append("leftover")
        return Cell(labels, note)
    return fn


def f_symlink(dangling: bool):
    def fn(tool: str, work: Path, timeout: float) -> Cell:
        d = _fresh(work, f"symlink-{dangling}", tool)
        src = good_wav(d / "in.wav")
        (d / "real").mkdir()
        target = d / "real" / "target.wav"
        if not dangling:
            good_wav(target, seconds=0.1)
        link = d / "link.wav"
        link.symlink_to(target)
        r = run(render_cmd(tool, str(src), str(link)), timeout)
        labels = base_labels(r)
        note = ""
        if not link.is_symlink():
            labels.append("destroyed")
            note = "the symlink was replaced by a file"
            if r.code == 0:
                labels.append("ok")
        elif os.readlink(link) != str(target):
            labels.append("destroyed")
            note = "the symlink points elsewhere"
        else:
            note = _outcome(r, labels, target, 88200)
        return Cell(labels, note)
    return fn


def _judge_stream(r, data: bytes, labels: list[str], where: str) -> str:
    """Label a render into a stream by what its reader got (the 88,200-frame test file
    wanted): refused-valid, garbage or ok; return the note. Nothing for a hang."""
    if r.code is None:
        return ""
    if r.code != 0:
        labels.append("refused-valid")
        return first_line(r.stderr)
    got = readable(data) if data else None
    if got is None or got[0] != 88200:
        labels.append("garbage")
        return f"{where} got {len(data)} bytes" + (", unreadable" if got is None else
                                                    f", {got[0]} frames")
    labels.append("ok")
    return ""


def f_fifo_out(tool: str, work: Path, timeout: float) -> Cell:
    d = _fresh(work, "fifo-out", tool)
    src = good_wav(d / "in.wav")
    fifo = d / "pipe.wav"
    os.mkfifo(fifo)
    captured = d / "captured.bin"
    reader = subprocess.Popen(["sh", "-c", f"cat '{fifo}' > '{captured}'"])
    r = run(render_cmd(tool, str(src), str(fifo)), timeout)
    try:
        reader.wait(5)
    except subprocess.TimeoutExpired:
        reader.kill()
        reader.wait()
    labels = base_labels(r)
    note = ""
    if not stat.S_ISFIFO(os.lstat(fifo).st_mode):
        labels.append("destroyed")
        note = "the FIFO was replaced by a file; "
    data = captured.read_bytes() if captured.exists() else b""
    note += _judge_stream(r, data, labels, "reader")
    return Cell(labels, note.strip("; "))


def _device(major: int, minor: int, name: str, should_fail: bool):
    def fn(tool: str, work: Path, timeout: float) -> Cell:
        d = _fresh(work, f"dev-{name}", tool)
        src = good_wav(d / "in.wav")
        node = d / f"{name}.wav"
        try:
            os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        except OSError as exc:
            return Cell(["skipped"], f"mknod: {exc.strerror}")
        r = run(render_cmd(tool, str(src), str(node)), timeout)
        labels = base_labels(r)
        st = os.lstat(node) if os.path.lexists(node) else None
        note = ""
        if st is None or not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(major, minor):
            labels.append("destroyed")
            note = "the device node was replaced; "
        if r.code is not None:
            if should_fail:
                note += _refusal(r, labels, False)
            elif r.code == 0:
                labels.append("ok")
            else:
                labels.append("refused-valid")
                note += first_line(r.stderr)
        return Cell(labels, note.strip("; "))
    return fn


def f_proc_fd(tool: str, work: Path, timeout: float) -> Cell:
    # A stand-in for /dev/stdout: a symlink to /proc/self/fd/1 (stdout is a pipe here).
    d = _fresh(work, "procfd", tool)
    src = good_wav(d / "in.wav")
    link = d / "stdout.wav"
    link.symlink_to("/proc/self/fd/1")
    r = run(render_cmd(tool, str(src), str(link)), timeout)
    labels = base_labels(r)
    note = ""
    if not link.is_symlink():
        labels.append("destroyed")
        note = "the symlink was replaced by a file; "
    note += _judge_stream(r, r.stdout, labels, "stdout")
    return Cell(labels, note.strip("; "))


def f_stdout(tool: str, work: Path, timeout: float) -> Cell:
    d = _fresh(work, "stdout", tool)
    src = good_wav(d / "in.wav")
    r = run(render_cmd(tool, str(src), "-"), timeout, cwd=d)
    labels = base_labels(r)
    note = _judge_stream(r, r.stdout, labels, "stdout")
    if [f for f in os.listdir(d) if f != "in.wav"]:
        labels.append("leftover")
        note += f" (wrote {[f for f in os.listdir(d) if f != 'in.wav']})"
    return Cell(labels, note.strip())


def f_folder(tool: str, work: Path, timeout: float) -> Cell:
    d = _fresh(work, "folder", tool)
    src = good_wav(d / "in.wav")
    (d / "out.wav").mkdir()
    (d / "out.wav" / "keep.txt").write_text("keep")
    r = run(render_cmd(tool, str(src), str(d / "out.wav")), timeout)
    labels = base_labels(r)
    note = _refusal(r, labels, False)
    if not (d / "out.wav" / "keep.txt").exists():
        labels.append("destroyed")
    return Cell(labels, note)


def f_missing_folder(tool: str, work: Path, timeout: float) -> Cell:
    d = _fresh(work, "nofolder", tool)
    src = good_wav(d / "in.wav")
    r = run(render_cmd(tool, str(src), str(d / "nope" / "out.wav")), timeout)
    labels = base_labels(r)
    return Cell(labels, _refusal(r, labels, (d / "nope").exists()))


def f_long_name(tool: str, work: Path, timeout: float) -> Cell:
    d = _fresh(work, "longname", tool)
    src = good_wav(d / "in.wav")
    out = d / ("n" * 246 + ".wav")          # 250 bytes, the limit is 255
    r = run(render_cmd(tool, str(src), str(out)), timeout)
    labels = base_labels(r)
    note = _outcome(r, labels, out, 88200)
    return Cell(labels, note)


def f_mode(tool: str, work: Path, timeout: float) -> Cell:
    d = _fresh(work, "mode", tool)
    src = good_wav(d / "in.wav")
    out = d / "out.wav"
    good_wav(out, seconds=0.1)
    os.chmod(out, 0o640)
    r = run(render_cmd(tool, str(src), str(out)), timeout)
    labels = base_labels(r)
    note = _outcome(r, labels, out, 88200)
    mode = stat.S_IMODE(os.stat(out).st_mode)
    if mode != 0o640 and "ok" in labels:
        labels[labels.index("ok")] = "garbage"
        note = f"mode 0640 became {mode:04o}"
    return Cell(labels, note)


def f_fifo_in(tool: str, work: Path, timeout: float) -> Cell:
    d = _fresh(work, "fifo-in", tool)
    src = good_wav(d / "in.wav")
    fifo = d / "in-pipe.wav"
    os.mkfifo(fifo)
    writer = subprocess.Popen(["sh", "-c", f"cat '{src}' > '{fifo}'"])
    r = run(render_cmd(tool, str(fifo), str(d / "out.wav")), timeout)
    if writer.poll() is None:
        # Unblock a writer whose reader never came (open the FIFO ourselves).
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        writer.wait(5)
        os.close(fd)
    labels = base_labels(r)
    note = _outcome(r, labels, d / "out.wav", 88200)
    return Cell(labels, note)


def _signal(sig: signal.Signals, work: Path, long_input: Path):
    def fn(tool: str, work_: Path, timeout: float) -> Cell:
        d = _fresh(work, f"sig-{sig.name}", tool)
        out = d / "out.wav"
        good_wav(out, seconds=0.1)
        before = digest(out)
        cmd = render_cmd(tool, str(long_input), str(out))
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, cwd=ROOT,
                                preexec_fn=_default_signals)
        deadline = time.monotonic() + timeout
        sent = False
        while time.monotonic() < deadline and proc.poll() is None:
            sizes = [(d / f).stat().st_size for f in os.listdir(d)
                     if (d / f).is_file() and f != "out.wav"]
            grew = out.exists() and digest(out) != before and out.stat().st_size > 1 << 20
            if grew or any(s > 1 << 20 for s in sizes):        # 1 MB into the output
                proc.send_signal(sig)
                sent = True
                break
            time.sleep(0.01)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            return Cell(["hang"], f"still running {timeout:g} s after {sig.name}")
        err = err.decode(errors="replace")
        labels = base_labels(Run(proc.returncode if proc.returncode != -sig else 1, err))
        if not sent:
            return Cell(["skipped"], "finished before the signal could be sent")
        files = sorted(os.listdir(d))
        note = f"exit {proc.returncode}"
        if digest(out) != before:
            info = readable(out)
            if proc.returncode == 0 and info and info[0] == FULL:
                labels.append("ok")
                note += ", finished anyway (the signal came too late or was ignored)"
                if first_line(err):
                    note += f"; stderr: {first_line(err)}"
            elif proc.returncode == 0:
                labels.append("garbage")
                note += (f" with a cut output ({info[0] if info else 'unreadable'} "
                         f"of {FULL} fr)")
            else:
                labels.append("destroyed")
                note += ", older output " + ("removed" if not out.exists() else
                                             f"now {info[0] if info else 'unreadable'} fr")
        else:
            labels.append("refused" if proc.returncode != 0 else "garbage")
        extra = [f for f in files if f != "out.wav"]
        if extra:
            labels.append("leftover")
            note += f", left {extra}"
        return Cell(labels, note)
    return fn


FULL = 300 * 44100       # frames of the long input of the signal rows


def faults(work: Path, long_input: Path) -> list[Fault]:
    return [
        Fault("output = input", "refuse, input intact", f_same),
        Fault("output = symlink to input", "refuse, input intact", _same_via("symlink")),
        Fault("output = hard link to input", "refuse, input intact", _same_via("hardlink")),
        Fault("read-only folder (ro tmpfs), older output", "refuse, older output intact",
              f_readonly, True),
        Fault("full disk (64 KB tmpfs)", "refuse, nothing left", _full(False), True),
        Fault("full disk, older output", "refuse, older output intact", _full(True), True),
        Fault("older output + text named .wav", "refuse, older output intact",
              _old_output_bad_input("text_named_wav")),
        Fault("older output + truncated WAV", "refuse, older output intact",
              _old_output_bad_input("wav_truncated_data")),
        Fault("older output + NaN at frame 400", "refuse, older output intact",
              _old_output_bad_input("float32_nan")),
        Fault("output = symlink to a file", "write through, link kept", f_symlink(False)),
        Fault("output = dangling symlink", "write through, link kept", f_symlink(True)),
        Fault("output = FIFO with a reader", "write into it, FIFO kept", f_fifo_out),
        Fault("output = stand-in /dev/null (mknod c 1 3)", "write into it, node kept",
              _device(1, 3, "null", False), True),
        Fault("output = stand-in /dev/full (mknod c 1 7)", "fail (ENOSPC), node kept",
              _device(1, 7, "full", True), True),
        Fault("output = symlink to /proc/self/fd/1", "write to stdout, link kept", f_proc_fd),
        Fault("output = - (stdout pipe)", "WAV on stdout", f_stdout),
        Fault("output = a folder", "refuse, folder intact", f_folder),
        Fault("output in a missing folder", "refuse", f_missing_folder),
        Fault("output name of 250 bytes", "write it", f_long_name),
        Fault("older output with mode 0640", "write it, mode kept", f_mode),
        Fault("input = FIFO with a writer", "read it", f_fifo_in),
        Fault("SIGINT mid-render, older output", "stop, older output intact, no temp",
              _signal(signal.SIGINT, work, long_input)),
        Fault("SIGTERM mid-render, older output", "stop, older output intact, no temp",
              _signal(signal.SIGTERM, work, long_input)),
        Fault("SIGHUP mid-render, older output", "stop, older output intact, no temp",
              _signal(signal.SIGHUP, work, long_input)),
    ]


# ---------------------------------------------------------------------------- report

def version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).splitlines()[0].strip()
    except Exception:
        return "?"


def summarise(rows: list[Row], tools: tuple[str, ...]) -> dict[str, Counter]:
    counts = {t: Counter() for t in tools}
    for row in rows:
        for tool, cell in row.cells.items():
            counts[tool]["runs"] += "skipped" not in cell.labels
            for label in set(cell.labels):
                counts[tool][label] += 1
    return counts


def table(rows: list[Row], tools: tuple[str, ...], want: bool) -> list[str]:
    head = "| case | " + ("wanted | " if want else "") + " | ".join(tools) + " |"
    lines = [head, "|" + "---|" * (len(tools) + 1 + want)]
    for row in rows:
        cells = [row.cells[t].text().replace("|", "/") if t in row.cells else "n/a"
                 for t in tools]
        lines.append(f"| {row.name} | " + (f"{row.want} | " if want else "")
                     + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per run")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(),
                                                       "aq-bench-failures"))
    parser.add_argument("--only", nargs="*", help="only these rows (substring match)")
    parser.add_argument("--no-write", action="store_true", help="do not write the results")
    parser.add_argument("--fuzz", nargs="*", default=[], metavar="SUMMARY.json",
                        help="summary.json files of bench/fuzz_long.py runs, for the report")
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    _WORK.append(str(work))
    is_root = os.geteuid() == 0
    started = time.monotonic()

    def wanted(name: str) -> bool:
        return not args.only or any(s in name for s in args.only)

    # Warm our numba cache once, so no row pays for compiling.
    warm = good_wav(work / "warm.wav", 0.1)
    run([sys.executable, "-m", "audioquant", "render", str(warm), str(work / "warm-out.wav")],
        300)

    corpus_rows = []
    for case in corpus.AUDIO:
        if not wanted(case.name):
            continue
        row = Row(case.name, "corpus", want=_want(case))
        for tool in TOOLS:
            row.cells[tool] = corpus_row(case, tool, work, args.timeout)
        corpus_rows.append(row)
        print(f"{case.name:<32} " + " | ".join(row.cells[t].text()[:40] for t in TOOLS),
              flush=True)
    midi_rows = []
    for case in corpus.MIDI:
        if not wanted(case.name):
            continue
        row = Row(case.name, "midi", want=_want(case))
        row.cells["audioquant"] = midi_row(case, work, args.timeout)
        midi_rows.append(row)
        print(f"{case.name:<32} {row.cells['audioquant'].text()[:80]}", flush=True)
    long_input = long_wav(work / "long.wav", FULL // 44100)
    fault_rows = []
    for fault in faults(work, long_input):
        if not wanted(fault.name):
            continue
        row = Row(fault.name, "fault", want=fault.want)
        for tool in TOOLS:
            if fault.needs_root and not is_root:
                row.cells[tool] = Cell(["skipped"], "needs root")
            else:
                row.cells[tool] = fault.fn(tool, work, args.timeout)
        fault_rows.append(row)
        print(f"{fault.name:<32} " + " | ".join(row.cells[t].text()[:40] for t in TOOLS),
              flush=True)
    elapsed = time.monotonic() - started

    lines = report(corpus_rows, midi_rows, fault_rows, args.timeout, elapsed)
    at = lines.index("### File-system faults") - 1 if "### File-system faults" in lines \
        else len(lines)
    lines[at:at] = fuzz_section([Path(p) for p in args.fuzz])
    print("\n".join(lines[:40]))
    if not args.no_write and not args.only:
        (HERE / "RESULTS_failures.md").write_text("\n".join(lines) + "\n")
        print(f"wrote {HERE / 'RESULTS_failures.md'}")
        from bench_render import combine  # rebuild bench/RESULTS.md from the sections

        combine()
    return 0


#: What the long fuzz campaigns (bench/fuzz_long.py) found, checked by hand: the run, the
#: input, what happened, where, and the regression test that keeps it fixed.
FUZZ_FINDINGS = [
    ("trial (600)", "MIDI: a sysex whose data holds 0xFF",
     "written back byte for byte; mido cannot read the output (nor the input)",
     "not a bug: the check asked mido about a file mido cannot read; the check now "
     "asks mido only about files it reads as we do",
     "test_fuzz.py REGRESSIONS sysex_data_byte_ff"),
    ("1 (25,000)", "MIDI: a tune-request status byte (F6) in a track",
     "`midi quantize` raised ValueError \"realtime messages are not allowed in MIDI "
     "files\" from mido's writer (midi/notes.py:write): a traceback",
     "fixed during the run by the MIDI reader work (realtime bytes are skipped)",
     "test_fuzz.py f6_tune_request_in_track; corpus mid_system_common_bytes, "
     "mid_realtime_status_byte"),
    ("2 (40,000)", "FLAC: STREAMINFO not marked last, the file ends after it",
     "rendered as an empty WAV at the garbage rate in the header (920644 Hz), exit 0; "
     "SoX and FFmpeg refuse it (\"FLAC ERROR whilst decoding metadata\")",
     "fixed in 0e97806 (audioquant/io.py `_flac_has_frames` took a metadata chain cut "
     "short for \"no audio frames\"): now refused as truncated",
     "test_fuzz.py flac_metadata_cut_short_fuzzed; corpus flac_metadata_cut_short"),
    ("2 (40,000)", "MIDI: header announces 0 tracks, an MTrk chunk follows holding a "
     "time-signature meta event of 0 bytes",
     "we read the chunk (1 track), keep the undecodable meta byte for byte; mido reads 0 "
     "tracks, then cannot read our output",
     "not a bug of the render (the event is kept as it came); the check now compares "
     "only files mido reads with our track and note counts",
     "(check refined)"),
    ("3 (60,000)", "RF64 (and AIFF, AIFC) headers saying 8,388,608 Hz, rendered with "
     "`--shaping auto`; a plain WAV at 10 MHz, 100 MHz or 2^31-1 Hz does the same",
     "numpy.linalg.LinAlgError \"Singular matrix\" from dsp/design.py "
     "`l1_bounded_least_squares` (processors.best_shaper -> design.design): a traceback; "
     "with `--shaping designed:9` it is caught but says only \"error: Singular matrix\"",
     "fixed in 90cf07d: designed shapers serve 1 kHz..768 kHz (a clear error above), "
     "auto picks from the catalog there",
     "test_fuzz.py rf64_8mhz_shaping_auto; corpus wav_10mhz_shaping_auto, "
     "wav_10mhz_shaping_designed"),
    ("3 (60,000)", "FLAC: STREAMINFO not marked last, 2 bytes after it",
     "as run 2 (rendered as empty, exit 0)", "fixed with run 2's", "as run 2"),
]


FUZZ_NOTE = ("Each run tested the working tree of its day, while issue 10 was being fixed: "
             "runs 1-3 found the rows below (failures count inputs, grouped there by cause); "
             "run 4 ran after the fixes of runs 1 and 3 had landed and found nothing; the "
             "fix of run 2's finding landed after run 4.")


def fuzz_section(summaries: list[Path]) -> list[str]:
    """The long campaigns: inputs per kind and outcome, findings."""
    import json

    lines = ["", "### Fuzzing", "",
             "In the suite (`tests/test_fuzz.py`, hypothesis, `derandomize=True`, about 45 s "
             "on 2 cores): 1500 mutated 16-bit WAVs rendered (at 8/12/16/24 bits, with the "
             "resampler, sample-and-hold, shaping, each dither, blocks of 1 and 7), 400 "
             "mutated float WAVs, 1500 mutated MIDI files through `midi stats` and `midi "
             "quantize`, 150 mutated float WAVs through `analyze`, 300 sets of arbitrary "
             "float64 samples (NaN, Inf, 1e300, subnormals) through `render` and `analyze`. "
             "Outside it, `python bench/fuzz_long.py --examples N --seed S`: the same checks "
             "in worker processes with a 10 s timeout (hang) and crash detection, seeds in "
             "WAV, WAVEX float, AIFF, AIFC, FLAC, CAF, W64, RF64 and two MIDI files, "
             "mutations stacked on earlier accepted mutants, findings shrunk.", ""]
    if summaries:
        lines += ["| run | inputs | seed | seconds | ok | refused | failures | hangs | crashes "
                  "| slowest input s |", "|---|---|---|---|---|---|---|---|---|---|"]
        for n, path in enumerate(summaries, 1):
            d = json.loads(path.read_text())
            by = Counter()
            for key, count in d["outcomes"].items():
                by[key.split("/")[1]] += count
            lines.append(f"| {n} | {d['examples']:,} | {d['seed']} | {d['seconds']:.0f} | "
                         f"{by['ok']:,} | {by['refused']:,} | {by['failure']} | {by['hang']} | "
                         f"{by['crash']} | {d['slowest_input_s']} |")
        lines += ["", FUZZ_NOTE, ""]
    lines += ["| run | input | what happened | status | regression test |",
              "|---|---|---|---|---|"]
    lines += [f"| {r} | {i} | {w} | {s} | {t} |" for r, i, w, s, t in FUZZ_FINDINGS]
    return lines


def _want(case: corpus.Case) -> str:
    e = case.expect
    if isinstance(e, corpus.Either):
        return "ok or refuse"
    return "ok" if isinstance(e, corpus.Ok) else "refuse"


def report(corpus_rows: list[Row], midi_rows: list[Row], fault_rows: list[Row],
           timeout: float, elapsed: float) -> list[str]:
    import audioquant

    versions = (f"audioquant {getattr(audioquant, '__version__', '?')}, "
                f"{version(['sox', '--version']).replace('sox:', '').strip()}, "
                f"{' '.join(version(['ffmpeg', '-version']).split()[:3])}")
    rows = corpus_rows + fault_rows
    counts = summarise(rows, TOOLS)
    lines = [
        "## Failure handling: broken files and file-system faults",
        "",
        f"`python bench/bench_failures.py` (as root) on {platform.machine()}, "
        f"{os.cpu_count()} cores, {versions}; timeout {timeout:g} s per run; "
        f"{elapsed:.0f} s in all.",
        "",
        f"The same {len(corpus_rows)} audio files of `tests/corpus.py` and "
        f"{len(fault_rows)} file-system faults through `audioquant render IN OUT`, "
        "`sox IN -b 16 OUT` and `ffmpeg -nostdin -y -i IN OUT` (whole processes; "
        "`--bits`/`--rate` of a case as `-b`/`rate` and a PCM codec/`-ar`). Labels: "
        "**ok** did what the case needs; **refused** non-zero exit, nothing written (right "
        "for broken input and impossible writes); **refused-valid** refused a file the "
        "corpus says is valid, or a write that can succeed; **accepted** exit 0 on a file "
        "the corpus refuses (what it wrote is noted); **garbage** exit 0 with an "
        "unreadable, empty, cut or wrong output, claimed success where nothing could be "
        "written, or a failed run that left a partial output; **destroyed** the input, an "
        "older output or a special file (symlink, FIFO, device) changed or replaced; "
        "**traceback**, **hang** (no exit within the timeout), **crash** (killed by a "
        "signal), **leftover** (another file left beside the output). A run can carry "
        "several labels. *Wanted* is audioquant's promise (DESIGN.md, issue 10).",
        "",
        "### Summary (runs with each label, corpus + faults)",
        "",
        "| tool | runs | " + " | ".join(LABELS) + " |",
        "|---|---|" + "---|" * len(LABELS),
    ]
    for tool in TOOLS:
        c = counts[tool]
        lines.append(f"| {tool} | {c['runs']} | " + " | ".join(str(c[label])
                                                                for label in LABELS) + " |")
    for group, group_rows in (("corpus", corpus_rows), ("faults", fault_rows)):
        gc = summarise(group_rows, TOOLS)
        lines.append("")
        lines.append(f"{group}: " + "; ".join(
            f"{t} " + ", ".join(f"{gc[t][label]} {label}" for label in LABELS if gc[t][label])
            for t in TOOLS))
    if midi_rows:
        mc = summarise(midi_rows, ("audioquant",))["audioquant"]
        lines += ["", f"MIDI ({len(midi_rows)} cases, `audioquant midi quantize` only; "
                  "SoX and FFmpeg do not read MIDI): " + ", ".join(
                      f"{mc[label]} {label}" for label in LABELS if mc[label]) + "."]
    lines += ["", "### File-system faults", ""] + table(fault_rows, TOOLS, True)
    lines += ["", "### Corpus (audio)", ""] + table(corpus_rows, TOOLS, True)
    if midi_rows:
        lines += ["", "### Corpus (MIDI, audioquant only)", ""] \
            + table(midi_rows, ("audioquant",), True)
    return lines


if __name__ == "__main__":
    sys.exit(main())
