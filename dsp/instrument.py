"""Instruments: play a MIDI performance into audio, block by block, every event on its sample.

An :class:`Instrument` takes a performance's event arrays (``audioquant.midi.Performance``:
``sample``, ``kind``, ``channel``, ``a``, ``b``, see :mod:`audioquant.midi.playback`)
and renders stereo float64 audio ``(2, frames)`` at the performance's rate. The base class
owns what every instrument shares:

- the event loop: a block is split at each event's sample, the voices are rendered up to
  it (:meth:`Instrument.render_voices`), then the event is applied; so a note starts on
  its exact sample whatever the block size, and the output is bit-identical for any way
  of splitting the stream into blocks;
- the MIDI channel state (:class:`ChannelState`): program, volume (CC 7), expression
  (CC 11), pan (CC 10), sustain pedal (CC 64, with the notes it holds), pitch bend
  (+-2 semitones, or what RPN 0 sets), all notes off / all sound off (CC 123 / 120) and
  reset all controllers (CC 121);
- the end: the stream ends at the first multiple of :data:`END_STEP` samples after the
  last event at which no voice sounds (the release tail rendered to silence), or
  ``max_tail`` seconds after the last event, whichever is first. That sample does not
  depend on the block size either.

A subclass implements :meth:`start_note`, :meth:`release_note`, :meth:`render_voices`,
:meth:`sounding` and, if it needs to, :meth:`prepare_voices`, :meth:`controls_changed` and
:meth:`check`.
The channel state is in ``self.channels_state[channel]``. Units: samples, Hz, MIDI values.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DRUM_CHANNEL", "ChannelState", "Instrument"]

#: The stream ends on a multiple of this many samples once the voices are silent.
END_STEP = 64

#: The General MIDI percussion channel (the wire value 9: "channel 10").
DRUM_CHANNEL = 9

# Event kinds: the values of audioquant.midi.playback (repeated here because dsp
# imports nothing of midi; tests/dsp checks they agree).
NOTE_OFF, CONTROL, PROGRAM, PITCH_BEND, NOTE_ON = 0, 1, 2, 3, 4

#: Controllers the channel state follows.
CC_VOLUME, CC_PAN, CC_EXPRESSION, CC_SUSTAIN = 7, 10, 11, 64
CC_DATA_MSB, CC_DATA_LSB, CC_RPN_LSB, CC_RPN_MSB = 6, 38, 100, 101
CC_ALL_SOUND_OFF, CC_RESET, CC_ALL_NOTES_OFF = 120, 121, 123


class ChannelState:
    """One MIDI channel's controllers, as the MIDI and GM specifications define them.

    ``program`` 0..127; ``volume``, ``expression``, ``pan`` 0..127 (64: centre);
    ``sustain`` (pedal down: CC 64 >= 64); ``bend`` -8192..8191; ``bend_range`` in
    semitones (RPN 0; default 2); ``held``: the pitches whose key is up but that the
    pedal holds.
    """

    def __init__(self) -> None:
        self.program = 0
        self.reset_controllers()

    def reset_controllers(self) -> None:
        """CC 121 (and the start): the GM defaults, program kept."""
        self.volume = 100
        self.expression = 127
        self.pan = 64
        self.sustain = False
        self.bend = 0
        self.bend_range = 2.0
        self.rpn = (127, 127)
        self.held: set[int] = set()

    @property
    def bend_semitones(self) -> float:
        """The pitch bend now, in semitones."""
        return self.bend / 8192 * self.bend_range

    @property
    def gain(self) -> float:
        """Volume x expression as a linear amplitude: (CC7/127)^2 x (CC11/127)^2, the
        GM recommendation (about -40 log10 dB each)."""
        return (self.volume / 127) ** 2 * (self.expression / 127) ** 2

    @property
    def pan_gains(self) -> tuple[float, float]:
        """Left and right gains of the constant-power pan law at CC 10 (0 left, 64
        centre, 127 right)."""
        position = (max(self.pan, 1) - 1) / 126        # 1..127 -> 0..1; 0 counts as 1
        return float(np.cos(position * np.pi / 2)), float(np.sin(position * np.pi / 2))


class Instrument:
    """Base class of instruments (see the module). ``max_tail``: the longest release tail
    rendered after the last event [seconds]."""

    #: Output channels (stereo).
    channels = 2

    def __init__(self, *, max_tail: float = 30.0) -> None:
        if not max_tail >= 0:
            raise ValueError(f"max_tail must be >= 0 seconds, got {max_tail!r}")
        self.max_tail = float(max_tail)
        self.sample_rate = 0

    # -- what a subclass provides ---------------------------------------------------------

    def check(self, play) -> None:
        """Raise (one clear message) for a performance this instrument cannot play, e.g. a
        SoundFont without a program the file asks for; called before any audio is made.
        The default plays anything."""

    def prepare_voices(self, sample_rate: int) -> None:
        """Set up for ``sample_rate`` Hz with no voice sounding (called by :meth:`prepare`)."""

    def start_note(self, channel: int, pitch: int, velocity: int) -> None:
        """A note-on (velocity 1..127) at the current sample."""
        raise NotImplementedError

    def release_note(self, channel: int, pitch: int) -> None:
        """The note ``pitch`` on ``channel`` enters its release (key up, pedal up)."""
        raise NotImplementedError

    def stop_channel(self, channel: int) -> None:
        """All sound off on ``channel`` (CC 120): silence its voices at once."""
        raise NotImplementedError

    def controls_changed(self, channel: int) -> None:
        """``channels_state[channel]`` changed (volume, pan, bend, program, ...)."""

    def render_voices(self, out: np.ndarray) -> None:
        """Add the sounding voices' next ``out.shape[1]`` samples into ``out`` (2, n)
        [float64, full scale 1.0] and advance them; voices that fall silent end."""
        raise NotImplementedError

    def sounding(self) -> bool:
        """True while any voice makes sound."""
        raise NotImplementedError

    # -- the event loop -------------------------------------------------------------------

    def prepare(self, play) -> None:
        """Start playing ``play`` (an ``audioquant.midi.Performance``) from its sample 0."""
        self.sample_rate = int(play.sample_rate)
        self._sample = np.asarray(play.sample, dtype=np.int64)
        self._kind = np.asarray(play.kind, dtype=np.int64)
        self._channel = np.asarray(play.channel, dtype=np.int64)
        self._a = np.asarray(play.a, dtype=np.int64)
        self._b = np.asarray(play.b, dtype=np.int64)
        self._last_event = int(self._sample[-1]) if self._sample.size else 0
        self._limit = self._last_event + int(round(self.max_tail * self.sample_rate))
        self._next = 0             # index of the next event to apply
        self._now = 0              # the next sample to render
        self.end: int | None = None  # the stream's length, once reached
        self.channels_state = [ChannelState() for _ in range(16)]
        self._down: list[set[int]] = [set() for _ in range(16)]   # keys down per channel
        self.prepare_voices(self.sample_rate)

    def render(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames ``(2, frames)``, float64; fewer at the end of the
        stream (and then ``(2, 0)``). Bit-identical however the stream is split."""
        out = np.zeros((self.channels, max(int(frames), 0)))
        done = 0
        while done < out.shape[1] and self.end is None:
            # Apply every event due now, then render up to the next one.
            while self._next < self._sample.size and self._sample[self._next] <= self._now:
                self._apply(self._next)
                self._next += 1
            if self._next >= self._sample.size and self._now >= self._last_event \
                    and (self._silent_here() or self._now >= self._limit):
                self.end = self._now
                break
            upto = self._sample[self._next] if self._next < self._sample.size else None
            n = out.shape[1] - done
            if upto is not None:
                n = min(n, int(upto) - self._now)
            elif self._now < self._limit:
                n = min(n, self._limit - self._now)
            n = self._until_silent(out[:, done:done + n]) if upto is None else \
                self._render_span(out[:, done:done + n])
            done += n
        return out[:, :done]

    def _render_span(self, out: np.ndarray) -> int:
        self.render_voices(out)
        self._now += out.shape[1]
        return out.shape[1]

    def _silent_here(self) -> bool:
        """The stream may end here: no voice sounds and this is a multiple of
        :data:`END_STEP` samples (so the end does not depend on the block size)."""
        return self._now % END_STEP == 0 and not self.sounding()

    def _until_silent(self, out: np.ndarray) -> int:
        """After the last event: render in steps up to the next multiple of
        :data:`END_STEP` until the voices are silent there; return the samples rendered."""
        done = 0
        while done < out.shape[1] and not self._silent_here():
            step = min(END_STEP - self._now % END_STEP, out.shape[1] - done)
            self._render_span(out[:, done:done + step])
            done += step
        return done

    def _apply(self, i: int) -> None:
        kind, channel, a, b = (int(self._kind[i]), int(self._channel[i]), int(self._a[i]),
                               int(self._b[i]))
        state = self.channels_state[channel]
        if kind == NOTE_ON:
            self._down[channel].add(a)
            state.held.discard(a)
            self.start_note(channel, a, b)
        elif kind == NOTE_OFF:
            self._down[channel].discard(a)
            if state.sustain:
                state.held.add(a)
            else:
                self.release_note(channel, a)
        elif kind == PROGRAM:
            state.program = a
            self.controls_changed(channel)
        elif kind == PITCH_BEND:
            state.bend = a
            self.controls_changed(channel)
        elif kind == CONTROL:
            self._control(channel, state, a, b)

    def _control(self, channel: int, state: ChannelState, controller: int, value: int) -> None:
        if controller == CC_SUSTAIN:
            down = value >= 64
            if state.sustain and not down:
                for pitch in sorted(state.held):
                    self.release_note(channel, pitch)
                state.held.clear()
            state.sustain = down
        elif controller == CC_VOLUME:
            state.volume = value
        elif controller == CC_EXPRESSION:
            state.expression = value
        elif controller == CC_PAN:
            state.pan = value
        elif controller == CC_RPN_MSB:
            state.rpn = (value, state.rpn[1])
        elif controller == CC_RPN_LSB:
            state.rpn = (state.rpn[0], value)
        elif controller == CC_DATA_MSB and state.rpn == (0, 0):
            state.bend_range = value + (state.bend_range % 1)
        elif controller == CC_DATA_LSB and state.rpn == (0, 0):
            state.bend_range = int(state.bend_range) + value / 100
        elif controller == CC_RESET:
            program = state.program
            state.reset_controllers()
            state.program = program
        elif controller == CC_ALL_NOTES_OFF:
            for pitch in sorted(self._down[channel] | state.held):
                self.release_note(channel, pitch)
            self._down[channel].clear()
            state.held.clear()
            return
        elif controller == CC_ALL_SOUND_OFF:
            self.stop_channel(channel)
            self._down[channel].clear()
            state.held.clear()
            return
        else:
            return
        self.controls_changed(channel)
