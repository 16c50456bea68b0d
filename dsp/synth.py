"""The built-in polyphonic synth: a General MIDI performance into stereo audio, in numba.

:class:`Synth` is an :class:`~audioquant.dsp.instrument.Instrument`: the base class runs
the event loop (every event on its exact sample) and keeps the channel state; the synth
owns a fixed pool of voices held in arrays, and one kernel call (:func:`_render`) renders
every active voice of a span. Output is float64 ``(2, frames)``, full scale 1.0.

Waveforms (all start at phase 0 on the note-on sample, so a sine-like wave's first
sample is sin(0) = 0 and its first non-zero sample is the next one):

- ``sine``; ``triangle``, ``saw``, ``square``: additive, band-limited by construction.
  Every harmonic ``k f`` below Nyquist (``k f < rate / 2``), at most
  :data:`MAX_HARMONICS`, with the Fourier series weights (saw ``2/pi (-1)^(k+1)/k``,
  square ``4/pi 1/k`` odd k, triangle ``8/pi^2 (-1)^((k-1)/2)/k^2`` odd k), each
  ``sin(k x)`` from the Chebyshev recurrence of ``sin x`` and ``cos x``: no aliasing at
  all, whatever the pitch or bend. A note at or above Nyquist has no harmonic: silent.
- ``piano``: :data:`PARTIALS` inharmonic partials ``n f sqrt(1 + B n^2) / sqrt(1 + B)``
  (``B`` = :data:`INHARMONICITY`; the fundamental is exactly ``f``), amplitude
  ``b^(n-1) / n`` with brightness ``b = 0.25 + 0.5 velocity/127`` (louder is brighter),
  each decaying exponentially with its own 60 dB time ``T60_n = T60_1 / n``,
  ``T60_1 = 20 s x 2^(-(pitch - 21) / 18)`` (20 s at A0, 4.4 s at C4, 0.7 s at C8);
  the envelope's sustain is 1, so the key-up starts the 0.4 s release (the damper).
  Partials are damped resonators ``y[n+1] = 2 r cos(w) y[n] - r^2 y[n-1]`` (run two
  samples a step); partials at or above Nyquist are left out, and a group of four that
  has decayed below :data:`PARTIAL_FLOOR` is dropped.
- ``organ``: undamped sine partials 1, 2, 3, 4, 6, 8 x f (amplitudes 1, .5, .3, .2, .12,
  .08): an additive drawbar organ.
- ``drum`` (channel 10, wire channel 9, GM notes 35..81; other notes are silent): a sine
  whose frequency sweeps exponentially from a start to an end frequency (kick, toms,
  congas, blocks, bells) plus white noise through a one-pole high-pass (snares, claps,
  hats, cymbals, shakers), with an exponential decay; see :data:`DRUM_KITS`. The noise
  is a counter-based hash (:mod:`dsp.dither`'s splitmix64) of the note and the sample
  index since the note-on: the same for any block split. Drums are one-shots: note-offs
  and the pedal do not shorten them, and pitch bend does not move them.

Programs (0-based GM numbers) to waveforms and envelopes, by family (:data:`PROGRAMS`;
attack in s, decay as a T60 in s, sustain level, release T60 in s):

==========  ==========================  ========  ======  =====  =======  =======
programs    family                      wave      attack  decay  sustain  release
==========  ==========================  ========  ======  =====  =======  =======
0-7         piano                       piano     0.002   -      1        0.4
8-15        chromatic percussion        piano     0.002   -      1        0.8
16-23       organ                       organ     0.005   -      1        0.08
24-31       guitar                      saw       0.002   1.5    0        0.3
32-39       bass                        saw       0.002   1.2    0        0.2
40-47       strings                     saw       0.15    -      1        0.6
48-55       ensemble, choir (52-54:     saw       0.25    -      1        0.8
            triangle)
56-63       brass                       saw       0.04    1.0    0.7      0.3
64-71       reed                        square    0.03    -      1        0.2
72-79       pipe                        triangle  0.04    -      1        0.25
80-87       synth lead (81: saw)        square    0.005   -      1        0.2
88-95       synth pad                   saw       0.4     -      1        1.5
96-103      synth effects               triangle  0.3     -      1        1.5
104-111     ethnic (109-111: saw pad)   saw       0.002   1.5    0        0.3
112-119     percussive                  piano     0.002   -      1        0.5
120-127     sound effects               sine      0.01    -      1        0.5
==========  ==========================  ========  ======  =====  =======  =======

Envelope (per voice, ADSR): the attack is linear from 0 to 1 in ``attack`` seconds (its
first step is taken on the note-on sample, so the envelope is non-zero there); the decay
is exponential toward the sustain level, the distance falling 60 dB in ``decay``
seconds; the release is exponential, 60 dB in ``release`` seconds, from the level it
starts at. A voice ends at the first multiple of 64 samples (absolute) past its attack
where its level (envelope x partial amplitudes x velocity gain, before the channel's
volume and pan) is below :data:`SILENCE` (-90 dB): a pure function of the events, not
of the block size.

Level: each voice's amplitude is ``gain x (velocity/127)^2`` (``gain`` 0.2 by default:
headroom for chords; the GM velocity curve,
40 log10(v/127) dB) times the channel's ``state.gain`` (CC 7 and CC 11, GM law) times
its ``state.pan_gains`` (constant-power). Pitch bend scales every voice's frequency of
the channel by ``2^(bend_semitones/12)`` at the bend's sample (block/event resolution,
phase continuous). Gains and bend changes apply at the event's sample, without smoothing.

Voices: a fixed pool (``polyphony``, default 128). A note-on takes a free voice, else the
oldest released one, else the oldest. A note-on of a pitch that still sounds unreleased on
its channel (re-struck under the pedal) releases the old voice first. A stolen voice
stops at once.
"""

from __future__ import annotations

import math

import numpy as np

from . import import_numba
from .dither import channel_key, hash_at, uniform_hi
from .instrument import DRUM_CHANNEL, Instrument

numba = import_numba()

__all__ = ["DRUM_KITS", "PROGRAMS", "WAVES", "Synth"]

#: Waveform ids.
SINE, TRIANGLE, SAW, SQUARE, PIANO, ORGAN, DRUM = range(7)
WAVES = {"sine": SINE, "triangle": TRIANGLE, "saw": SAW, "square": SQUARE, "piano": PIANO,
         "organ": ORGAN, "drum": DRUM}

#: Most harmonics of an additive wave (the lowest notes stop there, at 64 f).
MAX_HARMONICS = 64
#: Partials of the piano and organ tones.
PARTIALS = 8
#: Piano string inharmonicity coefficient B.
INHARMONICITY = 0.0004
#: A voice below this level (full scale 1.0, before the channel gains) ends.
SILENCE = 10 ** (-90 / 20)
#: A partial below this level (with its voice's velocity gain) is dropped.
PARTIAL_FLOOR = SILENCE

# Envelope stages.
ATTACK, DECAY, RELEASE = 0, 1, 2

# Float state columns.
(F_PHASE, F_INC, F_ENV, F_ATTACK, F_DECAY, F_SUSTAIN, F_RELEASE, F_LEFT, F_RIGHT,
 F_SWEEP, F_SWEEP_COEF, F_TONE_END, F_TONE_SPAN, F_TONE, F_NOISE, F_LP, F_LP_COEF,
 F_FREQ, F_AMP, F_DIST) = range(20)
N_FLOAT = 20
# Integer state columns.
I_ACTIVE, I_WAVE, I_STAGE, I_AGE, I_HARM, I_CHANNEL, I_PITCH, I_ORDER = range(8)
N_INT = 8
# Partial columns.
# A partial is the resonator y[n+1] = c1 y[n] - c2 y[n-1], y[n] = Im z r^n e^{i w n}:
# its state ``cur`` = y[n] (the next output) and ``prev`` = y[n-1]; c1 = 2 r cos w,
# c2 = r^2; ``cos`` = cos w and ``rsin`` = 1 / sin w recover Re z (for the level and a
# retune); ``ratio`` to the fundamental, ``damp`` = r per sample. It runs two samples a
# step from each even age n (y[n+2] = d1 y[n] - d2 y[n-1], d1 = c1^2 - c2, d2 = c1 c2:
# half the dependency chain); ``next`` = y[n+1] holds the step's second value when a
# span ends between the two (odd age), so any split computes the same numbers.
P_CUR, P_PREV, P_C1, P_C2, P_COS, P_RSIN, P_RATIO, P_DAMP, P_D1, P_D2, P_NEXT = range(11)
N_PART = 11

_TWO_PI = 2.0 * math.pi


def _harmonic_weights() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = np.arange(MAX_HARMONICS + 1, dtype=np.float64)
    k[0] = 1.0
    saw = 2 / np.pi * np.where(np.arange(MAX_HARMONICS + 1) % 2 == 1, 1.0, -1.0) / k
    square = 4 / np.pi / k
    triangle = 8 / np.pi**2 * np.where(np.arange(MAX_HARMONICS + 1) % 4 == 1, 1.0, -1.0) / k**2
    saw[0] = square[0] = triangle[0] = 0.0
    return saw, square, triangle


#: Fourier weights by harmonic number (index k; odd k only for square and triangle).
SAW_WEIGHTS, SQUARE_WEIGHTS, TRIANGLE_WEIGHTS = _harmonic_weights()

_ORGAN_RATIOS = np.array([1, 2, 3, 4, 6, 8, 0, 0], dtype=np.float64)
_ORGAN_AMPS = np.array([1, 0.5, 0.3, 0.2, 0.12, 0.08, 0, 0], dtype=np.float64)


def _program_table() -> np.ndarray:
    """Rows per program: wave, attack [s], decay T60 [s], sustain, release T60 [s]."""
    family = [
        (PIANO, 0.002, 1.0, 1.0, 0.4), (PIANO, 0.002, 1.0, 1.0, 0.8),
        (ORGAN, 0.005, 1.0, 1.0, 0.08), (SAW, 0.002, 1.5, 0.0, 0.3),
        (SAW, 0.002, 1.2, 0.0, 0.2), (SAW, 0.15, 1.0, 1.0, 0.6),
        (SAW, 0.25, 1.0, 1.0, 0.8), (SAW, 0.04, 1.0, 0.7, 0.3),
        (SQUARE, 0.03, 1.0, 1.0, 0.2), (TRIANGLE, 0.04, 1.0, 1.0, 0.25),
        (SQUARE, 0.005, 1.0, 1.0, 0.2), (SAW, 0.4, 1.0, 1.0, 1.5),
        (TRIANGLE, 0.3, 1.0, 1.0, 1.5), (SAW, 0.002, 1.5, 0.0, 0.3),
        (PIANO, 0.002, 1.0, 1.0, 0.5), (SINE, 0.01, 1.0, 1.0, 0.5),
    ]
    table = np.array([family[p // 8] for p in range(128)], dtype=np.float64)
    table[52:55, 0] = TRIANGLE            # choir aahs, voice oohs, synth voice
    table[81, 0] = SAW                    # sawtooth lead
    table[109:112] = family[11]           # bagpipe, fiddle, shanai: sustained saw
    return table


#: Per GM program: wave, attack [s], decay T60 [s], sustain level, release T60 [s].
PROGRAMS = _program_table()


def _drum_table() -> np.ndarray:
    """Rows per note: tone start [Hz], tone end [Hz], sweep time constant [s], tone
    amplitude, noise amplitude, noise high-pass cutoff [Hz], decay T60 [s]."""
    kick = (160.0, 45.0, 0.035, 1.0, 0.05, 2000.0, 0.45)
    snare = (220.0, 180.0, 0.05, 0.35, 0.7, 1200.0, 0.25)
    clap = (0.0, 0.0, 1.0, 0.0, 0.8, 1500.0, 0.2)
    hat_closed = (0.0, 0.0, 1.0, 0.0, 0.5, 7000.0, 0.08)
    hat_open = (0.0, 0.0, 1.0, 0.0, 0.5, 7000.0, 0.5)
    cymbal = (0.0, 0.0, 1.0, 0.0, 0.45, 5000.0, 1.6)
    shaker = (0.0, 0.0, 1.0, 0.0, 0.4, 6000.0, 0.12)
    bell = (2600.0, 2600.0, 1.0, 0.4, 0.0, 5000.0, 1.0)
    click = (1800.0, 1200.0, 0.004, 0.7, 0.1, 3000.0, 0.06)
    table = np.zeros((128, 7))
    table[35] = table[36] = kick
    table[37] = click                                          # side stick
    table[38] = table[40] = snare
    table[39] = clap
    table[42] = table[44] = hat_closed
    table[46] = hat_open
    for note in (49, 51, 52, 55, 57, 59):
        table[note] = cymbal
    table[53] = bell                                           # ride bell
    table[54] = table[69] = table[70] = shaker                 # tambourine, cabasa, maracas
    table[73] = table[74] = shaker                             # guiro
    table[56] = (800.0, 800.0, 1.0, 0.6, 0.05, 3000.0, 0.3)    # cowbell
    table[58] = (700.0, 500.0, 0.2, 0.5, 0.2, 2000.0, 0.8)     # vibraslap
    for i, note in enumerate((41, 43, 45, 47, 48, 50)):        # toms, low to high
        f = 80.0 * 2 ** (i / 3)
        table[note] = (2 * f, f, 0.06, 1.0, 0.05, 2000.0, 0.5)
    for note, f in ((60, 400.0), (61, 300.0), (62, 330.0), (63, 260.0), (64, 200.0),
                    (65, 280.0), (66, 220.0), (67, 600.0), (68, 450.0)):
        table[note] = (1.4 * f, f, 0.02, 0.9, 0.05, 2500.0, 0.25)   # bongos .. agogos
    table[71] = table[72] = (2400.0, 2300.0, 0.1, 0.5, 0.0, 3000.0, 0.4)   # whistles
    table[75] = click                                          # claves
    table[76] = table[77] = (1000.0, 800.0, 0.01, 0.8, 0.05, 3000.0, 0.08)  # wood blocks
    table[78] = table[79] = (600.0, 350.0, 0.08, 0.6, 0.0, 2000.0, 0.3)     # cuica
    table[80] = (5200.0, 5200.0, 1.0, 0.35, 0.0, 5000.0, 0.3)  # mute triangle
    table[81] = (5200.0, 5200.0, 1.0, 0.35, 0.0, 5000.0, 1.5)  # open triangle
    return table


#: Per GM drum note (35..81): tone start and end [Hz], sweep time constant [s], tone and
#: noise amplitudes, noise high-pass cutoff [Hz], decay T60 [s]; zero rows are silent.
DRUM_KITS = _drum_table()


# -- kernels ------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _t60_coef(seconds: float, rate: float) -> float:
    """The per-sample factor that falls 60 dB in ``seconds``."""
    return 10.0 ** (-3.0 / max(seconds * rate, 1.0))


@numba.njit(cache=True, nogil=True)
def _harmonics(freq: float, rate: float) -> int:
    """How many harmonics k >= 1 have k freq < rate / 2 (at most MAX_HARMONICS)."""
    if not freq > 0.0:
        return 0
    count = int(math.ceil(0.5 * rate / freq)) - 1
    return max(0, min(count, MAX_HARMONICS))


@numba.njit(cache=True, nogil=True)
def _real_part(pv, v, k):
    """Re z of partial ``k`` of voice ``v`` now (its phasor is z, y[n] = Im z)."""
    if pv[v, k, P_C2] == 0.0:
        return 0.0
    return (pv[v, k, P_CUR] * pv[v, k, P_COS] - pv[v, k, P_DAMP] * pv[v, k, P_PREV]) \
        * pv[v, k, P_RSIN]


@numba.njit(cache=True, nogil=True)
def _set_partial(pv, v, k, real, freq, rate):
    """Give partial ``k`` the frequency ``freq`` [Hz], keeping its phasor (Im z = cur,
    Re z = ``real``); at or past Nyquist it is gone (silent for good)."""
    r = pv[v, k, P_DAMP]
    if not (freq > 0.0 and freq < 0.5 * rate) or (real == 0.0 and pv[v, k, P_CUR] == 0.0):
        pv[v, k, P_CUR] = pv[v, k, P_PREV] = pv[v, k, P_NEXT] = 0.0
        pv[v, k, P_C1] = pv[v, k, P_C2] = pv[v, k, P_D1] = pv[v, k, P_D2] = 0.0
        return
    w = _TWO_PI * freq / rate
    cos_w, sin_w = math.cos(w), math.sin(w)
    pv[v, k, P_C1] = 2.0 * r * cos_w
    pv[v, k, P_C2] = r * r
    pv[v, k, P_COS] = cos_w
    pv[v, k, P_RSIN] = 1.0 / sin_w
    # y[n-1] = Im(z e^{-iw}) / r
    pv[v, k, P_PREV] = (pv[v, k, P_CUR] * cos_w - real * sin_w) / r
    c1, c2 = pv[v, k, P_C1], pv[v, k, P_C2]
    pv[v, k, P_D1] = c1 * c1 - c2
    pv[v, k, P_D2] = c1 * c2
    pv[v, k, P_NEXT] = c1 * pv[v, k, P_CUR] - c2 * pv[v, k, P_PREV]


@numba.njit(cache=True, nogil=True)
def _tune(fv, iv, pv, v, bend_factor, rate):
    """Set voice ``v``'s increments (and partials) for its frequency x bend."""
    freq = fv[v, F_FREQ] * bend_factor
    fv[v, F_INC] = freq / rate
    wave = iv[v, I_WAVE]
    iv[v, I_HARM] = _harmonics(freq, rate)
    if wave == PIANO or wave == ORGAN:
        for k in range(PARTIALS):
            _set_partial(pv, v, k, _real_part(pv, v, k), pv[v, k, P_RATIO] * freq, rate)


@numba.njit(cache=True, nogil=True)
def _note_on(fv, iv, pv, order, channel, pitch, velocity, params, drum, rate, amp, left, right,
             bend_factor):
    """Start a note in a voice (stealing if needed); returns the voice index."""
    n = fv.shape[0]
    # A re-struck pitch still sounding unreleased on the channel is released first.
    for v in range(n):
        if iv[v, I_ACTIVE] and iv[v, I_CHANNEL] == channel and iv[v, I_PITCH] == pitch \
                and iv[v, I_STAGE] != RELEASE and iv[v, I_WAVE] != DRUM:
            iv[v, I_STAGE] = RELEASE
    slot = -1
    for v in range(n):
        if not iv[v, I_ACTIVE]:
            slot = v
            break
    if slot < 0:
        best = -1
        for v in range(n):                       # the oldest released voice
            if iv[v, I_STAGE] == RELEASE and (best < 0 or iv[v, I_ORDER] < iv[best, I_ORDER]):
                best = v
        if best < 0:
            for v in range(n):                   # else the oldest
                if best < 0 or iv[v, I_ORDER] < iv[best, I_ORDER]:
                    best = v
        slot = best
    v = slot
    fv[v, :] = 0.0
    iv[v, :] = 0
    pv[v, :, :] = 0.0
    iv[v, I_ACTIVE] = 1
    iv[v, I_CHANNEL] = channel
    iv[v, I_PITCH] = pitch
    iv[v, I_ORDER] = order
    iv[v, I_STAGE] = ATTACK
    fv[v, F_AMP] = amp
    fv[v, F_LEFT] = amp * left
    fv[v, F_RIGHT] = amp * right
    if drum:
        iv[v, I_WAVE] = DRUM
        fv[v, F_ATTACK] = 1.0 / max(0.0005 * rate, 1.0)
        fv[v, F_DECAY] = _t60_coef(params[6], rate)
        fv[v, F_SUSTAIN] = 0.0
        fv[v, F_RELEASE] = fv[v, F_DECAY]
        nyq = 0.5 * rate
        start, end = params[0], params[1]
        if not start < nyq or not end < nyq:
            start = end = 0.0                    # a tone past Nyquist is left out
        fv[v, F_TONE_END] = end / rate
        fv[v, F_TONE_SPAN] = (start - end) / rate
        fv[v, F_SWEEP] = 1.0
        fv[v, F_SWEEP_COEF] = math.exp(-1.0 / max(params[2] * rate, 1.0))
        fv[v, F_TONE] = params[3] if start > 0.0 else 0.0
        fv[v, F_NOISE] = params[4]
        fv[v, F_LP_COEF] = 1.0 - math.exp(-_TWO_PI * min(params[5], 0.45 * rate) / rate)
        return v
    wave = int(params[0])
    iv[v, I_WAVE] = wave
    fv[v, F_ATTACK] = 1.0 / max(params[1] * rate, 1.0)
    fv[v, F_DECAY] = _t60_coef(params[2], rate)
    fv[v, F_SUSTAIN] = params[3]
    fv[v, F_RELEASE] = _t60_coef(params[4], rate)
    fv[v, F_FREQ] = 440.0 * 2.0 ** ((pitch - 69) / 12.0)
    if wave == PIANO:
        t60 = 20.0 * 2.0 ** (-(pitch - 21) / 18.0)
        bright = 0.25 + 0.5 * velocity / 127.0
        norm = math.sqrt(1.0 + INHARMONICITY)
        for k in range(PARTIALS):
            m = k + 1.0
            pv[v, k, P_RATIO] = m * math.sqrt(1.0 + INHARMONICITY * m * m) / norm
            pv[v, k, P_DAMP] = _t60_coef(t60 / m, rate)
            _set_partial(pv, v, k, bright**k / m, pv[v, k, P_RATIO] * fv[v, F_FREQ] * bend_factor,
                         rate)
    elif wave == ORGAN:
        for k in range(PARTIALS):
            pv[v, k, P_RATIO] = _ORGAN_RATIOS[k]
            pv[v, k, P_DAMP] = 1.0
            _set_partial(pv, v, k, _ORGAN_AMPS[k], pv[v, k, P_RATIO] * fv[v, F_FREQ] * bend_factor,
                         rate)
    freq = fv[v, F_FREQ] * bend_factor
    fv[v, F_INC] = freq / rate
    iv[v, I_HARM] = _harmonics(freq, rate)
    return v


@numba.njit(cache=True, nogil=True)
def _release(iv, channel, pitch):
    """Release every unreleased voice of ``pitch`` on ``channel`` (drums excepted)."""
    for v in range(iv.shape[0]):
        if iv[v, I_ACTIVE] and iv[v, I_CHANNEL] == channel and iv[v, I_PITCH] == pitch \
                and iv[v, I_WAVE] != DRUM:
            iv[v, I_STAGE] = RELEASE


@numba.njit(cache=True, nogil=True)
def _set_channel(fv, iv, pv, channel, left, right, bend_factor, retune, rate):
    """The channel's gains (and, when ``retune``, bend) changed: update its voices."""
    for v in range(fv.shape[0]):
        if iv[v, I_ACTIVE] and iv[v, I_CHANNEL] == channel:
            fv[v, F_LEFT] = fv[v, F_AMP] * left
            fv[v, F_RIGHT] = fv[v, F_AMP] * right
            if retune and iv[v, I_WAVE] != DRUM:
                _tune(fv, iv, pv, v, bend_factor, rate)


@numba.njit(cache=True, nogil=True)
def _additive(fv, iv, v, n, tmp):
    """An additive wave's next ``n`` samples into ``tmp`` (overwritten)."""
    wave = iv[v, I_WAVE]
    harm = iv[v, I_HARM]
    phase = fv[v, F_PHASE]
    inc = fv[v, F_INC]
    if harm == 0:
        tmp[:n] = 0.0
    elif wave == SINE:
        for j in range(n):
            tmp[j] = math.sin(_TWO_PI * phase)
            phase += inc
            if phase >= 1.0:
                phase -= 1.0
    elif wave == SAW:
        for j in range(n):
            x = _TWO_PI * phase
            s1 = math.sin(x)
            c2 = 2.0 * math.cos(x)
            acc = SAW_WEIGHTS[1] * s1
            prev, cur = 0.0, s1
            for k in range(2, harm + 1):
                prev, cur = cur, c2 * cur - prev
                acc += SAW_WEIGHTS[k] * cur
            tmp[j] = acc
            phase += inc
            if phase >= 1.0:
                phase -= 1.0
    else:
        weights = SQUARE_WEIGHTS if wave == SQUARE else TRIANGLE_WEIGHTS
        for j in range(n):
            x = _TWO_PI * phase
            s1 = math.sin(x)
            c2 = 2.0 * math.cos(2.0 * x)
            acc = weights[1] * s1
            prev, cur = -s1, s1
            for k in range(3, harm + 1, 2):
                prev, cur = cur, c2 * cur - prev
                acc += weights[k] * cur
            tmp[j] = acc
            phase += inc
            if phase >= 1.0:
                phase -= 1.0
    fv[v, F_PHASE] = phase


@numba.njit(cache=True, nogil=True, inline="always")
def _bound(pv, v, k, cur, prev):
    """|Im z| + |Re z| of partial ``k`` in the state (cur, prev): a bound of its level."""
    return abs(cur) + abs((cur * pv[v, k, P_COS] - pv[v, k, P_DAMP] * prev) * pv[v, k, P_RSIN])


@numba.njit(cache=True, nogil=True)
def _partials(fv, iv, pv, v, n, now, tmp, mag):
    """The partials' next ``n`` samples into ``tmp`` (overwritten); their summed level
    bounds at the absolute multiples of 64 into ``mag``. Four resonators at a time, two
    samples a step (see ``P_NEXT``); a group that has died away is dropped at such a
    multiple."""
    tmp[:n] = 0.0
    floor = PARTIAL_FLOOR / max(fv[v, F_AMP], 1e-300)
    odd = iv[v, I_AGE] & 1
    for g in range(0, PARTIALS, 4):
        q = pv[v, g:g + 4]
        if q[0, P_C2] == 0.0 and q[1, P_C2] == 0.0 and q[2, P_C2] == 0.0 \
                and q[3, P_C2] == 0.0:
            continue
        a, ap, an, a1, a2 = q[0, P_CUR], q[0, P_PREV], q[0, P_NEXT], q[0, P_D1], q[0, P_D2]
        b, bp, bn, b1, b2 = q[1, P_CUR], q[1, P_PREV], q[1, P_NEXT], q[1, P_D1], q[1, P_D2]
        c, cp, cn, c1, c2 = q[2, P_CUR], q[2, P_PREV], q[2, P_NEXT], q[2, P_D1], q[2, P_D2]
        d, dp, dn, d1, d2 = q[3, P_CUR], q[3, P_PREV], q[3, P_NEXT], q[3, P_D1], q[3, P_D2]
        ac, bc, cc, dc = q[0, P_C1], q[1, P_C1], q[2, P_C1], q[3, P_C1]
        ad, bd, cd, dd = q[0, P_C2], q[1, P_C2], q[2, P_C2], q[3, P_C2]
        dead = False
        j = 0
        while j < n:
            if ((now + j) & 63) == 0:
                m = ((_bound(pv, v, g, a, ap) + _bound(pv, v, g + 1, b, bp))
                     + (_bound(pv, v, g + 2, c, cp) + _bound(pv, v, g + 3, d, dp)))
                if m < floor:               # the group has died away: dropped from here
                    dead = True
                    break
                mag[j] += m
            tmp[j] += (a + b) + (c + d)
            if (j & 1) == odd:              # an even age: y[n+1] and y[n+2] from here
                a, ap, an = ac * a - ad * ap, a, a1 * a - a2 * ap
                b, bp, bn = bc * b - bd * bp, b, b1 * b - b2 * bp
                c, cp, cn = cc * c - cd * cp, c, c1 * c - c2 * cp
                d, dp, dn = dc * d - dd * dp, d, d1 * d - d2 * dp
            else:                           # the step's second sample: y[n+2] is next
                a, ap = an, a
                b, bp = bn, b
                c, cp = cn, c
                d, dp = dn, d
            j += 1
        if dead:
            for k in range(g, g + 4):
                pv[v, k, P_CUR] = pv[v, k, P_PREV] = pv[v, k, P_NEXT] = 0.0
                pv[v, k, P_C1] = pv[v, k, P_C2] = pv[v, k, P_D1] = pv[v, k, P_D2] = 0.0
            continue
        q[0, P_CUR], q[0, P_PREV], q[0, P_NEXT] = a, ap, an
        q[1, P_CUR], q[1, P_PREV], q[1, P_NEXT] = b, bp, bn
        q[2, P_CUR], q[2, P_PREV], q[2, P_NEXT] = c, cp, cn
        q[3, P_CUR], q[3, P_PREV], q[3, P_NEXT] = d, dp, dn


@numba.njit(cache=True, nogil=True)
def _drum(fv, iv, v, n, tmp):
    """A drum hit's next ``n`` samples into ``tmp``: swept sine plus high-passed noise."""
    key = channel_key(np.uint64(iv[v, I_PITCH]), DRUM_CHANNEL)
    age = iv[v, I_AGE]
    phase, sweep, lp = fv[v, F_PHASE], fv[v, F_SWEEP], fv[v, F_LP]
    end, span, coef = fv[v, F_TONE_END], fv[v, F_TONE_SPAN], fv[v, F_SWEEP_COEF]
    tone, noise, a = fv[v, F_TONE], fv[v, F_NOISE], fv[v, F_LP_COEF]
    for j in range(n):
        u = 2.0 * uniform_hi(hash_at(key, age + j)) - 1.0
        lp += a * (u - lp)
        tmp[j] = tone * math.sin(_TWO_PI * phase) + noise * (u - lp)
        phase += end + span * sweep
        if phase >= 1.0:
            phase -= 1.0
        sweep *= coef
    fv[v, F_PHASE], fv[v, F_SWEEP], fv[v, F_LP] = phase, sweep, lp


@numba.njit(cache=True, nogil=True)
def _envelope(fv, iv, v, n, now, mag, partials, envs):
    """Voice ``v``'s envelope for its next ``n`` samples into ``envs``; returns how many
    it sounds (fewer when it ends: then it is made inactive)."""
    stage = iv[v, I_STAGE]
    env, dist = fv[v, F_ENV], fv[v, F_DIST]
    step, decay, sustain, release = fv[v, F_ATTACK], fv[v, F_DECAY], fv[v, F_SUSTAIN], \
        fv[v, F_RELEASE]
    floor = SILENCE / max(fv[v, F_AMP], 1e-300)
    end = n
    if stage == DECAY and dist == 0.0:      # at the sustain level: only the end to find
        env = sustain
        for j in range((-now) & 63, n, 64):
            if (env * mag[j] if partials else env) < floor:
                end = j
                iv[v, I_ACTIVE] = 0
                break
        envs[:end] = env
    else:
        for j in range(n):
            if stage == ATTACK:
                env += step
                if env >= 1.0:
                    env = 1.0
                    dist = 1.0 - sustain
                    stage = DECAY
            elif stage == DECAY:
                dist *= decay               # the distance to the sustain level
                if abs(dist) < 1e-15:       # (reached: no subnormal numbers, ever)
                    dist = 0.0
                env = sustain + dist
            else:
                env *= release
            if ((now + j) & 63) == 0 and stage != ATTACK:
                if (env * mag[j] if partials else env) < floor:
                    end = j
                    iv[v, I_ACTIVE] = 0
                    break
            envs[j] = env
    fv[v, F_DIST] = dist
    iv[v, I_STAGE] = stage
    fv[v, F_ENV] = env
    return end


@numba.njit(cache=True, nogil=True)
def _render(fv, iv, pv, now, out_left, out_right):
    """Add every active voice's next ``n`` samples into ``out_left`` and ``out_right``
    (each n long), voice by voice in index order (a fixed order of additions: bit-exact
    for any split); ``now``: the absolute index of the first sample. Voices that fall
    silent end."""
    n = out_left.shape[0]
    tmp = np.empty(n)
    mag = np.zeros(n)
    envs = np.empty(n)
    for v in range(fv.shape[0]):
        if not iv[v, I_ACTIVE]:
            continue
        wave = iv[v, I_WAVE]
        partials = wave == PIANO or wave == ORGAN
        if partials:
            mag[:n] = 0.0
            _partials(fv, iv, pv, v, n, now, tmp, mag)
        elif wave == DRUM:
            _drum(fv, iv, v, n, tmp)
        else:
            _additive(fv, iv, v, n, tmp)
        end = _envelope(fv, iv, v, n, now, mag, partials, envs)
        left, right = fv[v, F_LEFT], fv[v, F_RIGHT]
        for j in range(end):                # (elementwise: vectorised, same values)
            y = envs[j] * tmp[j]
            out_left[j] += y * left
            out_right[j] += y * right
        iv[v, I_AGE] += n


# -- the instrument -----------------------------------------------------------------------

class Synth(Instrument):
    """The built-in General MIDI synth (see the module for waves, table and laws).

    Parameters
    ----------
    max_tail : float
        The longest release tail rendered after the last event [seconds].
    polyphony : int
        Voices in the pool (1..4096); a note-on past them steals one.
    gain : float
        The amplitude of one voice at velocity 127 and full channel volume [full scale 1.0].
    """

    def __init__(self, *, max_tail: float = 30.0, polyphony: int = 128,
                 gain: float = 0.2) -> None:
        super().__init__(max_tail=max_tail)
        if not (isinstance(polyphony, int | np.integer) and 1 <= polyphony <= 4096):
            raise ValueError(f"polyphony must be in 1..4096, got {polyphony!r}")
        if not (isinstance(gain, int | float) and 0 <= gain < math.inf):
            raise ValueError(f"gain must be a finite number >= 0, got {gain!r}")
        self.polyphony = int(polyphony)
        self.gain = float(gain)

    def prepare_voices(self, sample_rate: int) -> None:
        if not 1 <= sample_rate <= 10_000_000:
            raise ValueError(f"sample_rate must be in 1..10000000 Hz, got {sample_rate}")
        self._rate = float(sample_rate)
        self._f = np.zeros((self.polyphony, N_FLOAT))
        self._i = np.zeros((self.polyphony, N_INT), dtype=np.int64)
        self._p = np.zeros((self.polyphony, PARTIALS, N_PART))
        self._order = 0
        self._clock = 0                  # the absolute index of the next sample rendered
        self._controls = [self._channel_controls(c) for c in range(16)]

    def _channel_controls(self, channel: int) -> tuple[float, float, float]:
        state = self.channels_state[channel]
        left, right = state.pan_gains
        return state.gain * left, state.gain * right, 2.0 ** (state.bend_semitones / 12)

    def start_note(self, channel: int, pitch: int, velocity: int) -> None:
        left, right, bend = self._controls[channel]
        amp = self.gain * (velocity / 127) ** 2
        if channel == DRUM_CHANNEL:
            params = DRUM_KITS[pitch]
            if not params.any():
                return                               # not a GM drum note: silent
        else:
            params = PROGRAMS[self.channels_state[channel].program]
        self._order += 1
        _note_on(self._f, self._i, self._p, self._order, channel, pitch, velocity, params,
                 channel == DRUM_CHANNEL, self._rate, amp, left, right, bend)

    def release_note(self, channel: int, pitch: int) -> None:
        _release(self._i, channel, pitch)

    def stop_channel(self, channel: int) -> None:
        on = self._i[:, I_CHANNEL] == channel
        self._i[on, I_ACTIVE] = 0

    def controls_changed(self, channel: int) -> None:
        old = self._controls[channel]
        new = self._channel_controls(channel)
        if new == old:
            return
        self._controls[channel] = new
        _set_channel(self._f, self._i, self._p, channel, new[0], new[1], new[2],
                     new[2] != old[2], self._rate)

    def render_voices(self, out: np.ndarray) -> None:
        if out.shape[1]:
            _render(self._f, self._i, self._p, self._clock, out[0], out[1])
            self._clock += out.shape[1]

    def sounding(self) -> bool:
        return bool(self._i[:, I_ACTIVE].any())

    def active_notes(self) -> list[tuple[int, int]]:
        """The ``(channel, pitch)`` of every sounding voice, by start order (oldest first)."""
        on = np.flatnonzero(self._i[:, I_ACTIVE])
        on = on[np.argsort(self._i[on, I_ORDER], kind="stable")]
        return [(int(self._i[v, I_CHANNEL]), int(self._i[v, I_PITCH])) for v in on]
