"""One cap on compute threads (audioquant.threads): obeyed by every pool, invisible in the bytes.

The properties: with the cap at 1 no compute thread is ever started; with the cap at n at
most n are; the bytes do not depend on the cap; nothing starts a thread at import time; a
forked child neither inherits a dead pool nor hangs on one.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from audioquant import threads
from audioquant.errors import ParameterError
from audioquant.processors import Requantize
from audioquant.sampling import Resample

FS = 48000
# Big enough that both processors want to split: 8 channels x 2**14 frames is 4x the
# parallel threshold.
CHANNELS, FRAMES = 8, 1 << 14


@pytest.fixture(autouse=True)
def default_cap():
    yield
    threads.set_max_threads(None)


def signal() -> np.ndarray:
    rng = np.random.default_rng(20261201)
    return 0.5 * rng.uniform(-1, 1, (CHANNELS, FRAMES))


def render_codes(x: np.ndarray) -> bytes:
    """Resample, then requantize with a shaper (the two channel-parallel processors)."""
    y = Resample(44100)(x, FS)
    req = Requantize(16, dither="tpdf", shaping="lipshitz")
    req.prepare(44100, y.shape[0])
    codes = np.concatenate([req.process_codes(y), req.process_codes(y[:, :0], final=True)],
                           axis=1)
    return codes.astype("<i4").tobytes()


def started_threads(monkeypatch, run) -> list[str]:
    """Names of every thread started while ``run()`` runs."""
    names: list[str] = []
    start = threading.Thread.start

    def recording_start(self, *args, **kwargs):
        names.append(self.name)
        return start(self, *args, **kwargs)

    monkeypatch.setattr(threading.Thread, "start", recording_start)
    run()
    monkeypatch.setattr(threading.Thread, "start", start)
    return names


def pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("audioquant")]


def test_the_work_is_big_enough_to_split():
    # Otherwise the tests below would pass without ever exercising a pool.
    assert CHANNELS * FRAMES >= 4 * threads.PARALLEL_SAMPLES


def test_cap_1_starts_no_thread(monkeypatch):
    threads.set_max_threads(1)
    assert not pool_threads()          # a pool of another size was shut down
    names = started_threads(monkeypatch, lambda: render_codes(signal()))
    assert names == []
    assert not pool_threads()


def test_cap_n_starts_at_most_n(monkeypatch):
    threads.set_max_threads(2)
    names = started_threads(monkeypatch, lambda: render_codes(signal()))
    assert 1 <= len(names) <= 2       # the pool was used, within the cap
    assert len(pool_threads()) <= 2


def test_a_changed_environment_gets_a_pool_of_its_size(monkeypatch):
    monkeypatch.setenv(threads.ENV, "2")
    first = threads.pool(threads.PARALLEL_SAMPLES, 2)
    assert first is not None and first._max_workers == 2
    assert threads.pool(threads.PARALLEL_SAMPLES, 2) is first        # one pool, reused
    monkeypatch.setenv(threads.ENV, "3")
    second = threads.pool(threads.PARALLEL_SAMPLES, 2)
    assert second is not first and second._max_workers == 3
    assert first.submit(int, 7).result() == 7       # the old one still works for a user
    assert threads.pool(threads.PARALLEL_SAMPLES - 1, 2) is None      # small work: no pool
    assert threads.pool(threads.PARALLEL_SAMPLES, 1) is None          # one piece: no pool


def test_numba_thread_pool_never_starts():
    # No kernel is parallel=True, so numba's threading layer (NUMBA_NUM_THREADS threads,
    # which the cap could not govern) is never launched by a render.
    from numba.np.ufunc import parallel

    threads.set_max_threads(2)
    render_codes(signal())
    assert not parallel._is_initialized


def test_bytes_do_not_depend_on_the_cap():
    x = signal()
    outputs = set()
    for cap in (1, 2, 3, threads.available_cpus()):
        threads.set_max_threads(cap)
        outputs.add(render_codes(x))
    assert len(outputs) == 1


def test_render_bytes_do_not_depend_on_the_cap(tmp_path):
    import soundfile as sf

    from audioquant.engine import render

    src = tmp_path / "in.wav"
    sf.write(src, signal().T, FS, subtype="FLOAT")
    outputs = []
    for cap in (1, 2):
        threads.set_max_threads(cap)
        out = tmp_path / f"out{cap}.wav"
        render(src, out, bits=16, shaping="lipshitz", rate=44100)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_environment_variable_and_default(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    assert threads.max_threads() == threads.available_cpus()
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.max_threads() == 3
    threads.set_max_threads(1)             # the call wins over the environment
    assert threads.max_threads() == 1
    threads.set_max_threads(None)
    assert threads.max_threads() == 3


def test_available_cpus_is_the_affinity():
    if hasattr(os, "sched_getaffinity"):
        assert threads.available_cpus() == len(os.sched_getaffinity(0))
    assert 1 <= threads.available_cpus() <= (os.cpu_count() or 1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "two"])
def test_bad_caps_name_the_setting(bad):
    with pytest.raises(ParameterError, match="max_threads must be a whole number >= 1"):
        threads.set_max_threads(bad)


def test_bad_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv(threads.ENV, "lots")
    with pytest.raises(ParameterError, match="AUDIOQUANT_THREADS must be a whole number"):
        threads.max_threads()


def test_the_package_exports_the_setting():
    import audioquant

    assert audioquant.set_max_threads is threads.set_max_threads
    assert audioquant.max_threads is threads.max_threads


def native_threads_script(body: str) -> str:
    return (
        "import os, sys\n"
        "def tasks():\n"
        "    return len(os.listdir('/proc/self/task'))\n"
        "import numpy, numba\n"          # their own threads (BLAS) are not ours
        "before = tasks()\n" + body + "\n"
        "print(before, tasks())\n"
    )


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_import_starts_no_native_thread():
    body = ("import audioquant, audioquant.processors, audioquant.sampling, "
            "audioquant.engine, audioquant.analysis, audioquant.cli, audioquant.midi, "
            "audioquant.dsp.quantize, audioquant.dsp.resample, audioquant.threads")
    out = subprocess.run([sys.executable, "-c", native_threads_script(body)],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == out[1]


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_environment_cap_1_leaves_no_native_thread_behind():
    # In a fresh process with AUDIOQUANT_THREADS=1, a render that would split leaves the
    # OS thread count where it was (a pool or numba's threads would stay alive).
    body = ("import numpy as np\n"
            "from audioquant.processors import Requantize\n"
            "from audioquant.sampling import Resample\n"
            f"x = np.random.default_rng(1).uniform(-0.5, 0.5, ({CHANNELS}, {FRAMES}))\n"
            f"y = Resample(44100)(x, {FS})\n"
            "Requantize(16, shaping='lipshitz')(y, 44100)")
    env = {**os.environ, threads.ENV: "1"}
    out = subprocess.run([sys.executable, "-c", native_threads_script(body)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == out[1]


def _child_render(_: int) -> tuple[bytes, int]:
    return render_codes(signal()), len(pool_threads())


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs the fork start method")
def test_forked_child_makes_its_own_pool():
    # The parent has a live pool; the child's copy of it has no threads. The child must
    # not hang on it: it drops it and makes its own, within the cap.
    threads.set_max_threads(2)
    expected = render_codes(signal())
    assert pool_threads()
    with multiprocessing.get_context("fork").Pool(1) as workers:
        result = workers.map_async(_child_render, [0])
        (codes, child_pool), = result.get(timeout=120)
    assert codes == expected
    assert 1 <= child_pool <= 2
