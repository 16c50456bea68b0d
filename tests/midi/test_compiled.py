"""The midi kernels compiled at install (midi/_jit.py, midi/_aot.py, setup.py): a
quantize or stats command loads no numba; the compiled kernels write what numba's write;
a call with other argument types goes to numba instead of crashing the compiled code."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from audioquant.midi import _jit
from tests.corpus import MIDI
from tests.midi.helpers import SAMPLE, run_python

#: The readable files of the hardening corpus, and the bundled sample.
READABLE = [case for case in MIDI if not hasattr(case.expect, "fragments")]


def test_the_install_built_the_kernels_of_this_source():
    ext = _jit._extension()
    assert ext is not None, (
        f"no audioquant.midi._kernels_{_jit.source_tag()}: midi/{_jit.AOT_MODULES} changed "
        "since the install; run `pip install -e .` again to compile them")
    assert any(name.startswith("k_smf___encode__") for name in dir(ext))


@pytest.mark.parametrize("level, expected", [(4, [4, 3, 0]), (3, [3, 0]), (0, [0])])
def test_an_extension_for_an_x86_64_level_is_loaded_only_where_the_cpu_has_it(
        monkeypatch, level, expected):
    tag = _jit.source_tag()
    built = _jit._extension().__name__.rpartition(".")[2]
    assert built == _jit.extension_name(tag, _jit.x86_64_level())    # (what setup.py names)
    tried = []

    def not_there(name):
        tried.append(name.rpartition(".")[2])
        raise ImportError(name)

    monkeypatch.setattr(_jit.importlib, "import_module", not_there)
    monkeypatch.setattr(_jit, "x86_64_level", lambda: level)     # (another machine)
    _jit._extension.cache_clear()
    try:
        assert _jit._extension() is None
    finally:
        _jit._extension.cache_clear()
    assert tried == [_jit.extension_name(tag, each) for each in expected]


V3_FLAGS = ("fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt cx16 avx avx2 fma bmi1 bmi2 f16c movbe "
            "abm xsave")


@pytest.mark.parametrize("flags, level", [
    (V3_FLAGS, 3), (V3_FLAGS + " avx512f avx512bw avx512cd avx512dq avx512vl", 4),
    (V3_FLAGS + " avx512f", 3), ("fpu sse sse2 avx512f avx512bw avx512cd avx512dq avx512vl", 0)])
def test_the_level_is_read_from_the_cpu_flags(monkeypatch, tmp_path, flags, level):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\nbugs\t\t:\n")
    real_open = open
    monkeypatch.setattr("builtins.open", lambda path, *a, **k: real_open(
        cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))
    monkeypatch.setattr(_jit.os, "uname", lambda: os.uname_result(
        ("Linux", "h", "6", "1", "x86_64")))
    monkeypatch.setattr(_jit.sys, "platform", "linux")
    _jit.x86_64_level.cache_clear()
    try:
        assert _jit.x86_64_level() == level
    finally:
        monkeypatch.undo()
        _jit.x86_64_level.cache_clear()


def test_midi_commands_load_no_numba_and_no_huge_pages(tmp_path):
    out, mapped = tmp_path / "out.mid", tmp_path / "mapped.mid"
    r = run_python(
        "import sys\n"
        "from audioquant.cli import main\n"
        f"for argv in (['midi', 'quantize', {str(SAMPLE)!r}, {str(out)!r}, '--grid', '1/16',\n"
        f"              '--swing', '60'], ['midi', 'stats', {str(SAMPLE)!r}, '--json'],\n"
        f"             ['midi', 'beats', {str(SAMPLE)!r}, '--meter', '3/4'],\n"
        f"             ['midi', 'tempo', {str(SAMPLE)!r}, {str(mapped)!r}],\n"
        f"             ['midi', 'quantize', {str(SAMPLE)!r}, {str(out)!r}, '--follow-beats']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), exc.code\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('numba', 'llvmlite')]\n"
        "assert not loaded, loaded[:5]\n"
        "import numpy\n"             # (and numpy's arrays on ordinary pages: tune_memory)
        "assert not numpy._core.multiarray._get_madvise_hugepage()\n")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:4] == b"MThd" and mapped.read_bytes()[:4] == b"MThd"


def _batch(folder, out, env_jit: bool, options: list[str]) -> dict:
    env = dict(os.environ, AUDIOQUANT_JIT="1" if env_jit else "0")
    out.mkdir()
    r = subprocess.run([sys.executable, "-m", "audioquant", "midi", "quantize", str(folder),
                        "--out-dir", str(out), "--report", str(out / "report.json"),
                        *options], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads((out / "report.json").read_text())


@pytest.mark.parametrize("options", [["--grid", "1/16"],
                                     ["--grid", "1/8", "--ends", "--strength", "70"],
                                     ["--grid", "1/16", "--starts-only", "--swing", "62",
                                      "--exclude-within", "10"]])
def test_compiled_kernels_write_what_numba_writes(tmp_path, options):
    folder = tmp_path / "in"
    folder.mkdir()
    for case in READABLE:
        (folder / f"{case.name}.mid").write_bytes(case.data())
    (folder / "sample.mid").write_bytes(SAMPLE.read_bytes())
    compiled = _batch(folder, tmp_path / "compiled", False, options)
    numba = _batch(folder, tmp_path / "numba", True, options)
    names = sorted(p.name for p in folder.iterdir())
    for name in names:
        assert (tmp_path / "compiled" / name).read_bytes() == \
            (tmp_path / "numba" / name).read_bytes(), name

    def reports(batch, out):
        return [json.dumps({k: v for k, v in f.items() if k != "seconds"}).replace(out, "OUT")
                for f in batch["files"]]
    assert reports(compiled, str(tmp_path / "compiled")) == \
        reports(numba, str(tmp_path / "numba"))


def test_other_argument_types_go_to_numba_not_the_compiled_code():
    # (compiled for int64 ticks)
    kernel = importlib.import_module("audioquant.midi.grid")._locate_kernel
    assert isinstance(kernel, _jit.Kernel)
    ticks = np.array([0, 5, 130, 247, 1000], np.int32)  # (compiled for int64 only)
    strided = np.arange(0, 2000, 7, dtype=np.int64)[::2]
    for arg in (ticks, strided):
        expected = kernel.py_func(np.ascontiguousarray(arg, np.int64), 0, 240, 120)
        for got, want in zip(kernel(arg, 0, 240, 120), expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_argument_kinds_are_checked_exactly():
    kinds = (("A", "i8", 1, "C"), ("f8",), ("i8",), ("b1",))
    a = np.zeros(4, np.int64)
    assert _jit._fits((a, 1.5, 3, True), kinds)
    assert _jit._fits((a, 2, np.int32(3), np.bool_(False)), kinds)     # (converted)
    assert not _jit._fits((a.astype(np.int32), 1.5, 3, True), kinds)   # dtype
    assert not _jit._fits((a[::2], 1.5, 3, True), kinds)               # layout
    assert not _jit._fits((a.reshape(2, 2), 1.5, 3, True), kinds)      # dimensions
    assert not _jit._fits((a, 1.5, True, True), kinds)                 # bool for an int
    assert not _jit._fits((a, 1.5, 3.0, True), kinds)                  # float for an int
    assert not _jit._fits((a, 1.5, 3), kinds)                          # count
    assert not _jit._fits((list(a), 1.5, 3, True), kinds)              # not an array


def test_export_names_describe_their_types():
    kinds = (("A", "u1", 1, "C"), ("i8",), ("A", "f8", 2, "A"), ("b1",))
    name = _jit.export_name("smf", "_scan", kinds)
    module, func, code = name[2:].split("__")
    assert (module, func, _jit._parse_kinds(code)) == ("smf", "_scan", kinds)


def test_the_tag_follows_the_source(tmp_path):
    for name in (*_jit.AOT_MODULES, "_jit", "_aot"):
        (tmp_path / f"{name}.py").write_text("x = 1\n")
    before = _jit.source_tag(str(tmp_path))
    (tmp_path / "grid.py").write_text("x = 2\n")
    edited = _jit.source_tag(str(tmp_path))
    assert edited != before
    (tmp_path / "_aot.py").write_text("x = 2\n")         # (the build's options)
    assert _jit.source_tag(str(tmp_path)) not in (before, edited)
    assert len(before) == 12 and int(before, 16) >= 0


def test_compiled_beat_tracker_finds_what_numba_finds(tmp_path):
    """``midi beats --json`` and ``midi tempo`` with the compiled kernels and with numba's:
    the same beats (to the last digit) and the same bytes."""
    def run(jit: bool) -> tuple[str, bytes]:
        env = dict(os.environ, AUDIOQUANT_JIT="1" if jit else "0")
        out = tmp_path / f"mapped_{jit}.mid"
        found = subprocess.run([sys.executable, "-m", "audioquant", "midi", "beats",
                                str(SAMPLE), "--json"], capture_output=True, text=True,
                               timeout=300, env=env)
        made = subprocess.run([sys.executable, "-m", "audioquant", "midi", "tempo",
                               str(SAMPLE), str(out)], capture_output=True, text=True,
                              timeout=300, env=env)
        assert found.returncode == 0 and made.returncode == 0, found.stderr + made.stderr
        return found.stdout, out.read_bytes()

    compiled, numba = run(False), run(True)
    assert json.loads(compiled[0])["beats"] and compiled == numba
