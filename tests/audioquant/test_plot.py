"""``analyze --plot`` and ``render --plot``: spectra that show what a render did, checked
against an independent computation (plain numpy on the files) and the shaper's theory
(its noise transfer function), and refused cleanly where they cannot be drawn."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest
import soundfile as sf

from audioquant import testing
from audioquant.analysis_stream import stream_file
from audioquant.cli import main
from audioquant.engine import RenderSpectra, render
from audioquant.processors import best_shaper

FS = 48000


def png_size(path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (after checking the signature)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def assert_sensible_png(path) -> None:
    width, height = png_size(path)
    assert (width, height) == (1000, 600)           # figsize 10 x 6 in at 100 dpi
    assert 20_000 < path.stat().st_size < 2_000_000


@pytest.fixture
def music(tmp_path):
    """4 s of a -6 dBFS 997 Hz tone plus -30 dBFS noise, float, stereo, 48 kHz."""
    x = testing.sine(997, -6, seconds=4, sample_rate=FS, channels=2) + \
        testing.noise(-30, seconds=4, sample_rate=FS, channels=2, seed=1)
    path = tmp_path / "music.wav"
    sf.write(path, x.T, FS, subtype="FLOAT")
    return path


def read(path) -> np.ndarray:
    return sf.read(path, dtype="float64", always_2d=True)[0]


def test_analyze_plot_draws_a_png_and_the_error_spectrum_sums_to_the_error(tmp_path, music,
                                                                          capsys):
    cd = tmp_path / "cd.wav"
    render(music, cd, bits=8)
    png = tmp_path / "spectrum.png"
    assert main(["analyze", str(cd), "--reference", str(music), "--plot", str(png)]) == 0
    assert f"wrote plot {png}" in capsys.readouterr().out
    assert_sensible_png(png)
    spectra = stream_file(str(cd), str(music), error_spectrum=True).spectra()
    error = read(cd) - read(music)
    freqs, power = spectra["error"]
    # the bins of a Welch spectrum sum to the mean square (Hann: within a few % on noise)
    assert np.sum(power) == pytest.approx(np.mean(error**2), rel=0.03)
    assert np.sum(spectra["signal"][1]) == pytest.approx(np.mean(read(cd) ** 2), rel=0.03)
    assert freqs[-1] == FS / 2


def test_analyze_plot_keeps_json_clean(tmp_path, music, capsys):
    png = tmp_path / "a.svg"
    assert main(["analyze", str(music), "--json", "--plot", str(png)]) == 0
    assert json.loads(capsys.readouterr().out)["channels"] == 2   # only JSON on stdout
    assert png.read_bytes().lstrip().startswith((b"<?xml", b"<svg"))


def test_render_plot_error_spectrum_follows_the_noise_shaper(tmp_path, music, capsys):
    """The error of a shaped 16-bit render is TPDF noise coloured by the shaper's noise
    transfer function |H(f)|^2: the error spectrum's band levels follow it (theory), and
    their sum is the error measured on the files (plain numpy)."""
    out = tmp_path / "cd.wav"
    png = tmp_path / "render.png"
    assert main(["render", str(music), str(out), "--bits", "16", "--shaping", "auto",
                 "--plot", str(png)]) == 0
    assert f"wrote plot {png}" in capsys.readouterr().out
    assert_sensible_png(png)

    spectra = RenderSpectra()
    render(music, tmp_path / "again.wav", bits=16, shaping="auto", spectra=spectra)
    curves = spectra.curves()
    assert set(curves) == {"source", "output", "error"}
    freqs, power = curves["error"]
    error = read(out) - read(music)
    assert np.sum(power) == pytest.approx(np.mean(error**2), rel=0.03)
    shaper = best_shaper(FS)
    lsb = 2.0**-15
    flat = lsb**2 / 4 / (freqs.size - 1)            # TPDF requantizing noise per bin
    for lo, hi in ((500, 2000), (3000, 5000), (15000, 20000)):
        band = (freqs >= lo) & (freqs < hi)
        theory = np.mean(flat * shaper.ntf_power(freqs[band], FS))
        measured = np.mean(power[band])
        assert 10 * np.log10(measured / theory) == pytest.approx(0.0, abs=1.0), (lo, hi)


def test_render_plot_across_a_rate_change_draws_source_and_output_only(tmp_path, music):
    spectra = RenderSpectra()
    report = render(music, tmp_path / "out.wav", bits=16, rate=44100, spectra=spectra)
    curves = spectra.curves()
    assert set(curves) == {"source", "output"}       # no frame-for-frame error
    assert curves["source"][0][-1] == FS / 2 and curves["output"][0][-1] == 44100 / 2
    assert report.source_snr_db is None
    assert main(["render", str(music), str(tmp_path / "o.wav"), "--rate", "44100",
                 "--plot", str(tmp_path / "r.png")]) == 0
    assert_sensible_png(tmp_path / "r.png")


def test_without_matplotlib_plots_are_refused_before_any_work(tmp_path, music, capsys,
                                                              monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)            # not installed
    out = tmp_path / "out.wav"
    png = tmp_path / "p.png"
    assert main(["render", str(music), str(out), "--plot", str(png)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'audioquant[plot]'" in err
    assert "Traceback" not in err
    assert not out.exists() and not png.exists()                   # nothing rendered
    assert main(["analyze", str(music), "--plot", str(png)]) == 1
    captured = capsys.readouterr()
    assert "pip install 'audioquant[plot]'" in captured.err and captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["music.wav"]


@pytest.mark.parametrize(("plot", "fragment"), [
    ("spectrum.jpg", ".jpg is not an image format"),
    ("no/such/folder/x.png", "does not exist"),
])
def test_a_plot_that_cannot_be_written_is_one_error_before_the_render(tmp_path, music,
                                                                      capsys, plot,
                                                                      fragment):
    out = tmp_path / "out.wav"
    assert main(["render", str(music), str(out), "--plot", str(tmp_path / plot)]) == 1
    err = capsys.readouterr().err
    assert "cannot write plot" in err and fragment in err and err.count("\n") == 1
    assert not out.exists()


def test_plot_does_not_go_with_a_batch(tmp_path, music, capsys):
    assert main(["render", str(music), "--out-dir", str(tmp_path / "o"),
                 "--plot", str(tmp_path / "p.png")]) == 2
    assert "--plot draws one render" in capsys.readouterr().err
