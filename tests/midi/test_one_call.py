"""``quantize_file``'s one-call path (``quantize._quantize_smf``: read, quantize and write
a file in one kernel): the same bytes and the same report as the arrays' way
(``read_bytes``, ``quantize_song``, ``write``), which the other tests check against mido,
pretty_midi and theory; the settings and files it leaves to that way; its sorts against
numpy's."""

from __future__ import annotations

import importlib

import mido
import numpy as np
import pytest

from audioquant import midi
from audioquant.midi import files
from audioquant.midi.notes import _encode
from tests.corpus import MIDI
from tests.midi.helpers import SAMPLE, random_performance, write_mido

kernels = importlib.import_module("audioquant.midi.quantize")
notes = importlib.import_module("audioquant.midi.notes")

OPTIONS = [
    {},
    {"mode": "starts"},
    {"grid": "1/8T", "swing": 62, "strength": 70, "exclude_within": 10},
    {"grid": "1/16", "offset": 15, "catch_range": 40, "chord_ms": 0},
    {"grid": "1/32.", "strength": 55.5, "chord_ms": 80},
]


@pytest.fixture(scope="module")
def performances(tmp_path_factory) -> list[tuple[str, bytes]]:
    """The readable files of the hardening corpus, the sample, and made-up performances:
    tempo changes, several channels in a track (type 0), same-pitch overlaps, forty
    tracks, timing far off the grid, notes with no note-off, odd resolutions."""
    rng = np.random.default_rng(11)
    folder = tmp_path_factory.mktemp("performances")

    def _mido_bytes(tracks, **kwargs) -> bytes:
        return write_mido(folder / "made.mid", tracks, **kwargs).read_bytes()

    out = [(case.name, case.data()) for case in MIDI if not hasattr(case.expect, "fragments")]
    out.append(("sample", SAMPLE.read_bytes()))
    out.append(("plain", _mido_bytes(random_performance(rng))))
    overlaps = random_performance(rng, n_tracks=5, channels=(0, 1, 2, 9), overlap_free=False,
                                  tempo_changes=6)
    out.append(("overlaps", _mido_bytes(overlaps)))
    merged = sorted((e for track in overlaps for e in track), key=lambda e: e[0])
    out.append(("type 0, four channels", _mido_bytes([merged], type=0)))
    out.append(("forty tracks", _mido_bytes(random_performance(rng, n_tracks=40,
                                                               notes_per_track=20))))
    out.append(("far off the grid", _mido_bytes(random_performance(rng, jitter=200,
                                                                   overlap_free=False))))
    open_notes = [[(int(t), mido.Message("note_on", note=60 + int(t) % 3, velocity=70))
                   for t in np.sort(rng.integers(0, 4000, 40))]
                  + [(4100, mido.MetaMessage("marker", text="end"))]]
    out.append(("notes without note-offs", _mido_bytes(open_notes)))
    for ppq in (96, 1001):
        out.append((f"{ppq} PPQ", _mido_bytes(random_performance(rng, ppq=ppq), ppq=ppq)))
    return out


def arrays_way(raw: bytes, name: str, options: dict) -> tuple[bytes, dict]:
    song, report = files.quantize_song(midi.read_bytes(raw, name), **options)
    return b"".join(bytes(part) for part in _encode(song)), report


@pytest.mark.parametrize("options", OPTIONS)
def test_one_call_writes_and_reports_what_the_arrays_way_does(performances, options):
    for name, raw in performances:
        got = files._quantize_bytes(raw, name, options)
        assert got is not None, name
        want, want_report = arrays_way(raw, name, options)
        assert bytes(got[0]) == want, name
        assert got[1] == want_report, name


def test_other_settings_and_files_take_the_arrays_way(tmp_path):
    raw = SAMPLE.read_bytes()
    for options in ({"mode": "ends"}, {"tracks": [1]}, {"channels": [1]},
                    {"pitch_range": "36-40"}, {"min_length": 2}, {"grid": "1/16", "x": 1}):
        assert files._quantize_bytes(raw, "sample", options) is None, options
    # and such a file, or such settings, are still quantized (the arrays' way)
    out = tmp_path / "ends.mid"
    report = midi.quantize_file(SAMPLE, out, mode="ends", grid="1/8")
    assert out.read_bytes() == arrays_way(raw, "sample", {"mode": "ends", "grid": "1/8"})[0]
    assert report["moved"] > 0
    assert len(mido.MidiFile(out).tracks) == len(mido.MidiFile(SAMPLE).tracks)


def test_a_broken_file_gets_the_arrays_ways_error(tmp_path):
    for case in (c for c in MIDI if hasattr(c.expect, "fragments")):
        path = tmp_path / f"{case.name}.mid"
        path.write_bytes(case.data())
        with pytest.raises(midi.MidiError) as one_call:
            midi.quantize_file(path, tmp_path / "out.mid")
        with pytest.raises(midi.MidiError) as arrays:
            midi.read(path)
        assert str(one_call.value) == str(arrays.value), case.name
        assert not (tmp_path / "out.mid").exists()


@pytest.mark.parametrize("seed", range(6))
def test_the_sorts_match_numpy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 3000))
    key = rng.integers(0, 1 + int(rng.integers(1, 5000)), n)
    then = rng.integers(0, 100, n)
    order = kernels._by_key_then(key, int(key.max(initial=0)) + 1, then)
    assert np.array_equal(order, np.lexsort((then, key)))
    assert np.array_equal(kernels._bucket_order(key, int(key.max(initial=0)) + 1),
                          np.argsort(key, kind="stable"))
    # distinct keys in two runs: nearly sorted (a few swaps), then far from it
    distinct = rng.permutation(10 * n + 10)[:n].astype(np.int64)
    split = n // 2
    runs = np.concatenate((np.sort(distinct[:split]), np.sort(distinct[split:])))
    for i in rng.integers(0, max(n - 1, 1), n // 50):
        runs[i], runs[i + 1] = runs[i + 1], runs[i]
    for case in (runs, distinct):
        key = case.copy()
        if notes._sort_runs(key, split):    # (else too far from sorted: the caller sorts)
            assert np.array_equal(key[:split], np.sort(case[:split]))
            assert np.array_equal(key[split:], np.sort(case[split:]))
        else:
            assert case is distinct
        assert np.array_equal(np.sort(key), np.sort(case))   # (a permutation of it)
