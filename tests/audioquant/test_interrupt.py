"""Ctrl-C early in a render: while numba loads the kernels, and just after.

The first call of each kernel loads its machine code from numba's cache, on the main
thread; ``audioquant.dsp`` holds SIGINT, SIGTERM and SIGHUP back meanwhile
(``held_signals``) and delivers them once the kernel is loaded. Before that, a Ctrl-C in
the middle of a load printed llvmlite's "Exception ignored in ..." noise, or a
RuntimeError instead of ``error: interrupted``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from audioquant import dsp, io, numba_setup


@pytest.fixture(scope="module")
def long_input(tmp_path_factory) -> str:
    """20 s of stereo noise at 96 kHz: in 64-frame blocks, still rendering a second in."""
    path = str(tmp_path_factory.mktemp("interrupt") / "in.wav")
    noise = 0.1 * np.random.default_rng(7).standard_normal((96000 * 20, 2))
    sf.write(path, noise.astype(np.float32), 96000, subtype="FLOAT")
    return path


def temporary_files(folder) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(io.TEMP_PREFIX)]


def interrupt_render(src: str, folder, extra: list[str], delay: float):
    """Start a render of ``src`` over an existing ``out.wav`` in ``folder``, send SIGINT
    ``delay`` seconds after its temporary output appears (the render has begun; its
    kernels are not loaded yet), and return (exit status, stderr)."""
    out = folder / "out.wav"
    out.write_bytes(b"old")
    proc = subprocess.Popen([sys.executable, "-m", "audioquant", "render", src, str(out),
                             "--bits", "16", "--block", "64", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not temporary_files(folder) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


# Delays after the temporary file appears: 0-0.3 s is the kernels loading (cached) and
# the first blocks; 0.6 s is well into the render. Each case is a fresh process (~1 s).
@pytest.mark.parametrize("delay", [0.0, 0.02, 0.06, 0.15, 0.3, 0.6])
@pytest.mark.parametrize("extra", [[], ["--rate", "44100"]], ids=["bits", "resample"])
def test_ctrl_c_while_kernels_load_is_one_line_and_130(tmp_path, long_input, extra, delay):
    status, err = interrupt_render(long_input, tmp_path, extra, delay)
    assert (status, err) == (130, b"error: interrupted\n"), err[-800:]
    assert temporary_files(tmp_path) == []
    assert (tmp_path / "out.wav").read_bytes() == b"old"


def test_held_signals_delivers_a_held_sigint_at_the_end():
    reached_end = False
    with pytest.raises(KeyboardInterrupt):
        with dsp.held_signals():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)                  # the handler would have run by now
            reached_end = True
    assert reached_end
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_held_signals_leaves_handlers_and_quiet_blocks_alone():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with dsp.held_signals():
        with dsp.held_signals():              # nested: the outer one does the holding
            pass
    assert {s: signal.getsignal(s) for s in before} == before


def fake_numba(compile_):
    """A stand-in for numba with one Dispatcher class whose ``compile`` is ``compile_``."""
    dispatcher = type("Dispatcher", (), {"compile": compile_})
    return SimpleNamespace(core=SimpleNamespace(dispatcher=SimpleNamespace(
        Dispatcher=dispatcher))), dispatcher


def kernel(module: str):
    return SimpleNamespace(py_func=SimpleNamespace(__module__=module))


@pytest.mark.parametrize("module", ["audioquant.dsp.quantize", "audioquant.midi.smf"])
def test_a_sigint_during_a_kernel_load_arrives_once_it_is_loaded(module):
    loaded = []

    def compile_(self, sig):              # the load: Ctrl-C comes in half-way through
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        loaded.append(sig)
        return "entry point"
    numba, dispatcher = fake_numba(compile_)
    numba_setup._guard_kernel_loading(numba)
    with pytest.raises(KeyboardInterrupt):
        dispatcher.compile(kernel(module), "f8(f8)")
    assert loaded == ["f8(f8)"]
    numba_setup._guard_kernel_loading(numba)      # installed once: a second call wraps nothing
    assert dispatcher.compile.__wrapped__ is compile_


def test_other_packages_kernels_load_as_usual():
    def compile_(self, sig):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)                  # KeyboardInterrupt here, inside the load
        raise AssertionError("not reached")
    numba, dispatcher = fake_numba(compile_)
    numba_setup._guard_kernel_loading(numba)
    with pytest.raises(KeyboardInterrupt):
        dispatcher.compile(kernel("someone.else"), "f8(f8)")


def test_audioquant_installs_the_guard_on_numba():
    import numba

    from audioquant.dsp import dither  # noqa: F401 - loads numba through import_numba

    assert numba.core.dispatcher.Dispatcher.compile._audioquant_guard
