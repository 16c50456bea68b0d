"""Output and input paths that are not plain regular files, and failures that must leave
the world as it was: symlinks, devices, FIFOs, standard streams, signals, permissions,
long and non-UTF-8 names, an unwritable numba cache, empty FLAC, tags, formats."""

from __future__ import annotations

import io as pyio
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from audioquant import io, numba_setup
from audioquant.cli import main
from audioquant.engine import render
from tests.conftest import sine

SAMPLE_MIDI = os.path.join(os.path.dirname(__file__), "..", "..", "samples", "humanized.mid")
FRAMES = 4410


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "audioquant", *args], capture_output=True,
                          timeout=120, **kwargs)


@pytest.fixture
def tone(tmp_path) -> str:
    """0.1 s of a mono float32 sine at 44.1 kHz."""
    path = str(tmp_path / "tone.wav")
    sf.write(path, (0.5 * sine(997, 1, FRAMES)).astype(np.float32), 44100, subtype="FLOAT")
    return path


def expected_codes(path: str, bits: int = 16) -> np.ndarray:
    """What a render of ``path`` to a regular file holds: the reference the others must
    equal byte for byte (a regular-file render is checked against theory elsewhere)."""
    ref = os.path.join(os.path.dirname(path), "reference.wav")
    render(path, ref, bits=bits)
    return sf.read(ref, dtype="int16")[0]


def read_back(data: bytes) -> tuple[np.ndarray, int]:
    return sf.read(pyio.BytesIO(data), dtype="int16")


def leftovers(folder) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(io.TEMP_PREFIX)]


def drain(path: str, into: list) -> threading.Thread:
    """Read a FIFO to its end on a thread (a reader must be there for a writer to open)."""
    def run() -> None:
        with open(path, "rb") as f:
            into.append(f.read())
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# -- symlinks ---------------------------------------------------------------------------

def test_symlink_output_replaces_its_target_and_the_link_stays(tmp_path, tone):
    target, link = tmp_path / "real.wav", tmp_path / "link.wav"
    target.write_bytes(b"old")
    link.symlink_to("real.wav")
    render(tone, link)
    assert os.readlink(link) == "real.wav"
    np.testing.assert_array_equal(sf.read(target, dtype="int16")[0], expected_codes(tone))
    assert leftovers(tmp_path) == []


def test_dangling_symlink_output_creates_its_target(tmp_path, tone):
    link = tmp_path / "link.wav"
    link.symlink_to("made.wav")
    render(tone, link)
    assert link.is_symlink() and (tmp_path / "made.wav").is_file()


def test_midi_output_and_report_through_symlinks(tmp_path):
    for name in ("out", "report"):
        (tmp_path / f"{name}.real").write_bytes(b"old")
        (tmp_path / name).symlink_to(f"{name}.real")
    status = main(["midi", "quantize", SAMPLE_MIDI, str(tmp_path / "out"),
                   "--report", str(tmp_path / "report")])
    assert status == 0
    assert os.readlink(tmp_path / "out") == "out.real"
    assert (tmp_path / "out.real").read_bytes()[:4] == b"MThd"
    assert (tmp_path / "report.real").read_text().startswith("{")


def test_report_that_is_a_symlink_to_the_input_is_refused(tmp_path, capsys):
    src = tmp_path / "take.mid"
    src.write_bytes(open(SAMPLE_MIDI, "rb").read())
    (tmp_path / "r.json").symlink_to("take.mid")
    before = src.read_bytes()
    status = main(["midi", "quantize", str(src), str(tmp_path / "out.mid"),
                   "--report", str(tmp_path / "r.json")])
    assert status == 1 and "same file" in capsys.readouterr().err
    assert src.read_bytes() == before and not (tmp_path / "out.mid").exists()


def test_output_symlink_to_the_input_is_refused(tmp_path, tone):
    (tmp_path / "link.wav").symlink_to(tone)
    before = open(tone, "rb").read()
    with pytest.raises(io.AudioFileError, match="is the input"):
        render(tone, tmp_path / "link.wav")
    assert open(tone, "rb").read() == before


# -- devices and FIFOs ------------------------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root (CI runs as root)")
@pytest.mark.parametrize("command", ["render", "midi"])
def test_device_node_output_is_written_into_and_left_a_device(tmp_path, tone, command):
    dev = tmp_path / "null"
    os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))     # a stand-in /dev/null
    before = os.stat(dev)
    if command == "render":
        args = ["render", tone, str(dev)]
    else:
        args = ["midi", "quantize", SAMPLE_MIDI, str(dev), "--report", str(dev)]
    assert main(args) == 0
    after = os.stat(dev)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert after.st_ino == before.st_ino and leftovers(tmp_path) == []


@pytest.mark.parametrize("ext", [".wav", ".flac", ".aiff"])
def test_fifo_output_gets_a_readable_file_and_stays_a_fifo(tmp_path, tone, ext):
    fifo = str(tmp_path / f"pipe{ext}")
    os.mkfifo(fifo)
    got: list[bytes] = []
    thread = drain(fifo, got)
    render(tone, fifo)
    thread.join(30)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and leftovers(tmp_path) == []
    codes, rate = read_back(got[0])
    assert rate == 44100
    np.testing.assert_array_equal(codes, expected_codes(tone))


def test_streamed_wav_header_has_the_exact_sizes(tmp_path, tone):
    fifo = str(tmp_path / "pipe.wav")
    os.mkfifo(fifo)
    got: list[bytes] = []
    thread = drain(fifo, got)
    render(tone, fifo, bits=24, rate=48000)
    thread.join(30)
    data = got[0]
    frames = round(FRAMES * 48000 / 44100)                  # 4800: the resampled length
    assert data[:4] == b"RIFF" and int.from_bytes(data[4:8], "little") == len(data) - 8
    assert data[36:40] == b"data" and int.from_bytes(data[40:44], "little") == 3 * frames
    ref = str(tmp_path / "ref24.wav")
    render(tone, ref, bits=24, rate=48000)
    np.testing.assert_array_equal(sf.read(pyio.BytesIO(data), dtype="int32")[0],
                                  sf.read(ref, dtype="int32")[0])


@pytest.mark.parametrize(("subtype", "width"), [("PCM_U8", 1), ("PCM_16", 2), ("PCM_24", 3)])
def test_streamed_wav_of_unknown_length_says_until_the_end(tmp_path, subtype, width):
    fifo = str(tmp_path / "pipe.wav")
    os.mkfifo(fifo)
    got: list[bytes] = []
    thread = drain(fifo, got)
    bits = 8 * width
    values = np.random.default_rng(3).integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (3, 301))
    dtype, size = (np.int16, 16) if width <= 2 else (np.int32, 32)
    codes = (values << (size - bits)).astype(dtype)          # in the container's top bits
    with io.AtomicWriter(fifo, 8000, 3, subtype) as writer:      # no length given
        writer.write(codes[:, :100])
        writer.write(codes[:, 100:])
    thread.join(30)
    data = got[0]
    assert data[4:8] == data[40:44] == b"\xff\xff\xff\xff" and len(data) == 44 + codes.size * width
    back = sf.read(pyio.BytesIO(data), dtype="int16" if width <= 2 else "int32")[0]
    np.testing.assert_array_equal(back.T, codes)


def test_fifo_input_with_a_writer(tmp_path, tone):
    fifo = str(tmp_path / "in.wav")
    os.mkfifo(fifo)
    data = open(tone, "rb").read()

    def feed() -> None:
        with open(fifo, "wb") as f:
            f.write(data)
    threading.Thread(target=feed, daemon=True).start()
    out = str(tmp_path / "out.wav")
    render(fifo, out)
    np.testing.assert_array_equal(sf.read(out, dtype="int16")[0], expected_codes(tone))


def test_stdin_and_stdout_as_dash(tmp_path, tone):
    result = cli("render", "-", "-", input=open(tone, "rb").read())
    assert result.returncode == 0, result.stderr
    assert b"wrote" in result.stderr          # the summary goes to stderr, not the audio
    np.testing.assert_array_equal(read_back(result.stdout)[0], expected_codes(tone))


@pytest.mark.parametrize("path", ["/dev/stdout", "/proc/self/fd/1"])
def test_dev_stdout_into_a_pipe_is_not_replaced(tmp_path, tone, path):
    result = cli("render", tone, path)
    assert result.returncode == 0, result.stderr
    np.testing.assert_array_equal(read_back(result.stdout)[0], expected_codes(tone))
    assert os.path.islink("/dev/stdout") or not os.path.exists("/dev/stdout")


def test_dev_stdin_as_input(tmp_path, tone):
    out = str(tmp_path / "o.wav")
    with open(tone, "rb") as f:
        result = cli("render", "/dev/stdin", out, stdin=f)
    assert result.returncode == 0, result.stderr
    result = cli("render", "/dev/stdin", str(tmp_path / "p.wav"), input=open(tone, "rb").read())
    assert result.returncode == 0, result.stderr
    assert open(out, "rb").read() == (tmp_path / "p.wav").read_bytes()


def test_midi_to_stdout_keeps_the_summary_out_of_the_file():
    result = cli("midi", "quantize", SAMPLE_MIDI, "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout[:4] == b"MThd" and b"grid" in result.stderr


# -- failures leave the world as it was -------------------------------------------------

def test_overwriting_keeps_the_permission_bits(tmp_path, tone):
    out = tmp_path / "out.wav"
    out.write_bytes(b"old")
    os.chmod(out, 0o640)
    render(tone, out)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    mid = tmp_path / "out.mid"
    mid.write_bytes(b"old")
    os.chmod(mid, 0o604)
    assert main(["midi", "quantize", SAMPLE_MIDI, str(mid)]) == 0
    assert stat.S_IMODE(os.stat(mid).st_mode) == 0o604


@pytest.mark.parametrize("length", [242, 250, 255])
def test_long_output_names(tmp_path, tone, length):
    out = tmp_path / ("x" * (length - 4) + ".wav")
    render(tone, out)
    assert out.is_file()
    mid = tmp_path / ("y" * (length - 4) + ".mid")
    assert main(["midi", "quantize", SAMPLE_MIDI, str(mid)]) == 0 and mid.is_file()


def test_non_utf8_file_names(tmp_path, tone):
    src = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9.wav"))
    dst = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"out\xff.flac"))
    os.link(tone, src)
    result = cli("render", src, dst)
    assert result.returncode == 0, result.stderr
    assert b"out\xff.flac" in os.listdir(os.fsencode(tmp_path))
    np.testing.assert_array_equal(sf.read(os.open(dst, os.O_RDONLY), dtype="int16")[0],
                                  expected_codes(tone))


def start_long_render(tmp_path) -> tuple[subprocess.Popen, object]:
    """A minute of noise rendered slowly (shaped, 64-frame blocks) over an existing
    ``out.wav``, once its temporary file exists; SIGINT as a terminal would deliver it."""
    src = str(tmp_path / "long.wav")
    noise = 0.1 * np.random.default_rng(5).standard_normal((2, 44100 * 60))
    sf.write(src, noise.T.astype(np.float32), 44100, subtype="FLOAT")
    out = tmp_path / "out.wav"
    out.write_bytes(b"old")
    proc = subprocess.Popen([sys.executable, "-m", "audioquant", "render", src, str(out),
                             "--shaping", "lipshitz", "--block", "64"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60

    def rendering() -> bool:     # the kernels are loaded and blocks are being written
        sizes = [os.stat(p).st_size for p in tmp_path.glob(io.TEMP_PREFIX + "*")
                 if p.exists()]
        return bool(sizes) and sizes[0] > 1 << 16
    while not rendering() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rendering(), "the render never started writing its temporary file"
    return proc, out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_signals_remove_the_temporary_file(tmp_path, signum):
    proc, out = start_long_render(tmp_path)
    proc.send_signal(signum)
    assert proc.wait(60) == -signum
    assert leftovers(tmp_path) == [] and out.read_bytes() == b"old"


def test_a_leftover_temporary_file_is_recognisable_and_ignored(tmp_path, tone):
    stale = tmp_path / f"{io.TEMP_PREFIX}killed1.tmp"
    stale.write_bytes(b"partial")
    render(tone, tmp_path / "out.wav")
    assert (tmp_path / "out.wav").is_file() and stale.read_bytes() == b"partial"


def test_no_writable_numba_cache_falls_back_to_a_private_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    writable = numba_setup._writable_folder
    monkeypatch.setattr(numba_setup, "_writable_folder",
                        lambda path: path.startswith(str(tmp_path)) and writable(path))
    config = sys.modules["numba.core.config"]
    monkeypatch.setattr(config, "CACHE_DIR", config.CACHE_DIR)
    numba_setup._ensure_cache_dir()
    folder = os.environ["NUMBA_CACHE_DIR"]
    assert folder == str(tmp_path / f"audioquant-numba-{os.getuid()}")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700 and config.CACHE_DIR == folder


# -- formats, tags, empty files ---------------------------------------------------------

def test_empty_input_to_flac_is_a_valid_empty_flac(tmp_path):
    src = str(tmp_path / "empty.wav")
    sf.write(src, np.zeros((0, 2), np.float32), 48000, subtype="FLOAT")
    out = str(tmp_path / "empty.flac")
    render(src, out, bits=24)
    data = open(out, "rb").read()
    assert data[:4] == b"fLaC" and len(data) == 42     # marker + one STREAMINFO block
    meta = io.info(out)
    assert (meta.sample_rate, meta.channels, meta.subtype) == (48000, 2, "PCM_24")
    assert io.read(out)[0].shape == (2, 0)


@pytest.mark.skipif(shutil.which("soxi") is None, reason="SoX not installed (CI installs it)")
def test_empty_flac_reads_in_sox(tmp_path):
    src = str(tmp_path / "empty.wav")
    sf.write(src, np.zeros((0, 2), np.float32), 48000, subtype="FLOAT")
    out = str(tmp_path / "empty.flac")
    render(src, out, bits=24)
    soxi = subprocess.run(["soxi", out], capture_output=True, text=True)
    assert soxi.returncode == 0 and "48000" in soxi.stdout and "24-bit" in soxi.stdout


@pytest.mark.parametrize(("ext", "fmt"), [(".caf", "CAF"), (".w64", "W64"), (".rf64", "RF64"),
                                          (".au", "AU"), (".aifc", "AIFF"), (".flac", "FLAC")])
def test_output_extension_decides_the_format(tmp_path, tone, ext, fmt):
    out = str(tmp_path / f"out{ext}")
    render(tone, out)
    assert sf.info(out).format == fmt
    np.testing.assert_array_equal(sf.read(out, dtype="int16")[0], expected_codes(tone))


@pytest.mark.parametrize("name", ["out.txt", "out.mp4", "out.wav.bak"])
def test_unknown_output_extension_is_refused(tmp_path, tone, capsys, name):
    assert main(["render", tone, str(tmp_path / name)]) != 0
    assert "extension" in capsys.readouterr().err and not (tmp_path / name).exists()


@pytest.mark.parametrize("ext", [".wav", ".flac", ".aiff"])
def test_text_tags_are_kept(tmp_path, ext):
    src = str(tmp_path / "tagged.wav")
    with sf.SoundFile(src, "w", 44100, 1, "PCM_24") as f:
        f.title, f.artist, f.comment = "Título", "Someone", "mastered"
        f.write(0.1 * sine(440, 1, 1000))
    out = str(tmp_path / f"out{ext}")
    render(src, out)
    with sf.SoundFile(out) as f:
        assert (f.title, f.artist) == ("Título", "Someone")


@pytest.mark.parametrize("args", [[], ["--bits", "24"], ["--rate", "48000"]])
def test_a_device_that_refuses_the_write_says_what_the_system_said(tone, capsys, args):
    assert main(["render", tone, "/dev/full", *args]) == 1        # /dev/full: ENOSPC
    assert capsys.readouterr().err == "error: cannot write /dev/full: No space left on device\n"


def test_an_unreadable_input_says_what_the_system_said(tone, capsys, monkeypatch):
    real_open = os.open

    def refuse(path, flags, *rest):
        if os.fspath(path) == tone:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *rest)
    monkeypatch.setattr(os, "open", refuse)
    assert main(["render", tone, os.path.join(os.path.dirname(tone), "o.wav")]) == 1
    assert capsys.readouterr().err == f"error: cannot read {tone}: Permission denied\n"


@pytest.mark.parametrize("command", ["render", "midi"])
def test_a_reader_that_goes_away_ends_the_output_quietly(tmp_path, command):
    if command == "render":
        src = str(tmp_path / "long.wav")
        sf.write(src, np.full((441000, 2), 0.25, np.float32), 44100, subtype="FLOAT")
        args = ["render", src, "-"]
    else:
        args = ["midi", "quantize", SAMPLE_MIDI, "-"]
    proc = subprocess.Popen([sys.executable, "-m", "audioquant", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert len(proc.stdout.read(10)) == 10
    proc.stdout.close()                                 # like `| head -c 10`
    assert proc.wait(60) == 0
    assert b"Traceback" not in proc.stderr.read()


def test_midi_api_writer_follows_links_writes_into_fifos_and_keeps_modes(tmp_path):
    from audioquant import midi

    song = midi.read(SAMPLE_MIDI)
    (tmp_path / "real.mid").write_bytes(b"old")
    os.chmod(tmp_path / "real.mid", 0o640)
    (tmp_path / "link.mid").symlink_to("real.mid")
    midi.write(song, tmp_path / "link.mid")
    assert os.readlink(tmp_path / "link.mid") == "real.mid"
    assert stat.S_IMODE(os.stat(tmp_path / "real.mid").st_mode) == 0o640
    written = (tmp_path / "real.mid").read_bytes()
    assert midi.read(tmp_path / "real.mid").notes.same_as(song.notes)
    fifo = str(tmp_path / "pipe.mid")
    os.mkfifo(fifo)
    got: list[bytes] = []
    thread = drain(fifo, got)
    midi.write(song, fifo)
    thread.join(30)
    assert got[0] == written and stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert leftovers(tmp_path) == []


def test_midi_from_standard_input_and_a_device_refused():
    result = cli("midi", "stats", "-", input=open(SAMPLE_MIDI, "rb").read())
    assert result.returncode == 0 and b"568 notes" in result.stdout
    result = cli("midi", "stats", "/dev/zero")
    assert result.returncode == 1
    assert result.stderr == b"error: cannot read '/dev/zero': it is a device, not a MIDI file\n"


@pytest.mark.parametrize("report", ["missing/r.json", "folder"])
def test_a_report_that_cannot_be_written_leaves_no_output(tmp_path, capsys, report):
    (tmp_path / "folder").mkdir()
    out = tmp_path / "out.mid"
    status = main(["midi", "quantize", SAMPLE_MIDI, str(out), "--report",
                   str(tmp_path / report)])
    assert status == 1 and capsys.readouterr().err.startswith("error: cannot write")
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("existing", [False, True])
def test_a_failing_report_write_leaves_neither_file(tmp_path, monkeypatch, existing):
    out, report = tmp_path / "out.mid", tmp_path / "r.json"
    if existing:
        out.write_bytes(b"old output")
        report.write_bytes(b"old report")
    real_commit = io.OutputFile.commit

    def commit(self):
        if self.path == str(report):
            raise io.AudioFileError(f"cannot write {report}: No space left on device")
        real_commit(self)
    monkeypatch.setattr(io.OutputFile, "commit", commit)
    assert main(["midi", "quantize", SAMPLE_MIDI, str(out), "--report", str(report)]) == 1
    assert leftovers(tmp_path) == []
    if existing:
        assert out.read_bytes() == b"old output" and report.read_bytes() == b"old report"
    else:
        assert not out.exists() and not report.exists()


def test_sigint_removes_the_temporary_file_and_exits_130(tmp_path):
    proc, out = start_long_render(tmp_path)
    proc.send_signal(signal.SIGINT)
    status, err = proc.wait(60), proc.stderr.read()
    assert (status, err) == (130, b"error: interrupted\n"), (out.read_bytes()[:4], err[-500:])
    assert leftovers(tmp_path) == [] and out.read_bytes() == b"old"


def test_midi_and_report_into_dev_stdout_and_proc_fd():
    result = cli("midi", "quantize", SAMPLE_MIDI, "/dev/stdout", "--report", "/proc/self/fd/2")
    assert result.returncode == 0, result.stderr
    assert result.stdout[:4] == b"MThd"
    assert b'"grid": "1/16"' in result.stderr              # the report, written into fd 2
    assert os.path.islink("/dev/stdout")


def test_unix_socket_output_is_connected_to_and_left_a_socket(tmp_path, tone):
    import socket

    path = str(tmp_path / "s.wav")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    got: list[bytes] = []

    def accept() -> None:
        conn, _ = server.accept()
        with conn, conn.makefile("rb") as f:
            got.append(f.read())
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    render(tone, path)
    thread.join(30)
    server.close()
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    np.testing.assert_array_equal(read_back(got[0])[0], expected_codes(tone))


def test_non_utf8_midi_names(tmp_path):
    folder = os.fsencode(tmp_path)
    src = os.fsdecode(os.path.join(folder, b"t\xe4ke.mid"))
    dst = os.fsdecode(os.path.join(folder, b"out\xff.mid"))
    with open(SAMPLE_MIDI, "rb") as f, open(src, "wb") as g:
        g.write(f.read())
    result = cli("midi", "quantize", src, dst)
    assert result.returncode == 0, result.stderr
    assert open(dst, "rb").read()[:4] == b"MThd"
