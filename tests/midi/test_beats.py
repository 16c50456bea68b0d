"""midi/beats.py: beats, downbeats and meter of synthetic performances whose truth is known
(tests/midi/performances.py), the overrides, determinism and bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from audioquant.midi import beats as mb
from audioquant.midi.errors import MidiParameterError
from tests.midi import performances as perf
from tests.midi.helpers import run_python

# The bar: every beat within 50 ms. The construction moves each onset by at most
# 2.5 x 8 ms of noise plus 20 ms of asynchrony (40 ms), so a beat placed on the played
# onsets is within 50 ms of the score beat.
TOLERANCE_S = 0.05

CASES = {
    "steady 4/4": (4, perf.steady(100), 0),
    "steady 3/4": (3, perf.steady(120), 0),
    "slow 4/4": (4, perf.steady(66), 0),
    "accelerando 4/4": (4, perf.ramp(80, 130, 64), 0),
    "ritardando 3/4, pickup": (3, perf.ramp(140, 90, 48), 1),
    "rubato 4/4, pickup": (4, perf.rubato(96, 0.15, 8), 1),
    "rubato 3/4, 2-beat pickup": (3, perf.rubato(110, 0.2, 6), 2),
    "fast 3/4, pickup": (3, perf.steady(150), 1),
}


def run(p: perf.Performance, **kwargs) -> mb.Beats:
    return mb.track(p.onsets_s, p.pitches, p.velocities, p.durations_s, **kwargs)


def distances(found: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance from each true beat to the nearest found one, and the other way), s."""
    d = np.abs(found[:, None] - truth[None, :])
    return d.min(axis=0), d.min(axis=1)


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("seed", [1, 2])
def test_beats_within_50_ms_and_the_meter_right(name, seed):
    meter, curve, pickup = CASES[name]
    p = perf.performance(meter, curve, pickup=pickup, seed=seed)
    found = run(p)
    assert found.beats.size == p.beats_s.size
    missed, extra = distances(found.beats, p.beats_s)
    assert missed.max() <= TOLERANCE_S and extra.max() <= TOLERANCE_S
    assert found.meter == meter and found.time_signature == f"{meter}/4"
    assert found.downbeats.size == p.downbeats_s.size
    missed, extra = distances(found.downbeats, p.downbeats_s)
    assert missed.max() <= TOLERANCE_S and extra.max() <= TOLERANCE_S


def test_result_shape_and_types():
    p = perf.performance(4, perf.steady(100), seed=3)
    found = run(p)
    assert found.beats.dtype == np.float64 and np.all(np.diff(found.beats) > 0)
    assert np.isin(found.downbeats, found.beats).all()
    assert found.bpm.shape == found.beats.shape
    assert found.bar_bpm.shape == found.downbeats.shape
    assert 0.0 <= found.confidence <= 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.meter = 3  # type: ignore[misc]


def test_tempo_curve_follows_the_construction():
    # steady 100 BPM: the beat-to-beat tempo is 100 BPM up to the onset noise (two onsets
    # of +-40 ms over a 0.6 s interval: at most 15 %); bars of 4 beats average it out.
    found = run(perf.performance(4, perf.steady(100), seed=4))
    assert np.all(np.abs(found.bpm / 100 - 1) < 0.15)
    assert np.all(np.abs(found.bar_bpm / 100 - 1) < 0.05)
    # accelerando 80 -> 130 BPM over the 64 beats: the first and last bars' tempi
    ramp = run(perf.performance(4, perf.ramp(80, 130, 64), seed=4))
    assert abs(ramp.bar_bpm[0] - 80) < 0.1 * 80 and abs(ramp.bar_bpm[-2] - 125) < 0.1 * 125


def test_deterministic_and_independent_of_note_order():
    p = perf.performance(3, perf.rubato(110, 0.2, 6), pickup=1, seed=5)
    a, b = run(p), run(p)
    order = np.random.default_rng(0).permutation(p.onsets_s.size)
    c = mb.track(p.onsets_s[order], p.pitches[order], p.velocities[order],
                 p.durations_s[order])
    for other in (b, c):
        assert np.array_equal(a.beats, other.beats)
        assert np.array_equal(a.downbeats, other.downbeats)
        assert a.meter == other.meter and a.confidence == other.confidence


def test_meter_override():
    p = perf.performance(4, perf.steady(100), seed=6)
    found = run(p, meter="3/4")
    assert found.meter == 3 and found.time_signature == "3/4"
    # the beats do not depend on the meter; only the bar lines do
    assert np.array_equal(found.beats, run(p).beats)
    idx = np.searchsorted(found.beats, found.downbeats)
    assert np.median(np.diff(idx)) == 3
    assert run(p, meter=2).meter == 2
    six = run(p, meter="6/8")
    assert six.meter == 6 and six.time_signature == "6/8"


def test_tempo_range_picks_the_tempo_octave():
    # 100 BPM with a melody in eighths: a range above it gives the eighths (200 BPM), a
    # range below it every second beat (50 BPM).
    p = perf.performance(4, perf.steady(100), seed=7)
    fast = run(p, tempo_range=(150, 300))
    assert abs(np.median(fast.bpm) - 200) < 10
    slow = run(p, tempo_range=(30, 70))
    assert abs(np.median(slow.bpm) - 50) < 3
    _, extra = distances(slow.beats, p.beats_s)
    assert extra.max() <= TOLERANCE_S      # every slow beat is a true beat


def test_tempo_scale_doubles_and_halves():
    p = perf.performance(3, perf.steady(90), seed=8)
    base = run(p)
    double = run(p, tempo_scale=2.0)
    assert double.beats.size == 2 * base.beats.size - 1
    assert np.isin(base.beats, double.beats).all()
    mids = double.beats[1::2]
    half_way = 0.5 * (base.beats[1:] + base.beats[:-1])
    assert np.abs(mids - half_way).max() < TOLERANCE_S
    half = run(p, tempo_scale=0.5)
    assert half.beats.size in (base.beats.size // 2, (base.beats.size + 1) // 2)
    assert np.isin(half.beats, base.beats).all()
    assert abs(np.median(half.bpm) - 45) < 3


def test_empty_and_single_note():
    empty = mb.track([], [], [])
    assert empty.beats.size == 0 and empty.downbeats.size == 0 and empty.confidence == 0.0
    assert empty.bpm.size == 0 and empty.meter == 4
    assert mb.track([], [], [], meter="3/4").meter == 3
    one = mb.track([1.5], [60], [80], [0.5])
    assert np.array_equal(one.beats, [1.5]) and np.array_equal(one.downbeats, [1.5])
    chord = mb.track([2.0, 2.01, 2.02], [48, 52, 55], [80, 70, 60])
    assert np.array_equal(chord.beats, [2.0])


def test_confidence_is_lower_without_a_pulse():
    p = perf.performance(4, perf.steady(100), seed=9)
    steady = run(p).confidence
    rng = np.random.default_rng(9)
    onsets = np.sort(rng.uniform(0, p.onsets_s.max(), p.onsets_s.size // 4))
    noise = mb.track(onsets, rng.integers(40, 80, onsets.size), np.full(onsets.size, 70.0))
    # every beat of the steady take falls on a played chord
    assert steady > 0.9 and noise.confidence < steady


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"onsets_s": [0.0, 1.0], "pitches": [60], "velocities": [80, 80]}, "pitches"),
    ({"onsets_s": [[0.0, 1.0]], "pitches": [60], "velocities": [80]}, "one-dimensional"),
    ({"onsets_s": [0.0, np.nan], "pitches": [60, 60], "velocities": [80, 80]}, "finite"),
    ({"onsets_s": [-1.0, 1.0], "pitches": [60, 60], "velocities": [80, 80]}, ">= 0"),
    ({"onsets_s": [0.0, 1.0], "pitches": [60, 200], "velocities": [80, 80]}, "0..127"),
    ({"onsets_s": [0.0, 1.0], "pitches": [60, 60], "velocities": [80, 300]}, "0..127"),
    ({"onsets_s": [0.0], "pitches": [60], "velocities": [80], "durations_s": [-1.0]},
     "durations_s"),
    ({"onsets_s": "abc", "pitches": [60], "velocities": [80]}, "onsets_s"),
    ({"tempo_range": (100, 50)}, "tempo_range"),
    ({"tempo_range": (100, 110)}, "tempo_range"),
    ({"tempo_range": 120}, "tempo_range"),
    ({"meter": "x/4"}, "meter"),
    ({"meter": "3/5"}, "meter"),
    ({"meter": 0}, "meter"),
    ({"meter": 2.5}, "meter"),
    ({"tempo_scale": 3}, "tempo_scale"),
    ({"settings": {"cost": 1}}, "settings"),
])
def test_bad_input_raises_parameter_error(kwargs, message):
    args = {"onsets_s": [0.0, 0.5, 1.0], "pitches": [60, 62, 64], "velocities": [80, 80, 80]}
    args.update(kwargs)
    with pytest.raises(MidiParameterError, match=message):
        mb.track(args.pop("onsets_s"), args.pop("pitches"), args.pop("velocities"), **args)


def test_imports_nothing_of_audioquant_but_midi_and_errors():
    code = ("import sys, audioquant.midi.beats\n"
            "bad = [m for m in sys.modules if m.startswith('audioquant') and m not in\n"
            "       ('audioquant', 'audioquant.errors', 'audioquant.numba_setup')\n"
            "       and not m.startswith('audioquant.midi')]\n"
            "assert not bad, bad\n"
            "heavy = [m for m in ('torch', 'pretty_midi', 'mir_eval') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    r = run_python(code)
    assert r.returncode == 0, r.stderr


# ----------------------------------------------------------------------------------------
# the kernels against plain references (exhaustive search on small inputs)


def _dp_score(frames, obs, periods, prior, cost, smooth, knee):
    """The objective the beat DP maximises, for one beat sequence (a plain reference)."""
    logp = {int(p): np.log(p) for p in periods}
    jindex = {int(p): j for j, p in enumerate(periods)}
    total = sum(obs[t] - cost for t in frames)
    gaps = np.diff(frames)
    for i, g in enumerate(gaps):
        total += prior[jindex[int(g)]]
        if i:
            d = abs(logp[int(g)] - logp[int(gaps[i - 1])])
            total -= smooth * (d * d if d < knee else knee * (2 * d - knee))
    return total


def _dp_brute(obs, periods, lo, hi, prior, cost, smooth, knee):
    """Best score over every beat sequence of 2 or more beats whose consecutive periods
    are allowed (depth-first)."""
    n = obs.size
    best = -np.inf

    def extend(seq, last_j):
        nonlocal best
        if len(seq) >= 2:
            best = max(best, _dp_score(seq, obs, periods, prior, cost, smooth, knee))
        for j, p in enumerate(periods):
            if seq[-1] + p >= n or (last_j is not None and not lo[j] <= last_j <= hi[j]):
                continue
            extend(seq + [seq[-1] + int(p)], j)

    for start in range(n):
        extend([start], None)
    return best


@pytest.mark.parametrize("seed", range(4))
def test_beat_dp_finds_the_best_sequence(seed):
    rng = np.random.default_rng(seed)
    obs = rng.random(22) * (rng.random(22) < 0.5) * 2
    periods, lo, hi = mb._period_grid(600.0, 1000.0, 0.2)    # 3..5 frames at 50 Hz
    prior = -0.1 * rng.random(periods.size)
    args = (obs, periods, lo, hi, prior, 0.6, 5.0, 0.1)
    frames = mb._beat_dp(*args)
    assert np.all(np.isin(np.diff(frames), periods))
    got = _dp_score(frames, obs, periods, prior, 0.6, 5.0, 0.1)
    assert np.isclose(got, _dp_brute(*args))


@pytest.mark.parametrize(("meter", "seed"), [(2, 0), (3, 1), (4, 2)])
def test_bar_viterbi_finds_the_best_positions(meter, seed):
    import itertools
    rng = np.random.default_rng(seed)
    logodds = rng.normal(0, 1.5, 7)
    jump = 0.05
    pos, total = mb._bar_viterbi(logodds, meter, jump)

    def score(path):
        s = sum(logodds[i] for i, m in enumerate(path) if m == 0)
        for a, b in itertools.pairwise(path):
            s += np.log(1 - jump) if (a + 1) % meter == b else np.log(jump / (meter - 1))
        return s

    best = max(score(p) for p in itertools.product(range(meter), repeat=logodds.size))
    assert np.isclose(total, best) and np.isclose(score(tuple(pos)), best)


def test_onset_groups_against_a_loop():
    rng = np.random.default_rng(3)
    onsets = np.sort(rng.uniform(0, 5, 200))
    groups, first = [], -np.inf
    for t in onsets:
        if t - first > 0.03:
            first = t
            groups.append(len(set(groups)))
        else:
            groups.append(groups[-1])
    assert np.array_equal(mb._group_onsets(onsets, 0.03), groups)


def _gru_reference(x, wih, whh, bih, bhh):
    """A GRU direction written out as PyTorch documents it (gates r, z, n)."""
    hid = whh.shape[1]
    h = np.zeros(hid)
    out = []
    for xt in x:
        gi, gh = wih @ xt + bih, whh @ h + bhh
        r = 1 / (1 + np.exp(-(gi[:hid] + gh[:hid])))
        z = 1 / (1 + np.exp(-(gi[hid:2 * hid] + gh[hid:2 * hid])))
        n = np.tanh(gi[2 * hid:] + r * gh[2 * hid:])
        h = (1 - z) * n + z * h
        out.append(h)
    return np.array(out)


def test_onset_network_matches_a_written_out_gru():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 5))
    wih, whh = rng.standard_normal((12, 5)), rng.standard_normal((12, 4))
    bih, bhh = rng.standard_normal(12), rng.standard_normal(12)
    xi = np.ascontiguousarray(x @ wih.T + bih)
    assert np.allclose(mb._gru_pass(xi, whh, bhh, False), _gru_reference(x, wih, whh, bih, bhh))
    back = mb._gru_pass(xi, whh, bhh, True)
    assert np.allclose(back[::-1], _gru_reference(x[::-1], wih, whh, bih, bhh))


def test_shipped_onset_model_gives_probabilities():
    p = perf.performance(4, perf.steady(100), seed=5)
    order = np.argsort(p.onsets_s, kind="stable")
    times, feats, _, _ = mb._onset_features(p.onsets_s[order], p.pitches[order],
                                            p.velocities[order], p.durations_s[order], 0.03)
    beat, down = mb._onset_probs(feats)
    assert beat.shape == down.shape == times.shape
    assert np.all((beat >= 0) & (beat <= 1)) and np.all((down >= 0) & (down <= 1))
    on_beat = mb._nearest_distance(times, p.beats_s) <= 0.05
    on_down = mb._nearest_distance(times, p.downbeats_s) <= 0.05
    assert beat[on_beat].mean() > 2 * beat[~on_beat].mean()
    assert down[on_down].mean() > 2 * down[on_beat & ~on_down].mean()


def test_an_ensemble_file_averages_its_networks(tmp_path):
    # A weights file {"nets": [a, b]} is the mean of a's and b's probabilities: written
    # here from two networks of the shipped file, one of them with its output layer
    # negated (so the two differ: sigmoid(-z) = 1 - sigmoid(z)).
    import json

    with open(mb._MODEL_PATH) as fh:
        data = json.load(fh)
    nets = data.get("nets", [data])
    a = nets[0]
    b = dict(nets[-1], w_out=(-np.asarray(nets[-1]["w_out"])).tolist(),
             b_out=(-np.asarray(nets[-1]["b_out"])).tolist())
    paths = []
    for name, content in (("a", a), ("b", b), ("ab", {"nets": [a, b]})):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(content))
    p = perf.performance(4, perf.steady(100), seed=5)
    order = np.argsort(p.onsets_s, kind="stable")
    _, feats, _, _ = mb._onset_features(p.onsets_s[order], p.pitches[order],
                                        p.velocities[order], p.durations_s[order], 0.03)
    pa, pb, pab = (np.stack(mb._onset_probs(feats, mb._load_model(str(path))))
                   for path in paths)
    assert np.allclose(pab, (pa + pb) / 2, rtol=0, atol=1e-12)
    assert not np.allclose(pa, pb, atol=1e-3)
    if len(nets) > 1:   # the shipped ensemble: several different networks
        assert len(mb._model()) == len(nets)
        assert not np.array_equal(mb._model()[0][2], mb._model()[1][2])
