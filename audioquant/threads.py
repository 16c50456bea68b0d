"""How many threads audioquant computes on: one setting that every thread pool obeys.

``set_max_threads(n)`` (or the environment variable ``AUDIOQUANT_THREADS=n``) caps the
compute threads of this process; the default is the CPUs it may run on
(``os.sched_getaffinity``, so a container or ``taskset`` limit counts). A process pool or a
Dask worker that runs several renders side by side gives each worker its share (``1`` for
one job per core), so they never start cores x cores threads.

What makes threads, and how they obey the cap:

- ``Requantize`` (with a noise shaper) and ``Resample`` split channels over :func:`pool`,
  one pool for the process, created on first use with ``max_threads()`` workers and only
  for blocks of at least :data:`PARALLEL_SAMPLES` samples (all channels). With the cap at 1
  no pool is ever created: the channels run one after the other in the calling thread.
  The kernels release the GIL and channels are independent, so the numbers, and the
  bytes written, do not depend on the cap.
- No kernel is ``numba`` ``parallel=True``, so numba's own thread pool is never started.
- The engine's reader and writer threads (``engine._prefetch``, ``engine._write_behind``)
  are I/O overlap, one each per render, mostly waiting on libsndfile: they do not count
  against the cap (they do not grow with the cores) and end with the render.

Nothing here starts a thread at import time. A forked child (``multiprocessing`` with the
``fork`` start method) forgets the parent's pool, whose threads did not survive the fork,
and makes its own on first use.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from audioquant.errors import ParameterError

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

__all__ = ["ENV", "PARALLEL_SAMPLES", "available_cpus", "max_threads", "pool",
           "set_max_threads"]

#: The environment variable read when :func:`set_max_threads` has not been called.
ENV = "AUDIOQUANT_THREADS"
#: Below this many samples of work (all channels together) a block runs on one thread:
#: handing it to a pool costs more than the parallel part saves.
PARALLEL_SAMPLES = 1 << 15

_cap: int | None = None
_pool: Any = None               # the ThreadPoolExecutor, or None
_pool_size = 0
_lock = threading.Lock()


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _whole(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a whole number >= 1, got {value!r}")
    try:
        number = int(value.__index__() if not isinstance(value, str) else value.strip())
    except (AttributeError, TypeError, ValueError):
        raise ParameterError(f"{name} must be a whole number >= 1, got {value!r}") from None
    if number < 1:
        raise ParameterError(f"{name} must be a whole number >= 1, got {number}")
    return number


def max_threads() -> int:
    """The cap on compute threads: :func:`set_max_threads`' value, else ``AUDIOQUANT_THREADS``,
    else :func:`available_cpus`."""
    if _cap is not None:
        return _cap
    env = os.environ.get(ENV, "").strip()
    return _whole(ENV, env) if env else available_cpus()


def set_max_threads(n: int | None) -> None:
    """Cap the compute threads of this process at ``n`` (>= 1); ``None``: back to the
    default (``AUDIOQUANT_THREADS``, else the CPUs). A pool of another size is shut down
    (its running work finishes first); the next parallel block makes one of the new size.
    Call it between renders (a worker's initializer, the top of a script), not while
    another thread renders."""
    global _cap
    cap = None if n is None else _whole("max_threads", n)
    with _lock:
        _cap = cap
        old = _take_pool_if_not(max_threads())
    if old is not None:
        old.shutdown(wait=True)


def _take_pool_if_not(size: int):
    """Detach and return the pool when it does not have ``size`` workers (caller holds
    the lock)."""
    global _pool, _pool_size
    if _pool is None or _pool_size == size:
        return None
    old, _pool, _pool_size = _pool, None, 0
    return old


def pool(work: int, parts: int) -> ThreadPoolExecutor | None:
    """The process's compute pool for a job of ``work`` samples in ``parts`` independent
    pieces, or None when the job should run in the calling thread: the cap is 1, there is
    one piece, or the job is smaller than :data:`PARALLEL_SAMPLES`."""
    global _pool, _pool_size
    if parts < 2 or work < PARALLEL_SAMPLES:
        return None
    size = max_threads()
    if size < 2:
        return None
    with _lock:
        # A pool of another size (AUDIOQUANT_THREADS changed) is only let go: a render in
        # another thread may still be submitting to it; its threads end once it is freed.
        _take_pool_if_not(size)
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor  # only when threads are used

            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="audioquant")
            _pool_size = size
        return _pool


def _forget_pool_in_child() -> None:
    """After ``fork``: the parent's pool threads do not exist here; drop the pool (without
    joining them) and start unlocked."""
    global _pool, _pool_size, _lock
    _pool, _pool_size = None, 0
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)
