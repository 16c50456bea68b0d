"""The render specification: every render and MIDI quantize option, defined once.

Each field of :class:`RenderOptions` and :class:`QuantizeOptions` carries its
:class:`Option`: the default, the range or choices, the unit, the help text and the
command-line flag. Everything else is built from these definitions, so that nothing can
drift:

- the ``audioquant render`` flags (:mod:`audioquant.cli` loops over :data:`OPTIONS`) and
  the ``audioquant midi quantize`` / ``midi stats`` flags (over :data:`QUANTIZE_OPTIONS`);
- the keyword arguments of :func:`audioquant.engine.render` and of
  :func:`audioquant.midi.quantize_song` / ``quantize_file`` (``**QuantizeOptions().as_dict()``);
- TOML presets (:func:`load_preset`, :meth:`Preset.to_toml`): the keys of a preset's
  ``[render]`` table are the render option names, those of its ``[midi]`` table the
  quantize option names. A preset may hold either table or both; each command uses its
  own table and refuses a preset that sets none of its options.

A :class:`RenderSpec` (source, output, options) describes one job and is what
:func:`audioquant.engine.render_one` takes: frozen, validated on construction, picklable.

Every check names the value the way the caller wrote it: ``bits`` from Python and in a
preset, ``--bits`` on the command line (``--bits must be in 1..32, got 40``).

This module imports nothing heavy: the CLI builds its parser from it before any command
runs. Checks that need the library (a shaper's name, a resampler quality, a sample rate's
range) import it when a value is checked.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from numbers import Integral, Real
from typing import Any

from audioquant.errors import AudioFileError, ParameterError

__all__ = ["MODES", "OPTIONS", "QUANTIZE_EXCLUSIVE", "QUANTIZE_OPTIONS", "Option", "Preset",
           "PresetError", "QuantizeOptions", "RenderOptions", "RenderSpec", "builtin_presets",
           "check_quantize_together", "load_preset", "merge_options"]

#: Seeds are 64-bit counters (``0..2**64-1``); ``None`` asks for fresh randomness.
SEED_LIMIT = 2**64

#: Options of which only one may be given (the last layer that sets one wins).
EXCLUSIVE: tuple[tuple[str, ...], ...] = (("gain_db", "normalize_dbfs"),)
#: The same for the quantize options.
QUANTIZE_EXCLUSIVE: tuple[tuple[str, ...], ...] = (("triplet", "dotted"),)

#: What a MIDI quantize moves (``midi.MODES``; a test checks that the two agree).
MODES = ("starts", "ends", "lengths")
#: MIDI channels are numbered 1..16.
CHANNELS = (1, 16)
#: Any valid resolution will do to check a note value's syntax (a grid step of 1/128 at
#: 480 PPQ is an exact fraction of a tick): the file's own PPQ is not needed.
_ANY_PPQ = 480


class PresetError(ParameterError):
    """A preset that cannot be used: unknown name, unknown key or bad value."""


@dataclass(frozen=True)
class Option:
    """One option: its Python name (also the preset key), default and checks.

    ``kind`` says how a value is checked: ``int`` and ``float`` (in ``low..high``, either
    bound may be None), ``choice`` (one of ``choices``), ``bool``, ``seed`` (an integer in
    0..2**64-1 or None), ``rate`` (a sample rate in Hz: ``low`` or the resampler's lowest
    rate, up to the highest rate audioquant handles), ``quality`` (a resampler preset) and
    ``shaping`` (a noise shaper's name). For MIDI quantize: ``percent`` (a number in
    ``low..high``, used to 0.01 %), ``grid`` (a note value such as ``1/16``, ``1/8T``),
    ``tracks`` (0-based numbers or names), ``channels`` (1..16) and ``pitches`` (an
    inclusive range of note numbers ``(lo, hi)``, written ``LO-HI`` or ``[lo, hi]``).
    ``tracks`` and ``channels`` are lists (a tuple once checked; the flag takes one or
    more values). ``None`` is allowed wherever the default is None.
    """

    default: Any
    help: str
    flag: str
    kind: str = "int"
    unit: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    #: The flag's help where it differs from ``help`` (a flag that turns an option off).
    flag_help: str = ""
    #: Flags that each set the option to a value, instead of one ``flag`` taking one:
    #: ``(flag, value, help)`` (``--ends`` and ``--lengths`` set ``mode``).
    const_flags: tuple[tuple[str, Any, str], ...] = ()
    #: The argparse attribute, where it is not ``name`` (``--pitches`` keeps ``pitches``).
    dest: str = ""
    name: str = ""

    # -- describing ----------------------------------------------------------------------

    def allowed(self) -> str:
        """The allowed values in words, for messages: ``in 1..32``, ``at least 1``."""
        unit = f" {self.unit}" if self.unit and self.kind in ("float", "rate", "percent") else ""
        low, high = self.low, self.high
        if self.kind == "rate":
            from audioquant.sampling import MAX_RATE, MIN_RESAMPLE_RATE

            low = MIN_RESAMPLE_RATE if low is None else low
            high = MAX_RATE if high is None else high
        if low is not None and high is not None:
            return f"in {low:g}..{high:g}{unit}"
        if low is not None:
            return f"at least {low:g}{unit}"
        return f"at most {high:g}{unit}" if high is not None else ""

    def default_text(self) -> str:
        """The default as a user would type it."""
        if self.kind == "seed" and self.default is None:
            return "random"
        if isinstance(self.default, bool):
            return "on" if self.default else "off"
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default)

    # -- checking ------------------------------------------------------------------------

    def check(self, value: Any, label: str | None = None) -> Any:
        """``value`` checked and in its canonical form; ParameterError naming ``label``
        (default: the option's name) otherwise."""
        label = label or self.name
        if value is None and (self.default is None or self.kind in ("seed", "shaping")):
            return "none" if self.kind == "shaping" else None
        if type(value) is type(self.default) and value == self.default:
            return value  # valid by definition (tested), and no library import to check it
        check = getattr(self, f"_check_{self.kind}")
        return check(value, label)

    def parse(self, text: str, label: str | None = None) -> Any:
        """A command-line string as a checked value (see :meth:`check`)."""
        label = label or self.flag
        if self.kind == "int":
            try:
                value = int(text)
            except ValueError:
                raise ParameterError(
                    f"{label} must be an integer {self.allowed()}, got {text!r}") from None
            return self.check(value, label)
        if self.kind == "float":
            try:
                value = float(text)
            except ValueError:
                raise ParameterError(
                    f"{label} must be a number {self.allowed()}, got {text!r}") from None
            return self.check(value, label)
        if self.kind == "seed":
            if text == "random":
                return None
            try:
                value = int(text, 0)
            except ValueError:
                raise ParameterError(
                    f"{label} must be an integer or 'random', got {text!r}") from None
            return self.check(value, label)
        if self.kind in ("rate", "percent"):
            return self.check(_number(text), label)
        if self.kind in LIST_KINDS:  # one value of the list (the flag takes several)
            return getattr(self, f"_{self.kind}_item")(text, label)
        return self.check(text, label)

    def _check_int(self, value: Any, label: str) -> int:
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise ParameterError(f"{label} must be an integer {self.allowed()}, got {value!r}")
        value = int(value)
        if (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high):
            raise ParameterError(f"{label} must be {self.allowed()}, got {value}")
        return value

    def _check_float(self, value: Any, label: str) -> float:
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ParameterError(f"{label} must be a number {self.allowed()}, got {value!r}")
        value = float(value)
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        if not low <= value <= high:  # (NaN fails too)
            raise ParameterError(f"{label} must be {self.allowed()}, got {value:g}")
        return value

    def _check_bool(self, value: Any, label: str) -> bool:
        if value is True or value is False or (
                type(value).__name__ == "bool_" and value in (True, False)):  # numpy's
            return bool(value)
        raise ParameterError(f"{label} must be true or false, got {value!r}")

    def _check_choice(self, value: Any, label: str) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise ParameterError(
                f"{label} must be one of {', '.join(self.choices)}, got {value!r}")
        return value

    def _check_seed(self, value: Any, label: str) -> int:
        if isinstance(value, str):               # a preset may write a seed as text
            return self.parse(value, label)
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise ParameterError(f"{label} must be an integer or 'random', got {value!r}")
        if not 0 <= int(value) < SEED_LIMIT:
            raise ParameterError(f"{label} must be in 0..2**64-1, got {value}")
        return int(value)

    def _check_rate(self, value: Any, label: str) -> int:
        from audioquant.sampling import check_rate

        if self.low is None:
            return check_rate(label, value)
        return check_rate(label, value, int(self.low))

    def _check_quality(self, value: Any, label: str) -> str:
        from audioquant.sampling import QUALITIES, parse_quality

        names = [name.replace(" ", "-") for name in QUALITIES]
        try:
            return parse_quality(value).name.replace(" ", "-")
        except (ParameterError, AttributeError):
            raise ParameterError(
                f"{label} must be one of {', '.join(names)}, got {value!r}") from None

    def _check_shaping(self, value: Any, label: str) -> str:
        from audioquant.processors import check_shaping

        if not isinstance(value, str):
            raise ParameterError(f"{label} must be a shaper's name, got {value!r}")
        try:
            check_shaping(value)
        except ParameterError as exc:
            raise ParameterError(_relabel(str(exc), self.name, label)) from None
        return value

    def _check_instrument(self, value: Any, label: str) -> str:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not (value == "synth"
                                              or value.lower().endswith(".sf2")):
            raise ParameterError(f"{label} must be synth or a SoundFont file (.sf2), "
                                 f"got {value!r}")
        return value

    # -- MIDI quantize's kinds (the midi package is imported only to check a value) -------

    def _check_percent(self, value: Any, label: str) -> float:
        from audioquant.midi.errors import MidiParameterError, check_percent

        try:  # (rounded to 0.01 %, the resolution quantize works to)
            return float(check_percent(label, value, self.low, self.high))
        except MidiParameterError as exc:
            raise ParameterError(str(exc)) from None

    def _check_grid(self, value: Any, label: str) -> str:
        from audioquant.midi import Grid, MidiParameterError

        try:
            Grid.parse(value, _ANY_PPQ)
        except MidiParameterError as exc:
            raise ParameterError(_relabel(str(exc), "grid", label)) from None
        return value

    def _check_pitches(self, value: Any, label: str) -> tuple[int, int]:
        if isinstance(value, (list, tuple)):  # [lo, hi], as a preset writes it
            if len(value) != 2 or not all(_is_int(v) for v in value) or not (
                    0 <= value[0] <= value[1] <= 127):
                raise ParameterError(f"{label} must be [LO, HI] with 0 <= LO <= HI <= 127, "
                                     f"got {list(value)!r}")
            return int(value[0]), int(value[1])
        if _is_int(value):
            value = str(value)
        from audioquant.midi import MidiParameterError, parse_pitch_range

        try:
            return parse_pitch_range(value)
        except MidiParameterError as exc:
            raise ParameterError(_relabel(str(exc), "pitches", label)) from None

    def _check_tracks(self, value: Any, label: str) -> tuple[int | str, ...]:
        return self._check_list(value, label, self._tracks_item, "track")

    def _check_channels(self, value: Any, label: str) -> tuple[int, ...]:
        return self._check_list(value, label, self._channels_item, "channel")

    @staticmethod
    def _check_list(value: Any, label: str, item: Callable[[Any, str], Any],
                    what: str) -> tuple:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]  # one track or channel, as the API takes it
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"{label} must be a list of {what}s, got {value!r}")
        if not value:
            raise ParameterError(f"{label} must name at least one {what}, got none")
        return tuple(item(v, label) for v in value)

    @staticmethod
    def _tracks_item(value: Any, label: str) -> int | str:
        """A track: a number from 0, or a name (whether the file has it is known only once
        it is read). Text that is a number is the number."""
        if isinstance(value, str):
            stripped = value.strip()
            if not stripped:
                raise ParameterError(
                    f"{label} must be track numbers from 0 or track names, got {value!r}")
            if not stripped.lstrip("+-").isdigit():
                return value
            value = int(stripped)
        if not _is_int(value):
            raise ParameterError(
                f"{label} must be track numbers from 0 or track names, got {value!r}")
        if value < 0:
            raise ParameterError(f"{label} must be >= 0, got {value}")
        return int(value)

    @staticmethod
    def _channels_item(value: Any, label: str) -> int:
        """A MIDI channel, 1..16."""
        low, high = CHANNELS
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                pass
        if not _is_int(value):
            raise ParameterError(
                f"{label} must be whole numbers in {low}..{high}, got {value!r}")
        if not low <= value <= high:
            raise ParameterError(f"{label} must be in {low}..{high}, got {value}")
        return int(value)


#: Kinds whose value is a list (a tuple once checked).
LIST_KINDS = ("tracks", "channels")


def _is_int(value: Any) -> bool:
    """Whether ``value`` is a whole number (numpy's too), and not a bool."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _relabel(text: str, name: str, label: str) -> str:
    """A library message about ``name``, told about ``label`` (the flag or the key the
    user wrote): ``grid must be ...`` -> ``--grid must be ...``."""
    if text.startswith(name + " "):
        return label + text[len(name):]
    return text if text.startswith(label) else f"{label}: {text}"


def _number(text: str) -> int | float | str:
    """``text`` as an int, else a float, else itself (for the check to name)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _option(default: Any, help: str, flag: str, **kwargs: Any) -> Any:  # noqa: A002
    """A dataclass field whose metadata is its :class:`Option`."""
    return field(default=default, metadata={"option": Option(default, help, flag, **kwargs)})


@dataclass(frozen=True)
class RenderOptions:
    """The settings of one render; each field's :class:`Option` is its definition.

    Construction checks every value (ParameterError naming the field) and stores its
    canonical form (``shaping=None`` becomes ``"none"``, ``quality="VHQ"`` becomes
    ``"very-high"``).
    """

    bits: int = _option(
        16, "target depth", "--bits", low=1, high=32, unit="bits", metavar="N")
    dither: str = _option(
        "tpdf", "dither: rpdf is 1 LSB peak to peak, tpdf 2 LSB, hp-tpdf high-passed tpdf",
        "--dither", kind="choice", choices=("none", "rpdf", "tpdf", "hp-tpdf"))
    shaping: str = _option(
        "none", "noise shaper: a catalog name, designed[:N[:468|ath]], 'auto' or 'none' "
        "(see `audioquant shapers`)", "--shaping", kind="shaping", metavar="NAME")
    seed: int | None = _option(
        0, "dither seed 0..2**64-1, or 'random'", "--seed", kind="seed", metavar="S")
    rate: int | None = _option(
        None, "resample to HZ (band-limited) before requantizing; a MIDI input is played "
        "at HZ (default 44100)", "--rate", kind="rate",
        unit="Hz", metavar="HZ")
    quality: str = _option(
        "high", "with --rate: resampler quality quick, low, medium, high or very-high",
        "--quality", kind="quality", metavar="Q")
    hold_rate: int | None = _option(
        None, "sample-and-hold rate reduction to HZ, no filter (lo-fi)", "--hold-rate",
        kind="rate", low=1, unit="Hz", metavar="HZ")
    gain_db: float = _option(
        0.0, "gain applied before requantizing", "--gain", kind="float",
        low=-120.0, high=60.0, unit="dB", metavar="DB")
    normalize_dbfs: float | None = _option(
        None, "scale so that the peak sample is at DBFS (reads the input twice); not with "
        "--gain", "--normalize", kind="float", low=-60.0, high=0.0, unit="dBFS",
        metavar="DBFS")
    auto_blank: bool = _option(
        True, "leave runs of samples that are already exact undithered (--no-auto-blank: "
        "dither every sample)", "--no-auto-blank", kind="bool",
        flag_help="dither every sample, even runs that are already exact")
    block_size: int | None = _option(
        None, "frames per processing block (default 2**19 samples' worth; the output is "
        "identical for any size)", "--block", low=1, unit="frames", metavar="N")
    instrument: str = _option(
        "synth", "what plays a MIDI input: the built-in synth, or a SoundFont file "
        "(FONT.sf2, General MIDI programs, drums on channel 10)", "--instrument",
        kind="instrument", metavar="synth|FONT.sf2")

    def __post_init__(self) -> None:
        for f in fields(self):
            option = f.metadata["option"]
            object.__setattr__(self, f.name, option.check(getattr(self, f.name), f.name))
        if self.gain_db != 0 and self.normalize_dbfs is not None:
            raise ParameterError("gain_db and normalize_dbfs cannot be used together: "
                                 "normalizing sets the gain")

    def as_dict(self) -> dict[str, Any]:
        """Every option by name."""
        return {name: getattr(self, name) for name in OPTIONS}

    def changed(self) -> dict[str, Any]:
        """The options that differ from their defaults."""
        return {name: value for name, value in self.as_dict().items()
                if value != OPTIONS[name].default}


def _named_options(cls: type) -> dict[str, Option]:
    """The :class:`Option` of every field of ``cls`` by name, in field order, each told
    its name."""
    options = {}
    for f in fields(cls):
        object.__setattr__(f.metadata["option"], "name", f.name)
        options[f.name] = f.metadata["option"]
    return options


#: Every render option by name, in the order of :class:`RenderOptions`.
OPTIONS: dict[str, Option] = _named_options(RenderOptions)


@dataclass(frozen=True)
class QuantizeOptions:
    """The settings of one MIDI quantize; each field's :class:`Option` is its definition.

    The fields are the keyword arguments of :func:`audioquant.midi.quantize_song` (and
    ``quantize_file``), with the same defaults: ``midi.quantize_song(song,
    **options.as_dict())``. (``min_length`` is the API's alone: no flag, no preset key.)
    Percentages are of one grid step, except ``strength`` (of the way to the line) and
    ``swing`` (of a pair of steps); they are used to 0.01 %, and stored so.

    Construction checks every value (ParameterError naming the field), then the
    combinations that can move no note (:func:`check_quantize_together`).
    """

    grid: str = _option(
        "1/16", "note value 1/1 .. 1/128, e.g. 1/16, 1/8T (triplet), 1/8. (dotted)",
        "--grid", kind="grid")
    triplet: bool = _option(
        False, "triplet grid (step x 2/3)", "--triplet", kind="bool")
    dotted: bool = _option(
        False, "dotted grid (step x 3/2)", "--dotted", kind="bool")
    swing: float = _option(
        50.0, "second line of each pair of steps at PCT % of the pair", "--swing",
        kind="percent", low=50, high=75, unit="%", metavar="PCT")
    strength: float = _option(
        100.0, "how far notes move toward their line, in % of the way", "--strength",
        kind="percent", low=0, high=100, unit="%", metavar="PCT")
    exclude_within: float = _option(
        0.0, "leave notes this close to a line, in % of a step", "--exclude-within",
        kind="percent", low=0, high=100, unit="%", metavar="PCT")
    catch_range: float = _option(
        100.0, "only move notes this close to a line, in % of a step", "--range",
        kind="percent", low=0, high=100, unit="%", metavar="PCT")
    mode: str = _option(
        "lengths", "what moves: whole notes keeping their lengths (the default, as in "
        "Logic, Cubase and Ableton), note starts only, or starts and ends", "",
        kind="choice", choices=MODES,
        const_flags=(("--lengths", "lengths", "move whole notes, keeping their lengths "
                      "(the default)"),
                     ("--starts-only", "starts", "move note starts only; ends stay, so "
                      "notes change length"),
                     ("--ends", "ends", "quantize note ends too")))
    chord_ms: float = _option(
        30.0, "notes of one track and channel starting within MS ms of a chord's first "
        "note (at most a quarter step) move together to one line; 0: each note on its own",
        "--chord-ms", kind="float", low=0, high=200, unit="ms", metavar="MS")
    offset: float = _option(
        0.0, "shift the grid by PCT % of a step", "--offset", kind="percent", low=-100,
        high=100, unit="%", metavar="PCT")
    tracks: tuple[int | str, ...] | None = _option(
        None, "only these tracks: 0-based numbers or track names", "--tracks",
        kind="tracks", metavar="TRACK")
    channels: tuple[int, ...] | None = _option(
        None, "only these channels, 1..16", "--channels", kind="channels", metavar="CH")
    pitch_range: tuple[int, int] | None = _option(
        None, "only these note numbers, e.g. 36-38", "--pitches", kind="pitches",
        metavar="LO-HI", dest="pitches")

    def __post_init__(self) -> None:
        for f in fields(self):
            option = f.metadata["option"]
            object.__setattr__(self, f.name, option.check(getattr(self, f.name), f.name))
        check_quantize_together(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """Every option by name: the keyword arguments of ``midi.quantize_song``."""
        return {name: getattr(self, name) for name in QUANTIZE_OPTIONS}

    def changed(self) -> dict[str, Any]:
        """The options that differ from their defaults."""
        return {name: value for name, value in self.as_dict().items()
                if value != QUANTIZE_OPTIONS[name].default}


#: Every MIDI quantize option by name, in the order of :class:`QuantizeOptions`.
QUANTIZE_OPTIONS: dict[str, Option] = _named_options(QuantizeOptions)


def check_quantize_together(values: Mapping[str, Any],
                            label: Callable[[str], str] = str) -> None:
    """ParameterError for quantize settings that are each valid but cannot work together.

    ``values`` are checked options by name (a missing one is its default); ``label``
    names an option in the message (the CLI gives the flag, or the preset's key).
    """
    v = {name: values.get(name, option.default) for name, option in QUANTIZE_OPTIONS.items()}
    if v["triplet"] and v["dotted"]:
        raise ParameterError(f"{label('triplet')} and {label('dotted')} cannot both be set")
    suffix = v["grid"].strip()[-1:]
    kind = "triplet" if suffix in ("t", "T") else "dotted" if suffix == "." else None
    if (kind == "triplet" and v["dotted"]) or (kind == "dotted" and v["triplet"]):
        other = "dotted" if v["dotted"] else "triplet"
        raise ParameterError(f"{label('grid')} {v['grid']} is already a {kind} value; "
                             f"{label(other)} cannot apply too")
    exclude, catch, swing = v["exclude_within"], v["catch_range"], v["swing"]
    if exclude >= catch:
        raise ParameterError(
            f"{label('exclude_within')} {exclude:g} is not below {label('catch_range')} "
            f"{catch:g}: every note the range catches is excluded, so no note can move")
    if exclude >= swing:
        # The lines are at most 2 * swing % of a step apart (the longer gap of a swung
        # pair), so no note is farther than swing % of a step from its nearest line.
        raise ParameterError(
            f"{label('exclude_within')} {exclude:g} leaves every note where it is: at "
            f"{label('swing')} {swing:g} no note is more than {swing:g} % of a step from "
            "a grid line")


def merge_options(*layers: Mapping[str, Any],
                  exclusive: tuple[tuple[str, ...], ...] = EXCLUSIVE) -> dict[str, Any]:
    """Options set by ``layers`` (e.g. a preset, then the command line's flags), later
    layers winning; a layer that sets one option of an ``exclusive`` group (``gain_db``,
    ``normalize_dbfs``; for quantize, :data:`QUANTIZE_EXCLUSIVE`) drops the others from
    the layers before it."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for group in exclusive:
            if any(name in layer for name in group):
                for name in group:
                    merged.pop(name, None)
        merged.update(layer)
    return merged


@dataclass(frozen=True)
class RenderSpec:
    """One render job: ``source`` (an audio file, ``-`` for standard input, or a MIDI
    file, played by ``options.instrument`` after ``quantize``) into ``output`` (``-`` for
    standard output) with ``options``.

    Frozen and made of plain values, so it pickles: a process pool or a Dask worker gets
    the same job. :meth:`of` builds one from keyword options.
    """

    source: str
    output: str
    options: RenderOptions = field(default_factory=RenderOptions)
    #: For a MIDI source: quantize it first with these settings (None: play it as played).
    quantize: QuantizeOptions | None = None

    def __post_init__(self) -> None:
        if self.quantize is not None and not isinstance(self.quantize, QuantizeOptions):
            raise ParameterError(f"quantize must be QuantizeOptions or None, got "
                                 f"{self.quantize!r}")
        for name in ("source", "output"):
            value = getattr(self, name)
            if not isinstance(value, (str, bytes, os.PathLike)):
                raise ParameterError(f"{name} must be a path, got {value!r}")
            value = os.fspath(value)
            if not value:
                raise ParameterError(f"{name} must be a path, got an empty one")
            object.__setattr__(self, name, value)
        if not isinstance(self.options, RenderOptions):
            raise ParameterError(f"options must be RenderOptions, got {self.options!r}")

    @classmethod
    def of(cls, source: str | os.PathLike, output: str | os.PathLike,
           quantize: Mapping[str, Any] | QuantizeOptions | None = None,
           **options: Any) -> RenderSpec:
        """``RenderSpec(source, output, RenderOptions(**options), QuantizeOptions(
        **quantize))``; a TypeError for an option that does not exist, as for a
        function."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise TypeError(f"unknown render option {unknown[0]!r}; the options are "
                            f"{', '.join(OPTIONS)}")
        if quantize is not None and not isinstance(quantize, QuantizeOptions):
            unknown = sorted(set(quantize) - set(QUANTIZE_OPTIONS))
            if unknown:
                raise TypeError(f"unknown quantize option {unknown[0]!r}; the options are "
                                f"{', '.join(QUANTIZE_OPTIONS)}")
            quantize = QuantizeOptions(**quantize)
        return cls(source, output, RenderOptions(**options), quantize)


# -- presets -----------------------------------------------------------------------------

#: The folder of the built-in presets (``NAME.toml``).
PRESET_DIR = os.path.join(os.path.dirname(__file__), "presets")
#: The table of a preset file that holds render options (``audioquant render``).
RENDER_TABLE = "render"
#: The table of a preset file that holds MIDI quantize options (``audioquant midi quantize``).
MIDI_TABLE = "midi"
#: Each table: its options, the command that uses it, and what its options are called.
TABLES: dict[str, tuple[dict[str, Option], str, str]] = {
    RENDER_TABLE: (OPTIONS, "audioquant render", "render"),
    MIDI_TABLE: (QUANTIZE_OPTIONS, "audioquant midi quantize", "MIDI quantize"),
}


@dataclass(frozen=True)
class Preset:
    """A named set of options (only those it sets), from a TOML file::

        description = "audio CD: 44.1 kHz, 16-bit, TPDF dither, best noise shaper"

        [render]
        rate = 44100
        bits = 16

    ``options`` are the render options (the ``[render]`` table), ``midi`` the MIDI
    quantize options (the ``[midi]`` table); a preset may set either or both.
    """

    name: str
    description: str
    options: Mapping[str, Any]
    path: str
    builtin: bool = False
    midi: Mapping[str, Any] = field(default_factory=dict)

    def table(self, name: str) -> Mapping[str, Any]:
        """The options of table ``name`` (``render`` or ``midi``), for the command that
        uses it; PresetError when the preset sets none of them (it is for the other
        command, or for none)."""
        settings = self.options if name == RENDER_TABLE else self.midi
        if not settings:
            _, _, what = TABLES[name]
            others = [command for table, (_, command, _) in TABLES.items()
                      if table != name and (self.options if table == RENDER_TABLE else self.midi)]
            hint = f"; it is a preset for `{others[0]}`" if others else ""
            raise PresetError(f"{self._where()} sets no {what} options (no [{name}] table)"
                              f"{hint}")
        return settings

    def _where(self) -> str:
        return f"preset {self.name}" if self.builtin else f"preset {self.path}"

    def flags(self) -> str:
        """The preset's render options as the equivalent ``render`` flags."""
        return _flags(self.options, OPTIONS)

    def midi_flags(self) -> str:
        """The preset's quantize options as the equivalent ``midi quantize`` flags."""
        return _flags(self.midi, QUANTIZE_OPTIONS)

    def to_toml(self) -> str:
        """The preset as a TOML file that :func:`load_preset` reads back to the same."""
        where = "built in" if self.builtin else self.path
        lines = [f"# audioquant preset {self.name} ({where})",
                 f"description = {_toml_value(self.description)}"]
        for table, settings in ((RENDER_TABLE, self.options), (MIDI_TABLE, self.midi)):
            if not settings:
                continue
            lines += ["", f"[{table}]"]
            for name, value in settings.items():
                if value is None:  # TOML has no null: only a seed can be None (random)
                    value = "random"
                lines.append(f"{name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


def _flags(settings: Mapping[str, Any], options: Mapping[str, Option]) -> str:
    """``settings`` as the command-line flags that give them."""
    words = []
    for name, value in settings.items():
        option = options[name]
        if option.const_flags:
            words += [flag for flag, const, _ in option.const_flags if const == value]
        elif option.kind == "bool":
            if value != option.default:
                words.append(option.flag)
        elif option.kind in LIST_KINDS:
            words += [option.flag, *map(str, value)]
        elif option.kind == "pitches":
            words += [option.flag, f"{value[0]}-{value[1]}"]
        else:
            words += [option.flag, "random" if value is None else _flag_text(value)]
    return " ".join(words)


def _flag_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # TOML integers are 64-bit signed: a larger seed is written as text
        return str(value) if value < 2**63 else f'"{value:#x}"'
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value))  # a JSON string with \\uXXXX escapes is a TOML string


def builtin_presets() -> dict[str, Preset]:
    """The presets that come with audioquant, by name."""
    names = sorted(entry[:-5] for entry in os.listdir(PRESET_DIR) if entry.endswith(".toml"))
    return {name: load_preset(name) for name in names}


def load_preset(name_or_path: str | os.PathLike) -> Preset:
    """A built-in preset by name (``cd``), or a TOML file (``my.toml``, any path).

    PresetError (a ParameterError) for an unknown name, a file that is not TOML, an
    unknown key or a bad value, naming the file and the key; AudioFileError when the file
    cannot be read.
    """
    text = os.fspath(name_or_path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    builtin = not (text.endswith(".toml") or os.sep in text or "/" in text)
    if builtin:
        path = os.path.join(PRESET_DIR, text + ".toml")
        if not text or text.startswith(".") or not os.path.isfile(path):
            known = sorted(entry[:-5] for entry in os.listdir(PRESET_DIR)
                           if entry.endswith(".toml"))
            raise PresetError(f"unknown preset {text!r}; choose one of {', '.join(known)}, "
                              "or give a .toml file")
        name, where = text, f"preset {text}"
    else:
        path = text
        name = os.path.splitext(os.path.basename(text))[0]
        where = f"preset {text}"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise AudioFileError(f"cannot read preset {text}: {exc.strerror or exc}") from None
    return _parse_preset(data, name, path, where, builtin)


def _parse_preset(data: bytes, name: str, path: str, where: str, builtin: bool) -> Preset:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise PresetError(f"{where} is not a TOML file: it is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{where} is not a valid TOML file: {exc}") from None
    description = table.pop("description", "")
    if not isinstance(description, str):
        raise PresetError(f"{where}: description must be text, got {description!r}")
    tables = {name: table.pop(name, {}) for name in TABLES}
    for key in table:
        raise PresetError(f"{where}: unknown key {key!r}; a preset has a description and "
                          f"a [{RENDER_TABLE}] table, a [{MIDI_TABLE}] table or both")
    render = _parse_table(where, RENDER_TABLE, tables[RENDER_TABLE], RenderOptions)
    midi = _parse_table(where, MIDI_TABLE, tables[MIDI_TABLE], QuantizeOptions)
    return Preset(name, description, render, path, builtin, midi)


def _parse_table(where: str, name: str, table: Any, cls: type) -> dict[str, Any]:
    """The checked options of a preset's table ``name``; PresetError naming ``where``
    and the key for an unknown key or a bad value, or a combination ``cls`` refuses."""
    options, _, _ = TABLES[name]
    if not isinstance(table, dict):
        raise PresetError(f"{where}: {name} must be a table ([{name}]), got {table!r}")
    checked: dict[str, Any] = {}
    for key, value in table.items():
        option = options.get(key)
        if option is None:
            raise PresetError(f"{where}: unknown key {key!r} in [{name}]"
                              f"{_did_you_mean(key, options)}; the keys are "
                              f"{', '.join(options)}")
        try:
            checked[key] = option.check(value, key)
        except ParameterError as exc:
            raise PresetError(f"{where}: {exc}") from None
    try:
        cls(**checked)
    except ParameterError as exc:
        raise PresetError(f"{where}: {exc}") from None
    return checked


def _did_you_mean(key: str, names: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key.replace("-", "_"), list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
