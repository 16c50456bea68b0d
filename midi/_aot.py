"""Compile the kernels of :data:`midi._jit.AOT_MODULES` ahead of time (``numba.pycc``):
the extension ``audioquant.midi._kernels_<tag>`` that reading, quantizing and writing a
MIDI file run without loading numba (see :mod:`midi._jit`). Run by setup.py at install:

    python midi/_aot.py OUTPUT      # OUTPUT: the extension's file, e.g.
                                    # midi/_kernels_0123456789ab.cpython-311-x86_64-linux-gnu.so
                                    # (a name ending in _v4 or _v3: code for x86-64-v4
                                    # or v3)

The argument types each kernel is compiled for are the ones it meets in a small
workload, run here under numba from this source tree: a made-up type-1 file (tempo
map, running status, note-offs of both kinds, a sysex, controllers) read, quantized in
each mode, written, summarised and given the tempo map of its beats, as ``audioquant
midi quantize``, ``midi stats``, ``midi beats`` and ``midi tempo`` do. Needs numba
and numpy (setup.py's build requirements) and a C compiler.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _midi_from_source():
    """``audioquant.midi`` imported from this source tree (midi/ is installed under
    audioquant/, so it is not importable by that name from here), its kernels left to
    numba."""
    os.environ["AUDIOQUANT_JIT"] = "1"
    sys.path.insert(0, ROOT)
    import audioquant  # noqa: F401  (the source tree's)

    folder = os.path.join(ROOT, "midi")
    spec = importlib.util.spec_from_file_location(
        "audioquant.midi", os.path.join(folder, "__init__.py"),
        submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules["audioquant.midi"] = module
    spec.loader.exec_module(module)
    return module


def workload_file(notes: int = 400) -> bytes:
    """A type-1 file at 480 PPQ: a tempo track (set tempo, time signature, a tempo
    change) and a piano track of ``notes`` humanized notes with running status, chords,
    note-offs as 0x80 and as velocity-0 note-ons, a program change, a sysex, pedal."""
    from audioquant.midi.smf import encode_vlq
    tempo = (b"\x00\xff\x51\x03\x07\xa1\x20" + b"\x00\xff\x58\x04\x04\x02\x18\x08"
             + encode_vlq(1920 * 4) + b"\xff\x51\x03\x06\x1a\x80" + b"\x00\xff\x2f\x00")
    events, seed = [], 12345
    for k in range(notes):
        seed = (1103515245 * seed + 12345) % 2**31
        start = 120 * k + seed % 41 - 20 + 20 * (k == 0)
        length = 60 + seed % 200
        pitch = 40 + (seed >> 8) % 40
        events.append((start, 1, bytes([0x90, pitch, 40 + seed % 80])))
        events.append((start + length, 0, bytes([0x80 if k % 2 else 0x90, pitch,
                                                 64 if k % 2 else 0])))
        if k % 8 == 0:
            events.append((start + 480, 0, bytes([0xB0, 64, 127 * (k % 16 == 0)])))
    events.sort(key=lambda e: (e[0], e[1]))
    body, last, running = bytearray(b"\x00\xc0\x00" + b"\x00\xf0\x03\x7e\x01\xf7"), 0, 0
    for tick, _, msg in events:
        body += encode_vlq(tick - last)
        last = tick
        body += msg[1:] if msg[0] == running else msg
        running = msg[0]
    body += b"\x00\xff\x2f\x00"
    head = b"MThd" + struct.pack(">IHHH", 6, 1, 2, 480)
    return head + b"".join(b"MTrk" + struct.pack(">I", len(t)) + t
                           for t in (tempo, bytes(body)))


def run_workload(midi) -> None:
    """What ``midi quantize`` (with and without ``--follow-beats``), ``midi stats``,
    ``midi beats`` and ``midi tempo`` run, on :func:`workload_file`."""
    from audioquant.midi import adapt, files, smf

    data = workload_file()
    with tempfile.TemporaryDirectory() as folder:
        src = os.path.join(folder, "in.mid")
        with open(src, "wb") as f:
            f.write(data)
        for options in ({}, {"mode": "starts"}, {"mode": "ends"},
                        {"exclude_within": 10, "swing": 60, "strength": 80}):
            files.quantize_file(src, os.path.join(folder, "out.mid"), **options)
        files.stats_files([src])
        song, _ = files.quantize_song(midi.read(src))        # (the arrays' way, as the API)
        midi.write(song, os.path.join(folder, "out.mid"))
        files.quantize_file(src, os.path.join(folder, "out.mid"), follow={})
        song = midi.read(src)
        for meter in (None, "3/4"):
            beats = adapt.find_beats(song, meter=meter)
            adapt.adapt(song.to_bytes(), beats.beats, beats.downbeats, beats.meter, src)
        one_pass, smf._ONE_PASS = smf._ONE_PASS, 0      # the two-pass read of large files
        try:
            midi.read(src)
        finally:
            smf._ONE_PASS = one_pass


def _kinds(sig) -> tuple | None:
    """A numba signature as :mod:`midi._jit`'s argument kinds; None when a type is one
    the compiled version cannot check (records, tuples, ...) or that a call from Python
    does not make (a scalar other than int64, float64, bool: a kernel called only from
    another kernel)."""
    from numba import types
    from numba.np.numpy_support import as_dtype

    kinds = []
    for t in sig:
        if isinstance(t, types.Array) and t.layout in "CA":
            kinds.append(("A", as_dtype(t.dtype), t.ndim, t.layout))
        elif t in (types.boolean, types.int64, types.float64):
            kinds.append(({types.boolean: "b1", types.int64: "i8"}.get(t, "f8"),))
        else:
            return None
    return tuple(kinds)


def build(output: str) -> list[str]:
    """Compile the kernels into the extension file ``output``; returns the names of the
    compiled versions."""
    midi = _midi_from_source()
    from audioquant.midi import _jit

    for name in _jit.AOT_MODULES:   # (before numba loads: their kernels are _jit.Kernels)
        importlib.import_module(f"audioquant.midi.{name}")
    run_workload(midi)
    from numba.pycc import CC
    from numba.pycc import compiler as pycc_compiler

    class _Flags(pycc_compiler.Flags):     # (pycc's wrappers otherwise hold the GIL)
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.release_gil = True
            self.error_model = _jit.OPTIONS["error_model"]    # (as under numba)

    pycc_compiler.Flags = _Flags

    folder, filename = os.path.split(os.path.abspath(output))
    name = filename.split(".")[0]
    cc = CC(name)
    cc.output_dir, cc.output_file = folder, filename
    level = name.rpartition("_v")[2]
    if level in ("3", "4"):        # (see _jit.x86_64_level)
        cc.target_cpu = f"x86-64-v{level}"
    exported = []
    for kernel in _jit._KERNELS:
        module = kernel.py_func.__module__.rpartition(".")[2]
        if module not in _jit.AOT_MODULES or kernel.dispatcher is None:
            continue
        # (read-only arrays first: that version also takes a writable array)
        signatures = sorted(kernel.dispatcher.signatures, key=lambda sig: not any(
            getattr(t, "mutable", True) is False for t in sig))
        for sig in signatures:
            kinds = _kinds(sig)
            name = kinds and _jit.export_name(module, kernel.py_func.__name__, kinds)
            if not name or name in exported:
                continue
            result = kernel.dispatcher.overloads[sig].signature.return_type
            cc.export(name, result(*sig))(kernel.py_func)
            exported.append(name)
    cc.compile()
    return exported


if __name__ == "__main__":
    names = build(sys.argv[1])
    print(f"compiled {len(names)} midi kernels into {sys.argv[1]}")
