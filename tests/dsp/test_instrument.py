"""The instrument base: events on their exact samples, any block size, the tail to silence."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from audioquant.dsp import instrument
from audioquant.dsp.instrument import Instrument
from audioquant.midi import playback as perf


class Clicks(Instrument):
    """A test instrument: each note is a constant level velocity/127 on the left until
    its release, then ``release`` samples at half that level."""

    release = 100

    def prepare_voices(self, sample_rate: int) -> None:
        self.voices: dict[tuple[int, int], list] = {}

    def start_note(self, channel, pitch, velocity):
        self.voices[channel, pitch] = [velocity / 127, None]

    def release_note(self, channel, pitch):
        if (channel, pitch) in self.voices:
            self.voices[channel, pitch][1] = self.release

    def stop_channel(self, channel):
        self.voices = {k: v for k, v in self.voices.items() if k[0] != channel}

    def render_voices(self, out):
        for key, voice in list(self.voices.items()):
            level, left = voice
            if left is None:
                out[0] += level
                continue
            n = min(left, out.shape[1])
            out[0, :n] += level / 2
            voice[1] = left - n
            if voice[1] == 0:
                del self.voices[key]

    def sounding(self):
        return bool(self.voices)


def play(events: list[tuple[int, int, int, int, int]], rate: int = 1000):
    s, k, c, a, b = (np.array(x) for x in zip(*events, strict=True))
    return SimpleNamespace(sample_rate=rate, sample=s, kind=k, channel=c, a=a, b=b)


EVENTS = [(10, perf.NOTE_ON, 0, 60, 127), (30, perf.CONTROL, 0, 64, 127),
          (50, perf.NOTE_OFF, 0, 60, 0), (80, perf.NOTE_ON, 0, 62, 127),
          (90, perf.NOTE_OFF, 0, 62, 0), (200, perf.CONTROL, 0, 64, 0)]


def rendered(inst: Instrument, events, block: int) -> np.ndarray:
    inst.prepare(play(events))
    parts = []
    while (part := inst.render(block)).shape[1]:
        parts.append(part)
    return np.concatenate(parts, axis=1)


def test_kinds_agree_with_the_midi_module():
    assert (instrument.NOTE_OFF, instrument.CONTROL, instrument.PROGRAM,
            instrument.PITCH_BEND, instrument.NOTE_ON) == (
        perf.NOTE_OFF, perf.CONTROL, perf.PROGRAM, perf.PITCH_BEND, perf.NOTE_ON)


@pytest.mark.parametrize("block", [1, 7, 64, 65, 1000, 100000])
def test_events_land_on_their_samples_for_any_block_size(block):
    out = rendered(Clicks(), EVENTS, block)
    left = out[0]
    assert np.all(left[:10] == 0) and left[10] == 1.0           # note on at sample 10
    # The pedal (30..200) holds both notes past their note-offs; released at 200.
    assert np.all(left[80:200] == 2.0)
    assert np.all(left[200:300] == 1.0) and left.size == 320    # release, then the end
    assert np.all(left[300:] == 0)                              # (found on a 64 boundary)
    assert np.array_equal(out, rendered(Clicks(), EVENTS, 13))


def test_the_tail_is_cut_at_max_tail():
    held = [(0, perf.NOTE_ON, 0, 60, 127)]                      # never released
    out = rendered(Clicks(max_tail=0.5), held, 100)
    assert out.shape[1] == 500


def test_all_notes_off_releases_and_all_sound_off_silences():
    events = [(0, perf.NOTE_ON, 0, 60, 127), (0, perf.NOTE_ON, 1, 60, 127),
              (10, perf.CONTROL, 0, 123, 0), (10, perf.CONTROL, 1, 120, 0)]
    out = rendered(Clicks(), events, 50)
    assert np.all(out[0, :10] == 2.0) and np.all(out[0, 10:110] == 0.5)


def test_channel_state_follows_the_gm_controllers():
    inst = Clicks()
    inst.prepare(play([(0, perf.CONTROL, 3, 7, 64), (0, perf.CONTROL, 3, 10, 0),
                       (0, perf.PITCH_BEND, 3, 8191, 0), (0, perf.CONTROL, 3, 101, 0),
                       (0, perf.CONTROL, 3, 100, 0), (0, perf.CONTROL, 3, 6, 12),
                       (0, perf.PROGRAM, 3, 40, 0)]))
    inst.render(1)
    state = inst.channels_state[3]
    assert state.gain == pytest.approx((64 / 127) ** 2)
    assert state.pan_gains == pytest.approx((1.0, 0.0), abs=1e-12)
    assert state.bend_range == 12 and state.bend_semitones == pytest.approx(12 * 8191 / 8192)
    assert state.program == 40
