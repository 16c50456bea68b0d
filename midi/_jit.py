"""The midi kernels: compiled ahead of time where the install built them, else by numba
on first use (set up as for ``audioquant.dsp``, :mod:`audioquant.numba_setup`: a
writable cache folder, no BLAS probe, kernels that load with the signals held).

Reading, quantizing and writing a file, and finding its beats, runs the kernels of
:data:`AOT_MODULES`. The install compiles them with ``numba.pycc`` (``midi/_aot.py``,
run by ``setup.py``) into the extension ``audioquant.midi._kernels_<tag>`` (``_v4`` or
``_v3`` added: for x86-64-v4 or v3, see :func:`x86_64_level`), ``<tag>`` a hash of those modules'
and the build's source: a process that only quantizes files then never imports numba,
which saves its import and first kernel load (about 0.4 s and 100 MB of every
``audioquant midi`` command). A kernel's compiled version is used when the arguments
have the types it was compiled for (array dtype, dimensions, layout; int, float or bool
scalars); anything else, a source edited since the install (another tag) or
``AUDIOQUANT_JIT=1`` goes to numba, as every kernel did before.

Importing midi loads no numba: only a kernel run under numba does.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

#: The modules (files of midi/) whose kernels the install compiles ahead of time.
AOT_MODULES = ("adapt", "beats", "grid", "notes", "quantize", "smf")

#: Every kernel made by :func:`njit`, in the order defined.
_KERNELS: list[Kernel] = []

#: Once a kernel has run under numba, every later :func:`njit` is numba's directly.
_numba: Any = None

_HERE = os.path.dirname(os.path.abspath(__file__))


def source_tag(folder: str = _HERE) -> str:
    """The hash of the source of :data:`AOT_MODULES` and of the build (this file and
    ``_aot.py``, whose options it compiles with) in ``folder`` that names the compiled
    extension (12 hex digits); setup.py computes it the same way."""
    digest = hashlib.sha1()
    for name in (*AOT_MODULES, "_jit", "_aot"):
        with open(os.path.join(folder, f"{name}.py"), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:12]


#: The options of every midi kernel. ``error_model="numpy"``: an integer division has no
#: branch to raise ZeroDivisionError (none divides by zero: divisors are checked grid
#: steps, PPQ, counts), 4 % of a file's quantize; midi/_aot.py compiles with the same.
OPTIONS = {"cache": True, "error_model": "numpy"}


def njit(func: Callable | None = None, **options: Any) -> Any:
    """``numba.njit(**OPTIONS, **options)``, numba loaded only when the kernel first
    runs without a compiled version (see the module's docstring)."""
    if func is None:
        return lambda f: njit(f, **options)
    options = {**OPTIONS, **options}
    if _numba is not None:
        return _numba.njit(**options)(func)
    kernel = Kernel(func, options)
    _KERNELS.append(kernel)
    return kernel


class Kernel:
    """A kernel of midi before numba is loaded: calls its compiled version when the
    arguments fit one, else numba's (which replaces it in its module then)."""

    __slots__ = ("__wrapped__", "dispatcher", "options", "py_func", "versions")

    def __init__(self, func: Callable, options: dict) -> None:
        self.py_func = self.__wrapped__ = func
        self.options = options
        self.dispatcher: Any = None
        self.versions: list[tuple[Callable, tuple]] | None = None   # (resolved lazily)

    def __call__(self, *args: Any) -> Any:
        versions = self.versions
        if versions is None:
            versions = self.versions = _compiled_versions(self)
        for fn, kinds in versions:
            if _fits(args, kinds):
                return fn(*args)
        if self.dispatcher is None:
            _load_numba()
        return self.dispatcher(*args)

    def __repr__(self) -> str:
        return f"<midi kernel {self.py_func.__module__}.{self.py_func.__name__}>"


def export_name(module: str, func: str, kinds: tuple) -> str:
    """The name of a kernel's compiled version in the extension: its module, its name
    and its argument types (``A<dtype><ndim><layout>`` an array, e.g. ``Au1C1``, ``i8``,
    ``f8``, ``b1`` a scalar; joined by ``x``), so that the extension describes itself."""
    codes = [f"A{np.dtype(k[1]).str[1:]}{k[3]}{k[2]}" if k[0] == "A" else k[0]
             for k in kinds]
    return f"k_{module}__{func}__{'x'.join(codes)}"


def _parse_kinds(code: str) -> tuple:
    """:func:`export_name`'s argument types back, with the arrays' dtypes as objects."""
    kinds = []
    for part in code.split("x"):
        if part.startswith("A"):        # A<dtype str><layout><ndim>, e.g. Au1C1
            kinds.append(("A", np.dtype(part[1:-2]), int(part[-1]), part[-2]))
        else:
            kinds.append((part,))
    return tuple(kinds)


#: The Python and numpy scalars a compiled version takes for each scalar type.
_SCALARS = {"i8": (int, np.integer), "f8": (float, int, np.floating, np.integer),
            "b1": (bool, np.bool_)}


def _fits(args: tuple, kinds: tuple) -> bool:
    """Whether ``args`` have the types a compiled version takes (a wrong one would crash
    it: compiled code does not check). About 0.35 us an argument: it runs on every call."""
    if len(args) != len(kinds):
        return False
    for a, k in zip(args, kinds, strict=True):
        if k[0] == "A":
            if type(a) is not np.ndarray or a.ndim != k[2]:
                return False
            dtype = a.dtype
            if (dtype is not k[1] and dtype != k[1]) or (k[3] == "C"
                                                         and not a.flags.c_contiguous):
                return False
        elif not isinstance(a, _SCALARS[k[0]]) or (k[0] != "b1" and isinstance(a, bool)):
            return False
    return True


#: The instructions of each x86-64 level the kernels are compiled for, as Linux's
#: /proc/cpuinfo names them: x86-64-v3 (AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT; Haswell,
#: 2013, and later; with the v2 ones below them) and x86-64-v4 (AVX-512 F, BW, CD, DQ,
#: VL; Skylake-X, 2017, Zen 4, 2022, and later) on top of it.
X86_64_LEVELS = {
    3: frozenset(("avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm", "xsave",
                  "sse4_1", "sse4_2", "ssse3", "popcnt", "cx16")),
    4: frozenset(("avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm", "xsave",
                  "sse4_1", "sse4_2", "ssse3", "popcnt", "cx16", "avx512f", "avx512bw",
                  "avx512cd", "avx512dq", "avx512vl")),
}


@functools.cache
def x86_64_level() -> int:
    """The highest x86-64 level of :data:`X86_64_LEVELS` this machine runs (4 or 3), 0
    below them or elsewhere (Linux on x86-64: the first processor's flags in
    /proc/cpuinfo, which list only what the kernel enabled). The install compiles the
    kernels for the building machine's level (``_kernels_<tag>_v4`` or ``_v3``: code
    that uses its instructions; v3 5-10 % faster than for any x86-64, v4 5 % faster
    again on a Zen 4), and such an extension is only loaded where the level holds, so a
    build taken to an older machine is left to numba instead of stopping on an
    instruction that machine lacks."""
    if not sys.platform.startswith("linux") or os.uname().machine != "x86_64":
        return 0
    try:
        with open("/proc/cpuinfo", "rb") as f:
            text = f.read(1 << 16)
    except OSError:
        return 0
    at = text.find(b"\nflags")
    if at < 0:
        return 0
    line = text[at + 1:text.find(b"\n", at + 1)]
    flags = set(line.partition(b":")[2].decode("ascii", "replace").split())
    return max((level for level, needs in X86_64_LEVELS.items() if needs <= flags),
               default=0)


def extension_name(tag: str, level: int) -> str:
    """The compiled extension's module name (in ``audioquant.midi``) for code of the
    x86-64 ``level`` (0: any x86-64, or another processor)."""
    return f"_kernels_{tag}" + (f"_v{level}" if level else "")


@functools.cache
def _extension() -> Any:
    """The compiled extension of this source, or None (not built, another source, built
    for a level this machine lacks, ``AUDIOQUANT_JIT=1``)."""
    if os.environ.get("AUDIOQUANT_JIT", "") not in ("", "0"):
        return None
    tag = source_tag()
    level = x86_64_level()
    for each in (4, 3, 0):
        if each > level:
            continue
        try:
            return importlib.import_module(f"{__package__}.{extension_name(tag, each)}")
        except (ImportError, OSError):
            continue
    return None


@functools.cache
def _all_versions() -> dict[tuple[str, str], list]:
    """Every compiled version in the extension, by (module, kernel)."""
    ext = _extension()
    table: dict[tuple[str, str], list] = {}
    for name in dir(ext) if ext is not None else ():
        if name.startswith("k_"):
            module, func, code = name[2:].split("__")
            table.setdefault((module, func), []).append((getattr(ext, name),
                                                          _parse_kinds(code)))
    return table


def _compiled_versions(kernel: Kernel) -> list:
    module = kernel.py_func.__module__.rpartition(".")[2]
    return _all_versions().get((module, kernel.py_func.__name__), [])


def _load_numba() -> None:
    """Make numba's dispatcher of every kernel so far, and put it in place of the kernel
    in every midi module (so kernels that call kernels compile); a kernel with compiled
    versions stays, and uses its dispatcher for other argument types."""
    global _numba
    if _numba is not None:
        return
    from audioquant.numba_setup import import_numba

    numba = import_numba()
    for kernel in _KERNELS:
        kernel.dispatcher = numba.njit(**kernel.options)(kernel.py_func)
    for name, module in list(sys.modules.items()):
        if not name.startswith(f"{__package__}.") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, Kernel) and not _compiled_versions(value):
                setattr(module, attr, value.dispatcher)
    _numba = numba
