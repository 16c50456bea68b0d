"""numba for the midi kernels, imported the way ``audioquant.dsp`` does it (midi imports
nothing of dsp): a writable cache folder, and no scipy.linalg loaded for numba's BLAS
probe (our kernels use no BLAS; the probe costs ~0.4 s of start-up)."""

from __future__ import annotations

import os
import sys
import tempfile
import types


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False


def _cache_dir() -> None:
    """numba caches beside the source or in the user's cache; when neither is writable,
    in a private folder under the temporary folder (``NUMBA_CACHE_DIR`` is left alone)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    beside = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
    user = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                        "numba")
    if _writable(beside) or _writable(user):
        return
    folder = tempfile.mkdtemp(prefix="audioquant-numba-")
    os.environ["NUMBA_CACHE_DIR"] = folder
    if "numba.core.config" in sys.modules:
        sys.modules["numba.core.config"].CACHE_DIR = folder


def njit(func=None, **options):
    """``numba.njit(cache=True, **options)`` (every kernel of midi is cached)."""
    if func is None:
        return lambda f: njit(f, **options)
    _cache_dir()
    name = "scipy.linalg.cython_blas"
    if name not in sys.modules and "numba.np.arraymath" not in sys.modules:
        sys.modules[name] = types.ModuleType(name)
        try:
            import numba.np.arraymath  # noqa: F401
        finally:
            if not hasattr(sys.modules.get(name), "__file__"):
                del sys.modules[name]
    import numba

    return numba.njit(cache=True, **options)(func)
