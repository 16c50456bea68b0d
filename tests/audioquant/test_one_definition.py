"""Things that once existed twice now have one definition: checked against independent
references (adaptive quadrature, the file system, the package metadata), not against
each other's output alone."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

from audioquant import analysis, io
from audioquant.dsp import design, shaping
from audioquant.errors import AudioFileError, AudioquantError, ParameterError
from audioquant.processors import weighted_noise_gain_db

ROOT = Path(__file__).resolve().parents[2]


# -- a shaper's weighted noise gain ----------------------------------------------------


def quad_gain_db(shaper, rate: int, weight) -> float:
    """10 log10( int W |H|^2 / int W ) over 20 Hz..min(20 kHz, fs/2) by adaptive Gauss-
    Kronrod quadrature (scipy), on 64 pieces so that no piece holds more than a few
    oscillations of |H|^2: an integration independent of the grid rule under test."""
    edges = np.linspace(20.0, min(20000.0, rate / 2), 65)

    def integral(fn) -> float:
        return sum(integrate.quad(fn, lo, hi, epsabs=0.0, epsrel=1e-12, limit=200)[0]
                   for lo, hi in zip(edges[:-1], edges[1:], strict=True))

    shaped = integral(lambda f: float(weight(f) * shaper.ntf_power(np.array([f]), rate)[0]))
    return 10 * np.log10(shaped / integral(lambda f: float(weight(f))))


CASES = [(44100, s.name) for s in shaping.available(44100)] + [
    (48000, "shibata"), (96000, "highpass"), (8000, "highpass")]
DESIGNED = [44100, 96000, 192000, 8000]


def shapers():
    for rate, name in CASES:
        yield rate, shaping.find(name, rate)
    for rate in DESIGNED:
        yield rate, design.design(rate)


@pytest.mark.parametrize(("rate", "shaper"), list(shapers()),
                         ids=lambda v: getattr(v, "name", str(v)))
def test_weighted_noise_gain_matches_adaptive_quadrature(rate, shaper):
    reference = quad_gain_db(shaper, rate, design.itu468_power)
    # Simpson's rule on 8192 steps: error ~ step**4 * (a few derivatives of smooth
    # curves), far below 1e-6 dB; the rectangle sums it replaced were off by ~1e-3 dB.
    assert design.weighted_gain_db(shaper, rate) == pytest.approx(reference, abs=1e-6)
    # Every caller gets that same number (the same rule, not a second one).
    assert weighted_noise_gain_db(shaper, rate) == design.weighted_gain_db(shaper, rate)
    band = np.array([20.0, min(20000.0, rate / 2)])
    assert analysis.weighted_gain_db(lambda f: shaper.ntf_power(f, rate), band, "468") \
        == design.weighted_gain_db(shaper, rate)
    # Sampled values: trapezoid on the given grid (~0.5 Hz here), error ~ step**2.
    fine = np.linspace(20.0, band[1], 40001)
    assert analysis.weighted_gain_db(shaper.ntf_power(fine, rate), fine, "468") \
        == pytest.approx(reference, abs=1e-4)


@pytest.mark.parametrize(("weighting", "weight"), [
    ("A", analysis.a_weighting), ("ath", design.ath_power)])
def test_other_weightings_match_adaptive_quadrature(weighting, weight):
    for rate, shaper in [(44100, shaping.find("lipshitz", 44100)), (96000, design.design(96000))]:
        reference = quad_gain_db(shaper, rate, weight)
        assert weighted_noise_gain_db(shaper, rate, weighting) == pytest.approx(reference,
                                                                                abs=1e-6)


def test_flat_shaper_gains_nothing():
    # |H|^2 = 1: 0 dB exactly, whatever the weighting (the two integrals are one).
    flat = shaping.Shaper("flat", (), np.zeros(0), np.zeros(0), "test")
    for weighting in ("468", "ath", "A", None):
        assert weighted_noise_gain_db(flat, 44100, weighting) == pytest.approx(0.0, abs=1e-12)


def test_unknown_weighting_names_itself():
    with pytest.raises(ParameterError, match="weighting"):
        weighted_noise_gain_db(design.design(44100), 44100, "B")


def test_only_one_module_integrates_a_shaper():
    # processors, analysis and plot hand the integral to dsp.design: none of them sums an
    # ntf_power over a grid of its own.
    for name in ("processors.py", "plot.py"):
        source = (ROOT / "audioquant" / name).read_text()
        assert not re.search(r"np\.sum\([^)]*ntf", source), name


# -- the parallel threshold -------------------------------------------------------------


def test_parallel_threshold_is_defined_once():
    found = []
    for path in [*(ROOT / "audioquant").rglob("*.py"), *(ROOT / "dsp").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, ast.AnnAssign) else [])
            found += [f"{path.name}:{t.id}" for t in targets
                      if isinstance(t, ast.Name) and "PARALLEL" in t.id]
    assert found == ["threads.py:PARALLEL_SAMPLES"]


# -- the atomic writer -------------------------------------------------------------------


def test_only_the_atomic_module_renames_outputs_into_place():
    """One atomic writer (audioquant/atomic.py): no other module of the package makes a
    temporary output or renames one over a target (MIDI files go through it too)."""
    found = []
    for path in [*(ROOT / "audioquant").rglob("*.py"), *(ROOT / "dsp").rglob("*.py"),
                 *(ROOT / "midi").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("replace", "rename",
                                                                  "mkstemp"):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("os", "tempfile"):
                    found.append(f"{path.name}:{owner.id}.{node.attr}")
    assert found and {f.split(":")[0] for f in found} == {"atomic.py"}, found


# -- the version string -----------------------------------------------------------------


def test_version_is_pyprojects():
    import importlib.metadata

    import audioquant

    text = (ROOT / "pyproject.toml").read_text()
    declared = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE).group(1)
    assert audioquant.__version__ == importlib.metadata.version("audioquant") == declared
    # written nowhere else
    assert declared not in (ROOT / "audioquant" / "__init__.py").read_text()


def test_version_costs_nothing_until_asked():
    r = subprocess.run([sys.executable, "-c", "import sys, audioquant\n"
                        "assert 'importlib.metadata' not in sys.modules\n"
                        "print(audioquant.__version__)"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() and r.stdout.strip() != "0+unknown"


# -- MIDI errors are AudioquantErrors ---------------------------------------------------


def test_midi_errors_are_audioquant_errors():
    from audioquant import midi

    for cls in (midi.MidiError, midi.MidiFileError, midi.MidiParameterError):
        assert issubclass(cls, AudioquantError)
    assert issubclass(midi.MidiFileError, OSError)          # old clauses keep working
    assert issubclass(midi.MidiParameterError, ValueError)


def test_plain_except_catches_a_bad_midi_file(tmp_path):
    # `except` matches on the real class hierarchy (no ABC registration would do).
    from audioquant import midi

    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"RIFF this is no MIDI file")
    with pytest.raises(AudioquantError, match="bad.mid"):
        midi.read(bad)
    caught = None
    try:
        midi.quantize_file(bad, tmp_path / "out.mid", grid="1/16")
    except AudioquantError as exc:
        caught = exc
    assert isinstance(caught, midi.MidiFileError)
    assert not (tmp_path / "out.mid").exists()


def test_midi_errors_join_in_a_fresh_interpreter_whatever_is_imported_first():
    for first in ("audioquant.midi.errors", "audioquant.midi", "audioquant.midi.notes"):
        r = subprocess.run(
            [sys.executable, "-c", f"import {first}\n"
             "from audioquant.midi.errors import MidiFileError\n"
             "from audioquant.errors import AudioquantError\n"
             "try:\n"
             "    raise MidiFileError('x')\n"
             "except AudioquantError:\n"
             "    print('caught')\n"],
            capture_output=True, text=True, timeout=120)
        assert r.stdout.strip() == "caught", (first, r.stderr)


def test_audio_file_errors_stay_apart_from_midi_ones():
    from audioquant import midi

    assert not issubclass(midi.MidiFileError, AudioFileError)
    assert not issubclass(AudioFileError, midi.MidiError)


# -- the same-file check ----------------------------------------------------------------


def same_by_stat(a, b) -> bool | None:
    """The file system's answer for two existing paths (device and inode), else None."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return None
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def test_same_file_checks_agree_with_the_file_system(tmp_path, monkeypatch):
    from audioquant.midi.files import _same_file

    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.mid").write_bytes(b"x")
    (tmp_path / "b.mid").write_bytes(b"x")
    os.link(tmp_path / "a.mid", tmp_path / "hard.mid")
    os.symlink(tmp_path / "a.mid", tmp_path / "soft.mid")
    os.symlink(tmp_path / "sub", tmp_path / "subl")
    os.symlink(tmp_path / "sub" / "later.mid", tmp_path / "dangling.mid")
    cases = {
        ("dangling.mid", "sub/later.mid"): True,   # a link to a file still to be made
        ("a.mid", "dangling.mid"): False,
        ("a.mid", "a.mid"): True,
        ("a.mid", "./sub/../a.mid"): True,
        ("a.mid", str(tmp_path / "a.mid")): True,
        ("a.mid", "hard.mid"): True,
        ("a.mid", "soft.mid"): True,
        ("a.mid", "b.mid"): False,
        ("a.mid", "new.mid"): False,
        ("sub/new.mid", "subl/new.mid"): True,   # neither exists: one path through a link
        ("sub/new.mid", "sub/other.mid"): False,
    }
    for (a, b), expected in cases.items():
        by_stat = same_by_stat(a, b)
        assert by_stat is None or by_stat == expected, (a, b)
        assert io.same_file(a, b) is expected, (a, b)
        assert _same_file(a, b) is expected, (a, b)
    assert not io.same_file("-", "-")                       # standard streams, never files
