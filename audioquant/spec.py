"""The render specification: every render option, defined once.

Each field of :class:`RenderOptions` carries its :class:`Option`: the default, the range
or choices, the unit, the help text and the command-line flag. Everything else is built
from these definitions, so that nothing can drift:

- the ``audioquant render`` flags (:mod:`audioquant.cli` loops over :data:`OPTIONS`);
- the keyword arguments of :func:`audioquant.engine.render` and their defaults;
- TOML presets (:func:`load_preset`, :meth:`Preset.to_toml`): the keys of a preset's
  ``[render]`` table are the option names.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from numbers import Integral, Real
from typing import Any

from audioquant.errors import AudioFileError, ParameterError

__all__ = ["OPTIONS", "Option", "Preset", "PresetError", "RenderOptions", "RenderSpec",
           "builtin_presets", "load_preset", "merge_options"]

#: Seeds are 64-bit counters (``0..2**64-1``); ``None`` asks for fresh randomness.
SEED_LIMIT = 2**64

#: Options of which only one may be given (the last layer that sets one wins).
EXCLUSIVE: tuple[tuple[str, ...], ...] = (("gain_db", "normalize_dbfs"),)


class PresetError(ParameterError):
    """A preset that cannot be used: unknown name, unknown key or bad value."""


@dataclass(frozen=True)
class Option:
    """One render option: its Python name (also the preset key), default and checks.

    ``kind`` says how a value is checked: ``int`` and ``float`` (in ``low..high``, either
    bound may be None), ``choice`` (one of ``choices``), ``bool``, ``seed`` (an integer in
    0..2**64-1 or None), ``rate`` (a sample rate in Hz: ``low`` or the resampler's lowest
    rate, up to the highest rate audioquant handles), ``quality`` (a resampler preset) and
    ``shaping`` (a noise shaper's name). ``None`` is allowed wherever the default is None.
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
    name: str = ""

    # -- describing ----------------------------------------------------------------------

    def allowed(self) -> str:
        """The allowed values in words, for messages: ``in 1..32``, ``at least 1``."""
        unit = f" {self.unit}" if self.unit and self.kind in ("float", "rate") else ""
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
        if self.kind == "rate":
            return self.check(_number(text), label)
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
            text = str(exc)
            if text.startswith(self.name + " "):
                raise ParameterError(label + text[len(self.name):]) from None
            raise ParameterError(f"{label}: {text}") from None
        return value


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
        None, "resample to HZ (band-limited) before requantizing", "--rate", kind="rate",
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


#: Every render option by name, in the order of :class:`RenderOptions`.
OPTIONS: dict[str, Option] = {}
for _f in fields(RenderOptions):
    object.__setattr__(_f.metadata["option"], "name", _f.name)
    OPTIONS[_f.name] = _f.metadata["option"]
del _f


def merge_options(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Options set by ``layers`` (e.g. a preset, then the command line's flags), later
    layers winning; a layer that sets one option of an exclusive pair (``gain_db``,
    ``normalize_dbfs``) drops the other from the layers before it."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for group in EXCLUSIVE:
            if any(name in layer for name in group):
                for name in group:
                    merged.pop(name, None)
        merged.update(layer)
    return merged


@dataclass(frozen=True)
class RenderSpec:
    """One render job: ``source`` (an audio file, ``-`` for standard input) into
    ``output`` (``-`` for standard output) with ``options``.

    Frozen and made of plain values, so it pickles: a process pool or a Dask worker gets
    the same job. :meth:`of` builds one from keyword options.
    """

    source: str
    output: str
    options: RenderOptions = field(default_factory=RenderOptions)

    def __post_init__(self) -> None:
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
           **options: Any) -> RenderSpec:
        """``RenderSpec(source, output, RenderOptions(**options))``; a TypeError for an
        option that does not exist, as for a function."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise TypeError(f"unknown render option {unknown[0]!r}; the options are "
                            f"{', '.join(OPTIONS)}")
        return cls(source, output, RenderOptions(**options))


# -- presets -----------------------------------------------------------------------------

#: The folder of the built-in presets (``NAME.toml``).
PRESET_DIR = os.path.join(os.path.dirname(__file__), "presets")
#: The table of a preset file that holds render options.
#: (A MIDI cleanup preset would add a ``[midi]`` table of quantize settings.)
RENDER_TABLE = "render"


@dataclass(frozen=True)
class Preset:
    """A named set of render options (only those it sets), from a TOML file::

        description = "audio CD: 44.1 kHz, 16-bit, TPDF dither, best noise shaper"

        [render]
        rate = 44100
        bits = 16
    """

    name: str
    description: str
    options: Mapping[str, Any]
    path: str
    builtin: bool = False

    def flags(self) -> str:
        """The preset as the equivalent command-line flags."""
        words = []
        for name, value in self.options.items():
            option = OPTIONS[name]
            if option.kind == "bool":
                if value != option.default:
                    words.append(option.flag)
                continue
            words += [option.flag, "random" if value is None else str(value)]
        return " ".join(words)

    def to_toml(self) -> str:
        """The preset as a TOML file that :func:`load_preset` reads back to the same."""
        where = "built in" if self.builtin else self.path
        lines = [f"# audioquant preset {self.name} ({where})",
                 f"description = {_toml_value(self.description)}", "", f"[{RENDER_TABLE}]"]
        for name, value in self.options.items():
            if value is None:  # TOML has no null: only a seed can be None (random)
                value = "random"
            lines.append(f"{name} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # TOML integers are 64-bit signed: a larger seed is written as text
        return str(value) if value < 2**63 else f'"{value:#x}"'
    if isinstance(value, float):
        return repr(value)
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
    render = table.pop(RENDER_TABLE, {})
    for key in table:
        raise PresetError(f"{where}: unknown key {key!r}; a preset has a description and "
                          f"a [{RENDER_TABLE}] table")
    if not isinstance(render, dict):
        raise PresetError(f"{where}: {RENDER_TABLE} must be a table ([{RENDER_TABLE}]), "
                          f"got {render!r}")
    options: dict[str, Any] = {}
    for key, value in render.items():
        option = OPTIONS.get(key)
        if option is None:
            raise PresetError(f"{where}: unknown key {key!r} in [{RENDER_TABLE}]"
                              f"{_did_you_mean(key, OPTIONS)}; the keys are "
                              f"{', '.join(OPTIONS)}")
        try:
            options[key] = option.check(value, key)
        except ParameterError as exc:
            raise PresetError(f"{where}: {exc}") from None
    try:
        RenderOptions(**options)
    except ParameterError as exc:
        raise PresetError(f"{where}: {exc}") from None
    return Preset(name, description, options, path, builtin)


def _did_you_mean(key: str, names: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key.replace("-", "_"), list(names), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
