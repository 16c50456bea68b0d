"""Package boundaries: midi stands alone; the CLI does not load mido until a midi command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from audioquant import midi
from tests.midi.helpers import SAMPLE, run_python

# Importing a subpackage runs audioquant/__init__.py, which loads only audioquant.errors.
# (and audioquant.numba_setup, the numba set-up both kernel packages share: stdlib only)
PARENT = "('audioquant', 'audioquant.errors', 'audioquant.numba_setup')"


@pytest.mark.parametrize(("package", "other"), [("midi", "dsp"), ("dsp", "midi")])
def test_midi_and_dsp_import_neither_each_other_nor_the_rest(package, other):
    r = run_python(
        f"import sys, audioquant.{package}\n"
        f"from audioquant.{package} import *\n"
        f"bad = [m for m in sys.modules if m.startswith('audioquant') and m not in {PARENT}\n"
        f"       and not m.startswith('audioquant.{package}')]\n"
        "assert not bad, bad\n"
    )
    assert r.returncode == 0, r.stderr


def test_writing_midi_loads_only_the_standard_library_writer(tmp_path):
    """midi writes through audioquant.atomic, the one atomic writer: a leaf module of the
    standard library only, like audioquant.errors; nothing else of audioquant loads."""
    out = tmp_path / "out.mid"
    r = run_python(
        "import sys\n"
        "from audioquant import midi\n"
        f"midi.write(midi.read({str(SAMPLE)!r}), {str(out)!r})\n"
        "allowed = ('audioquant', 'audioquant.errors', 'audioquant.atomic',\n"
        "           'audioquant.numba_setup')\n"
        "bad = [m for m in sys.modules if m.startswith('audioquant') and m not in allowed\n"
        "       and not m.startswith('audioquant.midi')]\n"
        "assert not bad, bad\n"
    )
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:4] == b"MThd"


def test_own_midi_and_dsp_folders_in_the_working_directory_shadow_nothing(tmp_path):
    for name in ("midi", "dsp"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the user folder')\n")
    r = subprocess.run([sys.executable, "-m", "audioquant", "midi", "stats", str(SAMPLE)],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0 and "568 notes" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-c", "from audioquant import Requantize, midi, dsp;"
                        "print(Requantize(16), midi.Grid, dsp.import_numba)"],
                       capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_building_the_cli_parser_does_not_load_mido():
    r = run_python(
        "import sys\n"
        "from audioquant import midi_cli\n"
        "import argparse\n"
        "p = argparse.ArgumentParser()\n"
        "midi_cli.add_commands(p.add_subparsers())\n"
        "bad = [m for m in sys.modules if m.startswith(('mido', 'numpy', 'audioquant.midi.'))\n"
        "       or m in ('audioquant.midi',)]\n"
        "assert not bad, bad\n"
    )
    assert r.returncode == 0, r.stderr


def test_public_surface():
    assert midi.__all__ == sorted(midi.__all__)
    assert all(hasattr(midi, name) for name in midi.__all__)
    assert "quantize_file" in midi.__doc__ and "Cheat-sheet" in midi.__doc__
    assert issubclass(midi.MidiParameterError, ValueError)
    assert issubclass(midi.MidiFileError, OSError)
    assert issubclass(midi.MidiParameterError, midi.MidiError)
    assert issubclass(midi.MidiFileError, midi.MidiError)


def test_sample_is_made_by_its_committed_script(tmp_path, sample_path):
    out = tmp_path / "again.mid"
    r = subprocess.run(
        [sys.executable, str(sample_path.with_name("make_midi.py")), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == sample_path.read_bytes()
    assert len(out.read_bytes()) < 8192  # small enough to ship
