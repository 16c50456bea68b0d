"""Plots: ``audioquant shapers --plot`` (noise transfer functions against the weightings),
``audioquant analyze --plot`` and ``audioquant render --plot`` (spectra, the error
spectrum, and the weighting curves).

matplotlib is an optional extra (``pip install 'audioquant[plot]'``), imported only here
and only when a plot is asked for; :func:`require_matplotlib` says so in one line before
any work starts. Images are written atomically (:class:`audioquant.atomic.OutputFile`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from audioquant.errors import AudioFileError, AudioquantError


class MissingExtraError(AudioquantError, ImportError):
    """An optional dependency is not installed; the message says how to get it."""


#: Image formats a plot may be written as (by the output's extension).
IMAGE_FORMATS = ("png", "svg", "pdf")


def _import_matplotlib():
    """matplotlib, or MissingExtraError saying how to get it."""
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError("--plot needs matplotlib: pip install 'audioquant[plot]' "
                                "(or pip install matplotlib)") from None
    return matplotlib


def _image_format(name: str) -> str:
    """The image format ``name``'s extension names (none: png); AudioFileError otherwise."""
    ext = os.path.splitext(name)[1].lower().lstrip(".") or "png"
    if ext not in IMAGE_FORMATS:
        raise AudioFileError(f"cannot write plot {name}: .{ext} is not an image format "
                             f"this draws ({', '.join('.' + f for f in IMAGE_FORMATS)})")
    return ext


def _plot_error(exc: AudioFileError) -> AudioFileError:
    """The atomic writer's "cannot write X: ..." said of the plot."""
    return AudioFileError(str(exc).replace("cannot write ", "cannot write plot ", 1))


def require_matplotlib(path: str | os.PathLike) -> str:
    """Check, before any work, that a plot can be drawn into ``path``: matplotlib is
    installed (MissingExtraError otherwise), the extension names an image format (png,
    svg or pdf; none: png) and the folder exists (AudioFileError otherwise). Returns the
    format."""
    from audioquant.atomic import output_target

    _import_matplotlib()
    name = os.fspath(path)
    fmt = _image_format(name)
    try:
        output_target(name)     # a folder, or a missing folder: one clear error now
    except AudioFileError as exc:
        raise _plot_error(exc) from None
    return fmt


def _pyplot():
    matplotlib = _import_matplotlib()
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> None:
    """Write ``fig`` to ``path`` atomically, in the format its extension names."""
    from audioquant.atomic import OutputFile

    name = os.fspath(path)
    fmt = _image_format(name)
    try:
        with OutputFile(name) as out:
            fig.savefig(out.file, format=fmt)
    except AudioFileError as exc:          # a folder, a missing folder
        raise _plot_error(exc) from None
    except OSError as exc:                  # a full disk
        raise AudioFileError(f"cannot write plot {name}: {exc.strerror or exc}") from None


def plot_ntf(path: str | os.PathLike, sample_rate: int, shapers: Sequence) -> None:
    """Draw ``|H(f)|^2`` (dB) of ``shapers`` at ``sample_rate`` Hz into an image file.

    The ITU-R 468 weighting and the threshold-in-quiet weighting (as power gains, 0 dB at
    1 kHz, see :mod:`dsp.design`) are drawn dashed on the same dB axis: a good shaper is
    low where they are high. Designed filters are drawn thick, catalog filters thin.

    Parameters
    ----------
    path : str or os.PathLike
        Output image; the format follows the extension (``.png``, ``.svg``, ``.pdf``).
    sample_rate : int
        Stream rate, Hz; the axis runs from 10 Hz to the Nyquist frequency.
    shapers : sequence of dsp.shaping.Shaper
        The filters to draw.
    """
    plt = _pyplot()
    from audioquant.dsp import design

    nyquist = sample_rate / 2
    freqs = np.geomspace(10.0, nyquist, 2000)
    fig, ax = plt.subplots(figsize=(10, 6), dpi=100)
    try:
        light = plt.get_cmap("tab20")
        strong = iter(["#b30000", "#00308f", "#007a3d", "#6a00a8"] * len(shapers))
        for i, shaper in enumerate(shapers):
            ours = shaper.name.startswith(design.PREFIX)
            gain = design.weighted_gain_db(shaper, sample_rate)
            ax.semilogx(freqs, 10 * np.log10(shaper.ntf_power(freqs, sample_rate)),
                        lw=2.4 if ours else 1.0, zorder=3 if ours else 2,
                        color=next(strong) if ours else light((2 * i + 1) % 20),
                        label=f"{shaper.name} ({shaper.taps} taps): 468 {gain:+.1f} dB")
        for name, curve, style in (("ITU-R 468 weighting", design.itu468_power, "k--"),
                                   ("threshold-in-quiet weighting", design.ath_power, "k:")):
            ax.semilogx(freqs, 10 * np.log10(np.maximum(curve(freqs), 1e-30)), style, lw=1.4,
                        label=name)
        top = min(design.BAND_HZ[1], nyquist)
        ax.axvspan(design.BAND_HZ[0], top, color="0.93", zorder=0)
        ax.set_xlim(10.0, nyquist)
        ax.set_ylim(-80, 30)
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("dB  (|H(f)|^2 re flat dither; weightings re 1 kHz)")
        ax.set_title(f"Noise transfer functions at {sample_rate} Hz "
                     f"(shaded: design band {design.BAND_HZ[0]:g} Hz-{top:g} Hz)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right", ncol=1)
        fig.tight_layout()
        _save(fig, path)
    finally:
        plt.close(fig)


@dataclass(frozen=True)
class Curve:
    """One spectrum to draw: ``freqs`` (Hz) and ``power`` (mean square per bin, full
    scale 1.0: the bins sum to the signal's mean square), and its legend label."""

    label: str
    freqs: np.ndarray
    power: np.ndarray


def plot_spectra(path: str | os.PathLike, curves: Sequence[Curve], title: str) -> None:
    """Draw ``curves`` (dB re a full-scale sine, per bin) into an image file, with the
    A and ITU-R 468 weightings (dB re 1 kHz, right axis) dashed, so that noise pushed
    out of the ear's sensitive band by a shaper shows against them.

    Levels are per Welch bin, so a flat noise reads lower than its total by
    ``10 log10(bins)``; the title names the bin width. ``path``: ``.png``, ``.svg`` or
    ``.pdf``.
    """
    plt = _pyplot()
    from audioquant.analysis import FULL_SCALE_SINE_POWER, weighting_function

    fig, ax = plt.subplots(figsize=(10, 6), dpi=100)
    try:
        colours = iter(["#00308f", "#b30000", "#007a3d", "#6a00a8"] * len(curves))
        top = 10.0
        for curve in curves:
            f = np.asarray(curve.freqs)[1:]       # no DC bin on a log axis
            db = 10 * np.log10(np.maximum(np.asarray(curve.power)[1:], 1e-30)
                               / FULL_SCALE_SINE_POWER)
            ax.semilogx(f, db, lw=0.8, color=next(colours), label=curve.label)
            top = max(top, float(f[-1]))
        ax.set_xlim(10.0, top)
        ax.set_ylim(bottom=max(ax.get_ylim()[0], -200.0))
        ax.set_xlabel("frequency (Hz)")
        ax.set_ylabel("level per bin (dB re full-scale sine)")
        width = float(curves[0].freqs[1] - curves[0].freqs[0]) if curves else 0.0
        ax.set_title(f"{title}\n(Hann-window Welch spectrum, {width:.3g} Hz bins)",
                     fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        right = ax.twinx()
        freqs = np.geomspace(10.0, top, 1000)
        for name, key, style in (("A weighting", "A", "k--"),
                                 ("ITU-R 468 weighting", "468", "k:")):
            gain = np.maximum(weighting_function(key)(freqs), 1e-30)
            right.semilogx(freqs, 10 * np.log10(gain), style, lw=1.2, label=name)
        right.set_ylim(-60, 20)
        right.set_ylabel("weighting (dB re 1 kHz)")
        lines = ax.get_legend_handles_labels()
        more = right.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="lower left")
        fig.tight_layout()
        _save(fig, path)
    finally:
        plt.close(fig)
