"""The SoundFont sample player's kernel: every sounding voice of a span in one numba call.

A voice is one row of two state matrices (see :mod:`audioquant.dsp.soundfont`, which sets
them up from a preset's zones): ``vf`` float64 and ``vi`` int64, columns named by the
``F_*`` and ``I_*`` constants below. Per output sample a voice:

0. steps its modulation envelope ``F_MENV`` (0..1, linear segments: delay, attack, hold,
   decay to ``F_MSUS``, release; generators 25-30);
1. steps its volume envelope (SoundFont 2.04, section 8.1.2 generators 33-38): *delay*
   (silent, the sample does not advance), *attack* (linear in amplitude: the value after
   attack sample ``k`` of ``A`` is ``(k + 1) / A``, so the first sample already sounds),
   *hold* (full level), *decay* (a constant dB slope: the amplitude is multiplied by
   ``F_DK`` per sample down to the sustain level ``F_SUS``), *sustain*, *release*
   (multiplied by ``F_RK`` per sample). After the attack a voice ends once its envelope
   is below ``F_FLOOR``: at most :data:`SILENT` (-100 dB, the spec's "100 %
   attenuation" of 1000 cB), higher when the voice's gain makes it inaudible sooner;
2. reads the sample at its position ``I_POS + F_FRAC`` (frames of the font's sample data)
   by 4-point cubic (Catmull-Rom) interpolation, which gives the frame itself at
   fraction 0. While looping (mode 1, or mode 3 before the release) the frames past
   ``I_LE`` are those from ``I_LS`` on, so the loop is seamless; not looping, the frames
   past ``I_END`` are zero and the voice ends when its position passes ``I_END``;
3. filters it with a 2-pole low-pass (a biquad, transposed direct form II, coefficients
   ``F_B0 .. F_A2``, state ``F_Z1``, ``F_Z2``) when ``I_FILTER`` is set; the cutoff
   follows the modulation envelope (``F_MFC`` cents at its peak), recomputed every
   :data:`TICK` samples of the voice's life, and so does the pitch (``F_MPITCH`` cents);
4. adds it, times the envelope and the pan gains ``F_GL``, ``F_GR`` (which include the
   attenuation and the 1 / 32768 of 16-bit data), into ``left`` and ``right``;
5. advances by ``F_INC`` frames (the pitch ratio), in 32.32 fixed point (a frame index
   and 32 bits of fraction: one integer add per sample; the ratio is rounded to 2**-32,
   1e-7 cents).

Voices are summed in two fixed groups (even and odd rows, each in row order, then the
two sums added: :func:`render_voices`, which can run the groups in two threads), and
each step depends only on the voice's own state, so
the output is bit-identical however a stream is cut into spans. No ``fastmath``.
"""

from __future__ import annotations

import numpy as np

from . import import_numba

numba = import_numba()

__all__ = ["F_COLUMNS", "I_COLUMNS", "SILENT", "render_voices"]

#: Voices are rendered in this many fixed groups (row ``v`` in group ``v % GROUPS``).
GROUPS = 2

#: The fixed-point scale of a voice's position: 32 bits of fraction (fonts up to 2**31
#: frames).
ONE = 4294967296.0
INV_ONE = 1.0 / ONE

#: Below this envelope amplitude (-100 dB) a decaying or released voice ends.
SILENT = 1e-5

# Envelope stages (``vi[:, I_STAGE]``).
DELAY, ATTACK, HOLD, DECAY, SUSTAIN, RELEASE = 0, 1, 2, 3, 4, 5

# Float columns: the kernel's state, then values only the Python side reads.
(F_FRAC, F_INC, F_GL, F_GR, F_ENV, F_ASTEP, F_DK, F_SUS, F_RK, F_B0, F_B1, F_B2, F_A1, F_A2,
 F_Z1, F_Z2, F_MENV, F_MASTEP, F_MDSTEP, F_MSUS, F_MRSTEP, F_FC, F_MFC, F_Q, F_MPITCH, F_RATE,
 F_STEP, F_FLOOR, F_CMENV, F_PMENV, F_CENTS, F_RATIO, F_ATT, F_PAN, F_PEAK) = range(35)
F_COLUMNS = 35
# Int columns: the kernel's state, then bookkeeping for the Python side.
(I_ACTIVE, I_POS, I_START, I_END, I_LS, I_LE, I_MODE, I_STAGE, I_CNT, I_HOLD, I_FILTER,
 I_RELEASED, I_ATTACK, I_MSTAGE, I_MCNT, I_MATTACK, I_MHOLD, I_AGE, I_DIRTY,
 I_CHANNEL, I_KEY, I_SERIAL, I_NOTE, I_EXCLUSIVE) = range(24)
I_COLUMNS = 24

#: The modulation envelope's effect on the filter and the pitch is updated every this many
#: samples of a voice's own life (and at an event that changes the voice).
TICK = 64


@numba.njit(cache=True, nogil=True, inline="always")
def _lowpass(vf, v, menv):
    """The biquad of voice ``v`` at mod envelope ``menv``: cutoff [absolute cents] =
    ``F_FC + F_MFC * menv`` held to 1500..13500 and to 0.45 x the rate; Q ``F_Q``."""
    cents = min(max(vf[v, F_FC] + vf[v, F_MFC] * menv, 1500.0), 13500.0)
    rate = vf[v, F_RATE]
    fc = min(440.0 * 2.0 ** ((cents - 6900.0) / 1200.0), 0.45 * rate)
    w0 = 2.0 * np.pi * fc / rate
    alpha = np.sin(w0) / (2.0 * vf[v, F_Q])
    cw = np.cos(w0)
    a0 = 1.0 + alpha
    b0 = (1.0 - cw) / 2.0 / a0
    return b0, (1.0 - cw) / a0, b0, -2.0 * cw / a0, (1.0 - alpha) / a0


@numba.njit(cache=True, nogil=True, inline="always")
def _advance_mod(vf, vi, v, menv, mstage, mcnt, m):
    """The modulation envelope ``m`` samples on: (value, stage, samples left in stage)."""
    while m > 0:
        if mstage == DELAY:
            d = min(mcnt, m)
            mcnt -= d
            m -= d
            if mcnt <= 0:
                mstage = ATTACK
                mcnt = vi[v, I_MATTACK]
        elif mstage == ATTACK:
            d = min(mcnt, m)
            menv += d * vf[v, F_MASTEP]
            mcnt -= d
            m -= d
            if mcnt <= 0:
                menv = 1.0
                mstage = HOLD
                mcnt = vi[v, I_MHOLD]
        elif mstage == HOLD:
            d = min(mcnt, m)
            mcnt -= d
            m -= d
            if mcnt <= 0:
                mstage = DECAY
        elif mstage == DECAY:
            menv -= m * vf[v, F_MDSTEP]
            m = 0
            if menv <= vf[v, F_MSUS]:
                menv = vf[v, F_MSUS]
                mstage = SUSTAIN
        elif mstage == RELEASE:
            menv = max(menv - m * vf[v, F_MRSTEP], 0.0)
            m = 0
        else:
            m = 0
    return menv, mstage, mcnt


@numba.njit(cache=True, nogil=True)
def _render(left, right, data, vf, vi, group):
    n = left.shape[0]
    for v in range(group, vf.shape[0], GROUPS):
        if vi[v, I_ACTIVE] == 0:
            continue
        ph = (vi[v, I_POS] << 32) + np.int64(vf[v, F_FRAC] * ONE)    # 32.32 fixed point
        inc = vf[v, F_INC]
        gl = vf[v, F_GL]
        gr = vf[v, F_GR]
        env = vf[v, F_ENV]
        start = vi[v, I_START]
        end = vi[v, I_END]
        ls = vi[v, I_LS]
        le = vi[v, I_LE]
        mode = vi[v, I_MODE]
        stage = vi[v, I_STAGE]
        cnt = vi[v, I_CNT]
        released = vi[v, I_RELEASED]
        looping = mode == 1 or (mode == 3 and released == 0)
        span = le - ls
        filt = vi[v, I_FILTER] != 0
        b0 = vf[v, F_B0]
        b1 = vf[v, F_B1]
        b2 = vf[v, F_B2]
        a1 = vf[v, F_A1]
        a2 = vf[v, F_A2]
        z1 = vf[v, F_Z1]
        z2 = vf[v, F_Z2]
        astep = vf[v, F_ASTEP]
        dk = vf[v, F_DK]
        sus = vf[v, F_SUS]
        rk = vf[v, F_RK]
        floor = vf[v, F_FLOOR]
        menv = vf[v, F_MENV]
        mstage = vi[v, I_MSTAGE]
        mcnt = vi[v, I_MCNT]
        mpitch = vf[v, F_MPITCH]
        mfilter = vf[v, F_MFC] != 0.0
        age = vi[v, I_AGE]
        step = vf[v, F_STEP]
        cmenv = vf[v, F_CMENV]               # the mod envelope the filter was made for
        pmenv = vf[v, F_PMENV]               # and the one the step was
        if mpitch == 0.0:
            step = inc
        elif vi[v, I_DIRTY] != 0 and not np.isnan(pmenv):   # the bend changed here
            step = inc * 2.0 ** (mpitch * pmenv / 1200.0)
        vi[v, I_DIRTY] = 0
        dph = np.int64(step * ONE + 0.5)
        span_ph = span << 32
        alive = True
        t = 0
        while t < n and alive:
            phase = age % TICK
            if phase == 0:
                # Each tick: the mod envelope moves on by TICK samples; the filter and the
                # pitch take its mean over the tick (the midpoint of its two ends), and
                # are only remade when that changed (they are functions of it alone).
                nxt, mstage, mcnt = _advance_mod(vf, vi, v, menv, mstage, mcnt, TICK)
                mid = 0.5 * (menv + nxt)
                menv = nxt
                if mpitch != 0.0 and mid != pmenv:
                    step = inc * 2.0 ** (mpitch * mid / 1200.0)
                    dph = np.int64(step * ONE + 0.5)
                    pmenv = mid
                if filt and (mfilter or age == 0) and mid != cmenv:
                    b0, b1, b2, a1, a2 = _lowpass(vf, v, mid)
                    cmenv = mid
            m = min(n - t, TICK - phase)
            age += m
            first = t
            for t in range(first, first + m):
                # -- the envelope's value for this sample
                if stage == DELAY:
                    cnt -= 1
                    if cnt <= 0:
                        stage = ATTACK
                        cnt = vi[v, I_ATTACK]
                    continue
                elif stage == ATTACK:
                    if cnt > 0:
                        env += astep
                        cnt -= 1
                    if cnt <= 0:
                        env = 1.0
                        stage = HOLD
                        cnt = vi[v, I_HOLD]
                elif stage == HOLD:
                    cnt -= 1
                    if cnt <= 0:
                        stage = DECAY
                elif stage == DECAY:
                    env *= dk
                    if env <= sus:
                        env = sus
                        stage = SUSTAIN
                elif stage == RELEASE:
                    env *= rk
                if env < floor and stage >= DECAY:
                    alive = False
                    break
                # -- the sample at pos + frac: 4-point cubic interpolation
                i = ph >> 32
                frac = (ph & 0xFFFFFFFF) * INV_ONE
                p0 = float(data[i - 1]) if i - 1 >= start else float(data[start])
                p1 = float(data[i])
                if looping:
                    j = i + 1
                    if j >= le:
                        j -= span
                    p2 = float(data[j])
                    j = i + 2
                    while j >= le:
                        j -= span
                    p3 = float(data[j])
                else:
                    p2 = float(data[i + 1]) if i + 1 < end else 0.0
                    p3 = float(data[i + 2]) if i + 2 < end else 0.0
                y = p1 + 0.5 * frac * (p2 - p0 + frac * (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3
                                                         + frac * (3.0 * (p1 - p2) + p3 - p0)))
                if filt:
                    out = b0 * y + z1
                    z1 = b1 * y - a1 * out + z2
                    z2 = b2 * y - a2 * out
                    y = out
                y *= env
                left[t] += y * gl
                right[t] += y * gr
                # -- advance
                ph += dph
                if looping:
                    while (ph >> 32) >= le:
                        ph -= span_ph
                elif (ph >> 32) >= end:
                    alive = False
                    break
            t += 1
        vi[v, I_ACTIVE] = 1 if alive else 0
        vi[v, I_POS] = ph >> 32
        vi[v, I_STAGE] = stage
        vi[v, I_CNT] = cnt
        vf[v, F_FRAC] = (ph & 0xFFFFFFFF) * INV_ONE
        vf[v, F_ENV] = env
        vf[v, F_Z1] = z1
        vf[v, F_Z2] = z2
        vf[v, F_B0] = b0
        vf[v, F_B1] = b1
        vf[v, F_B2] = b2
        vf[v, F_A1] = a1
        vf[v, F_A2] = a2
        vf[v, F_MENV] = menv
        vf[v, F_STEP] = step
        vf[v, F_CMENV] = cmenv
        vf[v, F_PMENV] = pmenv
        vi[v, I_MSTAGE] = mstage
        vi[v, I_MCNT] = mcnt
        vi[v, I_AGE] = age


@numba.njit(cache=True, nogil=True)
def _mix(left, right, scratch, n):
    for t in range(n):
        left[t] += scratch[0, 0, t] + scratch[1, 0, t]
        right[t] += scratch[0, 1, t] + scratch[1, 1, t]


@numba.njit(cache=True, nogil=True)
def _render_group(data, vf, vi, scratch, group, n):
    scratch[group, :, :n] = 0.0
    _render(scratch[group, 0, :n], scratch[group, 1, :n], data, vf, vi, group)


@numba.njit(cache=True, nogil=True)
def _render_all(left, right, data, vf, vi, scratch):
    n = left.shape[0]
    for g in range(GROUPS):
        _render_group(data, vf, vi, scratch, g, n)
    _mix(left, right, scratch, n)


def render_voices(left: np.ndarray, right: np.ndarray, data: np.ndarray, vf: np.ndarray,
                  vi: np.ndarray, scratch: np.ndarray, pool=None) -> None:
    """Add the active voices' next ``left.size`` samples into ``left`` and ``right``
    (contiguous float64, full scale 1.0) and advance their state (see the module).
    ``data``: the font's 16-bit sample frames; ``vf`` (voices, :data:`F_COLUMNS`)
    float64 and ``vi`` (voices, :data:`I_COLUMNS`) int64 state, updated in place;
    ``scratch``: (:data:`GROUPS`, 2, at least ``left.size``) float64 work space.

    The voices are summed in :data:`GROUPS` fixed groups (row ``v`` in group ``v %
    GROUPS``), each in row order, and the groups' sums then added in order: the same
    numbers whether the groups run one after the other or in threads. ``pool``: None, or
    ``pool(work, parts)`` -> an executor or None (``audioquant.threads.pool``'s
    signature; ``work``: voice-samples), which runs the groups in parallel when it gives
    an executor (the kernels release the GIL; the groups touch different voices).
    """
    n = left.shape[0]
    executor = None
    if pool is not None:
        executor = pool(n * int(np.count_nonzero(vi[:, I_ACTIVE])), GROUPS)
    if executor is None:
        _render_all(left, right, data, vf, vi, scratch)
        return
    jobs = [executor.submit(_render_group, data, vf, vi, scratch, g, n)
            for g in range(1, GROUPS)]
    _render_group(data, vf, vi, scratch, 0, n)        # group 0 here, meanwhile
    for job in jobs:
        job.result()
    _mix(left, right, scratch, n)
