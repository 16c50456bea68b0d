"""The build steps pyproject.toml cannot state: the midi kernels compiled ahead of time
into ``audioquant.midi._kernels_<tag>`` (midi/_aot.py; see midi/_jit.py), so that
reading, quantizing and writing MIDI files loads no numba (optional: where it cannot be
built, with no C compiler, the install goes on and the kernels compile on first use);
and the source tree's bytecode, which an editable install does not otherwise get (with
PYTHONDONTWRITEBYTECODE set, every command compiled our modules again: 70 ms of the
0.35 s of a small ``midi quantize``)."""

from __future__ import annotations

import compileall
import glob
import importlib.util
import os
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CompileError

HERE = os.path.dirname(os.path.abspath(__file__))


def _extension_name() -> str:
    """midi._jit's name of the extension of this tree, for this machine (x86-64-v4 or v3
    code where it has it): loaded by path, it needs only numpy."""
    spec = importlib.util.spec_from_file_location("_audioquant_jit",
                                                  os.path.join(HERE, "midi", "_jit.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.extension_name(module.source_tag(os.path.join(HERE, "midi")),
                                 module.x86_64_level())


class BuildKernels(build_ext):
    """build_ext for the kernels extension: midi/_aot.py writes it (no sources to
    compile here)."""

    def run(self) -> None:
        super().run()
        for folder in ("audioquant", "midi", "dsp"):
            compileall.compile_dir(os.path.join(HERE, folder), quiet=1)

    def build_extension(self, ext: Extension) -> None:
        target = self.get_ext_fullpath(ext.name)
        folder = os.path.dirname(target)
        os.makedirs(folder, exist_ok=True)
        for place in {folder, os.path.join(HERE, "midi")}:   # (the build's; in place)
            for old in glob.glob(os.path.join(glob.escape(place), "_kernels_*")):
                os.remove(old)      # (an earlier build's, for another source)
        done = subprocess.run([sys.executable, os.path.join(HERE, "midi", "_aot.py"),
                               target], cwd=HERE)
        if done.returncode != 0 or not os.path.exists(target):
            raise CompileError("the midi kernels were not compiled ahead of time; "
                               "they will compile on first use instead")


setup(
    ext_modules=[Extension(f"audioquant.midi.{_extension_name()}", sources=[],
                           optional=True)],
    cmdclass={"build_ext": BuildKernels},
)
