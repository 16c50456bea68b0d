"""A SoundFont 2 instrument: SF2 files played sample-exact by a numba sample player.

    font = SoundFont("FluidR3_GM.sf2")           # or the file's bytes
    font.presets                                 # [(bank, program, name), ...]
    font.missing_programs(play)                  # [(channel, bank, program), ...] not in the font
    font.check(play)                             # SoundFontError naming them, if any
    font.prepare(play)                           # an audioquant.midi.Performance
    while (block := font.render(4096)).shape[1]: # (2, n) float64, full scale 1.0
        ...

Reading (:func:`read_sf2`): the RIFF ``sfbk`` form, its ``sdta/smpl`` 16-bit sample data
(``sm24`` is ignored: 16-bit playback) seen through ``numpy`` without copying, and the
``pdta`` "hydra" (``phdr pbag pmod pgen inst ibag imod igen shdr``) read as structured
arrays. Everything is checked once, at the edge: a file that is not RIFF ``sfbk``, a
chunk that runs past the end, a hydra chunk of the wrong size or with indices out of
range, a sample outside the sample data raise :class:`SoundFontError` with one line that
names the file.

Resolution (SoundFont 2.04 section 9): a note on a channel plays the preset ``(bank,
program)`` (bank 0; bank 128, the GM drum kits, on the wire channel 9); each preset zone
whose key and velocity ranges hold the note names an instrument, and each of that
instrument's matching zones a sample: one voice per pair. An instrument zone's generators
default to its instrument's global zone, then to the spec's defaults; the preset zone's
(and its global zone's) generators are *added*, except those the spec allows at the
instrument level only (sample address offsets, ``keynum``, ``velocity``, ``sampleModes``,
``exclusiveClass``, ``overridingRootKey``). Key and velocity ranges of both levels are
intersected. A missing preset falls back to bank 0 of the same program (for drums: kit
0), else to the first preset of the font.

Per voice (units as in the spec):

- pitch [cents] ``= (key - root) * scaleTuning + 100 coarseTune + fineTune +
  pitchCorrection + 100 * bend [semitones]``, ``root`` = ``overridingRootKey`` or the
  sample's original pitch; the play rate is ``2 ** (cents / 1200) * sample rate / output
  rate`` frames per output sample;
- loop modes 0 and 2 (no loop), 1 (loop), 3 (loop until release, then to the end); start,
  end and loop addresses with their fine and coarse (x 32768) offsets;
- the volume envelope in timecents (``seconds = 2 ** (tc / 1200)``) with
  ``keynumToVolEnvHold`` / ``Decay`` (``tc += k * (60 - key)``), the sustain level in
  centibels of attenuation (1000 cB and more: silence); attack linear in amplitude,
  decay and release fall 100 dB in their time. A delay at its minimum, -12000 tc (the
  spec's default, "about 1 ms"), counts as none, so a note starts on its event's sample;
- the modulation envelope (generators 25-32: linear segments 0..1, its sustain in 0.1 %
  below the peak) to the pitch (``modEnvToPitch``) and the filter cutoff
  (``modEnvToFilterFc``), in cents at its peak, updated every 64 samples of the voice;
- attenuation [cB] ``= 0.4 x initialAttenuation`` (:data:`ATTENUATION_SCALE`, the
  E-mu behaviour fonts are voiced for) plus the default modulators: note-on velocity,
  CC 7 and CC 11, each ``-400 log10(value / 127)`` (the negative concave curve of
  960 cB), clamped to 0..1440; the amplitude is ``10 ** (-cB / 200)``;
- pan: the ``pan`` generator (0.1 % units) plus CC 10 (the default modulator: -50 %..+50 %
  over 1..127), constant power;
- the low-pass filter: ``initialFilterFc`` [absolute cents, ``8.176 * 2 ** (c / 1200)`` Hz]
  with the default velocity modulator (``-2400 * (1 - velocity / 127)`` cents) and
  ``initialFilterQ`` (the resonance's height above the DC gain [cB]: a biquad of ``Q =
  10 ** (cB / 200)``); left out when the cutoff is at or above 0.45 x the output rate
  with no resonance;
- ``exclusiveClass``: a note-on ends (fast release, :data:`CHOKE_SECONDS`) the channel's
  voices of the same class from earlier notes (a closed hi-hat stops an open one); a key
  struck again releases its earlier voices on the channel;
- polyphony :data:`POLYPHONY`: when every voice is busy the quietest is taken (released
  voices first, then the lowest envelope x gain, the oldest on ties);
- the end of a voice: its sample ends (no loop), or, after the attack, its envelope is
  below -100 dB or its loudest possible output below :data:`NOISE_FLOOR` (-100 dBFS).

Not implemented: the modulation and vibrato LFOs (generators 5, 6, 10, 13, 21-24),
custom modulators (``pmod``/``imod`` are read and checked, then ignored) and the default
modulators to the LFOs, reverb and chorus (CC 1, channel pressure, CC 91, CC 93); reverb
and chorus; 24-bit samples (``sm24``); bank select (CC 0/32: the base class does not keep
it); ROM samples (their zones are skipped); stereo sample links (each side is a voice
with its zone's pan, as FluidSynth does).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from audioquant.errors import AudioFileError

from . import sampler
from .instrument import DRUM_CHANNEL, NOTE_ON, PROGRAM, Instrument
from .sampler import (
    ATTACK,
    DECAY,
    DELAY,
    F_ASTEP,
    F_ATT,
    F_CENTS,
    F_CMENV,
    F_COLUMNS,
    F_DK,
    F_ENV,
    F_FC,
    F_FLOOR,
    F_GL,
    F_GR,
    F_INC,
    F_MASTEP,
    F_MDSTEP,
    F_MFC,
    F_MPITCH,
    F_MRSTEP,
    F_MSUS,
    F_PAN,
    F_PEAK,
    F_PMENV,
    F_Q,
    F_RATE,
    F_RATIO,
    F_RK,
    F_SUS,
    HOLD,
    I_ACTIVE,
    I_ATTACK,
    I_CHANNEL,
    I_CNT,
    I_COLUMNS,
    I_DIRTY,
    I_END,
    I_EXCLUSIVE,
    I_FILTER,
    I_HOLD,
    I_KEY,
    I_LE,
    I_LS,
    I_MATTACK,
    I_MCNT,
    I_MHOLD,
    I_MODE,
    I_MSTAGE,
    I_NOTE,
    I_POS,
    I_RELEASED,
    I_SERIAL,
    I_STAGE,
    I_START,
    RELEASE,
    SILENT,
)

__all__ = ["POLYPHONY", "SoundFont", "SoundFontError", "SoundFontFile", "read_sf2"]

#: Voices that sound at once; a note-on past this takes the quietest voice.
POLYPHONY = 256

#: The release of a voice ended by an exclusive class or taken for a new note [s].
CHOKE_SECONDS = 0.005

#: A voice ends once its loudest possible output falls below this [full scale 1.0]:
#: -100 dBFS, under the LSB of 16-bit audio (and the -100 dB of its own envelope).
NOISE_FLOOR = 1e-5

#: initialAttenuation counts 0.4 cB per unit, not 1 cB: the E-mu hardware the format was
#: made for did so, fonts are voiced for it, and FluidSynth, Polyphone and BASSMIDI do the
#: same (the "SoundFont Spec Implementation Test" no. 11 checks it).
ATTENUATION_SCALE = 0.4

#: The GM drum bank.
DRUM_BANK = 128


class SoundFontError(AudioFileError, ValueError):
    """A file that is not a SoundFont 2, or a broken one (also OSError and ValueError)."""


# -- generators (SoundFont 2.04 section 8.1.2) -------------------------------------------

(START_OFS, END_OFS, STARTLOOP_OFS, ENDLOOP_OFS, START_COARSE) = 0, 1, 2, 3, 4
MOD_ENV_PITCH, FILTER_FC, FILTER_Q, MOD_ENV_FC = 7, 8, 9, 11
END_COARSE = 12
PAN = 17
DELAY_MOD, ATTACK_MOD, HOLD_MOD, DECAY_MOD, SUSTAIN_MOD, RELEASE_MOD = 25, 26, 27, 28, 29, 30
KEY_TO_MOD_HOLD, KEY_TO_MOD_DECAY = 31, 32
DELAY_VOL, ATTACK_VOL, HOLD_VOL, DECAY_VOL, SUSTAIN_VOL, RELEASE_VOL = 33, 34, 35, 36, 37, 38
KEY_TO_HOLD, KEY_TO_DECAY = 39, 40
INSTRUMENT, KEY_RANGE, VEL_RANGE = 41, 43, 44
STARTLOOP_COARSE, KEYNUM, VELOCITY, ATTENUATION, ENDLOOP_COARSE = 45, 46, 47, 48, 50
COARSE_TUNE, FINE_TUNE, SAMPLE_ID, SAMPLE_MODES = 51, 52, 53, 54
SCALE_TUNING, EXCLUSIVE_CLASS, ROOT_KEY = 56, 57, 58
GENERATORS = 61

#: Defaults of every generator (the spec's table; ranges are (lo, hi) apart).
DEFAULTS = np.zeros(GENERATORS, dtype=np.int64)
DEFAULTS[FILTER_FC] = 13500
for _g in (21, 23, 25, 26, 27, 28, 30, DELAY_VOL, ATTACK_VOL, HOLD_VOL, DECAY_VOL,
           RELEASE_VOL):
    DEFAULTS[_g] = -12000
DEFAULTS[KEYNUM] = DEFAULTS[VELOCITY] = DEFAULTS[ROOT_KEY] = -1
DEFAULTS[SCALE_TUNING] = 100

#: Generators a preset zone may not set (ignored there: spec section 8.1.3).
INSTRUMENT_ONLY = frozenset({START_OFS, END_OFS, STARTLOOP_OFS, ENDLOOP_OFS, START_COARSE,
                             END_COARSE, STARTLOOP_COARSE, KEYNUM, VELOCITY, ENDLOOP_COARSE,
                             SAMPLE_MODES, EXCLUSIVE_CLASS, ROOT_KEY})
_RANGES = (KEY_RANGE, VEL_RANGE)

#: Ranges the summed generators are held to (spec section 8.1.3).
_LIMITS = {FILTER_FC: (1500, 13500), FILTER_Q: (0, 960), PAN: (-500, 500),
           MOD_ENV_PITCH: (-12000, 12000), MOD_ENV_FC: (-12000, 12000),
           DELAY_MOD: (-12000, 5000), ATTACK_MOD: (-12000, 8000), HOLD_MOD: (-12000, 5000),
           DECAY_MOD: (-12000, 8000), SUSTAIN_MOD: (0, 1000), RELEASE_MOD: (-12000, 8000),
           KEY_TO_MOD_HOLD: (-1200, 1200), KEY_TO_MOD_DECAY: (-1200, 1200),
           DELAY_VOL: (-12000, 5000), ATTACK_VOL: (-12000, 8000), HOLD_VOL: (-12000, 5000),
           DECAY_VOL: (-12000, 8000), SUSTAIN_VOL: (0, 1440), RELEASE_VOL: (-12000, 8000),
           KEY_TO_HOLD: (-1200, 1200), KEY_TO_DECAY: (-1200, 1200),
           ATTENUATION: (0, 1440), COARSE_TUNE: (-120, 120), FINE_TUNE: (-99, 99),
           SCALE_TUNING: (0, 1200)}

# -- the hydra's records (section 7) -----------------------------------------------------

_PHDR = np.dtype([("name", "S20"), ("program", "<u2"), ("bank", "<u2"), ("bag", "<u2"),
                  ("library", "<u4"), ("genre", "<u4"), ("morphology", "<u4")])
_BAG = np.dtype([("gen", "<u2"), ("mod", "<u2")])
_MOD = np.dtype([("src", "<u2"), ("dest", "<u2"), ("amount", "<i2"), ("amt_src", "<u2"),
                 ("trans", "<u2")])
_GEN = np.dtype([("oper", "<u2"), ("amount", "<u2")])
_INST = np.dtype([("name", "S20"), ("bag", "<u2")])
_SHDR = np.dtype([("name", "S20"), ("start", "<u4"), ("end", "<u4"), ("loop_start", "<u4"),
                  ("loop_end", "<u4"), ("rate", "<u4"), ("pitch", "u1"), ("correction", "i1"),
                  ("link", "<u2"), ("type", "<u2")])
_HYDRA = {b"phdr": _PHDR, b"pbag": _BAG, b"pmod": _MOD, b"pgen": _GEN, b"inst": _INST,
          b"ibag": _BAG, b"imod": _MOD, b"igen": _GEN, b"shdr": _SHDR}
_ROM = 0x8000


@dataclass(frozen=True, eq=False)
class Region:
    """One (preset zone, instrument zone) pair of a preset: its key and velocity ranges,
    its generators (instrument values with the preset's added, clamped) and its sample."""

    keys: tuple[int, int]
    velocities: tuple[int, int]
    gens: tuple[int, ...]
    sample: int


@dataclass(frozen=True, eq=False)
class SoundFontFile:
    """A parsed SF2 file: the sample data and the hydra's tables (see :func:`read_sf2`).

    ``data``: every sample frame, int16 (a view of the file, not a copy); ``phdr``,
    ``pbag``, ``pgen``, ``inst``, ``ibag``, ``igen``, ``shdr``: the hydra's records as
    numpy structured arrays, terminal records included; ``name``: the font's ``INAM``.
    """

    source: str
    name: str
    data: np.ndarray
    phdr: np.ndarray
    pbag: np.ndarray
    pgen: np.ndarray
    inst: np.ndarray
    ibag: np.ndarray
    igen: np.ndarray
    shdr: np.ndarray

    def _zones(self, bags: np.ndarray, gens: np.ndarray, first: int, last: int,
               terminal: int) -> tuple[dict[int, int] | None, list[dict[int, int]]]:
        """The global zone (or None) and the other zones of bags ``first..last - 1``, each
        as {generator: raw amount}; zones without their terminal generator are dropped."""
        zones = []
        for z in range(first, last):
            g0, g1 = int(bags["gen"][z]), int(bags["gen"][z + 1])
            zones.append(dict(zip(gens["oper"][g0:g1].tolist(),
                                  gens["amount"][g0:g1].tolist(), strict=True)))
        glob = None
        if zones and terminal not in zones[0]:
            glob = zones.pop(0)
        return glob, [z for z in zones if terminal in z]

    def regions(self, preset: int) -> list[Region]:
        """The regions of preset row ``preset`` (section 9.4's rules, see the module)."""
        p0, p1 = int(self.phdr["bag"][preset]), int(self.phdr["bag"][preset + 1])
        pglobal, pzones = self._zones(self.pbag, self.pgen, p0, p1, INSTRUMENT)
        out = []
        for pz in pzones:
            pg = dict(pglobal or {})
            pg.update(pz)
            inst = pg[INSTRUMENT]
            i0, i1 = int(self.inst["bag"][inst]), int(self.inst["bag"][inst + 1])
            iglobal, izones = self._zones(self.ibag, self.igen, i0, i1, SAMPLE_ID)
            pkeys, pvels = _range(pg.get(KEY_RANGE)), _range(pg.get(VEL_RANGE))
            for iz in izones:
                ig = dict(iglobal or {})
                ig.update(iz)
                sample = ig[SAMPLE_ID]
                if int(self.shdr["type"][sample]) & _ROM:
                    continue
                keys = _intersect(pkeys, _range(ig.get(KEY_RANGE)))
                vels = _intersect(pvels, _range(ig.get(VEL_RANGE)))
                if keys is None or vels is None:
                    continue
                gens = [int(x) for x in DEFAULTS]
                for oper, raw in ig.items():
                    if oper < GENERATORS and oper not in _RANGES:
                        gens[oper] = raw if oper in (SAMPLE_ID, SAMPLE_MODES) else _signed(raw)
                for oper, raw in pg.items():
                    if oper < GENERATORS and oper not in INSTRUMENT_ONLY \
                            and oper not in _RANGES and oper not in (INSTRUMENT, SAMPLE_ID):
                        gens[oper] += _signed(raw)
                for oper, (lo, hi) in _LIMITS.items():
                    gens[oper] = min(max(gens[oper], lo), hi)
                out.append(Region(keys, vels, tuple(gens), sample))
        return out


def _signed(raw: int) -> int:
    return raw - 65536 if raw >= 32768 else raw


def _range(raw: int | None) -> tuple[int, int]:
    return (0, 127) if raw is None else (raw & 0xFF, raw >> 8)


def _intersect(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int] | None:
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else None


def _chunks(buf: np.ndarray, first: int, last: int, source: str,
            where: str) -> list[tuple[bytes, int, int]]:
    """The chunks (id, data offset, size) in bytes ``first..last`` of ``buf``."""
    out = []
    at = first
    while at + 8 <= last:
        head = bytes(buf[at:at + 8])
        cid, size = head[:4], int.from_bytes(head[4:], "little")
        if at + 8 + size > last:
            raise SoundFontError(
                f"{source}: truncated or broken SoundFont: chunk {cid.decode('latin-1')!r} "
                f"in {where} needs {size} bytes at byte {at + 8}, only {last - at - 8} there")
        out.append((cid, at + 8, size))
        at += 8 + size + (size & 1)
    return out


def read_sf2(source: str | os.PathLike | bytes | bytearray | memoryview) -> SoundFontFile:
    """Parse an SF2 file (a path, or the file's bytes) and check it (see the module).

    Raises
    ------
    SoundFontError
        One line naming the file and what is wrong with it.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = "<SoundFont bytes>"
        buf = np.frombuffer(source, dtype=np.uint8)
    else:
        label = os.fspath(source)
        try:
            size = os.path.getsize(label)
            buf = np.memmap(label, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
        except OSError as exc:
            raise SoundFontError(f"{label}: cannot read the SoundFont: "
                                 f"{exc.strerror or exc}") from None
    if buf.size < 12 or bytes(buf[:4]) != b"RIFF" or bytes(buf[8:12]) != b"sfbk":
        what = "a RIFF file but not a SoundFont (form "
        if buf.size >= 12 and bytes(buf[:4]) == b"RIFF":
            what += f"{bytes(buf[8:12]).decode('latin-1')!r}, not 'sfbk')"
        else:
            what = "not a SoundFont 2 file (no RIFF 'sfbk' header)"
        raise SoundFontError(f"{label}: {what}")
    riff_end = min(8 + int.from_bytes(bytes(buf[4:8]), "little"), buf.size)
    lists = {}
    for cid, at, size in _chunks(buf, 12, riff_end, label, "the RIFF form"):
        if cid == b"LIST" and size >= 4:
            lists[bytes(buf[at:at + 4])] = (at + 4, at + size)
    for need in (b"sdta", b"pdta"):
        if need not in lists:
            raise SoundFontError(f"{label}: truncated or broken SoundFont: no "
                                 f"'{need.decode()}' list")
    name = ""
    if b"INFO" in lists:
        for cid, at, size in _chunks(buf, *lists[b"INFO"], label, "INFO"):
            if cid == b"INAM":
                name = bytes(buf[at:at + size]).split(b"\0")[0].decode("latin-1")
    smpl = [(at, size) for cid, at, size in _chunks(buf, *lists[b"sdta"], label, "sdta")
            if cid == b"smpl"]
    if not smpl:
        raise SoundFontError(f"{label}: broken SoundFont: no 'smpl' sample data")
    at, size = smpl[0]
    data = np.ndarray((size // 2,), dtype="<i2", buffer=buf, offset=at) if size >= 2 \
        else np.zeros(0, "<i2")
    hydra = {}
    for cid, at, size in _chunks(buf, *lists[b"pdta"], label, "pdta"):
        if cid in _HYDRA:
            dtype = _HYDRA[cid]
            if size % dtype.itemsize:
                raise SoundFontError(f"{label}: broken SoundFont: '{cid.decode()}' has "
                                     f"{size} bytes, not a multiple of {dtype.itemsize}")
            hydra[cid.decode()] = np.frombuffer(bytes(buf[at:at + size]), dtype=dtype)
    font = SoundFontFile(label, name, data, *(
        _check_present(hydra, k, label) for k in
        ("phdr", "pbag", "pgen", "inst", "ibag", "igen", "shdr")))
    _check_present(hydra, "pmod", label)
    _check_present(hydra, "imod", label)
    _check_hydra(font, hydra["pmod"].size, hydra["imod"].size)
    return font


def _check_present(hydra: dict[str, np.ndarray], key: str, label: str) -> np.ndarray:
    if key not in hydra:
        raise SoundFontError(f"{label}: truncated or broken SoundFont: no '{key}' chunk")
    if hydra[key].size < (2 if key in ("phdr", "inst", "shdr") else 1):
        raise SoundFontError(f"{label}: broken SoundFont: '{key}' has no terminal record")
    return hydra[key]


def _check_hydra(f: SoundFontFile, pmods: int, imods: int) -> None:
    """Indices in range and in order, samples inside the data (one clear line if not)."""

    def bad(what: str) -> SoundFontError:
        return SoundFontError(f"{f.source}: broken SoundFont: {what}")

    for table, bags, gens, mods, name in ((f.phdr, f.pbag, f.pgen, pmods, "preset"),
                                          (f.inst, f.ibag, f.igen, imods, "instrument")):
        index = table["bag"].astype(np.int64)
        if np.any(np.diff(index) < 0) or index[-1] > bags.size - 1:
            raise bad(f"{name} zone indices out of order or past the bag list")
        for col, count in (("gen", gens.size), ("mod", mods)):
            b = bags[col].astype(np.int64)
            if np.any(np.diff(b) < 0) or b[-1] > count:
                raise bad(f"{name} bag {col} indices out of order or past the list")
    for gens, bound, oper, name in ((f.pgen, f.inst.size - 1, INSTRUMENT, "instrument"),
                                    (f.igen, f.shdr.size - 1, SAMPLE_ID, "sample")):
        refs = gens["amount"][gens["oper"] == oper].astype(np.int64)
        if refs.size and refs.max() >= bound:
            raise bad(f"a zone names {name} {int(refs.max())}, there are {bound}")
    s = f.shdr[:-1]
    ram = (s["type"] & _ROM) == 0
    start, end = s["start"].astype(np.int64), s["end"].astype(np.int64)
    wrong = ram & ((start > end) | (end > f.data.size) | (s["rate"] == 0))
    if np.any(wrong):
        k = int(np.argmax(wrong))
        raise bad(f"sample {k} ({s['name'][k].decode('latin-1', 'replace')!r}) spans frames "
                  f"{int(start[k])}..{int(end[k])} at {int(s['rate'][k])} Hz; the data has "
                  f"{f.data.size} frames")


# -- unit conversions ---------------------------------------------------------------------

def timecents_seconds(tc: float) -> float:
    """Timecents to seconds: ``2 ** (tc / 1200)``."""
    return 2.0 ** (tc / 1200.0)


def concave_cb(value: int) -> float:
    """The default modulators' negative concave curve x 960 cB for a MIDI value 0..127:
    ``-400 log10(value / 127)``, at most 960 (value 0)."""
    return 960.0 if value <= 0 else min(960.0, -400.0 * math.log10(value / 127.0))


def cents_hz(cents: float) -> float:
    """Absolute cents to Hz: ``8.176 * 2 ** (cents / 1200)`` (6900 cents: 440 Hz)."""
    return 440.0 * 2.0 ** ((cents - 6900.0) / 1200.0)


class SoundFont(Instrument):
    """An instrument that plays a SoundFont 2 file (see the module).

    Parameters
    ----------
    source : str | os.PathLike | bytes
        The SF2 file, or its bytes.
    max_tail : float
        The longest release tail rendered after the last event [seconds].
    pool : callable or None
        See the attribute.

    Attributes
    ----------
    file : SoundFontFile
        The parsed file.
    presets : list of (bank, program, name)
        What the font holds, sorted.
    polyphony : int
        Voices that sound at once (:data:`POLYPHONY`).
    pool : callable or None
        ``pool(work, parts)`` -> an executor or None, e.g. ``audioquant.threads.pool``:
        long spans then render their two voice groups in parallel threads (the same
        numbers either way, see :func:`audioquant.dsp.sampler.render_voices`). None (the
        default): one thread.
    """

    def __init__(self, source: str | os.PathLike | bytes, *, max_tail: float = 30.0,
                 pool=None) -> None:
        super().__init__(max_tail=max_tail)
        self.file = read_sf2(source)
        ph = self.file.phdr[:-1]
        self._by_number: dict[tuple[int, int], int] = {}
        for row, (bank, program) in enumerate(zip(ph["bank"].tolist(), ph["program"].tolist(),
                                                  strict=True)):
            self._by_number.setdefault((bank, program), row)
        if not self._by_number:
            raise SoundFontError(f"{self.file.source}: broken SoundFont: it has no presets")
        self.presets = sorted((bank, program, ph["name"][row].decode("latin-1", "replace")
                               .strip("\0 ")) for (bank, program), row in
                              self._by_number.items())
        self.polyphony = POLYPHONY
        self.pool = pool
        self._regions: dict[int, tuple[np.ndarray, list[Region]]] = {}
        sh = self.file.shdr
        self._s_start = sh["start"].astype(np.int64).tolist()
        self._s_end = sh["end"].astype(np.int64).tolist()
        self._s_ls = sh["loop_start"].astype(np.int64).tolist()
        self._s_le = sh["loop_end"].astype(np.int64).tolist()
        self._s_rate = sh["rate"].astype(np.int64).tolist()
        self._s_pitch = sh["pitch"].astype(np.int64).tolist()
        self._s_corr = sh["correction"].astype(np.int64).tolist()
        self._data = np.ascontiguousarray(self.file.data)
        self._peaks: dict[int, float] = {}
        self.prepare_voices(44100)

    # -- presets ---------------------------------------------------------------------------

    def preset_for(self, bank: int, program: int) -> int:
        """The phdr row that plays ``(bank, program)``: itself, else bank 0 of the program
        (for the drum bank: kit 0 of bank 128), else the font's first preset."""
        for key in ((bank, program), (bank, 0) if bank == DRUM_BANK else (0, program),
                    (0, 0)):
            if key in self._by_number:
                return self._by_number[key]
        return self._by_number[(self.presets[0][0], self.presets[0][1])]

    def missing_programs(self, play) -> list[tuple[int, int, int]]:
        """The ``(channel, bank, program)`` that notes of ``play`` (a Performance) ask for
        and the font lacks: a melodic program not in bank 0, or a drum kit (channel 9,
        bank 128) when the font has neither it nor kit 0. Channels are wire channels
        (0..15). Empty when the font plays everything as asked."""
        kind = np.asarray(play.kind)
        channel = np.asarray(play.channel)
        a = np.asarray(play.a)
        program = [0] * 16
        asked: set[tuple[int, int, int]] = set()
        for i in np.flatnonzero((kind == NOTE_ON) | (kind == PROGRAM)).tolist():
            c = int(channel[i])
            if kind[i] == PROGRAM:
                program[c] = int(a[i])
            else:
                bank = DRUM_BANK if c == DRUM_CHANNEL else 0
                asked.add((c, bank, program[c]))
        missing = []
        for c, bank, prog in sorted(asked):
            if (bank, prog) in self._by_number:
                continue
            if bank == DRUM_BANK and (DRUM_BANK, 0) in self._by_number:
                continue
            missing.append((c, bank, prog))
        return missing

    def check(self, play) -> None:
        """Refuse ``play`` when its notes ask for programs the font lacks (see
        :meth:`missing_programs`): one :class:`SoundFontError` line naming the font, the
        programs and the channels (1..16, as musicians count them)."""
        missing = self.missing_programs(play)
        if missing:
            listed = ", ".join(
                f"{'drum kit' if bank == DRUM_BANK else 'program'} {program} "
                f"(bank {bank}) on channel {channel + 1}"
                for channel, bank, program in missing[:4])
            more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
            raise SoundFontError(f"{self.file.source}: the SoundFont has no {listed}{more}")

    def _preset_regions(self, row: int) -> tuple[np.ndarray, list[Region]]:
        if row not in self._regions:
            regions = self.file.regions(row)
            ranges = np.array([(*r.keys, *r.velocities) for r in regions],
                              dtype=np.int64).reshape(-1, 4)
            self._regions[row] = (ranges, regions)
        return self._regions[row]

    # -- the Instrument interface ----------------------------------------------------------

    def prepare_voices(self, sample_rate: int) -> None:
        self.sample_rate = int(sample_rate)
        self._vf = np.zeros((self.polyphony, F_COLUMNS))
        self._vi = np.zeros((self.polyphony, I_COLUMNS), dtype=np.int64)
        self._scratch = np.zeros((sampler.GROUPS, 2, 4096))
        self._serial = 0
        self._note = 0
        self._channel_preset: dict[tuple[int, int], int] = {}
        self._controls: list[tuple | None] = [None] * 16
        self._keyed: dict[tuple[int, int], list[tuple[int, int]]] = {}   # (row, serial)

    def sounding(self) -> bool:
        return bool(self._vi[:, I_ACTIVE].any())

    def render_voices(self, out: np.ndarray) -> None:
        if out.shape[1] and self._vi[:, I_ACTIVE].any():
            if self._scratch.shape[2] < out.shape[1]:
                self._scratch = np.zeros((sampler.GROUPS, 2, out.shape[1]))
            sampler.render_voices(out[0], out[1], self._data, self._vf, self._vi,
                                  self._scratch, self.pool)

    def stop_channel(self, channel: int) -> None:
        vi = self._vi
        vi[(vi[:, I_CHANNEL] == channel), I_ACTIVE] = 0

    def release_note(self, channel: int, pitch: int) -> None:
        vi = self._vi
        for v, serial in self._keyed.pop((channel, pitch), ()):
            if vi[v, I_SERIAL] == serial and vi[v, I_ACTIVE] and not vi[v, I_RELEASED]:
                self._release(v)

    def _release(self, v: int, rk: float | None = None) -> None:
        vi, vf = self._vi, self._vf
        vi[v, I_RELEASED] = 1
        vi[v, I_MSTAGE] = RELEASE
        if rk is not None:
            vf[v, F_RK] = rk
        if vi[v, I_STAGE] == DELAY:
            vi[v, I_ACTIVE] = 0
        else:
            vi[v, I_STAGE] = RELEASE

    def controls_changed(self, channel: int) -> None:
        state = self.channels_state[channel]
        now = (state.volume, state.expression, state.pan, state.bend_semitones)
        if self._controls[channel] == now:          # the pedal, a program: nothing to do
            return
        self._controls[channel] = now
        vi = self._vi
        hit = np.flatnonzero((vi[:, I_ACTIVE] == 1) & (vi[:, I_CHANNEL] == channel))
        if hit.size:
            self._update(hit.tolist(), channel)

    def _update(self, voices, channel: int) -> None:
        """Gains, play rate and end level of ``voices`` (rows) from their own values and
        the channel state."""
        state = self.channels_state[channel]
        vf, vi = self._vf, self._vi
        controls = concave_cb(state.volume) + concave_cb(state.expression)
        pan_cc = (max(state.pan, 1) - 64) / 126.0
        bend = 100.0 * state.bend_semitones
        for v in voices:
            row = vf[v]
            amp = 10.0 ** (-min(max(row[F_ATT] + controls, 0.0), 1440.0) / 200.0) / 32768.0
            pan = (min(max(row[F_PAN] + pan_cc, -0.5), 0.5) + 0.5) * (math.pi / 2)
            row[F_GL] = amp * math.cos(pan)
            row[F_GR] = amp * math.sin(pan)
            row[F_INC] = 2.0 ** ((row[F_CENTS] + bend) / 1200.0) * row[F_RATIO]
            # The voice can end once it is below NOISE_FLOOR at the output (its loudest
            # frame, times the resonance's peak), or -100 dB of its own envelope.
            loudest = max(row[F_GL], row[F_GR]) * row[F_PEAK] * max(row[F_Q], 1.0)
            row[F_FLOOR] = max(SILENT, NOISE_FLOOR / loudest) if loudest > 0 else 1.0
            vi[v, I_DIRTY] = 1

    def start_note(self, channel: int, pitch: int, velocity: int) -> None:
        state = self.channels_state[channel]
        key = (channel, state.program)
        row = self._channel_preset.get(key)
        if row is None:
            bank = DRUM_BANK if channel == DRUM_CHANNEL else 0
            row = self._channel_preset[key] = self.preset_for(bank, state.program)
        ranges, regions = self._preset_regions(row)
        hit = np.flatnonzero((ranges[:, 0] <= pitch) & (pitch <= ranges[:, 1])
                             & (ranges[:, 2] <= velocity) & (velocity <= ranges[:, 3]))
        self.release_note(channel, pitch)                  # a key struck again
        self._note += 1
        started = []
        for r in hit.tolist():
            region = regions[r]
            v = self._new_voice(region.gens[EXCLUSIVE_CLASS], channel)
            if self._setup(v, region, channel, pitch, velocity):
                started.append(v)
        if started:
            self._update(started, channel)
            self._keyed.setdefault((channel, pitch), []).extend(
                (v, int(self._vi[v, I_SERIAL])) for v in started)

    def _new_voice(self, exclusive: int, channel: int) -> int:
        """A free voice row (the lowest); choking the class ``exclusive`` first."""
        vi, vf = self._vi, self._vf
        active = vi[:, I_ACTIVE] == 1
        if exclusive:
            choke = np.flatnonzero(active & (vi[:, I_CHANNEL] == channel)
                                   & (vi[:, I_EXCLUSIVE] == exclusive)
                                   & (vi[:, I_NOTE] != self._note))
            rk = 10.0 ** (-5.0 / max(CHOKE_SECONDS * self.sample_rate, 1.0))
            for v in choke.tolist():
                self._release(v, rk)
        free = int(np.argmin(active))
        if not active[free]:
            return free
        # Steal: released voices first, then the quietest, the oldest on ties.
        loud = vf[:, F_ENV] * np.abs(vf[:, F_GL] + vf[:, F_GR])
        order = np.lexsort((vi[:, I_SERIAL], loud, 1 - vi[:, I_RELEASED]))
        return int(order[0])

    def _peak(self, s: int) -> float:
        """The largest magnitude of sample ``s``'s frames (int16 units)."""
        if s not in self._peaks:
            frames = self._data[self._s_start[s]:self._s_end[s]]
            self._peaks[s] = float(np.abs(frames.astype(np.int32)).max()) if frames.size else 0.0
        return self._peaks[s]

    def _setup(self, v: int, region: Region, channel: int, pitch: int, velocity: int) -> bool:
        """Fill voice row ``v`` for ``region``; False when the zone has nothing to play."""
        g = region.gens
        s = region.sample
        total = self._data.size
        start = self._s_start[s] + g[START_OFS] + 32768 * g[START_COARSE]
        end = self._s_end[s] + g[END_OFS] + 32768 * g[END_COARSE]
        ls = self._s_ls[s] + g[STARTLOOP_OFS] + 32768 * g[STARTLOOP_COARSE]
        le = self._s_le[s] + g[ENDLOOP_OFS] + 32768 * g[ENDLOOP_COARSE]
        start = min(max(start, 0), total)
        end = min(max(end, start), total)
        if end - start < 1:
            return False
        mode = g[SAMPLE_MODES] & 3
        ls, le = min(max(ls, start), end), min(max(le, start), end)
        if mode in (1, 3) and le - ls < 1:
            mode = 0
        rate = self.sample_rate
        key = g[KEYNUM] if g[KEYNUM] >= 0 else pitch
        vel = g[VELOCITY] if g[VELOCITY] >= 0 else velocity
        root = g[ROOT_KEY] if g[ROOT_KEY] >= 0 else self._s_pitch[s]
        if root > 127:
            root = 60
        cents = ((key - root) * g[SCALE_TUNING] + 100 * g[COARSE_TUNE] + g[FINE_TUNE]
                 + self._s_corr[s])

        vf = [0.0] * F_COLUMNS          # the row as lists, written into the state at once
        vi = [0] * I_COLUMNS
        vf[F_CENTS] = cents
        vf[F_RATIO] = self._s_rate[s] / rate
        vf[F_ATT] = ATTENUATION_SCALE * g[ATTENUATION] + concave_cb(vel)
        vf[F_PEAK] = self._peak(s)
        vf[F_PAN] = g[PAN] / 1000.0
        # The volume envelope.
        delay = 0 if g[DELAY_VOL] <= -12000 else round(timecents_seconds(g[DELAY_VOL]) * rate)
        attack = round(timecents_seconds(g[ATTACK_VOL]) * rate)
        hold = round(timecents_seconds(g[HOLD_VOL] + g[KEY_TO_HOLD] * (60 - key)) * rate)
        decay = max(timecents_seconds(g[DECAY_VOL] + g[KEY_TO_DECAY] * (60 - key)) * rate, 1.0)
        release = max(timecents_seconds(g[RELEASE_VOL]) * rate, 1.0)
        vf[F_DK] = 10.0 ** (-5.0 / decay)          # 100 dB per decay time
        vf[F_RK] = 10.0 ** (-5.0 / release)
        vf[F_SUS] = 0.0 if g[SUSTAIN_VOL] >= 1000 else 10.0 ** (-g[SUSTAIN_VOL] / 200.0)
        vf[F_ASTEP] = 1.0 / attack if attack > 0 else 1.0
        vi[I_ATTACK], vi[I_HOLD] = attack, max(hold, 0)
        if delay > 0:
            vi[I_STAGE], vi[I_CNT] = DELAY, delay
        elif attack > 0:
            vi[I_STAGE], vi[I_CNT] = ATTACK, attack
        else:
            vf[F_ENV] = 1.0
            vi[I_STAGE], vi[I_CNT] = (HOLD, hold) if hold > 0 else (DECAY, 0)
        # The modulation envelope (0..1, linear; its sustain in 0.1 % below the peak).
        mdelay = 0 if g[DELAY_MOD] <= -12000 else round(timecents_seconds(g[DELAY_MOD]) * rate)
        mattack = round(timecents_seconds(g[ATTACK_MOD]) * rate)
        mhold = round(timecents_seconds(g[HOLD_MOD] + g[KEY_TO_MOD_HOLD] * (60 - key)) * rate)
        mdecay = max(timecents_seconds(g[DECAY_MOD] + g[KEY_TO_MOD_DECAY] * (60 - key)) * rate,
                     1.0)
        vf[F_MSUS] = 1.0 - g[SUSTAIN_MOD] / 1000.0
        vf[F_MDSTEP] = 1.0 / mdecay
        vf[F_MRSTEP] = 1.0 / max(timecents_seconds(g[RELEASE_MOD]) * rate, 1.0)
        vf[F_MASTEP] = 1.0 / mattack if mattack > 0 else 1.0
        vi[I_MATTACK], vi[I_MHOLD] = mattack, max(mhold, 0)
        if mdelay > 0:
            vi[I_MSTAGE], vi[I_MCNT] = DELAY, mdelay
        else:
            vi[I_MSTAGE], vi[I_MCNT] = ATTACK, mattack
        vf[F_MPITCH] = g[MOD_ENV_PITCH]
        # The low-pass filter (coefficients made by the kernel at the voice's first sample).
        vf[F_FC] = g[FILTER_FC] - 2400.0 * (1.0 - vel / 127.0)
        vf[F_MFC] = g[MOD_ENV_FC]
        vf[F_Q] = 10.0 ** (g[FILTER_Q] / 200.0)
        vf[F_RATE] = rate
        vf[F_CMENV] = vf[F_PMENV] = math.nan          # no filter or step made yet
        if cents_hz(vf[F_FC]) < 0.45 * rate or g[FILTER_Q] > 0 or g[MOD_ENV_FC] != 0:
            vi[I_FILTER] = 1
        vi[I_POS], vi[I_START], vi[I_END], vi[I_LS], vi[I_LE] = start, start, end, ls, le
        vi[I_MODE] = mode
        vi[I_CHANNEL], vi[I_KEY] = channel, pitch
        self._serial += 1
        vi[I_SERIAL], vi[I_NOTE] = self._serial, self._note
        vi[I_EXCLUSIVE] = g[EXCLUSIVE_CLASS]
        vi[I_ACTIVE] = 1
        self._vf[v] = vf
        self._vi[v] = vi
        return True

