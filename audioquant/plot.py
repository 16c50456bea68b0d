"""Plots for ``audioquant shapers --plot``: noise transfer functions against the weightings.

matplotlib is an optional extra (``pip install 'audioquant[plot]'``), imported only here
and only when a plot is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from audioquant.errors import AudioFileError, AudioquantError


class MissingExtraError(AudioquantError, ImportError):
    """An optional dependency is not installed; the message says how to get it."""


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
    try:
        import matplotlib
    except ImportError:
        raise MissingExtraError("--plot needs matplotlib: pip install 'audioquant[plot]' "
                                "(or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
        try:
            fig.savefig(os.fspath(path))
        except (OSError, ValueError) as exc:   # no such folder, unknown image format
            raise AudioFileError(f"cannot write plot {os.fspath(path)}: {exc}") from None
    finally:
        plt.close(fig)
