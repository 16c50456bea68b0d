"""Numba kernels for audioquant: arrays in, arrays out, no I/O and no argument parsing.

- :mod:`dsp.dither` -- counter-based random numbers and RPDF / TPDF / high-pass TPDF dither.
- :mod:`dsp.quantize` -- float to N-bit integer codes with dither, noise shaping, auto-blank.
- :mod:`dsp.shaping` -- the catalog of published error-feedback noise shapers.
- :mod:`dsp.design` -- noise shapers designed for any sample rate (numpy, not a kernel).
- :mod:`dsp.resample` -- band-limited polyphase resampling; sample-and-hold.
"""


def import_numba():
    """Import and return numba, without its BLAS probe; the kernel modules use this.

    ``numba.np.arraymath`` imports ``scipy.linalg.cython_blas`` when it is first loaded,
    only to learn whether BLAS is there; that pulls in all of scipy.linalg (about 0.3 s
    of a render's start-up). Our kernels use no BLAS, so a placeholder module stands in
    while numba loads and is removed at once: a later real use of BLAS (``np.dot`` in
    someone else's kernel, or ``import scipy.linalg``) imports the real module as usual.
    Modules of ``dsp`` without kernels (``shaping``, ``design``) do not load numba at all.
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

    return numba


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

    numba caches compiled kernels beside the source (``dsp/__pycache__``) or in the
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
    beside = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
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
