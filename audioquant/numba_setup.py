"""numba for audioquant's kernels (``audioquant.dsp`` and ``audioquant.midi``), set up
once: a cache folder numba can write, no BLAS probe at import, and kernels that load
with SIGINT, SIGTERM and SIGHUP held. Standard library only until numba is asked for, so
the two kernel packages share it without loading anything else of audioquant.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

__all__ = ["HELD_SIGNALS", "KERNEL_PACKAGES", "held_signals", "import_numba"]

#: The packages whose kernels load with the signals held.
KERNEL_PACKAGES = ("audioquant.dsp.", "audioquant.midi.")

#: Where numba caches kernels beside the code when it can: the package folder.
_HERE = os.path.dirname(os.path.abspath(__file__))


def import_numba():
    """Import and return numba, without its BLAS probe; the kernel modules use this.

    ``numba.np.arraymath`` imports ``scipy.linalg.cython_blas`` when it is first loaded,
    only to learn whether BLAS is there; that pulls in all of scipy.linalg (about 0.3 s
    of a render's start-up). Our kernels use no BLAS, so a placeholder module stands in
    while numba loads and is removed at once: a later real use of BLAS (``np.dot`` in
    someone else's kernel, or ``import scipy.linalg``) imports the real module as usual.
    Modules without kernels (``dsp.shaping``, ``dsp.design``) do not load numba at all.
    """
    import sys
    import types

    _ensure_cache_dir()
    name = "scipy.linalg.cython_blas"
    if name not in sys.modules and "numba.np.arraymath" not in sys.modules:
        sys.modules[name] = types.ModuleType(name)
        try:
            import numba.np.arraymath  # noqa: F401
        finally:
            if not hasattr(sys.modules.get(name), "__file__"):
                del sys.modules[name]
    import numba

    _guard_kernel_loading(numba)
    return numba


#: The signals held back while a kernel loads: Ctrl-C, ``kill``, a closed terminal.
HELD_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


def _guard_kernel_loading(numba) -> None:
    """Make loading and compiling our kernels uninterruptible, in the main thread.

    The first call of a ``@njit(cache=True)`` kernel with new argument types loads its
    machine code from the cache (0.3-1 s of a render's start-up, all kernels together)
    or compiles it. A Ctrl-C raised as KeyboardInterrupt in the middle of that lands in
    llvmlite's Python code and finalizers: "Exception ignored in ..." noise on stderr, a
    RuntimeError instead of the clean ``error: interrupted``, rarely a crash at exit.
    So :meth:`Dispatcher.compile` of a kernel of this package runs with SIGINT, SIGTERM
    and SIGHUP deferred (:func:`held_signals`); a signal that came in meanwhile is
    delivered as soon as the kernel is loaded, to the handler that was there (the
    KeyboardInterrupt, or audioquant.io's removal of the temporary output).

    Python runs signal handlers in the main thread only, so that is where a signal can
    interrupt a load; a kernel first called on a worker thread loads while the main
    thread waits, and the worker finishes its load before the process ends (the pool's
    threads are joined at exit). Installed once, for the kernels of
    :data:`KERNEL_PACKAGES` only: other numba users in the process are left alone.
    """
    dispatcher = numba.core.dispatcher.Dispatcher
    compile_ = dispatcher.compile
    if getattr(compile_, "_audioquant_guard", False):
        return
    @functools.wraps(compile_)
    def compile(self, sig):
        if not getattr(self.py_func, "__module__", "").startswith(KERNEL_PACKAGES):
            return compile_(self, sig)
        with held_signals():
            return compile_(self, sig)

    compile._audioquant_guard = True
    dispatcher.compile = compile


_holding: list[int] = []        # the signals that came in while held


def _hold(signum: int, frame: object) -> None:
    """The stand-in handler while signals are held: note the signal for later."""
    _holding.append(signum)


@contextlib.contextmanager
def held_signals() -> Iterator[None]:
    """``with held_signals():`` SIGINT, SIGTERM and SIGHUP wait until the block ends.

    Their handlers are swapped for one that notes the signal; on exit the old handlers
    are put back and each noted signal is raised again, so it is handled then as it
    would have been (KeyboardInterrupt for SIGINT). Outside the main thread, where
    Python cannot change handlers, and inside another ``held_signals``, it does nothing.
    """
    import signal
    import threading

    saved = {}
    if threading.current_thread() is threading.main_thread():
        for name in HELD_SIGNALS:
            signum = getattr(signal, name, None)
            handler = None if signum is None else signal.getsignal(signum)
            if handler is not None and handler is not _hold:   # None: not set from Python
                saved[signum] = signal.signal(signum, _hold)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
        if saved:
            noted, _holding[:] = list(_holding), []
            for signum in dict.fromkeys(noted):
                signal.raise_signal(signum)


def _writable_folder(path: str) -> bool:
    """True when a file can be made in ``path`` (made first if missing)."""
    import os
    import tempfile

    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


def _ensure_cache_dir() -> None:
    """Give numba a cache folder it can write, so ``cache=True`` never fails.

    numba caches compiled kernels beside the source (``__pycache__``) or in the
    user's cache folder; when neither is writable (a package installed by root, run by a
    user whose HOME is read-only) it raises ``cannot cache function`` at import. Then the
    cache goes to a private folder under the system's temporary folder instead: kernels
    are compiled once per machine boot rather than never cached. ``NUMBA_CACHE_DIR``, when
    set, is left alone.
    """
    import os
    import sys
    import tempfile

    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    beside = os.path.join(_HERE, "__pycache__")
    user = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                        "numba")
    if _writable_folder(beside) or _writable_folder(user):
        return
    folder = os.path.join(tempfile.gettempdir(), f"audioquant-numba-{os.getuid()}")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        if os.stat(folder).st_uid != os.getuid() or not _writable_folder(folder):
            raise PermissionError(folder)
    except OSError:                       # someone else's folder of that name: a fresh one
        folder = tempfile.mkdtemp(prefix="audioquant-numba-")
    os.environ["NUMBA_CACHE_DIR"] = folder
    if "numba.core.config" in sys.modules:         # numba already read its settings
        sys.modules["numba.core.config"].CACHE_DIR = folder
