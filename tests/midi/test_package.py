"""Package boundaries: midi stands alone; the CLI does not load mido until a midi command."""

from __future__ import annotations

import subprocess
import sys

import midi


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_midi_imports_neither_audioquant_nor_dsp():
    r = run_python(
        "import sys, midi\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('audioquant', 'dsp')]\n"
        "assert not bad, bad\n"
    )
    assert r.returncode == 0, r.stderr


def test_building_the_cli_parser_does_not_load_mido():
    r = run_python(
        "import sys\n"
        "from audioquant import midi_cli\n"
        "import argparse\n"
        "p = argparse.ArgumentParser()\n"
        "midi_cli.add_commands(p.add_subparsers())\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('mido', 'midi', 'numpy')]\n"
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
