"""Beats and downbeats of a performance played without a click, found from its notes.

Cheat-sheet::

    from audioquant.midi import beats as mb

    found = mb.track(onsets_s, pitches, velocities, durations_s)    # -> Beats
    found.beats, found.downbeats      # seconds (float64, increasing; downbeats within beats)
    found.meter, found.time_signature # 4, "4/4" (beats per bar; the note value is 4 unless
                                      # given with meter="6/8")
    found.bpm                         # tempo at each beat (BPM, from it to the next beat)
    found.bar_bpm                     # tempo of each bar (BPM), from downbeat to downbeat
    found.confidence                  # 0..1: share of the beats that a played onset supports
    mb.track(..., meter="3/4")        # force the meter (beats per bar)
    mb.track(..., tempo_range=(60, 180))  # BPM range the beat may take
    mb.track(..., tempo_scale=2.0)    # twice as many beats (0.5: half as many)

The method, in three stages, each a small pure function:

1. **Onset salience.** Notes starting within ``chord_s`` (30 ms) of the first note of a group
   are one onset (a chord, with its asynchrony). Each onset gets 58 features (note count,
   velocities, bass against the piece and against its neighbours, durations, loudness
   against the onsets around, the times to the previous and next onsets, the same for the
   4 onsets either side: ``_onset_features``) and bidirectional GRUs over the sequence of
   onsets (48 units each way, then a linear layer) give two probabilities per onset: a
   beat, and a downbeat, within 50 ms of it. ``beats_weights.json`` holds an ensemble of
   such networks (8: the last 4 epochs of 2 training runs, 2.4 MB) whose
   probabilities are averaged; they were trained on the development part of ASAP by
   ``bench/train_beats.py`` (torch, for training only) with tempo, tempo-curve, loudness,
   timing and dropped-note augmentation. Inference is numpy matrix products and a numba
   loop over the onsets (``_gru_pass``). The beat probabilities, divided by their mean,
   are spread on a 50 Hz frame grid.
2. **Beats: dynamic programming over (time, period).** A beat at frame ``t`` reached with
   the interval ``p`` (frames) scores ``obs[t] - cost + prior(p)`` plus the best earlier
   beat at ``t - p`` whose own interval ``q`` is close to ``p`` (``|log p/q| <= max_step``),
   minus a Huber penalty ``smooth * log(p/q)**2`` (linear past ``knee``). The tempo may thus
   change smoothly (rubato, accelerando, ritardando) or, at a price, suddenly (a fermata),
   while the log-normal tempo ``prior`` (centred by a regression on the piece's onset
   statistics) and the per-beat ``cost`` choose the tempo octave (a beat at every onset is
   not free). One pass, ``O(frames x periods x step)`` in numba; then each beat moves to
   the most salient onset within ``snap_s``, and beats are added one interval at a time
   before the first and after the last while an onset is there (a weak pickup).
3. **Meter and downbeats: a bar-pointer HMM over the beats.** Each beat gets a downbeat
   log-odds from its features (bass, salience, long notes, harmonic change against the
   previous beat, a new bass pitch, the network's downbeat probability: a logistic model
   fitted by ``bench/bench_beats.py --fit``); a Viterbi pass over the position in the bar
   (m -> m + 1, or a jump with ``phase_jump``) for each candidate meter (2, 3, 4 beats per
   bar) gives the downbeats, and the meter whose best path scores highest, with its prior
   per 100 beats, wins; 2 beats per bar whose odd and even bars differ (``alternation``)
   are 4.

Deterministic: no random numbers; ties are broken by index.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from ._jit import njit
from .errors import MidiFileError, MidiParameterError

__all__ = ["Beats", "Settings", "track"]

#: Frames per second of the onset grid the beat decoder works on.
FPS = 50.0

#: Meters (beats per bar) considered when the meter is not given.
METERS = (2, 3, 4)


@dataclass(frozen=True)
class Settings:
    """Tuning of the tracker (defaults fitted on the development part of ASAP).

    Units: seconds unless named otherwise; ``prior_bpm`` in BPM; weights without unit.
    """

    chord_s: float = 0.03            # notes within this of a group's first note: one onset
    model: tuple | None = None       # onset networks (None: beats_weights.json)
    cost: float = 0.75               # per-beat cost, in units of the mean onset salience
    prior_bpm: float = 90.0          # centre of the log-normal tempo prior
    # the prior's centre: a regression on the onset statistics (see _tempo_centre); () for
    # prior_bpm
    prior_coef: tuple[float, ...] = (1.245, 0.556, -0.289, 0.542, -0.688)
    prior_width: float = 0.6         # its width (natural log of the tempo ratio)
    prior_weight: float = 0.1        # its weight per beat
    smooth: float = 20.0             # penalty per beat on log(p/q)**2 (tempo change)
    knee: float = 0.05               # the penalty grows linearly beyond this |log p/q|
    max_step: float = 0.4            # largest |log p/q| between consecutive intervals
    snap_s: float = 0.06             # beats move to the strongest onset within this
    # downbeat model: bias, salience, bass, duration, harmonic change, bass change, the
    # onset network's downbeat probability
    downbeat_w: tuple[float, ...] = (-0.749, 0.599, 0.165, -0.063, 0.193, -0.012, 0.739)
    downbeat_rate: float = 0.325     # share of downbeats among the beats the model saw (0:
    #                                  the prior rate of each meter, 1 in m)
    meter_prior: tuple[float, ...] = (-10.0, 0.0, 0.0)  # log prior per 100 beats of 2, 3, 4
    phase_jump: float = 0.1          # probability per beat of a jump in the bar position
    alternation: float = 0.3         # 2 beats per bar becomes 4 when the downbeats of odd
    #                                  and even bars differ by more (mean log-odds, nats)


DEFAULT = Settings()


@dataclass(frozen=True)
class Beats:
    """Beats and downbeats found in a performance.

    Attributes
    ----------
    beats : np.ndarray [shape=(n,), float64]
        Beat times in seconds, increasing.
    downbeats : np.ndarray [shape=(m,), float64]
        Downbeat (bar line) times in seconds, each one of ``beats``.
    meter : int
        Beats per bar.
    time_signature : str
        ``"N/D"``: ``N`` = ``meter``; ``D`` is the note value given with ``meter="N/D"``,
        else 4 (a quarter note per beat).
    bpm : np.ndarray [shape=(n,), float64]
        Tempo at each beat in BPM (60 / the interval to the next beat; the last beat
        repeats the one before). Empty with no beat; ``[0.]`` for a single beat.
    confidence : float
        0..1: the share of the beats within 70 ms of a played onset, times the share of
        the onsets within 70 ms of a beat or half-way between two (0 with no beat). A
        steady, well-played performance scores near 1; beats guessed through silence or
        through onsets that follow no pulse lower it.
    """

    beats: np.ndarray
    downbeats: np.ndarray
    meter: int
    time_signature: str
    bpm: np.ndarray
    confidence: float
    bar_bpm: np.ndarray = field(repr=False)


# ----------------------------------------------------------------------------------------
# validation at the edge


def _as_array(name: str, value: object, n: int | None) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise MidiParameterError(f"{name} must be an array of numbers, got {value!r}") from None
    if arr.ndim != 1:
        raise MidiParameterError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise MidiParameterError(f"{name} must have one value per onset ({n}), got {arr.shape[0]}")
    if not np.all(np.isfinite(arr)):
        raise MidiParameterError(f"{name} must be finite numbers")
    return arr


def _parse_meter(meter: object) -> tuple[int | None, int]:
    """``None`` -> (None, 4); ``3`` -> (3, 4); ``"6/8"`` -> (6, 8)."""
    if meter is None:
        return None, 4
    if isinstance(meter, str):
        parts = meter.strip().split("/")
        try:
            num = int(parts[0])
            den = int(parts[1]) if len(parts) == 2 else 4
        except (ValueError, IndexError):
            raise MidiParameterError(f"meter must be like '3/4' or a whole number, "
                                     f"got {meter!r}") from None
        if len(parts) > 2 or den not in (1, 2, 4, 8, 16, 32):
            raise MidiParameterError(f"meter must be like '3/4' (note value 1, 2, 4, 8, 16 "
                                     f"or 32), got {meter!r}")
    elif isinstance(meter, (int, np.integer)) and not isinstance(meter, bool):
        num, den = int(meter), 4
    else:
        raise MidiParameterError(f"meter must be like '3/4' or a whole number, got {meter!r}")
    if not 1 <= num <= 32:
        raise MidiParameterError(f"meter must have 1..32 beats per bar, got {num}")
    return num, den


def _check_range(tempo_range: object) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in tempo_range)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise MidiParameterError(f"tempo_range must be (min_bpm, max_bpm), "
                                 f"got {tempo_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and 10.0 <= low < high <= 600.0):
        raise MidiParameterError(f"tempo_range must be (min_bpm, max_bpm) with "
                                 f"10 <= min < max <= 600, got {tempo_range!r}")
    if high / low < 1.25:
        raise MidiParameterError(f"tempo_range must span at least a ratio of 1.25 "
                                 f"(max/min), got {tempo_range!r}")
    return low, high


# ----------------------------------------------------------------------------------------
# stage 1: onsets and their salience


def _group_onsets(onsets: np.ndarray, chord_s: float) -> np.ndarray:
    """Group index of each note (onsets sorted): a new group starts more than ``chord_s``
    seconds after the current group's first note."""
    return _group_kernel(onsets, chord_s)


@njit
def _group_kernel(onsets, chord_s):  # pragma: no cover - numba
    n = onsets.shape[0]
    group = np.empty(n, dtype=np.int64)
    g = -1
    first = -1e300
    for i in range(n):
        if onsets[i] - first > chord_s:
            g += 1
            first = onsets[i]
        group[i] = g
    return group


def _window_mean(times: np.ndarray, values: np.ndarray, half_s: float) -> np.ndarray:
    """Mean of ``values`` over the onsets within ``half_s`` seconds of each (sorted times)."""
    csum = np.concatenate(([0.0], np.cumsum(values)))
    lo = np.searchsorted(times, times - half_s, side="left")
    hi = np.searchsorted(times, times + half_s, side="right")
    return (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)


def _shift(x: np.ndarray, k: int, fill: float) -> np.ndarray:
    """``x[i + k]`` (``fill`` past the ends)."""
    out = np.full_like(x, fill)
    if k > 0:
        out[:-k] = x[k:]
    elif k < 0:
        out[-k:] = x[:k]
    else:
        out[:] = x
    return out


#: Onset feature columns used elsewhere (the bass and the duration of an onset).
BASS, DUR = 3, 6
#: Number of onset features (the input size of the onset model).
N_FEATURES = 58


def _onset_features(onsets: np.ndarray, pitches: np.ndarray, velocities: np.ndarray,
                    durations: np.ndarray, chord_s: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Onset groups of sorted notes: (time s, features [n, N_FEATURES], lowest pitch,
    the group of each note).

    Features (no unit, each about -1..1): note count (log), loudest and mean velocity
    (/127), bass against the piece (octaves below its median lowest pitch) and against the
    onsets within 1 s, whether the lowest pitch is the lowest of the 2 onsets either side,
    longest and mean duration (log s), loudness against the onsets within 0.5 s and 2 s
    (velocity / 32), time to the previous and next onset (log s) and their ratio, pitch
    span, top pitch against the onsets within 1 s, a new bass pitch, onset density within
    0.5 s, the longest duration against the time to the next onset, then the count,
    duration, loudness (0.5 s), local bass and time to the previous onset of the 4 onsets
    before and after.
    """
    group = _group_onsets(onsets, chord_s)
    n_groups = int(group[-1]) + 1
    count = np.bincount(group, minlength=n_groups).astype(np.float64)
    first = np.zeros(n_groups)
    first[group[::-1]] = onsets[::-1]          # first onset of each group
    vmax = np.zeros(n_groups)
    np.maximum.at(vmax, group, velocities)
    vmean = np.bincount(group, weights=velocities, minlength=n_groups) / count
    low = np.full(n_groups, 128.0)
    np.minimum.at(low, group, pitches)
    high = np.zeros(n_groups)
    np.maximum.at(high, group, pitches)
    dmax = np.zeros(n_groups)
    np.maximum.at(dmax, group, durations)
    dmean = np.bincount(group, weights=durations, minlength=n_groups) / count
    median_low = float(np.median(low))
    f = np.zeros((n_groups, N_FEATURES))
    c_count = np.log1p(count) / math.log(8.0)
    f[:, 0] = c_count
    f[:, 1] = vmax / 127.0
    f[:, 2] = vmean / 127.0
    f[:, BASS] = np.clip((median_low - low) / 12.0, -1.0, 1.0)
    f[:, 4] = np.clip((_window_mean(first, low, 1.0) - low) / 12.0, -1.0, 1.0)
    lowest = np.ones(n_groups, dtype=bool)
    for k in (-2, -1, 1, 2):
        lowest &= low <= _shift(low, k, 128.0)
    f[:, 5] = lowest
    c_dur = np.clip(np.log(np.maximum(dmax, 0.02) / 0.1) / 3.0, -1.0, 1.0)
    f[:, DUR] = c_dur
    f[:, 7] = np.clip(np.log(np.maximum(dmean, 0.02) / 0.1) / 3.0, -1.0, 1.0)
    f[:, 8] = np.clip((vmax - _window_mean(first, vmax, 0.5)) / 32.0, -1.0, 1.0)
    f[:, 9] = np.clip((vmax - _window_mean(first, vmax, 2.0)) / 32.0, -1.0, 1.0)
    gap_prev = first - _shift(first, -1, -10.0)
    gap_next = _shift(first, 1, first[-1] + 10.0) - first
    lp = np.clip(np.log(np.maximum(gap_prev, 0.01) / 0.25) / 2.0, -1.5, 1.5)
    ln = np.clip(np.log(np.maximum(gap_next, 0.01) / 0.25) / 2.0, -1.5, 1.5)
    f[:, 10] = lp
    f[:, 11] = ln
    f[:, 12] = np.clip(ln - lp, -1.5, 1.5)
    f[:, 13] = np.clip((high - low) / 24.0, 0.0, 2.0)
    f[:, 14] = np.clip((high - _window_mean(first, high, 1.0)) / 12.0, -1.0, 1.0)
    f[:, 15] = low != _shift(low, -1, -1.0)
    lo = np.searchsorted(first, first - 0.5, side="left")
    hi = np.searchsorted(first, first + 0.5, side="right")
    f[:, 16] = np.log(hi - lo) / math.log(16.0)
    f[:, 17] = np.clip(np.log(np.maximum(dmax, 0.02) / np.maximum(gap_next, 0.02)) / 2.0,
                       -1.5, 1.5)
    col = 18
    for k in (-4, -3, -2, -1, 1, 2, 3, 4):
        f[:, col] = _shift(c_count, k, 0.0)
        f[:, col + 1] = _shift(c_dur, k, -1.0)
        f[:, col + 2] = _shift(f[:, 8], k, 0.0)
        f[:, col + 3] = _shift(f[:, 4], k, 0.0)
        f[:, col + 4] = _shift(lp, k, 1.5)
        col += 5
    return first, f, low, group


def _read_net(data: dict) -> tuple[np.ndarray, ...]:
    """One network of the weights file, flat: mean, sd, then per layer and direction
    (forward, backward) W_ih, W_hh, b_ih, b_hh, then W_out, b_out."""
    arrays = [data["mean"], data["sd"]]
    for layer in range(int(data.get("layers", 1))):
        for d in ("f", "b"):
            arrays += [data[f"{k}_{d}{layer}"]
                       for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    arrays += [data["w_out"], data["b_out"]]
    return tuple(np.ascontiguousarray(a, dtype=np.float64) for a in arrays)


def _load_model(path: str) -> tuple[tuple[np.ndarray, ...], ...]:
    """The onset model (``beats_weights.json`` beside this file): one or more (``nets``,
    averaged) bidirectional GRUs over the onsets (``layers`` layers of ``hidden`` units
    each way, PyTorch's gate order r, z, n) on the standardised onset features, then a
    linear layer to two logits (a beat, a downbeat within 50 ms)."""
    try:
        with open(path) as fh:
            data = json.load(fh)
        nets = tuple(_read_net(d) for d in data.get("nets", [data]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MidiFileError(f"the beat tracker's onset model cannot be read: {path}: {exc}"
                            ) from None
    for net in nets:
        if net[0].shape[0] != N_FEATURES or net[2].shape[1] != N_FEATURES:
            raise MidiParameterError(f"{path}: the onset model has {net[2].shape[1]} "
                                     f"inputs, the features {N_FEATURES}")
    return nets


_MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "beats_weights.json")
_MODEL: tuple[tuple[np.ndarray, ...], ...] | None = None


def _model() -> tuple[tuple[np.ndarray, ...], ...]:
    global _MODEL
    if _MODEL is None:
        _MODEL = _load_model(_MODEL_PATH)
    return _MODEL


@njit
def _gru_pass(xi, whh, bhh, reverse):  # pragma: no cover - numba
    """One GRU direction: ``xi`` [n, 3H] the input projections (W_ih x + b_ih, gates r, z,
    n); returns the hidden states [n, H] (``reverse``: from the last onset back)."""
    n = xi.shape[0]
    hid = whh.shape[1]
    out = np.empty((n, hid))
    h = np.zeros(hid)
    hh = np.empty(3 * hid)
    for step in range(n):
        t = n - 1 - step if reverse else step
        for g in range(3 * hid):
            acc = bhh[g]
            for k in range(hid):
                acc += whh[g, k] * h[k]
            hh[g] = acc
        for k in range(hid):
            r = 1.0 / (1.0 + math.exp(-(xi[t, k] + hh[k])))
            z = 1.0 / (1.0 + math.exp(-(xi[t, hid + k] + hh[hid + k])))
            c = math.tanh(xi[t, 2 * hid + k] + r * hh[2 * hid + k])
            out[t, k] = (1.0 - z) * c + z * h[k]
        for k in range(hid):
            h[k] = out[t, k]
    return out


def _network(x: np.ndarray, net: tuple[np.ndarray, ...]) -> np.ndarray:
    """The onset model on features [n, N_FEATURES]: probabilities [n, 2] (beat, downbeat)."""
    h = (x - net[0]) / net[1]
    layers = (len(net) - 4) // 8
    for layer in range(layers):
        parts = []
        for d in range(2):
            wih, whh, bih, bhh = net[2 + 8 * layer + 4 * d: 6 + 8 * layer + 4 * d]
            xi = np.ascontiguousarray(h @ wih.T + bih)
            parts.append(_gru_pass(xi, whh, bhh, d == 1))
        h = np.concatenate(parts, axis=1)
    z = h @ net[-2].T + net[-1]
    return 1.0 / (1.0 + np.exp(-z))


def _onset_probs(feats: np.ndarray, model: tuple[tuple[np.ndarray, ...], ...] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (0..1) that a beat, and a downbeat, lies within 50 ms of each onset
    (the mean over the networks of the model)."""
    nets = _model() if model is None else model
    p = sum(_network(feats, net) for net in nets) / len(nets)
    return np.ascontiguousarray(p[:, 0]), np.ascontiguousarray(p[:, 1])


def _salience(feats: np.ndarray, model: tuple[tuple[np.ndarray, ...], ...] | None = None
              ) -> np.ndarray:
    """Probability (0..1) that a beat lies within 50 ms of each onset, from its features."""
    return _onset_probs(feats, model)[0]


def _frames(times: np.ndarray, values: np.ndarray, n_frames: int) -> np.ndarray:
    """Onset salience on the frame grid: each onset on its nearest frame, then spread by
    [1/2, 1, 1/2] (20 ms frames: the asynchrony within a chord and the frame rounding)."""
    idx = np.clip(np.rint(times * FPS).astype(np.int64), 0, n_frames - 1)
    env = np.bincount(idx, weights=values, minlength=n_frames)
    out = env.copy()
    out[1:] += 0.5 * env[:-1]
    out[:-1] += 0.5 * env[1:]
    return out


# ----------------------------------------------------------------------------------------
# stage 2: beats by dynamic programming over (time, period)


@njit
def _beat_dp(obs, periods, lo, hi, prior, cost, smooth, knee):  # pragma: no cover - numba
    """Best beat sequence through ``obs`` (frames). ``periods`` (frames, increasing);
    ``lo[j]..hi[j]`` (inclusive) the periods that may precede period ``j``; ``prior[j]``
    the tempo prior per beat. Returns the beat frames, increasing."""
    n = obs.shape[0]
    m = periods.shape[0]
    score = np.full((n, m), -1e300)
    back = np.full((n, m), -2, dtype=np.int16)       # -1: the chain starts at t - p
    logp = np.log(periods.astype(np.float64))
    best_t = -1
    best_j = -1
    best = -1e300
    for t in range(n):
        gain = obs[t] - cost
        for j in range(m):
            p = periods[j]
            s = t - p
            if s < 0:
                continue
            # start a chain at s (its first beat counts obs[s] - cost)
            top = obs[s] - cost
            arg = -1
            for k in range(lo[j], hi[j] + 1):
                v = score[s, k]
                if v <= -1e299:
                    continue
                d = abs(logp[j] - logp[k])
                v -= smooth * (d * d if d < knee else knee * (2.0 * d - knee))
                if v > top:
                    top = v
                    arg = k
            total = top + gain + prior[j]
            score[t, j] = total
            back[t, j] = arg
            if total > best:
                best = total
                best_t = t
                best_j = j
    if best_t < 0:
        return np.empty(0, dtype=np.int64)
    out = np.empty(n, dtype=np.int64)
    count = 0
    t = best_t
    j = best_j
    while True:
        out[count] = t
        count += 1
        k = back[t, j]
        s = t - periods[j]
        if k == -1:
            out[count] = s
            count += 1
            break
        t = s
        j = k
    return out[:count][::-1].copy()


def _ioi_stats(times: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Inputs of the tempo prior: 1, log median / 25th / 75th percentile of the time between
    onsets (s, gaps under 30 ms left out), log notes per onset (``counts``)."""
    ioi = np.diff(times)
    ioi = ioi[ioi > 0.03]
    if ioi.size == 0:
        ioi = np.array([0.5])
    q25, q50, q75 = np.percentile(ioi, [25, 50, 75])
    return np.array([1.0, math.log(q50), math.log(q25), math.log(q75),
                     math.log(max(float(counts.mean()), 1.0))])


def _tempo_centre(stats: np.ndarray, coef: tuple[float, ...]) -> float:
    """Centre of the tempo prior (BPM): ``60 / exp(coef . stats)``, a regression of the log
    beat period on the onset statistics, fitted on the development data."""
    return 60.0 / math.exp(float(np.dot(np.asarray(coef, dtype=np.float64), stats)))


def _period_grid(low_bpm: float, high_bpm: float, max_step: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer periods (frames) for the BPM range and, per period, the index range of the
    periods allowed before it (``|log p/q| <= max_step``, at least the neighbours)."""
    pmin = max(2, int(math.floor(60.0 * FPS / high_bpm)))
    pmax = max(pmin + 1, int(math.ceil(60.0 * FPS / low_bpm)))
    periods = np.arange(pmin, pmax + 1, dtype=np.int64)
    logp = np.log(periods)
    lo = np.searchsorted(logp, logp - max_step, side="left")
    hi = np.searchsorted(logp, logp + max_step, side="right") - 1
    idx = np.arange(periods.shape[0])
    lo = np.minimum(lo, np.maximum(idx - 1, 0))
    hi = np.maximum(hi, np.minimum(idx + 1, periods.shape[0] - 1))
    return periods, lo.astype(np.int64), hi.astype(np.int64)


def _snap(beats_s: np.ndarray, times: np.ndarray, sal: np.ndarray, snap_s: float
          ) -> np.ndarray:
    """Move each beat to the most salient onset within ``snap_s`` (closeness weighted);
    beats with no onset near stay. Keeps them strictly increasing."""
    out = beats_s.copy()
    lo = np.searchsorted(times, beats_s - snap_s, side="left")
    hi = np.searchsorted(times, beats_s + snap_s, side="right")
    for i in range(beats_s.shape[0]):
        if hi[i] > lo[i]:
            cand = times[lo[i]:hi[i]]
            w = sal[lo[i]:hi[i]] * (1.0 - 0.5 * np.abs(cand - beats_s[i]) / snap_s)
            out[i] = cand[int(np.argmax(w))]
    keep = np.concatenate(([True], np.diff(out) > 1e-6)) if out.size else out.astype(bool)
    return out[keep]


def _extend(beats: np.ndarray, times: np.ndarray, snap_s: float) -> np.ndarray:
    """Add beats before the first and after the last found one, one interval at a time,
    while an onset lies within ``snap_s`` (or 30 % of the interval) of the extrapolated
    time (a soft pickup or a final chord the decoder left out because it was weak)."""
    if beats.size < 2:
        return beats
    out = list(beats)
    while True:
        step = out[1] - out[0]
        guess = out[0] - step
        near = _nearest_distance(np.array([guess]), times)[0] if times.size else np.inf
        if guess < times[0] - snap_s or near > max(snap_s, 0.3 * step):
            break
        out.insert(0, float(times[np.argmin(np.abs(times - guess))]))
    while True:
        step = out[-1] - out[-2]
        guess = out[-1] + step
        near = _nearest_distance(np.array([guess]), times)[0] if times.size else np.inf
        if guess > times[-1] + snap_s or near > max(snap_s, 0.3 * step):
            break
        out.append(float(times[np.argmin(np.abs(times - guess))]))
    return np.array(out)


# ----------------------------------------------------------------------------------------
# stage 3: meter and downbeats

#: Number of per-beat downbeat features (``_beat_features``).
N_BEAT_FEATURES = 6


def _beat_features(beats: np.ndarray, times: np.ndarray, feats: np.ndarray, sal: np.ndarray,
                   low: np.ndarray, onsets: np.ndarray, pitches: np.ndarray,
                   durations: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Per-beat downbeat features [n, N_BEAT_FEATURES], each z-scored over the piece:
    salience of the onsets near the beat, their bass, their longest duration, the harmonic
    change (1 - cosine of the pitch-class profiles of the beat spans before and after the
    beat), whether the lowest pitch near the beat differs from the one at the previous
    beat, and the onset network's downbeat probability (``down``) near the beat."""
    n = beats.shape[0]
    if n == 0:
        return np.zeros((0, N_BEAT_FEATURES))
    half = np.empty(n)
    if n > 1:
        gaps = np.diff(beats)
        half[:-1] = gaps
        half[-1] = gaps[-1]
        half[1:] = np.minimum(half[1:], gaps)
    else:
        half[:] = 0.5
    win = np.minimum(0.07, 0.3 * half)
    lo = np.searchsorted(times, beats - win, side="left")
    hi = np.searchsorted(times, beats + win, side="right")
    f = np.zeros((n, N_BEAT_FEATURES))
    lowest = np.full(n, 128.0)
    for i in range(n):
        if hi[i] > lo[i]:
            f[i, 0] = sal[lo[i]:hi[i]].max()
            f[i, 5] = down[lo[i]:hi[i]].max()
            f[i, 1] = feats[lo[i]:hi[i], BASS].max()
            f[i, 2] = feats[lo[i]:hi[i], DUR].max()
            lowest[i] = low[lo[i]:hi[i]].min()
    # pitch-class profile of each beat span [b_i - 0.05, b_{i+1} - 0.05), duration weighted
    edges = np.concatenate((beats - 0.05, [np.inf]))
    span = np.searchsorted(edges, onsets, side="right") - 1
    ok = span >= 0
    prof = np.zeros((n, 12))
    np.add.at(prof, (span[ok], pitches[ok].astype(np.int64) % 12),
              np.minimum(durations[ok], 1.0) + 0.05)
    norm = np.sqrt((prof * prof).sum(axis=1)) + 1e-9
    unit = prof / norm[:, None]
    if n > 1:
        f[1:, 3] = 1.0 - (unit[1:] * unit[:-1]).sum(axis=1)
        f[1:, 4] = (lowest[1:] != lowest[:-1]) & (lowest[1:] < 128)
    mu = f.mean(axis=0)
    sd = f.std(axis=0) + 1e-9
    return (f - mu) / sd


@njit
def _bar_viterbi(logodds, meter, jump):  # pragma: no cover - numba
    """Viterbi over the beat-in-bar position (0 = downbeat) of each beat: position m goes
    to m + 1 (mod meter), or anywhere else with probability ``jump``. The downbeat
    position earns ``logodds[i]``. Returns (positions, best score)."""
    n = logodds.shape[0]
    stay = math.log(1.0 - jump)
    other = math.log(jump / max(meter - 1, 1))
    score = np.zeros(meter)
    for m in range(meter):
        score[m] = logodds[0] if m == 0 else 0.0
    back = np.zeros((n, meter), dtype=np.int64)
    new = np.empty(meter)
    for i in range(1, n):
        for m in range(meter):
            best = -1e300
            arg = 0
            for q in range(meter):
                v = score[q] + (stay if (q + 1) % meter == m else other)
                if v > best:
                    best = v
                    arg = q
            new[m] = best + (logodds[i] if m == 0 else 0.0)
            back[i, m] = arg
        for m in range(meter):
            score[m] = new[m]
    m = 0
    for q in range(meter):
        if score[q] > score[m]:
            m = q
    total = score[m]
    pos = np.empty(n, dtype=np.int64)
    for i in range(n - 1, -1, -1):
        pos[i] = m
        m = back[i, m]
    return pos, total


def _alternation(rel: np.ndarray, pos: np.ndarray) -> float:
    """How much the odd and even bars of a bar path differ: the mean downbeat log-odds
    (``rel``) of the downbeats of even bars minus that of odd bars, absolute (nats). Two
    beats per bar whose downbeats alternate strong, weak are a 4-beat bar."""
    down = rel[pos == 0]
    if down.size < 4:
        return 0.0
    return abs(float(down[0::2].mean()) - float(down[1::2].mean()))


def _downbeats(bf: np.ndarray, settings: Settings, meter: int | None) -> tuple[np.ndarray, int]:
    """Positions in the bar (0 = downbeat) and the meter (given or inferred)."""
    n = bf.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), meter or 4
    w = np.asarray(settings.downbeat_w, dtype=np.float64)
    logodds = w[0] + bf @ w[1:]
    candidates = (meter,) if meter is not None else METERS
    found: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}
    # p(downbeat | features) / p(downbeat) over the same for "not a downbeat": the scaled
    # likelihood ratio of the HMM (the model's posterior divided by its training prior)
    rate = settings.downbeat_rate
    for m in candidates:
        if m == 1:
            return np.zeros(n, dtype=np.int64), 1
        r = rate if rate > 0 else 1.0 / m
        rel = np.ascontiguousarray(logodds - math.log(r / (1.0 - r)))
        pos, total = _bar_viterbi(rel, m, settings.phase_jump)
        if meter is None:
            total += settings.meter_prior[METERS.index(m)] * n / 100.0
        found[m] = (float(total), pos, rel)
    best = max(found, key=lambda m: (found[m][0], -m))
    if (best == 2 and 4 in found
            and _alternation(found[2][2], found[2][1]) > settings.alternation):
        best = 4
    return found[best][1], best


# ----------------------------------------------------------------------------------------
# the public function


def _bpm(beats: np.ndarray) -> np.ndarray:
    if beats.size == 0:
        return np.zeros(0)
    if beats.size == 1:
        return np.zeros(1)
    bpm = np.empty(beats.size)
    bpm[:-1] = 60.0 / np.diff(beats)
    bpm[-1] = bpm[-2]
    return bpm


def _bar_bpm(beats: np.ndarray, downbeats: np.ndarray) -> np.ndarray:
    if downbeats.size < 2:
        return np.zeros(0)
    idx = np.searchsorted(beats, downbeats)
    counts = np.diff(idx)
    out = np.empty(downbeats.size)
    out[:-1] = 60.0 * counts / np.diff(downbeats)
    out[-1] = out[-2]
    return out


def _confidence(beats: np.ndarray, times: np.ndarray) -> float:
    if beats.size == 0 or times.size == 0:
        return 0.0
    near = _nearest_distance(beats, times) <= 0.07
    grid = beats
    if beats.size > 1:
        grid = np.sort(np.concatenate((beats, 0.5 * (beats[1:] + beats[:-1]))))
    inside = (times >= beats[0] - 0.07) & (times <= beats[-1] + 0.07)
    covered = _nearest_distance(times[inside], grid) <= 0.07 if inside.any() else np.ones(1)
    return float(near.mean() * covered.mean())


def _nearest_distance(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Distance (s) from each of ``x`` to the nearest of sorted ``ref``."""
    i = np.clip(np.searchsorted(ref, x), 1, max(ref.size - 1, 1))
    if ref.size == 1:
        return np.abs(x - ref[0])
    return np.minimum(np.abs(x - ref[i - 1]), np.abs(x - ref[i]))


def _strength(points: np.ndarray, times: np.ndarray, sal: np.ndarray, win_s: float = 0.05
              ) -> np.ndarray:
    """The highest onset salience within ``win_s`` seconds of each point (0: none)."""
    out = np.zeros(points.size)
    lo = np.searchsorted(times, points - win_s, side="left")
    hi = np.searchsorted(times, points + win_s, side="right")
    for i in range(points.size):
        if hi[i] > lo[i]:
            out[i] = sal[lo[i]:hi[i]].max()
    return out


def _rescale(beats: np.ndarray, factor: int, times: np.ndarray, sal: np.ndarray,
             snap_s: float) -> np.ndarray:
    """``factor`` > 1: ``factor - 1`` beats added evenly in each interval (snapped to an
    onset within a quarter of the new interval); < -1: every ``-factor``-th beat kept (the
    phase whose onsets are the most salient); 1: the beats unchanged."""
    if factor == 1 or beats.size < 2:
        return beats
    if factor > 1:
        gaps = np.diff(beats)
        new = [beats[:-1] + gaps * (j / factor) for j in range(1, factor)]
        pts = np.concatenate(new)
        pts = _snap(np.sort(pts), times, sal, min(snap_s, 0.25 * float(gaps.min()) / factor))
        out = np.unique(np.concatenate((beats, pts)))
        return out
    k = -factor
    strength = _strength(beats, times, sal)
    scores = [strength[ph::k].mean() if strength[ph::k].size else -1.0 for ph in range(k)]
    return beats[int(np.argmax(scores))::k]


def track(onsets_s: object, pitches: object, velocities: object,
          durations_s: object | None = None, *,
          tempo_range: tuple[float, float] = (40.0, 240.0),
          meter: int | str | None = None,
          tempo_scale: float = 1.0,
          settings: Settings | None = None) -> Beats:
    """Find the beats, downbeats, meter and tempo curve of a performance from its notes.

    Parameters
    ----------
    onsets_s : array-like [shape=(n,)]
        Note start times in seconds (any order; >= 0).
    pitches : array-like [shape=(n,)]
        MIDI pitches 0..127.
    velocities : array-like [shape=(n,)]
        Note-on velocities 1..127.
    durations_s : array-like [shape=(n,)], optional
        Note lengths in seconds (>= 0); without them every note counts as 0.2 s.
    tempo_range : (min_bpm, max_bpm)
        The tempo the beat may take (BPM), default 40..240.
    meter : int or str, optional
        Force the beats per bar (``3`` or ``"3/4"``; ``"6/8"`` also sets the note value
        reported in ``time_signature``). Default: inferred among 2, 3 and 4.
    tempo_scale : {1.0, 2.0, 0.5}
        The tempo octave: ``2.0`` gives twice as many beats (midpoints added), ``0.5`` half
        as many (every second beat) as the tracker would find.
    settings : Settings, optional
        Tuning (default: the fitted values).

    Returns
    -------
    Beats
        Empty arrays (meter 4 or the given one, confidence 0) for no note; a single beat
        at the onset for a single onset.

    Raises
    ------
    MidiParameterError
        Arrays of different lengths or not 1-D, values out of range, bad options.
    """
    s = DEFAULT if settings is None else settings
    if not isinstance(s, Settings):
        raise MidiParameterError(f"settings must be a beats.Settings, got {settings!r}")
    onsets = _as_array("onsets_s", onsets_s, None)
    n = onsets.shape[0]
    pitch = _as_array("pitches", pitches, n)
    vel = _as_array("velocities", velocities, n)
    dur = np.full(n, 0.2) if durations_s is None else _as_array("durations_s", durations_s, n)
    if n and onsets.min() < 0:
        raise MidiParameterError(f"onsets_s must be >= 0 seconds, got {onsets.min():g}")
    if n and (pitch.min() < 0 or pitch.max() > 127):
        raise MidiParameterError("pitches must be in 0..127, got "
                                 f"{pitch.min():g}..{pitch.max():g}")
    if n and (vel.min() < 0 or vel.max() > 127):
        raise MidiParameterError("velocities must be in 0..127, got "
                                 f"{vel.min():g}..{vel.max():g}")
    if n and dur.min() < 0:
        raise MidiParameterError(f"durations_s must be >= 0 seconds, got {dur.min():g}")
    low_bpm, high_bpm = _check_range(tempo_range)
    forced, note_value = _parse_meter(meter)
    try:
        scale = float(tempo_scale)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        scale = float("nan")
    if scale not in (0.5, 1.0, 2.0):
        raise MidiParameterError(f"tempo_scale must be 0.5, 1 or 2, got {tempo_scale!r}")

    def result(beats: np.ndarray, pos: np.ndarray, m: int, times: np.ndarray) -> Beats:
        downbeats = beats[pos == 0] if beats.size else beats
        return Beats(beats=beats, downbeats=downbeats, meter=m,
                     time_signature=f"{m}/{note_value}", bpm=_bpm(beats),
                     confidence=_confidence(beats, times),
                     bar_bpm=_bar_bpm(beats, downbeats))

    empty = np.zeros(0)
    if n == 0:
        return result(empty, np.zeros(0, dtype=np.int64), forced or 4, empty)
    order = np.argsort(onsets, kind="stable")
    onsets, pitch, vel, dur = onsets[order], pitch[order], vel[order], dur[order]
    times, feats, low, _ = _onset_features(onsets, pitch, vel, dur, s.chord_s)
    if times.size == 1:
        one = times[:1].copy()
        return result(one, np.zeros(1, dtype=np.int64), forced or 4, times)
    sal, down = _onset_probs(feats, s.model)
    sal_norm = sal / max(float(sal.mean()), 1e-12)
    n_frames = int(math.ceil(times[-1] * FPS)) + 3
    obs = _frames(times, sal_norm, n_frames)
    periods, lo, hi = _period_grid(low_bpm, high_bpm, s.max_step)
    bpms = 60.0 * FPS / periods
    centre = s.prior_bpm
    if s.prior_coef:
        centre = _tempo_centre(_ioi_stats(times, np.exp(feats[:, 0] * math.log(8.0)) - 1.0),
                               s.prior_coef)
    prior = -s.prior_weight * (np.log(bpms / centre) / s.prior_width) ** 2
    frames = _beat_dp(obs, periods, lo, hi, prior, s.cost, s.smooth, s.knee)
    beats = _extend(_snap(frames / FPS, times, sal, s.snap_s), times, s.snap_s)
    beats = _rescale(beats, {1.0: 1, 2.0: 2, 0.5: -2}[scale], times, sal, s.snap_s)
    bf = _beat_features(beats, times, feats, sal, low, onsets, pitch, dur, down)
    pos, m = _downbeats(bf, s, forced)
    return result(beats, pos, m, times)
